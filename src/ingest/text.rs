//! Opening an input file, telling what it is from its bytes, and reading CSV text in
//! whichever encoding it turns out to be in.
//!
//! Why detect instead of configure: village clerks save rosters from Excel or WPS
//! as "CSV" (GBK on Chinese Windows), "CSV UTF-8" (with a BOM) or from other tools
//! (UTF-8 without BOM); a setting would be wrong half the time.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Cursor, Read};
use std::path::Path;
use std::rc::Rc;

use csv::StringRecord;
use encoding_rs::{Decoder, DecoderResult, GB18030};

use super::IngestError;

/// How many bytes decide the encoding. Large enough that a roster with a pure
/// ASCII title and header still shows its Chinese names.
const WINDOW: usize = 64 * 1024;

/// A text encoding a CSV input may be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Encoding {
    Utf8,
    Utf8Bom,
    Gbk,
}

impl Encoding {
    pub(super) fn label(self) -> &'static str {
        match self {
            Encoding::Utf8 => "UTF-8",
            Encoding::Utf8Bom => "UTF-8 (BOM)",
            Encoding::Gbk => "GBK",
        }
    }
}

/// What a file turned out to be.
pub(super) enum Sniffed {
    Xlsx,
    Xls,
    Text(TextSource),
}

/// A CSV file ready to be read from its start, with its detected encoding.
pub(super) struct TextSource {
    pub(super) encoding: Encoding,
    /// `,` or, for Excel's "Text (tab delimited)" export, a tab.
    delimiter: u8,
    reader: Box<dyn Read>,
}

/// Opens `path` and tells what it is. `what` names the kind of input for messages
/// ("roster", "approvals file", …).
pub(super) fn sniff(path: &Path, display: &str, what: &'static str) -> Result<Sniffed, IngestError> {
    let file = open(path, display)?;
    let mut file = file;
    let head = read_window(&mut file).map_err(|source| io_error(display, source))?;
    if head.is_empty() {
        return Err(IngestError::Empty { file: display.to_string(), what });
    }
    if head.starts_with(b"PK\x03\x04") {
        return Ok(Sniffed::Xlsx);
    }
    if head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        return Ok(Sniffed::Xls);
    }
    let not_sheet = |looks_like: &str| IngestError::NotASpreadsheet {
        file: display.to_string(),
        looks_like: looks_like.to_string(),
    };
    if let Some(kind) = binary_kind(&head) {
        return Err(not_sheet(kind));
    }
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    if matches!(ext.as_str(), "xlsx" | "xlsm" | "xls") {
        return Err(not_sheet(&crate::tr!(
            "文件名是 .{ext}，但内容不是 Excel 工作簿",
            "it is named .{ext} but its content is not an Excel workbook"
        )));
    }
    let encoding = detect(&head);
    let delimiter = delimiter(&head);
    let skip = if encoding == Encoding::Utf8Bom { 3 } else { 0 };
    let mut cursor = Cursor::new(head);
    cursor.set_position(skip);
    let raw = LoneCr::new(cursor.chain(file));
    let reader: Box<dyn Read> = match encoding {
        Encoding::Gbk => Box::new(GbkReader::new(raw)),
        _ => Box::new(raw),
    };
    Ok(Sniffed::Text(TextSource { encoding, delimiter, reader }))
}

/// Opens a file, turning the usual mistakes into messages a clerk can act on.
pub(super) fn open(path: &Path, display: &str) -> Result<File, IngestError> {
    let file = display.to_string();
    match std::fs::metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(IngestError::NotFound { file }),
        Err(source) => return Err(IngestError::Io { file, source }),
        Ok(m) if m.is_dir() => return Err(IngestError::IsDirectory { file }),
        Ok(_) => {}
    }
    File::open(path).map_err(|source| IngestError::Io { file, source })
}

pub(super) fn io_error(display: &str, source: io::Error) -> IngestError {
    IngestError::Io { file: display.to_string(), source }
}

