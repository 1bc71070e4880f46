//! Reconcile: checks rows against each other and against the world outside the
//! roster (SPEC §3 R01–R03, R05, R07). The checks against the ledger (R02 across
//! runs, R03 from receipts, R04, R06) are in [`ledger_checks`], as functions of
//! the sets the pipeline reads from the ledger.
//!
//! Works on [`Entry`]s — a few numbers per row, no strings — so a province's
//! million rows are reconciled in tens of megabytes, and the rows themselves can
//! stream past and be read again when their lines are written.

use std::collections::{HashMap, HashSet};

/// Sets and maps keyed by the million IDs of a run: std's SipHash (built to
/// resist keys chosen to collide) was most of R02 and R03's time. These keys
/// are ID numbers a bureau approved, and foldhash is still seeded per process.
pub(crate) type FastSet<T> = HashSet<T, foldhash::fast::RandomState>;
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use rust_decimal::Decimal;

use crate::domain::{Approval, Code, Exception, Field, PayeeType, Program, Severity};
use crate::validate::Checked;

pub mod corrections;
mod ledger_checks;
pub mod program_rules;
pub use ledger_checks::*;

/// A person stopped from a date on (death, prison, cancelled, moved).
#[derive(Debug, Clone, PartialEq)]
pub struct StopEntry {
    pub id_number: String,
    pub reason: String,
    pub effective: chrono::NaiveDate,
    /// The one program the stop is for (stops.csv `program`, SPEC §9); `None`: every program.
    pub program: Option<Program>,
}

/// What reconcile needs of one roster row: 24 bytes, so that ten million rows
/// of a province's month are reconciled in a quarter of a gigabyte. Who a line
/// pays (its account and household) is not here: only R05 asks, and it sorts
/// [`Payee`]s kept beside the entries (spilled to disk past a bound, by the
/// pipeline) instead of every entry carrying 24 more bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// [`crate::domain::IdNumber::key`] of a valid ID number, 0 if none.
    pub id: u64,
    /// The row in its roster (for the messages that name the other rows);
    /// `u32::MAX` for a row past it (no roster has four billion rows).
    pub row: u32,
    /// [`crate::domain::LineKind::key`]: 0 for a basic line. With program and
    /// person, what makes one payment (SPEC §9).
    pub kind: u32,
    pub program: Program,
    pub institution: bool,
    /// Not held (yet).
    pub payable: bool,
}

impl Entry {
    /// The facts of a checked row.
    pub fn of(c: &Checked) -> Entry {
        let line = c.line.as_ref();
        Entry {
            program: c.program,
            row: u32::try_from(c.row).unwrap_or(u32::MAX),
            id: c.id.as_ref().map_or(0, |i| i.key()),
            institution: line.is_some_and(|l| l.payee_type == PayeeType::Institution),
            payable: line.is_some(),
            kind: c.kind.key(),
        }
    }
}

/// Who a payable line pays, as numbers, for R05: the account
/// ([`crate::domain::Account::key`]) and the household ([`household_key`]).
/// Ordered by account first: R05 sorts them to find shared accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Payee {
    pub account: u128,
    pub household: u64,
}

impl Payee {
    /// The payee of a payable row; `None` when the row is held.
    pub fn of(c: &Checked) -> Option<Payee> {
        let l = c.line.as_ref()?;
        Some(Payee { account: l.account.key(), household: household_key(&l.payee_name, &l.village) })
    }
}

/// One payee in one village, as a number. SipHash with fixed keys: the same on
/// every run. Two different households colliding would only let a shared account
/// pass (R05 not raised), never hold a line wrongly; at 2^-64 per pair it is left so.
pub fn household_key(payee_name: &str, village: &str) -> u64 {
    #[allow(deprecated)]
    let mut h = std::hash::SipHasher::new();
    payee_name.hash(&mut h);
    village.hash(&mut h);
    h.finish()
}

/// A hold or a warning for one entry (its index), with the message a clerk reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub index: usize,
    pub code: Code,
    pub field: Field,
    /// Shared: a million rows already paid (R04) carry one message, not a million.
    pub message: Arc<str>,
}

