//! `decide` on plain values: no file, no database.

use super::*;
use crate::domain::{Period, Place};
use crate::ledger::{PaymentState, StatusSet};
use PaymentStatus::*;

const SENT: Fen = Fen(155_250);

fn payment(status: PaymentStatus) -> PaymentState {
    PaymentState { period: Period { year: 2026, month: 10 }, amount: SENT, status }
}

fn line(status: PaymentStatus) -> ReceiptLine {
    ReceiptLine {
        end_to_end_id: "YF202610R0010000001".into(),
        status,
        amount: Some(SENT),
        place: Place::Pain002Tx { block: 1, tx: 1 },
        ..ReceiptLine::default()
    }
}

fn staged(r: &ReceiptLine, payment: Option<PaymentState>) -> StagedLine<'_> {
    StagedLine {
        position: 1,
        end_to_end_id: &r.end_to_end_id,
        status: r.status,
        amount: r.amount,
        payment,
        pending: None,
        given: StatusSet::default(),
    }
}

fn decide_plain(r: &ReceiptLine, recorded: Option<PaymentStatus>) -> Decision {
    decide(r, &staged(r, recorded.map(payment)), &FileFacts::default())
}

#[test]
fn a_status_moves_on_from_sent_or_pending_only() {
    assert_eq!(decide_plain(&line(Failed), Some(Sent)), Decision::Apply);
    assert_eq!(decide_plain(&line(Settled), Some(Pending)), Decision::Apply);
    assert_eq!(decide_plain(&line(Settled), Some(Settled)), Decision::Unchanged);
    assert_eq!(
        decide_plain(&line(Failed), Some(Settled)),
        Decision::Flag(Problem::ContradictsRecorded { recorded: Settled, receipt: Failed })
    );
    assert_eq!(decide_plain(&line(Returned), Some(Settled)), Decision::Apply, "a late 退票");
    assert_eq!(decide_plain(&line(Settled), None), Decision::Flag(Problem::UnknownReference));
}

#[test]
fn wrong_amount_and_conflicts_are_flagged() {
    let mut r = line(Settled);
    r.amount = Some(Fen(100_000));
    assert_eq!(
        decide_plain(&r, Some(Sent)),
        Decision::Flag(Problem::WrongAmount { receipt: Fen(100_000), sent: SENT })
    );
    for c in [Conflict::TwoStatuses, Conflict::TwoReferences, Conflict::TwoAmounts, Conflict::AmountNotText] {
        let mut r = line(Failed);
        r.conflict = Some(c);
        assert_eq!(decide_plain(&r, Some(Sent)), Decision::Flag(Problem::Conflict(c)));
    }
}

/// Only a booked credit naming our payment and its amount is a return; any other
/// entry naming it is flagged, and one naming nothing of ours is left alone.
#[test]
fn only_a_booked_credit_is_a_return() {
    let mut r = line(Returned);
    r.entry = Entry::BookedCredit;
    assert_eq!(decide_plain(&r, Some(Settled)), Decision::Apply);
    for e in [Entry::Debit, Entry::CreditReversal, Entry::Pending, Entry::Info, Entry::NotBooked] {
        r.entry = e;
        assert_eq!(decide_plain(&r, Some(Settled)), Decision::Flag(Problem::NotAReturn(e)), "{e:?}");
        assert_eq!(decide_plain(&r, None), Decision::Unchanged, "{e:?}: not ours, no return information");
        r.return_info = true;
        assert_eq!(decide_plain(&r, None), Decision::Flag(Problem::UnknownReference), "{e:?}");
        r.return_info = false;
    }
    r.entry = Entry::BookedCredit;
    r.amount = None;
    assert_eq!(decide_plain(&r, Some(Settled)), Decision::Flag(Problem::NoAmount));
    r.amount = Some(SENT);
    let facts = FileFacts { account_problem: Some("不是本单位的账户".into()), ..FileFacts::default() };
    let d = decide(&r, &staged(&r, Some(payment(Settled))), &facts);
    assert_eq!(d, Decision::Flag(Problem::Account("不是本单位的账户".into())));
}

