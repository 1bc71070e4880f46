//! The two passes over the rosters that every paying command makes.
//!
//! Pass 1 ([`prepare`]) reads and checks every row, keeps in memory only the few
//! numbers reconciliation and the totals need ([`Entry`] and [`Facts`], 40 bytes
//! a row), writes each checked row to a [`Spill`] file, and decides every row:
//! paid, held, or already paid. Pass 2 ([`Prepared::replay`]) reads the checked
//! rows back from the spill, applies the decisions, and hands each line to pay to
//! the caller one at a time — so a million lines are never in memory at once, and
//! the bank files, reports and ledger are written as the lines stream past.
//!
//! Both passes see the rosters' bytes as pass 1 read them: a roster saved by
//! somebody while the command runs changes nothing it pays.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use rust_decimal::Decimal;

use super::progress::Unit;
use super::{fault, io_err, PipelineError, Progress};
use crate::bankfile::Format;
use crate::config::{Config, ProgramConfig};
use crate::domain::{id_key, Change, Code, Exception, Fen, PaymentLine, Period, Program, Text};
use crate::ingest;
use crate::ledger::Ledger;
use crate::reconcile::{self, ChangeAt, Entry, FastMap, Finding, StopEntry};
use crate::report::{ExceptionLog, Exceptions};
use crate::totals::{PlaceKey, PlaceTotals, RunTotals};
use crate::validate::spill::{Spill, SpillWriter};
use crate::validate::{self, Checked, Rules};

mod payees;
mod program_checks;

/// What pass 1 keeps of a row besides its [`Entry`]: 16 bytes.
///
/// Not the amount as written: a valid line's is its amount to pay, and what
/// the rest add up to is kept per place ([`Rows::approved`]), so the totals
/// need no 16-byte `Decimal` a row.
#[derive(Debug, Clone, Copy)]
struct Facts {
    /// The amount to pay, when valid (0 otherwise).
    amount: Fen,
    /// Index into the roster's places.
    place: u32,
    /// 保障人数 when written (validation keeps it under 10,000), 0 when not.
    household_size: u16,
    /// [`Facts::VALID`], [`Facts::NOTED`], [`Facts::SKIPPED`].
    flags: u8,
}

impl Facts {
    /// The line passed validation (before reconcile and the ledger).
    const VALID: u8 = 1;
    /// Validation found something (a hold or a warning).
    const NOTED: u8 = 2;
    /// Already paid in an earlier run of the period (R04).
    const SKIPPED: u8 = 4;

    fn valid(&self) -> bool {
        self.flags & Facts::VALID != 0
    }

    fn noted(&self) -> bool {
        self.flags & Facts::NOTED != 0
    }

    fn skipped(&self) -> bool {
        self.flags & Facts::SKIPPED != 0
    }

    fn skip(&mut self) {
        self.flags |= Facts::SKIPPED;
    }

    /// The people a paid line counts for: its household, or one.
    fn people(&self) -> u64 {
        if self.household_size == 0 {
            1
        } else {
            u64::from(self.household_size)
        }
    }
}

/// One roster due in the period, as pass 1 read it.
struct Roster {
    program: Program,
    path: PathBuf,
    display: String,
    sheet: Option<String>,
    rules: Rules,
    /// The program's own rules (SPEC §9), asked of each row as it is read.
    row_rules: program_checks::RowRules,
    /// Its rows are `entries[start..start + len]`.
    start: usize,
    len: usize,
    /// Its checked rows, once pass 1 has read it.
    spill: Option<Spill>,
}

/// Everything pass 1 found for a period.
pub(crate) struct Prepared {
    pub period: Period,
    pub totals: RunTotals,
    /// Programs refused by R07.
    pub refused: HashSet<Program>,
    pub formats: BTreeMap<Program, Format>,
    /// The R07 exceptions (they lead the exception list).
    refusals: Vec<Exception>,
    rosters: Vec<Roster>,
    entries: Vec<Entry>,
    facts: Vec<Facts>,
    /// Sorted by index; each row's findings in the order they were made.
    findings: Vec<Finding>,
    changes: Vec<ChangeAt>,
    /// People paid in the last period and absent now, per program.
    dropped: BTreeMap<Program, Vec<Change>>,
    /// Where pass 2 keeps its exception log (beside pass 1's spill files).
    scratch: PathBuf,
    /// The approval lines read (their 文号 and approver go into the totals).
    approvals: Vec<crate::domain::Approval>,
    /// Total and sign-off rows skipped, per roster that had any.
    pub footers: Vec<SkippedFooters>,
}