fn read_window(file: &mut File) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(WINDOW);
    file.by_ref().take(WINDOW as u64).read_to_end(&mut head)?;
    Ok(head)
}

/// Recognises files that are certainly not CSV text, to refuse them with a name.
fn binary_kind(head: &[u8]) -> Option<&'static str> {
    use crate::lang::pick;
    let magic: [(&[u8], &str); 9] = [
        (b"\x89PNG", pick("这是一张 PNG 图片", "it is a PNG image")),
        (b"\xFF\xD8\xFF", pick("这是一张 JPEG 图片", "it is a JPEG image")),
        (b"GIF8", pick("这是一张 GIF 图片", "it is a GIF image")),
        (b"%PDF", pick("这是一个 PDF 文档", "it is a PDF document")),
        (b"\x1F\x8B", pick("这是一个 gzip 压缩包", "it is a gzip archive")),
        (b"Rar!", pick("这是一个 RAR 压缩包", "it is a RAR archive")),
        (b"7z\xBC\xAF", pick("这是一个 7-Zip 压缩包", "it is a 7-Zip archive")),
        (
            b"\xFF\xFE",
            pick(
                "这是 UTF-16 文本，Excel 另存为“Unicode 文本”时就是这样",
                "it is UTF-16 text, as Excel's \"Unicode text\" export writes",
            ),
        ),
        (b"\xFE\xFF", pick("这是 UTF-16 文本", "it is UTF-16 text")),
    ];
    if let Some((_, kind)) = magic.iter().find(|(m, _)| head.starts_with(m)) {
        return Some(kind);
    }
    head.contains(&0).then_some(pick("文件里有二进制数据", "it contains binary data"))
}

/// A tab when the first lines hold more tabs than commas (a tab-delimited export
/// saved as .csv or .txt), else a comma. Both bytes mean the same in UTF-8 and GBK.
fn delimiter(head: &[u8]) -> u8 {
    let first_lines = head.split(|&b| b == b'\n').take(20);
    let (mut tabs, mut commas) = (0usize, 0usize);
    for line in first_lines {
        tabs += line.iter().filter(|&&b| b == b'\t').count();
        commas += line.iter().filter(|&&b| b == b',').count();
    }
    if tabs > commas {
        b'\t'
    } else {
        b','
    }
}

/// UTF-8 with BOM, else strict UTF-8 over the window, else GBK (read as GB18030).
/// A multi-byte character cut by the window's edge does not count against UTF-8.
fn detect(head: &[u8]) -> Encoding {
    if head.starts_with(b"\xEF\xBB\xBF") {
        return Encoding::Utf8Bom;
    }
    match std::str::from_utf8(head) {
        Ok(_) => Encoding::Utf8,
        Err(e) if e.error_len().is_none() && head.len() == WINDOW => Encoding::Utf8,
        // Chinese text that is valid UTF-8 up to one bad spot (a file cut off in
        // the middle of a character, or one pasted line in another encoding) is
        // UTF-8: GBK bytes almost never form several UTF-8 characters in a row,
        // and reading it as GBK would blame line 2 instead of the broken line.
        Err(e) if multibyte_chars(&head[..e.valid_up_to()]) >= 4 => Encoding::Utf8,
        Err(_) => Encoding::Gbk,
    }
}

/// How many non-ASCII characters a valid UTF-8 prefix holds.
fn multibyte_chars(valid: &[u8]) -> usize {
    std::str::from_utf8(valid).map_or(0, |s| s.chars().filter(|c| !c.is_ascii()).count())
}

