//! The 发放名册 and 公示 workbooks written straight as SpreadsheetML into the
//! deflate stream of their zip entries, row by row.
//!
//! Why not rust_xlsxwriter, as for the 汇总表: a list has a million rows of six to
//! eight cells, and the writer's general per-cell work (a cell object, a format
//! lookup, float formatting, each sheet spilled to a temporary file and read
//! back) cost five times the compression itself. Here a row is a few
//! `extend_from_slice` into a buffer: numbers are written from integers (an
//! amount from its fen, never through a float), texts are escaped in place, and
//! the buffer goes to the compressor in large blocks. A million-line roster took
//! 2.5 CPU-seconds, now 0.5, most of it deflate (`tests::bench_million_lines`).
//!
//! What a clerk sees is what rust_xlsxwriter wrote before, part for part (the
//! tests compare both, cell by cell and part by part): the same styles, column
//! widths, title and header rows, merges, 合计 row and page setup. Two things
//! differ and neither shows: a sheet has no `<dimension>` (optional; it comes
//! before the rows, when their number is not yet known), and the package parts
//! other than the sheets follow the sheets in the zip, since the sheets' names
//! are known only at the end (readers go by the central directory; .NET's
//! packaging writes `[Content_Types].xml` last too).

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rust_xlsxwriter::utility::quote_sheet_name;
use zip::write::{SimpleFileOptions, StreamWriter};
use zip::{CompressionMethod, DateTime, ZipWriter};

use super::{period_cn, Chunk, ListHead, ListKind, ReportError, Staged};
use crate::domain::{Fen, Program};
use crate::fsutil::{create_private_dir, EarlyWrite};

/// Indices into `cellXfs` of [`STYLES`] (the order rust_xlsxwriter gave them).
mod xf {
    pub const TITLE: u8 = 1;
    pub const SUB_RIGHT: u8 = 2;
    pub const HEAD: u8 = 3;
    pub const COUNT: u8 = 4;
    pub const TEXT: u8 = 5;
    pub const MONEY: u8 = 6;
    pub const TOTAL_TEXT: u8 = 7;
    pub const TOTAL_MONEY: u8 = 8;
}

/// styles.xml of a list: default, title, sub-title right, header, 序号, text,
/// amount, 合计 text and 合计 amount.
const STYLES: &str = include_str!("parts/styles.xml");
// A style is written as one digit.
const _: () = assert!(xf::TOTAL_MONEY < 10);
/// styles.xml of the 本次无发放数据 workbook (the default style only).
const STYLES_EMPTY: &str = include_str!("parts/styles_empty.xml");
const THEME: &str = include_str!("parts/theme1.xml");

const XML_DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n";
const NS_MAIN: &str = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
const NS_REL: &str = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
const NS_PKG_REL: &str = "http://schemas.openxmlformats.org/package/2006/relationships";

/// Excel's limit on the length of a text cell, in UTF-16 units.
const MAX_TEXT: usize = 32_767;
/// Row XML gathered before it is handed to the compressor.
const FLUSH_AT: usize = 1 << 18;

type Zip = ZipWriter<StreamWriter<TmpFile>>;

/// The temporary file, which an abandoned writer stops writing to: the zip
/// crate finishes an archive it is dropped with (wasted work on a file about to
/// be deleted) and reports any failure to do so on stderr, which would break a
/// JSON log.
struct TmpFile {
    file: BufWriter<EarlyWrite>,
    abandoned: Arc<AtomicBool>,
}

impl Write for TmpFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.abandoned.load(Ordering::Relaxed) {
            return Ok(buf.len());
        }
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.abandoned.load(Ordering::Relaxed) {
            return Ok(());
        }
        self.file.flush()
    }
}

/// The sheet being filled.
struct OpenSheet {
    program: Program,
    /// 0 for the first sheet of a program, 1 for its second (past `rows_per_sheet`), …
    part: usize,
    /// Index of the program's first sheet, renamed `名(1)` if a second is needed.
    first_index: usize,
    /// Next row, 1-based as in the XML.
    row: u32,
    lines: usize,
    sum: Fen,
}

