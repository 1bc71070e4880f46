//! Bank payment files: ISO 20022 pain.001 (v03, v09) and Chinese bank text layouts
//! described as data in `formats/*.toml` (see [`layout`] for the language).
//!
//! Why layouts are data: every county bank has its own 代发 file, and adding one
//! must not need a new release. Why the writers refuse instead of cutting: a name
//! cut to fit, or a rare character turned into `&#NNNN;`, fails at the bank as 户名不符
//! weeks later; an error now names the line to fix.
//!
//! Every file is written whole or not at all (temporary name, fsync, rename; see
//! [`BankWriter`]), streaming: one payment line at a time from [`Format::writer`],
//! so a 1M-line batch never exists in memory, as lines or as a document.
//! [`Format::write`] is the same path for callers that hold a whole [`Batch`].

mod layout;
mod pain;
mod stream;
mod text;

pub use stream::BankWriter;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::config::{Office, Payer};
use crate::domain::{
    mask_account, mask_id, Fen, Length, PaymentLine, Period, Program, ReceiptLine, TextEncoding, TextRules,
};

/// Why a bank file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum BankFileError {
    #[error("{0}")]
    Other(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A layout file in `formats/` is not valid.
    #[error("{}", crate::tr!("银行文件格式 {source_name}：{message}", "bank format {source_name}: {message}"))]
    Layout { source_name: String, message: String },
    /// One payment line cannot be written as it is (never cut or replaced).
    #[error("{}", crate::tr!("{end_to_end_id} 这一笔：{message}", "line {end_to_end_id}: {message}"))]
    Line { end_to_end_id: String, message: String },
    /// A file (return or re-read bank file) does not follow its layout.
    #[error("{}", crate::tr!("{file}{}：{message}", "{file}{}: {message}", if *line > 0 { crate::tr!("，第 {line} 行", ", line {line}") } else { String::new() }))]
    Malformed { file: String, line: u64, message: String },
}

/// Everything a writer needs for one (program, payer, format) batch, its lines in hand.
pub struct Batch<'a> {
    pub head: BatchHead<'a>,
    pub lines: &'a [PaymentLine],
}

impl<'a> Batch<'a> {
    /// Everything of the batch but its lines, for [`Format::writer`].
    pub fn head(&self) -> BatchHead<'a> {
        self.head.clone()
    }
}

/// The facts of a batch a writer needs before its first line (everything of
/// [`Batch`] but the lines): a streaming caller never holds all lines at once.
#[derive(Clone)]
pub struct BatchHead<'a> {
    pub office: &'a Office,
    pub payer: &'a Payer,
    pub program: Program,
    pub period: Period,
    /// ISO purpose code of the program (e.g. `BENE`).
    pub purpose: &'a str,
    /// Unique for ever, ≤ 20 characters: MsgId, PmtInfId and file names derive from it.
    pub batch_id: String,
    pub created: chrono::DateTime<chrono::FixedOffset>,
    pub execution_date: chrono::NaiveDate,
}

/// One output file as planned before writing: how many lines and their sum. The
/// header or summary of a file states both before its first detail line, so they
/// must be known up front ([`Format::plan`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartPlan {
    pub lines: u64,
    pub total: Fen,
}

/// One file a writer produced.
#[derive(Debug, Clone, PartialEq)]
pub struct WrittenFile {
    pub path: PathBuf,
    pub file_name: String,
    /// Detail lines (payments) in the file.
    pub lines: u64,
    /// Sum of the detail lines.
    pub total: Fen,
    /// Bytes.
    pub size: u64,
    /// SHA-256 of the exact bytes written, lower-case hex.
    pub sha256: String,
}

/// One payment as read back from a bank file we wrote (for `verify` and tests).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct ParsedPayment {
    pub end_to_end_id: String,
    /// The name the file carries for the account holder (户名 / Cdtr/Nm).
    pub name: String,
    pub account: String,
    /// The beneficiary's ID number, when the format carries it.
    pub id_number: Option<String>,
    pub amount: Fen,
}

