//! Returns (回盘), the reading half: bank receipts — pain.002 (v03, v10) and
//! camt.054 returns (退票 after a success) — into [`ReceiptLine`]s, plus the
//! tables that turn a bank's Chinese reason text into an ISO 20022 code and a
//! code into what a clerk does (SPEC §6). Deciding whether a line may be applied
//! to the ledger is not done here.
//!
//! Why streaming: a county bank's receipt for a province-wide batch can hold a
//! million lines, so pain.002 and camt.054 are read event by event with
//! `quick_xml::Reader`, never as a tree.
//!
//! Why refuse a receipt whole: a half-read receipt would apply some outcomes and
//! silently drop others; a clerk can resend a whole file, not half of one.
//!
//! Positions: [`ReceiptLine::position`] is the 1-based ordinal of the
//! `TxInfAndSts` element (pain.002) or of the `TxDtls` element (camt.054, counting
//! every `TxDtls`, returns or not) in the file. Error messages give line numbers.

mod camt054;
mod decide;
mod pain002;
mod reasons;
mod xml;

pub use decide::{decide, group_problem, status_zh, transition, Decision, FileFacts, Problem, Transition};
pub use reasons::{action_zh, is_death, reason_zh, ReasonMap, REASONS_FILE};

use std::io::{BufRead, Read};
use std::path::Path;

use crate::domain::{Conflict, PaymentStatus, Place, ReceiptLine};
use xml::Walker;

/// Which receipt message a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiptKind {
    Pain002V03,
    Pain002V10,
    Camt054,
}

/// What one receipt file says.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedReceipt {
    pub kind: ReceiptKind,
    /// The receipt's own MsgId (with the file's sha256, detects a receipt read twice).
    pub message_id: String,
    /// Transaction-level outcomes, in file order.
    pub lines: Vec<ReceiptLine>,
    /// Group / payment-information level statuses (pain.002 only).
    pub group_statuses: Vec<GroupStatus>,
    /// camt.054: the account notified (Ntfctn/Acct/Id/Othr/Id or IBAN), to detect a
    /// receipt for another office's account. `None` for pain.002.
    pub account: Option<String>,
}

/// A status the bank gave a whole original message (`OrgnlGrpInfAndSts/GrpSts`) or
/// a whole payment-information block (`OrgnlPmtInfAndSts/PmtInfSts`).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupStatus {
    pub original_msg_id: String,
    /// `None` for the group level, `Some(OrgnlPmtInfId)` for a PmtInf block.
    pub original_pmt_inf_id: Option<String>,
    /// Failed for RJCT, Settled for ACSC/ACCC, Pending for every other code.
    pub status: PaymentStatus,
    /// The code as the bank wrote it (`PART`, `RJCT`, …).
    pub raw_status: String,
    pub reason_code: String,
    pub reason_text: String,
    /// 0 for the group level; the 1-based ordinal of the `OrgnlPmtInfAndSts`
    /// element for a PmtInf block.
    pub position: u64,
    /// The block says two different statuses or ids: it applies to nothing.
    pub conflict: Option<Conflict>,
}

impl GroupStatus {
    /// Where the status stands in the file.
    pub fn place(&self) -> Place {
        match self.original_pmt_inf_id {
            None => Place::Pain002Group,
            Some(_) => Place::Pain002Block(self.position as u32),
        }
    }
}

/// Why a receipt (or the reason table) cannot be used. A receipt is refused
/// whole; the message names the file and the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReturnsError {
    /// The file is XML but broken, or breaks a rule of its message type.
    #[error("{}", crate::tr!("{file}：第 {line} 行：{message}", "{file}: line {line}: {message}"))]
    Malformed { file: String, line: u64, message: String },
    /// Well-formed XML, but not a message this program reads.
    #[error("{}", crate::tr!("{file}：第 {line} 行：不是 pain.002 或 camt.054 回盘（{found}）；请向银行要 pain.002.001.03/.10 状态报告或 camt.054.001.02/.04/.06/.08 入账通知", "{file}: line {line}: not a pain.002 or camt.054 receipt ({found}); ask the bank for a pain.002.001.03/.10 status report or a camt.054.001.02/.04/.06/.08 notification"))]
    NotAReceipt { file: String, line: u64, found: String },
    /// `formats/reasons.toml` (built-in or the office's) is not a valid table.
    #[error("{}", crate::tr!("原因代码表 {file}：{message}", "reason table {file}: {message}"))]
    ReasonTable { file: String, message: String },
}

/// Reads one receipt file. Sniffs the content: `Ok(None)` if the bytes are not
/// XML at all (so the caller tries the text layouts of `formats/`), an error if
/// they are XML but not a readable pain.002 / camt.054, or are broken anywhere.
///
/// The kind comes from the root's namespace (`pain.002.001.03`, `.10`,
/// `camt.054.001.02`, `.04`, `.06`, `.08`; any other namespace, ISO or not, is
/// refused); a file without one is judged by its message element, a
/// `CstmrPmtStsRpt` then counting as v03 (v03 and v10 are read alike).
///
/// Reason codes are left as the bank sent them: a line with only a Chinese text
/// has an empty `reason_code`; [`ReasonMap::complete`] fills it in.
pub fn parse_xml_receipt(bytes: &[u8], file: &str) -> Result<Option<ParsedReceipt>, ReturnsError> {
    let mut lines = Vec::new();
    let parsed = stream_xml_receipt(bytes, file, &mut |mut l: ReceiptLine| {
        l.file = file.to_string();
        lines.push(l);
    })?;
    Ok(parsed.map(|p| ParsedReceipt { lines, ..p }))
}

