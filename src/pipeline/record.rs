//! A batch's payment record (发放记录): `<period>/records/<batch>/paid.csv`, every
//! line the batch paid with all the ledger keeps of it, listed with its SHA-256
//! in the batch's signed manifest.
//!
//! Why: the ledger is a cache of signed files (SPEC §8). The bank files alone do
//! not carry everything a later run needs (a text layout may hold no ID number,
//! township or corrected line's original), so `disburse ledger rebuild` replays
//! this record. It holds full ID and account numbers, like `reports/paid.csv`
//! (whose columns it begins with), and so keeps that file name.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::Digest;

use super::{io_err, PipelineError};
use crate::domain::{parse_amount, Fen, LineKind, PaymentStatus, Period, Program, SourcePos, Text};
use crate::ledger::LedgerLine;
use crate::sign::manifest::RecordEntry;

/// The record's columns: `reports/paid.csv`'s, then what a correction and the
/// payee need, then where the line came from (`trace`), then the line type and
/// covered month (SPEC §9). A record written before the last ones were added has
/// [`OLD_COLUMNS`] or [`SOURCE_COLUMNS`] and reads the same (its lines basic).
pub(crate) const HEADER: [&str; 17] = [
    "program",
    "end_to_end_id",
    "township",
    "village",
    "name",
    "id_number",
    "account",
    "amount",
    "bank_file",
    "payee_name",
    "bank",
    "original_id",
    "retry",
    "source_file",
    "source_row",
    "line_type",
    "covers",
];

/// The columns of a record without the source columns.
const OLD_COLUMNS: usize = 13;
/// The columns of a record with the source columns but without the line type.
const SOURCE_COLUMNS: usize = 15;

/// Where a batch's record lives, relative to its period folder.
pub(crate) fn relative_path(batch: &str) -> String {
    format!("records/{batch}/paid.csv")
}

/// Bytes written, hashed as they pass.
struct Hashing {
    file: std::io::BufWriter<std::fs::File>,
    sha: sha2::Sha256,
    len: u64,
}

impl Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.sha.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Writes a batch's record into its staging folder as the lines are recorded.
pub(crate) struct RecordWriter {
    path: PathBuf,
    batch: String,
    csv: csv::Writer<Hashing>,
    lines: u64,
    total: Fen,
}

impl RecordWriter {
    pub(crate) fn create(staging: &Path, batch: &str) -> Result<RecordWriter, PipelineError> {
        let path = staging.join(relative_path(batch));
        let dir = path.parent().expect("has a folder");
        crate::fsutil::create_private_dir(dir).map_err(io_err(dir))?;
        let mut options = std::fs::File::options();
        options.create(true).truncate(true).write(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&path).map_err(io_err(&path))?;
        let hashing =
            Hashing { file: std::io::BufWriter::with_capacity(1 << 16, file), sha: sha2::Sha256::new(), len: 0 };
        let mut csv = csv::Writer::from_writer(hashing);
        csv.write_record(HEADER).map_err(|e| csv_err(&path, e))?;
        Ok(RecordWriter { path, batch: batch.to_string(), csv, lines: 0, total: Fen::ZERO })
    }

    pub(crate) fn add(&mut self, lines: &[LedgerLine]) -> Result<(), PipelineError> {
        let mut row_buf = [0u8; 20];
        for l in lines {
            let amount = l.amount.yuan_string();
            let retry = if l.original_id.is_some() { l.retry.to_string() } else { String::new() };
            let (source_file, source_row) = match &l.source {
                Some(pos) => (pos.file.as_str(), itoa_row(pos.row, &mut row_buf)),
                None => ("", ""),
            };
            self.csv
                .write_record([
                    l.program.code(),
                    &l.end_to_end_id,
                    &l.township,
                    &l.village,
                    &l.name,
                    &l.id_number,
                    &l.account,
                    &amount,
                    &l.bank_file,
                    &l.payee_name,
                    &l.bank,
                    l.original_id.as_deref().unwrap_or(""),
                    &retry,
                    source_file,
                    source_row,
                    l.kind.line_type.code(),
                    l.kind.covers_str(),
                ])
                .map_err(|e| csv_err(&self.path, e))?;
            self.lines += 1;
            self.total += l.amount;
        }
        Ok(())
    }

