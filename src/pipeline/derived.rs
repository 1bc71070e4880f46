//! The one place the derived files of a period (SPEC §8: failures.csv,
//! stops_suggested.csv, report.json's ledger part, report.html) are rebuilt:
//! after every command that writes the ledger, for the periods it touched, and
//! on demand by `disburse report`.

use std::collections::{BTreeMap, BTreeSet};

use super::{publish, record, Outcome, PipelineError};
use crate::config::Config;
use crate::domain::{Account, EndToEndId, IdNumber, PayeeType, PaymentLine, Period, Program, SourcePos, Text};
use crate::ledger::{Ledger, LedgerLine, Lock, ProgramStatus};
use crate::report::{MonthLines, PaidHead};
use crate::sign::manifest;

/// What rebuilding the derived files of some periods found.
#[derive(Debug, Default)]
pub(crate) struct Derived {
    /// Failed or returned lines that still need a person, over the periods.
    pub open: u64,
    /// Each period's lines and amounts by program and status, as the ledger now
    /// holds them (the command reports them without a second pass over the period).
    pub status: BTreeMap<Period, BTreeMap<Program, ProgramStatus>>,
}

/// Rebuilds the derived files of `periods`. Called after a commit: if a file
/// cannot be written, the error says that the ledger holds everything and how
/// to get the lists back.
pub(crate) fn rebuild(
    config: &Config,
    ledger: &dyn Ledger,
    periods: &BTreeSet<Period>,
) -> Result<Derived, PipelineError> {
    let mut out = Derived::default();
    for &period in periods {
        let rebuilt =
            crate::report::rebuild(ledger, &config.period_dir(period), period, &config.office.name).map_err(|e| {
                PipelineError::Refused(format!(
                    "{e}. The ledger has recorded everything; the lists of {period} (returns/failures.csv and .xlsx, \
                 stops_suggested.csv, reports/report.html) were not all written: once the cause is fixed, run \
                 `disburse report --period {period}` with the same --config (every later command also writes them \
                 again)"
                ))
            })?;
        out.open += rebuilt.open_failures;
        out.status.insert(period, rebuilt.status);
    }
    Ok(out)
}

/// `disburse report`: rebuilds the derived files of `period` from the ledger.
pub fn report(config: &Config, period: Period) -> Result<Outcome, PipelineError> {
    let _lock = Lock::for_config(config)?;
    // It may finish publishing an interrupted batch (a ledger write): audited.
    super::audit::audited(config, "report", &[period], |facts| report_locked(config, period, facts))
}

fn report_locked(config: &Config, period: Period, facts: &mut super::audit::Facts) -> Result<Outcome, PipelineError> {
    let mut ledger = crate::ledger::open(config)?;
    let mut summary = publish::recover(config, ledger.as_mut())?;
    facts.recovered = summary.clone();
    rebuild_month_lines(config, period)?;
    let open = rebuild(config, ledger.as_ref(), &BTreeSet::from([period]))?.open;
    let overdue = super::unanswered::rewrite(config, ledger.as_ref(), period, super::now_cn())?;
    if overdue > 0 {
        summary.push(format!(
            "{period}：银行超过 {} 天未回复 {overdue} 笔，见 returns/unanswered.csv",
            config.pending_days
        ));
    }
    summary.push(format!("{period}：失败清单、停发建议和报告已按台账重新生成；失败/退票 {open} 笔待处理"));
    Ok(Outcome::new(open > 0, summary))
}

/// Lines read from a payment record at a time.
const RECORD_CHUNK: usize = 4096;

/// Lines of the later batches (a correction batch, a late roster) held in
/// memory so that the month's records are read once: ~80 MB at most. Past it
/// they are read twice ([`two_walks`]).
const HELD_LINES: u64 = 200_000;

/// A period's batches as its manifest lists them: (batch, record path, lines).
type Records = Vec<(String, std::path::PathBuf, u64)>;

