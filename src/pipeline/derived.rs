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

/// Rebuilds the period's month-wide line reports (paid.csv, notice.csv,
/// roster.xlsx, notice.xlsx) from the payment records of every batch its
/// manifest lists, and puts the month's paid totals into `report.json` for
/// `report.html` (see [`crate::report::MonthLines`]). Does nothing for a period
/// of one run batch: that batch's own reports are already the month's.
pub(crate) fn rebuild_month_lines(config: &Config, period: Period) -> Result<(), PipelineError> {
    let period_dir = config.period_dir(period);
    let records: Vec<(String, std::path::PathBuf)> = std::fs::read(period_dir.join(manifest::MANIFEST_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice::<manifest::Manifest>(&b).ok())
        .map(|m| m.records.into_iter().map(|r| (r.run_id, period_dir.join(r.path))).collect())
        .unwrap_or_default();
    if records.len() < 2 && records.iter().all(|(b, _)| b.starts_with('R')) {
        return Ok(());
    }
    let reports = period_dir.join("reports");
    let generated_at = super::now_cn().format("%Y-%m-%d %H:%M").to_string();
    let totals = crate::totals::RunTotals::default();
    let head = PaidHead { office_name: &config.office.name, period, generated_at: &generated_at, totals: &totals };
    let mut month = MonthLines::create(&reports, head, config.notice.clone())?;
    // First walk: the CSVs and the totals, batch after batch; where each
    // record's stretches of one program are, so the second walk reads only those.
    let mut readers = Vec::with_capacity(records.len());
    let mut stretches = Vec::with_capacity(records.len());
    for (batch, path) in &records {
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
    // Second walk: the workbooks, one sheet per program, each program's
    // stretches batch after batch (every line read once more, not once per program).
    let all: BTreeSet<Program> = stretches.iter().flatten().map(|s| s.program).collect();
    for program in all {
        for (((batch, path), reader), held) in records.iter().zip(&mut readers).zip(&stretches) {
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
    let (_, paid) = month.finish()?;
    crate::report::save_month_paid(&reports, &paid)?;
    tracing::debug!(event = "phase", phase = "month_lines_written", batches = records.len());
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
