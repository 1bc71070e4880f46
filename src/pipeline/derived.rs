//! The one place the derived files of a period (SPEC §8: failures.csv,
//! stops_suggested.csv, report.json's ledger part, report.html) are rebuilt:
//! after every command that writes the ledger, for the periods it touched, and
//! on demand by `disburse report`.

use std::collections::BTreeSet;

use super::{publish, Outcome, PipelineError};
use crate::config::Config;
use crate::domain::Period;
use crate::ledger::{Ledger, Lock};

/// Rebuilds the derived files of `periods`; returns how many failed or returned
/// lines still need a person. Called after a commit: if a file cannot be
/// written, the error says that the ledger holds everything and how to get the
/// lists back.
pub(crate) fn rebuild(config: &Config, ledger: &dyn Ledger, periods: &BTreeSet<Period>) -> Result<u64, PipelineError> {
    let mut open = 0;
    for &period in periods {
        let rebuilt = crate::report::rebuild(ledger, &config.period_dir(period), period).map_err(|e| {
            PipelineError::Refused(format!(
                "{e}. The ledger has recorded everything; the lists of {period} (returns/failures.csv, \
                 stops_suggested.csv, reports/report.html) were not all written: once the cause is fixed, run \
                 `disburse report --period {period}` with the same --config (every later command also writes them \
                 again)"
            ))
        })?;
        open += rebuilt.open_failures;
    }
    Ok(open)
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
    let open = rebuild(config, ledger.as_ref(), &BTreeSet::from([period]))?;
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
