//! Pass 1's checked rows, kept on disk for pass 2.
//!
//! Pass 2 used to read and check every roster a second time: parsing CSV, GBK
//! and Excel and validating a million rows again was a fifth of a run's CPU.
//! Pass 1 now writes each [`Checked`] row, exactly as validation made it, to a
//! spill file beside the outputs, and pass 2 reads them back in order. This also
//! means a roster saved by someone between the passes can no longer split a run
//! in two: both passes see the bytes pass 1 read.
//!
//! The spill holds full ID and account numbers, so it is an unnamed temporary
//! file (`O_TMPFILE` or created and unlinked at once, mode 0600): no other
//! process can open it by name, and the kernel frees it when the command ends,
//! however it ends. It is written and read through buffers, so it costs memory
//! only in the page cache.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use rust_decimal::Decimal;

use super::Checked;
use crate::domain::{
    file_text, Account, Code, EndToEndId, Exception, Fen, Field, IdNumber, LineKind, LineType, PayeeType, PaymentLine,
    Period, Program, SourcePos, Text,
};

/// Where pass 1 writes one roster's rows.
pub struct SpillWriter {
    out: BufWriter<File>,
    /// One row's bytes, built here and written with one call: ~25 small writes
    /// through the `BufWriter` a row (each a bounds check and a `memcpy` call)
    /// were ~5% of pass 1.
    row: Vec<u8>,
}

/// A roster's rows once written: read back with [`SpillReader`].
#[derive(Debug)]
pub struct Spill(File);

/// Reads a [`Spill`] from the start; each call to `next` gives the next row.
pub struct SpillReader<'a> {
    input: BufReader<&'a File>,
    program: Program,
    /// The file name of the row before, shared by the next if the same.
    file: Text,
}

const BUFFER: usize = 256 * 1024;

impl SpillWriter {
    /// A new unnamed spill file in `dir` (created if missing).
    pub fn create(dir: &Path) -> io::Result<SpillWriter> {
        crate::fsutil::create_private_dir(dir)?;
        let out = BufWriter::with_capacity(BUFFER, tempfile::tempfile_in(dir)?);
        Ok(SpillWriter { out, row: Vec::with_capacity(1024) })
    }

    /// Writes one checked row. Every field is named (no `..`): a field added to
    /// [`Checked`] does not compile until the spill writes it.
    pub fn push(&mut self, c: &Checked) -> io::Result<()> {
        let Checked { program: _, file, row, township, village, name, id, written_amount, kind, line, exceptions } = c;
        let w = &mut self.row;
        w.clear();
        put_str(w, file);
        put_u64(w, *row);
        w.push(kind.line_type.tag());
        put_u64(w, kind.covers.map_or(0, |p| p.year as u64 * 12 + u64::from(p.month)));
        put_str(w, township);
        put_str(w, village);
        put_str(w, name);
        put_opt_str(w, id.as_ref().map(IdNumber::as_str));
        w.extend_from_slice(&written_amount.serialize());
        match line {
            None => w.push(0),
            Some(l) => {
                w.push(1);
                put_line(w, l, c);
            }
        }
        put_u64(w, exceptions.len() as u64);
        for e in exceptions {
            put_exception(w, e, c);
        }
        self.out.write_all(w)
    }

    /// Flushes the rows to the file.
    pub fn finish(self) -> io::Result<Spill> {
        self.out.into_inner().map(Spill).map_err(|e| e.into_error())
    }
}

impl Spill {
    pub fn reader(&self, program: Program) -> io::Result<SpillReader<'_>> {
        let mut file = &self.0;
        file.seek(SeekFrom::Start(0))?;
        Ok(SpillReader { input: BufReader::with_capacity(BUFFER, file), program, file: Text::default() })
    }
}

