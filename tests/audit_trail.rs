//! The auditor's view (SPEC §14) on the real binary: the audit list tells a
//! month's story exactly — two batches, receipts, a correction, and commands
//! killed before and after their commit — and says the same after `ledger
//! rebuild`; `trace` follows one line from its roster row to its corrected,
//! settled end; lines the bank never answered are listed once they are old
//! enough, and `status` exits 2; nothing secret reaches the trail.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::pg::Backend;
use common::{bin, fake_bank, read_csv, text};
use serde_json::Value;

const P: &str = "2026-11";

struct Office {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    config: String,
}

impl Office {
    fn new() -> Office {
        Office::on(Backend::Sqlite).expect("an SQLite office")
    }

    /// The example office on `backend`; `None`: no PostgreSQL server here (skip).
    fn on(backend: Backend) -> Option<Office> {
        let (tmp, config) = common::office();
        if !common::pg::use_backend(&config, backend, "330729") {
            return None;
        }
        let dir = config.parent().unwrap().to_path_buf();
        Some(Office { _tmp: tmp, dir, config: config.to_str().unwrap().to_string() })
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// `disburse <command> --config C <rest…>` as user `auditee`, with `env` set.
    fn cmd(&self, command: &[&str], rest: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = std::process::Command::new(bin());
        c.args(command).args(["--config", &self.config]).args(rest);
        c.env("USER", "auditee").env_remove("DISBURSE_FAULT").env_remove("DISBURSE_NOW");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    fn go(&self, command: &[&str], rest: &[&str], codes: &[i32]) -> String {
        let o = self.cmd(command, rest, &[]);
        let code = o.status.code().unwrap_or(-1);
        assert!(codes.contains(&code), "disburse {command:?} {rest:?} exited {code}:\n{}", text(&o));
        text(&o)
    }

    /// Runs a command that must die at the fault point.
    fn killed(&self, command: &[&str], rest: &[&str], fault: &str) {
        let o = self.cmd(command, rest, &[("DISBURSE_FAULT", fault)]);
        assert_eq!(o.status.code(), None, "{command:?} must die at {fault}:\n{}", text(&o));
    }

    fn audit(&self, period: Option<&str>) -> Vec<Value> {
        let mut rest = vec!["--json"];
        if let Some(p) = period {
            rest.extend(["--period", p]);
        }
        let out = self.cmd(&["audit"], &rest, &[]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        serde_json::from_slice::<Value>(&out.stdout).unwrap().as_array().unwrap().clone()
    }

    fn lose_ledger(&self) {
        for s in ["", "-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(format!("{}{s}", self.path("state/ledger.db").display()));
        }
    }

    /// One more 移民 in November's roster and approval: a second batch to pay.
    fn add_yimin(&self, n: u64) {
        let roster = self.path("rosters/2026-11/yimin.csv");
        let mut text = std::fs::read_to_string(&roster).unwrap();
        let line = format!("东岭乡,东岭村,新增甲,{},{},中国建设银行示例县支行,300.00,\n", gen_id(n), gen_card(n));
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&line);
        std::fs::write(&roster, text).unwrap();
        let approvals = self.path("rosters/2026-11/approvals.csv");
        let text = std::fs::read_to_string(&approvals).unwrap();
        let fixed: Vec<String> = text
            .lines()
            .map(|l| {
                let mut f: Vec<String> = l.split(',').map(str::to_string).collect();
                if f[0] == "yimin" {
                    let count: u64 = f[1].parse().unwrap();
                    let total: f64 = f[2].parse().unwrap();
                    f[1] = (count + 1).to_string();
                    f[2] = format!("{:.2}", total + 300.0);
                }
                f.join(",")
            })
            .collect();
        std::fs::write(&approvals, fixed.join("\n") + "\n").unwrap();
    }
}

fn gen_id(n: u64) -> String {
    common::gen::id_number(9_000_000 + n)
}

fn gen_card(n: u64) -> String {
    common::gen::card(9_000_000 + n)
}

/// (action, state, exit status, committed, batch) of each event.
fn story(events: &[Value]) -> Vec<(String, String, Option<u64>, Option<bool>, Option<String>)> {
    events
        .iter()
        .map(|e| {
            let r = &e["result"];
            (
                e["action"].as_str().unwrap().to_string(),
                e["state"].as_str().unwrap().to_string(),
                r["exit_status"].as_u64(),
                r["committed"].as_bool(),
                r["batch"].as_str().map(str::to_string),
            )
        })
        .collect()
}

fn s(
    action: &str,
    state: &str,
    exit: Option<u64>,
    committed: Option<bool>,
    batch: Option<&str>,
) -> (String, String, Option<u64>, Option<bool>, Option<String>) {
    (action.into(), state.into(), exit, committed, batch.map(str::to_string))
}

/// A month: run (R001), receipts, a correction (C001), a receipt killed before
/// its commit, a second run (R002) killed after its commit, and what the next
/// commands make of both. The list says exactly that, with who, where, the
/// command line and the results; and says it again after the ledger is lost
/// and rebuilt.
#[test]
fn the_audit_list_tells_the_month_as_it_happened_and_survives_a_rebuild() {
    let o = Office::new();
    o.go(&["run"], &["--period", P], &[2]);
    let inbox = o.path("inbox");
    let answer = fake_bank::answer(&o.path("out/2026-11"), &inbox, 5).unwrap();
    let pain = inbox.join("pain002.xml");
    let camt = inbox.join("camt054.xml");
    o.go(&["returns"], &[pain.to_str().unwrap()], &[2]);
    let corrections = inbox.join("corrections.csv");
    let reissued = o.cmd(&["reissue"], &["--period", P, "--corrections", corrections.to_str().unwrap()], &[]);
    let reissue_exit = reissued.status.code().unwrap() as u64;
    assert!(matches!(reissue_exit, 0 | 2), "{}", text(&reissued));
    // Killed before its commit: nothing applied.
    o.killed(&["returns"], &[camt.to_str().unwrap()], "archived:1");
    o.add_yimin(1);
    // Killed after its commit, before publishing: the next command finishes it.
    o.killed(&["run"], &["--period", P], "committed:1");
    o.go(&["returns"], &[camt.to_str().unwrap()], &[2]);

    let events = o.audit(None);
    assert_eq!(
        story(&events),
        [
            s("run", "done", Some(2), Some(true), Some("R001")),
            s("returns", "done", Some(2), Some(true), None),
            s("reissue", "done", Some(reissue_exit), Some(true), Some("C001")),
            s("returns", "interrupted", None, Some(false), None),
            s("run", "interrupted", None, Some(true), None),
            s("returns", "done", Some(2), Some(true), None),
        ],
        "{events:#?}"
    );
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).ok();
    for e in &events {
        assert_eq!(e["user"], "auditee");
        if let Some(h) = &host {
            assert_eq!(e["host"].as_str().unwrap(), h);
        }
        assert_eq!(e["version"], env!("CARGO_PKG_VERSION"));
        let sha = disburse::fsutil::sha256_file(Path::new(&o.config)).unwrap();
        assert_eq!(e["config_sha256"].as_str().unwrap(), sha);
        assert!(e["started_at"].as_str().unwrap().ends_with("+08:00"), "{e}");
        if e["state"] != "interrupted" {
            assert_eq!(e["periods"], serde_json::json!([P]), "{e}");
        }
        let line: Vec<&str> = e["command_line"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(line[1], e["action"].as_str().unwrap(), "{line:?}");
    }
    // Results as lines and amounts with two decimals.
    let run = &events[0]["result"]["totals"];
    let paid = read_csv(&o.path("out/2026-11/records/R001/paid.csv")).len() as u64 - 1;
    assert_eq!(run["paid"]["lines"].as_u64(), Some(paid), "{run}");
    assert!(run["paid"]["amount"].as_str().unwrap().split_once('.').unwrap().1.len() == 2, "{run}");
    let reissued = &events[2]["result"]["totals"]["reissued"];
    let c001 = read_csv(&o.path("out/2026-11/records/C001/paid.csv")).len() as u64 - 1;
    assert_eq!(reissued["lines"].as_u64(), Some(c001), "{reissued}");
    let failed = &events[1]["result"]["totals"]["failed"];
    assert_eq!(failed["lines"].as_u64(), Some(answer.rejected.len() as u64), "{failed}");
    // The run the crash interrupted was finished by the next command, which says so.
    assert!(events[5]["result"]["message"].as_str().unwrap().contains("R002"), "{}", events[5]);

    // People read it in Chinese.
    let zh = o.go(&["audit"], &[], &[0]);
    for word in ["run", "returns", "reissue", "中断", "台账未提交", "台账已提交", "auditee", "批次 C001"]
    {
        assert!(zh.contains(word), "{word}:\n{zh}");
    }
    assert_eq!(o.audit(Some("2026-10")).len(), 0, "no command concerned October");

    // Lost and rebuilt: the same list, and the rebuild itself after it.
    o.lose_ledger();
    o.go(&["ledger", "rebuild"], &[], &[0]);
    let again = o.audit(None);
    assert_eq!(again[..events.len()], events[..], "the journal restored every event as it was");
    assert_eq!(story(&again[events.len()..]), [s("ledger rebuild", "done", Some(0), Some(true), None)], "{again:#?}");
}

/// Every receipt for `refs` from the fake bank: all settled.
fn settle_all(dir: &Path, name: &str, lines: &[(String, String, String)]) -> PathBuf {
    let paid: Vec<fake_bank::Paid> = lines
        .iter()
        .map(|(e2e, amount, account)| fake_bank::Paid {
            e2e: e2e.clone(),
            amount: amount.clone(),
            account: account.clone(),
        })
        .collect();
    let path = dir.join(name);
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(&path, fake_bank::pain002(&paid, 1_000_000)).unwrap();
    path
}

/// A line rejected by the bank, corrected, and settled: `trace` shows its
/// roster row, approval, checks, bank file and signer, the rejection, and the
/// correction with its own receipt, in that order; by reference and by person.
#[test]
fn trace_follows_a_failed_line_through_its_correction_to_its_settlement() {
    let o = Office::new();
    o.go(&["run"], &["--period", P], &[2]);
    let inbox = o.path("inbox");
    let answer = fake_bank::answer(&o.path("out/2026-11"), &inbox, 5).unwrap();
    o.go(&["returns"], &[inbox.join("pain002.xml").to_str().unwrap()], &[2]);
    o.go(&["reissue"], &["--period", P, "--corrections", inbox.join("corrections.csv").to_str().unwrap()], &[0, 2]);
    let record = read_csv(&o.path("out/2026-11/records/C001/paid.csv"));
    let corrections: Vec<(String, String, String)> =
        record[1..].iter().map(|r| (r[1].clone(), r[7].clone(), r[6].clone())).collect();
    let settle = settle_all(&inbox, "settled-corrections.xml", &corrections);
    o.go(&["returns"], &[settle.to_str().unwrap()], &[0, 2]);

    let original = &answer.rejected[0];
    let correction = record[1..].iter().find(|r| &r[11] == original).expect("the first rejection was corrected");
    let r001 = read_csv(&o.path("out/2026-11/records/R001/paid.csv"));
    let row = r001.iter().find(|r| &r[1] == original).unwrap();
    let (id, account) = (row[5].clone(), row[6].clone());

    let zh = o.go(&["trace"], &[original], &[0]);
    let order = [
        format!("发放 {original}"),
        format!("{} 第{}行", row[13], row[14]),
        "示民审〔2026〕".to_string(),
        "校验".to_string(),
        row[8].clone(),
        "失败".to_string(),
        "AC04".to_string(),
        format!("更正发放 {}", correction[1]),
        "settled-corrections.xml".to_string(),
    ];
    let mut at = 0;
    for want in &order {
        let found = zh[at..].find(want.as_str()).unwrap_or_else(|| panic!("{want} after byte {at}:\n{zh}"));
        at += found + want.len();
    }
    assert!(!zh.contains(&id) && !zh.contains(&account), "numbers masked:\n{zh}");
    assert!(zh.contains(&disburse::domain::mask_id(&id)), "{zh}");

    let out = o.cmd(&["trace"], &[correction[1].as_str(), "--json"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let p = &json["payments"][0];
    assert_eq!(p["end_to_end_id"], original.as_str(), "a correction's trace is its original's chain");
    assert_eq!(p["source"]["file"], row[13].as_str());
    assert_eq!(p["source"]["row"].as_u64(), row[14].parse::<u64>().ok());
    assert_eq!(p["status"], "失败");
    assert_eq!(p["receipts"][0]["reason_code"], "AC04");
    assert_eq!(p["receipts"][0]["file"], "2026-11/returns/received/pain002.xml");
    let bank = read_csv(&o.path("out/2026-11/reports/paid.csv"));
    let _ = bank;
    let manifest: Value = serde_json::from_slice(&std::fs::read(o.path("out/2026-11/manifest.json")).unwrap()).unwrap();
    let entry = manifest["files"].as_array().unwrap().iter().find(|f| f["path"] == format!("bank/{}", row[8])).unwrap();
    assert_eq!(p["bank_file"]["sha256"], entry["sha256"]);
    assert_eq!(p["bank_file"]["batch"], "R001");
    assert_eq!(p["bank_file"]["key_fingerprint"].as_str().unwrap().len(), 64);
    let c = &p["corrections"][0];
    assert_eq!(c["end_to_end_id"], correction[1].as_str());
    assert_eq!(c["status"], "成功");
    assert_eq!(c["receipts"][0]["file"], "2026-11/returns/received/settled-corrections.xml");
    assert_eq!(c["bank_file"]["batch"], "C001");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(!printed.contains(&id) && !printed.contains(&account), "JSON masked too");

    // By person and period: the same payment.
    let by_id = o.cmd(&["trace"], &["--id", &id, "--period", P, "--json"], &[]);
    assert_eq!(by_id.status.code(), Some(0), "{}", text(&by_id));
    let json2: Value = serde_json::from_slice(&by_id.stdout).unwrap();
    assert_eq!(json2["payments"][0]["end_to_end_id"], original.as_str());
    assert!(!String::from_utf8_lossy(&by_id.stdout).contains(&id));
    // An unknown reference is refused.
    assert_eq!(o.cmd(&["trace"], &["DB202611R0019999999"], &[]).status.code(), Some(1));
}

/// Lines with no final receipt appear in unanswered.csv once more than
/// `pending_days` days have passed since their batch (a fixed clock), not before;
/// `status` counts them and exits 2; `pending_days = 0` lists every pending line.
#[test]
fn lines_the_bank_never_answered_are_chased_once_old_enough() {
    lines_the_bank_never_answered_are_chased_on(Backend::Sqlite);
}

/// The same on a shared PostgreSQL ledger, whose audit trail is the office's own.
#[test]
fn lines_the_bank_never_answered_are_chased_on_a_shared_ledger() {
    lines_the_bank_never_answered_are_chased_on(Backend::Postgres);
}

fn lines_the_bank_never_answered_are_chased_on(backend: Backend) {
    let Some(o) = Office::on(backend) else { return };
    o.go(&["run"], &["--period", P], &[2]);
    let r001 = read_csv(&o.path("out/2026-11/records/R001/paid.csv"));
    let answered = &r001[1];
    let settle =
        settle_all(&o.path("inbox"), "one.xml", &[(answered[1].clone(), answered[7].clone(), answered[6].clone())]);
    let lines = r001.len() - 1;
    let file = o.path("out/2026-11/returns/unanswered.csv");
    let day = |days: i64| (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339();

    // 9 days on: not yet.
    let st = o.cmd(&["status"], &["--period", P], &[("DISBURSE_NOW", &day(9))]);
    assert_eq!(st.status.code(), Some(0), "{}", text(&st));
    // 11 days on: a writing command lists them, status counts them and exits 2.
    let ret = o.cmd(&["returns"], &[settle.to_str().unwrap()], &[("DISBURSE_NOW", &day(11))]);
    assert!(matches!(ret.status.code(), Some(0) | Some(2)), "{}", text(&ret));
    let rows = read_csv(&file);
    assert_eq!(rows[0], read_csv(&o.path("out/2026-11/returns/failures.csv"))[0], "failures.csv's columns");
    assert_eq!(rows.len() - 1, lines - 1, "every line but the one answered");
    assert!(rows[1..].iter().all(|r| r[10] == "联系银行核实" && r[1] != answered[1]), "{rows:?}");
    assert!(rows[1..].iter().all(|r| !r[5].is_empty() && r[5].contains('*')), "IDs masked");
    let st = o.cmd(&["status"], &["--period", P, "--json"], &[("DISBURSE_NOW", &day(11))]);
    assert_eq!(st.status.code(), Some(2), "{}", text(&st));
    let json: Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(json["unanswered"]["lines"].as_u64(), Some(lines as u64 - 1));
    let zh = o.cmd(&["status"], &["--period", P], &[("DISBURSE_NOW", &day(11))]);
    assert!(text(&zh).contains(&format!("{} 笔", lines - 1)) && text(&zh).contains("联系银行核实"), "{}", text(&zh));

    // pending_days = 0: every pending line, at once.
    let config = std::fs::read_to_string(&o.config).unwrap();
    let config = if config.contains("[checks]") {
        config.replace("[checks]", "[checks]\npending_days = 0")
    } else {
        format!("{config}\n[checks]\npending_days = 0\n")
    };
    std::fs::write(&o.config, config).unwrap();
    let st = o.cmd(&["status"], &["--period", P, "--json"], &[]);
    assert_eq!(st.status.code(), Some(2), "{}", text(&st));
    let json: Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(json["unanswered"]["lines"].as_u64(), Some(lines as u64 - 1));

    // The two writing commands, each done and committed, in the ledger's trail.
    let events = o.audit(Some(P));
    let told: Vec<(&str, &str, bool)> = events
        .iter()
        .map(|e| {
            (e["action"].as_str().unwrap(), e["state"].as_str().unwrap(), e["result"]["committed"] == Value::Bool(true))
        })
        .collect();
    assert_eq!(told, [("run", "done", true), ("returns", "done", true)], "{events:#?}");
}

/// The trail never holds a full ID or account number, a key, or a password,
/// whatever the command line or a refusal carried.
#[test]
fn the_trail_carries_no_secret_and_no_unmasked_number() {
    let o = Office::new();
    o.go(&["run"], &["--period", P], &[2]);
    let inbox = o.path("inbox");
    fake_bank::answer(&o.path("out/2026-11"), &inbox, 5).unwrap();
    let record = read_csv(&o.path("out/2026-11/records/R001/paid.csv"));
    let (id, account) = (record[1][5].clone(), record[1][6].clone());
    // A receipt named by an account number, and a refusal that quotes an ID.
    let named = inbox.join(format!("{account}.xml"));
    std::fs::copy(inbox.join("pain002.xml"), &named).unwrap();
    o.cmd(&["returns"], &[named.to_str().unwrap()], &[("DISBURSE_LEDGER_PASSWORD", "hunter2-secret")]);
    let bad = inbox.join("bad.csv");
    std::fs::write(&bad, format!("end_to_end_id,account,bank,payee_name\n{id},{account},,\n")).unwrap();
    o.cmd(&["reissue"], &["--period", P, "--corrections", bad.to_str().unwrap()], &[]);

    let journal = std::fs::read_to_string(o.path("out/audit.jsonl")).unwrap();
    let listed = text(&o.cmd(&["audit"], &["--json"], &[])) + &text(&o.cmd(&["audit"], &[], &[]));
    assert!(journal.lines().count() >= 6, "{journal}");
    let key = std::fs::read_to_string(o.path("keys/signing.pem")).unwrap();
    let key_body: Vec<&str> = key.lines().filter(|l| !l.starts_with("-----") && l.len() > 16).collect();
    for trail in [&journal, &listed] {
        for r in &record[1..] {
            assert!(!trail.contains(&r[5]), "full ID {} in the trail", r[5]);
            assert!(!trail.contains(&r[6]), "full account {} in the trail", r[6]);
        }
        assert!(!trail.contains("hunter2"), "password in the trail");
        for l in &key_body {
            assert!(!trail.contains(l), "key material in the trail");
        }
        assert!(!trail.contains("PRIVATE KEY"));
    }
    let masked = format!("{}.xml", disburse::domain::mask_numbers(&account));
    assert!(journal.contains(&masked), "the receipt's name is in the command line, masked: {masked}\n{journal}");
}