/// The total and sign-off rows (合计, 制表人 …) of one roster, skipped as not people.
#[derive(Debug, Clone)]
pub(crate) struct SkippedFooters {
    pub program: Program,
    pub file: String,
    pub count: u64,
    /// The first few of them.
    pub rows: Vec<ingest::SkippedRow>,
}

/// What pass 2 collected besides the lines.
pub(crate) struct Replayed {
    pub exceptions: Exceptions,
    pub changes: Vec<Change>,
}

impl Prepared {
    pub fn held_lines(&self) -> u64 {
        self.totals.programs.values().map(|t| t.held.lines).sum()
    }

    pub fn warned_lines(&self) -> u64 {
        self.totals.programs.values().map(|t| t.warned).sum()
    }

    /// Lines pass 2 will pay, per program, in the order it will pay them.
    pub fn paid_amounts(&self, program: Program) -> impl Iterator<Item = Fen> + '_ {
        let refused = self.refused.contains(&program);
        self.rosters
            .iter()
            .filter(move |r| r.program == program && !refused)
            .flat_map(|r| r.start..r.start + r.len)
            .filter(|&i| self.entries[i].payable)
            .map(|i| self.facts[i].amount)
    }

    /// How many lines pass 2 will pay.
    pub fn paid_lines(&self) -> u64 {
        self.totals.programs.values().map(|t| t.paid.lines).sum()
    }

    /// Pass 2: reads pass 1's checked rows back and calls `pay` with each line to
    /// pay, in program order and roster order within a program.
    pub fn replay(
        &self,
        progress: &Progress,
        pay: &mut dyn FnMut(PaymentLine) -> Result<(), PipelineError>,
    ) -> Result<Replayed, PipelineError> {
        let mut log = ExceptionLog::create(&self.scratch)?;
        let logged = |e| io_err(&self.scratch)(e);
        for e in &self.refusals {
            log.push(e).map_err(logged)?;
        }
        let mut changes = Vec::new();
        let mut finding = 0usize;
        let mut change = 0usize;
        for r in &self.rosters {
            let label = crate::tr!("写出 {} {}", "writing {} {}", super::program_label(r.program), r.display);
            let mut bar = progress.bar(&label, Some(r.len as u64), Unit::Lines);
            let refused = self.refused.contains(&r.program);
            let spill = r.spill.as_ref().ok_or_else(|| internal(&r.display, 0, "was not read in pass 1"))?;
            let mut rows = spill.reader(r.program).map_err(io_err(&r.path))?;
            for i in r.start..r.start + r.len {
                let mut c = rows.next_row().map_err(|e| internal(&r.display, 0, &e.to_string()))?;
                if !self.same_as_pass_one(&c, i) {
                    return Err(internal(&r.display, c.row, "read back differently from pass 1"));
                }
                while finding < self.findings.len() && self.findings[finding].index == i {
                    apply(&mut c, &self.findings[finding]);
                    finding += 1;
                }
                while change < self.changes.len() && self.changes[change].index == i {
                    changes.push(change_of(&c, &self.changes[change]));
                    change += 1;
                }
                for e in &c.exceptions {
                    log.push(e).map_err(logged)?;
                }
                if c.line.is_some() != self.entries[i].payable {
                    return Err(internal(&r.display, c.row, "decided differently in pass 2"));
                }
                if let Some(line) = c.line.filter(|_| !refused) {
                    pay(line)?;
                }
                bar.tick();
            }
            bar.finish();
            changes.extend(self.dropped.get(&r.program).into_iter().flatten().cloned());
        }
        Ok(Replayed { exceptions: log.finish().map_err(logged)?, changes })
    }

    /// The row read back is the one pass 1 counted: same person, same validity,
    /// same amount.
    fn same_as_pass_one(&self, c: &Checked, i: usize) -> bool {
        let (e, f) = (&self.entries[i], &self.facts[i]);
        let amount = c.line.as_ref().map_or(Fen(0), |l| l.amount);
        c.id.as_ref().map_or(0, |id| id.key()) == e.id && c.line.is_some() == f.valid() && amount == f.amount
    }
}

