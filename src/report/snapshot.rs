//! `reports/report.json`: what a run's one-page report was drawn from (totals,
//! exceptions with masked IDs, changes), so that `returns` can redraw
//! `report.html` with the failures by reason once receipts arrive, without
//! reading the rosters again. Holds no full ID or account number.

use std::path::Path;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{html, ExceptionSource, ReportError, ReportSet, RunReport};
use crate::domain::{Change, ChangeKind, Code, Exception, Failure, Fen, Field, Program};
use crate::totals::{PlaceKey, PlaceTotals, ProgramTotals, RunTotals, Tally};

/// (program, [approved, paid, held, skipped], warned, refused)
type ProgramRow = (Program, [(u64, Decimal); 4], u64, bool);
/// (program, township, village, households, people, paid, held)
type PlaceRow = (Program, String, String, u64, u64, (u64, Decimal), (u64, Decimal));
/// (program, file, row, field, code, name, id_number_masked, message)
pub(super) type ExceptionRow = (Program, String, u64, String, String, String, String, String);
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

/// The exceptions as [`ExceptionRow`]s, serialized one at a time as they are
/// read (from a list, or from the run's [`super::ExceptionLog`]).
struct ExceptionList<'a>(ExceptionSource<'a>);

impl Serialize for ExceptionList<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeSeq as _};
        let mut seq = s.serialize_seq(usize::try_from(self.0.counts().len).ok())?;
        let mut failed = None;
        let read = self.0.for_each(&mut |e| {
            let (masked, message) = (super::scrub(&e.id_number_masked), super::scrub(&e.message));
            let (file, name) = (super::scrub(&e.file), super::scrub(&e.name));
            let row = (e.program, file, e.row, e.field, e.code.as_str(), name, masked, message);
            seq.serialize_element(&row).map_err(|err| {
                failed = Some(err);
                std::io::Error::other("serializing an exception failed")
            })
        });
        if let Some(err) = failed {
            return Err(err);
        }
        read.map_err(S::Error::custom)?;
        seq.end()
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
                let (township, village) = (super::scrub(&k.township).into(), super::scrub(&k.village).into());
                (k.program, township, village, v.households, v.people, tally(v.paid), tally(v.held))
            })
            .collect(),
        exceptions: ExceptionList(r.exceptions),
        changes: r
            .changes
            .iter()
            .map(|c| {
                (
                    c.program,
                    super::scrub(&c.id_number_masked).into_owned(),
                    super::scrub(&c.name).into(),
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
            approval: None,
        };
        totals.programs.insert(p, t);
    }
    for (program, township, village, households, people, paid, held) in s.places {
        let v = PlaceTotals { households, people, paid: untally(paid), held: untally(held) };
        totals.places.insert(PlaceKey { program, township, village }, v);
    }
    let exceptions: Vec<Exception> = s.exceptions.into_iter().filter_map(exception_of).collect();
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
        exceptions: ExceptionSource::List(&exceptions),
        changes: &changes,
        failures,
    };
    html::write(&reports_dir.join("report.html"), &r, ReportSet::Run)?;
    Ok(true)
}

/// An exception as [`ExceptionRow`] holds it; `None` for a code this program
/// does not know.
pub(super) fn exception_of(row: ExceptionRow) -> Option<Exception> {
    let (program, file, row, field, code, name, id_number_masked, message) = row;
    let code = Code::ALL.into_iter().find(|c| c.as_str() == code)?;
    Some(Exception { program, file, row, field: static_field(&field), code, name, id_number_masked, message })
}

fn static_field(s: &str) -> &'static str {
    Field::ALL.into_iter().map(Field::code).find(|c| *c == s).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ExceptionLog;

    /// report.json holds the same exceptions, byte for byte, whether they come
    /// from a list or from the run's log; ID-like digits in free text are scrubbed
    /// either way.
    #[test]
    fn a_logged_list_serializes_as_the_list_does() {
        let list: Vec<Exception> = (0..300u64)
            .map(|i| Exception {
                program: Program::ALL[i as usize % Program::ALL.len()],
                file: format!("rosters/2026-11/{i}.csv"),
                row: i,
                field: if i % 2 == 0 { "amount" } else { "" },
                code: Code::ALL[i as usize % Code::ALL.len()],
                name: "王\u{3000}伟".into(),
                id_number_masked: "110105********0021".into(),
                message: format!("身份证 11010519491231002{} 重复", i % 10),
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let mut log = ExceptionLog::create(dir.path()).unwrap();
        list.iter().for_each(|e| log.push(e).unwrap());
        let logged = log.finish().unwrap();
        let from_list = serde_json::to_string(&ExceptionList(ExceptionSource::List(&list))).unwrap();
        let from_log = serde_json::to_string(&ExceptionList(ExceptionSource::Logged(&logged))).unwrap();
        assert_eq!(from_log, from_list);
        assert!(!from_list.contains("11010519491231002"), "scrubbed");
        let rows: Vec<ExceptionRow> = serde_json::from_str(&from_log).unwrap();
        assert_eq!(rows.len(), list.len());
    }
}