/// Writes a 发放名册 or 公示 workbook line by line: one sheet per program (lines
/// must come grouped by program), split every `rows_per_sheet` lines, each
/// closed with its 合计 row as the next begins. Memory stays flat.
pub(in crate::report) struct ListWriter {
    path: PathBuf,
    kind: &'static ListKind,
    head: ListHead,
    rows_per_sheet: usize,
    /// Taken by `finish`; declared before `tmp`: dropped (closing the file)
    /// before the file is deleted.
    zip: Option<Zip>,
    tmp: Option<tempfile::TempPath>,
    /// Set when the writer is dropped unfinished.
    abandoned: Arc<AtomicBool>,
    /// Sheet names, in order; the open sheet's is the last.
    names: Vec<String>,
    open: Option<OpenSheet>,
    buf: Vec<u8>,
    /// Style (`s`) of each column of a data row.
    styles: Vec<u8>,
}

impl ListWriter {
    /// Creates the temporary file beside `path` (in a private folder, as the
    /// roster holds full IDs) that [`ListWriter::finish`] hands back staged.
    pub(in crate::report) fn new(
        path: &Path,
        kind: &'static ListKind,
        head: ListHead,
        rows_per_sheet: usize,
    ) -> Result<ListWriter, ReportError> {
        assert!(kind.head.len() <= 26, "a list has at most 26 columns (one-letter names)");
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let io_err = |e: io::Error| ReportError::io(path, e);
        create_private_dir(dir).map_err(io_err)?;
        let tmp = tempfile::Builder::new().prefix(".tmp-xlsx-").tempfile_in(dir).map_err(io_err)?;
        let (file, tmp) = tmp.into_parts();
        let abandoned = Arc::new(AtomicBool::new(false));
        let file =
            TmpFile { file: BufWriter::with_capacity(1 << 20, EarlyWrite::new(file)), abandoned: abandoned.clone() };
        let zip = ZipWriter::new_stream(file);
        let styles = (0..kind.head.len() as u16)
            .map(|c| match c {
                0 => xf::COUNT,
                c if c == kind.amount_col => xf::MONEY,
                _ => xf::TEXT,
            })
            .collect();
        Ok(ListWriter {
            path: path.to_path_buf(),
            kind,
            head,
            rows_per_sheet: rows_per_sheet.max(1),
            zip: Some(zip),
            tmp: Some(tmp),
            abandoned,
            names: Vec::new(),
            open: None,
            buf: Vec::with_capacity(FLUSH_AT + (1 << 16)),
            styles,
        })
    }

    pub(in crate::report) fn chunk(&mut self, c: &Chunk) -> Result<(), ReportError> {
        let width = self.kind.head.len() - 2;
        for i in 0..c.len() {
            self.line(c.programs[i], c.amounts[i], c.cells(i, width))?;
        }
        Ok(())
    }