/// Pass 2 disagrees with pass 1: a fault in this program, never in the roster.
fn internal(display: &str, row: u64, what: &str) -> PipelineError {
    PipelineError::Refused(crate::tr!(
        "{display} 第 {row} 行：核对过的行{what}（内部错误，什么都没有发放；请报告这个程序错误）",
        "{display} row {row}: the checked rows {what} (internal error, nothing was paid; please report it)"
    ))
}

fn apply(c: &mut Checked, f: &Finding) {
    if f.code == Code::R04 {
        // Already paid: never sent again, listed for the record.
        let ex = c.exception(f.code, f.field.code(), f.message.to_string());
        c.exceptions.push(ex);
        c.line = None;
    } else {
        c.hold(f.code, f.field, f.message.to_string());
    }
}

fn change_of(c: &Checked, at: &ChangeAt) -> Change {
    Change {
        program: c.program,
        id_number_masked: c.id_masked(),
        name: c.name.to_string(),
        kind: at.kind,
        previous_amount: at.previous,
        amount: at.amount,
    }
}

/// Pass 1: reads, validates, reconciles and totals every roster due in `period`.
/// With a ledger, also applies R04 (skip what is already paid), R06 and the
/// deceased the bank reported.
pub(crate) fn prepare(
    config: &Config,
    period: Period,
    ledger: Option<&dyn Ledger>,
    progress: &Progress,
) -> Result<Prepared, PipelineError> {
    let due = config.due_programs(period);
    if due.is_empty() {
        return Err(PipelineError::Refused(crate::tr!(
            "{period} 没有到期要发放的项目：请检查配置里各项目的发放周期（schedule）",
            "no program is due in {period}: check the schedules in the config"
        )));
    }
    let mut formats = BTreeMap::new();
    for p in &due {
        formats.insert(p.program, Format::load(&p.format, &config.formats_dir)?);
    }
    let approvals_path = config.resolve(&config.approvals, period);
    let approvals = ingest::read_approvals(&approvals_path, &config.display_path(&config.approvals, period))?;
    let stops = read_stops(config, period)?;
    let lists = program_checks::load_checklists(config, period)?;

    let (read, payees) = read_all(config, period, &due, &formats, progress, (&stops, &lists))?;
    let mut p = Prepared {
        period,
        totals: RunTotals::default(),
        refused: HashSet::new(),
        formats,
        refusals: Vec::new(),
        rosters: Vec::new(),
        entries: Vec::new(),
        facts: Vec::new(),
        findings: Vec::new(),
        changes: Vec::new(),
        dropped: BTreeMap::new(),
        scratch: config.output_dir.clone(),
        approvals: approvals.clone(),
        footers: Vec::new(),
    };
    let total_rows: usize = read.iter().map(|(_, rows)| rows.entries.len()).sum();
    let mut places: Vec<Vec<(Text, Text)>> = Vec::new();
    let mut approved: Vec<Vec<Decimal>> = Vec::new();
    let (mut entries, mut facts) = (Vec::with_capacity(read.len()), Vec::with_capacity(read.len()));
    let mut checked = reconcile::RosterChecks::default();
    let mut start = 0;
    for (roster, mut rows) in read {
        let (count, total) = rows.written;
        let approval = approvals.iter().find(|a| a.program == roster.program);
        if let Some(e) = reconcile::check_approval(roster.program, &roster.display, approval, count, total) {
            p.refused.insert(roster.program);
            p.refusals.push(e);
        }
        if rows.footers.0 > 0 {
            let (count, rows) = std::mem::take(&mut rows.footers);
            tracing::info!(
                event = "roster_rows_skipped",
                program = roster.program.code(),
                file = %roster.display,
                rows = count,
                "total and sign-off rows skipped (not people, not counted against the approval)"
            );
            p.footers.push(SkippedFooters { program: roster.program, file: roster.display.clone(), count, rows });
        }
        let (spill, len) = (rows.spill.take(), rows.entries.len());
        checked.append(std::mem::take(&mut rows.checked), start);
        p.rosters.push(Roster { start, len, spill, ..roster });
        start += len;
        places.push(rows.places);
        approved.push(rows.approved);
        entries.push(rows.entries);
        facts.push(rows.facts);
    }
    tracing::debug!(event = "phase", phase = "rosters_read", rows = total_rows);
    let starts: Vec<usize> = p.rosters.iter().map(|r| r.start).collect();
    let mut payees = payees::Merged::new(payees, starts, total_rows).map_err(io_err(&config.output_dir))?;
    // The rows' entries are joined into one vector, then their facts on another
    // thread while this one reconciles: at the peak of a join only one of them
    // is held twice over (a row's part and its copy).
    p.entries = concat(entries, total_rows);
    std::thread::scope(|s| {
        let facts = s.spawn(move || concat(facts, total_rows));
        let day = period.first_day();
        p.findings = reconcile::reconcile_with(&mut p.entries, checked, &mut payees, &config.exclusive, &stops, day);
        p.facts = facts.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
    });
    payees.finish().map_err(io_err(&config.output_dir))?;
    fault::point("reconcile");
    tracing::debug!(event = "phase", phase = "reconciled");
    if let Some(ledger) = ledger {
        p.hold_reported_deceased(ledger)?;
        for r in 0..p.rosters.len() {
            p.apply_ledger_checks(ledger, r, config)?;
        }
        tracing::debug!(event = "phase", phase = "ledger_checked");
    }
    p.findings.sort_by_key(|f| f.index); // stable: each row's findings stay in order
    p.changes.sort_by_key(|c| c.index);
    p.totals = p.total(&places, &approved);
    Ok(p)
}

