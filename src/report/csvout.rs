//! The CSV lists of SPEC §4 and §6. UTF-8 with a byte-order mark (so Excel opens
//! the Chinese right), `\n` line ends, header first, streamed row by row into an
//! atomic write so a million lines never sit in memory as text.

use std::borrow::Cow;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tempfile::TempPath;

use super::{defuse, masked_id, scrub, yuan, ExceptionSource, ReportError, Staged};
use crate::domain::{Change, Failure, PaymentLine, YUAN_MAX};
use crate::fsutil::{create_private_dir, write_atomic_with, EarlyWrite};
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
    open_text_cow(s).into_owned()
}

/// [`open_text`] without a copy when nothing needs changing (the usual case).
fn open_text_cow(s: &str) -> Cow<'_, str> {
    match scrub(s) {
        Cow::Borrowed(b) => defuse(b),
        Cow::Owned(o) => Cow::Owned(defuse(&o).into_owned()),
    }
}

pub(super) fn summary(path: &Path, t: &RunTotals) -> Result<(), ReportError> {
    let header = ["program", "township", "village", "paid_lines", "paid_amount", "held_lines", "held_amount"];
    write_csv(path, &header, |w| {
        for (k, v) in &t.places {
            row!(
                w,
                [
                    k.program.code(),
                    &open_text(&k.township),
                    &open_text(&k.village),
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

pub(super) fn exceptions(path: &Path, list: ExceptionSource) -> Result<(), ReportError> {
    let header = ["program", "file", "row", "field", "code", "severity", "name", "id_number_masked", "message"];
    write_csv(path, &header, |w| {
        list.for_each(&mut |e| {
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
            Ok(())
        })?;
        Ok(())
    })
}

/// A CSV list written row by row into a temporary file beside its path, renamed
/// in only when complete ([`Staged::persist`]).
pub(super) struct CsvStream {
    path: PathBuf,
    w: csv::Writer<EarlyWrite>,
    tmp: TempPath,
}

impl CsvStream {
    pub(super) fn create(path: &Path, header: &[&str]) -> Result<CsvStream, ReportError> {
        let io_err = |e: io::Error| ReportError::io(path, e);
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        create_private_dir(dir).map_err(io_err)?;
        let (mut file, tmp) = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir).map_err(io_err)?.into_parts();
        file.write_all(BOM).map_err(io_err)?;
        let mut w = csv::WriterBuilder::new().buffer_capacity(1 << 20).from_writer(EarlyWrite::new(file));
        w.write_record(header).map_err(|e| io_err(io::Error::other(e)))?;
        Ok(CsvStream { path: path.to_path_buf(), w, tmp })
    }

    fn err(&self, e: csv::Error) -> ReportError {
        ReportError::io(&self.path, io::Error::other(e))
    }

    /// Flushes and syncs the file; it is renamed in by the caller.
    pub(super) fn finish(self) -> Result<Staged, ReportError> {
        let io_err = |e: io::Error| ReportError::io(&self.path, e);
        let file = self.w.into_inner().map_err(|e| io_err(e.into_error()))?.into_inner();
        file.sync_all().map_err(io_err)?;
        Ok(Staged { tmp: self.tmp, path: self.path })
    }
}

pub(super) const NOTICE_HEADER: [&str; 6] = ["program", "township", "village", "name", "id_number_masked", "amount"];

pub(super) fn notice_row(out: &mut CsvStream, l: &PaymentLine) -> Result<(), ReportError> {
    let w = &mut out.w;
    let mut yuan = [0; YUAN_MAX];
    let rec: [&str; 6] = [
        l.program.code(),
        &open_text_cow(&l.township),
        &open_text_cow(&l.village),
        &open_text_cow(&l.name),
        &l.id_number.masked(),
        l.amount.yuan_str(&mut yuan),
    ];
    w.write_record(rec).map_err(|e| out.err(e))
}

pub(super) const PAID_HEADER: [&str; 9] =
    ["program", "end_to_end_id", "township", "village", "name", "id_number", "account", "amount", "bank_file"];

/// The one list with full ID and account numbers: it exists so the bank
/// reconciliation can match line by line.
pub(super) fn paid_row(out: &mut CsvStream, l: &PaymentLine, bank_file: &str) -> Result<(), ReportError> {
    let w = &mut out.w;
    let mut yuan = [0; YUAN_MAX];
    let rec: [&str; 9] = [
        l.program.code(),
        &defuse(l.end_to_end_id.as_str()),
        &defuse(&l.township),
        &defuse(&l.village),
        &defuse(&l.name),
        l.id_number.as_str(),
        l.account.as_str(),
        l.amount.yuan_str(&mut yuan),
        &defuse(bank_file),
    ];
    w.write_record(rec).map_err(|e| out.err(e))
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