    fn line<'a>(&mut self, p: Program, amount: Fen, cells: impl Iterator<Item = &'a str>) -> Result<(), ReportError> {
        let full = self.open.as_ref().map(|o| (o.program, o.lines >= self.rows_per_sheet));
        if full != Some((p, false)) {
            self.next_sheet(p)?;
        }
        let o = self.open.as_mut().expect("a sheet is open");
        let mut num = NumBuf::new();
        let row = num.format(u64::from(o.row));
        let b = &mut self.buf;
        b.extend_from_slice(b"<row r=\"");
        b.extend_from_slice(row);
        b.extend_from_slice(b"\">");
        let seq = (o.part * self.rows_per_sheet + o.lines + 1) as u64;
        number_cell(b, b'A', row, self.styles[0], NumBuf::new().format(seq));
        let mut cells = cells;
        let amount_col = usize::from(self.kind.amount_col);
        for col in 1..self.styles.len() {
            let letter = b'A' + col as u8;
            if col == amount_col {
                number_cell(b, letter, row, self.styles[col], fen_text(&mut NumBuf::new(), amount));
                continue;
            }
            let text = cells.next().unwrap_or("");
            if text.is_empty() {
                // rust_xlsxwriter wrote no cell for an empty text: the column's style shows.
                continue;
            }
            if text.len() > MAX_TEXT && text.encode_utf16().count() > MAX_TEXT {
                return Err(too_long(&self.path, &self.names, o.row, letter));
            }
            text_cell(b, letter, row, self.styles[col], text);
        }
        b.extend_from_slice(b"</row>");
        o.sum = o.sum.checked_add(amount).unwrap_or(o.sum);
        o.lines += 1;
        o.row += 1;
        if self.buf.len() >= FLUSH_AT {
            self.flush()?;
        }
        Ok(())
    }

    /// Hands the gathered XML to the compressor.
    fn flush(&mut self) -> Result<(), ReportError> {
        let zip = self.zip.as_mut().expect("the zip is open until finish");
        zip.write_all(&self.buf).map_err(|e| ReportError::io(&self.path, e))?;
        self.buf.clear();
        Ok(())
    }

    /// Starts zip entry `name` (the previous one is closed).
    fn start_part(&mut self, name: &str) -> Result<(), ReportError> {
        let opts = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            // Fastest deflate: half the time of the default for ~70% more bytes.
            .compression_level(Some(1))
            .unix_permissions(0o600)
            .last_modified_time(DateTime::default())
            // No ZIP64, as before, so that any reader opens it: a sheet
            // past 4 GB (a million rows of ~4 KB) fails instead.
            .large_file(false);
        let zip = self.zip.as_mut().expect("the zip is open until finish");
        zip.start_file(name, opts).map_err(|e| ReportError::Xlsx { path: self.path.clone(), message: e.to_string() })
    }

    /// A whole part at once.
    fn part(&mut self, name: &str, xml: &str) -> Result<(), ReportError> {
        self.start_part(name)?;
        let zip = self.zip.as_mut().expect("the zip is open until finish");
        zip.write_all(xml.as_bytes()).map_err(|e| ReportError::io(&self.path, e))
    }

    /// Closes the open sheet and starts the next: the program's next part, or
    /// the first sheet of program `p`.
    fn next_sheet(&mut self, p: Program) -> Result<(), ReportError> {
        let prev = self.open.take();
        if let Some(o) = &prev {
            self.close_sheet(o)?;
        }
        let (part, first_index) = match &prev {
            Some(o) if o.program == p => (o.part + 1, o.first_index),
            _ => (0, self.names.len()),
        };
        let base = p.chinese_name();
        if part == 1 {
            self.names[first_index] = format!("{base}(1)");
        }
        self.names.push(if part == 0 { base.to_string() } else { format!("{base}({})", part + 1) });
        self.start_part(&format!("xl/worksheets/sheet{}.xml", self.names.len()))?;
        let title = format!("{} {} {}{}", self.head.office_name, period_cn(self.head.period), base, self.kind.title);
        self.sheet_head(&title);
        self.open = Some(OpenSheet { program: p, part, first_index, row: 4, lines: 0, sum: Fen::ZERO });
        Ok(())
    }

    /// Everything before the first line: sheet properties, columns, the title,
    /// sub-title and header rows.
    fn sheet_head(&mut self, title: &str) {
        let kind = self.kind;
        let last = kind.head.len() as u8 - 1;
        let tab = if self.names.len() == 1 { " tabSelected=\"1\"" } else { "" };
        let b = &mut self.buf;
        b.extend_from_slice(XML_DECL.as_bytes());
        b.extend_from_slice(
            format!(
                "<worksheet xmlns=\"{NS_MAIN}\" xmlns:r=\"{NS_REL}\"><sheetPr><pageSetUpPr fitToPage=\"1\"/></sheetPr>\
                 <sheetViews><sheetView{tab} workbookViewId=\"0\"/></sheetViews><sheetFormatPr defaultRowHeight=\"15\"/><cols>"
            )
            .as_bytes(),
        );
        for (c, w) in kind.widths.iter().enumerate() {
            let c = c + 1;
            let width = col_width(*w);
            let s = self.styles[c - 1];
            b.extend_from_slice(
                format!("<col min=\"{c}\" max=\"{c}\" width=\"{width}\" style=\"{s}\" customWidth=\"1\"/>").as_bytes(),
            );
        }
        b.extend_from_slice(b"</cols><sheetData><row r=\"1\" ht=\"30\" customHeight=\"1\">");
        text_cell(b, b'A', b"1", xf::TITLE, title);
        for c in 1..=last {
            blank_cell(b, b'A' + c, b"1", xf::TITLE);
        }
        // The left half of the sub-title has the default style: no `s`, no blanks.
        let mid = last / 2;
        let left = format!("制表单位：{}", self.head.office_name);
        let right = format!("单位：元　生成时间：{}", self.head.generated_at);
        b.extend_from_slice(b"</row><row r=\"2\">");
        text_cell(b, b'A', b"2", 0, &left);
        text_cell(b, b'A' + mid + 1, b"2", xf::SUB_RIGHT, &right);
        for c in mid + 2..=last {
            blank_cell(b, b'A' + c, b"2", xf::SUB_RIGHT);
        }
        b.extend_from_slice(b"</row><row r=\"3\">");
        for (c, h) in kind.head.iter().enumerate() {
            text_cell(b, b'A' + c as u8, b"3", xf::HEAD, h);
        }
        b.extend_from_slice(b"</row>");
    }

    /// The 合计 row and the footer under the last line of a sheet, the merges
    /// and the page setup; then the sheet's entry is complete.
    fn close_sheet(&mut self, o: &OpenSheet) -> Result<(), ReportError> {
        let kind = self.kind;
        let last = kind.head.len() as u8 - 1;
        let footer = (kind.footer)(&self.head);
        let mut rb = NumBuf::new();
        let row = rb.format(u64::from(o.row));
        let b = &mut self.buf;
        b.extend_from_slice(b"<row r=\"");
        b.extend_from_slice(row);
        b.extend_from_slice(b"\">");
        text_cell(b, b'A', row, xf::TOTAL_TEXT, "合计");
        for c in 1..=last {
            let letter = b'A' + c;
            if u16::from(c) == kind.amount_col {
                number_cell(b, letter, row, xf::TOTAL_MONEY, fen_text(&mut NumBuf::new(), o.sum));
            } else if c == 1 {
                text_cell(b, letter, row, xf::TOTAL_TEXT, &format!("共{}笔", o.lines));
            } else {
                blank_cell(b, letter, row, xf::TOTAL_TEXT);
            }
        }
        b.extend_from_slice(b"</row>");
        let last_letter = (b'A' + last) as char;
        let mut merges = vec![
            format!("A1:{last_letter}1"),
            format!("A2:{}2", (b'A' + last / 2) as char),
            format!("{}2:{last_letter}2", (b'A' + last / 2 + 1) as char),
        ];
        for (i, line) in footer.iter().enumerate() {
            // The merged footer took the columns' styles (its own is the default).
            let r = o.row + 1 + i as u32;
            let row = r.to_string();
            b.extend_from_slice(format!("<row r=\"{row}\">").as_bytes());
            text_cell(b, b'A', row.as_bytes(), self.styles[0], line);
            for c in 1..=last {
                blank_cell(b, b'A' + c, row.as_bytes(), self.styles[usize::from(c)]);
            }
            b.extend_from_slice(b"</row>");
            merges.push(format!("A{r}:{last_letter}{r}"));
        }
        b.extend_from_slice(format!("</sheetData><mergeCells count=\"{}\">", merges.len()).as_bytes());
        for m in &merges {
            b.extend_from_slice(format!("<mergeCell ref=\"{m}\"/>").as_bytes());
        }
        b.extend_from_slice(
            b"</mergeCells><printOptions horizontalCentered=\"1\"/>\
              <pageMargins left=\"0.7\" right=\"0.7\" top=\"0.75\" bottom=\"0.75\" header=\"0.3\" footer=\"0.3\"/>\
              <pageSetup paperSize=\"9\" fitToHeight=\"0\" orientation=\"landscape\" horizontalDpi=\"200\" verticalDpi=\"200\"/></worksheet>",
        );
        self.flush()
    }

    /// The one sheet of a workbook without lines, its text shared as
    /// rust_xlsxwriter wrote it.
    fn empty_sheet(&mut self) -> Result<(), ReportError> {
        self.names.push(self.kind.title.to_string());
        self.part("xl/worksheets/sheet1.xml", EMPTY_SHEET)
    }

    /// Closes the last sheet (or writes the 本次无发放数据 sheet when no line
    /// came), writes the package parts and syncs the file beside its path, not
    /// yet renamed in.
    pub(in crate::report) fn finish(mut self) -> Result<Staged, ReportError> {
        let with_lines = match self.open.take() {
            Some(o) => {
                self.close_sheet(&o)?;
                true
            }
            None => {
                self.empty_sheet()?;
                false
            }
        };
        let names = std::mem::take(&mut self.names);
        let parts = Package { names: &names, print_titles: with_lines };
        self.part("[Content_Types].xml", &parts.content_types())?;
        self.part("_rels/.rels", ROOT_RELS)?;
        self.part("xl/_rels/workbook.xml.rels", &parts.workbook_rels())?;
        self.part("xl/theme/theme1.xml", THEME)?;
        self.part("xl/styles.xml", if with_lines { STYLES } else { STYLES_EMPTY })?;
        self.part("xl/workbook.xml", &parts.workbook())?;
        if !with_lines {
            self.part("xl/sharedStrings.xml", EMPTY_STRINGS)?;
        }
        self.part("docProps/core.xml", &core_props())?;
        self.part("docProps/app.xml", &parts.app())?;
        let path = self.path.clone();
        let (Some(zip), Some(tmp)) = (self.zip.take(), self.tmp.take()) else {
            unreachable!("finish takes the writer by value")
        };
        let io_err = |e: io::Error| ReportError::io(&path, e);
        let w = zip.finish().map_err(|e| ReportError::Xlsx { path: path.clone(), message: e.to_string() })?;
        let file = w.into_inner().file.into_inner().map_err(|e| io_err(e.into_error()))?.into_inner();
        file.sync_all().map_err(io_err)?;
        Ok(Staged { tmp, path })
    }
}