/// The rosters' vectors as one, sized once: grown by doubling, it would hold up
/// to twice the rows at the peak.
fn concat<T>(parts: Vec<Vec<T>>, total: usize) -> Vec<T> {
    let mut all = Vec::with_capacity(total);
    for mut part in parts {
        all.append(&mut part);
    }
    all
}

/// The rows of one roster as pass 1 keeps them.
#[derive(Default)]
struct Rows {
    entries: Vec<Entry>,
    facts: Vec<Facts>,
    places: Vec<(Text, Text)>,
    /// Per place, its rows' amounts as written (what the approval covers).
    approved: Vec<Decimal>,
    spill: Option<Spill>,
    /// What reconcile finds roster by roster ([`reconcile::check_roster`]).
    checked: reconcile::RosterChecks,
    /// Count and total as written ([`Rows::sum_written`]).
    written: (u64, Decimal),
    /// Total and sign-off rows the roster had (not people, not counted).
    footers: (u64, Vec<ingest::SkippedRow>),
}

impl Rows {
    /// Count and total as written (what the approval must match), summed on
    /// the thread that read the roster.
    fn sum_written(&mut self) {
        self.written = (self.facts.len() as u64, self.approved.iter().sum());
    }
}

/// Every roster's rows in the order of `due`, and the payable lines' payees
/// (as each reading thread kept them, see [`payees`]).
type ReadAll = (Vec<(Roster, Rows)>, Vec<payees::PayeeRuns>);

