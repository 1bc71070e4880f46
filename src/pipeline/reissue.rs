//! `disburse reissue`: the correction batch (更正发放) for failed or returned lines,
//! with corrected accounts. Each new line gets a new reference linked to its
//! original and a retry count; a line that settled, already has a correction in
//! flight, or is not in the corrections file is never reissued.
//!
//! A corrected line is a roster line as far as the checks go: it is checked by
//! [`validate::check_row`] (V01–V06, W01) and by [`reconcile::corrections`]
//! (the dead and the stopped, R03, unless `verified_by` names who checked; R02
//! against the ledger; R05 against the batch and the period's standing lines).
//! This module only gathers their inputs and writes the batch.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use super::{fault, prepare, publish, stage, Outcome, PipelineError, Totals};
use crate::config::Config;
use crate::domain::{
    id_key, Cell, Exception, Field, PaymentLine, PaymentStatus, Period, Program, RosterRow, SourcePos,
};
use crate::ingest::{self, Correction};
use crate::ledger::{BatchKind, Ledger, LedgerLine, Lock, Verified};
use crate::reconcile::{self, corrections, Entry, FastMap, Finding};
use crate::returns::ReasonMap;
use crate::sign::Signer;
use crate::totals::{ProgramTotals, RunTotals};
use crate::validate::{self, Checked, Rules};

/// One correction that passed the ledger's questions, checked as a roster line.
struct Planned<'c> {
    c: &'c Correction,
    checked: Checked,
    /// The chain's first original reference, and this line's retry number.
    root: String,
    retry: u32,
    /// A line of its chain whose reason says the person died, if any.
    death: Option<String>,
}

/// Builds, signs and commits the correction batch for `period`.
pub fn reissue(config: &Config, period: Period, corrections_path: &Path) -> Result<Outcome, PipelineError> {
    let _lock = Lock::for_config(config)?;
    super::audit::audited(config, "reissue", &[period], |facts| reissue_locked(config, period, corrections_path, facts))
}

