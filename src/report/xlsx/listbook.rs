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

use std::path::Path;

use super::package::{ZipSink, EMPTY_SHEET};
use super::sheetxml::{
    blank_cell, fen_text, heading_merges, merge_cells, number_cell, sheet_head, text_cell, xf, NumBuf, SheetHead,
    MAX_TEXT, SHEET_TAIL,
};
use super::{period_cn, Chunk, ListHead, ListKind, ReportError, Staged};
use crate::domain::{Fen, Program};

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
    sink: ZipSink,
    kind: &'static ListKind,
    head: ListHead,
    rows_per_sheet: usize,
    /// Sheet names, in order; the open sheet's is the last.
    names: Vec<String>,
    open: Option<OpenSheet>,
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
        let styles = (0..kind.head.len() as u16)
            .map(|c| match c {
                0 => xf::COUNT,
                c if c == kind.amount_col => xf::MONEY,
                _ => xf::TEXT,
            })
            .collect();
        Ok(ListWriter {
            sink: ZipSink::new(path)?,
            kind,
            head,
            rows_per_sheet: rows_per_sheet.max(1),
            names: Vec::new(),
            open: None,
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
        let b = &mut self.sink.buf;
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
                return Err(too_long(self.sink.path(), &self.names, o.row, letter));
            }
            text_cell(b, letter, row, self.styles[col], text);
        }
        b.extend_from_slice(b"</row>");
        o.sum = o.sum.checked_add(amount).unwrap_or(o.sum);
        o.lines += 1;
        o.row += 1;
        self.sink.flush_if_full()
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
        self.sink.start_part(&format!("xl/worksheets/sheet{}.xml", self.names.len()))?;
        let title = format!("{} {} {}{}", self.head.office_name, period_cn(self.head.period), base, self.kind.title);
        self.sheet_head(&title);
        self.open = Some(OpenSheet { program: p, part, first_index, row: 4, lines: 0, sum: Fen::ZERO });
        Ok(())
    }

    /// Everything before the first line: sheet properties, columns, the title,
    /// sub-title and header rows.
    fn sheet_head(&mut self, title: &str) {
        let left = format!("制表单位：{}", self.head.office_name);
        let right = format!("单位：元　生成时间：{}", self.head.generated_at);
        let head = SheetHead {
            title,
            left: &left,
            right: &right,
            head: self.kind.head,
            widths: self.kind.widths,
            col_styles: Some(&self.styles),
            frozen: false,
            first: self.names.len() == 1,
        };
        sheet_head(&mut self.sink.buf, &head);
    }

    /// The 合计 row and the footer under the last line of a sheet, the merges
    /// and the page setup; then the sheet's entry is complete.
    fn close_sheet(&mut self, o: &OpenSheet) -> Result<(), ReportError> {
        let kind = self.kind;
        let last = kind.head.len() as u8 - 1;
        let footer = (kind.footer)(&self.head);
        let mut rb = NumBuf::new();
        let row = rb.format(u64::from(o.row));
        let b = &mut self.sink.buf;
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
        let mut merges = heading_merges(kind.head.len());
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
        b.extend_from_slice(b"</sheetData>");
        merge_cells(b, &merges);
        b.extend_from_slice(SHEET_TAIL);
        self.sink.flush()
    }

    /// The one sheet of a workbook without lines, its text shared as
    /// rust_xlsxwriter wrote it.
    fn empty_sheet(&mut self) -> Result<(), ReportError> {
        self.names.push(self.kind.title.to_string());
        self.sink.part("xl/worksheets/sheet1.xml", EMPTY_SHEET)
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
        self.sink.finish(&names, with_lines)
    }
}

fn too_long(path: &Path, names: &[String], row: u32, col: u8) -> ReportError {
    let sheet = names.last().map_or("", String::as_str);
    let message = format!(
        "the text of cell {}{row} on sheet {sheet} is longer than Excel's limit of 32,767 characters; shorten it in the roster",
        col as char
    );
    ReportError::Xlsx { path: path.to_path_buf(), message }
}
