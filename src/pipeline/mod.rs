//! The commands of SPEC §7, each a walk through the stages in order. This is the
//! only module that knows them all; the stages know only the domain types.

use std::path::PathBuf;

use crate::bankfile::BankFileError;
use crate::ingest::IngestError;
use crate::ledger::LedgerError;

mod admin;
mod archive;
mod audit;
mod check;
mod continuity;
mod derived;
pub mod fault;
mod prepare;
mod publish;
mod rebuild;
mod receipts;
mod record;
mod reissue;
mod run;
mod stage;
mod threads;
mod trace;
mod unanswered;
mod watch;

pub use admin::{init, keygen, status, verify, verify_against};
pub use audit::audit_list;
pub use check::check;
pub use derived::report;
pub use rebuild::rebuild;
pub use receipts::{returns, Flag};
pub use reissue::reissue;
pub use run::run;
pub use trace::{trace, TraceKey};
pub use watch::{watch, WatchOptions};

pub(crate) use prepare::{prepare, Prepared};

/// Why a command stopped without doing its work (exit status 1, or 3 for a lock).
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("bank file: {0}")]
    BankFile(#[from] BankFileError),
    #[error("signing: {0}")]
    Sign(#[from] crate::sign::SignError),
    #[error("report: {0}")]
    Report(#[from] crate::report::ReportError),
    #[error("{}: {}", path.display(), crate::fsutil::Explained(source))]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Stopped(#[from] threads::Stopped),
    #[error("{0}")]
    Refused(String),
}

impl PipelineError {
    /// Exit status of SPEC §7: 3 when another run holds the lock, else 1.
    pub fn exit_code(&self) -> u8 {
        match self {
            PipelineError::Ledger(LedgerError::Locked(_) | LedgerError::OfficeLocked(_)) => 3,
            _ => 1,
        }
    }
}

/// The time now in China Standard Time (UTC+8), the office's clock for file
/// names, report headers and the manifest.
pub(crate) fn now_cn() -> chrono::DateTime<chrono::FixedOffset> {
    if let Some(now) = fault::now_override() {
        return now;
    }
    chrono::Utc::now().with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("valid offset"))
}

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> PipelineError {
    let path = path.into();
    move |source| PipelineError::Io { path, source }
}

/// How a command ended, for the exit status and the one-screen summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// True when lines were held, receipts flagged or failures found (exit 2).
    pub needs_person: bool,
    /// What to print: a few lines a clerk reads.
    pub summary: Vec<String>,
}

impl Outcome {
    pub fn exit_code(&self) -> u8 {
        if self.needs_person {
            2
        } else {
            0
        }
    }
}

/// A progress display on a terminal, nothing under cron.
pub struct Progress {
    enabled: bool,
}

impl Progress {
    pub fn new(enabled: bool) -> Progress {
        Progress { enabled }
    }

    pub(crate) fn spinner(&self, what: &str) -> Spinner {
        if !self.enabled {
            return Spinner { bar: None, n: 0 };
        }
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} {pos} 行 ({per_sec})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.set_message(what.to_string());
        Spinner { bar: Some(bar), n: 0 }
    }
}

pub(crate) struct Spinner {
    bar: Option<indicatif::ProgressBar>,
    n: u64,
}

impl Spinner {
    fn tick(&mut self) {
        self.n += 1;
        if self.n.is_multiple_of(4096) {
            if let Some(b) = &self.bar {
                b.set_position(self.n);
            }
        }
    }

    fn finish(self) {
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}

/// One line per program: what was approved, paid, held.
pub(crate) fn summary_lines(p: &Prepared) -> Vec<String> {
    let mut out = Vec::new();
    for (program, t) in &p.totals.programs {
        let state = if t.refused { "  【R07 不符，整个项目不发放】" } else { "" };
        out.push(format!(
            "{:<9} 审批 {:>6} 笔 {:>14} 元 | 发放 {:>6} 笔 {:>14} 元 | 暂缓 {:>5} 笔 {:>12} 元 | 已发跳过 {:>5} 笔{state}",
            program.code(),
            t.approved.lines,
            fmt2(t.approved.amount),
            t.paid.lines,
            fmt2(t.paid.amount),
            t.held.lines,
            fmt2(t.held.amount),
            t.skipped.lines,
        ));
    }
    out
}

/// A decimal with at least two places (held amounts keep any extra places as written).
pub(crate) fn fmt2(d: rust_decimal::Decimal) -> String {
    if d.scale() < 2 {
        let mut x = d;
        x.rescale(2);
        x.to_string()
    } else {
        d.to_string()
    }
}

/// The ledger of a command that only reads it (`status`, `audit`, `trace`):
/// refused, creating nothing, when nothing has been run yet.
pub(crate) fn open_existing_ledger(
    config: &crate::config::Config,
) -> Result<Box<dyn crate::ledger::Ledger + Send>, PipelineError> {
    if !crate::ledger::exists(config) {
        return Err(PipelineError::Refused(format!(
            "no ledger at {}: nothing has been run yet",
            config.ledger_path.display()
        )));
    }
    Ok(crate::ledger::open(config)?)
}
