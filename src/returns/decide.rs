//! Whether one receipt line may change the ledger (SPEC §6, §11): a pure function
//! of what the receipt says, what the ledger holds about the payment it names,
//! and what the rest of the file showed. Receipts are evidence: anything the bank
//! did not clearly say about a payment we sent is flagged for a person, never
//! applied, and never resolved by the order of the lines.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use super::GroupStatus;
use crate::domain::{mask_reference, Conflict, Entry, Fen, PaymentStatus, ReceiptLine};
use crate::ledger::StagedLine;

/// What becomes of one receipt line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Apply its status.
    Apply,
    /// Nothing to change (the ledger already says so, or the line is about
    /// nothing of ours: a movement on the account that names no payment we sent).
    Unchanged,
    /// Not applied; listed for a person, with why.
    Flag(Problem),
}

/// Why a line is flagged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The line's own element says two different things.
    Conflict(Conflict),
    /// The receipt is about an account that is not ours, or names none (the text
    /// says which, account masked).
    Account(String),
    /// The line's status is its batch's or group's, and that status does not
    /// apply (the text says why).
    VoidGroup(String),
    /// A reference this office never sent.
    UnknownReference,
    /// camt.054: names our payment, but in an entry that cannot be a return.
    NotAReturn(Entry),
    /// camt.054: a return without an amount to check against ours.
    NoAmount,
    WrongAmount {
        receipt: Fen,
        sent: Fen,
    },
    /// The file gives the payment these different final statuses.
    ContradictsFile(Vec<PaymentStatus>),
    /// A final status is already recorded, and this line says another.
    ContradictsRecorded {
        recorded: PaymentStatus,
        receipt: PaymentStatus,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Conflict(c) => {
                let what = match c {
                    Conflict::TwoStatuses => "有两个不同的状态",
                    Conflict::TwoReferences => "有两个不同的业务参考号",
                    Conflict::TwoAmounts => "有两个不同的金额",
                    Conflict::AmountNotText => "金额中夹有其他元素",
                    Conflict::TwoDirections => "借贷方向或冲正标志前后不一",
                };
                write!(f, "同一笔明细中{what}，无法确定银行的意思，未采用")
            }
            Problem::Account(why) | Problem::VoidGroup(why) => f.write_str(why),
            Problem::UnknownReference => f.write_str("未知的业务参考号：本单位没有发出过这笔"),
            Problem::NotAReturn(entry) => {
                let what = match entry {
                    Entry::Debit => "借记分录",
                    Entry::CreditReversal => "冲正贷记的分录",
                    Entry::Pending => "尚未入账（PDNG）的分录",
                    Entry::Info => "仅供参考（INFO）的分录",
                    Entry::NotBooked | Entry::Status | Entry::BookedCredit => "未入账的分录",
                };
                write!(f, "这是{what}，不是退票（退票须是已入账的贷记），未采用")
            }
            Problem::NoAmount => f.write_str("退票没有写明金额，无法与发出金额核对，未采用"),
            Problem::WrongAmount { receipt, sent } => write!(f, "回执金额{receipt}元与发出金额{sent}元不符"),
            Problem::ContradictsFile(statuses) => {
                let said: Vec<&str> = statuses.iter().map(|s| status_zh(*s)).collect();
                write!(f, "本回执对同一笔给出了不同的状态（{}），均未采用", said.join("、"))
            }
            Problem::ContradictsRecorded { recorded, receipt } => write!(
                f,
                "与已记录的最终状态矛盾（已记录：{}，回执：{}），未采用",
                status_zh(*recorded),
                status_zh(*receipt)
            ),
        }
    }
}

/// What reading the whole file showed, that deciding one line needs.
#[derive(Debug, Clone, Default)]
pub struct FileFacts {
    /// camt.054: why its account makes every line about our payments unusable
    /// (another office's account, or none named).
    pub account_problem: Option<String>,
    /// pain.002 group (0) and batch statuses (their position) that do not apply, with why.
    pub void_groups: BTreeMap<u32, String>,
    /// References the file gives two different final statuses, with those statuses.
    pub contradicted: HashMap<String, Vec<PaymentStatus>>,
}