/// Rebuilds the period's month-wide line reports (paid.csv, notice.csv,
/// roster.xlsx, notice.xlsx) from the payment records of every batch its
/// manifest lists, and puts the month's paid totals into `report.json` for
/// `report.html` (see [`crate::report::MonthLines`]). Does nothing for a period
/// of one run batch: that batch's own reports are already the month's.
pub(crate) fn rebuild_month_lines(config: &Config, period: Period) -> Result<(), PipelineError> {
    let period_dir = config.period_dir(period);
    let records: Records = std::fs::read(period_dir.join(manifest::MANIFEST_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice::<manifest::Manifest>(&b).ok())
        .map(|m| m.records.into_iter().map(|r| (r.run_id, period_dir.join(r.path), r.lines)).collect())
        .unwrap_or_default();
    if records.len() < 2 && records.iter().all(|(b, _, _)| b.starts_with('R')) {
        return Ok(());
    }
    let reports = period_dir.join("reports");
    let generated_at = super::now_cn().format("%Y-%m-%d %H:%M").to_string();
    let totals = crate::totals::RunTotals::default();
    let head = PaidHead { office_name: &config.office.name, period, generated_at: &generated_at, totals: &totals };
    let mut month = MonthLines::create(&reports, head, config.notice.clone())?;
    let walked = one_walk(&mut month, &records, period)?;
    if !walked {
        // Dropped unfinished: its files are deleted, and the two walks start afresh.
        drop(month);
        month = MonthLines::create(&reports, head, config.notice.clone())?;
        two_walks(&mut month, &records, period)?;
    }
    let (_, paid) = month.finish()?;
    crate::report::save_month_paid(&reports, &paid)?;
    tracing::debug!(event = "phase", phase = "month_lines_written", batches = records.len(), one_walk = walked);
    Ok(())
}

/// A line of a later batch, held for [`one_walk`].
struct Held {
    line: PaymentLine,
    bank_file: Text,
    batch: usize,
    correction: bool,
}

/// The month's lists with each record read once: the later batches' lines
/// are held, then the first batch (the month's run, the bulk) is read through
/// and goes to the CSVs and the workbooks at once, each program's held lines
/// joining the workbooks after the first batch's of that program (the sheets
/// are one per program, batch after batch). False, with nothing finished, if
/// the first record does not list its programs in order (the lists need them
/// grouped), or if the later batches are more than [`HELD_LINES`] or not as
/// many as the manifest counts: the caller then reads the records twice.
fn one_walk(month: &mut MonthLines, records: &Records, period: Period) -> Result<bool, PipelineError> {
    let counted: u64 = records.iter().skip(1).map(|r| r.2).sum();
    if counted > HELD_LINES {
        return Ok(false);
    }
    let mut held: Vec<Held> = Vec::new();
    for (i, (_, path, _)) in records.iter().enumerate().skip(1) {
        record::RecordReader::open(path, period)?.read_all(RECORD_CHUNK, &mut |lines| {
            for l in lines {
                // The manifest's counts decided to hold them; a record longer
                // than its count is not held past the bound.
                if held.len() as u64 >= HELD_LINES {
                    return Ok(());
                }
                let correction = l.original_id.is_some();
                let bank_file = l.bank_file.clone();
                held.push(Held { line: payment_line(l, path)?, bank_file, batch: i, correction });
            }
            Ok(())
        })?;
    }
    if held.len() as u64 != counted {
        return Ok(false);
    }
    // Each program's held lines, in batch order.
    let mut by_program: BTreeMap<Program, Vec<usize>> = BTreeMap::new();
    for (i, h) in held.iter().enumerate() {
        by_program.entry(h.line.program).or_default().push(i);
    }
    let mut pending = by_program.into_iter().peekable();
    let (first, path, _) = &records[0];
    let mut last: Option<Program> = None;
    let mut in_order = true;
    // The held lines of the programs before `next` (all of them when `None`).
    let mut sheet_held = |month: &mut MonthLines, next: Option<Program>| -> Result<(), PipelineError> {
        while let Some((_, idx)) = pending.next_if(|(p, _)| next.is_none_or(|n| *p < n)) {
            for i in idx {
                let h = &held[i];
                month.push_sheet(&h.line, &records[h.batch].0, h.correction)?;
            }
        }
        Ok(())
    };
    record::RecordReader::open(path, period)?.read_all(RECORD_CHUNK, &mut |lines| {
        for l in lines {
            if !in_order {
                return Ok(());
            }
            if last.is_some_and(|p| p > l.program) {
                in_order = false;
                return Ok(());
            }
            if last != Some(l.program) {
                // Past the first batch's lines of the programs before this one:
                // the later batches' lines of those follow them.
                sheet_held(month, Some(l.program))?;
            }
            last = Some(l.program);
            let correction = l.original_id.is_some();
            let bank_file = l.bank_file.clone();
            let line = payment_line(l, path)?;
            month.push_csv(&line, &bank_file, first, correction)?;
            month.push_sheet(&line, first, correction)?;
        }
        Ok(())
    })?;
    if !in_order {
        return Ok(false);
    }
    sheet_held(month, None)?;
    for h in &held {
        month.push_csv(&h.line, &h.bank_file, &records[h.batch].0, h.correction)?;
    }
    Ok(true)
}

/// The month's lists from records read twice: a first walk for the CSVs and
/// the totals, batch after batch, which also finds each record's stretches of
/// one program; a second for the workbooks, one sheet per program, each
/// program's stretches batch after batch (every line read once more, not once
/// per program).
fn two_walks(month: &mut MonthLines, records: &Records, period: Period) -> Result<(), PipelineError> {
    let mut readers = Vec::with_capacity(records.len());
    let mut stretches = Vec::with_capacity(records.len());
    for (batch, path, _) in records {
        let mut reader = record::RecordReader::open(path, period)?;
        stretches.push(reader.read_all(RECORD_CHUNK, &mut |lines| {
            for l in lines {
                let correction = l.original_id.is_some();
                let bank_file = l.bank_file.clone();
                month.push_csv(&payment_line(l, path)?, &bank_file, batch, correction)?;
            }
            Ok(())
        })?);
        readers.push(reader);
    }
    let all: BTreeSet<Program> = stretches.iter().flatten().map(|s| s.program).collect();
    for program in all {
        for (((batch, path, _), reader), held) in records.iter().zip(&mut readers).zip(&stretches) {
            for s in held.iter().filter(|s| s.program == program) {
                reader.read_stretch(s, RECORD_CHUNK, &mut |lines| {
                    for l in lines {
                        let correction = l.original_id.is_some();
                        month.push_sheet(&payment_line(l, path)?, batch, correction)?;
                    }
                    Ok(())
                })?;
            }
        }
    }
    Ok(())
}

/// A recorded line as the lists take it. Its ID and account were checked when
/// it was paid; one that no longer has their shape means the record is damaged.
fn payment_line(l: LedgerLine, path: &std::path::Path) -> Result<PaymentLine, PipelineError> {
    let damaged = |what: &str| {
        PipelineError::Refused(format!(
            "{}: line {} has a damaged {what}; the payment record cannot be listed: restore it from a backup",
            path.display(),
            l.end_to_end_id
        ))
    };
    let id_number = IdNumber::from_checked(l.id_number.clone()).ok_or_else(|| damaged("ID number"))?;
    let account = Account::from_checked(l.account.clone()).ok_or_else(|| damaged("account number"))?;
    // The record keeps who received, not why: the 备注 says who, as the
    // roster's own note would have.
    let mut note = Vec::new();
    if !l.payee_name.is_empty() && l.payee_name != l.name {
        note.push(format!("收款人：{}", l.payee_name));
    }
    if let Some(original) = &l.original_id {
        note.push(format!("更正（原流水号 {original}）"));
    }
    let note = Text::new(note.join("；"));
    Ok(PaymentLine {
        program: l.program,
        kind: l.kind,
        end_to_end_id: EndToEndId(l.end_to_end_id),
        township: l.township,
        village: l.village,
        payee_name: l.name.clone(),
        name: l.name,
        id_number,
        payee_type: PayeeType::SelfPaid,
        account,
        bank: l.bank,
        amount: l.amount,
        household_size: None,
        category: Text::default(),
        note,
        pos: SourcePos { file: Text::new(record::relative_path("")), row: 0 },
    })
}

#[cfg(test)]
mod tests;