    /// Flushes and syncs the record; returns its manifest entry.
    pub(crate) fn finish(self) -> Result<RecordEntry, PipelineError> {
        let RecordWriter { path, batch, csv, lines, total } = self;
        let mut h = csv.into_inner().map_err(|e| io_err(&path)(e.into_error()))?;
        h.file.flush().map_err(io_err(&path))?;
        let file = h.file.into_inner().map_err(|e| io_err(&path)(e.into_error()))?;
        file.sync_all().map_err(io_err(&path))?;
        Ok(RecordEntry {
            path: relative_path(&batch),
            run_id: batch,
            size: h.len,
            sha256: hex::encode(h.sha.finalize()),
            lines,
            total: total.yuan_string(),
        })
    }
}

fn csv_err(path: &Path, e: csv::Error) -> PipelineError {
    io_err(path)(std::io::Error::other(e.to_string()))
}

/// Reads a batch's record (`period` its period), handing its lines on in chunks.
pub(crate) fn read(
    path: &Path,
    period: Period,
    chunk: usize,
    each: &mut dyn FnMut(Vec<LedgerLine>) -> Result<(), PipelineError>,
) -> Result<(), PipelineError> {
    RecordReader::open(path, period)?.read_all(chunk, each).map(drop)
}

/// Consecutive lines of one program in a record: where the first begins and
/// how many there are. A record lists its lines program after program, so a
/// month's record has a few of these, found while it is read.
#[derive(Debug, Clone)]
pub(crate) struct Stretch {
    pub program: Program,
    start: csv::Position,
    /// The first line's row in the file (the header is row 1).
    row: u64,
    lines: u64,
}

/// A batch's record open for reading: whole, or again stretch by stretch.
///
/// Why stretches: the month's workbooks list the lines program by program
/// across every batch, while the record lists them batch by batch; reading
/// each record again once per program parsed every line as many times as the
/// month has programs (`reissue` of a five-program month: six reads of a
/// million lines). Seeking to the program's stretches reads each line once more.
pub(crate) struct RecordReader {
    path: PathBuf,
    period: Period,
    r: csv::Reader<std::fs::File>,
}

impl RecordReader {
    /// Opens the record at `path` and checks its columns.
    pub(crate) fn open(path: &Path, period: Period) -> Result<RecordReader, PipelineError> {
        let mut r = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_path(path)
            .map_err(|e| io_err(path)(std::io::Error::other(e.to_string())))?;
        let reader = |r| RecordReader { path: path.to_path_buf(), period, r };
        let headers = r.headers().map_err(|e| reader_bad(path, 1, e.to_string()))?;
        let columns: Vec<&str> = headers.iter().collect();
        if columns != HEADER && columns != HEADER[..OLD_COLUMNS] && columns != HEADER[..SOURCE_COLUMNS] {
            return Err(reader_bad(path, 1, "not the columns of a payment record".into()));
        }
        Ok(reader(r))
    }

    /// Reads every line, handing them on in chunks; returns the record's stretches.
    pub(crate) fn read_all(
        &mut self,
        chunk: usize,
        each: &mut dyn FnMut(Vec<LedgerLine>) -> Result<(), PipelineError>,
    ) -> Result<Vec<Stretch>, PipelineError> {
        let mut stretches: Vec<Stretch> = Vec::new();
        let mut out = Vec::with_capacity(chunk);
        let mut rec = csv::StringRecord::new();
        let mut row = 1;
        while self.r.read_record(&mut rec).map_err(|e| self.bad(row + 1, e.to_string()))? {
            row += 1;
            let line = parse_line(&rec, self.period).map_err(|why| self.bad(row, why))?;
            match stretches.last_mut() {
                Some(s) if s.program == line.program => s.lines += 1,
                _ => {
                    let start = rec.position().cloned().expect("a record read has its position");
                    stretches.push(Stretch { program: line.program, start, row, lines: 1 });
                }
            }
            out.push(line);
            if out.len() == chunk {
                each(std::mem::replace(&mut out, Vec::with_capacity(chunk)))?;
            }
        }
        if !out.is_empty() {
            each(out)?;
        }
        Ok(stretches)
    }