fn reissue_locked(
    config: &Config,
    period: Period,
    corrections_path: &Path,
    facts: &mut super::audit::Facts,
) -> Result<Outcome, PipelineError> {
    let mut ledger = crate::ledger::open(config)?;
    let mut summary = publish::recover(config, ledger.as_mut())?;
    let display = corrections_path.display().to_string();
    let corrections = ingest::read_corrections(corrections_path, &display)?;
    let reasons = ReasonMap::load(&config.formats_dir).map_err(|e| PipelineError::Refused(e.to_string()))?;
    let mut formats = BTreeMap::new();
    let mut planned = Vec::new();
    let mut refused = Vec::new();
    let mut exceptions = Vec::new();
    let mut seen = HashSet::new();
    for c in &corrections {
        if !seen.insert(c.end_to_end_id.clone()) {
            refused.push(format!("第{}行 {}：重复出现，只按第一次处理", c.row, c.end_to_end_id));
            continue;
        }
        match plan(config, ledger.as_ref(), period, c, &display, &reasons, &mut formats)? {
            Ok(p) => {
                exceptions.extend(p.checked.exceptions.iter().cloned());
                if p.checked.line.is_some() {
                    planned.push(p);
                } else {
                    refused.push(format!("第{}行 {}：{}", c.row, c.end_to_end_id, held_because(&p.checked.exceptions)));
                }
            }
            Err(why) => refused.push(format!("第{}行 {}：{why}", c.row, c.end_to_end_id)),
        }
    }
    let checked = check_batch(config, ledger.as_ref(), period, planned)?;
    for (p, f) in &checked.held {
        exceptions.push(p.checked.exception(f.code, f.field.code(), f.message.to_string()));
        refused.push(format!("第{}行 {}：{}（{}）", p.c.row, p.c.end_to_end_id, f.message, f.code.as_str()));
    }
    let warned = exceptions.iter().any(|e| e.code.severity() == crate::domain::Severity::Warn);
    summary.extend(refused.iter().map(|r| format!("  未更正 {r}")));
    summary.extend(
        checked
            .verified
            .iter()
            .map(|v| format!("  已核实 {}（第{}次更正），核实人：{}", v.original_id, v.retry, v.verified_by)),
    );
    write_exceptions(config, period, &exceptions)?;
    let needs_person = !refused.is_empty() || warned;
    if checked.lines.is_empty() {
        summary.push(crate::tr!(
            "{period}：没有可更正发放的行，未写任何文件",
            "{period}: no line can be reissued; no file written"
        ));
        let totals = Totals::default()
            .text("period", period.to_string())
            .count("sent_lines", 0u64)
            .text("sent_amount", "0.00")
            .count("refused_lines", refused.len() as u64);
        return Ok(Outcome::new(!refused.is_empty(), summary).with(totals));
    }
    let signer = Signer::load(&config.signing.algorithm, &config.signing.key, &config.signing.distid)?;
    let n = ledger.next_batch_number(period, BatchKind::Correction)?;
    let batch = format!("C{n:03}");
    let given: Vec<(PaymentLine, stage::Link)> = checked.lines;
    let lines: Vec<&PaymentLine> = given.iter().map(|(l, _)| l).collect();
    let totals = correction_totals(&lines);
    let count = given.len();
    let frame = stage::Frame { period, totals: &totals, formats: &formats };
    let info =
        stage::BatchInfo { batch: &batch, kind: BatchKind::Correction, signer: &signer, verified: &checked.verified };
    let staged = stage::stage(config, &frame, stage::Lines::Given(given), ledger.as_mut(), &info)?;
    facts.batch = Some(batch.clone());
    facts.total("reissued", staged.lines, staged.amount);
    fault::point("committed");
    publish::publish(&staged.staging_dir, &config.period_dir(period))?;
    ledger.mark_published(staged.run_id)?;
    super::derived::rebuild_month_lines(config, period).map_err(|e| super::run::month_not_written(e, period))?;
    super::derived::rebuild(config, ledger.as_ref(), &std::collections::BTreeSet::from([period]))?;
    tracing::info!(event = "reissue_committed", period = %period, batch = %batch, lines = count, refused = refused.len());
    summary.push(crate::tr!(
        "{period} 更正第{n}批：{count} 笔重新发放，{} 个银行文件",
        "{period} correction batch {n}: {count} lines paid again, {} bank files",
        staged.files.len()
    ));
    let totals = Totals::default()
        .text("period", period.to_string())
        .text("batch", batch)
        .count("files", staged.files.len() as u64)
        .count("sent_lines", staged.lines)
        .fen("sent_amount", staged.amount)
        .count("refused_lines", refused.len() as u64);
    Ok(Outcome::new(needs_person, summary).with(totals))
}

type Plan<'c> = Result<Planned<'c>, String>;

/// Decides whether one correction may be reissued as far as the ledger goes
/// (its line exists, is of the period, failed or was returned, and has no
/// correction standing), and checks its line as a roster line.
fn plan<'c>(
    config: &Config,
    ledger: &dyn Ledger,
    period: Period,
    c: &'c Correction,
    display: &str,
    reasons: &ReasonMap,
    formats: &mut BTreeMap<Program, crate::bankfile::Format>,
) -> Result<Plan<'c>, PipelineError> {
    let Some(original) = ledger.payment(&c.end_to_end_id)? else {
        return Ok(Err("没有这笔发放记录".into()));
    };
    if original.period != period {
        return Ok(Err(format!("这笔属于{}，不是{period}", original.period)));
    }
    if !is_failure(&original) {
        return Ok(Err(format!("状态为{}，只有失败或退票的才能更正发放", original.status.chinese())));
    }
    let root = original.original_id.clone().unwrap_or_else(|| original.end_to_end_id.to_string());
    let chain = ledger.corrections_of(&root)?;
    if let Some(live) = chain.iter().find(|l| !is_failure(l)) {
        return Ok(Err(format!("已有更正发放{}（{}），不再重复", live.end_to_end_id, live.status.chinese())));
    }
    let retry = chain.iter().map(|l| l.retry).max().unwrap_or(0) + 1;
    let Some(pc) = config.programs.get(&original.program) else {
        return Ok(Err(format!("配置中没有{}这个项目，无法更正发放", original.program.code())));
    };
    if let std::collections::btree_map::Entry::Vacant(e) = formats.entry(original.program) {
        e.insert(crate::bankfile::Format::load(&pc.format, &config.formats_dir)?);
    }
    let rules = Rules { cap: pc.cap, text: formats[&original.program].text_rules() };
    let checked = validate::check_row(&row_of(&original, c, display), &rules);
    let code_for_text = |t: &str| reasons.code_for(t).to_string();
    let death = std::iter::once(&original)
        .chain(&chain)
        .find(|l| corrections::reports_death(&l.reason_code, &l.reason_text, &code_for_text))
        .map(|l| l.end_to_end_id.to_string());
    Ok(Ok(Planned { c, checked, root, retry, death }))
}

