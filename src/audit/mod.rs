//! The audit trail (审计记录, SPEC §14): who ran which ledger-writing command,
//! from which machine, with which version and configuration, and what came of it.
//!
//! An event is written twice: when the command starts (state `started`) and when
//! it ends (`done` or `refused`), each time in full, to the ledger and as one line
//! of `<output>/audit.jsonl`; the last line of an event is its state. Why two: a
//! command killed in its middle leaves a `started` event, which the next writing
//! command closes as `interrupted`, saying whether the ledger holds a commit of it
//! — so the trail never shows a success that did not happen, nor hides a crash.
//!
//! Nothing secret goes in: the command line is masked ([`mask_args`]), messages
//! are masked ([`crate::domain::mask_numbers`]), and no key or password is read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::mask_numbers;

pub mod trace;

/// Where an event stands.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AuditState {
    /// Begun; no result yet (or the process died: see [`AuditState::Interrupted`]).
    Started,
    /// Ended with exit status 0 or 2: its work is committed.
    Done,
    /// Ended with exit status 1 or 3: nothing of it was committed.
    Refused,
    /// The process died before it reported; `result.committed` says whether the
    /// ledger holds a commit it made (known to the next writing command).
    Interrupted,
}

impl AuditState {
    /// The state in a clerk's words.
    pub fn zh(self) -> &'static str {
        match self {
            AuditState::Started => "进行中",
            AuditState::Done => "完成",
            AuditState::Refused => "拒绝/失败",
            AuditState::Interrupted => "中断",
        }
    }
}

/// Lines and an amount (yuan, two decimals, as a string).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct Tally {
    pub lines: u64,
    pub amount: String,
}

/// What a command came to.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditResult {
    /// The exit status it reported (none when interrupted).
    pub exit_status: Option<u8>,
    /// Whether the ledger holds a commit of this command (none: not known).
    pub committed: Option<bool>,
    /// The batch it wrote (`R002`, `C001`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<String>,
    /// Lines and amounts by what they are (`paid`, `held`, `updated`, `failed` …).
    #[serde(default)]
    pub totals: BTreeMap<String, Tally>,
    /// A line or two a person reads (the refusal, or what was recovered), masked.
    #[serde(default)]
    pub message: String,
}

/// One ledger-writing command.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Unique: the start time and process id.
    pub id: String,
    /// `run`, `returns`, `reissue`, `ledger rebuild` (a `watch` applies through `returns`).
    pub action: String,
    pub started_at: String,
    #[serde(default)]
    pub finished_at: Option<String>,
    /// The OS user and host that ran it.
    pub user: String,
    pub host: String,
    /// The command line, masked.
    pub command_line: Vec<String>,
    pub version: String,
    pub config_sha256: String,
    /// The periods it concerns (given on the command line, or touched).
    #[serde(default)]
    pub periods: Vec<String>,
    pub state: AuditState,
    #[serde(default)]
    pub result: AuditResult,
    /// How many commits the ledger held when it started (runs and receipts): the
    /// next command compares to tell whether an interrupted one committed.
    #[serde(default)]
    pub ledger_commits_before: u64,
}

impl AuditEvent {
    /// Whether the event concerns `period`.
    pub fn concerns(&self, period: &str) -> bool {
        self.periods.iter().any(|p| p == period)
    }
}

/// Flag names whose value is a secret whatever it looks like.
const SECRET_FLAGS: [&str; 5] = ["password", "passwd", "secret", "token", "key"];

/// The command line with nothing secret: a value after a flag named like a
/// password, key or token is `***` (the `--public-key` file is a path and stays);
/// a password in a URL (`postgresql://user:pw@host`) is `***`; any run of 12 or more
/// digits (an ID or account number) is masked.
pub fn mask_args(args: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut hide_next = false;
    for a in args {
        if hide_next {
            out.push("***".to_string());
            hide_next = false;
            continue;
        }
        if let Some(flag) = a.strip_prefix("--") {
            let (name, value) = match flag.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (flag, None),
            };
            if is_secret_flag(name) {
                match value {
                    Some(_) => out.push(format!("--{name}=***")),
                    None => {
                        out.push(a.clone());
                        hide_next = true;
                    }
                }
                continue;
            }
        }
        out.push(mask_text(a));
    }
    out
}

fn is_secret_flag(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name != "public-key" && SECRET_FLAGS.iter().any(|s| name.contains(s))
}

/// Free text with passwords in URLs and long numbers masked.
pub fn mask_text(s: &str) -> String {
    mask_numbers(&mask_url_password(s)).into_owned()
}