impl Drop for ListWriter {
    /// Unfinished: nothing more is written, and the temporary file is deleted.
    fn drop(&mut self) {
        self.abandoned.store(true, Ordering::Relaxed);
    }
}

const EMPTY_SHEET: &str = concat!(
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n",
    "<worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" ",
    "xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\"><dimension ref=\"A1\"/>",
    "<sheetViews><sheetView tabSelected=\"1\" workbookViewId=\"0\"/></sheetViews><sheetFormatPr defaultRowHeight=\"15\"/>",
    "<sheetData><row r=\"1\" spans=\"1:1\"><c r=\"A1\" t=\"s\"><v>0</v></c></row></sheetData>",
    "<pageMargins left=\"0.7\" right=\"0.7\" top=\"0.75\" bottom=\"0.75\" header=\"0.3\" footer=\"0.3\"/></worksheet>"
);

const EMPTY_STRINGS: &str = concat!(
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n",
    "<sst xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\" count=\"1\" uniqueCount=\"1\">",
    "<si><t>本次无发放数据</t></si></sst>"
);

const ROOT_RELS: &str = concat!(
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n",
    "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">",
    "<Relationship Id=\"rId1\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument\" Target=\"xl/workbook.xml\"/>",
    "<Relationship Id=\"rId2\" Type=\"http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties\" Target=\"docProps/core.xml\"/>",
    "<Relationship Id=\"rId3\" Type=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships/extended-properties\" Target=\"docProps/app.xml\"/>",
    "</Relationships>"
);

