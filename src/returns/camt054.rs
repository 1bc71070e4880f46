//! camt.054 (BankToCustomerDebitCreditNotification), versions .02, .04, .06 and
//! .08: every transaction (`TxDtls`) that names an end-to-end reference or
//! carries return information (`RtrInf`), with the entry (`Ntry`) it came in.
//!
//! A benefit payment the bank first credited and then sent back (退票) comes back
//! as money: a **booked credit** entry on the payer's 专户 naming our reference.
//! Which entry a line came in is told, not judged here ([`Entry`]): a debit, a
//! pending or informational entry, or a reversal of a credit is never a return,
//! but if it names one of our references a person must see it, and only the
//! ledger knows whose references they are.
//!
//! The versions differ where this reader looks: the entry status is `<Sts>BOOK</Sts>`
//! up to .06 and `<Sts><Cd>BOOK</Cd></Sts>` in .08; a transaction's amount is
//! `AmtDtls/TxAmt/Amt` (or `AmtDtls/InstdAmt/Amt`) in .02, and also `TxDtls/Amt`
//! from .04 on. All forms are read in every version; when one transaction gives
//! two different amounts the line carries a [`Conflict`].
//!
//! Streaming: the entry's facts (amount, direction, status) come before its
//! transactions in every version, so a transaction is told as soon as it closes;
//! only an entry's first one waits (a single transaction without its own amount
//! takes the entry's).

use super::xml::{once, Reason, Step, Tag, Walker};
use super::{ParsedReceipt, ReceiptKind, ReturnsError};
use crate::domain::{mask_account, Conflict, Entry, Fen, PaymentStatus, Place, ReceiptLine};

/// A reference a bank writes when it has none.
const NOT_PROVIDED: &str = "NOTPROVIDED";

/// One `TxDtls` being read.
#[derive(Default)]
struct TxDtls {
    ordinal: u64,
    place: Place,
    start: usize,
    e2e: Option<String>,
    amount: Option<Result<Fen, ReturnsError>>,
    credit_debit: Option<String>,
    returned: bool,
    reason: Reason,
    conflict: Option<Conflict>,
}

/// One `Ntry`: what it says about all its transactions.
#[derive(Default)]
struct EntryFacts {
    amount: Option<Result<Fen, ReturnsError>>,
    credit_debit: Option<String>,
    reversal: Option<bool>,
    status: Option<String>,
    conflict: Option<Conflict>,
    /// `NtryDtls` and `TxDtls` (in the current `NtryDtls`) read so far.
    details: u32,
    txs_in_details: u32,
    /// Transactions read in the entry.
    txs: u32,
    /// The entry's first transaction, held until a second one or the entry's end.
    first: Option<TxDtls>,
}

#[derive(Default)]
struct State {
    message_id: Option<String>,
    account: Option<String>,
    ntfctns: u32,
    entries_in_ntfctn: u32,
    entry: Option<EntryFacts>,
    tx: Option<TxDtls>,
    tx_count: u64,
    skipped: u64,
    lines: Vec<ReceiptLine>,
}

pub(super) fn parse(mut w: Walker<'_>, sink: &mut dyn FnMut(ReceiptLine)) -> Result<ParsedReceipt, ReturnsError> {
    let file = w.file;
    let mut st = State::default();
    loop {
        match w.next()? {
            Step::Start(tag) => st.start(&w, tag),
            Step::End(tag) => st.end(&w, tag)?,
            Step::Eof => break,
        }
        // Lines leave as soon as they are read: a million-line receipt is never held.
        st.lines.drain(..).for_each(&mut *sink);
    }
    let message_id =
        st.message_id.ok_or_else(|| w.error("no GrpHdr/MsgId: the notification has no message id".into()))?;
    tracing::debug!(file, skipped = st.skipped, "camt.054: TxDtls naming no reference and without RtrInf");
    Ok(ParsedReceipt {
        kind: ReceiptKind::Camt054,
        message_id,
        lines: Vec::new(),
        group_statuses: Vec::new(),
        account: st.account,
    })
}