/// Decides one receipt line: `r` as the bank wrote it, `l` the ledger's side (the
/// payment it names, and what earlier lines of the same receipt said), `facts`
/// what the whole file showed.
pub fn decide(r: &ReceiptLine, l: &StagedLine<'_>, facts: &FileFacts) -> Decision {
    let flag = Decision::Flag;
    let account_entry = r.entry != Entry::Status;
    if account_entry && l.payment.is_none() && !r.return_info {
        // Money moving on the account for someone else's reasons.
        return Decision::Unchanged;
    }
    if let Some(c) = r.conflict {
        return flag(Problem::Conflict(c));
    }
    if let Some(why) = facts.account_problem.as_ref().filter(|_| account_entry) {
        return flag(Problem::Account(why.clone()));
    }
    if let Some(why) = r.inherited.and_then(|g| facts.void_groups.get(&g)) {
        return flag(Problem::VoidGroup(format!("此笔没有自己的状态，沿用的批次状态不适用：{why}")));
    }
    let Some(p) = l.payment else {
        return flag(Problem::UnknownReference);
    };
    if account_entry && r.entry != Entry::BookedCredit {
        return flag(Problem::NotAReturn(r.entry));
    }
    if let Some(said) = facts.contradicted.get(&r.end_to_end_id) {
        return flag(Problem::ContradictsFile(said.clone()));
    }
    if account_entry && r.amount.is_none() {
        return flag(Problem::NoAmount);
    }
    if let Some(a) = r.amount.filter(|a| *a != p.amount) {
        return flag(Problem::WrongAmount { receipt: a, sent: p.amount });
    }
    let earlier = l.given.finals();
    if is_final(r.status) && earlier.iter().any(|s| *s != r.status) {
        let mut said = earlier;
        said.push(r.status);
        said.sort();
        said.dedup();
        return flag(Problem::ContradictsFile(said));
    }
    if !is_final(r.status) && !earlier.is_empty() {
        // A provisional word after a final one in the same file adds nothing.
        return Decision::Unchanged;
    }
    let current = l.pending.unwrap_or(p.status);
    match transition(current, r.status) {
        Transition::Apply => Decision::Apply,
        Transition::Same => Decision::Unchanged,
        Transition::Contradicts => flag(Problem::ContradictsRecorded { recorded: current, receipt: r.status }),
    }
}

fn is_final(s: PaymentStatus) -> bool {
    matches!(s, PaymentStatus::Settled | PaymentStatus::Failed | PaymentStatus::Returned)
}

/// Whether a group or batch status of a pain.002 may apply: only to a message
/// and batch this office sent. `sent`: the ledger knows `OrgnlMsgId` as one of
/// our pain.001 messages. Our pain.001 carries one batch whose `PmtInfId` is the
/// `MsgId` (bankfile::pain), so an `OrgnlPmtInfId` must equal it. `None`: it
/// applies; otherwise why not, to flag.
pub fn group_problem(g: &GroupStatus, sent: bool) -> Option<String> {
    let level = if g.original_pmt_inf_id.is_some() { "批次" } else { "报文" };
    if g.conflict.is_some() {
        return Some(format!("{level}层面的状态或编号前后不一（{}），不适用，未采用", g.raw_status));
    }
    let msg = mask_reference(&g.original_msg_id);
    if !sent {
        return Some(format!("原报文号{msg}不是本单位发出的付款报文，{level}状态{}不适用，未采用", g.raw_status));
    }
    match &g.original_pmt_inf_id {
        Some(id) if *id != g.original_msg_id => Some(format!(
            "原批次号{}不是本单位报文{msg}中的批次，批次状态{}不适用，未采用",
            mask_reference(id),
            g.raw_status
        )),
        _ => None,
    }
}

/// How a recorded status may move on a receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Apply,
    Same,
    Contradicts,
}

/// Sent or pending moves to anything; settled only to returned (a late 退票);
/// failed and returned are final.
pub fn transition(from: PaymentStatus, to: PaymentStatus) -> Transition {
    use PaymentStatus::*;
    match (from, to) {
        (a, b) if a == b => Transition::Same,
        (Sent | Pending, Pending | Settled | Failed | Returned) => Transition::Apply,
        (Settled, Returned) => Transition::Apply,
        _ => Transition::Contradicts,
    }
}

/// A status in the words of the clerk's messages.
pub fn status_zh(s: PaymentStatus) -> &'static str {
    match s {
        PaymentStatus::Sent => "已发出",
        PaymentStatus::Pending => "处理中",
        PaymentStatus::Settled => "成功",
        PaymentStatus::Failed => "失败",
        PaymentStatus::Returned => "退票",
    }
}

#[cfg(test)]
mod tests;