/// Two final statuses for one payment in one file contradict each other, in
/// either order and whatever the ledger held; a pending one beside a final one
/// does not.
#[test]
fn a_file_that_says_two_things() {
    for (first, second) in [(Failed, Settled), (Settled, Failed)] {
        let r = line(second);
        let mut l = staged(&r, Some(payment(first)));
        l.pending = Some(first);
        l.given = StatusSet::of(&[first]);
        let mut said = vec![first, second];
        said.sort();
        assert_eq!(decide(&r, &l, &FileFacts::default()), Decision::Flag(Problem::ContradictsFile(said)));
    }
    // Settled in the ledger already, then ACSC and RJCT in one file: still the file's contradiction.
    let r = line(Failed);
    let mut l = staged(&r, Some(payment(Settled)));
    l.given = StatusSet::of(&[Settled]);
    assert!(matches!(decide(&r, &l, &FileFacts::default()), Decision::Flag(Problem::ContradictsFile(_))));
    // Pending then settled: the settlement applies; settled then pending: nothing more.
    let r = line(Settled);
    let mut l = staged(&r, Some(payment(Pending)));
    l.pending = Some(Pending);
    l.given = StatusSet::of(&[Pending]);
    assert_eq!(decide(&r, &l, &FileFacts::default()), Decision::Apply);
    let r = line(Pending);
    let mut l = staged(&r, Some(payment(Settled)));
    l.given = StatusSet::of(&[Settled]);
    assert_eq!(decide(&r, &l, &FileFacts::default()), Decision::Unchanged);
    // On the second reading every line about the reference is flagged, the first included.
    let r = line(Failed);
    let mut facts = FileFacts::default();
    facts.contradicted.insert(r.end_to_end_id.clone(), vec![Settled, Failed]);
    let d = decide(&r, &staged(&r, Some(payment(Sent))), &facts);
    assert_eq!(d, Decision::Flag(Problem::ContradictsFile(vec![Settled, Failed])));
}

#[test]
fn a_line_that_inherits_a_void_batch_status_is_flagged() {
    let mut r = line(Failed);
    r.inherited = Some(2);
    let mut facts = FileFacts::default();
    assert_eq!(decide(&r, &staged(&r, Some(payment(Sent))), &facts), Decision::Apply);
    facts.void_groups.insert(2, "原批次号X不是本单位的批次".into());
    assert!(matches!(decide(&r, &staged(&r, Some(payment(Sent))), &facts), Decision::Flag(Problem::VoidGroup(_))));
}

fn group(msg: &str, pmt: Option<&str>) -> GroupStatus {
    GroupStatus {
        original_msg_id: msg.into(),
        original_pmt_inf_id: pmt.map(str::to_string),
        status: Failed,
        raw_status: "RJCT".into(),
        reason_code: "AM04".into(),
        reason_text: String::new(),
        position: u64::from(pmt.is_some()),
        conflict: None,
    }
}

#[test]
fn group_statuses_apply_only_to_what_we_sent() {
    assert_eq!(group_problem(&group("DB202610R001", None), true), None);
    assert_eq!(group_problem(&group("DB202610R001", Some("DB202610R001")), true), None);
    let not_sent = group_problem(&group("OTHER-BANK-MSG", None), false).unwrap();
    assert!(not_sent.contains("OTHER-BANK-MSG") && not_sent.contains("不是本单位"), "{not_sent}");
    let other_batch = group_problem(&group("DB202610R001", Some("PMTINF-9")), true).unwrap();
    assert!(other_batch.contains("PMTINF-9"), "{other_batch}");
    let masked = group_problem(&group("6222020200112233445", None), false).unwrap();
    assert!(!masked.contains("6222020200112233445") && masked.contains("3445"), "{masked}");
    let mut two = group("DB202610R001", None);
    two.conflict = Some(Conflict::TwoStatuses);
    assert!(group_problem(&two, true).is_some());
}

#[test]
fn problems_read_in_chinese() {
    let p = Problem::ContradictsRecorded { recorded: Settled, receipt: Failed };
    assert_eq!(p.to_string(), "与已记录的最终状态矛盾（已记录：成功，回执：失败），未采用");
    assert_eq!(Problem::UnknownReference.to_string(), "未知的业务参考号：本单位没有发出过这笔");
    assert_eq!(
        Problem::ContradictsFile(vec![Settled, Failed]).to_string(),
        "本回执对同一笔给出了不同的状态（成功、失败），均未采用"
    );
}