/// Which kind of entry a transaction came in (see [`Entry`]).
fn entry_kind(e: &EntryFacts, tx: &TxDtls) -> Entry {
    match e.status.as_deref() {
        Some("BOOK") => {}
        Some("PDNG") => return Entry::Pending,
        Some("INFO") => return Entry::Info,
        _ => return Entry::NotBooked,
    }
    let reversal = e.reversal.unwrap_or(false);
    match (e.credit_debit.as_deref(), tx.credit_debit.as_deref()) {
        (Some("CRDT"), None | Some("CRDT")) => Entry::BookedCredit,
        (Some("DBIT"), _) if reversal => Entry::CreditReversal,
        _ => Entry::Debit,
    }
}

impl State {
    fn start(&mut self, w: &Walker, tag: Tag) {
        match tag {
            Tag::Ntfctn => {
                self.ntfctns += 1;
                self.entries_in_ntfctn = 0;
            }
            Tag::Ntry => {
                self.entries_in_ntfctn += 1;
                self.entry = Some(EntryFacts::default());
            }
            Tag::NtryDtls => {
                if let Some(e) = self.entry.as_mut() {
                    e.details += 1;
                    e.txs_in_details = 0;
                }
            }
            Tag::TxDtls => {
                self.tx_count += 1;
                let (details, tx) = match self.entry.as_mut() {
                    Some(e) => {
                        e.txs_in_details += 1;
                        (e.details.max(1), e.txs_in_details)
                    }
                    None => (0, 0),
                };
                let place = Place::Camt054Tx { ntfctn: self.ntfctns, entry: self.entries_in_ntfctn, details, tx };
                self.tx = Some(TxDtls { ordinal: self.tx_count, place, start: w.offset(), ..TxDtls::default() });
            }
            Tag::RtrInf => {
                if let Some(tx) = self.tx.as_mut() {
                    tx.returned = true;
                }
            }
            _ => {}
        }
    }

    fn end(&mut self, w: &Walker, tag: Tag) -> Result<(), ReturnsError> {
        if let Some(tx) = self.tx.as_mut() {
            if tag != Tag::TxDtls {
                tx_field(tx, w, tag);
                return Ok(());
            }
            let tx = self.tx.take().unwrap_or_default();
            let Some(e) = self.entry.as_mut() else {
                return Err(w.error_at(tx.start, "TxDtls outside an Ntry".into()));
            };
            e.txs += 1;
            if e.txs == 1 {
                e.first = Some(tx);
                return Ok(());
            }
            if let Some(first) = e.first.take() {
                self.emit(w, first, false)?;
            }
            return self.emit(w, tx, false);
        }
        let Some(e) = self.entry.as_mut() else {
            match tag {
                Tag::MsgId if w.at(&[Tag::GrpHdr, Tag::MsgId]) => self.message_id = Some(w.value()),
                Tag::Id if w.at(&[Tag::Ntfctn, Tag::Acct, Tag::Id, Tag::Othr, Tag::Id]) => self.set_account(w)?,
                Tag::Iban if w.at(&[Tag::Ntfctn, Tag::Acct, Tag::Id, Tag::Iban]) => self.set_account(w)?,
                _ => {}
            }
            return Ok(());
        };
        match tag {
            Tag::Amt if w.at(&[Tag::Ntry, Tag::Amt]) => {
                if !w.leaf() {
                    e.conflict.get_or_insert(Conflict::AmountNotText);
                }
                e.amount.get_or_insert_with(|| w.amount("Ntry/Amt"));
            }
            Tag::CdtDbtInd if w.at(&[Tag::Ntry, Tag::CdtDbtInd]) => {
                once(&mut e.credit_debit, w.value(), &mut e.conflict, Conflict::TwoDirections)
            }
            Tag::RvslInd if w.at(&[Tag::Ntry, Tag::RvslInd]) => {
                let v = w.value();
                once(&mut e.reversal, v == "true" || v == "1", &mut e.conflict, Conflict::TwoDirections)
            }
            // .02–.06: `<Sts>BOOK</Sts>`; .08: `<Sts><Cd>BOOK</Cd></Sts>` (or `<Prtry>`).
            Tag::Sts if w.at(&[Tag::Ntry, Tag::Sts]) && w.leaf() => {
                once(&mut e.status, w.value(), &mut e.conflict, Conflict::TwoStatuses)
            }
            Tag::Cd | Tag::Prtry if w.at(&[Tag::Ntry, Tag::Sts, tag]) => {
                once(&mut e.status, w.value(), &mut e.conflict, Conflict::TwoStatuses)
            }
            Tag::Ntry => {
                let (first, single) = (e.first.take(), e.txs == 1);
                if let Some(first) = first {
                    self.emit(w, first, single)?;
                }
                self.entry = None;
            }
            _ => {}
        }
        Ok(())
    }