fn too_long(path: &Path, names: &[String], row: u32, col: u8) -> ReportError {
    let sheet = names.last().map_or("", String::as_str);
    let message = format!(
        "the text of cell {}{row} on sheet {sheet} is longer than Excel's limit of 32,767 characters; shorten it in the roster",
        col as char
    );
    ReportError::Xlsx { path: path.to_path_buf(), message }
}

/// The parts that name the sheets, written once all are known.
struct Package<'a> {
    names: &'a [String],
    /// A workbook with lines: every sheet repeats its header row (row 3) on
    /// each printed page. Without, its one text is in a shared-strings part.
    print_titles: bool,
}

impl Package<'_> {
    fn content_types(&self) -> String {
        let ct = "application/vnd.openxmlformats";
        let mut s = format!(
            "{XML_DECL}<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">\
             <Default Extension=\"rels\" ContentType=\"{ct}-package.relationships+xml\"/>\
             <Default Extension=\"xml\" ContentType=\"application/xml\"/>\
             <Override PartName=\"/docProps/app.xml\" ContentType=\"{ct}-officedocument.extended-properties+xml\"/>\
             <Override PartName=\"/docProps/core.xml\" ContentType=\"{ct}-package.core-properties+xml\"/>\
             <Override PartName=\"/xl/styles.xml\" ContentType=\"{ct}-officedocument.spreadsheetml.styles+xml\"/>\
             <Override PartName=\"/xl/theme/theme1.xml\" ContentType=\"{ct}-officedocument.theme+xml\"/>\
             <Override PartName=\"/xl/workbook.xml\" ContentType=\"{ct}-officedocument.spreadsheetml.sheet.main+xml\"/>"
        );
        for i in 1..=self.names.len() {
            s += &format!(
                "<Override PartName=\"/xl/worksheets/sheet{i}.xml\" ContentType=\"{ct}-officedocument.spreadsheetml.worksheet+xml\"/>"
            );
        }
        if !self.print_titles {
            s += &format!(
                "<Override PartName=\"/xl/sharedStrings.xml\" ContentType=\"{ct}-officedocument.spreadsheetml.sharedStrings+xml\"/>"
            );
        }
        s + "</Types>"
    }

    fn workbook_rels(&self) -> String {
        let t = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
        let mut s = format!("{XML_DECL}<Relationships xmlns=\"{NS_PKG_REL}\">");
        let n = self.names.len();
        for i in 1..=n {
            s += &format!("<Relationship Id=\"rId{i}\" Type=\"{t}/worksheet\" Target=\"worksheets/sheet{i}.xml\"/>");
        }
        s += &format!("<Relationship Id=\"rId{}\" Type=\"{t}/theme\" Target=\"theme/theme1.xml\"/>", n + 1);
        s += &format!("<Relationship Id=\"rId{}\" Type=\"{t}/styles\" Target=\"styles.xml\"/>", n + 2);
        if !self.print_titles {
            let target = "Target=\"sharedStrings.xml\"";
            s += &format!("<Relationship Id=\"rId{}\" Type=\"{t}/sharedStrings\" {target}/>", n + 3);
        }
        s + "</Relationships>"
    }

    /// Print titles as Excel keeps them: sorted by their range text.
    fn print_titles(&self) -> Vec<(usize, String)> {
        if !self.print_titles {
            return Vec::new();
        }
        let mut v: Vec<(usize, String)> =
            self.names.iter().enumerate().map(|(i, n)| (i, quote_sheet_name(n))).collect();
        v.sort_by_key(|(_, q)| format!("{q}!$3:$3"));
        v
    }

    fn workbook(&self) -> String {
        let mut s = format!(
            "{XML_DECL}<workbook xmlns=\"{NS_MAIN}\" xmlns:r=\"{NS_REL}\">\
             <fileVersion appName=\"xl\" lastEdited=\"4\" lowestEdited=\"4\" rupBuild=\"4505\"/>\
             <workbookPr defaultThemeVersion=\"124226\"/><bookViews>\
             <workbookView xWindow=\"240\" yWindow=\"15\" windowWidth=\"16095\" windowHeight=\"9660\"/></bookViews><sheets>"
        );
        for (i, n) in self.names.iter().enumerate() {
            s += &format!("<sheet name=\"{}\" sheetId=\"{}\" r:id=\"rId{}\"/>", escape_attr(n), i + 1, i + 1);
        }
        s += "</sheets>";
        let titles = self.print_titles();
        if !titles.is_empty() {
            s += "<definedNames>";
            for (i, q) in &titles {
                let q = escape_attr(q);
                s += &format!("<definedName name=\"_xlnm.Print_Titles\" localSheetId=\"{i}\">{q}!$3:$3</definedName>");
            }
            s += "</definedNames>";
        }
        s + "<calcPr calcId=\"124519\" fullCalcOnLoad=\"1\"/></workbook>"
    }

    fn app(&self) -> String {
        let titles = self.print_titles();
        let (n, m) = (self.names.len(), titles.len());
        let variant = |name: &str, count: usize| {
            format!(
                "<vt:variant><vt:lpstr>{name}</vt:lpstr></vt:variant><vt:variant><vt:i4>{count}</vt:i4></vt:variant>"
            )
        };
        let mut pairs = variant("Worksheets", n);
        if m > 0 {
            pairs += &variant("Named Ranges", m);
        }
        let mut parts = String::new();
        for name in self.names {
            parts += &format!("<vt:lpstr>{}</vt:lpstr>", escape_attr(name));
        }
        for (_, q) in &titles {
            parts += &format!("<vt:lpstr>{}!Print_Titles</vt:lpstr>", escape_attr(q));
        }
        format!(
            "{XML_DECL}<Properties xmlns=\"http://schemas.openxmlformats.org/officeDocument/2006/extended-properties\" \
             xmlns:vt=\"http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes\">\
             <Application>Microsoft Excel</Application><DocSecurity>0</DocSecurity><ScaleCrop>false</ScaleCrop>\
             <HeadingPairs><vt:vector size=\"{}\" baseType=\"variant\">{pairs}</vt:vector></HeadingPairs>\
             <TitlesOfParts><vt:vector size=\"{}\" baseType=\"lpstr\">{parts}</vt:vector></TitlesOfParts>\
             <Company></Company><LinksUpToDate>false</LinksUpToDate><SharedDoc>false</SharedDoc>\
             <HyperlinksChanged>false</HyperlinksChanged><AppVersion>12.0000</AppVersion></Properties>",
            if m > 0 { 4 } else { 2 },
            n + m
        )
    }
}

