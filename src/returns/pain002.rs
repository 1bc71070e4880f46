//! pain.002 (CustomerPaymentStatusReport, v03 and v10), streamed.
//!
//! v03 and v10 share the element names this reader needs; v10's status codes are
//! an open list, so any 1–4 character code is accepted (unknown ones = pending).
//!
//! An element that says one thing twice differently (two `TxSts`, two
//! `OrgnlEndToEndId`s, two amounts, an amount with an element inside) is not
//! resolved by taking the last: the line carries a [`Conflict`] and is flagged.

use super::xml::{once, Reason, Step, Tag, Walker};
use super::{status_of, GroupStatus, ParsedReceipt, ReceiptKind, ReturnsError};
use crate::domain::{mask_account, mask_reference, Conflict, Fen, Place, ReceiptLine};

/// The status block being read: the original group or one PmtInf block.
#[derive(Default)]
struct Block {
    pmt_inf_id: Option<String>,
    status: Option<String>,
    reason: Reason,
    ordinal: u64,
    /// `TxInfAndSts` read in this block so far.
    txs: u32,
    conflict: Option<Conflict>,
}

/// The `TxInfAndSts` being read.
#[derive(Default)]
struct Tx {
    ordinal: u64,
    place: Place,
    start: usize,
    e2e: Option<String>,
    status: Option<String>,
    reason: Reason,
    amount: Option<Fen>,
    conflict: Option<Conflict>,
}

#[derive(Default)]
struct State {
    message_id: Option<String>,
    orgnl_msg_id: Option<String>,
    grp: Block,
    pmt: Option<Block>,
    pmt_count: u64,
    tx: Option<Tx>,
    tx_count: u64,
    /// `TxInfAndSts` directly under the report (not in a PmtInf block).
    loose_txs: u32,
    lines: Vec<ReceiptLine>,
    groups: Vec<GroupStatus>,
}

pub(super) fn parse(
    mut w: Walker<'_>,
    kind: ReceiptKind,
    sink: &mut dyn FnMut(ReceiptLine),
) -> Result<ParsedReceipt, ReturnsError> {
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
    st.orgnl_msg_id(&w)?;
    let message_id = st.message_id.ok_or_else(|| w.error("no GrpHdr/MsgId: the receipt has no message id".into()))?;
    Ok(ParsedReceipt { kind, message_id, lines: Vec::new(), group_statuses: st.groups, account: None })
}

/// Checks a status code's shape (1–4 letters/digits); the value list is open.
fn check_code(w: &Walker, what: &str) -> Result<String, ReturnsError> {
    let v = w.value();
    let ok = (1..=4).contains(&v.len()) && v.chars().all(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(v)
    } else {
        let shown = if v.chars().filter(char::is_ascii_digit).count() >= 8 { mask_account(&v) } else { v };
        Err(w.error(format!("{what} '{shown}' is not a status code (1–4 letters, e.g. ACSC, RJCT)")))
    }
}

impl State {
    fn start(&mut self, w: &Walker, tag: Tag) {
        match tag {
            Tag::OrgnlPmtInfAndSts => {
                self.pmt_count += 1;
                self.pmt = Some(Block { ordinal: self.pmt_count, ..Block::default() });
            }
            Tag::TxInfAndSts => {
                self.tx_count += 1;
                let block = match self.pmt.as_mut() {
                    Some(p) => {
                        p.txs += 1;
                        Place::Pain002Tx { block: p.ordinal as u32, tx: p.txs }
                    }
                    None => {
                        self.loose_txs += 1;
                        Place::Pain002Tx { block: 0, tx: self.loose_txs }
                    }
                };
                self.tx = Some(Tx { ordinal: self.tx_count, place: block, start: w.offset(), ..Tx::default() });
            }
            _ => {}
        }
    }

    fn end(&mut self, w: &Walker, tag: Tag) -> Result<(), ReturnsError> {
        if let Some(tx) = self.tx.as_mut() {
            return if tag == Tag::TxInfAndSts { self.finish_tx(w) } else { tx_field(tx, w, tag) };
        }
        match tag {
            Tag::MsgId if w.at(&[Tag::GrpHdr, Tag::MsgId]) => self.message_id = Some(w.value()),
            Tag::OrgnlMsgId if w.at(&[Tag::OrgnlGrpInfAndSts, Tag::OrgnlMsgId]) => {
                once(&mut self.orgnl_msg_id, w.value(), &mut self.grp.conflict, Conflict::TwoReferences)
            }
            Tag::GrpSts if w.at(&[Tag::OrgnlGrpInfAndSts, Tag::GrpSts]) => {
                let code = check_code(w, "GrpSts")?;
                once(&mut self.grp.status, code, &mut self.grp.conflict, Conflict::TwoStatuses)
            }
            Tag::OrgnlGrpInfAndSts => self.finish_group(w)?,
            Tag::OrgnlPmtInfId if w.at(&[Tag::OrgnlPmtInfAndSts, Tag::OrgnlPmtInfId]) => {
                let p = self.pmt_mut();
                once(&mut p.pmt_inf_id, w.value(), &mut p.conflict, Conflict::TwoReferences)
            }
            Tag::PmtInfSts if w.at(&[Tag::OrgnlPmtInfAndSts, Tag::PmtInfSts]) => {
                let code = check_code(w, "PmtInfSts")?;
                let p = self.pmt_mut();
                once(&mut p.status, code, &mut p.conflict, Conflict::TwoStatuses)
            }
            Tag::OrgnlPmtInfAndSts => self.finish_pmt(w)?,
            _ => {
                self.grp.reason.feed(w, Tag::OrgnlGrpInfAndSts, Tag::StsRsnInf, tag);
                if let Some(p) = self.pmt.as_mut() {
                    p.reason.feed(w, Tag::OrgnlPmtInfAndSts, Tag::StsRsnInf, tag);
                }
            }
        }
        Ok(())
    }