/// Masks the ID and account number: a parsed payment may end up in a log.
impl fmt::Debug for ParsedPayment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedPayment")
            .field("end_to_end_id", &self.end_to_end_id)
            .field("name", &self.name)
            .field("account", &mask_account(&self.account))
            .field("id_number", &self.id_number.as_deref().map(mask_id))
            .field("amount", &self.amount)
            .finish()
    }
}

/// The control totals a file states about itself (summary line, NbOfTxs/CtrlSum).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Controls {
    pub count: Option<u64>,
    pub total: Option<Fen>,
}

/// One output file of a batch, as planned.
pub(crate) struct Part {
    /// 1-based.
    pub number: usize,
    pub of: usize,
    /// MsgId / PmtInfId / `{file_id}`: the batch id, plus `-NNN` when split.
    pub file_id: String,
    pub lines: u64,
    pub total: Fen,
}

/// The layouts shipped with the program: `(name, TOML text)`. `disburse init`
/// copies them into a new config folder; [`Format::load`] falls back to them.
pub fn builtin_formats() -> &'static [(&'static str, &'static str)] {
    &[
        ("pipe-gbk", include_str!("../../formats/pipe-gbk.toml")),
        ("fixed-gbk", include_str!("../../formats/fixed-gbk.toml")),
        ("fen-gbk", include_str!("../../formats/fen-gbk.toml")),
    ]
}

const PAIN_V03: &str = "pain001-v03";
const PAIN_V09: &str = "pain001-v09";

#[derive(Debug, Clone)]
enum Kind {
    Pain(pain::Version),
    Text(Box<layout::Checked>),
}

/// A bank file format: built-in XML or a text layout loaded from `formats/`.
#[derive(Debug, Clone)]
pub struct Format {
    name: String,
    kind: Kind,
}