/// docProps/core.xml: created now (UTC), no author.
fn core_props() -> String {
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
    format!(
        "{XML_DECL}<cp:coreProperties xmlns:cp=\"http://schemas.openxmlformats.org/package/2006/metadata/core-properties\" \
         xmlns:dc=\"http://purl.org/dc/elements/1.1/\" xmlns:dcterms=\"http://purl.org/dc/terms/\" \
         xmlns:dcmitype=\"http://purl.org/dc/dcmitype/\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\
         <dc:creator></dc:creator><cp:lastModifiedBy></cp:lastModifiedBy>\
         <dcterms:created xsi:type=\"dcterms:W3CDTF\">{now}</dcterms:created>\
         <dcterms:modified xsi:type=\"dcterms:W3CDTF\">{now}</dcterms:modified></cp:coreProperties>"
    )
}

/// A column width in characters as Excel stores it: whole pixels of a 7-pixel
/// digit plus 5 pixels of padding, in 1/256 of a character.
fn col_width(w: f64) -> f64 {
    let px = if w <= 0.0 {
        0
    } else if w < 1.0 {
        (w * 12.0).round() as u32
    } else {
        (w * 7.0).round() as u32 + 5
    };
    f64::from(px * 256 / 7) / 256.0
}

/// Room for a u64 in decimal, or a signed amount in yuan.
struct NumBuf([u8; 24]);