/// Every URL in `s` with its password masked, in the user part or in a
/// `password=` parameter ([`crate::pgurl::mask_url`], the rule the ledger's own
/// messages follow).
fn mask_url_password(s: &str) -> String {
    s.split(' ')
        .map(|w| if w.contains("://") { crate::pgurl::mask_url(w) } else { w.to_string() })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Folds journal lines (each an event in full, in the order written) into one
/// event per id, the last line of each winning, in the order events started.
pub fn fold(records: impl IntoIterator<Item = AuditEvent>) -> Vec<AuditEvent> {
    let mut order: Vec<String> = Vec::new();
    let mut by_id: BTreeMap<String, AuditEvent> = BTreeMap::new();
    for e in records {
        if !by_id.contains_key(&e.id) {
            order.push(e.id.clone());
        }
        by_id.insert(e.id.clone(), e);
    }
    let mut out: Vec<AuditEvent> = order.into_iter().filter_map(|id| by_id.remove(&id)).collect();
    out.sort_by(|a, b| a.started_at.cmp(&b.started_at).then(a.id.cmp(&b.id)));
    out
}

/// One event as a clerk reads it: when, who, what, and what came of it.
pub fn render_zh(e: &AuditEvent) -> Vec<String> {
    let when = e.started_at.get(..19).unwrap_or(&e.started_at).replace('T', " ");
    let mut head = format!("{when}  {}  {}@{}  {}", action_zh(&e.action), e.user, e.host, e.state.zh());
    let r = &e.result;
    if let Some(code) = r.exit_status {
        head.push_str(&format!("（退出 {code}）"));
    }
    match (e.state, r.committed) {
        (AuditState::Interrupted, Some(true)) => head.push_str("：命令中断前台账已提交，由下一个命令完成"),
        (AuditState::Interrupted, Some(false)) => head.push_str("：命令中断，台账未提交任何内容"),
        (AuditState::Interrupted, None) => head.push_str("：命令中断，是否已提交无从得知"),
        _ => {}
    }
    if let Some(b) = &r.batch {
        head.push_str(&format!(" 批次 {b}"));
    }
    let mut out = vec![head];
    out.push(format!("    命令：{}", e.command_line.join(" ")));
    let totals: Vec<String> =
        r.totals.iter().map(|(k, t)| format!("{} {} 笔 {} 元", tally_zh(k), t.lines, t.amount)).collect();
    if !totals.is_empty() {
        out.push(format!("    结果：{}", totals.join("，")));
    }
    if !r.message.is_empty() {
        out.push(format!("    说明：{}", r.message));
    }
    out.push(format!(
        "    版本 {}，配置 SHA-256 {}，期间 {}",
        e.version,
        e.config_sha256,
        if e.periods.is_empty() { "—".to_string() } else { e.periods.join("、") }
    ));
    out
}

/// A total's name in a clerk's words (the JSON keeps the English key).
/// The command as a clerk names it (the JSON keeps the command's own name).
fn action_zh(action: &str) -> &str {
    match action {
        "run" => "发放",
        "returns" => "读取回执",
        "watch" => "自动读取回执",
        "reissue" => "更正重发",
        "report" => "重建报告",
        "ledger rebuild" => "重建台账",
        other => other,
    }
}

fn tally_zh(key: &str) -> &str {
    match key {
        "paid" => "发放",
        "held" => "暂缓",
        "warned" => "警告",
        "updated" => "回执更新",
        "flagged" => "待查",
        "failures" => "失败/退票待处理",
        "reissued" => "更正发放",
        "refused" => "未更正",
        "rebuilt" => "重建",
        "settled" => "成功",
        "failed" => "失败",
        "returned" => "退票",
        "pending" => "在途",
        "receipts" => "回执",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn a_url_password_in_free_text_is_masked_wherever_the_url_carries_it() {
        let said = "cannot reach postgresql://clerk:hunter2@db/p and postgres://clerk@db/p?password=hunter3 now";
        let masked = mask_text(said);
        assert!(!masked.contains("hunter2") && !masked.contains("hunter3"), "{masked}");
        assert!(masked.contains("postgresql://clerk:***@db/p") && masked.ends_with(" now"), "{masked}");
    }

    #[test]
    fn secrets_and_numbers_never_reach_the_command_line() {
        let got = mask_args(&s(&[
            "disburse",
            "trace",
            "--id",
            "11010519491231002X",
            "--password",
            "hunter2",
            "--api-token=abc",
            "--url=postgresql://disburse:s3cret@db:5432/p",
            "--public-key",
            "keys/pub.pem",
            "6222021234567890123",
            "--period",
            "2026-11",
        ]));
        let joined = got.join(" ");
        for secret in ["11010519491231002X", "hunter2", "abc", "s3cret", "6222021234567890123"] {
            assert!(!joined.contains(secret), "{secret} in {joined}");
        }
        assert!(joined.contains("keys/pub.pem") && joined.contains("2026-11"), "{joined}");
        assert!(joined.contains("postgresql://disburse:***@db:5432/p"), "{joined}");
    }

    fn event(id: &str, at: &str, state: AuditState) -> AuditEvent {
        AuditEvent {
            id: id.into(),
            action: "run".into(),
            started_at: at.into(),
            finished_at: None,
            user: "u".into(),
            host: "h".into(),
            command_line: vec![],
            version: "1".into(),
            config_sha256: "x".into(),
            periods: vec!["2026-11".into()],
            state,
            result: AuditResult::default(),
            ledger_commits_before: 0,
        }
    }

    #[test]
    fn the_last_line_of_an_event_is_its_state_and_events_keep_their_start_order() {
        let folded = fold([
            event("b", "2026-11-02", AuditState::Started),
            event("a", "2026-11-01", AuditState::Started),
            event("a", "2026-11-01", AuditState::Done),
            event("b", "2026-11-02", AuditState::Interrupted),
        ]);
        let got: Vec<(&str, AuditState)> = folded.iter().map(|e| (e.id.as_str(), e.state)).collect();
        assert_eq!(got, [("a", AuditState::Done), ("b", AuditState::Interrupted)]);
    }
}
