//! The files of a period derived from the ledger (SPEC §8 "derived files are
//! rebuilt"): `returns/failures.csv`, `returns/stops_suggested.csv`, and the
//! ledger's part of `reports/report.json` with the `report.html` drawn from it.
//!
//! Why they are rebuilt whole, every time: they are a view of the ledger, and a
//! crash or a full disk between a commit and their writing must not leave a
//! failure off the clerk's list for good. Any later writing command, or
//! `disburse report`, writes them again from what the ledger holds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::ReportError;
use crate::domain::{mask_id, Failure, PaymentStatus, Period, Program};
use crate::ledger::{Bucket, Ledger, LedgerError, LedgerLine, ProgramStatus};
use crate::returns;

/// Why a period's derived files could not be rebuilt.
#[derive(Debug, thiserror::Error)]
pub enum DerivedError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Report(#[from] ReportError),
}

/// What rebuilding a period found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rebuilt {
    /// Failed or returned lines that still need a person (no correction
    /// settled or in flight).
    pub open_failures: u64,
    /// The period's lines and amounts by program and status, as written into
    /// report.json: the caller reports them without adding the period up again
    /// (a pass over every line of it).
    pub status: BTreeMap<Program, ProgramStatus>,
}

/// Rebuilds the derived files of `period` in `period_dir` from the ledger
/// (`office` names the office on the workbooks' titles).
pub fn rebuild(ledger: &dyn Ledger, period_dir: &Path, period: Period, office: &str) -> Result<Rebuilt, DerivedError> {
    let lines = ledger.failure_lines(period)?;
    tracing::debug!(event = "phase", phase = "failure_lines_read", lines = lines.len());
    let corrected: BTreeSet<String> = lines
        .iter()
        .filter(|l| l.original_id.is_some() && !is_failure(l))
        .filter_map(|l| l.original_id.clone())
        .collect();
    let deaths: Vec<LedgerLine> = lines.iter().filter(|l| returns::is_death(&l.reason_code)).cloned().collect();
    // The lines move into the failures (no second copy of every name and place:
    // a national receipt can leave a hundred thousand failures).
    let mut open = 0;
    let failures: Vec<Failure> = lines
        .into_iter()
        .filter(is_failure)
        .inspect(|l| open += u64::from(!corrected.contains(root(l))))
        .map(failure)
        .collect();
    let dir = period_dir.join("returns");
    super::write_failures_csv(&dir.join("failures.csv"), &failures)?;
    super::xlsx::failures(&dir.join("failures.xlsx"), office, period, &failures)?;
    tracing::debug!(event = "phase", phase = "failures_csv_written");
    let stops = dir.join("stops_suggested.csv");
    if !deaths.is_empty() || stops.exists() {
        write_death_list(&stops, &deaths)?;
    }
    let reports = period_dir.join("reports");
    let status = ledger.period_status(period)?;
    if save_ledger_status(&reports, period, &status)? {
        super::refresh_html(&reports, &failures)?;
    }
    Ok(Rebuilt { open_failures: open, status })
}

fn is_failure(l: &LedgerLine) -> bool {
    matches!(l.status, PaymentStatus::Failed | PaymentStatus::Returned)
}

fn root(l: &LedgerLine) -> &str {
    l.original_id.as_deref().unwrap_or(&l.end_to_end_id)
}

fn failure(l: LedgerLine) -> Failure {
    let reason_text =
        if l.reason_text.is_empty() { returns::reason_zh(&l.reason_code).to_string() } else { l.reason_text };
    Failure {
        program: l.program,
        id_number_masked: mask_id(&l.id_number),
        action: returns::action_zh(l.status, &l.reason_code).to_string(),
        end_to_end_id: l.end_to_end_id.into(),
        township: l.township.into(),
        village: l.village.into(),
        name: l.name.into(),
        amount: l.amount,
        status: l.status,
        reason_code: l.reason_code,
        reason_text,
    }
}

/// The people the bank reported deceased, for the clerk to add to the stop list
/// (later runs already hold them, R03). Masked: the clerk finds the full number
/// on the roster.
fn write_death_list(path: &Path, deaths: &[LedgerLine]) -> Result<(), ReportError> {
    crate::fsutil::write_atomic_with(path, |w| {
        w.write_all("\u{feff}".as_bytes())?;
        let mut c = csv::Writer::from_writer(w);
        c.write_record([
            "program",
            "end_to_end_id",
            "township",
            "village",
            "name",
            "id_number_masked",
            "reason",
            "suggestion",
        ])?;
        for l in deaths {
            c.write_record([
                l.program.code(),
                &l.end_to_end_id,
                &super::scrub(&l.township),
                &super::scrub(&l.village),
                &super::scrub(&l.name),
                &mask_id(&l.id_number),
                &super::scrub(&l.reason_text),
                "death：核实后加入停发名单 stops.csv",
            ])?;
        }
        c.flush()?;
        Ok(())
    })
    .map_err(|e| ReportError::io(path, e))
}

/// `status --json` of a period (SPEC §6): per program, lines and amounts sent,
/// settled, failed, returned, pending and reissued.
pub fn status_json(period: Period, by_program: &BTreeMap<Program, ProgramStatus>) -> serde_json::Value {
    let bucket = |b: &Bucket| serde_json::json!({"lines": b.lines, "amount": b.amount.yuan_string()});
    let programs: serde_json::Map<String, serde_json::Value> = by_program
        .iter()
        .map(|(p, s)| {
            let v = serde_json::json!({
                "sent": bucket(&s.sent),
                "settled": bucket(&s.settled),
                "failed": bucket(&s.failed),
                "returned": bucket(&s.returned),
                "pending": bucket(&s.pending),
                "reissued": bucket(&s.reissued),
            });
            (p.code().to_string(), v)
        })
        .collect();
    serde_json::json!({"period": period.to_string(), "programs": programs})
}

/// Writes the ledger's status of the period into `report.json` (key `ledger`,
/// as `status --json` gives it), keeping the run's part as it is. False (and
/// nothing written) when the folder has no report.json (no run wrote one).
fn save_ledger_status(
    reports: &Path,
    period: Period,
    by_program: &BTreeMap<Program, ProgramStatus>,
) -> Result<bool, ReportError> {
    let path = reports.join("report.json");
    let Ok(bytes) = std::fs::read(&path) else { return Ok(false) };
    let bad = |e: serde_json::Error| ReportError::io(&path, e.into());
    let mut doc: serde_json::Value = serde_json::from_slice(&bytes).map_err(bad)?;
    let Some(map) = doc.as_object_mut() else { return Ok(false) };
    map.insert("ledger".into(), status_json(period, by_program));
    crate::fsutil::write_atomic_with(&path, |w| serde_json::to_writer(w, &doc).map_err(std::io::Error::from))
        .map_err(|e| ReportError::io(&path, e))?;
    Ok(true)
}