impl NumBuf {
    fn new() -> NumBuf {
        NumBuf([0; 24])
    }

    /// `n` in decimal, right-aligned in the buffer.
    fn format(&mut self, mut n: u64) -> &[u8] {
        let mut i = self.0.len();
        loop {
            i -= 1;
            self.0[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                return &self.0[i..];
            }
        }
    }
}

/// An amount in yuan as Excel shows the double nearest to it, from its fen:
/// `1234.5` for 123450 fen, `895` for 89500, `0.07` for 7. Exact below 10^15 fen,
/// where every amount with two decimals round-trips through a double.
fn fen_text(buf: &mut NumBuf, f: Fen) -> &[u8] {
    let neg = f.0 < 0;
    let abs = f.0.unsigned_abs();
    let (yuan, cents) = (abs / 100, abs % 100);
    let mut i = buf.0.len();
    if cents != 0 {
        let (tens, ones) = (cents / 10, cents % 10);
        if ones != 0 {
            i -= 1;
            buf.0[i] = b'0' + ones as u8;
        }
        i -= 2;
        buf.0[i] = b'.';
        buf.0[i + 1] = b'0' + tens as u8;
    }
    let mut n = yuan;
    loop {
        i -= 1;
        buf.0[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if neg {
        i -= 1;
        buf.0[i] = b'-';
    }
    &buf.0[i..]
}

fn cell_start(b: &mut Vec<u8>, col: u8, row: &[u8], s: u8) {
    b.extend_from_slice(b"<c r=\"");
    b.push(col);
    b.extend_from_slice(row);
    if s > 0 {
        b.extend_from_slice(b"\" s=\"");
        b.push(b'0' + s);
    }
    b.push(b'"');
}

fn number_cell(b: &mut Vec<u8>, col: u8, row: &[u8], s: u8, v: &[u8]) {
    cell_start(b, col, row, s);
    b.extend_from_slice(b"><v>");
    b.extend_from_slice(v);
    b.extend_from_slice(b"</v></c>");
}

fn blank_cell(b: &mut Vec<u8>, col: u8, row: &[u8], s: u8) {
    cell_start(b, col, row, s);
    b.extend_from_slice(b"/>");
}

/// A string cell, never a number or formula: an ID stays its 18 characters and
/// a name starting with `=` is shown, not run.
fn text_cell(b: &mut Vec<u8>, col: u8, row: &[u8], s: u8, text: &str) {
    cell_start(b, col, row, s);
    let ws = [b'\t', b'\n', b' '];
    let edge = |x: Option<&u8>| x.is_some_and(|c| ws.contains(c));
    let bytes = text.as_bytes();
    if edge(bytes.first()) || edge(bytes.last()) {
        b.extend_from_slice(b" t=\"inlineStr\"><is><t xml:space=\"preserve\">");
    } else {
        b.extend_from_slice(b" t=\"inlineStr\"><is><t>");
    }
    push_escaped(b, text);
    b.extend_from_slice(b"</t></is></c>");
}

/// Whether `text` has anything [`push_escaped`] must change. Bytes of
/// multi-byte characters are all ≥ 0x80, so only `0xEF` (which starts U+FFFE and
/// U+FFFF) needs a closer look.
fn plain(text: &[u8]) -> bool {
    !text.iter().any(|&c| c < 0x20 || matches!(c, b'&' | b'<' | b'>' | b'_' | 0xEF))
        || !text.iter().enumerate().any(|(i, &c)| match c {
            b'\t' | b'\n' => false,
            0..=0x1F | b'&' | b'<' | b'>' => true,
            b'_' => x_escape_at(text, i),
            0xEF => matches!(text.get(i + 1..i + 3), Some([0xBF, 0xBE | 0xBF])),
            _ => false,
        })
}

/// Whether `_xHHHH_` starts at `i`: Excel would read it as an escaped
/// character, so a literal one gets its `_` escaped as `_x005F_`.
fn x_escape_at(text: &[u8], i: usize) -> bool {
    matches!(text.get(i..i + 7), Some([b'_', b'x', h @ .., b'_']) if h.iter().all(u8::is_ascii_hexdigit))
}

/// Text as XML character data the way Excel escapes it: `& < >`, control
/// characters and U+FFFE/U+FFFF as `_xHHHH_`, a literal `_xHHHH_` guarded.
fn push_escaped(b: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    if plain(bytes) {
        b.extend_from_slice(bytes);
        return;
    }
    for (i, ch) in text.char_indices() {
        match ch {
            '&' => b.extend_from_slice(b"&amp;"),
            '<' => b.extend_from_slice(b"&lt;"),
            '>' => b.extend_from_slice(b"&gt;"),
            '\t' | '\n' => b.push(ch as u8),
            '\0'..='\x1F' | '\u{FFFE}' | '\u{FFFF}' => {
                b.extend_from_slice(format!("_x{:04X}_", ch as u32).as_bytes());
            }
            '_' if x_escape_at(bytes, i) => b.extend_from_slice(b"_x005F_"),
            _ => {
                let mut tmp = [0u8; 4];
                b.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
            }
        }
    }
}

/// Text for an attribute or a part name list (sheet names): the XML escapes.
fn escape_attr(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(s: &str) -> String {
        let mut b = Vec::new();
        push_escaped(&mut b, s);
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn amounts_from_fen_as_excel_shows_the_double() {
        for (fen, text) in [
            (0, "0"),
            (7, "0.07"),
            (10, "0.1"),
            (89_500, "895"),
            (164_450, "1644.5"),
            (12_345, "123.45"),
            (-5, "-0.05"),
            (-250, "-2.5"),
            (99_999_999_999_999, "999999999999.99"),
        ] {
            assert_eq!(fen_text(&mut NumBuf::new(), Fen(fen)), text.as_bytes(), "{fen}");
            // The text rust_xlsxwriter wrote: the shortest form of the double.
            assert_eq!(format!("{}", fen as f64 / 100.0), text, "{fen}");
        }
        assert_eq!(NumBuf::new().format(0), b"0");
        assert_eq!(NumBuf::new().format(u64::MAX), u64::MAX.to_string().as_bytes());
    }

    #[test]
    fn text_is_escaped_as_excel_does() {
        assert_eq!(esc("张三"), "张三");
        assert_eq!(esc("a&b<c>d\"e'"), "a&amp;b&lt;c&gt;d\"e'");
        assert_eq!(esc("a\tb\nc\rd\u{1}"), "a\tb\nc_x000D_d_x0001_");
        assert_eq!(esc("_x0041_ and _x00G1_ and _x12"), "_x005F_x0041_ and _x00G1_ and _x12");
        assert_eq!(esc("x\u{FFFE}y\u{FFFF}（全角）"), "x_xFFFE_y_xFFFF_（全角）");
        assert_eq!(esc("收款人：王（监护人）；补发"), "收款人：王（监护人）；补发");
    }

    #[test]
    fn widths_as_rust_xlsxwriter_stores_them() {
        assert_eq!(col_width(8.0), 8.7109375);
        assert_eq!(col_width(22.0), 22.7109375);
    }
}
