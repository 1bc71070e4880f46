//! Pass 1's part of SPEC §9: what the program rules need from files (check
//! lists, institutions, the stop list's deaths) and from the ledger (what was
//! paid this year, for a covered month, before a death). The rules themselves
//! are [`reconcile::program_rules`]'s; this only reads and hands over.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::{PipelineError, Prepared};
use crate::config::{Config, ProgramConfig};
use crate::domain::{id_key, Fen, Period, Program};
use crate::ingest;
use crate::ledger::Ledger;
use crate::reconcile::program_rules::{self, CheckList, Institutions, ProgramRules, RowContext};
use crate::reconcile::{self, FastMap, StopEntry};

/// What one roster's rows are checked against as they are read.
pub(super) struct RowRules {
    rules: ProgramRules,
    institutions: Option<Institutions>,
    period_start: chrono::NaiveDate,
    /// People on the stop list for death (this program's or every program's).
    dead: HashSet<u64>,
}

impl RowRules {
    pub(super) fn of(
        config: &Config,
        p: &ProgramConfig,
        period: Period,
        stops: &[StopEntry],
    ) -> Result<RowRules, PipelineError> {
        let institutions = match &p.rules.institutions_file {
            None => None,
            Some(pattern) => {
                let path = config.resolve(pattern, period);
                let list = ingest::read_institutions(&path, &config.display_path(pattern, period))?;
                Some(Institutions { by_account: list.into_iter().map(|i| (i.account, i.name)).collect() })
            }
        };
        let dead = stops
            .iter()
            .filter(|s| s.reason == "death" && s.program.is_none_or(|q| q == p.program))
            .filter_map(|s| id_key(&s.id_number))
            .collect();
        Ok(RowRules { rules: p.rules.clone(), institutions, period_start: period.first_day(), dead })
    }

    pub(super) fn context<'a>(&'a self, lists: &'a [CheckList]) -> RowContext<'a> {
        RowContext {
            rules: &self.rules,
            institutions: self.institutions.as_ref(),
            period_start: self.period_start,
            lists,
            dead: &self.dead,
        }
    }
}

/// Reads every `[[checklists]]` file. A configured list that is missing
/// refuses the run, as the stop list does: paying without it could pay the
/// people it names.
pub(super) fn load_checklists(config: &Config, period: Period) -> Result<Vec<CheckList>, PipelineError> {
    let mut out = Vec::new();
    for c in &config.checklists {
        let path = config.resolve(&c.file, period);
        let listed = ingest::read_checklist(&path, &config.display_path(&c.file, period))?;
        let people = listed.into_iter().filter_map(|l| id_key(&l.id_number).map(|k| (k, (l.date, l.note)))).collect();
        out.push(CheckList { name: c.name.clone(), hold: c.hold, programs: c.programs.clone(), people });
    }
    Ok(out)
}

impl Prepared {
    /// R04 for line types other than basic, A04 (back pay for a month paid), the
    /// funeral amount (A03) and the annual cap (A02) for roster `r`.
    pub(super) fn apply_program_rules(
        &mut self,
        ledger: &dyn Ledger,
        r: usize,
        config: &Config,
    ) -> Result<(), PipelineError> {
        let (program, start, len) = (self.rosters[r].program, self.rosters[r].start, self.rosters[r].len);
        let Some(pc) = config.programs.get(&program) else { return Ok(()) };
        let rows = start..start + len;
        let period = self.period;
        if self.entries[rows.clone()].iter().any(|e| e.kind != 0) {
            let paid = ledger.paid_other_lines(program, period)?;
            let skipped = reconcile::skip_other_lines_already_paid(
                &mut self.entries[rows.clone()],
                start,
                &paid,
                period,
                &mut self.findings,
            );
            for i in skipped {
                self.facts[i].skip();
            }
            let mut cache: HashMap<Period, Arc<HashSet<u64>>> = HashMap::new();
            let mut failed = None;
            program_rules::hold_back_pay_already_paid(
                &mut self.entries[rows.clone()],
                start,
                &mut |month| {
                    if let Some(s) = cache.get(&month) {
                        return Some(s.clone());
                    }
                    match ledger.paid_people(program, month) {
                        Ok(s) => Some(cache.entry(month).or_insert(Arc::new(s)).clone()),
                        Err(e) => {
                            failed = Some(e);
                            None
                        }
                    }
                },
                &mut self.findings,
            );
            if let Some(e) = failed {
                return Err(e.into());
            }
            let funeral: Vec<u64> = self.entries[rows.clone()]
                .iter()
                .filter(|e| e.payable && reconcile::is_funeral(e.kind))
                .map(|e| e.id)
                .collect();
            if !funeral.is_empty() {
                let last = last_amounts(ledger, program, period, &funeral)?;
                let facts = &self.facts;
                program_rules::hold_funeral_amounts(
                    &mut self.entries[rows.clone()],
                    start,
                    &|i| facts[i].amount,
                    pc.rules.funeral_months,
                    &mut |id| last.get(&id).copied(),
                    &mut self.findings,
                );
            }
        }
        let payable = self.entries[rows.clone()].iter().any(|e| e.payable);
        if let (Some(cap), true) = (pc.rules.annual_cap, payable) {
            let paid = paid_this_year(ledger, program, period)?;
            let facts = &self.facts;
            program_rules::hold_over_annual_cap(
                &mut self.entries[rows],
                start,
                &|i| facts[i].amount,
                &paid,
                cap,
                period.year,
                &mut self.findings,
            );
        }
        Ok(())
    }
}

/// Per person (ID key), what `program` paid them in `period`'s calendar year up
/// to and including `period` (earlier batches), by lines that stand
/// ([`Ledger::paid_in_year`]).
fn paid_this_year(ledger: &dyn Ledger, program: Program, period: Period) -> Result<FastMap<u64, Fen>, PipelineError> {
    Ok(ledger.paid_in_year(program, period)?)
}

/// The last amount `program` paid each of `people` before `period`, looking
/// back at most two years of paid periods.
fn last_amounts(
    ledger: &dyn Ledger,
    program: Program,
    period: Period,
    people: &[u64],
) -> Result<FastMap<u64, Fen>, PipelineError> {
    let mut out: FastMap<u64, Fen> = FastMap::default();
    let mut before = period;
    for _ in 0..24 {
        let Some((q, amounts)) = ledger.last_paid_before(program, before)? else { break };
        for k in people {
            if let Some(fen) = amounts.get(k) {
                out.entry(*k).or_insert(*fen);
            }
        }
        if people.iter().all(|k| out.contains_key(k)) {
            break;
        }
        before = q;
    }
    Ok(out)
}
