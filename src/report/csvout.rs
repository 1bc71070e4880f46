//! The CSV lists of SPEC §4 and §6. UTF-8 with a byte-order mark (so Excel opens
//! the Chinese right), `\n` line ends, header first, streamed row by row into an
//! atomic write so a million lines never sit in memory as text.

use std::io::{self, Write};
use std::path::Path;

use super::{defuse, masked_id, scrub, yuan, ReportError};
use crate::domain::{Change, Exception, Failure, PaymentLine};
use crate::fsutil::write_atomic_with;
use crate::totals::RunTotals;

/// The UTF-8 byte-order mark Excel needs to read a CSV as UTF-8.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Writes one record from fields of mixed string types (each coerced to `&str`).
macro_rules! row {
    ($w:expr, [$($field:expr),* $(,)?]) => {{
        $w.write_record::<&[&str], &&str>(&[$($field),*])?;
    }};
}

type Rows<'w> = csv::Writer<&'w mut dyn Write>;

/// Streams a CSV: BOM, header, then whatever `rows` writes.
fn write_csv<F>(path: &Path, header: &[&str], rows: F) -> Result<(), ReportError>
where
    F: FnOnce(&mut Rows<'_>) -> csv::Result<()>,
{
    write_atomic_with(path, |w| {
        w.write_all(BOM)?;
        let mut cw = csv::Writer::from_writer(w);
        cw.write_record(header).map_err(io::Error::other)?;
        rows(&mut cw).map_err(io::Error::other)?;
        cw.flush()
    })
    .map_err(|e| ReportError::io(path, e))
}

/// Text for a list many people see: defused and scrubbed of ID-like digit runs.
fn open_text(s: &str) -> String {
    defuse(&scrub(s)).into_owned()
}

pub(super) fn summary(path: &Path, t: &RunTotals) -> Result<(), ReportError> {
    let header = ["program", "township", "village", "paid_lines", "paid_amount", "held_lines", "held_amount"];
    write_csv(path, &header, |w| {
        for (k, v) in &t.places {
            row!(
                w,
                [
                    k.program.code(),
                    &defuse(&k.township),
                    &defuse(&k.village),
                    &v.paid.lines.to_string(),
                    &yuan(v.paid.amount),
                    &v.held.lines.to_string(),
                    &yuan(v.held.amount),
                ]
            );
        }
        Ok(())
    })
}

pub(super) fn exceptions(path: &Path, list: &[Exception]) -> Result<(), ReportError> {
    let header = ["program", "file", "row", "field", "code", "severity", "name", "id_number_masked", "message"];
    write_csv(path, &header, |w| {
        for e in list {
            row!(
                w,
                [
                    e.program.code(),
                    &open_text(&e.file),
                    &e.row.to_string(),
                    &defuse(e.field),
                    e.code.as_str(),
                    e.severity().code(),
                    &open_text(&e.name),
                    &defuse(&masked_id(&e.id_number_masked)),
                    &open_text(&e.message),
                ]
            );
        }
        Ok(())
    })
}

pub(super) fn notice(path: &Path, paid: &[PaymentLine]) -> Result<(), ReportError> {
    let header = ["program", "township", "village", "name", "id_number_masked", "amount"];
    write_csv(path, &header, |w| {
        for l in paid {
            row!(
                w,
                [
                    l.program.code(),
                    &open_text(&l.township),
                    &open_text(&l.village),
                    &open_text(&l.name),
                    &l.id_number.masked(),
                    &l.amount.yuan_string(),
                ]
            );
        }
        Ok(())
    })
}

/// The one list with full ID and account numbers: it exists so the bank
/// reconciliation can match line by line.
pub(super) fn paid(path: &Path, paid: &[PaymentLine], bank_files: &[String]) -> Result<(), ReportError> {
    let header =
        ["program", "end_to_end_id", "township", "village", "name", "id_number", "account", "amount", "bank_file"];
    write_csv(path, &header, |w| {
        for (l, file) in paid.iter().zip(bank_files) {
            row!(
                w,
                [
                    l.program.code(),
                    &defuse(l.end_to_end_id.as_str()),
                    &defuse(&l.township),
                    &defuse(&l.village),
                    &defuse(&l.name),
                    l.id_number.as_str(),
                    l.account.as_str(),
                    &l.amount.yuan_string(),
                    &defuse(file),
                ]
            );
        }
        Ok(())
    })
}

pub(super) fn changes(path: &Path, list: &[Change]) -> Result<(), ReportError> {
    let header = ["program", "id_number_masked", "name", "change", "previous_amount", "amount"];
    let amount = |a: Option<crate::domain::Fen>| a.map(|f| f.yuan_string()).unwrap_or_default();
    write_csv(path, &header, |w| {
        for c in list {
            row!(
                w,
                [
                    c.program.code(),
                    &defuse(&masked_id(&c.id_number_masked)),
                    &open_text(&c.name),
                    c.kind.code(),
                    &amount(c.previous_amount),
                    &amount(c.amount),
                ]
            );
        }
        Ok(())
    })
}

pub(super) fn failures(path: &Path, list: &[Failure]) -> Result<(), ReportError> {
    let header = [
        "program",
        "end_to_end_id",
        "township",
        "village",
        "name",
        "id_number_masked",
        "amount",
        "status",
        "reason_code",
        "reason_text",
        "action",
    ];
    write_csv(path, &header, |w| {
        for f in list {
            row!(
                w,
                [
                    f.program.code(),
                    &open_text(&f.end_to_end_id),
                    &open_text(&f.township),
                    &open_text(&f.village),
                    &open_text(&f.name),
                    &defuse(&masked_id(&f.id_number_masked)),
                    &f.amount.yuan_string(),
                    f.status.code(),
                    &open_text(&f.reason_code),
                    &open_text(&f.reason_text),
                    &open_text(&f.action),
                ]
            );
        }
        Ok(())
    })
}
