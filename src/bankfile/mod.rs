//! Bank payment files: ISO 20022 pain.001 (v03, v09) and Chinese bank text layouts
//! described as data in `formats/*.toml` (see [`layout`] for the language).
//!
//! Why layouts are data: every county bank has its own 代发 file, and adding one
//! must not need a new release. Why the writers refuse instead of cutting: a name
//! cut to fit, or a rare character turned into `&#NNNN;`, fails at the bank as 户名不符
//! weeks later; an error now names the line to fix.
//!
//! Every file is written whole or not at all ([`crate::fsutil::write_atomic_with`]),
//! streaming: a 100 000-line batch never exists as one document in memory.

mod layout;
mod pain;
mod text;

use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sha2::Digest;

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
    #[error("bank format {source_name}: {message}")]
    Layout { source_name: String, message: String },
    /// One payment line cannot be written as it is (never cut or replaced).
    #[error("line {end_to_end_id}: {message}")]
    Line { end_to_end_id: String, message: String },
    /// A file (return or re-read bank file) does not follow its layout.
    #[error("{file}{}: {message}", if *line > 0 { format!(", line {line}") } else { String::new() })]
    Malformed { file: String, line: u64, message: String },
}

/// Everything a writer needs for one (program, payer, format) batch.
pub struct Batch<'a> {
    pub office: &'a Office,
    pub payer: &'a Payer,
    pub program: Program,
    pub period: Period,
    /// ISO purpose code of the program (e.g. `BENE`).
    pub purpose: &'a str,
    /// Unique for ever, ≤ 20 characters, e.g. `DB202611R001`: MsgId, PmtInfId and file names derive from it.
    pub batch_id: String,
    pub created: chrono::DateTime<chrono::FixedOffset>,
    pub execution_date: chrono::NaiveDate,
    pub lines: &'a [PaymentLine],
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

/// One output file of a batch: a slice of its lines.
pub(crate) struct Part<'a> {
    /// 1-based.
    pub number: usize,
    pub of: usize,
    /// MsgId / PmtInfId / `{file_id}`: the batch id, plus `-NNN` when split.
    pub file_id: String,
    pub lines: &'a [PaymentLine],
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
    pub fn write(&self, batch: &Batch, dir: &Path) -> Result<Vec<WrittenFile>, BankFileError> {
        let parts = self.parts(batch)?;
        let names = self.file_names(batch, &parts)?;
        if let Kind::Pain(_) = self.kind {
            pain::check_batch(batch, &parts)?;
        }
        let mut done: Vec<WrittenFile> = Vec::with_capacity(parts.len());
        for (part, name) in parts.iter().zip(names) {
            match self.write_part(batch, part, dir, name) {
                Ok(f) => done.push(f),
                Err(e) => {
                    for f in &done {
                        let _ = std::fs::remove_file(&f.path);
                    }
                    return Err(e);
                }
            }
        }
        Ok(done)
    }

    /// Reads this layout's return file (回盘) into receipt lines (text layouts only).
    /// `reason_code` is left empty (the returns stage maps the bank's text to ISO
    /// codes); `reason_text` is the bank's text as written; `position` is the line.
    pub fn read_returns(&self, bytes: &[u8], file: &str) -> Result<Vec<ReceiptLine>, BankFileError> {
        match &self.kind {
            Kind::Text(c) => text::read_returns(c, bytes, file),
            Kind::Pain(_) => Err(BankFileError::Other(format!(
                "{file}: receipts for {} come as pain.002 or camt.054, not as a text return file",
                self.name
            ))),
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

    fn parts<'a>(&self, batch: &Batch<'a>) -> Result<Vec<Part<'a>>, BankFileError> {
        if batch.lines.is_empty() {
            return Err(BankFileError::Other(format!(
                "batch {} has no lines: no bank file is written",
                batch.batch_id
            )));
        }
        let limit = match &self.kind {
            Kind::Text(c) => c.layout.line_limit.unwrap_or(usize::MAX),
            Kind::Pain(_) => usize::MAX,
        };
        let chunks: Vec<&[PaymentLine]> = batch.lines.chunks(limit).collect();
        let of = chunks.len();
        let mut parts = Vec::with_capacity(of);
        for (i, lines) in chunks.into_iter().enumerate() {
            let mut total = Fen::ZERO;
            for l in lines {
                if l.amount.0 <= 0 {
                    return Err(BankFileError::Line {
                        end_to_end_id: l.end_to_end_id.to_string(),
                        message: "amount must be above zero".into(),
                    });
                }
                total = total.checked_add(l.amount).ok_or_else(|| BankFileError::Other("total overflows".into()))?;
            }
            let file_id = if of == 1 { batch.batch_id.clone() } else { format!("{}-{:03}", batch.batch_id, i + 1) };
            parts.push(Part { number: i + 1, of, file_id, lines, total });
        }
        Ok(parts)
    }

    fn file_names(&self, batch: &Batch, parts: &[Part]) -> Result<Vec<String>, BankFileError> {
        let mut names: Vec<String> = Vec::with_capacity(parts.len());
        for part in parts {
            let name = match &self.kind {
                Kind::Pain(_) => format!("{}.xml", part.file_id),
                Kind::Text(c) => {
                    let ctx = text::FileCtx::new(batch, part);
                    c.file_name.render(|p| ctx.placeholder(&c.layout.amount, p))
                }
            };
            let safe = !name.is_empty()
                && !name.starts_with('.')
                && !name.contains(['/', '\\', '\0'])
                && !name.chars().any(char::is_control);
            if !safe || names.contains(&name) {
                return Err(BankFileError::Other(format!(
                    "format {}: file name '{name}' is not a safe, unique file name",
                    self.name
                )));
            }
            names.push(name);
        }
        Ok(names)
    }

    fn write_part(&self, batch: &Batch, part: &Part, dir: &Path, name: String) -> Result<WrittenFile, BankFileError> {
        let path = dir.join(&name);
        let mut failure: Option<BankFileError> = None;
        let mut digest = None;
        let res = crate::fsutil::write_atomic_with(&path, |w| {
            let mut tee = Tee { inner: w, hash: sha2::Sha256::new(), size: 0 };
            let r = match &self.kind {
                Kind::Pain(v) => pain::write_part(*v, batch, part, &mut tee).map_err(BankFileError::Io),
                Kind::Text(c) => text::write_part(c, &text::FileCtx::new(batch, part), &mut tee),
            };
            digest = Some((hex::encode(tee.hash.finalize()), tee.size));
            r.map_err(|e| {
                failure = Some(e);
                io::Error::other("bank file not written")
            })
        });
        if let Some(e) = failure {
            return Err(e);
        }
        res?;
        let (sha256, size) = digest.unwrap_or_default();
        Ok(WrittenFile { path, file_name: name, lines: part.lines.len() as u64, total: part.total, size, sha256 })
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

/// Passes bytes through while hashing and counting them, so `sha256` and `size`
/// describe exactly what reached the file.
struct Tee<'w> {
    inner: &'w mut dyn Write,
    hash: sha2::Sha256,
    size: u64,
}

impl Write for Tee<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
