//! The audit trail of the ledger-writing commands (SPEC §14): each one's event
//! is written when it starts and when it ends, to `<output>/audit.jsonl`
//! (flushed and synced) and to the ledger; `disburse audit` lists them. See
//! [`crate::audit`] for what an event holds and why it is written twice.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{io_err, Outcome, PipelineError};
use crate::audit::{self, AuditEvent, AuditResult, AuditState, Tally};
use crate::config::Config;
use crate::domain::{Fen, Period};
use crate::ledger::Ledger;

/// The journal's name under the output folder.
pub(crate) const JOURNAL: &str = "audit.jsonl";

/// What a command tells its audit event besides its outcome.
#[derive(Debug, Default)]
pub(crate) struct Facts {
    pub batch: Option<String>,
    pub periods: Vec<Period>,
    pub totals: Vec<(&'static str, u64, String)>,
    /// What the command's recovery finished for an earlier, interrupted one.
    pub recovered: Vec<String>,
}

impl Facts {
    pub(crate) fn total(&mut self, what: &'static str, lines: u64, amount: Fen) {
        self.totals.push((what, lines, amount.yuan_string()));
    }

    /// A total whose amount is an exact decimal as written (held lines keep theirs).
    pub(crate) fn total_decimal(&mut self, what: &'static str, lines: u64, amount: rust_decimal::Decimal) {
        self.totals.push((what, lines, super::fmt2(amount)));
    }

    pub(crate) fn period(&mut self, p: Period) {
        if !self.periods.contains(&p) {
            self.periods.push(p);
        }
    }
}

/// An event begun; [`Audit::finish`] ends it.
pub(crate) struct Audit {
    event: AuditEvent,
    journal: PathBuf,
}

/// Runs `body` as the audited command `action`, under the lock the caller
/// holds. The event is written on a connection of its own, before the body
/// starts (after closing any event a dead process left open) and again with its
/// result; the body opens the ledger itself. No audit connection stays open
/// while the body runs: an open SQLite connection would keep the ledger's WAL
/// from being checkpointed and removed when the body's own closes. A ledger that
/// does not know what the output folder holds is refused first, writing nothing
/// (SPEC §8). An error writing the end makes the command fail (exit 1): it never
/// reports success without its record. Every writing command rewrites
/// unanswered.csv last.
pub(crate) fn audited(
    config: &Config,
    action: &str,
    periods: &[Period],
    body: impl FnOnce(&mut Facts) -> Result<Outcome, PipelineError>,
) -> Result<Outcome, PipelineError> {
    let a = {
        let mut ledger = crate::ledger::open(config)?;
        super::continuity::check(config, ledger.as_ref())?;
        Audit::begin(config, ledger.as_mut(), action, periods)?
    };
    let mut facts = Facts::default();
    let result = body(&mut facts);
    let mut ledger = match crate::ledger::open(config) {
        Ok(l) => l,
        Err(e) => return a.finish(None, result.and(Err(e.into())), facts),
    };
    let result = result.and_then(|outcome| {
        super::unanswered::rewrite_all(config, ledger.as_ref())?;
        Ok(outcome)
    });
    a.finish(Some(ledger.as_mut()), result, facts)
}

impl Audit {
    /// Closes what dead processes left open, and writes this command's start.
    pub(crate) fn begin(
        config: &Config,
        ledger: &mut dyn Ledger,
        action: &str,
        periods: &[Period],
    ) -> Result<Audit, PipelineError> {
        let journal = config.output_dir.join(JOURNAL);
        close_interrupted(&journal, ledger, action)?;
        let mut a = Audit::start(config, action, periods);
        a.event.ledger_commits_before = ledger.commit_count()?;
        append(&journal, &a.event)?;
        ledger.record_audit(&a.event)?;
        Ok(a)
    }