/// Turns a lone CR (old Mac line ends, or a file whose lines were pasted together
/// from several systems) into CR LF. The CSV parser already ends a record at a
/// lone CR but counts lines by LF only, so without this every row after one would
/// be reported on the wrong line. CR and LF never occur inside a GBK or UTF-8
/// multi-byte character, so working on bytes is safe.
/// It also refuses a line longer than [`MAX_LINE`]: no roster or control line is
/// anywhere near that long, and the CSV parser would otherwise hold the whole
/// line (a damaged 100 MB file with no line ends) in memory.
struct LoneCr<R> {
    inner: R,
    buf: Vec<u8>,
    pos: usize,
    after_cr: bool,
    line: u64,
    line_len: usize,
}

/// The longest line any input file may have, in bytes.
const MAX_LINE: usize = super::limits::LINE_BYTES;

/// The error [`LoneCr`] raises for a line longer than [`MAX_LINE`].
#[derive(Debug)]
struct LineTooLong {
    line: u64,
}

impl std::fmt::Display for LineTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {} is longer than {} bytes", self.line, MAX_LINE)
    }
}

impl std::error::Error for LineTooLong {}

impl<R: Read> LoneCr<R> {
    fn new(inner: R) -> Self {
        LoneCr { inner, buf: Vec::new(), pos: 0, after_cr: false, line: 1, line_len: 0 }
    }
}

impl<R: Read> Read for LoneCr<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.buf.len() {
            let mut raw = [0u8; 8192];
            let n = self.inner.read(&mut raw)?;
            self.buf.clear();
            self.pos = 0;
            self.convert(&raw[..n])?;
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl<R> LoneCr<R> {
    /// Appends `raw` to `buf`, a CR not followed by LF made CR LF. Runs of bytes
    /// with neither are copied whole: going byte by byte was a tenth of reading
    /// a roster.
    fn convert(&mut self, mut raw: &[u8]) -> io::Result<()> {
        while let Some(&first) = raw.first() {
            if self.after_cr && first != b'\n' {
                self.buf.push(b'\n');
                self.after_cr = false;
            }
            let plain = memchr::memchr2(b'\r', b'\n', raw).unwrap_or(raw.len());
            self.buf.extend_from_slice(&raw[..plain]);
            self.line_len += plain;
            if plain > 0 {
                self.after_cr = false;
            }
            if let Some(&b) = raw.get(plain) {
                self.buf.push(b);
                self.after_cr = b == b'\r';
                self.line_len += usize::from(b == b'\r');
            }
            if self.line_len > MAX_LINE {
                let e = LineTooLong { line: self.line };
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
            if raw.get(plain) == Some(&b'\n') {
                self.line += 1;
                self.line_len = 0;
            }
            raw = &raw[(plain + 1).min(raw.len())..];
        }
        Ok(())
    }
}

/// The error a [`GbkReader`] raises for bytes that are not GB18030, carrying the
/// line so the clerk finds them.
#[derive(Debug)]
struct BadBytes {
    line: u64,
}

impl std::fmt::Display for BadBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {} is not valid GBK/GB18030", self.line)
    }
}

impl std::error::Error for BadBytes {}

/// Decodes GBK/GB18030 to UTF-8 as a stream (GB18030 is a superset of GBK, so
/// nothing a GBK file holds is lost). Malformed bytes stop the stream with the
/// line they are on, never a replacement character.
struct GbkReader<R> {
    inner: R,
    decoder: Decoder,
    input: Vec<u8>,
    in_pos: usize,
    in_len: usize,
    eof: bool,
    output: Vec<u8>,
    out_pos: usize,
    out_len: usize,
    finished: bool,
    newlines: u64,
}

impl<R: Read> GbkReader<R> {
    fn new(inner: R) -> Self {
        GbkReader {
            inner,
            decoder: GB18030.new_decoder_without_bom_handling(),
            input: vec![0; 32 * 1024],
            in_pos: 0,
            in_len: 0,
            eof: false,
            output: vec![0; 64 * 1024],
            out_pos: 0,
            out_len: 0,
            finished: false,
            newlines: 0,
        }
    }

