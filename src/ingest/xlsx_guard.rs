//! A check of an .xlsx workbook's container before the Excel reader opens it.
//!
//! Why: the Excel reader (calamine) trusts what a workbook says. It inflates every
//! XML part it reads without a limit (a 6 MB zip bomb inflates to gigabytes),
//! reserves room for as many shared strings as the table's `uniqueCount` claims,
//! holds the whole shared-string and style tables in memory, and holds each XML
//! tag or text whole. Streaming every XML part once through a counting reader
//! first, with the limits of [`super::limits`], bounds all of that: a part that
//! inflates too far, a table with too many entries, or one tag, text or cell of
//! megabytes is refused with its place before the reader allocates anything.
//! The sheet itself is then read cell by cell (see `roster_excel`), so a sheet
//! claiming `A1:XFD1048576` costs nothing.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use quick_xml::events::Event;

use super::limits::{self, bytes};
use super::IngestError;

/// A limit crossed while reading a part; carried through `io::Error`.
#[derive(Debug)]
struct Exceeded {
    what: String,
    limit: String,
}

impl std::fmt::Display for Exceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (limit {})", self.what, self.limit)
    }
}

impl std::error::Error for Exceeded {}

fn exceeded(what: String, limit: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, Exceeded { what, limit })
}

/// Checks the workbook at `path`; `Ok` means the Excel reader may open it.
pub(super) fn check(path: &Path, display: &str) -> Result<(), IngestError> {
    let too_large = |place: &str, e: Exceeded| IngestError::TooLarge {
        file: display.to_string(),
        place: place.to_string(),
        what: e.what,
        limit: e.limit,
    };
    let damaged = |e: &dyn std::fmt::Display| IngestError::Workbook {
        file: display.to_string(),
        reason: format!("its zip container is damaged ({e})"),
    };
    let mut file = super::text::open(path, display)?;
    central_directory(&mut file).map_err(|e| match into_exceeded(e) {
        Ok(x) => too_large("its zip container", x),
        Err(e) => damaged(&e),
    })?;
    let mut zip = zip::ZipArchive::new(BufReader::new(file)).map_err(|e| damaged(&e))?;
    if zip.len() > limits::ZIP_ENTRIES {
        let x = Exceeded { what: format!("{} entries", zip.len()), limit: format!("{} entries", limits::ZIP_ENTRIES) };
        return Err(too_large("its zip container", x));
    }
    let mut total = 0u64;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| damaged(&e))?;
        let name = entry.name().map_err(|e| damaged(&e))?.to_string();
        let lower = name.to_ascii_lowercase();
        if !(lower.ends_with(".xml") || lower.ends_with(".rels")) {
            continue; // pictures, printer settings: the reader never opens them
        }
        let part = Part::of(&lower);
        let mut guarded = Guarded::new(&mut entry, part.max_bytes(), limits::XLSX_TOTAL_BYTES - total);
        let scanned = scan(&mut guarded, part);
        total += guarded.read;
        scanned.map_err(|e| match into_exceeded(e) {
            Ok(x) => too_large(&name, x),
            Err(e) => damaged(&e),
        })?;
    }
    Ok(())
}

fn into_exceeded(e: io::Error) -> Result<Exceeded, io::Error> {
    if e.get_ref().is_some_and(|i| i.is::<Exceeded>()) {
        let inner = e.into_inner().expect("checked above");
        return Ok(*inner.downcast::<Exceeded>().expect("checked above"));
    }
    Err(e)
}

/// What kind of XML part an entry is, for its limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// `xl/worksheets/…`: read as a stream, cell by cell.
    Sheet,
    /// `xl/sharedStrings.xml`: held whole.
    SharedStrings,
    /// `xl/styles.xml`: held whole, one entry per format.
    Styles,
    /// Everything else (workbook, relationships, content types): held whole.
    Other,
}

impl Part {
    fn of(lower: &str) -> Part {
        if lower.contains("worksheets/") {
            Part::Sheet
        } else if lower.ends_with("sharedstrings.xml") {
            Part::SharedStrings
        } else if lower.ends_with("styles.xml") {
            Part::Styles
        } else {
            Part::Other
        }
    }

    fn max_bytes(self) -> u64 {
        match self {
            Part::Sheet => limits::XLSX_PART_BYTES,
            Part::SharedStrings => limits::SHARED_STRINGS_BYTES,
            Part::Styles | Part::Other => limits::XLSX_OTHER_PART_BYTES,
        }
    }
}