impl SpillReader<'_> {
    /// The next row, as pass 1 checked it.
    pub fn next_row(&mut self) -> io::Result<Checked> {
        let r = &mut self.input;
        let file = get_file(r, &mut self.file)?;
        let row = get_u64(r)?;
        let line_type = parse_again(LineType::from_tag(get_u8(r)?))?;
        let covers = match get_u64(r)? {
            0 => None,
            n => Some(Period { year: ((n - 1) / 12) as i32, month: ((n - 1) % 12 + 1) as u32 }),
        };
        let kind = LineKind { line_type, covers };
        let township = get_str(r)?;
        let village = get_str(r)?;
        let name = get_str(r)?;
        let id = get_opt_str(r)?.map(|s| parse_again(IdNumber::from_checked(s))).transpose()?;
        let mut amount = [0u8; 16];
        r.read_exact(&mut amount)?;
        let written_amount = Decimal::deserialize(amount);
        let mut c = Checked {
            program: self.program,
            file,
            row,
            township,
            village,
            name,
            id,
            written_amount,
            kind,
            line: None,
            exceptions: Vec::new(),
        };
        if get_u8(r)? != 0 {
            c.line = Some(get_line(r, &c)?);
        }
        let n = get_u64(r)?;
        c.exceptions.reserve(n.min(64) as usize);
        for _ in 0..n {
            let e = get_exception(r, &c)?;
            c.exceptions.push(e);
        }
        Ok(c)
    }
}

/// The row's own texts (place, name, ID, file) are written once: a line or an
/// exception that repeats one stores a zero length instead (see [`put_same`]).
/// Every field is named, as in [`SpillWriter::push`].
fn put_line(w: &mut Vec<u8>, l: &PaymentLine, c: &Checked) {
    let PaymentLine {
        program: _,
        end_to_end_id,
        township,
        village,
        name,
        id_number,
        payee_name,
        payee_type,
        account,
        bank,
        amount,
        household_size,
        category,
        note,
        kind: _,
        pos: SourcePos { file, row },
    } = l;
    put_str(w, &end_to_end_id.0);
    put_same(w, township, &c.township);
    put_same(w, village, &c.village);
    put_same(w, name, &c.name);
    put_same(w, id_number.as_str(), c.id.as_ref().map_or("", IdNumber::as_str));
    put_str(w, payee_name);
    w.push(payee_type.tag());
    put_str(w, account.as_str());
    put_str(w, bank);
    put_u64(w, amount.0 as u64);
    put_u64(w, household_size.map_or(0, |n| u64::from(n) + 1));
    put_str(w, category);
    put_str(w, note);
    put_same(w, file, &c.file);
    put_u64(w, *row);
}

fn get_line(r: &mut impl BufRead, c: &Checked) -> io::Result<PaymentLine> {
    Ok(PaymentLine {
        program: c.program,
        end_to_end_id: EndToEndId(get_str(r)?),
        township: get_same(r, &c.township)?,
        village: get_same(r, &c.village)?,
        name: get_same(r, &c.name)?,
        id_number: match (get_u64(r)?, &c.id) {
            (0, Some(id)) => id.clone(),
            (0, None) => parse_again(None)?,
            (n, _) => parse_again(IdNumber::from_checked(get_bytes(r, n - 1)?))?,
        },
        payee_name: get_str(r)?,
        payee_type: parse_again(PayeeType::from_tag(get_u8(r)?))?,
        account: parse_again(Account::from_checked(get_str(r)?))?,
        bank: get_str(r)?,
        amount: Fen(get_u64(r)? as i64),
        household_size: match get_u64(r)? {
            0 => None,
            n => Some(parse_again(u32::try_from(n - 1).ok())?),
        },
        category: get_str(r)?,
        note: get_str(r)?,
        kind: c.kind,
        pos: SourcePos { file: get_same(r, &c.file)?, row: get_u64(r)? },
    })
}

/// Every field is named, as in [`SpillWriter::push`].
fn put_exception(w: &mut Vec<u8>, e: &Exception, c: &Checked) {
    let Exception { program: _, file, row, field, code, name, id_number_masked, message } = e;
    put_same(w, file, &c.file);
    put_u64(w, *row);
    let field = Field::ALL.into_iter().find(|f| f.code() == *field).map_or(u8::MAX, Field::tag);
    w.extend_from_slice(&[field, code.tag()]);
    put_same(w, name, &c.name);
    put_str(w, id_number_masked);
    put_str(w, message);
}