    /// Reads the lines of `s` (one of this record's [`RecordReader::read_all`]
    /// gave) again, in chunks.
    pub(crate) fn read_stretch(
        &mut self,
        s: &Stretch,
        chunk: usize,
        each: &mut dyn FnMut(Vec<LedgerLine>) -> Result<(), PipelineError>,
    ) -> Result<(), PipelineError> {
        self.r.seek(s.start.clone()).map_err(|e| self.bad(s.row, e.to_string()))?;
        let mut out = Vec::with_capacity(chunk.min(s.lines as usize));
        let mut rec = csv::StringRecord::new();
        for row in s.row..s.row + s.lines {
            let changed = |path: &Path| reader_bad(path, row, "the record changed while it was read".into());
            let read = self.r.read_record(&mut rec).map_err(|e| reader_bad(&self.path, row, e.to_string()))?;
            if !read {
                return Err(changed(&self.path));
            }
            let line = parse_line(&rec, self.period).map_err(|why| self.bad(row, why))?;
            if line.program != s.program {
                return Err(changed(&self.path));
            }
            out.push(line);
            if out.len() == chunk {
                each(std::mem::replace(&mut out, Vec::with_capacity(chunk)))?;
            }
        }
        if !out.is_empty() {
            each(out)?;
        }
        Ok(())
    }

    fn bad(&self, row: u64, why: String) -> PipelineError {
        reader_bad(&self.path, row, why)
    }
}

fn reader_bad(path: &Path, row: u64, why: String) -> PipelineError {
    PipelineError::Refused(format!("{} row {row}: {why}; the payment record cannot be replayed", path.display()))
}

/// One record row as the ledger line it was (status `sent`: receipts are replayed after).
fn parse_line(r: &csv::StringRecord, period: Period) -> Result<LedgerLine, String> {
    let f = |i: usize| r.get(i).unwrap_or("");
    let amount = parse_amount(f(7)).ok().and_then(Fen::from_yuan).ok_or(format!("amount '{}' is not yuan", f(7)))?;
    let original_id = Some(f(11)).filter(|s| !s.is_empty()).map(str::to_string);
    let retry = if original_id.is_some() { f(12).parse().map_err(|_| format!("retry '{}'", f(12)))? } else { 0 };
    Ok(LedgerLine {
        end_to_end_id: Text::new(f(1)),
        program: f(0).parse()?,
        period,
        id_number: Text::new(f(5)),
        name: Text::new(f(4)),
        township: Text::new(f(2)),
        village: Text::new(f(3)),
        payee_name: Text::new(f(9)),
        account: Text::new(f(6)),
        bank: Text::new(f(10)),
        amount,
        bank_file: Text::new(f(8)),
        status: PaymentStatus::Sent,
        reason_code: String::new(),
        reason_text: String::new(),
        original_id,
        retry,
        source: source_of(r),
        kind: match (r.get(SOURCE_COLUMNS), r.get(SOURCE_COLUMNS + 1)) {
            (Some(t), Some(c)) => LineKind::from_columns(t, c).ok_or(format!("line type '{t}' / covers '{c}'"))?,
            _ => LineKind::BASIC,
        },
    })
}

/// The row's source columns, if the record has them and they are filled.
pub(crate) fn source_of(r: &csv::StringRecord) -> Option<SourcePos> {
    let file = r.get(OLD_COLUMNS).filter(|f| !f.is_empty())?;
    let row = r.get(OLD_COLUMNS + 1)?.parse().ok()?;
    Some(SourcePos { file: Text::new(file), row })
}