/// [`parse_xml_receipt`] for a receipt too big to hold: each transaction-level
/// line goes to `sink` as soon as it is read, with an empty `file` (the caller
/// knows it), and the returned receipt's `lines` is empty. Why: a million lines
/// held at once cost hundreds of MB, one at a time almost nothing. A refusal can
/// come after some lines were sunk; the caller discards them.
pub fn stream_xml_receipt(
    bytes: &[u8],
    file: &str,
    sink: &mut dyn FnMut(ReceiptLine),
) -> Result<Option<ParsedReceipt>, ReturnsError> {
    let Some(text) = xml::decode(bytes, file)? else {
        return Ok(None);
    };
    let kind = xml::sniff_kind(&text, file)?;
    let parsed = match kind {
        ReceiptKind::Pain002V03 | ReceiptKind::Pain002V10 => pain002::parse(Walker::new(&text, file), kind, sink)?,
        ReceiptKind::Camt054 => camt054::parse(Walker::new(&text, file), sink)?,
    };
    Ok(Some(parsed))
}

/// [`stream_xml_receipt`] reading the file at `path` as it goes: a UTF-8 receipt
/// is never held in memory (one of a million lines is over 100 MB). Other
/// encodings are decoded whole, as [`parse_xml_receipt`] does. Same answers and
/// refusals as [`stream_xml_receipt`] on the file's bytes.
pub fn stream_xml_file(
    path: &Path,
    file: &str,
    sink: &mut dyn FnMut(ReceiptLine),
) -> Result<Option<ParsedReceipt>, ReturnsError> {
    let unreadable = |e: std::io::Error| xml::malformed(file, 1, format!("cannot read the file: {e}"));
    let mut head = Vec::new();
    std::fs::File::open(path).and_then(|f| f.take(1024).read_to_end(&mut head)).map_err(unreadable)?;
    let Some(bom) = xml::streamable_utf8(&head) else {
        let size = std::fs::metadata(path).map_err(unreadable)?.len();
        if size > WHOLE_MAX {
            return Err(xml::malformed(
                file,
                1,
                format!(
                    "a receipt that is not UTF-8 is read whole, up to {} MB, and this one has {} MB: ask the bank \
                     to send it in UTF-8",
                    WHOLE_MAX >> 20,
                    size >> 20
                ),
            ));
        }
        let bytes = std::fs::read(path).map_err(unreadable)?;
        return stream_xml_receipt(&bytes, file, sink);
    };
    xml::check_utf8_file(path, bom, file)?;
    let open = || -> Result<Box<dyn BufRead>, ReturnsError> {
        let mut r = std::io::BufReader::with_capacity(1 << 16, std::fs::File::open(path).map_err(unreadable)?);
        r.fill_buf().map_err(unreadable)?;
        r.consume(bom);
        Ok(Box::new(r))
    };
    let src = xml::Source::File { path, bom };
    let kind = xml::sniff_kind_in(open()?, src, file)?;
    let parsed = match kind {
        ReceiptKind::Pain002V03 | ReceiptKind::Pain002V10 => {
            pain002::parse(Walker::over(open()?, src, file), kind, sink)?
        }
        ReceiptKind::Camt054 => camt054::parse(Walker::over(open()?, src, file), sink)?,
    };
    Ok(Some(parsed))
}

/// The largest receipt read whole (GBK, UTF-16: decoded before it is read); why:
/// decoding holds the file twice, and memory stays under 1 GB whatever the file.
const WHOLE_MAX: u64 = 256 << 20;

/// Maps a pain.002 status code (group, PmtInf or transaction level) to a
/// payment status. v10 codes are an open list, so unknown codes are provisional.
pub(crate) fn status_of(raw: &str) -> PaymentStatus {
    match raw {
        "RJCT" => PaymentStatus::Failed,
        "ACSC" | "ACCC" => PaymentStatus::Settled,
        _ => PaymentStatus::Pending,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_xml_is_none() {
        assert_eq!(parse_xml_receipt(b"DB001|6222|100.00|S|\n", "a.txt"), Ok(None));
        assert_eq!(parse_xml_receipt(b"", "a.txt"), Ok(None));
        assert_eq!(parse_xml_receipt(b"  \n", "a.txt"), Ok(None));
    }

    #[test]
    fn status_mapping() {
        assert_eq!(status_of("RJCT"), PaymentStatus::Failed);
        assert_eq!(status_of("ACCC"), PaymentStatus::Settled);
        assert_eq!(status_of("ACSC"), PaymentStatus::Settled);
        assert_eq!(status_of("ACWP"), PaymentStatus::Pending);
        assert_eq!(status_of("ZZZZ"), PaymentStatus::Pending);
    }
}
