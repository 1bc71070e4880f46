//! Bank payment files: ISO 20022 pain.001 (v03, v09) and Chinese bank text layouts
//! described as data in `formats/*.toml`. (Stub: the writers land in their own change.)

use std::path::{Path, PathBuf};

use crate::config::{Office, Payer};
use crate::domain::{Fen, PaymentLine, Period, Program, ReceiptLine, TextEncoding, TextRules};

/// Why a bank file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum BankFileError {
    #[error("{0}")]
    Other(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
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
    pub lines: u64,
    pub total: Fen,
    pub size: u64,
    pub sha256: String,
}

/// A bank file format: built-in XML or a text layout loaded from `formats/`.
#[derive(Debug, Clone)]
pub struct Format {
    name: String,
}

impl Format {
    /// Loads `pain001-v03`, `pain001-v09`, or `<name>.toml` from `formats_dir` (then the built-ins).
    pub fn load(name: &str, formats_dir: &Path) -> Result<Format, BankFileError> {
        let _ = formats_dir;
        Ok(Format {
            name: name.to_string(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name rules validation must enforce before writing (V05).
    pub fn text_rules(&self) -> TextRules {
        TextRules {
            encoding: TextEncoding::Utf8,
            name_max: None,
        }
    }

    /// Writes the batch into `dir`, split at the format's line limit; each file whole or not at all.
    pub fn write(&self, batch: &Batch, dir: &Path) -> Result<Vec<WrittenFile>, BankFileError> {
        let _ = (batch, dir);
        Err(BankFileError::Other("not implemented".into()))
    }

    /// Reads this layout's return file (回盘) into receipt lines (text layouts only).
    pub fn read_returns(
        &self,
        bytes: &[u8],
        file: &str,
    ) -> Result<Vec<ReceiptLine>, BankFileError> {
        let _ = (bytes, file);
        Err(BankFileError::Other("not implemented".into()))
    }
}
