//! camt.054.001.08 (BankToCustomerDebitCreditNotification): only the returns.
//!
//! A benefit payment the bank first credited and then sent back (退票) shows up
//! as an entry on the payer's 专户 whose `TxDtls` carries `RtrInf`. Every other
//! `TxDtls` (ordinary debits and credits) is not a return and is skipped; so are
//! returns in an entry that is not booked (`Sts` PDNG, FUTR or INFO: the bank
//! will notify again when it books it) or that reverses an earlier booking
//! (`RvslInd` true). How many were skipped is logged at debug level. An amount
//! is checked (CNY, ≤ 2 decimals) only where a return needs it, so an unrelated
//! entry in another currency does not refuse the file.

use super::xml::{Reason, Step, Tag, Walker};
use super::{ParsedReceipt, ReceiptKind, ReturnsError};
use crate::domain::{mask_account, Fen, PaymentStatus, ReceiptLine};

/// One `TxDtls` being read.
#[derive(Default)]
struct TxDtls {
    ordinal: u64,
    start: usize,
    e2e: Option<String>,
    amount: Option<Result<Fen, ReturnsError>>,
    returned: bool,
    reason: Reason,
}

/// One `Ntry`: its amount and its transactions, kept until the entry closes so a
/// single-transaction entry can lend its amount to a `TxDtls` that has none.
#[derive(Default)]
struct Entry {
    amount: Option<Result<Fen, ReturnsError>>,
    /// False for an unbooked entry or a reversal: its returns are not returns yet.
    counts: bool,
    txs: Vec<TxDtls>,
}

#[derive(Default)]
struct State {
    message_id: Option<String>,
    account: Option<String>,
    entry: Option<Entry>,
    tx: Option<TxDtls>,
    tx_count: u64,
    skipped: u64,
    lines: Vec<ReceiptLine>,
    returns: u64,
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
    tracing::debug!(
        file,
        returns = st.returns,
        skipped = st.skipped,
        "camt.054: TxDtls without RtrInf are not returns"
    );
    Ok(ParsedReceipt {
        kind: ReceiptKind::Camt054,
        message_id,
        lines: Vec::new(),
        group_statuses: Vec::new(),
        account: st.account,
    })
}

impl State {
    fn start(&mut self, w: &Walker, tag: Tag) {
        match tag {
            Tag::Ntry => self.entry = Some(Entry { counts: true, ..Entry::default() }),
            Tag::TxDtls => {
                self.tx_count += 1;
                self.tx = Some(TxDtls { ordinal: self.tx_count, start: w.offset(), ..TxDtls::default() });
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
                return tx_field(tx, w, tag);
            }
            let tx = self.tx.take().unwrap_or_default();
            let Some(e) = self.entry.as_mut() else {
                return Err(w.error_at(tx.start, "TxDtls outside an Ntry".into()));
            };
            e.txs.push(tx);
            return Ok(());
        }
        match tag {
            Tag::MsgId if w.at(&[Tag::GrpHdr, Tag::MsgId]) => self.message_id = Some(w.value()),
            Tag::Id if w.at(&[Tag::Ntfctn, Tag::Acct, Tag::Id, Tag::Othr, Tag::Id]) => self.set_account(w)?,
            Tag::Iban if w.at(&[Tag::Ntfctn, Tag::Acct, Tag::Id, Tag::Iban]) => self.set_account(w)?,
            Tag::Amt if w.at(&[Tag::Ntry, Tag::Amt]) => {
                if let Some(e) = self.entry.as_mut() {
                    e.amount = Some(w.amount("Ntry/Amt"));
                }
            }
            Tag::Cd if w.at(&[Tag::Ntry, Tag::Sts, Tag::Cd]) => {
                let booked = !matches!(w.value().as_str(), "PDNG" | "FUTR" | "INFO");
                if let Some(e) = self.entry.as_mut() {
                    e.counts &= booked;
                }
            }
            Tag::RvslInd if w.at(&[Tag::Ntry, Tag::RvslInd]) => {
                let reversal = w.value() == "true" || w.value() == "1";
                if let Some(e) = self.entry.as_mut() {
                    e.counts &= !reversal;
                }
            }
            Tag::Ntry => self.finish_entry(w)?,
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

    fn finish_entry(&mut self, w: &Walker) -> Result<(), ReturnsError> {
        let Some(entry) = self.entry.take() else {
            return Ok(());
        };
        let single = entry.txs.len() == 1;
        for tx in entry.txs {
            if !tx.returned || !entry.counts {
                self.skipped += 1;
                continue;
            }
            let e2e = tx.e2e.filter(|s| !s.is_empty()).ok_or_else(|| {
                w.error_at(tx.start, format!("TxDtls #{} with RtrInf but without Refs/EndToEndId", tx.ordinal))
            })?;
            let amount = match (tx.amount, &entry.amount) {
                (Some(a), _) => Some(a?),
                (None, Some(a)) if single => Some(a.clone()?),
                _ => None,
            };
            self.returns += 1;
            self.lines.push(ReceiptLine {
                file: String::new(),
                position: tx.ordinal,
                end_to_end_id: e2e,
                status: PaymentStatus::Returned,
                amount,
                reason_code: tx.reason.code.clone(),
                reason_text: tx.reason.text(),
            });
        }
        Ok(())
    }
}

/// Reads one closed element inside a `TxDtls`.
fn tx_field(tx: &mut TxDtls, w: &Walker, tag: Tag) -> Result<(), ReturnsError> {
    match tag {
        Tag::EndToEndId if w.at(&[Tag::TxDtls, Tag::Refs, Tag::EndToEndId]) => tx.e2e = Some(w.value()),
        Tag::Amt if w.at(&[Tag::TxDtls, Tag::Amt]) => tx.amount = Some(w.amount("TxDtls/Amt")),
        _ => tx.reason.feed(w, Tag::TxDtls, Tag::RtrInf, tag),
    }
    Ok(())
}