/// Runs R01, R02, R03 and R05 over all entries of the run (`payees[i]`: the
/// payee of entry `i`, if payable). A hold clears `payable`. Findings come in
/// rule order (R01, R02, R03, R05): a stable sort by index gives each row its
/// findings in the order a clerk reads them.
pub fn reconcile(
    entries: &mut [Entry],
    payees: &[Option<Payee>],
    stops: &[StopEntry],
    period_start: chrono::NaiveDate,
) -> Vec<Finding> {
    let duplicates =
        shared_keys(entries.iter().enumerate().filter(|(_, e)| e.id != 0).map(|(i, e)| (i, e.id, e.kind, e.program)));
    let mut sorted: Vec<(Payee, usize)> = payees.iter().enumerate().filter_map(|(i, p)| p.map(|p| (p, i))).collect();
    sorted.sort_unstable();
    reconcile_with(entries, RosterChecks { duplicates }, sorted, BUILT_IN_EXCLUSIVE, stops, period_start)
}

/// What [`reconcile`] can find roster by roster, on the threads that read them:
/// sorting the whole run's IDs was much of reconciling, with one core idle.
#[derive(Debug, Default)]
pub struct RosterChecks {
    /// R01: rows of one program that name the same person, as groups of indices.
    pub duplicates: Vec<Vec<usize>>,
}

/// [`RosterChecks`] of one program's roster (indices into `entries`).
pub fn check_roster(entries: &[Entry]) -> RosterChecks {
    let keyed = entries.iter().enumerate().filter(|(_, e)| e.id != 0).map(|(i, e)| (i, e.id, e.kind, e.program));
    RosterChecks { duplicates: shared_keys(keyed) }
}

impl RosterChecks {
    /// Appends a roster's, whose first row is `start` in the run.
    pub fn append(&mut self, roster: RosterChecks, start: usize) {
        let at = |i: usize| start + i;
        self.duplicates.extend(roster.duplicates.into_iter().map(|g| g.into_iter().map(at).collect()));
    }
}

/// Collects into a vector sized once for the most the iterator can give.
///
/// Why: a filtered iterator's `collect` starts small and doubles, copying
/// what it has each time into freshly faulted memory; for a roster of
/// 300,000 rows that was ~15% of the page faults of pass 1. Capacity
/// reserved but never written costs no memory.
fn collect_sized<T>(items: impl Iterator<Item = T>) -> Vec<T> {
    let (low, high) = items.size_hint();
    let mut all = Vec::with_capacity(high.unwrap_or(low));
    all.extend(items);
    all
}

/// [`reconcile`] with what was found roster by roster ([`check_roster`]) and
/// the payable lines' payees in account order (`payees`: (payee, index), as
/// many sorted runs merged; R05 skips the lines the rules before it held).
pub fn reconcile_with(
    entries: &mut [Entry],
    checked: RosterChecks,
    payees: impl IntoIterator<Item = (Payee, usize)>,
    pairs: &[ExclusivePair],
    stops: &[StopEntry],
    period_start: chrono::NaiveDate,
) -> Vec<Finding> {
    let mut found = Vec::new();
    hold_duplicates_in_program(entries, checked.duplicates, &mut found);
    hold_exclusive_overlap(entries, pairs, &mut found);
    hold_stopped(entries, stops, period_start, &mut found);
    hold_shared_accounts(entries, payees, &mut found);
    found
}

/// [`reconcile`] over checked rows, holding lines in place (for callers that
/// have every row at hand, and the tests).
pub fn reconcile_rows(rows: &mut [Checked], stops: &[StopEntry], period_start: chrono::NaiveDate) {
    let mut entries: Vec<Entry> = rows.iter().map(Entry::of).collect();
    let payees: Vec<Option<Payee>> = rows.iter().map(Payee::of).collect();
    for f in reconcile(&mut entries, &payees, stops, period_start) {
        rows[f.index].hold(f.code, f.field, f.message.to_string());
    }
}

fn hold(entries: &mut [Entry], found: &mut Vec<Finding>, index: usize, code: Code, field: Field, message: Arc<str>) {
    if code.severity() == Severity::Hold {
        entries[index].payable = false;
    }
    found.push(Finding { index, code, field, message });
}

/// R01: the same person twice in one program's roster with the same line type
/// and covered month (SPEC §9: a basic line and a care line are two payments):
/// every copy is held.
fn hold_duplicates_in_program(entries: &mut [Entry], duplicates: Vec<Vec<usize>>, found: &mut Vec<Finding>) {
    for group in duplicates {
        let where_rows: Vec<String> = group.iter().map(|&i| entries[i].row.to_string()).collect();
        let msg: Arc<str> = format!(
            "同一人在本名册中出现{}次（第{}行），全部暂缓：请核实后只保留一行",
            group.len(),
            where_rows.join("、")
        )
        .into();
        for &i in &group {
            hold(entries, found, i, Code::R01, Field::IdNumber, msg.clone());
        }
    }
}