/// Reads every due roster, two at a time (the rosters do not depend on each
/// other), returning them in the order of `due`.
fn read_all(
    config: &Config,
    period: Period,
    due: &[&ProgramConfig],
    formats: &BTreeMap<Program, Format>,
    progress: &Progress,
    (stops, lists): (&[StopEntry], &[reconcile::program_rules::CheckList]),
) -> Result<ReadAll, PipelineError> {
    let mut rosters: Vec<Roster> = Vec::with_capacity(due.len());
    for p in due {
        rosters.push(Roster {
            program: p.program,
            path: config.resolve(&p.roster, period),
            display: config.display_path(&p.roster, period),
            sheet: p.sheet.clone(),
            rules: Rules { cap: p.cap, text: formats[&p.program].text_rules() },
            row_rules: program_checks::RowRules::of(config, p, period, stops)?,
            start: 0,
            len: 0,
            spill: None,
        });
    }
    // Costliest first, each thread taking the next roster when it is done with
    // one. A workbook costs about ten times a text file of its size to read (it
    // is compressed XML): ranked by bytes alone, a 50,000-row .xlsx came last and
    // kept one thread reading while the other waited.
    let cost = |r: &Roster| {
        let (bytes, workbook) = size_of(r);
        bytes.saturating_mul(if workbook { 10 } else { 1 })
    };
    let mut order: Vec<usize> = (0..rosters.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(cost(&rosters[i])));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let budget = Budget::default();
    let dir = &config.output_dir;
    let take_turns = || -> (Vec<(usize, Result<Rows, PipelineError>)>, payees::PayeeRuns) {
        let (mut out, mut payees) = (Vec::new(), payees::PayeeRuns::new(dir));
        while let Some(&i) = order.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) {
            let kept = Kept { budget: &budget, payees: &mut payees, roster: i };
            out.push((i, read_one(&rosters[i], dir, progress, kept, lists)));
        }
        (out, payees)
    };
    let (mut results, payees) = std::thread::scope(|s| {
        let other = s.spawn(take_turns);
        let (mut a, mine) = take_turns();
        let (b, theirs) = other.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        a.extend(b);
        (a, vec![mine, theirs])
    });
    results.sort_by_key(|(i, _)| *i);
    let read: Result<Vec<_>, PipelineError> =
        rosters.into_iter().zip(results).map(|(r, (_, rows))| rows.map(|rows| (r, rows))).collect();
    Ok((read?, payees))
}

/// Where one roster's reading keeps what outlives it besides its rows: the
/// command's memory budget and the thread's payees (roster `roster` of `due`).
struct Kept<'a> {
    budget: &'a Budget,
    payees: &'a mut payees::PayeeRuns,
    roster: usize,
}

// R01 and R05 keep a row's index in 32 bits.
const _: () = assert!(ingest::limits::ROSTER_LINES < u32::MAX as u64);

/// What all the rosters of one command may keep in memory together (SPEC §12):
/// each line keeps 40 bytes ([`Entry`] and [`Facts`]), and each distinct place
/// its names. Shared by the threads that read rosters.
#[derive(Default)]
struct Budget {
    lines: std::sync::atomic::AtomicU64,
    place_bytes: std::sync::atomic::AtomicU64,
}

impl Budget {
    /// Counts one roster row against the limits; refuses the roster past them.
    fn take(&self, row: &crate::domain::RosterRow, display: &str) -> Result<(), PipelineError> {
        let lines = self.lines.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if lines > ingest::limits::ROSTER_LINES {
            let n = ingest::limits::ROSTER_LINES;
            let limit = format!("{n} roster lines one command reads (all rosters together)");
            return Err(too_large(display, row.pos.row, format!("more than {n} lines"), limit));
        }
        Ok(())
    }

    /// Counts the names of a place seen for the first time.
    fn new_place(&self, bytes: usize, display: &str, row: u64) -> Result<(), PipelineError> {
        let total = self.place_bytes.fetch_add(bytes as u64, std::sync::atomic::Ordering::Relaxed) + bytes as u64;
        if total > ingest::limits::PLACE_NAME_BYTES {
            let limit = format!(
                "{} of distinct township and village names",
                ingest::limits::bytes(ingest::limits::PLACE_NAME_BYTES)
            );
            return Err(too_large(display, row, "more township and village names than that".to_string(), limit));
        }
        Ok(())
    }
}

fn too_large(display: &str, row: u64, what: String, limit: String) -> PipelineError {
    let place = format!("row {row}");
    PipelineError::Ingest(ingest::IngestError::TooLarge { file: display.to_string(), place, what, limit })
}