    /// Decodes the next chunk into `output`.
    fn fill(&mut self) -> io::Result<()> {
        if self.in_pos == self.in_len && !self.eof {
            let n = loop {
                match self.inner.read(&mut self.input) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other?,
                }
            };
            self.in_pos = 0;
            self.in_len = n;
            self.eof = n == 0;
        }
        let (result, read, written) = self.decoder.decode_to_utf8_without_replacement(
            &self.input[self.in_pos..self.in_len],
            &mut self.output,
            self.eof,
        );
        self.in_pos += read;
        self.out_pos = 0;
        self.out_len = written;
        self.newlines += self.output[..written].iter().filter(|&&b| b == b'\n').count() as u64;
        match result {
            DecoderResult::InputEmpty => self.finished = self.eof,
            DecoderResult::OutputFull => {}
            DecoderResult::Malformed(_, _) => {
                let line = self.newlines + 1;
                return Err(io::Error::new(io::ErrorKind::InvalidData, BadBytes { line }));
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for GbkReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.out_pos == self.out_len {
            if self.finished {
                return Ok(0);
            }
            self.fill()?;
        }
        let n = buf.len().min(self.out_len - self.out_pos);
        buf[..n].copy_from_slice(&self.output[self.out_pos..self.out_pos + n]);
        self.out_pos += n;
        Ok(n)
    }
}

/// CSV records from a [`TextSource`], with their physical line numbers and errors
/// turned into messages.
///
/// Why the history: the csv crate reports the line where it *started* looking for a
/// record, before it skipped blank lines, so after a blank line its numbers are
/// short of what a person sees. Counting the `\n`s among the skipped line ends
/// (kept in a short history of the bytes it read) gives the exact line.
pub(super) struct Records {
    reader: csv::Reader<Tap>,
    history: Rc<RefCell<History>>,
    encoding: Encoding,
    delimiter: u8,
    display: String,
}

/// The bytes the CSV parser has read but not yet finished with.
#[derive(Default)]
struct History {
    /// Byte offset (in the parser's view) of `bytes[0]`.
    base: u64,
    bytes: Vec<u8>,
    /// Line ends read so far (for the place of a record too long).
    newlines: u64,
}

impl History {
    /// The `\n`s among the line ends the parser skips from `byte` on.
    fn leading_newlines(&self, byte: u64) -> u64 {
        let from = usize::try_from(byte.saturating_sub(self.base)).unwrap_or(usize::MAX);
        let rest = self.bytes.get(from..).unwrap_or(&[]);
        rest.iter().take_while(|&&b| b == b'\r' || b == b'\n').filter(|&&b| b == b'\n').count() as u64
    }

    /// Drops what lies before `byte` (in large steps, so it costs nothing per row).
    fn forget_before(&mut self, byte: u64) {
        let k = usize::try_from(byte.saturating_sub(self.base)).unwrap_or(usize::MAX).min(self.bytes.len());
        if k >= 256 * 1024 {
            self.bytes.drain(..k);
            self.base += k as u64;
        }
    }
}

/// Hands the parser its bytes and keeps a copy in the [`History`].
struct Tap {
    inner: Box<dyn Read>,
    history: Rc<RefCell<History>>,
}

impl Read for Tap {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut history = self.history.borrow_mut();
        history.bytes.extend_from_slice(&buf[..n]);
        history.newlines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
        // The history holds the record being parsed (and at most 256 KB before
        // it): a quoted cell that runs on past the limit would make the parser
        // hold it all.
        if history.bytes.len() > super::limits::RECORD_BYTES + 256 * 1024 + buf.len() {
            let e = RecordTooLong { line: history.newlines + 1 };
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
        Ok(n)
    }
}

/// The error [`Tap`] raises for a record (a quoted cell over many lines) past
/// [`super::limits::RECORD_BYTES`].
#[derive(Debug)]
struct RecordTooLong {
    line: u64,
}

impl std::fmt::Display for RecordTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}", self.line)
    }
}

impl std::error::Error for RecordTooLong {}