fn get_exception(r: &mut impl BufRead, c: &Checked) -> io::Result<Exception> {
    let file = get_same(r, &c.file)?.into();
    let row = get_u64(r)?;
    let field = match get_u8(r)? {
        u8::MAX => "",
        i => parse_again(Field::from_tag(i))?.code(),
    };
    let code = parse_again(Code::from_tag(get_u8(r)?))?;
    Ok(Exception {
        program: c.program,
        file,
        row,
        field,
        code,
        name: get_same(r, &c.name)?.into(),
        id_number_masked: get_str(r)?.into(),
        message: get_str(r)?.into(),
    })
}

/// A value pass 1 wrote that does not read back: the file was damaged under us.
fn parse_again<T>(v: Option<T>) -> io::Result<T> {
    v.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "the temporary copy of the checked rows is damaged"))
}

/// Numbers are LEB128: seven bits a byte, most lengths and rows in one or three.
fn put_u64(w: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        w.push((n as u8) | 0x80);
        n >>= 7;
    }
    w.push(n as u8);
}

fn get_u64(r: &mut impl BufRead) -> io::Result<u64> {
    let mut n = 0u64;
    for shift in (0..64).step_by(7) {
        let b = get_u8(r)?;
        n |= u64::from(b & 0x7F) << shift;
        if b & 0x80 == 0 {
            return Ok(n);
        }
    }
    parse_again(None)
}

fn put_str(w: &mut Vec<u8>, s: &str) {
    put_u64(w, s.len() as u64);
    w.extend_from_slice(s.as_bytes());
}

fn get_str(r: &mut impl BufRead) -> io::Result<Text> {
    let n = get_u64(r)?;
    get_bytes(r, n)
}

/// `s`, or only a zero when it equals `same` (which the reader already has).
fn put_same(w: &mut Vec<u8>, s: &str, same: &str) {
    if s == same {
        return put_u64(w, 0);
    }
    put_u64(w, s.len() as u64 + 1);
    w.extend_from_slice(s.as_bytes());
}

fn get_same(r: &mut impl BufRead, same: &Text) -> io::Result<Text> {
    match get_u64(r)? {
        0 => Ok(same.clone()),
        n => get_bytes(r, n - 1),
    }
}

/// A row's file name: `last` (the row before's) when the same, read without a
/// copy; otherwise kept as [`file_text`] for the rows after.
fn get_file(r: &mut impl BufRead, last: &mut Text) -> io::Result<Text> {
    let n = get_u64(r)?;
    let buffered = r.fill_buf()?;
    if usize::try_from(n).is_ok_and(|n| buffered.get(..n) == Some(last.as_bytes())) {
        r.consume(n as usize);
    } else {
        *last = file_text(&get_bytes(r, n)?);
    }
    Ok(last.clone())
}

fn put_opt_str(w: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => put_u64(w, 0),
        Some(s) => {
            put_u64(w, s.len() as u64 + 1);
            w.extend_from_slice(s.as_bytes());
        }
    }
}

fn get_opt_str(r: &mut impl BufRead) -> io::Result<Option<Text>> {
    match get_u64(r)? {
        0 => Ok(None),
        n => get_bytes(r, n - 1).map(Some),
    }
}

/// One byte, straight from the reader's buffer (a `read_exact` of one byte
/// was a `memcpy` call; the replay reads a few dozen a row).
fn get_u8(r: &mut impl BufRead) -> io::Result<u8> {
    let b = *r.fill_buf()?.first().ok_or(io::ErrorKind::UnexpectedEof)?;
    r.consume(1);
    Ok(b)
}

