//! `reports/report.json`: what a run's one-page report was drawn from (totals,
//! exceptions with masked IDs, changes), so that `returns` can redraw
//! `report.html` with the failures by reason once receipts arrive, without
//! reading the rosters again. Holds no full ID or account number.

use std::path::Path;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{html, ReportError, ReportSet, RunReport};
use crate::domain::{Change, ChangeKind, Code, Exception, Failure, Fen, Field, Program};
use crate::totals::{PlaceKey, PlaceTotals, ProgramTotals, RunTotals, Tally};

/// (program, [approved, paid, held, skipped], warned, refused)
type ProgramRow = (Program, [(u64, Decimal); 4], u64, bool);
/// (program, township, village, households, people, paid, held)
type PlaceRow = (Program, String, String, u64, u64, (u64, Decimal), (u64, Decimal));
/// (program, file, row, field, code, name, id_number_masked, message)
type ExceptionRow = (Program, String, u64, String, String, String, String, String);
/// (program, id_number_masked, name, change, previous fen, fen)
type ChangeRow = (Program, String, String, String, Option<i64>, Option<i64>);

/// Read back with the exceptions as rows; written with them straight from the
/// run's list ([`ExceptionList`]), so a list of a million is not copied first.
#[derive(Serialize, Deserialize)]
struct Snapshot<E = Vec<ExceptionRow>> {
    office_name: String,
    period: String,
    generated_at: String,
    programs: Vec<ProgramRow>,
    places: Vec<PlaceRow>,
    exceptions: E,
    changes: Vec<ChangeRow>,
}

/// The exceptions as [`ExceptionRow`]s, serialized one at a time.
struct ExceptionList<'a>(&'a [Exception]);

impl Serialize for ExceptionList<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|e| {
            let (masked, message) = (super::scrub(&e.id_number_masked), super::scrub(&e.message));
            (e.program, &e.file, e.row, e.field, e.code.as_str(), &e.name, masked, message)
        }))
    }
}

fn tally(t: Tally) -> (u64, Decimal) {
    (t.lines, t.amount)
}

fn untally((lines, amount): (u64, Decimal)) -> Tally {
    Tally { lines, amount }
}

/// Writes the snapshot of `r` to `path`.
pub fn save_snapshot(path: &Path, r: &RunReport) -> Result<(), ReportError> {
    let s = Snapshot {
        office_name: r.office_name.to_string(),
        period: r.period.to_string(),
        generated_at: r.generated_at.clone(),
        programs: r
            .totals
            .programs
            .iter()
            .map(|(p, t)| {
                (*p, [tally(t.approved), tally(t.paid), tally(t.held), tally(t.skipped)], t.warned, t.refused)
            })
            .collect(),
        places: r
            .totals
            .places
            .iter()
            .map(|(k, v)| {
                (k.program, k.township.clone(), k.village.clone(), v.households, v.people, tally(v.paid), tally(v.held))
            })
            .collect(),
        exceptions: ExceptionList(r.exceptions),
        changes: r
            .changes
            .iter()
            .map(|c| {
                (
                    c.program,
                    c.id_number_masked.clone(),
                    c.name.clone(),
                    c.kind.code().to_string(),
                    c.previous_amount.map(|f| f.0),
                    c.amount.map(|f| f.0),
                )
            })
            .collect(),
    };
    crate::fsutil::write_atomic_with(path, |w| serde_json::to_writer(w, &s).map_err(std::io::Error::from))
        .map_err(|e| ReportError::io(path, e))
}

/// Redraws `reports_dir/report.html` from `report.json` with `failures`.
/// Returns false (and writes nothing) when the folder has no snapshot.
pub fn refresh_html(reports_dir: &Path, failures: &[Failure]) -> Result<bool, ReportError> {
    let path = reports_dir.join("report.json");
    let Ok(bytes) = std::fs::read(&path) else { return Ok(false) };
    let s: Snapshot = serde_json::from_slice(&bytes).map_err(|e| ReportError::io(&path, e.into()))?;
    let Ok(period) = s.period.parse() else { return Ok(false) };
    let mut totals = RunTotals::default();
    for (p, [approved, paid, held, skipped], warned, refused) in s.programs {
        let t = ProgramTotals {
            approved: untally(approved),
            paid: untally(paid),
            held: untally(held),
            skipped: untally(skipped),
            warned,
            refused,
        };
        totals.programs.insert(p, t);
    }
    for (program, township, village, households, people, paid, held) in s.places {
        let v = PlaceTotals { households, people, paid: untally(paid), held: untally(held) };
        totals.places.insert(PlaceKey { program, township, village }, v);
    }
    let exceptions: Vec<Exception> = s
        .exceptions
        .into_iter()
        .filter_map(|(program, file, row, field, code, name, id_number_masked, message)| {
            Some(Exception {
                program,
                file,
                row,
                field: static_field(&field),
                code: code_of(&code)?,
                name,
                id_number_masked,
                message,
            })
        })
        .collect();
    let changes: Vec<Change> = s
        .changes
        .into_iter()
        .filter_map(|(program, id_number_masked, name, kind, previous, amount)| {
            let kind = [ChangeKind::New, ChangeKind::Dropped, ChangeKind::AmountChanged]
                .into_iter()
                .find(|k| k.code() == kind)?;
            Some(Change {
                program,
                id_number_masked,
                name,
                kind,
                previous_amount: previous.map(Fen),
                amount: amount.map(Fen),
            })
        })
        .collect();
    let r = RunReport {
        office_name: &s.office_name,
        period,
        generated_at: s.generated_at,
        totals: &totals,
        paid: &[],
        bank_files: &[],
        exceptions: &exceptions,
        changes: &changes,
        failures,
    };
    html::write(&reports_dir.join("report.html"), &r, ReportSet::Run)?;
    Ok(true)
}

fn static_field(s: &str) -> &'static str {
    Field::ALL.into_iter().map(Field::code).find(|c| *c == s).unwrap_or("")
}

fn code_of(s: &str) -> Option<Code> {
    use Code::*;
    [V01, V02, V03, V04, V05, V06, W01, R01, R02, R03, R04, R05, R06, R07].into_iter().find(|c| c.as_str() == s)
}