/// `n` in decimal, in `buf` (a row number per line, without allocating).
fn itoa_row(mut n: u64, buf: &mut [u8; 20]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..]).expect("digits")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(n: u64, original: Option<&str>) -> LedgerLine {
        LedgerLine {
            end_to_end_id: Text::new(format!("DB202611R001{n:06}")),
            program: "dibao".parse().unwrap(),
            period: "2026-11".parse().unwrap(),
            id_number: Text::new("11010519491231002X"),
            name: Text::new("张三, \"小名\""),
            township: Text::new("城关镇"),
            village: Text::new("东村"),
            payee_name: Text::new("张三"),
            account: Text::new("6222021234567890123"),
            bank: Text::new(""),
            amount: Fen(39_607),
            bank_file: Text::new("DB202611R001-1.xml"),
            status: PaymentStatus::Sent,
            reason_code: String::new(),
            reason_text: String::new(),
            original_id: original.map(str::to_string),
            retry: u32::from(original.is_some()),
            kind: LineKind::BASIC,
            source: Some(SourcePos { file: Text::new("rosters/2026-11/dibao.csv"), row: n + 2 }),
        }
    }

    /// What is written reads back as the same lines, quotes and commas included,
    /// and the entry's size and digest are the file's.
    #[test]
    fn a_record_reads_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let lines = vec![line(1, None), line(2, Some("DB202611R001000009"))];
        let mut w = RecordWriter::create(dir.path(), "C001").unwrap();
        w.add(&lines).unwrap();
        let entry = w.finish().unwrap();
        let path = dir.path().join(&entry.path);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!((entry.size, entry.lines, entry.total.as_str()), (bytes.len() as u64, 2, "792.14"));
        assert_eq!(entry.sha256, crate::fsutil::sha256_hex(&bytes));
        let mut back = Vec::new();
        read(&path, "2026-11".parse().unwrap(), 1, &mut |c| {
            back.extend(c);
            Ok(())
        })
        .unwrap();
        assert_eq!(back, lines);
    }

    /// Stretches are the runs of one program's lines, however the programs
    /// alternate; each reads back exactly its own lines (quoted line breaks
    /// included), in any order and more than once.
    #[test]
    fn each_stretch_reads_back_its_own_lines() {
        let dir = tempfile::tempdir().unwrap();
        let programs = ["dibao", "dibao", "wubao", "dibao", "yimin", "yimin", "yimin", "wubao"];
        let lines: Vec<LedgerLine> = programs
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut l = line(i as u64, None);
                l.program = p.parse().unwrap();
                l.village = Text::new(format!("东村\n{i}组"));
                l
            })
            .collect();
        let mut w = RecordWriter::create(dir.path(), "R001").unwrap();
        w.add(&lines).unwrap();
        let path = dir.path().join(w.finish().unwrap().path);
        let period = "2026-11".parse().unwrap();
        let mut reader = RecordReader::open(&path, period).unwrap();
        let mut all = Vec::new();
        let stretches = reader
            .read_all(3, &mut |c| {
                all.extend(c);
                Ok(())
            })
            .unwrap();
        assert_eq!(all, lines);
        let runs: Vec<(&str, u64)> = stretches.iter().map(|s| (s.program.code(), s.lines)).collect();
        assert_eq!(runs, [("dibao", 2), ("wubao", 1), ("dibao", 1), ("yimin", 3), ("wubao", 1)]);
        let mut starts = vec![0];
        for s in &stretches {
            starts.push(starts.last().unwrap() + s.lines as usize);
        }
        for i in [3, 0, 4, 1, 2, 0] {
            let mut back = Vec::new();
            reader
                .read_stretch(&stretches[i], 2, &mut |c| {
                    back.extend(c);
                    Ok(())
                })
                .unwrap();
            assert_eq!(back, lines[starts[i]..starts[i + 1]], "stretch {i}");
        }
    }
}