/// A roster's size in bytes, and whether it is a workbook.
fn size_of(r: &Roster) -> (u64, bool) {
    let bytes = std::fs::metadata(&r.path).map_or(0, |m| m.len());
    let workbook = r.path.extension().is_some_and(|e| e.eq_ignore_ascii_case("xlsx") || e.eq_ignore_ascii_case("xls"));
    (bytes, workbook)
}

/// The fewest bytes a payable roster row takes: an 18-character ID number, an
/// account and an amount, with separators. Only used to size vectors: a roster
/// of shorter (broken) rows just has its vectors grow.
const MIN_ROW_BYTES: u64 = 40;
/// Rows reserved up front at most: 160 MB of address space, of which only the
/// rows read take memory. A province's three-million-row roster fills its
/// vectors without the copies of doubling them (each copy holding the rows
/// twice over while it lasts).
const MAX_RESERVED_ROWS: usize = 1 << 22;

/// Pass 1 over one roster; its checked rows are spilled into `spill_dir`.
///
/// A text roster's size sizes the row vectors up front: grown by doubling, a
/// 300,000-row roster's were copied and faulted in several times over. A
/// payable row takes at least [`MIN_ROW_BYTES`] of text, so this is mostly an
/// upper bound. (A workbook's rows cannot be told from its compressed size; its
/// vectors grow.)
fn read_one(
    r: &Roster,
    spill_dir: &std::path::Path,
    progress: &Progress,
    kept: Kept<'_>,
    lists: &[reconcile::program_rules::CheckList],
) -> Result<Rows, PipelineError> {
    let Kept { budget, payees, roster } = kept;
    let cx = r.row_rules.context(lists);
    let rows_at_most = match size_of(r) {
        (bytes, false) => usize::try_from(bytes / MIN_ROW_BYTES).unwrap_or(usize::MAX).min(MAX_RESERVED_ROWS),
        (_, true) => 0,
    };
    let mut rows =
        Rows { entries: Vec::with_capacity(rows_at_most), facts: Vec::with_capacity(rows_at_most), ..Rows::default() };
    let mut place_index: FastMap<(Text, Text), u32> = FastMap::default();
    let label = crate::tr!("读入 {} {}", "reading {} {}", super::program_label(r.program), r.display);
    let total = match size_of(r) {
        (_, false) if progress.shown() => super::progress::count_lines(&r.path),
        _ => None,
    };
    let mut bar = progress.bar(&label, total, Unit::Lines);
    let mut spill = SpillWriter::create(spill_dir).map_err(io_err(spill_dir))?;
    let mut spilled = Ok(());
    let mut over: Option<PipelineError> = None;
    let (_, skipped) = ingest::read_roster_skipping(&r.path, &r.display, r.program, r.sheet.as_deref(), &mut |row| {
        if over.is_some() {
            return;
        }
        if let Err(e) = budget.take(&row, &r.display) {
            over = Some(e);
            return;
        }
        let mut c = validate::check_row(&row, &r.rules);
        reconcile::program_rules::check_row_rules(&mut c, &cx);
        if spilled.is_ok() {
            spilled = spill.push(&c);
        }
        // The place's names move into the index; the entry does not need them.
        let key = (std::mem::take(&mut c.township), std::mem::take(&mut c.village));
        let next = place_index.len() as u32;
        let place = *place_index.entry(key).or_insert_with_key(|k| {
            rows.places.push(k.clone());
            rows.approved.push(Decimal::ZERO);
            if let Err(e) = budget.new_place(k.0.len() + k.1.len(), &r.display, c.row) {
                over = Some(e);
            }
            next
        });
        rows.approved[place as usize] += c.written_amount;
        if let Some(payee) = reconcile::Payee::of(&c) {
            if let Err(e) = payees.push(payee, roster, rows.entries.len()) {
                over.get_or_insert(io_err(spill_dir)(e));
            }
        }
        rows.entries.push(Entry::of(&c));
        let household_size =
            c.line.as_ref().and_then(|l| l.household_size).map_or(0, |n| u16::try_from(n).unwrap_or(0));
        let flags =
            if c.line.is_some() { Facts::VALID } else { 0 } | if c.exceptions.is_empty() { 0 } else { Facts::NOTED };
        rows.facts.push(Facts { amount: c.line.as_ref().map_or(Fen(0), |l| l.amount), place, household_size, flags });
        bar.tick();
    })?;
    if let Some(e) = over {
        return Err(e);
    }
    spilled.map_err(io_err(spill_dir))?;
    rows.footers = (skipped.count, skipped.kept);
    rows.spill = Some(spill.finish().map_err(io_err(spill_dir))?);
    rows.checked = reconcile::check_roster(&rows.entries);
    rows.sum_written();
    bar.finish();
    fault::point("ingest");
    tracing::debug!(event = "phase", phase = "roster_read", program = r.program.code(), rows = rows.entries.len());
    Ok(rows)
}

