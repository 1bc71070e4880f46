//! The clerk's tables (`exceptions.xlsx`, `changes.xlsx`,
//! `returns/failures.xlsx`) written as SpreadsheetML by hand, row by row, into
//! the zip's deflate stream, as the 名册 and 公示 are ([`super::listbook`]).
//!
//! Why not rust_xlsxwriter, which wrote them before: `returns` of a national
//! receipt lists a hundred thousand failures, and `reissue` lists them again
//! with their corrections; the general writer's per-cell work took most of a
//! second of each. The layout is the one it wrote (the tests compare both, cell
//! by cell and part by part): title, sub-title and header rows, frozen under
//! the header, numbers as numbers with their formats, a new sheet below
//! Excel's row limit, and "无" on an empty list.

use std::borrow::Cow;
use std::path::Path;

use super::package::ZipSink;
use super::sheetxml::{
    blank_cell, fen_text, heading_merges, merge_cells, number_cell, sheet_head, text_cell, xf, NumBuf, SheetHead,
    SHEET_TAIL,
};
use super::{ReportError, Staged};
use crate::domain::Fen;

/// A cell of a table.
pub(super) enum Value<'a> {
    Text(Cow<'a, str>),
    Count(u64),
    /// Yuan; empty when `None`.
    Money(Option<Fen>),
}

/// What every table shares: its title and columns.
pub(super) struct Table {
    pub title: String,
    pub left: String,
    /// The sub-title's right half (empty for most lists).
    pub right: String,
    pub head: &'static [&'static str],
    pub widths: &'static [f64],
}

/// Excel's limit on a text cell, in characters (a little under, for UTF-16).
const MAX_CHARS: usize = 32_000;

/// A text cut to what a cell holds, ending in … when cut: a roster cell can be
/// as long as Excel allows, and a message quoting it longer.
pub(super) fn fit(s: &str) -> Cow<'_, str> {
    match s.char_indices().nth(MAX_CHARS) {
        None => Cow::Borrowed(s),
        Some((at, _)) => Cow::Owned(format!("{}…", &s[..at])),
    }
}

/// A sheet name from a title: its last word (发放异常清单), at most 25 characters.
fn short(title: &str) -> String {
    title.rsplit(' ').next().unwrap_or(title).chars().take(25).collect()
}

/// Writes one table: a new sheet every `rows_per_sheet` rows.
pub(super) struct TableWriter<'t> {
    sink: ZipSink,
    t: &'t Table,
    rows_per_sheet: usize,
    names: Vec<String>,
    /// Next row of the open sheet, 1-based as in the XML (0: none open).
    row: u32,
    /// Rows of the open sheet.
    sheet_rows: usize,
    /// Rows in all.
    rows: u64,
}

impl<'t> TableWriter<'t> {
    pub(super) fn new(path: &Path, t: &'t Table, rows_per_sheet: usize) -> Result<TableWriter<'t>, ReportError> {
        assert!((1..=26).contains(&t.head.len()), "a table has 1 to 26 columns (one-letter names)");
        Ok(TableWriter {
            sink: ZipSink::new(path)?,
            t,
            rows_per_sheet: rows_per_sheet.max(1),
            names: Vec::new(),
            row: 0,
            sheet_rows: 0,
            rows: 0,
        })
    }

    pub(super) fn put(&mut self, cells: &[Value]) -> Result<(), ReportError> {
        if self.row == 0 || self.sheet_rows >= self.rows_per_sheet {
            self.next_sheet()?;
        }
        let mut rb = NumBuf::new();
        let row = rb.format(u64::from(self.row));
        let b = &mut self.sink.buf;
        b.extend_from_slice(b"<row r=\"");
        b.extend_from_slice(row);
        b.extend_from_slice(b"\">");
        for (c, v) in cells.iter().take(self.t.head.len()).enumerate() {
            let col = b'A' + c as u8;
            match v {
                Value::Text(x) if x.is_empty() => blank_cell(b, col, row, xf::TEXT),
                Value::Text(x) => text_cell(b, col, row, xf::TEXT, &fit(x)),
                Value::Count(n) => number_cell(b, col, row, xf::COUNT, NumBuf::new().format(*n)),
                Value::Money(Some(f)) => number_cell(b, col, row, xf::MONEY, fen_text(&mut NumBuf::new(), *f)),
                Value::Money(None) => blank_cell(b, col, row, xf::TEXT),
            }
        }
        b.extend_from_slice(b"</row>");
        self.row += 1;
        self.sheet_rows += 1;
        self.rows += 1;
        self.sink.flush_if_full()
    }

    /// Closes the open sheet, if any, and starts the next with its heading.
    fn next_sheet(&mut self) -> Result<(), ReportError> {
        if self.row != 0 {
            self.close_sheet(&[])?;
        }
        let base = short(&self.t.title);
        self.names.push(if self.names.is_empty() { base } else { format!("{base}({})", self.names.len() + 1) });
        self.sink.start_part(&format!("xl/worksheets/sheet{}.xml", self.names.len()))?;
        self.sheet_head();
        self.row = 4;
        self.sheet_rows = 0;
        Ok(())
    }

    /// Sheet properties, the frozen header, columns, and the title, sub-title
    /// and header rows.
    fn sheet_head(&mut self) {
        let t = self.t;
        let head = SheetHead {
            title: &t.title,
            left: &t.left,
            right: &t.right,
            head: t.head,
            widths: t.widths,
            col_styles: None,
            frozen: true,
            first: self.names.len() == 1,
        };
        sheet_head(&mut self.sink.buf, &head);
    }

    /// The merges (title, sub-title halves and `more`) and the page setup;
    /// then the sheet's entry is complete.
    fn close_sheet(&mut self, more: &[String]) -> Result<(), ReportError> {
        let mut merges = heading_merges(self.t.head.len());
        merges.extend_from_slice(more);
        let b = &mut self.sink.buf;
        b.extend_from_slice(b"</sheetData>");
        merge_cells(b, &merges);
        b.extend_from_slice(SHEET_TAIL);
        self.sink.flush()
    }

    /// Closes the last sheet (an empty table gets one that says 无 under its
    /// header) and hands the workbook back staged, not yet renamed in.
    pub(super) fn finish(mut self) -> Result<Staged, ReportError> {
        let mut more = Vec::new();
        if self.rows == 0 {
            self.next_sheet()?;
            let last = self.t.head.len() as u8 - 1;
            let b = &mut self.sink.buf;
            b.extend_from_slice(b"<row r=\"4\">");
            text_cell(b, b'A', b"4", xf::TEXT, "无");
            for c in 1..=last {
                blank_cell(b, b'A' + c, b"4", xf::TEXT);
            }
            b.extend_from_slice(b"</row>");
            more.push(format!("A4:{}4", (b'A' + last) as char));
        }
        self.close_sheet(&more)?;
        let names = std::mem::take(&mut self.names);
        self.sink.finish(&names, true)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn long_text_is_cut_to_a_cell() {
        assert_eq!(super::fit("张三"), "张三");
        let long = "名".repeat(40_000);
        let cut = super::fit(&long);
        assert_eq!(cut.chars().count(), super::MAX_CHARS + 1);
        assert!(cut.ends_with('…'));
    }
}