impl Records {
    pub(super) fn new(source: TextSource, display: &str) -> Records {
        let history = Rc::new(RefCell::new(History::default()));
        let tap = Tap { inner: source.reader, history: Rc::clone(&history) };
        let reader =
            csv::ReaderBuilder::new().has_headers(false).flexible(true).delimiter(source.delimiter).from_reader(tap);
        Records {
            reader,
            history,
            encoding: source.encoding,
            delimiter: source.delimiter,
            display: display.to_string(),
        }
    }

    pub(super) fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// Reads the next record into `rec` (reused, so no allocation per row);
    /// returns its first physical line, or `None` at the end.
    pub(super) fn next(&mut self, rec: &mut StringRecord) -> Result<Option<u64>, IngestError> {
        match self.reader.read_record(rec) {
            Ok(true) => {
                let line = rec.position().map_or(0, |p| self.line_at(p));
                self.history.borrow_mut().forget_before(self.reader.position().byte());
                self.no_swallowed_rows(rec, line)?;
                Ok(Some(line))
            }
            Ok(false) => Ok(None),
            Err(e) => Err(self.error(e)),
        }
    }

    /// Refuses a record with a cell that runs over several lines, some of which
    /// hold the delimiter twice or more: a stray quote (`"`) opened the cell, and
    /// the rows after it were read as its inside. Unrefused, those rows would
    /// vanish into one odd cell (or the rest of the file into the last row).
    /// A cell broken over lines by Alt+Enter in Excel is still read as one.
    fn no_swallowed_rows(&self, rec: &StringRecord, line: u64) -> Result<(), IngestError> {
        let bytes = rec.as_slice().as_bytes();
        if memchr::memchr(b'\n', bytes).is_none() {
            return Ok(());
        }
        let delimiter = self.delimiter;
        let looks_like_a_row = |l: &str| l.bytes().filter(|&b| b == delimiter).count() >= 2;
        for cell in rec.iter().filter(|c| c.contains('\n')) {
            if cell.split('\n').skip(1).any(looks_like_a_row) {
                // A quote never closed takes the file's last line break too.
                let last = line + cell.trim_end_matches(['\r', '\n']).matches('\n').count() as u64;
                return Err(IngestError::Refused {
                    file: self.display.clone(),
                    reason: format!(
                        "line {line}: a quote (\") opens a cell that runs on to line {last}, so lines \
                         {line}–{last} were read as one cell, not as rows: remove the stray quote (or close \
                         it) and run again"
                    ),
                });
            }
        }
        Ok(())
    }

    /// The physical line of the record whose parse started at `start`.
    fn line_at(&self, start: &csv::Position) -> u64 {
        start.line() + self.history.borrow().leading_newlines(start.byte())
    }