/// The people the programs exclusive with `program` paid for a month a payment
/// of `program` in `period` covers, per (program, period) of theirs; a program
/// the config does not know pays monthly.
pub(super) fn paid_by_exclusive(
    ledger: &dyn Ledger,
    config: &Config,
    program: Program,
    period: Period,
) -> Result<Vec<reconcile::PaidElsewhere>, PipelineError> {
    let mut out = Vec::new();
    let mut known = None;
    for other in reconcile::exclusive_partners(program, &config.exclusive) {
        let known = match &known {
            Some(k) => k,
            None => known.insert(ledger.periods()?),
        };
        let (due, other_due) = (due_months(config, program), due_months(config, other));
        for q in reconcile::periods_to_compare(&due, period, &other_due, known) {
            out.push(reconcile::PaidElsewhere { program: other, period: q, people: ledger.live_people(other, q)? });
        }
    }
    Ok(out)
}

/// A program's schedule as the months it pays in.
fn due_months(config: &Config, program: Program) -> reconcile::DueMonths {
    match config.programs.get(&program) {
        Some(p) => reconcile::DueMonths::from_fn(|month| p.schedule.is_due(Period { year: 2000, month })),
        None => reconcile::DueMonths::MONTHLY,
    }
}

pub(super) fn read_stops(config: &Config, period: Period) -> Result<Vec<StopEntry>, PipelineError> {
    let Some(pattern) = &config.stops else { return Ok(Vec::new()) };
    // A configured stop list that is missing refuses the run (SPEC §8): paying
    // without it could pay the dead. An empty list (header only) is read as such.
    let path = config.resolve(pattern, period);
    let stops = ingest::read_stops(&path, &config.display_path(pattern, period))?;
    Ok(stops
        .into_iter()
        .map(|s| StopEntry {
            id_number: s.id_number,
            reason: s.reason.code().to_string(),
            effective: s.effective,
            program: s.program,
        })
        .collect())
}

impl Prepared {
    /// R03 from the bank's own word ([`reconcile::hold_reported_deceased`]).
    fn hold_reported_deceased(&mut self, ledger: &dyn Ledger) -> Result<(), PipelineError> {
        let deceased: FastMap<u64, String> =
            ledger.reported_deceased()?.into_iter().filter_map(|(id, r)| id_key(&id).map(|k| (k, r))).collect();
        reconcile::hold_reported_deceased(&mut self.entries, &deceased, &mut self.findings);
        Ok(())
    }

