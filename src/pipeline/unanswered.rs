//! What the bank never answered (SPEC §14): `<output>/<P>/returns/unanswered.csv`
//! lists the lines still `sent` or `pending` more than `[checks] pending_days`
//! days after their batch was made (with 0: every such line), with the columns of
//! failures.csv and the action 联系银行核实. Money nobody knows the fate of must
//! be chased, not forgotten.
//!
//! A batch's time is its `created_at` (when its files were signed; they are
//! published moments later, and `ledger rebuild` restores it from the manifest).

use chrono::{DateTime, FixedOffset};

use super::{io_err, PipelineError};
use crate::config::Config;
use crate::domain::{mask_id, Failure, Period};
use crate::ledger::{Ledger, LedgerLine};

/// The action unanswered.csv names.
pub(crate) const ACTION: &str = "联系银行核实";
/// Where the list lives, relative to the period folder.
pub(crate) const FILE: &str = "returns/unanswered.csv";

/// The latest batch time whose lines are overdue at `now`: `pending_days` days
/// before it, compared as RFC 3339 text in China time (as `created_at` is
/// written). With 0 days every line is overdue, whatever the clocks said.
pub(crate) fn made_by(now: DateTime<FixedOffset>, pending_days: u32) -> String {
    if pending_days == 0 {
        return "9999".to_string();
    }
    (now - chrono::Duration::days(i64::from(pending_days))).to_rfc3339()
}

/// The overdue lines of `period` at `now`.
pub(crate) fn lines(
    config: &Config,
    ledger: &dyn Ledger,
    period: Period,
    now: DateTime<FixedOffset>,
) -> Result<Vec<LedgerLine>, PipelineError> {
    Ok(ledger.unanswered(period, &made_by(now, config.pending_days))?)
}

/// How many lines of `period` are overdue at `now`, and their amount.
pub(crate) fn count(
    config: &Config,
    ledger: &dyn Ledger,
    period: Period,
    now: DateTime<FixedOffset>,
) -> Result<crate::ledger::Bucket, PipelineError> {
    Ok(ledger.unanswered_count(period, &made_by(now, config.pending_days))?)
}

/// Rewrites unanswered.csv of every period of the ledger (removes it where
/// nothing is overdue any more). Returns how many lines they list.
pub(crate) fn rewrite_all(config: &Config, ledger: &dyn Ledger) -> Result<u64, PipelineError> {
    let now = super::now_cn();
    let mut total = 0;
    for period in ledger.periods()? {
        total += rewrite(config, ledger, period, now)?;
    }
    Ok(total)
}

/// Rewrites unanswered.csv of `period` (removes it when nothing is overdue).
pub(crate) fn rewrite(
    config: &Config,
    ledger: &dyn Ledger,
    period: Period,
    now: DateTime<FixedOffset>,
) -> Result<u64, PipelineError> {
    let overdue = lines(config, ledger, period, now)?;
    let path = config.period_dir(period).join(FILE);
    if overdue.is_empty() {
        return match std::fs::remove_file(&path) {
            // Nothing to remove: no file, or no returns/ folder for it (yet).
            Err(e) if !matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => {
                Err(io_err(&path)(e))
            }
            _ => Ok(0),
        };
    }
    let n = overdue.len() as u64;
    let rows: Vec<Failure> = overdue.into_iter().map(row).collect();
    crate::report::write_failures_csv(&path, &rows)?;
    Ok(n)
}

/// One overdue line as a failures.csv row, masked.
fn row(l: LedgerLine) -> Failure {
    Failure {
        program: l.program,
        end_to_end_id: l.end_to_end_id.into(),
        township: l.township.into(),
        village: l.village.into(),
        name: l.name.into(),
        id_number_masked: mask_id(&l.id_number),
        amount: l.amount,
        status: l.status,
        reason_code: l.reason_code,
        reason_text: if l.reason_text.is_empty() { "银行未回复".to_string() } else { l.reason_text },
        action: ACTION.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_overdue_once_more_than_the_setting_has_passed() {
        let now = DateTime::parse_from_rfc3339("2026-12-11T09:00:00+08:00").unwrap();
        let by = made_by(now, 10);
        assert_eq!(by, "2026-12-01T09:00:00+08:00");
        assert!("2026-12-01T08:59:59.5+08:00" <= by.as_str(), "made 10 days and a moment ago: overdue");
        assert!("2026-12-01T09:00:01+08:00" > by.as_str(), "not yet 10 days: not overdue");
        assert!("2026-12-11T08:59:00+08:00" <= made_by(now, 0).as_str(), "0 days: every line");
    }
}