/// The entries (ascending) of every (person, line kind, program) that more
/// than one entry has. Sorting keys instead of hashing them into per-key
/// vectors keeps a million rows from needing a map entry and a vector each;
/// each key packed with its index in 16 bytes (not 24) keeps the sort of a
/// three-million-row roster under 50 MB.
fn shared_keys(keyed: impl Iterator<Item = (usize, u64, u32, Program)>) -> Vec<Vec<usize>> {
    // (program, kind) are few: numbered in the order met, with the index in
    // the low 32 bits: (id, class, index) packs into one u128.
    let mut classes: Vec<(Program, u32)> = Vec::new();
    let mut class_of = |p: Program, k: u32| match classes.iter().position(|c| *c == (p, k)) {
        Some(n) => n as u128,
        None => {
            classes.push((p, k));
            (classes.len() - 1) as u128
        }
    };
    let mut all: Vec<u128> = collect_sized(keyed.map(|(i, id, kind, p)| {
        // A run has fewer than 2^32 rows: the pipeline refuses more than
        // `ingest::limits::ROSTER_LINES` (asserted at compile time there).
        (u128::from(id) << 64) | (class_of(p, kind) << 32) | (i as u128 & 0xffff_ffff)
    }));
    all.sort_unstable();
    let mut groups = Vec::new();
    for run in all.chunk_by(|a, b| a >> 32 == b >> 32).filter(|r| r.len() > 1) {
        groups.push(run.iter().map(|k| (k & 0xffff_ffff) as usize).collect());
    }
    groups
}

/// R02: the same person in both programs of an exclusive pair (低保 and 特困)
/// for the same period: both held. One set of people per program that is in
/// a pair, built only when the run has rows of it.
fn hold_exclusive_overlap(entries: &mut [Entry], pairs: &[ExclusivePair], found: &mut Vec<Finding>) {
    let mut people: Vec<(Program, FastSet<u64>)> = Vec::new();
    for &(a, b) in pairs {
        for p in [a, b] {
            if !people.iter().any(|(q, _)| *q == p) {
                people.push((p, entries.iter().filter(|e| e.program == p && e.id != 0).map(|e| e.id).collect()));
            }
        }
    }
    let set_of = |p: Program| people.iter().find(|(q, _)| *q == p).map(|(_, s)| s);
    let mut messages: Vec<(ExclusivePair, Arc<str>)> = Vec::new();
    for i in 0..entries.len() {
        let (program, id) = (entries[i].program, entries[i].id);
        if id == 0 {
            continue;
        }
        let Some(other) = exclusive_partners(program, pairs).find(|&o| set_of(o).is_some_and(|s| s.contains(&id)))
        else {
            continue;
        };
        let key = if pairs.contains(&(program, other)) { (program, other) } else { (other, program) };
        let msg = match messages.iter().find(|(k, _)| *k == key) {
            Some((_, m)) => m.clone(),
            None => {
                let m: Arc<str> = overlap_message(key).into();
                messages.push((key, m.clone()));
                m
            }
        };
        hold(entries, found, i, Code::R02, Field::IdNumber, msg);
    }
}

fn overlap_message((a, b): ExclusivePair) -> String {
    if (a, b) == (Program::Dibao, Program::Wubao) {
        return "同一人同时在低保和特困供养名册中，两边都暂缓：低保与特困不能同时享受，请核实后只保留一项".into();
    }
    format!(
        "同一人同时在{}和{}名册中，两边都暂缓：两者不能同时享受，请核实后只保留一项",
        a.chinese_name(),
        b.chinese_name()
    )
}