    /// An event for a command that has no ledger to write to yet (`ledger
    /// rebuild`): the start goes to the journal only.
    pub(crate) fn begin_journal_only(config: &Config, action: &str) -> Result<Audit, PipelineError> {
        let a = Audit::start(config, action, &[]);
        append(&a.journal, &a.event)?;
        Ok(a)
    }

    fn start(config: &Config, action: &str, periods: &[Period]) -> Audit {
        let now = super::now_cn();
        let started_at = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, false);
        let args: Vec<String> = std::env::args().collect();
        let event = AuditEvent {
            id: format!("{}-{}", now.format("%Y%m%dT%H%M%S%.6f"), std::process::id()),
            action: action.to_string(),
            started_at,
            finished_at: None,
            user: os_user(),
            host: host_name(),
            command_line: audit::mask_args(&args),
            version: env!("CARGO_PKG_VERSION").to_string(),
            config_sha256: config.source_sha256.clone(),
            periods: periods.iter().map(|p| p.to_string()).collect(),
            state: AuditState::Started,
            result: AuditResult::default(),
            ledger_commits_before: 0,
        };
        Audit { event, journal: config.output_dir.join(JOURNAL) }
    }

    /// The event's id (for `ledger rebuild`, which must not close its own).
    pub(crate) fn id(&self) -> &str {
        &self.event.id
    }

    /// Writes the command's end to the journal and the ledger (if it has one),
    /// and hands its outcome on.
    pub(crate) fn finish(
        mut self,
        ledger: Option<&mut dyn Ledger>,
        result: Result<Outcome, PipelineError>,
        facts: Facts,
    ) -> Result<Outcome, PipelineError> {
        let e = &mut self.event;
        e.finished_at = Some(super::now_cn().to_rfc3339_opts(chrono::SecondsFormat::Millis, false));
        for p in &facts.periods {
            let p = p.to_string();
            if !e.periods.contains(&p) {
                e.periods.push(p);
            }
        }
        e.periods.sort();
        let commits = match &ledger {
            Some(l) => l.commit_count().ok(),
            None => None,
        };
        let committed = commits.map(|now| now > e.ledger_commits_before);
        let mut messages = facts.recovered.clone();
        match &result {
            Ok(outcome) => {
                e.state = AuditState::Done;
                e.result.exit_status = Some(outcome.exit_code());
            }
            Err(err) => {
                e.state = AuditState::Refused;
                e.result.exit_status = Some(err.exit_code());
                messages.push(audit::mask_text(&err.to_string()));
            }
        }
        e.result.committed = committed;
        e.result.batch = facts.batch.clone();
        e.result.totals = facts
            .totals
            .iter()
            .map(|(k, lines, amount)| (k.to_string(), Tally { lines: *lines, amount: amount.clone() }))
            .collect();
        e.result.message = messages.join("；");
        let written = append(&self.journal, &self.event).and_then(|()| match ledger {
            Some(l) => l.record_audit(&self.event).map_err(PipelineError::from),
            None => Ok(()),
        });
        match (result, written) {
            (Ok(_), Err(w)) => Err(PipelineError::Refused(format!(
                "the command's work is done, but its audit record could not be written ({w}); make {} writable \
                 and run `disburse audit` to check",
                self.journal.display()
            ))),
            (result, _) => result,
        }
    }
}

/// Closes every event still `started` in the ledger: the lock is ours, so its
/// process is gone. Whether it committed is told by the ledger's commit count.
fn close_interrupted(journal: &Path, ledger: &mut dyn Ledger, by: &str) -> Result<(), PipelineError> {
    let open: Vec<AuditEvent> = ledger.audit_events()?.into_iter().filter(|e| e.state == AuditState::Started).collect();
    if open.is_empty() {
        return Ok(());
    }
    let now = ledger.commit_count()?;
    for mut e in open {
        e.state = AuditState::Interrupted;
        e.result.committed = Some(now > e.ledger_commits_before);
        e.result.message = format!(
            "进程在报告结果前停止；由下一个命令（{by}，{}）记为中断",
            super::now_cn().format("%Y-%m-%d %H:%M:%S")
        );
        append(journal, &e)?;
        ledger.record_audit(&e)?;
    }
    Ok(())
}