    /// One notification file is about one account: a second, different account
    /// would let another office's returns slip in unnoticed, so it is refused.
    fn set_account(&mut self, w: &Walker) -> Result<(), ReturnsError> {
        let acct = w.value();
        match &self.account {
            Some(a) if *a != acct => Err(w.error(format!(
                "notifications for two accounts ({} and {}) in one file; ask the bank for one file per account",
                mask_account(a),
                mask_account(&acct)
            ))),
            _ => {
                self.account = Some(acct);
                Ok(())
            }
        }
    }

    /// Turns a transaction into a line, if it names a reference or is meant as a
    /// return. `single`: the entry's only transaction, which may take its amount.
    fn emit(&mut self, w: &Walker, tx: TxDtls, single: bool) -> Result<(), ReturnsError> {
        let Some(e) = self.entry.as_ref() else {
            return Ok(());
        };
        let kind = entry_kind(e, &tx);
        let e2e = tx.e2e.clone().filter(|s| !s.is_empty() && s != NOT_PROVIDED);
        let Some(e2e) = e2e else {
            if tx.returned && kind == Entry::BookedCredit {
                let msg = format!("TxDtls #{} with RtrInf but without Refs/EndToEndId", tx.ordinal);
                return Err(w.error_at(tx.start, msg));
            }
            self.skipped += 1;
            return Ok(());
        };
        let amount = match (tx.amount, &e.amount) {
            (Some(a), _) => Some(a),
            (None, Some(a)) if single => Some(a.clone()),
            _ => None,
        };
        // An amount the reader cannot take refuses the file where it is a return's;
        // anywhere else it only leaves the line without an amount.
        let amount = match amount {
            Some(Err(err)) if kind == Entry::BookedCredit && tx.returned => return Err(err),
            Some(Err(_)) | None => None,
            Some(Ok(a)) => Some(a),
        };
        self.lines.push(ReceiptLine {
            position: tx.ordinal,
            place: tx.place,
            end_to_end_id: e2e,
            status: PaymentStatus::Returned,
            amount,
            reason_code: tx.reason.code.clone(),
            reason_text: tx.reason.text(),
            entry: kind,
            return_info: tx.returned,
            conflict: tx.conflict.or(e.conflict),
            ..ReceiptLine::default()
        });
        Ok(())
    }
}

/// Reads one closed element inside a `TxDtls`.
fn tx_field(tx: &mut TxDtls, w: &Walker, tag: Tag) {
    let amount_at = |path: &[Tag]| tag == Tag::Amt && w.at(path);
    if tag == Tag::EndToEndId && w.at(&[Tag::TxDtls, Tag::Refs, Tag::EndToEndId]) {
        once(&mut tx.e2e, w.value(), &mut tx.conflict, Conflict::TwoReferences);
    } else if amount_at(&[Tag::TxDtls, Tag::Amt])
        || amount_at(&[Tag::TxDtls, Tag::AmtDtls, Tag::TxAmt, Tag::Amt])
        || amount_at(&[Tag::TxDtls, Tag::AmtDtls, Tag::InstdAmt, Tag::Amt])
    {
        if !w.leaf() {
            tx.conflict.get_or_insert(Conflict::AmountNotText);
            return;
        }
        let a = w.amount("TxDtls amount");
        match (&tx.amount, &a) {
            (Some(Ok(old)), Ok(new)) if old != new => {
                tx.conflict.get_or_insert(Conflict::TwoAmounts);
            }
            (None, _) => tx.amount = Some(a),
            _ => {}
        }
    } else if tag == Tag::CdtDbtInd && w.at(&[Tag::TxDtls, Tag::CdtDbtInd]) {
        once(&mut tx.credit_debit, w.value(), &mut tx.conflict, Conflict::TwoDirections);
    } else {
        tx.reason.feed(w, Tag::TxDtls, Tag::RtrInf, tag);
    }
}