/// `n` bytes of text, copied once from the reader's buffer when it holds them
/// (a million rows read a dozen texts each: zeroing a buffer to read into was a
/// third of reading them), inline when short (see [`Text`]).
fn get_bytes(r: &mut impl BufRead, n: u64) -> io::Result<Text> {
    let n = parse_again(usize::try_from(n).ok().filter(|&n| n <= 1 << 30))?;
    let buffered = r.fill_buf()?;
    let text = if buffered.len() >= n {
        let text = Text::from_utf8(&buffered[..n]);
        r.consume(n);
        text
    } else {
        let mut b = Vec::with_capacity(n);
        r.take(n as u64).read_to_end(&mut b)?;
        if b.len() < n {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Text::from_utf8(b)
    };
    text.map_err(|_| parse_again::<()>(None).unwrap_err())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Cell, RosterRow, TextEncoding, TextRules};
    use crate::validate::{check_row, Rules};

    /// A text longer than what the reader holds buffered is read whole; one cut
    /// short is an error, not a shorter text.
    #[test]
    fn texts_cross_the_read_buffer() {
        let mut data = Vec::new();
        put_str(&mut data, "开户银行名称很长的一段");
        put_str(&mut data, "ab");
        let mut r = BufReader::with_capacity(4, &data[..]);
        assert_eq!(get_str(&mut r).unwrap(), "开户银行名称很长的一段");
        assert_eq!(get_str(&mut r).unwrap(), "ab");
        let cut = &data[..10];
        assert!(get_str(&mut BufReader::with_capacity(4, cut)).is_err());
    }

    /// Numbers whose bytes cross the reader's buffer read back whole; a
    /// reader at its end says so.
    #[test]
    fn numbers_cross_the_read_buffer() {
        let values = [0, 1, 127, 128, 300, 16_383, 16_384, 1 << 40, u64::MAX];
        let mut data = Vec::new();
        values.iter().for_each(|&n| put_u64(&mut data, n));
        let mut r = BufReader::with_capacity(2, &data[..]);
        for n in values {
            assert_eq!(get_u64(&mut r).unwrap(), n);
        }
        assert_eq!(get_u8(&mut r).unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        assert!(get_u64(&mut BufReader::new(&[0x80u8][..])).is_err(), "a number cut short");
    }

    fn row(n: u64, cells: &[(Field, &str)]) -> RosterRow {
        RosterRow {
            program: Program::Wubao,
            pos: SourcePos { file: "rosters/2026-11/wubao.csv".into(), row: n },
            cells: cells.iter().map(|(f, v)| (*f, Cell::Text((*v).into()))).collect(),
        }
    }

    /// Every row, paid, warned or held, reads back equal to what was written,
    /// in order.
    #[test]
    fn checked_rows_read_back_whole() {
        let rules = Rules { cap: Fen(500_000), text: TextRules { encoding: TextEncoding::Gbk, name_max: None } };
        let good = [
            (Field::Township, "城关镇"),
            (Field::Village, "东风村"),
            (Field::Name, "张三"),
            (Field::IdNumber, "11010519491231002X"),
            (Field::Account, "6228480402564890018"),
            (Field::Bank, "农业银行"),
            (Field::Amount, "1,234.50"),
            (Field::PayeeType, "监护人"),
            (Field::PayeeName, "张大"),
            (Field::HouseholdSize, "3"),
            (Field::Category, "A类"),
            (Field::Note, "备注"),
        ];
        let mut held = good;
        held[3].1 = "110105194912310021";
        held[6].1 = "abc";
        let mut warned = good;
        warned[4].1 = "6228480402564890019";
        let mut rows: Vec<Checked> = [good.as_slice(), &held, &warned, &good[..7]]
            .iter()
            .enumerate()
            .map(|(i, cells)| check_row(&row(i as u64 + 2, cells), &rules))
            .collect();
        // Texts of a line or exception that differ from the row's own, and
        // numbers past one LEB128 byte.
        let mut odd = rows[2].clone();
        odd.row = u64::MAX;
        odd.township.clear();
        odd.exceptions[0].file = "other.csv".into();
        let l = odd.line.as_mut().unwrap();
        (l.name, l.pos.row, l.amount, l.household_size) = (Text::default(), 1 << 40, Fen(i64::MAX), Some(u32::MAX));
        rows.push(odd);
        assert!(rows[0].line.is_some() && rows[1].line.is_none() && !rows[1].exceptions.is_empty());
        let dir = tempfile::tempdir().unwrap();
        let mut w = SpillWriter::create(&dir.path().join("out")).unwrap();
        for c in &rows {
            w.push(c).unwrap();
        }
        let spill = w.finish().unwrap();
        assert_eq!(std::fs::read_dir(dir.path().join("out")).unwrap().count(), 0, "the spill has no name");
        for _ in 0..2 {
            let mut r = spill.reader(Program::Wubao).unwrap();
            for c in &rows {
                let back = r.next_row().unwrap();
                assert_eq!(format!("{back:?}"), format!("{c:?}"));
            }
            assert!(r.next_row().is_err(), "nothing after the last row");
        }
    }
}
