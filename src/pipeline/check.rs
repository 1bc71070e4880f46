//! `disburse check`: ingest, validate, reconcile, total; writes reports only.

use super::{prepare, publish, summary_lines, Outcome, PipelineError, Progress};
use crate::config::Config;
use crate::domain::Period;
use crate::report::{self, PaidHead, PaidReports, ReportSet, RunReport};

/// Checks the period's rosters and writes `reports/` (summary, exceptions,
/// notice, changes) — or `check/reports/` once a run has published the period, so
/// a later look never overwrites what was paid. Reads the ledger if one exists
/// (for R04/R06), never writes it. The notice streams: no line is kept.
///
/// A check that fails removes the reports an earlier check left (see
/// [`withdraw_stale_reports`]): an `exceptions.csv` beside a refusal would be read
/// as the answer to the check that was just refused.
pub fn check(config: &Config, period: Period, progress: &Progress) -> Result<Outcome, PipelineError> {
    check_reports(config, period, progress).inspect_err(|_| withdraw_stale_reports(config, period))
}

/// Removes the reports of an earlier `check` of `period` (and this check's working
/// folder) after a failed `check` or `run`. A published run's own reports are the
/// record of what was paid and stay; only the check's copies go. Best effort: a
/// folder that cannot be removed is logged, and the refusal is what the clerk sees.
pub(crate) fn withdraw_stale_reports(config: &Config, period: Period) {
    let period_dir = config.period_dir(period);
    let _ = std::fs::remove_dir_all(period_dir.join(format!(".check-{}", std::process::id())));
    let target = if period_dir.join("manifest.json").exists() { period_dir.join("check") } else { period_dir };
    let reports = target.join("reports");
    if reports.is_dir() {
        match std::fs::remove_dir_all(&reports) {
            Ok(()) => {
                tracing::info!(event = "stale_reports_removed", path = %reports.display(), "reports of an earlier check removed")
            }
            Err(e) => {
                tracing::warn!(event = "stale_reports_kept", path = %reports.display(), error = %crate::fsutil::Explained(&e))
            }
        }
    }
}

fn check_reports(config: &Config, period: Period, progress: &Progress) -> Result<Outcome, PipelineError> {
    let ledger = match crate::ledger::exists(config) {
        true => Some(crate::ledger::open(config)?),
        false => None,
    };
    let prepared = prepare(config, period, ledger.as_deref().map(|l| l as &dyn crate::ledger::Ledger), progress)?;
    let period_dir = config.period_dir(period);
    let staging = period_dir.join(format!(".check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let reports = staging.join("reports");
    let generated_at = super::now_cn().format("%Y-%m-%d %H:%M").to_string();
    let head =
        PaidHead { office_name: &config.office.name, period, generated_at: &generated_at, totals: &prepared.totals };
    let mut notice = PaidReports::create(&reports, head, ReportSet::Check)?;
    let replayed = prepared.replay(progress, &mut |l| Ok(notice.push(&l, "")?))?;
    notice.finish()?;
    let r = RunReport {
        office_name: &config.office.name,
        period,
        generated_at,
        totals: &prepared.totals,
        paid: &[],
        bank_files: &[],
        exceptions: (&replayed.exceptions).into(),
        changes: &replayed.changes,
        failures: &[],
    };
    let target = if period_dir.join("manifest.json").exists() { period_dir.join("check") } else { period_dir.clone() };
    report::write_summary_reports(&reports, &r, ReportSet::Check)?;
    publish::publish(&staging, &target)?;
    let mut summary = vec![crate::tr!(
        "{} {} 检查完成（未发放，未写账本）",
        "{} {}: checked (nothing paid, nothing recorded in the ledger)",
        config.office.name,
        period
    )];
    summary.extend(summary_lines(&prepared));
    summary.push(crate::tr!(
        "暂缓 {} 笔，警告 {} 笔；明细见 {}",
        "held {} lines, warned {} lines; see {}",
        prepared.held_lines(),
        prepared.warned_lines(),
        target.join("reports/exceptions.csv").display()
    ));
    let totals = super::prepared_totals(&prepared).count("warned_lines", prepared.warned_lines());
    Ok(Outcome::new(prepared.held_lines() + prepared.warned_lines() > 0, summary).with(totals))
}