/// The correction as a roster row: the beneficiary, place and amount from the
/// ledger's line, the payee and account from the corrections file.
fn row_of(o: &LedgerLine, c: &Correction, display: &str) -> RosterRow {
    let new_payee = !c.payee_name.trim().is_empty() && c.payee_name.trim() != o.payee_name.as_str();
    let payee_name = if c.payee_name.trim().is_empty() { o.payee_name.clone() } else { c.payee_name.trim().into() };
    let payee_type = corrections::payee_type_of(&c.payee_type, new_payee, o.payee_name == o.name);
    let bank = if c.bank.trim().is_empty() { o.bank.clone() } else { c.bank.trim().into() };
    let text = |t: &str| Cell::Text(t.into());
    RosterRow {
        program: o.program,
        pos: SourcePos { file: display.into(), row: c.row },
        cells: vec![
            (Field::Township, text(&o.township)),
            (Field::Village, text(&o.village)),
            (Field::Name, text(&o.name)),
            (Field::IdNumber, text(&o.id_number)),
            (Field::Account, text(&c.account)),
            (Field::Bank, text(&bank)),
            (Field::Amount, text(&o.amount.yuan_string())),
            (Field::PayeeName, text(&payee_name)),
            (Field::PayeeType, text(payee_type)),
            (Field::Note, Cell::Text(compact_str::format_compact!("更正发放 原{}", o.end_to_end_id))),
            (Field::LineType, text(o.kind.line_type.code())),
            (Field::Covers, text(o.kind.covers_str())),
        ],
    }
}

/// What the batch-wide checks left.
struct Batch<'c> {
    lines: Vec<(PaymentLine, stage::Link)>,
    verified: Vec<Verified>,
    held: Vec<(Planned<'c>, Finding)>,
}

