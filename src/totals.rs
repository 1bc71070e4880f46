//! Totals: per program and per (program, township, village), checked so that
//! approved = paid + held to the fen (SPEC §3).

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::domain::{Fen, Program};

/// A count of lines and their amount. Amounts are exact decimals because held
/// lines count as written (an amount with three decimals is held, and still
/// counts in the approved total).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tally {
    pub lines: u64,
    pub amount: Decimal,
}

impl Tally {
    pub fn add(&mut self, amount: Decimal) {
        self.lines += 1;
        self.amount += amount;
    }

    pub fn add_fen(&mut self, amount: Fen) {
        self.add(amount.to_yuan());
    }
}

/// One program's totals for a run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProgramTotals {
    /// Every data line of the roster, amounts as written (missing or non-numeric = 0).
    pub approved: Tally,
    /// Lines written to a bank file in this run.
    pub paid: Tally,
    /// Lines held (exception list), including lines of a refused program.
    pub held: Tally,
    /// Lines skipped because they were already paid (R04): part of `paid` of an earlier run.
    pub skipped: Tally,
    /// Lines paid with a warning (W01, R06).
    pub warned: u64,
    /// R07: the roster did not match its approval; nothing was written.
    pub refused: bool,
    /// The approval line the program was paid under (文号, approver, date: SPEC §9).
    pub approval: Option<crate::domain::Approval>,
}

impl ProgramTotals {
    /// approved = paid + held + skipped, lines and amount.
    pub fn balances(&self) -> bool {
        self.approved.lines == self.paid.lines + self.held.lines + self.skipped.lines
            && self.approved.amount == self.paid.amount + self.held.amount + self.skipped.amount
    }
}

/// Key of a summary row.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PlaceKey {
    pub program: Program,
    pub township: String,
    pub village: String,
}

/// One row of `summary.csv` / the 汇总表.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlaceTotals {
    /// 户数: lines whose household size is known count as one household each.
    pub households: u64,
    /// 人数: the sum of household sizes where known, else one per line.
    pub people: u64,
    pub paid: Tally,
    pub held: Tally,
}

impl PlaceTotals {
    /// Adds `other`'s households, people, paid and held into `self` (a village's
    /// rows read in parts, or villages summed into a township).
    pub fn absorb(&mut self, other: &PlaceTotals) {
        self.households += other.households;
        self.people += other.people;
        self.paid.lines += other.paid.lines;
        self.paid.amount += other.paid.amount;
        self.held.lines += other.held.lines;
        self.held.amount += other.held.amount;
    }
}

/// All totals of a run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunTotals {
    pub programs: BTreeMap<Program, ProgramTotals>,
    pub places: BTreeMap<PlaceKey, PlaceTotals>,
}