/// Appends one event to the journal as one line, flushed and synced (the
/// folder too when the journal is new).
fn append(journal: &Path, e: &AuditEvent) -> Result<(), PipelineError> {
    let dir = journal.parent().unwrap_or(Path::new("."));
    crate::fsutil::create_private_dir(dir).map_err(io_err(dir))?;
    let new = !journal.exists();
    let mut options = std::fs::File::options();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(journal).map_err(io_err(journal))?;
    let mut line = serde_json::to_vec(e).map_err(|x| io_err(journal)(std::io::Error::other(x)))?;
    line.push(b'\n');
    f.write_all(&line).and_then(|()| f.sync_data()).map_err(io_err(journal))?;
    if new {
        crate::fsutil::sync_dir(dir).map_err(io_err(dir))?;
    }
    Ok(())
}

/// Reads the journal into one event per command (the last line of each), in
/// the order they started. A line that is not an event (a torn last line after
/// a power cut) is skipped.
pub(crate) fn read_journal(output_dir: &Path) -> Result<Vec<AuditEvent>, PipelineError> {
    let path = output_dir.join(JOURNAL);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(&path)(e)),
    };
    Ok(audit::fold(text.lines().filter_map(|l| serde_json::from_str::<AuditEvent>(l).ok())))
}

/// `ledger rebuild`: the journal's events into the new ledger. An event still
/// `started` (other than the rebuild's own) was interrupted, and whether it
/// committed cannot be known once its ledger is gone.
pub(crate) fn restore(output_dir: &Path, ledger: &mut dyn Ledger, own: &str) -> Result<usize, PipelineError> {
    let events = read_journal(output_dir)?;
    for mut e in events.iter().cloned() {
        if e.state == AuditState::Started && e.id != own {
            e.state = AuditState::Interrupted;
            e.result.committed = None;
            e.result.message = "进程在报告结果前停止；台账已重建，是否提交无从得知".to_string();
        }
        ledger.record_audit(&e)?;
    }
    Ok(events.len())
}

/// `disburse audit`: the events, in the order they started (of one period, or all).
pub fn audit_list(config: &Config, period: Option<Period>, json: bool) -> Result<Outcome, PipelineError> {
    let ledger = super::open_existing_ledger(config)?;
    let events: Vec<AuditEvent> =
        ledger.audit_events()?.into_iter().filter(|e| period.is_none_or(|p| e.concerns(&p.to_string()))).collect();
    let summary = if json {
        vec![serde_json::to_string_pretty(&events).expect("events are JSON")]
    } else if events.is_empty() {
        vec!["没有审计记录".to_string()]
    } else {
        events.iter().flat_map(audit::render_zh).collect()
    };
    Ok(Outcome::new(false, summary))
}

/// The OS user running the program: `USER`/`LOGNAME`, else the numeric uid.
fn os_user() -> String {
    for var in ["USER", "LOGNAME", "USERNAME"] {
        if let Ok(v) = std::env::var(var) {
            if !v.is_empty() {
                return v;
            }
        }
    }
    // Cron and service managers often set none of them: the account's name.
    // SAFETY: getuid cannot fail; getpwuid_r writes only into `pw` and `buf`,
    // whose sizes it is given, and `out` points into them or is null.
    unsafe {
        let uid = libc::getuid();
        let mut pw: libc::passwd = std::mem::zeroed();
        let mut buf = vec![0 as libc::c_char; 4096];
        let mut out: *mut libc::passwd = std::ptr::null_mut();
        if libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut out) == 0 && !out.is_null() {
            if let Ok(name) = std::ffi::CStr::from_ptr(pw.pw_name).to_str() {
                return name.to_string();
            }
        }
        format!("uid {uid}")
    }
}

/// The machine's name.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_else(|| "unknown".to_string())
}
