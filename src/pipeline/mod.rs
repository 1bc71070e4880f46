//! The commands of SPEC §7, each a walk through the stages in order. This is the
//! only module that knows them all; the stages know only the domain types.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use crate::bankfile::{BankFileError, Format};
use crate::config::{Config, ProgramConfig};
use crate::domain::{Change, ChangeKind, Code, Exception, Fen, Field, PaymentLine, Period, Program};
use crate::ingest::{self, IngestError};
use crate::ledger::{Ledger, LedgerError};
use crate::reconcile::{self, StopEntry};
use crate::totals::{PlaceKey, PlaceTotals, ProgramTotals, RunTotals};
use crate::validate::{self, Checked, Rules};

mod admin;
mod check;
pub mod fault;
mod publish;
mod receipts;
mod reissue;
mod run;
mod watch;

pub use admin::{init, keygen, status, verify};
pub use check::check;
pub use receipts::{returns, Flag};
pub use reissue::reissue;
pub use run::run;
pub use watch::{watch, WatchOptions};

/// Why a command stopped without doing its work (exit status 1, or 3 for a lock).
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("bank file: {0}")]
    BankFile(#[from] BankFileError),
    #[error("signing: {0}")]
    Sign(#[from] crate::sign::SignError),
    #[error("report: {0}")]
    Report(#[from] crate::report::ReportError),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Refused(String),
}

impl PipelineError {
    /// Exit status of SPEC §7: 3 when another run holds the lock, else 1.
    pub fn exit_code(&self) -> u8 {
        match self {
            PipelineError::Ledger(LedgerError::Locked(_)) => 3,
            _ => 1,
        }
    }
}

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> PipelineError {
    let path = path.into();
    move |source| PipelineError::Io { path, source }
}

/// How a command ended, for the exit status and the one-screen summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// True when lines were held, receipts flagged or failures found (exit 2).
    pub needs_person: bool,
    /// What to print: a few lines a clerk reads.
    pub summary: Vec<String>,
}

impl Outcome {
    pub fn exit_code(&self) -> u8 {
        if self.needs_person {
            2
        } else {
            0
        }
    }
}

/// Everything ingest → validate → reconcile → totals found for a period.
pub(crate) struct Prepared {
    pub period: Period,
    pub rows: Vec<Checked>,
    pub exceptions: Vec<Exception>,
    pub totals: RunTotals,
    pub changes: Vec<Change>,
    /// Programs refused by R07.
    pub refused: HashSet<Program>,
    pub formats: BTreeMap<Program, Format>,
}

impl Prepared {
    /// Lines to pay now, in roster order.
    pub fn payable(&self) -> impl Iterator<Item = &PaymentLine> {
        self.rows.iter().filter(|c| !self.refused.contains(&c.program)).filter_map(|c| c.line.as_ref())
    }

    pub fn held_lines(&self) -> u64 {
        self.totals.programs.values().map(|t| t.held.lines).sum()
    }

    pub fn warned_lines(&self) -> u64 {
        self.totals.programs.values().map(|t| t.warned).sum()
    }
}

/// Reads, validates, reconciles and totals every roster due in `period`.
/// With a ledger, also applies R04 (skip what is already paid) and R06.
pub(crate) fn prepare(
    config: &Config,
    period: Period,
    ledger: Option<&dyn Ledger>,
    progress: &crate::pipeline::Progress,
) -> Result<Prepared, PipelineError> {
    let due = config.due_programs(period);
    if due.is_empty() {
        return Err(PipelineError::Refused(format!(
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

    let mut rows = Vec::new();
    let mut written: BTreeMap<Program, (u64, rust_decimal::Decimal)> = BTreeMap::new();
    for p in &due {
        let rules = Rules { cap: p.cap, text: formats[&p.program].text_rules() };
        let path = config.resolve(&p.roster, period);
        let display = config.display_path(&p.roster, period);
        let mut bar = progress.spinner(&format!("{} {}", p.program, display));
        let entry = written.entry(p.program).or_default();
        ingest::read_roster(&path, &display, p.program, p.sheet.as_deref(), &mut |row| {
            let c = validate::check_row(&row, &rules);
            entry.0 += 1;
            entry.1 += c.written_amount;
            rows.push(c);
            bar.tick();
        })?;
        bar.finish();
        fault::point("ingest");
    }
    reconcile::reconcile(&mut rows, &stops, period.first_day());
    fault::point("reconcile");

    let mut exceptions = Vec::new();
    let mut refused = HashSet::new();
    for p in &due {
        let (count, total) = written.get(&p.program).copied().unwrap_or_default();
        let approval = approvals.iter().find(|a| a.program == p.program);
        if let Some(e) =
            reconcile::check_approval(p.program, &config.display_path(&p.roster, period), approval, count, total)
        {
            refused.insert(p.program);
            exceptions.push(e);
        }
    }
    let mut changes = Vec::new();
    if let Some(ledger) = ledger {
        hold_reported_deceased(ledger, &mut rows)?;
        for p in &due {
            apply_ledger_checks(ledger, p, period, config, &mut rows, &mut changes)?;
        }
    }
    let totals = total(&rows, &refused);
    debug_assert!(totals.programs.values().all(ProgramTotals::balances));
    // Totals were the last reader of the rows' exceptions: move them, not copy.
    for c in &mut rows {
        exceptions.append(&mut c.exceptions);
    }
    Ok(Prepared { period, rows, exceptions, totals, changes, refused, formats })
}

fn read_stops(config: &Config, period: Period) -> Result<Vec<StopEntry>, PipelineError> {
    let Some(pattern) = &config.stops else { return Ok(Vec::new()) };
    let path = config.resolve(pattern, period);
    if !path.exists() {
        return Ok(Vec::new());
    }
    let stops = ingest::read_stops(&path, &config.display_path(pattern, period))?;
    Ok(stops
        .into_iter()
        .map(|s| StopEntry { id_number: s.id_number, reason: s.reason.code().to_string(), effective: s.effective })
        .collect())
}

/// R03 from the bank's own word: a person a receipt reported deceased (MD07) is
/// held in every later run until the stop list or a settled correction says otherwise.
fn hold_reported_deceased(ledger: &dyn Ledger, rows: &mut [Checked]) -> Result<(), PipelineError> {
    let deceased = ledger.reported_deceased()?;
    if deceased.is_empty() {
        return Ok(());
    }
    for c in rows.iter_mut().filter(|c| c.line.is_some()) {
        let Some(reference) = c.id.as_ref().and_then(|id| deceased.get(id.as_str())) else { continue };
        let msg = format!("银行回盘（{reference}）报告此人已死亡（MD07），暂停发放：请核查死亡信息并更新停发名单；如属误报，更正发放成功后自动恢复");
        c.hold(Code::R03, Field::IdNumber, msg);
    }
    Ok(())
}

/// R04 and R06 against the ledger, and the changes list against the last paid period.
fn apply_ledger_checks(
    ledger: &dyn Ledger,
    p: &ProgramConfig,
    period: Period,
    config: &Config,
    rows: &mut [Checked],
    changes: &mut Vec<Change>,
) -> Result<(), PipelineError> {
    let paid = ledger.paid_people(p.program, period)?;
    let previous = ledger.last_paid_before(p.program, period)?;
    let mut seen_now = HashSet::new();
    for c in rows.iter_mut().filter(|c| c.program == p.program) {
        let Some(id) = c.id.as_ref().map(|i| i.as_str().to_string()) else { continue };
        seen_now.insert(id.clone());
        if c.line.is_some() && paid.contains(&id) {
            c.line = None;
            let msg = format!("{period}已发放（或在途），不再重复发放");
            let ex = c.exception(Code::R04, "id_number", msg);
            c.exceptions.push(ex);
            continue;
        }
        let Some((prev_period, prev)) = &previous else { continue };
        let Some(line) = &c.line else { continue };
        match prev.get(&id) {
            None => changes.push(change(c, ChangeKind::New, None, Some(line.amount))),
            Some((before, _)) if *before != line.amount => {
                changes.push(change(c, ChangeKind::AmountChanged, Some(*before), Some(line.amount)));
                let diff = (line.amount.to_yuan() - before.to_yuan()).abs();
                if diff > before.to_yuan() * config.change_warn_share {
                    let msg = format!(
                        "金额由{prev_period}的{before}元变为{}元，变化超过{}%：照常发放，请核实",
                        line.amount,
                        config.change_warn_share * rust_decimal::Decimal::ONE_HUNDRED
                    );
                    let ex = c.exception(Code::R06, "amount", msg);
                    c.exceptions.push(ex);
                }
            }
            Some(_) => {}
        }
    }
    if let Some((_, prev)) = &previous {
        let mut dropped: Vec<_> = prev.iter().filter(|(id, _)| !seen_now.contains(*id)).collect();
        dropped.sort();
        for (id, (amount, name)) in dropped {
            changes.push(Change {
                program: p.program,
                id_number_masked: crate::domain::mask_id(id),
                name: name.clone(),
                kind: ChangeKind::Dropped,
                previous_amount: Some(*amount),
                amount: None,
            });
        }
    }
    Ok(())
}

fn change(c: &Checked, kind: ChangeKind, previous: Option<Fen>, amount: Option<Fen>) -> Change {
    Change {
        program: c.program,
        id_number_masked: c.id_masked(),
        name: c.name.clone(),
        kind,
        previous_amount: previous,
        amount,
    }
}

/// Totals per program and place. Lines of a refused program count as held.
///
/// Places are summed under borrowed keys and only then copied into the
/// (owned-key) totals: one key per village, not two strings per row.
fn total(rows: &[Checked], refused: &HashSet<Program>) -> RunTotals {
    let mut t = RunTotals::default();
    let mut places: HashMap<(Program, &str, &str), PlaceTotals> = HashMap::new();
    for c in rows {
        let prog = t.programs.entry(c.program).or_default();
        prog.refused = refused.contains(&c.program);
        prog.approved.add(c.written_amount);
        let place = places.entry((c.program, c.township.as_str(), c.village.as_str())).or_default();
        // R04 is the only exception that marks a row as paid in an earlier run.
        if c.exceptions.iter().any(|e| e.code == Code::R04) {
            prog.skipped.add(c.written_amount);
            continue;
        }
        match (&c.line, prog.refused) {
            (Some(line), false) => {
                prog.paid.add_fen(line.amount);
                place.paid.add_fen(line.amount);
                place.households += 1;
                place.people += line.household_size.unwrap_or(1) as u64;
                if !c.exceptions.is_empty() {
                    prog.warned += 1;
                }
            }
            _ => {
                prog.held.add(c.written_amount);
                place.held.add(c.written_amount);
            }
        }
    }
    t.places = places
        .into_iter()
        .map(|((program, township, village), v)| {
            (PlaceKey { program, township: township.to_string(), village: village.to_string() }, v)
        })
        .collect();
    t
}

/// A progress display on a terminal, nothing under cron.
pub struct Progress {
    enabled: bool,
}

impl Progress {
    pub fn new(enabled: bool) -> Progress {
        Progress { enabled }
    }

    pub(crate) fn spinner(&self, what: &str) -> Spinner {
        if !self.enabled {
            return Spinner { bar: None, n: 0 };
        }
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} {pos} 行 ({per_sec})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.set_message(what.to_string());
        Spinner { bar: Some(bar), n: 0 }
    }
}

pub(crate) struct Spinner {
    bar: Option<indicatif::ProgressBar>,
    n: u64,
}

impl Spinner {
    fn tick(&mut self) {
        self.n += 1;
        if self.n.is_multiple_of(4096) {
            if let Some(b) = &self.bar {
                b.set_position(self.n);
            }
        }
    }

    fn finish(self) {
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}

/// One line per program: what was approved, paid, held.
pub(crate) fn summary_lines(p: &Prepared) -> Vec<String> {
    let mut out = Vec::new();
    for (program, t) in &p.totals.programs {
        let state = if t.refused { "  【R07 不符，整个项目不发放】" } else { "" };
        out.push(format!(
            "{:<9} 审批 {:>6} 笔 {:>14} 元 | 发放 {:>6} 笔 {:>14} 元 | 暂缓 {:>5} 笔 {:>12} 元 | 已发跳过 {:>5} 笔{state}",
            program.code(),
            t.approved.lines,
            fmt2(t.approved.amount),
            t.paid.lines,
            fmt2(t.paid.amount),
            t.held.lines,
            fmt2(t.held.amount),
            t.skipped.lines,
        ));
    }
    out
}

/// A decimal with at least two places (held amounts keep any extra places as written).
pub(crate) fn fmt2(d: rust_decimal::Decimal) -> String {
    if d.scale() < 2 {
        let mut x = d;
        x.rescale(2);
        x.to_string()
    } else {
        d.to_string()
    }
}
