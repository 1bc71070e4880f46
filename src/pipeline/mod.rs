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
mod progress;
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
pub use progress::{LogWriter, Progress};
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
    #[error("{}", crate::tr!("银行文件：{_0}", "bank file: {_0}"))]
    BankFile(#[from] BankFileError),
    #[error("{}", crate::tr!("签名：{_0}", "signing: {_0}"))]
    Sign(#[from] crate::sign::SignError),
    #[error("{}", crate::tr!("报告：{_0}", "report: {_0}"))]
    Report(#[from] crate::report::ReportError),
    #[error("{}", crate::tr!("{}：{}", "{}: {}", path.display(), crate::fsutil::Explained(source)))]
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
    /// What the command counted, for its final JSON event (SPEC §13).
    pub totals: Totals,
}

impl Outcome {
    pub fn new(needs_person: bool, summary: Vec<String>) -> Outcome {
        Outcome { needs_person, summary, totals: Totals::default() }
    }

    /// The same outcome with what the command counted.
    pub fn with(mut self, totals: Totals) -> Outcome {
        self.totals = totals;
        self
    }

    pub fn exit_code(&self) -> u8 {
        if self.needs_person {
            2
        } else {
            0
        }
    }
}

/// Counts and amounts by name, for the final JSON event of a command. Amounts
/// are strings with two decimals ("44325.50"): a log shipper that reads them as
/// floats would lose fen, and "44325.5" beside "43177.00" reads as two formats.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals(pub serde_json::Map<String, serde_json::Value>);

impl Totals {
    pub fn count(mut self, name: &str, n: impl Into<u64>) -> Totals {
        self.0.insert(name.into(), n.into().into());
        self
    }

    pub fn amount(mut self, name: &str, yuan: rust_decimal::Decimal) -> Totals {
        self.0.insert(name.into(), fmt2(yuan).into());
        self
    }

    pub fn fen(mut self, name: &str, fen: crate::domain::Fen) -> Totals {
        self.0.insert(name.into(), fen.yuan_string().into());
        self
    }

    pub fn text(mut self, name: &str, text: impl Into<String>) -> Totals {
        self.0.insert(name.into(), text.into().into());
        self
    }

    pub fn list(mut self, name: &str, items: Vec<Totals>) -> Totals {
        self.0.insert(name.into(), items.into_iter().map(|t| serde_json::Value::Object(t.0)).collect());
        self
    }
}

/// The totals of a prepared period: what was approved, paid, held and skipped,
/// in all and per program (check and run report the same shape).
pub(crate) fn prepared_totals(p: &Prepared) -> Totals {
    let mut all = [rust_decimal::Decimal::ZERO; 3];
    let mut lines = [0u64; 4];
    let mut programs = Vec::new();
    for (program, t) in &p.totals.programs {
        all[0] += t.approved.amount;
        all[1] += t.paid.amount;
        all[2] += t.held.amount;
        lines[0] += t.approved.lines;
        lines[1] += t.paid.lines;
        lines[2] += t.held.lines;
        lines[3] += t.skipped.lines;
        programs.push(
            Totals::default()
                .text("program", program.code())
                .count("approved_lines", t.approved.lines)
                .amount("approved_amount", t.approved.amount)
                .count("paid_lines", t.paid.lines)
                .amount("paid_amount", t.paid.amount)
                .count("held_lines", t.held.lines)
                .amount("held_amount", t.held.amount)
                .count("skipped_lines", t.skipped.lines),
        );
    }
    Totals::default()
        .text("period", p.period.to_string())
        .count("approved_lines", lines[0])
        .amount("approved_amount", all[0])
        .count("paid_lines", lines[1])
        .amount("paid_amount", all[1])
        .count("held_lines", lines[2])
        .amount("held_amount", all[2])
        .count("skipped_lines", lines[3])
        .list("programs", programs)
}

/// One line per program: what was approved, paid, held.
pub(crate) fn summary_lines(p: &Prepared) -> Vec<String> {
    let mut out = Vec::new();
    let width = p.totals.programs.keys().map(|k| columns(program_label(*k))).max().unwrap_or(0);
    for (program, t) in &p.totals.programs {
        let name = pad(program_label(*program), width);
        let (approved, paid, held, skipped) = (
            (t.approved.lines, fmt2(t.approved.amount)),
            (t.paid.lines, fmt2(t.paid.amount)),
            (t.held.lines, fmt2(t.held.amount)),
            t.skipped.lines,
        );
        out.push(if crate::lang::english() {
            let state = if t.refused { "  [R07 mismatch: nothing of this program is paid]" } else { "" };
            format!(
                "{name} approved {:>6} lines {:>14} | paid {:>6} lines {:>14} | held {:>5} lines {:>12} | already \
                 paid, skipped {skipped:>5} lines{state}",
                approved.0, approved.1, paid.0, paid.1, held.0, held.1
            )
        } else {
            let state = if t.refused { "  【R07 不符，整个项目不发放】" } else { "" };
            format!(
                "{name} 审批 {:>6} 笔 {:>14} 元 | 发放 {:>6} 笔 {:>14} 元 | 暂缓 {:>5} 笔 {:>12} 元 | 已发跳过 {skipped:>5} \
                 笔{state}",
                approved.0, approved.1, paid.0, paid.1, held.0, held.1
            )
        });
    }
    out
}

/// A program as the clerk knows it (SPEC §13): its Chinese name (城乡最低生活保障金),
/// or in English its code (`dibao`), which is what scripts and the contract use.
pub(crate) fn program_label(program: crate::domain::Program) -> &'static str {
    crate::lang::pick(program.chinese_name(), program.code())
}

/// `text` padded with spaces to `width` columns of a terminal, a Chinese
/// character taking two (format's `{:<9}` counts characters, and the columns
/// after a Chinese name would not line up).
pub(crate) fn pad(text: &str, width: usize) -> String {
    format!("{text}{}", " ".repeat(width.saturating_sub(columns(text))))
}

/// The columns `text` takes on a terminal: two for a Chinese character.
pub(crate) fn columns(text: &str) -> usize {
    text.chars().map(|c| if (c as u32) < 0x1100 { 1 } else { 2 }).sum()
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
        return Err(PipelineError::Refused(crate::tr!(
            "{} 没有台账：还没有正式发放过（先运行 disburse run）",
            "no ledger at {}: nothing has been run yet",
            config.ledger_path.display()
        )));
    }
    Ok(crate::ledger::open(config)?)
}