/// Reads one part through quick-xml (the parser the Excel reader uses, set up
/// the same way), counting what the reader would hold: shared strings and their
/// claimed count, style entries, and the size of every cell and string.
fn scan(input: &mut dyn Read, part: Part) -> io::Result<()> {
    let mut xml = quick_xml::Reader::from_reader(BufReader::with_capacity(64 * 1024, input));
    let config = xml.config_mut();
    config.check_end_names = false;
    config.check_comments = false;
    let mut buf = Vec::new();
    let (mut strings, mut elements) = (0u64, 0u64);
    // Where the open cell (`c`), shared string (`si`) or inline string (`is`) began.
    let mut item_start: Option<u64> = None;
    loop {
        buf.clear();
        let before = xml.buffer_position();
        let event = match xml.read_event_into(&mut buf) {
            Ok(e) => e,
            // The limits travel as I/O errors; bad XML is the Excel reader's to refuse.
            Err(quick_xml::Error::Io(e)) => {
                return Err(match e.get_ref().and_then(|i| i.downcast_ref::<Exceeded>()) {
                    Some(x) => exceeded(x.what.clone(), x.limit.clone()),
                    None => io::Error::new(e.kind(), e.to_string()),
                })
            }
            Err(_) => return Ok(()),
        };
        let (e, opens) = match &event {
            Event::Start(e) => (e, true),
            Event::Empty(e) => (e, false),
            Event::End(end) => {
                if matches!(end.local_name().as_ref(), "c" | "si" | "is") {
                    if let Some(start) = item_start.take() {
                        let size = xml.buffer_position() - start;
                        if size > limits::XML_ITEM_BYTES {
                            let what = match part {
                                Part::SharedStrings => format!("shared string {strings} is {}", bytes(size)),
                                _ => format!("a cell of {}", bytes(size)),
                            };
                            return Err(exceeded(what, bytes(limits::XML_ITEM_BYTES)));
                        }
                    }
                }
                continue;
            }
            Event::Eof => return Ok(()),
            _ => continue,
        };
        elements += 1;
        let local = e.local_name();
        let name = local.as_ref();
        if part == Part::Styles && elements > limits::STYLE_ELEMENTS {
            let limit = format!("{} elements", limits::STYLE_ELEMENTS);
            return Err(exceeded(format!("more than {limit}"), limit));
        }
        if part == Part::SharedStrings && name == "sst" {
            if let Ok(Some(n)) = e.try_get_attribute("uniqueCount") {
                let claimed = n.value.trim().parse::<u64>().ok();
                if claimed.is_none_or(|c| c > limits::SHARED_STRINGS_COUNT) {
                    let what = format!("the table claims {} strings", n.value);
                    return Err(exceeded(what, format!("{} strings", limits::SHARED_STRINGS_COUNT)));
                }
            }
        }
        if part == Part::SharedStrings && name == "si" {
            strings += 1;
            if strings > limits::SHARED_STRINGS_COUNT {
                let limit = format!("{} strings", limits::SHARED_STRINGS_COUNT);
                return Err(exceeded(format!("more than {limit}"), limit));
            }
        }
        if opens && matches!(name, "c" | "si" | "is") && item_start.is_none() {
            item_start = Some(before);
        }
    }
}

/// Inflated bytes of one part, refused past its own limit, past what is left of
/// the workbook's total, and when a stretch without `<` (one tag or one text,
/// which an XML reader holds whole) grows past [`limits::XML_ITEM_BYTES`].
struct Guarded<'a> {
    inner: &'a mut dyn Read,
    max: u64,
    total_left: u64,
    read: u64,
    since_tag: u64,
}

impl<'a> Guarded<'a> {
    fn new(inner: &'a mut dyn Read, max: u64, total_left: u64) -> Self {
        Guarded { inner, max, total_left, read: 0, since_tag: 0 }
    }
}

impl Read for Guarded<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.max {
            return Err(exceeded(format!("inflates to more than {}", bytes(self.max)), bytes(self.max)));
        }
        if self.read > self.total_left {
            let limit = bytes(limits::XLSX_TOTAL_BYTES);
            return Err(exceeded(format!("the workbook's parts inflate to more than {limit}"), limit));
        }
        // The longest stretch without `<`: before the chunk's first, between two,
        // and (carried to the next read) after its last.
        let mut longest = 0u64;
        let mut from = 0usize;
        let mut carried = self.since_tag;
        for at in memchr::memchr_iter(b'<', &buf[..n]) {
            longest = longest.max(carried + (at - from) as u64);
            carried = 0;
            from = at;
        }
        self.since_tag = carried + (n - from) as u64;
        if self.since_tag.max(longest) > limits::XML_ITEM_BYTES {
            let what = format!("one XML tag or text of more than {}", bytes(limits::XML_ITEM_BYTES));
            return Err(exceeded(what, bytes(limits::XML_ITEM_BYTES)));
        }
        Ok(n)
    }
}

/// Checks the zip's end record before the zip reader reads its central directory
/// into memory: at most [`limits::ZIP_DIRECTORY_BYTES`] of it.
fn central_directory(file: &mut File) -> io::Result<()> {
    let len = file.seek(SeekFrom::End(0))?;
    let tail_len = len.min(65_557);
    file.seek(SeekFrom::Start(len - tail_len))?;
    let mut tail = vec![0u8; tail_len as usize];
    file.read_exact(&mut tail)?;
    file.seek(SeekFrom::Start(0))?;
    let Some(eocd) = memchr::memmem::rfind(&tail, b"PK\x05\x06") else {
        return Ok(()); // the zip reader refuses it itself
    };
    let u32_at = |b: &[u8], at: usize| b.get(at..at + 4).map(|x| u32::from_le_bytes([x[0], x[1], x[2], x[3]]));
    let mut size = u64::from(u32_at(&tail, eocd + 12).unwrap_or(0));
    if size == u64::from(u32::MAX) && eocd >= 20 && tail[eocd - 20..].starts_with(b"PK\x06\x07") {
        // ZIP64: the locator points at the ZIP64 end record, which holds the size.
        let at = tail.get(eocd - 12..eocd - 4).map(|x| u64::from_le_bytes(x.try_into().unwrap_or([0; 8])));
        if let Some(at) = at.filter(|&a| a < len) {
            let mut rec = [0u8; 56];
            file.seek(SeekFrom::Start(at))?;
            if file.read_exact(&mut rec).is_ok() && rec.starts_with(b"PK\x06\x06") {
                size = u64::from_le_bytes(rec[40..48].try_into().unwrap_or([0; 8]));
            }
            file.seek(SeekFrom::Start(0))?;
        }
    }
    if size > limits::ZIP_DIRECTORY_BYTES {
        let limit = bytes(limits::ZIP_DIRECTORY_BYTES);
        return Err(exceeded(format!("a table of contents of {}", bytes(size)), limit));
    }
    Ok(())
}