/// The checks that look beyond one line: the person (deceased, stopped: R03
/// unless vouched for), the other program of an exclusive pair (R02 against the
/// ledger), and the account (R05 against the batch and the period's standing lines).
fn check_batch<'c>(
    config: &Config,
    ledger: &dyn Ledger,
    period: Period,
    mut planned: Vec<Planned<'c>>,
) -> Result<Batch<'c>, PipelineError> {
    planned.sort_by_key(|p| p.c.row);
    planned.sort_by_key(|p| p.checked.program); // stable: file order within a program
    let mut entries: Vec<Entry> = planned.iter().map(|p| Entry::of(&p.checked)).collect();
    let mut deceased: FastMap<u64, String> =
        ledger.reported_deceased()?.into_iter().filter_map(|(id, r)| id_key(&id).map(|k| (k, r))).collect();
    for (p, e) in planned.iter().zip(&entries) {
        if let Some(reference) = &p.death {
            deceased.entry(e.id).or_insert_with(|| reference.clone());
        }
    }
    let stops = prepare::read_stops(config, period)?;
    let vouched_by: Vec<bool> = planned.iter().map(|p| !p.c.verified_by.trim().is_empty()).collect();
    let persons = corrections::check_persons(&mut entries, &vouched_by, &deceased, &stops, period.first_day());
    let mut held: Vec<Finding> = persons.held;
    for f in &mut held {
        f.message = corrections::held_message(f);
    }
    let mut start = 0;
    while start < entries.len() {
        let program = entries[start].program;
        let end = start + entries[start..].iter().take_while(|e| e.program == program).count();
        let elsewhere = prepare::paid_by_exclusive(ledger, config, program, period)?;
        let pairs = &config.exclusive;
        reconcile::hold_paid_by_exclusive(&mut entries[start..end], start, program, pairs, &elsewhere, &mut held);
        start = end;
    }
    let payees: Vec<Option<reconcile::Payee>> = planned.iter().map(|p| reconcile::Payee::of(&p.checked)).collect();
    held.extend(corrections::check_accounts(&mut entries, &payees, &standing_entries(ledger, period, &planned)?));
    // One name per line, with everything it vouched against (dead and stopped).
    let mut verified: Vec<(usize, Verified)> = Vec::new();
    for f in persons.vouched.iter().filter(|f| entries[f.index].payable) {
        match verified.last_mut() {
            Some((i, v)) if *i == f.index => v.reason = format!("{}；{}", v.reason, f.message),
            _ => {
                let p = &planned[f.index];
                let v = Verified {
                    original_id: p.root.clone(),
                    retry: p.retry,
                    verified_by: p.c.verified_by.trim().to_string(),
                    reason: f.message.to_string(),
                };
                verified.push((f.index, v));
            }
        }
    }
    let verified = verified.into_iter().map(|(_, v)| v).collect();
    held.sort_by_key(|f| f.index);
    let mut out = Batch { lines: Vec::new(), verified, held: Vec::new() };
    let mut findings = held.into_iter().peekable();
    for (i, p) in planned.into_iter().enumerate() {
        let mut mine = Vec::new();
        while let Some(f) = findings.next_if(|f| f.index == i) {
            mine.push(f);
        }
        match (entries[i].payable, p.checked.line.clone()) {
            (true, Some(line)) => out.lines.push((line, (p.root.clone(), p.retry))),
            _ => {
                if let Some(f) = mine.into_iter().next() {
                    out.held.push((p, f));
                }
            }
        }
    }
    Ok(out)
}

/// The period's standing lines that share an account with a line of the batch,
/// as entries (institutions are not recorded in the ledger: none counts as one).
fn standing_entries(
    ledger: &dyn Ledger,
    period: Period,
    planned: &[Planned<'_>],
) -> Result<Vec<(Entry, reconcile::Payee)>, PipelineError> {
    let accounts: HashSet<&str> =
        planned.iter().filter_map(|p| p.checked.line.as_ref()).map(|l| l.account.as_str()).collect();
    let mut out = Vec::new();
    ledger.for_each_standing_line(period, &accounts, &mut |program, id, account, payee_name, village| {
        let Ok(a) = crate::domain::Account::parse(account) else { return };
        let entry = Entry { program, row: 0, id: id_key(id).unwrap_or(0), institution: false, payable: true, kind: 0 };
        out.push((
            entry,
            reconcile::Payee { account: a.key(), household: reconcile::household_key(payee_name, village) },
        ));
    })?;
    Ok(out)
}

fn is_failure(l: &LedgerLine) -> bool {
    matches!(l.status, PaymentStatus::Failed | PaymentStatus::Returned)
}

/// The holds of a line, as one sentence for the summary.
fn held_because(exceptions: &[Exception]) -> String {
    let holds: Vec<String> = exceptions
        .iter()
        .filter(|e| e.code.severity() == crate::domain::Severity::Hold)
        .map(|e| format!("{}（{}）", e.message, e.code.as_str()))
        .collect();
    holds.join("；")
}

/// `<period>/returns/reissue_exceptions.csv`: the lines of the last `reissue`
/// that were held or warned, with their codes (the exceptions.csv columns).
fn write_exceptions(config: &Config, period: Period, exceptions: &[Exception]) -> Result<(), PipelineError> {
    let path = config.period_dir(period).join("returns").join("reissue_exceptions.csv");
    Ok(crate::report::write_exceptions_csv(&path, exceptions)?)
}

/// A correction batch approves exactly what it pays.
fn correction_totals(lines: &[&PaymentLine]) -> RunTotals {
    let mut totals = RunTotals::default();
    for l in lines {
        let t: &mut ProgramTotals = totals.programs.entry(l.program).or_default();
        t.approved.add_fen(l.amount);
        t.paid.add_fen(l.amount);
    }
    totals
}
