//! The rows of the lists a clerk reads: changes against the previous period
//! (动态变化) and failed payments (失败清单).

use super::{Fen, PaymentStatus, Program};

/// A line of `changes.csv`: what moved against the previous paid period (动态变化).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub program: Program,
    pub id_number_masked: String,
    pub name: String,
    pub kind: ChangeKind,
    pub previous_amount: Option<Fen>,
    pub amount: Option<Fen>,
}

/// The kinds of change of SPEC §4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChangeKind {
    /// 新增: paid now, not in the previous paid period.
    New,
    /// 减少/停发: paid in the previous period, not now.
    Dropped,
    /// 金额变化.
    AmountChanged,
}

impl ChangeKind {
    pub fn code(self) -> &'static str {
        match self {
            ChangeKind::New => "new",
            ChangeKind::Dropped => "dropped",
            ChangeKind::AmountChanged => "amount_changed",
        }
    }
}

/// A line of `returns/failures.csv`: a payment that did not reach its payee, and
/// what a clerk does about it. Never carries a full ID or account number.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub program: Program,
    pub end_to_end_id: String,
    pub township: String,
    pub village: String,
    pub name: String,
    pub id_number_masked: String,
    pub amount: Fen,
    /// `failed` or `returned` (or `pending` when a line is stuck).
    pub status: PaymentStatus,
    pub reason_code: String,
    pub reason_text: String,
    /// What to do, in Chinese (e.g. 核实账户后更正发放).
    pub action: String,
}