    fn error(&self, e: csv::Error) -> IngestError {
        let file = self.display.clone();
        let line = e.position().map_or(0, |p| self.line_at(p));
        match e.into_kind() {
            csv::ErrorKind::Utf8 { .. } => IngestError::Encoding {
                file,
                line,
                encoding: "UTF-8",
                hint: " although the start of the file is (mixed encodings?)",
            },
            csv::ErrorKind::Io(io) if io.get_ref().is_some_and(|r| r.is::<RecordTooLong>()) => IngestError::TooLarge {
                file,
                place: io.get_ref().map(ToString::to_string).unwrap_or_default(),
                what: "a row whose quoted cell runs on over many lines (a quote (\") never closed?)".to_string(),
                limit: super::limits::bytes(super::limits::RECORD_BYTES as u64),
            },
            csv::ErrorKind::Io(io) if io.get_ref().is_some_and(|r| r.is::<LineTooLong>()) => IngestError::Refused {
                file,
                reason: format!(
                    "{}: no line of this file may be that long, so it is damaged or not what it should be; export it again",
                    io.get_ref().map(ToString::to_string).unwrap_or_default()
                ),
            },
            csv::ErrorKind::Io(io) => match io.get_ref().and_then(|r| r.downcast_ref::<BadBytes>()) {
                Some(bad) => IngestError::Encoding {
                    file,
                    line: bad.line,
                    encoding: "UTF-8 or GBK",
                    hint: " (is it really a CSV file?)",
                },
                None => IngestError::Io { file, source: io },
            },
            other => IngestError::Csv { file, line, reason: format!("{other:?}") },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lone_cr_becomes_crlf_across_reads() {
        let mut out = Vec::new();
        let mut r = LoneCr::new(Cursor::new(b"a\rb\r\nc\nd\r".to_vec()));
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"a\r\nb\r\nc\nd\r");
        let big = [b"x".repeat(8191), b"\r".to_vec(), b"y\r".to_vec(), b"\nz".to_vec()].concat();
        let mut out = Vec::new();
        LoneCr::new(Cursor::new(big)).read_to_end(&mut out).unwrap();
        assert!(out.ends_with(b"x\r\ny\r\nz"), "a CR at the end of one read is judged by the next");
    }

    /// The span-wise conversion gives the bytes (and the too-long line) the
    /// byte-by-byte rule gives, wherever the reads cut the input.
    #[test]
    fn lone_cr_matches_the_byte_by_byte_rule() {
        fn by_bytes(input: &[u8]) -> Vec<u8> {
            let mut out = Vec::new();
            let mut after_cr = false;
            for &b in input {
                if after_cr && b != b'\n' {
                    out.push(b'\n');
                }
                after_cr = b == b'\r';
                out.push(b);
            }
            out
        }
        let mut seed = 7u64;
        for len in [0usize, 1, 2, 3, 17, 8191, 8192, 8193, 20_000] {
            let input: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    b"ab\r\n\r\r,\xd5"[(seed >> 33) as usize % 8]
                })
                .collect();
            let mut out = Vec::new();
            LoneCr::new(Cursor::new(input.clone())).read_to_end(&mut out).unwrap();
            assert_eq!(out, by_bytes(&input), "{len} bytes");
        }
        let long = [b"a\n".to_vec(), b"x".repeat(MAX_LINE), b"\r".to_vec()].concat();
        let err = LoneCr::new(Cursor::new(long)).read_to_end(&mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("line 2 is longer"), "{err}");
        let over = [b"x".repeat(MAX_LINE + 1), b"\n".to_vec()].concat();
        assert!(LoneCr::new(Cursor::new(over)).read_to_end(&mut Vec::new()).is_err(), "too long, then LF");
        let fits = [b"x".repeat(MAX_LINE), b"\n".to_vec()].concat();
        assert!(LoneCr::new(Cursor::new(fits)).read_to_end(&mut Vec::new()).is_ok());
    }

    #[test]
    fn utf8_cut_short_is_still_utf8() {
        let text = "姓名,金额\n张三,1\n李四,2\n王五".as_bytes();
        assert_eq!(detect(&text[..text.len() - 1]), Encoding::Utf8);
        let gbk = b"\xd0\xd5\xc3\xfb,\xbd\xf0\xb6\xee\n";
        assert_eq!(detect(gbk), Encoding::Gbk);
    }

    fn lines(text: &str) -> Vec<(u64, String)> {
        let reader = Box::new(Cursor::new(text.as_bytes().to_vec()));
        let source = TextSource { encoding: Encoding::Utf8, delimiter: b',', reader };
        let mut records = Records::new(source, "t.csv");
        let mut rec = StringRecord::new();
        let mut out = Vec::new();
        while let Some(line) = records.next(&mut rec).unwrap() {
            out.push((line, rec.get(0).unwrap_or("").to_string()));
        }
        out
    }

    fn read_all(text: &str, delimiter: u8) -> Result<usize, IngestError> {
        let reader = Box::new(Cursor::new(text.as_bytes().to_vec()));
        let mut records = Records::new(TextSource { encoding: Encoding::Utf8, delimiter, reader }, "t.csv");
        let mut rec = StringRecord::new();
        let mut n = 0;
        while records.next(&mut rec)?.is_some() {
            n += 1;
        }
        Ok(n)
    }

    /// A stray quote swallows the rows after it into one cell: the file is
    /// refused with the lines it spans, whether the quote is closed later or
    /// never; a cell broken over lines (Alt+Enter in Excel) still reads.
    #[test]
    fn a_stray_quote_that_swallows_rows_is_refused() {
        let head = "姓名,身份证号,金额\n张三,110105194912310021,100\n";
        let never =
            format!("{head}李四,\"110105195001010012,200\n王五,110105195102020013,300\n赵六,110105195203030014,400\n");
        let err = read_all(&never, b',').unwrap_err().to_string();
        assert!(err.contains("t.csv: line 3: a quote") && err.contains("lines 3–5"), "{err}");
        let closed = format!("{head}李四,\"110105195001010012,200\n王五,110105195102020013,300\",1\n赵六,1,2\n");
        let err = read_all(&closed, b',').unwrap_err().to_string();
        assert!(err.contains("line 3") && err.contains("lines 3–4"), "{err}");
        let tabs = "姓名\t身份证号\t金额\n李四\t\"11\t200\n王五\t11\t300\n";
        assert!(read_all(tabs, b'\t').unwrap_err().to_string().contains("lines 2–3"));
        let remark = format!("{head}李四,110105195001010012,\"200\n备注：本月补发, 已核\"\n");
        assert_eq!(read_all(&remark, b',').unwrap(), 3);
    }

    #[test]
    fn physical_lines_after_blank_lines_quoted_newlines_and_crlf() {
        let got = lines("a\n\n\n\"x\ny\"\n\nc\n\n");
        assert_eq!(got, [(1, "a".into()), (4, "x\ny".into()), (7, "c".into())]);
        let got = lines("a\r\n\r\nb\r\n\"x\r\ny\"\r\n\r\nc");
        assert_eq!(got, [(1, "a".into()), (3, "b".into()), (4, "x\r\ny".into()), (7, "c".into())]);
        let got = lines(&"r\n\n".repeat(200_000));
        assert_eq!(got.len(), 200_000);
        assert_eq!(got.last().unwrap().0, 399_999, "history trimming keeps lines exact");
    }

    fn decode_all(bytes: &[u8]) -> io::Result<String> {
        let mut out = String::new();
        GbkReader::new(bytes).read_to_string(&mut out)?;
        Ok(out)
    }

    #[test]
    fn detects_encodings() {
        assert_eq!(detect("姓名".as_bytes()), Encoding::Utf8);
        assert_eq!(detect(b"\xEF\xBB\xBFa"), Encoding::Utf8Bom);
        let (gbk, _, _) = encoding_rs::GBK.encode("姓名");
        assert_eq!(detect(&gbk), Encoding::Gbk);
    }

    #[test]
    fn utf8_char_cut_at_window_edge_is_still_utf8() {
        let mut head = vec![b'a'; WINDOW - 1];
        head.push(0xE5); // first byte of a 3-byte character
        assert_eq!(detect(&head), Encoding::Utf8);
        head.truncate(100);
        head.push(0xE5);
        assert_eq!(detect(&head), Encoding::Gbk, "a cut character only counts at the window edge");
    }

    #[test]
    fn gbk_reader_decodes_across_small_chunks_and_reports_bad_line() {
        let text = "张三,李四\n王五\n".repeat(10_000);
        let (gbk, _, _) = encoding_rs::GBK.encode(&text);
        assert_eq!(decode_all(&gbk).unwrap(), text);
        let mut bad = b"a\nb\n".to_vec();
        bad.extend_from_slice(&[0x81, 0x20, b'\n']);
        let err = decode_all(&bad).unwrap_err();
        assert!(err.to_string().contains("line 3"), "{err}");
    }
}