    /// R04, R02 across runs and R06 against the ledger, and the changes against
    /// the last paid period, for roster `r`: the ledger's sets are read here, the
    /// rules are [`reconcile`]'s.
    fn apply_ledger_checks(&mut self, ledger: &dyn Ledger, r: usize, config: &Config) -> Result<(), PipelineError> {
        let (program, start, len) = (self.rosters[r].program, self.rosters[r].start, self.rosters[r].len);
        let rows = start..start + len;
        let paid = ledger.paid_people(program, self.period)?;
        let skipped = reconcile::skip_already_paid(
            &mut self.entries[rows.clone()],
            start,
            &paid,
            self.period,
            &mut self.findings,
        );
        for i in skipped {
            self.facts[i].skip();
        }
        let elsewhere = ledger.paid_elsewhere(program, self.period)?;
        let period = self.period.to_string();
        self.findings.extend(reconcile::hold_paid_elsewhere(
            &mut self.entries[rows.clone()],
            start,
            &elsewhere,
            &period,
        ));
        let elsewhere = paid_by_exclusive(ledger, config, program, self.period)?;
        let pairs = &config.exclusive;
        reconcile::hold_paid_by_exclusive(
            &mut self.entries[rows.clone()],
            start,
            program,
            pairs,
            &elsewhere,
            &mut self.findings,
        );
        self.apply_program_rules(ledger, r, config)?;
        let Some((prev_period, amounts)) = ledger.last_paid_before(program, self.period)? else { return Ok(()) };
        let previous = reconcile::Previous { period: prev_period, amounts: &amounts };
        let facts = &self.facts;
        let seen_now = reconcile::compare_with_previous(
            &self.entries[rows],
            start,
            &|i| facts[i].amount,
            &previous,
            config.change_warn_share,
            &mut self.changes,
            &mut self.findings,
        );
        let gone = reconcile::dropped_since(&amounts, &seen_now);
        let named = ledger.people_named(program, prev_period, &gone)?;
        self.dropped.entry(program).or_default().extend(reconcile::dropped_changes(program, &amounts, &gone, named));
        Ok(())
    }

    /// Totals per program and place, in one pass over the rows. Lines of a
    /// refused program count as held. `self.findings` must be in row order (as
    /// `prepare` leaves them): a row's findings are found by walking them
    /// alongside the rows, not by a set lookup per row.
    ///
    /// What is held adds up as written: a place's amount as written
    /// (`approved`) less what it pays and what was paid before (R04), whose
    /// amounts as written are their amounts to pay.
    fn total(&self, places: &[Vec<(Text, Text)>], approved: &[Vec<Decimal>]) -> RunTotals {
        let mut t = RunTotals::default();
        let mut noted = self.findings.iter().map(|f| f.index).peekable();
        for (r, roster) in self.rosters.iter().enumerate() {
            let refused = self.refused.contains(&roster.program);
            let mut by_place: Vec<PlaceTotals> = vec![PlaceTotals::default(); places[r].len()];
            let mut skipped_fen: Vec<Fen> = vec![Fen(0); places[r].len()];
            let prog = t.programs.entry(roster.program).or_default();
            prog.refused = refused;
            prog.approval = self.approvals.iter().find(|a| a.program == roster.program).cloned();
            prog.approved.lines += roster.len as u64;
            for i in roster.start..roster.start + roster.len {
                let (e, f) = (&self.entries[i], &self.facts[i]);
                let has_finding = {
                    while noted.next_if(|&n| n < i).is_some() {}
                    noted.peek() == Some(&i)
                };
                let place = &mut by_place[f.place as usize];
                if f.skipped() {
                    prog.skipped.add_fen(f.amount);
                    skipped_fen[f.place as usize] += f.amount;
                } else if e.payable && !refused {
                    prog.paid.add_fen(f.amount);
                    place.paid.add_fen(f.amount);
                    place.households += 1;
                    place.people += f.people();
                    if f.noted() || has_finding {
                        prog.warned += 1;
                    }
                } else {
                    prog.held.lines += 1;
                    place.held.lines += 1;
                }
            }
            for (n, place) in by_place.iter_mut().enumerate() {
                place.held.amount = approved[r][n] - place.paid.amount - skipped_fen[n].to_yuan();
                prog.held.amount += place.held.amount;
                prog.approved.amount += approved[r][n];
            }
            // Every place has a row (the index is built from them).
            for ((township, village), v) in places[r].iter().zip(by_place) {
                let key =
                    PlaceKey { program: roster.program, township: township.to_string(), village: village.to_string() };
                t.places.entry(key).or_default().absorb(&v);
            }
        }
        t
    }
}

#[cfg(test)]
mod tests;