/// R03: a person on the stop list, stopped on or before the period's first day.
pub(crate) fn hold_stopped(
    entries: &mut [Entry],
    stops: &[StopEntry],
    period_start: chrono::NaiveDate,
    found: &mut Vec<Finding>,
) {
    let mut stopped: FastMap<u64, Vec<&StopEntry>> = FastMap::default();
    for s in stops.iter().filter(|s| s.effective <= period_start) {
        if let Some(k) = crate::domain::id_key(&s.id_number) {
            stopped.entry(k).or_default().push(s);
        }
    }
    if stopped.is_empty() {
        return;
    }
    for i in 0..entries.len() {
        let Some(list) = stopped.get(&entries[i].id) else { continue };
        let e = &entries[i];
        let Some(s) = list.iter().find(|s| s.program.is_none_or(|p| p == e.program)) else { continue };
        // A funeral grant (丧葬补助) is paid because the person died (SPEC §9):
        // the death does not hold it; the funeral rule checks it instead.
        if s.reason == "death" && is_funeral(e.kind) {
            continue;
        }
        let why = match s.reason.as_str() {
            "death" => "死亡",
            "prison" => "服刑",
            "cancelled" => "已注销待遇",
            "moved" => "迁出",
            other => other,
        };
        let scope = s.program.map(|p| format!("停发{}", p.chinese_name())).unwrap_or_else(|| "全部项目停发".into());
        let msg = format!("此人在停发名单中（{why}，{}起{scope}），不予发放：如有误请先更正停发名单", s.effective);
        hold(entries, found, i, Code::R03, Field::IdNumber, msg.into());
    }
}

/// Whether a [`Entry::kind`] is a funeral line.
pub fn is_funeral(kind: u32) -> bool {
    kind % 8 == u32::from(crate::domain::LineType::Funeral.tag())
}

/// R05: one account receiving for different people who are not one household and
/// not an institution. One household = every line on the account names the same
/// payee (户名) in the same village, e.g. a guardian receiving for two children.
///
/// `payees` are (payee, index) of lines payable before R01–R03, in account
/// order; those held since are left out.
pub(crate) fn hold_shared_accounts(
    entries: &mut [Entry],
    payees: impl IntoIterator<Item = (Payee, usize)>,
    found: &mut Vec<Finding>,
) {
    let mut group: Vec<(u64, usize)> = Vec::new();
    let mut account = None;
    for (p, i) in payees {
        if account != Some(p.account) {
            hold_if_shared(entries, &group, found);
            group.clear();
            account = Some(p.account);
        }
        if entries[i].payable {
            group.push((p.household, i));
        }
    }
    hold_if_shared(entries, &group, found);
}

/// R05 for the payable lines of one account ((household, index)).
fn hold_if_shared(entries: &mut [Entry], group: &[(u64, usize)], found: &mut Vec<Finding>) {
    if group.len() < 2 {
        return;
    }
    let people: HashSet<u64> = group.iter().map(|&(_, i)| entries[i].id).collect();
    if people.len() < 2 {
        return;
    }
    let institution = group.iter().all(|&(_, i)| entries[i].institution);
    let household = group.iter().all(|&(h, _)| h == group[0].0);
    if institution || household {
        return;
    }
    let n = people.len();
    let msg: Arc<str> =
        format!("同一银行账号为{n}个不同的人收款，且不是同一户也不是供养机构：请核实账号是否录错，防止冒领").into();
    let mut held: Vec<usize> = group.iter().map(|&(_, i)| i).collect();
    held.sort_unstable();
    for i in held {
        hold(entries, found, i, Code::R05, Field::Account, msg.clone());
    }
}

/// R08: a payable line whose person another office of the shared ledger
/// already has a line for, in this program and period (跨县重复享受), is held.
/// `elsewhere` maps an ID key to that office's code; `entries` are one roster's,
/// the first being row `start` of the run. The message names the office's code
/// and nothing else of its line (the exception list adds our masked ID).
pub fn hold_paid_elsewhere(
    entries: &mut [Entry],
    start: usize,
    elsewhere: &HashMap<u64, String>,
    period: &str,
) -> Vec<Finding> {
    let mut messages: HashMap<&str, Arc<str>> = HashMap::new();
    let mut found = Vec::new();
    for (i, e) in entries.iter_mut().enumerate() {
        let Some(office) = elsewhere.get(&e.id).filter(|_| e.payable && e.id != 0) else { continue };
        let message = messages
            .entry(office.as_str())
            .or_insert_with(|| {
                format!(
                    "{period}已由办公室 {office} 发放（跨县重复享受），本县暂缓：请与该办公室核实此人应由哪一方发放"
                )
                .into()
            })
            .clone();
        e.payable = false;
        found.push(Finding { index: start + i, code: Code::R08, field: Field::IdNumber, message });
    }
    found
}