impl Format {
    /// Loads `pain001-v03`, `pain001-v09`, or `<name>.toml` from `formats_dir` (then the built-ins).
    pub fn load(name: &str, formats_dir: &Path) -> Result<Format, BankFileError> {
        let kind = match name {
            PAIN_V03 => Kind::Pain(pain::Version::V03),
            PAIN_V09 => Kind::Pain(pain::Version::V09),
            _ => Kind::Text(Box::new(load_layout(name, formats_dir)?)),
        };
        Ok(Format { name: name.to_string(), kind })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the layout says about itself (bank, channel), for listings.
    pub fn description(&self) -> &str {
        match &self.kind {
            Kind::Pain(pain::Version::V03) => "ISO 20022 pain.001.001.03 credit transfer (UTF-8)",
            Kind::Pain(pain::Version::V09) => "ISO 20022 pain.001.001.09 credit transfer (UTF-8)",
            Kind::Text(c) => &c.layout.description,
        }
    }

    /// The name rules validation must enforce before writing (V05).
    pub fn text_rules(&self) -> TextRules {
        match &self.kind {
            Kind::Pain(_) => TextRules { encoding: TextEncoding::Utf8, name_max: Some(Length::Chars(pain::NAME_MAX)) },
            Kind::Text(c) => {
                let max = c
                    .detail_fields()
                    .iter()
                    .filter(|f| matches!(f.source, layout::Source::Name | layout::Source::BeneficiaryName))
                    .filter_map(|f| f.width.or(f.max))
                    .min();
                TextRules { encoding: c.layout.encoding, name_max: max.map(Length::Bytes) }
            }
        }
    }

    /// Writes the batch into `dir`, split at the format's line limit; each file whole
    /// or not at all, and if one part fails the parts already written are removed.
    /// The same path as streaming: [`Format::plan`], [`Format::writer`], one push per line.
    pub fn write(&self, batch: &Batch, dir: &Path) -> Result<Vec<WrittenFile>, BankFileError> {
        let plan = self.plan(batch.lines.iter().map(|l| l.amount));
        let mut w = self.writer(batch.head(), plan, dir)?;
        for l in batch.lines {
            w.push(l)?;
        }
        w.finish()
    }

    /// How a batch whose line amounts are `amounts` (in writing order) splits into
    /// files at this layout's line limit. (A total beyond `i64` fen saturates; the
    /// writer then refuses the batch.)
    pub fn plan(&self, amounts: impl IntoIterator<Item = Fen>) -> Vec<PartPlan> {
        let limit = self.line_limit();
        let mut plan: Vec<PartPlan> = Vec::new();
        for a in amounts {
            match plan.last_mut() {
                Some(p) if p.lines < limit => {
                    p.lines += 1;
                    p.total = Fen(p.total.0.saturating_add(a.0));
                }
                _ => plan.push(PartPlan { lines: 1, total: a }),
            }
        }
        plan
    }

    /// Opens a streaming writer into `dir`. Header/summary lines (NbOfTxs, CtrlSum,
    /// 总笔数, 总金额) are written from `plan` before the details; everything about
    /// the batch as a whole (payer, file names, layout text lines) is checked here,
    /// before a byte is written.
    pub fn writer<'a>(
        &'a self,
        head: BatchHead<'a>,
        plan: Vec<PartPlan>,
        dir: &Path,
    ) -> Result<BankWriter<'a>, BankFileError> {
        stream::BankWriter::open(self, head, plan, dir)
    }

    /// Reads this layout's return file (回盘) into receipt lines (text layouts only).
    /// `reason_code` is left empty (the returns stage maps the bank's text to ISO
    /// codes); `reason_text` is the bank's text as written; `position` is the line.
    pub fn read_returns(&self, bytes: &[u8], file: &str) -> Result<Vec<ReceiptLine>, BankFileError> {
        match &self.kind {
            Kind::Text(c) => text::read_returns(c, bytes, file),
            Kind::Pain(_) => Err(self.no_text_returns(file)),
        }
    }

    /// Why a pain.001 layout has no text return file to read.
    fn no_text_returns(&self, file: &str) -> BankFileError {
        BankFileError::Other(format!(
            "{file}: receipts for {} come as pain.002 or camt.054, not as a text return file",
            self.name
        ))
    }

    /// [`Format::read_returns`] a line at a time: each receipt line goes to `sink`
    /// as it is read, and the count is returned. On an error `sink` may already
    /// have had the lines before it.
    pub fn stream_returns(
        &self,
        input: &mut dyn std::io::BufRead,
        file: &str,
        sink: &mut dyn FnMut(ReceiptLine),
    ) -> Result<u64, BankFileError> {
        match &self.kind {
            Kind::Text(c) => text::stream_returns(c, input, file, sink),
            Kind::Pain(_) => Err(self.no_text_returns(file)),
        }
    }

    /// Re-reads a file this format wrote: its payments in file order.
    pub fn read_payments(&self, bytes: &[u8]) -> Result<Vec<ParsedPayment>, BankFileError> {
        Ok(self.read(bytes)?.0)
    }

    /// Line count and total of a file this format wrote, after checking them against
    /// the control totals the file states (summary line, NbOfTxs/CtrlSum at both levels).
    pub fn count_and_total(&self, bytes: &[u8]) -> Result<(u64, Fen), BankFileError> {
        let (payments, controls) = self.read(bytes)?;
        let count = payments.len() as u64;
        let mut total = Fen::ZERO;
        for p in &payments {
            total = total.checked_add(p.amount).ok_or_else(|| BankFileError::Other("total overflows".into()))?;
        }
        for c in controls {
            let bad = |m: String| BankFileError::Malformed { file: self.file_label(), line: 0, message: m };
            if c.count.is_some_and(|n| n != count) {
                return Err(bad(format!(
                    "the file states {} lines (总笔数/NbOfTxs) but has {count}",
                    c.count.unwrap_or(0)
                )));
            }
            if c.total.is_some_and(|t| t != total) {
                return Err(bad(format!(
                    "the file states a total of {} (总金额/CtrlSum) but its lines add up to {total}",
                    c.total.unwrap_or_default()
                )));
            }
        }
        Ok((count, total))
    }

    fn read(&self, bytes: &[u8]) -> Result<(Vec<ParsedPayment>, Vec<Controls>), BankFileError> {
        let file = self.file_label();
        match &self.kind {
            Kind::Pain(_) => pain::read(bytes, &file),
            Kind::Text(c) => text::read(c, bytes, &file).map(|(p, s)| (p, vec![s])),
        }
    }

    fn file_label(&self) -> String {
        format!("{} file", self.name)
    }

    fn line_limit(&self) -> u64 {
        match &self.kind {
            Kind::Text(c) => c.layout.line_limit.map_or(u64::MAX, |n| n as u64),
            Kind::Pain(_) => u64::MAX,
        }
    }

    /// The files of a plan with their ids and safe, unique names.
    fn parts(&self, head: &BatchHead, plan: &[PartPlan]) -> Result<Vec<(Part, String)>, BankFileError> {
        if plan.iter().map(|p| p.lines).sum::<u64>() == 0 {
            return Err(BankFileError::Other(format!("batch {} has no lines: no bank file is written", head.batch_id)));
        }
        let limit = self.line_limit();
        if let Some(p) = plan.iter().find(|p| p.lines == 0 || p.lines > limit) {
            return Err(BankFileError::Other(format!(
                "batch {}: a planned file of {} lines does not fit format {} (1 to {limit} lines per file)",
                head.batch_id, p.lines, self.name
            )));
        }
        let of = plan.len();
        let mut out: Vec<(Part, String)> = Vec::with_capacity(of);
        for (i, p) in plan.iter().enumerate() {
            let file_id = if of == 1 { head.batch_id.clone() } else { format!("{}-{:03}", head.batch_id, i + 1) };
            let part = Part { number: i + 1, of, file_id, lines: p.lines, total: p.total };
            let name = match &self.kind {
                Kind::Pain(_) => format!("{}.xml", part.file_id),
                Kind::Text(c) => {
                    let ctx = text::FileCtx::new(head, &part);
                    c.file_name.render(|ph| ctx.placeholder(&c.layout.amount, ph))
                }
            };
            let safe = !name.is_empty()
                && !name.starts_with('.')
                && !name.contains(['/', '\\', '\0'])
                && !name.chars().any(char::is_control);
            if !safe || out.iter().any(|(_, n)| *n == name) {
                return Err(BankFileError::Other(format!(
                    "format {}: file name '{name}' is not a safe, unique file name",
                    self.name
                )));
            }
            out.push((part, name));
        }
        Ok(out)
    }
}

fn load_layout(name: &str, formats_dir: &Path) -> Result<layout::Checked, BankFileError> {
    let ok_name = !name.is_empty()
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !ok_name {
        return Err(BankFileError::Other(format!("'{name}' is not a bank format name (letters, digits, - _ . only)")));
    }
    let path = formats_dir.join(format!("{name}.toml"));
    let (source_name, text) = if path.is_file() {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| BankFileError::Other(format!("cannot read bank format {}: {e}", path.display())))?;
        (path.display().to_string(), text)
    } else if let Some((_, t)) = builtin_formats().iter().find(|(n, _)| *n == name) {
        (format!("{name} (built-in)"), t.to_string())
    } else {
        let mut known = vec![PAIN_V03, PAIN_V09];
        known.extend(builtin_formats().iter().map(|(n, _)| *n));
        return Err(BankFileError::Other(format!(
            "bank format '{name}' not found: no {} and no built-in of that name (built-in: {})",
            path.display(),
            known.join(", ")
        )));
    };
    layout::parse(&text).map_err(|message| BankFileError::Layout { source_name, message })
}
