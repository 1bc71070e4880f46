//! The checks of a run's rows against what the ledger already holds (SPEC §3 R02
//! across runs, R03 from the bank's word, R04, R06; §8 "exclusion looks at the
//! ledger"), as pure functions of plain inputs: the pipeline reads the sets from
//! the ledger and hands them in, so every rule here is tested without a database.
//!
//! Each function walks one roster's entries (`entries` is that roster's slice,
//! `start` the index of its first row in the run, for the findings) once, with
//! one hash lookup a row at most.

use std::collections::HashSet;
use std::sync::Arc;

use rust_decimal::Decimal;

use super::{hold, Entry, FastMap, FastSet, Finding};
use crate::domain::{Change, ChangeKind, Code, Fen, Field, Period, Program};

/// Two programs one person may not draw for the same month (R02). Today the one
/// pair of SPEC §3; §9's `exclusive_with` keys add theirs to this list.
pub type ExclusivePair = (Program, Program);

/// The pairs the SPEC fixes without configuration: 低保 and 特困 (五保).
pub const BUILT_IN_EXCLUSIVE: &[ExclusivePair] = &[(Program::Dibao, Program::Wubao)];

/// The programs exclusive with `program` under `pairs` (either side of a pair).
pub fn exclusive_partners(program: Program, pairs: &[ExclusivePair]) -> impl Iterator<Item = Program> + '_ {
    pairs.iter().filter_map(move |&(a, b)| match program {
        p if p == a => Some(b),
        p if p == b => Some(a),
        _ => None,
    })
}

/// In which months of the year a program pays (its schedule, as data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueMonths(pub [bool; 12]);

impl DueMonths {
    pub const MONTHLY: DueMonths = DueMonths([true; 12]);

    /// From a test of each month (1 to 12).
    pub fn from_fn(due: impl Fn(u32) -> bool) -> DueMonths {
        DueMonths(std::array::from_fn(|i| due(i as u32 + 1)))
    }

    fn is_due(&self, month_index: i64) -> bool {
        self.0[month_index.rem_euclid(12) as usize]
    }
}

/// The months one payment stands for, as a stretch of month numbers
/// (year × 12 + month − 1).
///
/// Why this rule: a program pays in its due months and each payment is the
/// allowance until the next due month. So a payment made in period P covers P
/// and every following month that is not due, up to the month before the next
/// due one: quarterly (due 1, 4, 7, 10) paid in 2026-01 covers 01–03;
/// half-yearly paid in 07 covers 07–12; annual paid in 01 covers the year;
/// monthly covers its own month. A payment in a month that is not due (a
/// schedule changed since) covers from there to the next due month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coverage {
    first: i64,
    /// 1 to 12.
    months: i64,
}

impl Coverage {
    pub fn of(due: &DueMonths, paid_in: Period) -> Coverage {
        let first = month_index(paid_in);
        let months = (1..12).find(|k| due.is_due(first + k)).unwrap_or(12);
        Coverage { first, months }
    }

    pub fn overlaps(&self, other: &Coverage) -> bool {
        self.first < other.first + other.months && other.first < self.first + self.months
    }

    pub fn contains(&self, period: Period) -> bool {
        let m = month_index(period);
        self.first <= m && m < self.first + self.months
    }

    /// The periods a payment made in any of them could overlap this stretch
    /// with (a payment covers at most twelve months, itself included).
    pub fn candidates(&self) -> impl Iterator<Item = Period> {
        (self.first - 11..self.first + self.months).map(period_of)
    }
}

fn month_index(p: Period) -> i64 {
    i64::from(p.year) * 12 + i64::from(p.month) - 1
}

fn period_of(index: i64) -> Period {
    Period { year: index.div_euclid(12) as i32, month: index.rem_euclid(12) as u32 + 1 }
}

/// Which periods of `other` (its schedule `other_due`) the ledger must be asked
/// about for a run of `program` in `period`: those whose payment covers a month
/// this run's payment covers. `known` are the periods the ledger has payments in.
pub fn periods_to_compare(due: &DueMonths, period: Period, other_due: &DueMonths, known: &[Period]) -> Vec<Period> {
    let this = Coverage::of(due, period);
    this.candidates().filter(|q| known.contains(q) && Coverage::of(other_due, *q).overlaps(&this)).collect()
}