/// R07: compares a program's roster with its approval line. `None` when they
/// match; otherwise the exception that refuses the program.
pub fn check_approval(
    program: Program,
    file: &str,
    approval: Option<&Approval>,
    count: u64,
    total: Decimal,
) -> Option<Exception> {
    let message = match approval {
        None => format!(
            "审批表中没有{}（{}）这一行：没有审批不能发放，整个项目不发放",
            program.chinese_name(),
            program.code()
        ),
        Some(a) if a.count != count || a.total != total => format!(
            "名册与审批不符：审批{}笔、{}元，名册实有{}笔、{}元（差{}元）；整个项目不发放，请核对名册或审批表",
            a.count,
            a.total,
            count,
            total,
            total - a.total
        ),
        Some(_) => return None,
    };
    Some(Exception {
        program,
        file: file.to_string(),
        row: 0,
        field: "",
        code: Code::R07,
        name: String::new(),
        id_number_masked: String::new(),
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filtered_collect_is_sized_once_for_the_most_it_can_give() {
        let v = collect_sized((0..300_000u64).filter(|n| n % 3 == 0));
        assert_eq!(v.len(), 100_000);
        assert!(v.iter().copied().eq((0..300_000u64).step_by(3)));
        assert_eq!(v.capacity(), 300_000, "no doubling on the way");
    }
    use crate::domain::{Cell, Fen, RosterRow, SourcePos, TextEncoding, TextRules};
    use crate::validate::{check_row, Rules};

    fn checked(program: Program, row: u64, name: &str, id: &str, account: &str, payee: &str) -> Checked {
        let r = RosterRow {
            program,
            pos: SourcePos { file: "r.csv".into(), row },
            cells: vec![
                (Field::Township, Cell::Text("镇".into())),
                (Field::Village, Cell::Text("村".into())),
                (Field::Name, Cell::Text(name.into())),
                (Field::IdNumber, Cell::Text(id.into())),
                (Field::Account, Cell::Text(account.into())),
                (Field::Amount, Cell::Text("100".into())),
                (Field::PayeeName, Cell::Text(payee.into())),
                (Field::PayeeType, Cell::Text(if payee == name { "self" } else { "guardian" }.into())),
            ],
        };
        check_row(&r, &Rules { cap: Fen(1_000_000), text: TextRules { encoding: TextEncoding::Utf8, name_max: None } })
    }

    const A: &str = "11010519491231002X";
    const B: &str = "360426199101010071";
    const C: &str = "110101202311012176";

    fn codes(c: &Checked) -> Vec<Code> {
        c.exceptions.iter().map(|e| e.code).collect()
    }

    #[test]
    fn duplicates_overlap_stops_accounts() {
        let mut rows = vec![
            checked(Program::Dibao, 2, "张三", A, "6222081302002142160", "张三"),
            checked(Program::Dibao, 3, "张三", A, "6222081302002142160", "张三"),
            checked(Program::Wubao, 2, "李四", B, "6214831150131511", "李四"),
            checked(Program::Dibao, 4, "李四", B, "33001610000053012345", "李四"),
            checked(Program::Youfu, 2, "王五", C, "1234567890", "王五"),
            checked(Program::Yimin, 2, "赵六", "360426199101010071", "1234567890", "赵六"),
        ];
        let stops = vec![StopEntry {
            id_number: C.into(),
            reason: "death".into(),
            effective: "2026-10-15".parse().unwrap(),
            program: None,
        }];
        reconcile_rows(&mut rows, &stops, "2026-11-01".parse().unwrap());
        assert_eq!(codes(&rows[0]), vec![Code::R01]);
        assert_eq!(codes(&rows[1]), vec![Code::R01]);
        assert_eq!(codes(&rows[2]), vec![Code::R02]);
        assert_eq!(codes(&rows[3]), vec![Code::R02]);
        assert_eq!(codes(&rows[4]), vec![Code::R03]);
        // 王五 is already held by R03 so the account is no longer shared by two payable people.
        assert!(rows[5].line.is_some());
    }

    /// R01 and R05 found roster by roster (as a run does, on the reading
    /// threads) hold the same rows with the same messages as over the whole run.
    #[test]
    fn duplicates_found_per_roster_are_the_runs_duplicates() {
        let rows = [
            checked(Program::Dibao, 2, "张三", A, "6222081302002142160", "张三"),
            checked(Program::Dibao, 3, "李四", B, "6214831150131511", "李四"),
            checked(Program::Dibao, 4, "张三", A, "6222081302002142160", "张三"),
            checked(Program::Youfu, 2, "张三", A, "1234567890", "张三"),
            checked(Program::Youfu, 3, "王五", C, "1234567891", "王五"),
            checked(Program::Youfu, 4, "王五", C, "1234567891", "王五"),
            checked(Program::Youfu, 5, "王五", C, "1234567891", "王五"),
            checked(Program::Yimin, 2, "赵六", B, "1234567890", "赵六"),
        ];
        let all: Vec<Entry> = rows.iter().map(Entry::of).collect();
        let payees: Vec<Option<Payee>> = rows.iter().map(Payee::of).collect();
        let (mut whole, mut per_roster) = (all.clone(), all.clone());
        let mut checked = RosterChecks::default();
        for (start, end) in [(0, 3), (3, 7), (7, 8)] {
            checked.append(check_roster(&all[start..end]), start);
        }
        let day = "2026-11-01".parse().unwrap();
        let a = reconcile(&mut whole, &payees, &[], day);
        // The payees as sorted runs (one per roster), merged.
        let mut runs: Vec<(Payee, usize)> = payees.iter().enumerate().filter_map(|(i, p)| p.map(|p| (p, i))).collect();
        runs.sort_unstable();
        let b = reconcile_with(&mut per_roster, checked, runs, BUILT_IN_EXCLUSIVE, &[], day);
        let key = |f: &Finding| (f.index, f.code, f.message.to_string());
        let sorted = |v: &[Finding]| {
            let mut k: Vec<_> = v.iter().map(key).collect();
            k.sort();
            k
        };
        assert_eq!(sorted(&a), sorted(&b));
        assert_eq!(a.iter().filter(|f| f.code == Code::R01).count(), 5);
        assert_eq!(a.iter().filter(|f| f.code == Code::R05).count(), 2);
        assert_eq!(whole, per_roster);
    }

    #[test]
    fn shared_account_rules() {
        let mut rows = vec![
            checked(Program::Dibao, 2, "张三", A, "1234567890", "张三"),
            checked(Program::Youfu, 2, "王五", C, "1234567890", "王五"),
        ];
        reconcile_rows(&mut rows, &[], "2026-11-01".parse().unwrap());
        assert_eq!(codes(&rows[0]), vec![Code::R05]);
        let mut rows = vec![
            checked(Program::Yiwubing, 2, "张三", A, "1234567890", "王大"),
            checked(Program::Yiwubing, 3, "王五", C, "1234567890", "王大"),
        ];
        reconcile_rows(&mut rows, &[], "2026-11-01".parse().unwrap());
        assert!(rows.iter().all(|r| r.line.is_some()), "one household (same payee, same village) may share");
    }

    #[test]
    fn approval_must_match_to_the_fen() {
        let a = Approval {
            program: Program::Dibao,
            count: 2,
            total: "100.00".parse().unwrap(),
            reference: String::new(),
            approved_by: String::new(),
            approved_on: String::new(),
        };
        assert!(check_approval(Program::Dibao, "f", Some(&a), 2, "100".parse().unwrap()).is_none());
        let e = check_approval(Program::Dibao, "f", Some(&a), 2, "100.01".parse().unwrap()).unwrap();
        assert_eq!(e.code, Code::R07);
        assert!(e.message.contains("0.01"));
        assert!(check_approval(Program::Dibao, "f", None, 2, "100".parse().unwrap()).is_some());
    }

    #[test]
    fn r08_holds_only_payable_people_another_office_paid_and_names_only_its_code() {
        let entry = |id: u64, payable: bool| Entry {
            program: Program::Dibao,
            row: 2,
            id,
            institution: false,
            payable,
            kind: 0,
        };
        let mut entries = vec![entry(11, true), entry(22, true), entry(33, false), entry(0, true), entry(44, true)];
        let elsewhere: HashMap<u64, String> =
            [(11, "330781".to_string()), (33, "330782".to_string()), (44, "330782".to_string())].into();
        let found = hold_paid_elsewhere(&mut entries, 100, &elsewhere, "2026-11");
        let held: Vec<usize> = found.iter().map(|f| f.index).collect();
        assert_eq!(held, [100, 104], "payable people paid elsewhere, at their run index");
        assert!(found.iter().all(|f| f.code == Code::R08 && f.code.severity() == Severity::Hold));
        assert!(found[0].message.contains("330781") && !found[0].message.contains("330782"));
        assert!(found[1].message.contains("330782"));
        assert_eq!(entries.iter().map(|e| e.payable).collect::<Vec<_>>(), [false, true, false, true, false]);
        assert!(hold_paid_elsewhere(&mut entries, 0, &HashMap::new(), "2026-11").is_empty());
    }
}