    fn pmt_mut(&mut self) -> &mut Block {
        self.pmt.get_or_insert_with(Block::default)
    }

    fn orgnl_msg_id(&self, w: &Walker) -> Result<String, ReturnsError> {
        self.orgnl_msg_id.clone().filter(|s| !s.is_empty()).ok_or_else(|| {
            w.error("no OrgnlGrpInfAndSts/OrgnlMsgId before this point: which batch does the receipt answer?".into())
        })
    }

    fn finish_group(&mut self, w: &Walker) -> Result<(), ReturnsError> {
        let original_msg_id = self.orgnl_msg_id(w)?;
        if let Some(raw) = self.grp.status.clone() {
            self.groups.push(group_status(original_msg_id, None, raw, &self.grp, 0));
        }
        Ok(())
    }

    fn finish_pmt(&mut self, w: &Walker) -> Result<(), ReturnsError> {
        let Some(p) = self.pmt.take() else {
            return Ok(());
        };
        let id = p
            .pmt_inf_id
            .clone()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| w.error(format!("OrgnlPmtInfAndSts #{} without OrgnlPmtInfId", p.ordinal)))?;
        if let Some(raw) = &p.status {
            let msg = self.orgnl_msg_id(w)?;
            self.groups.push(group_status(msg, Some(id), raw.clone(), &p, p.ordinal));
        }
        Ok(())
    }

    /// Closes a `TxInfAndSts`. A line without its own `TxSts` takes the status (and,
    /// if it has none, the reason) of its PmtInf block, else of the group.
    fn finish_tx(&mut self, w: &Walker) -> Result<(), ReturnsError> {
        let Some(tx) = self.tx.take() else {
            return Ok(());
        };
        let e2e = tx
            .e2e
            .filter(|s| !s.is_empty())
            .ok_or_else(|| w.error_at(tx.start, format!("TxInfAndSts #{} without OrgnlEndToEndId", tx.ordinal)))?;
        let inherited = self.pmt.as_ref().filter(|p| p.status.is_some()).unwrap_or(&self.grp);
        let from = if std::ptr::eq(inherited, &self.grp) { 0 } else { inherited.ordinal as u32 };
        let (raw, reason, inherited_from) = match tx.status {
            Some(s) => (s, &tx.reason, None),
            None => match inherited.status.clone() {
                Some(s) if tx.reason.code.is_empty() && tx.reason.texts.is_empty() => {
                    (s, &inherited.reason, Some(from))
                }
                Some(s) => (s, &tx.reason, Some(from)),
                None => {
                    let e2e = mask_reference(&e2e);
                    let msg = format!("TxInfAndSts {e2e} has no TxSts and no PmtInfSts/GrpSts to take it from");
                    return Err(w.error_at(tx.start, msg));
                }
            },
        };
        self.lines.push(ReceiptLine {
            position: tx.ordinal,
            place: tx.place,
            end_to_end_id: e2e,
            status: status_of(&raw),
            amount: tx.amount,
            reason_code: reason.code.clone(),
            reason_text: reason.text(),
            inherited: inherited_from,
            conflict: tx.conflict,
            ..ReceiptLine::default()
        });
        Ok(())
    }
}

/// Reads one closed element inside a `TxInfAndSts`.
fn tx_field(tx: &mut Tx, w: &Walker, tag: Tag) -> Result<(), ReturnsError> {
    match tag {
        Tag::OrgnlEndToEndId if w.at(&[Tag::TxInfAndSts, Tag::OrgnlEndToEndId]) => {
            once(&mut tx.e2e, w.value(), &mut tx.conflict, Conflict::TwoReferences)
        }
        Tag::TxSts if w.at(&[Tag::TxInfAndSts, Tag::TxSts]) => {
            once(&mut tx.status, check_code(w, "TxSts")?, &mut tx.conflict, Conflict::TwoStatuses)
        }
        Tag::InstdAmt if w.at(&[Tag::TxInfAndSts, Tag::OrgnlTxRef, Tag::Amt, Tag::InstdAmt]) => {
            if !w.leaf() {
                tx.conflict.get_or_insert(Conflict::AmountNotText);
            } else {
                once(&mut tx.amount, w.amount("OrgnlTxRef/Amt/InstdAmt")?, &mut tx.conflict, Conflict::TwoAmounts)
            }
        }
        _ => tx.reason.feed(w, Tag::TxInfAndSts, Tag::StsRsnInf, tag),
    }
    Ok(())
}

fn group_status(msg: String, pmt: Option<String>, raw: String, b: &Block, position: u64) -> GroupStatus {
    GroupStatus {
        original_msg_id: msg,
        original_pmt_inf_id: pmt,
        status: status_of(&raw),
        raw_status: raw,
        reason_code: b.reason.code.clone(),
        reason_text: b.reason.text(),
        position,
        conflict: b.conflict,
    }
}