/// People the ledger shows paid by `program` in `period` (a line, original or
/// correction, that has not failed or been returned).
#[derive(Debug, Clone)]
pub struct PaidElsewhere {
    pub program: Program,
    pub period: Period,
    pub people: HashSet<u64>,
}

/// R02 across runs: a payable row of a program whose exclusive partner already
/// paid the same person for a month this payment covers is held (the ledger's
/// line stays as it is: it was paid). `paid` holds only partners' payments
/// whose coverage overlaps this run's ([`periods_to_compare`]).
pub fn hold_paid_by_exclusive(
    entries: &mut [Entry],
    start: usize,
    program: Program,
    pairs: &[ExclusivePair],
    paid: &[PaidElsewhere],
    found: &mut Vec<Finding>,
) {
    let relevant: Vec<&PaidElsewhere> = paid
        .iter()
        .filter(|p| exclusive_partners(program, pairs).any(|q| q == p.program) && !p.people.is_empty())
        .collect();
    if relevant.is_empty() {
        return;
    }
    let messages: Vec<Arc<str>> = relevant
        .iter()
        .map(|p| {
            format!(
                "此人已由{}在{}发放（仍有效，覆盖本期），与{}不能同时享受，暂缓：请核实后只保留一项",
                p.program.chinese_name(),
                p.period,
                program.chinese_name()
            )
            .into()
        })
        .collect();
    for i in 0..entries.len() {
        let e = &entries[i];
        if !e.payable || e.id == 0 {
            continue;
        }
        if let Some(k) = relevant.iter().position(|p| p.people.contains(&e.id)) {
            entries[i].payable = false;
            found.push(Finding {
                index: start + i,
                code: Code::R02,
                field: Field::IdNumber,
                message: messages[k].clone(),
            });
        }
    }
}

/// R03 from the bank's own word: a person a receipt reported deceased (MD07) is
/// held in every later run until the stop list or a settled correction says
/// otherwise. `deceased`: ID key → the reference that reported it.
pub fn hold_reported_deceased(entries: &mut [Entry], deceased: &FastMap<u64, String>, found: &mut Vec<Finding>) {
    if deceased.is_empty() {
        return;
    }
    for i in 0..entries.len() {
        let e = &entries[i];
        let Some(reference) = deceased.get(&e.id).filter(|_| e.payable) else { continue };
        let msg = format!("银行回盘（{reference}）报告此人已死亡（MD07），暂停发放：请核查死亡信息并更新停发名单；如属误报，更正发放成功后自动恢复");
        hold(entries, found, i, Code::R03, Field::IdNumber, msg.into());
    }
}

/// R04: a payable basic row whose person this program already paid (or has in
/// flight) a basic line in the period is skipped: never sent again, listed for
/// the record. Returns the run indices skipped. Other line types:
/// [`skip_other_lines_already_paid`].
pub fn skip_already_paid(
    entries: &mut [Entry],
    start: usize,
    paid: &HashSet<u64>,
    period: Period,
    found: &mut Vec<Finding>,
) -> Vec<usize> {
    let mut skipped = Vec::new();
    if paid.is_empty() {
        return skipped;
    }
    let already: Arc<str> = format!("{period}已发放（或在途），不再重复发放").into();
    for (i, e) in entries.iter_mut().enumerate() {
        if e.id != 0 && e.payable && e.kind == 0 && paid.contains(&e.id) {
            e.payable = false;
            skipped.push(start + i);
            found.push(Finding { index: start + i, code: Code::R04, field: Field::IdNumber, message: already.clone() });
        }
    }
    skipped
}

/// R04 for lines other than basic ones (SPEC §9): skipped when the ledger has
/// the same person, line type and covered month (`paid`: (ID key, kind key)).
pub fn skip_other_lines_already_paid(
    entries: &mut [Entry],
    start: usize,
    paid: &HashSet<(u64, u32)>,
    period: Period,
    found: &mut Vec<Finding>,
) -> Vec<usize> {
    let mut skipped = Vec::new();
    for (i, e) in entries.iter_mut().enumerate() {
        if e.id != 0 && e.payable && e.kind != 0 && paid.contains(&(e.id, e.kind)) {
            e.payable = false;
            skipped.push(start + i);
            let message = format!("{period}的这一项（同一项目类型、所属期）已发放（或在途），不再重复发放").into();
            found.push(Finding { index: start + i, code: Code::R04, field: Field::LineType, message });
        }
    }
    skipped
}

