//! What a bank receipt says about one payment (回盘明细), normalised from any of
//! the formats banks send, with enough of its surroundings for the returns stage
//! to decide it: where it sits in the file, what kind of account entry carried it
//! (camt.054), and whether its own element contradicts itself.

use std::fmt;

use super::{Fen, PaymentStatus};

/// What one receipt line says happened to one payment, in whatever format the bank
/// sent it, normalised. Producing it is the receipt parsers' job; deciding whether
/// it may be applied is the returns stage's.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReceiptLine {
    /// The file the line came from.
    pub file: String,
    /// Ordinal in the file (line number for text, element ordinal for XML); kept
    /// as a plain number for the flag list's `position` column.
    pub position: u64,
    /// Where in the file, for a person to find it: a line or an element path.
    pub place: Place,
    pub end_to_end_id: String,
    /// The outcome this line reports (never `Sent`).
    pub status: PaymentStatus,
    /// The amount the bank says it moved, if the receipt carries one.
    pub amount: Option<Fen>,
    /// ISO 20022 reason code (`AC04`, `MD07`, `NARR`, …); empty when settled.
    pub reason_code: String,
    /// The bank's own words, kept as written (e.g. 已销户).
    pub reason_text: String,
    /// The account entry that carried the line (camt.054), or [`Entry::Status`].
    pub entry: Entry,
    /// The line carries return information (camt.054 `RtrInf`): the bank means it
    /// as a return, so an unknown reference in it is worth a person's look.
    pub return_info: bool,
    /// The status was not the line's own but its batch's (pain.002 `PmtInfSts`,
    /// numbered as [`Place::Pain002Block`]) or group's (`GrpSts`, 0): it stands or
    /// falls with that status.
    pub inherited: Option<u32>,
    /// The line's own element says two different things: never applied.
    pub conflict: Option<Conflict>,
}

/// The account entry (camt.054 `Ntry`) a receipt line came in. Why it matters: a
/// return (退票) is money coming back, so only a booked credit can be one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Entry {
    /// A status report line (pain.002, a text return file): no account entry.
    #[default]
    Status,
    /// Booked (`BOOK`) credit (`CRDT`), with or without `RvslInd` (on a credit it
    /// reverses our debit): the only entry that can be a return.
    BookedCredit,
    /// A debit (`DBIT`), or a transaction marked debit inside a credit entry.
    Debit,
    /// A debit with `RvslInd`: the reversal of a credit.
    CreditReversal,
    /// Not booked yet (`PDNG`).
    Pending,
    /// Information only (`INFO`).
    Info,
    /// Any other status, or none (`FUTR`, a proprietary code).
    NotBooked,
}

/// A contradiction inside one receipt element (a `TxInfAndSts`, a `TxDtls` or its
/// entry): which of the two the bank meant cannot be known, so the line is flagged
/// instead of taking the last one read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// Two different status codes (`TxSts`, entry `Sts`).
    TwoStatuses,
    /// Two different end-to-end references.
    TwoReferences,
    /// Two different amounts.
    TwoAmounts,
    /// An amount element with child elements inside its text.
    AmountNotText,
    /// Two different credit/debit indicators or reversal indicators on one entry.
    TwoDirections,
}

/// Where a receipt line (or a flagged status) sits in its file. A small value per
/// line: the text of an element path is made only for the few lines flagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Place {
    #[default]
    Unknown,
    /// A text return file's line (1-based).
    Line(u64),
    /// pain.002 `OrgnlGrpInfAndSts` (the group status).
    Pain002Group,
    /// pain.002 `OrgnlPmtInfAndSts[block]` (1-based among its siblings).
    Pain002Block(u32),
    /// pain.002 `OrgnlPmtInfAndSts[block]/TxInfAndSts[tx]` (`block` 0: a
    /// `TxInfAndSts` directly under the report).
    Pain002Tx { block: u32, tx: u32 },
    /// camt.054 `Ntfctn[ntfctn]/Ntry[entry]/NtryDtls[details]/TxDtls[tx]`.
    Camt054Tx { ntfctn: u32, entry: u32, details: u32, tx: u32 },
}

/// `第12行` for a text file, an XPath for XML.
impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const PAIN: &str = "/Document/CstmrPmtStsRpt";
        match *self {
            Place::Unknown => Ok(()),
            Place::Line(n) => write!(f, "第{n}行"),
            Place::Pain002Group => write!(f, "{PAIN}/OrgnlGrpInfAndSts"),
            Place::Pain002Block(b) => write!(f, "{PAIN}/OrgnlPmtInfAndSts[{b}]"),
            Place::Pain002Tx { block: 0, tx } => write!(f, "{PAIN}/TxInfAndSts[{tx}]"),
            Place::Pain002Tx { block, tx } => write!(f, "{PAIN}/OrgnlPmtInfAndSts[{block}]/TxInfAndSts[{tx}]"),
            Place::Camt054Tx { ntfctn, entry, details, tx } => write!(
                f,
                "/Document/BkToCstmrDbtCdtNtfctn/Ntfctn[{ntfctn}]/Ntry[{entry}]/NtryDtls[{details}]/TxDtls[{tx}]"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_read_as_lines_or_xpaths() {
        assert_eq!(Place::Line(12).to_string(), "第12行");
        assert_eq!(
            Place::Pain002Tx { block: 2, tx: 5 }.to_string(),
            "/Document/CstmrPmtStsRpt/OrgnlPmtInfAndSts[2]/TxInfAndSts[5]"
        );
        assert_eq!(Place::Pain002Block(3).to_string(), "/Document/CstmrPmtStsRpt/OrgnlPmtInfAndSts[3]");
        assert_eq!(
            Place::Camt054Tx { ntfctn: 1, entry: 4, details: 1, tx: 2 }.to_string(),
            "/Document/BkToCstmrDbtCdtNtfctn/Ntfctn[1]/Ntry[4]/NtryDtls[1]/TxDtls[2]"
        );
    }
}