/// A change against the last paid period, for a row (its run index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeAt {
    pub index: usize,
    pub kind: ChangeKind,
    pub previous: Option<Fen>,
    pub amount: Option<Fen>,
}

/// What the program paid in its last paid period: the period, and per person
/// (ID key) the amount that reached them or is on its way.
pub struct Previous<'a> {
    pub period: Period,
    pub amounts: &'a FastMap<u64, Fen>,
}

/// R06 and the changes: each payable row new since `previous`, or paid a
/// different amount than then (R06 warns past `warn_share`). Returns who is on
/// the roster now (every row with a valid ID), for [`dropped_since`].
pub fn compare_with_previous(
    entries: &[Entry],
    start: usize,
    amount: &dyn Fn(usize) -> Fen,
    previous: &Previous<'_>,
    warn_share: Decimal,
    changes: &mut Vec<ChangeAt>,
    found: &mut Vec<Finding>,
) -> FastSet<u64> {
    let mut seen_now = FastSet::with_capacity_and_hasher(entries.len(), Default::default());
    let prev_period = previous.period;
    for (i, e) in entries.iter().enumerate() {
        if e.id == 0 {
            continue;
        }
        seen_now.insert(e.id);
        // Only basic lines compare with the last period's (a care fee or a
        // back pay is not a change of the allowance).
        if !e.payable || e.kind != 0 {
            continue;
        }
        let index = start + i;
        let amount = amount(index);
        match previous.amounts.get(&e.id) {
            None => changes.push(ChangeAt { index, kind: ChangeKind::New, previous: None, amount: Some(amount) }),
            Some(before) if *before != amount => {
                let kind = ChangeKind::AmountChanged;
                changes.push(ChangeAt { index, kind, previous: Some(*before), amount: Some(amount) });
                let diff = (amount.to_yuan() - before.to_yuan()).abs();
                if diff > before.to_yuan() * warn_share {
                    let msg = format!(
                        "金额由{prev_period}的{before}元变为{amount}元，变化超过{}%：照常发放，请核实",
                        warn_share * Decimal::ONE_HUNDRED
                    );
                    found.push(Finding { index, code: Code::R06, field: Field::Amount, message: msg.into() });
                }
            }
            Some(_) => {}
        }
    }
    seen_now
}

/// People (ID keys) paid in the last paid period who are not on the roster
/// now, sorted: the ledger names only these ([`crate::ledger::Ledger::people_named`])
/// for [`dropped_changes`].
pub fn dropped_since(previous: &FastMap<u64, Fen>, seen_now: &FastSet<u64>) -> Vec<u64> {
    let mut dropped: Vec<u64> = previous.keys().copied().filter(|k| !seen_now.contains(k)).collect();
    dropped.sort_unstable();
    dropped
}

/// The `dropped` changes of `dropped` (from [`dropped_since`]), by ID number,
/// each with the amount `previous` has for them. `named`: (ID key, ID number,
/// name) as the ledger gave them; a person it no longer names (a receipt came in
/// between) is still listed, by their key's ID number, without a name.
pub fn dropped_changes(
    program: Program,
    previous: &FastMap<u64, Fen>,
    dropped: &[u64],
    named: Vec<(u64, String, String)>,
) -> Vec<Change> {
    let mut names: FastMap<u64, (String, String)> = named.into_iter().map(|(k, id, name)| (k, (id, name))).collect();
    let mut out: Vec<(String, String, Fen)> = dropped
        .iter()
        .map(|k| {
            let (id, name) = names
                .remove(k)
                .unwrap_or_else(|| (crate::domain::id_number_of_key(*k).unwrap_or_default(), String::new()));
            (id, name, previous.get(k).copied().unwrap_or(Fen(0)))
        })
        .collect();
    out.sort();
    out.into_iter()
        .map(|(id, name, amount)| Change {
            program,
            id_number_masked: crate::domain::mask_id(&id),
            name,
            kind: ChangeKind::Dropped,
            previous_amount: Some(amount),
            amount: None,
        })
        .collect()
}

#[cfg(test)]
mod tests;
