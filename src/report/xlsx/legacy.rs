//! The list workbooks as rust_xlsxwriter wrote them before [`super::listbook`]:
//! kept, for tests only, as the reference the direct writer is compared with
//! cell by cell, part by part.

use std::path::{Path, PathBuf};

use rust_xlsxwriter::{Workbook, XlsxError};

use super::{
    heading, num, page_setup, period_cn, save_staged, xerr, Chunk, ListHead, ListKind, ReportError, Staged, Styles,
};
use crate::domain::{Fen, Program};
use crate::fsutil::create_private_dir;

/// A workbook whose constant-memory sheets spill to the reports folder (private,
/// on disk) rather than a shared temp folder, since the roster holds full IDs.
fn streaming_workbook(path: &Path) -> Result<Workbook, ReportError> {
    let mut wb = Workbook::new();
    // Fastest deflate: halves the time of a million-line roster for ~70% more bytes.
    wb.set_zip_compression_level(1);
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_private_dir(dir).map_err(|e| ReportError::io(path, e))?;
        wb.set_tempdir(dir).map_err(xerr(path))?;
    }
    Ok(wb)
}

/// The sheet being filled.
struct OpenSheet {
    program: Program,
    index: usize,
    /// 0 for the first sheet of a program, 1 for its second (past `rows_per_sheet`), …
    part: usize,
    /// Index of the program's first sheet, renamed `名(1)` if a second is needed.
    first_index: usize,
    row: u32,
    lines: usize,
    sum: Fen,
}

/// Writes a 发放名册 or 公示 workbook line by line: one constant-memory sheet per
/// program (lines must come grouped by program), each closed with its 合计 row
/// as the next program starts. Memory stays flat however many lines come.
pub(super) struct ListWriter {
    path: PathBuf,
    kind: &'static ListKind,
    head: ListHead,
    wb: Workbook,
    s: Styles,
    sheets: usize,
    open: Option<OpenSheet>,
    rows_per_sheet: usize,
}

impl ListWriter {
    pub(super) fn new(
        path: &Path,
        kind: &'static ListKind,
        head: ListHead,
        rows_per_sheet: usize,
    ) -> Result<ListWriter, ReportError> {
        Ok(ListWriter {
            path: path.to_path_buf(),
            kind,
            head,
            wb: streaming_workbook(path)?,
            s: Styles::new(),
            sheets: 0,
            open: None,
            rows_per_sheet,
        })
    }

    pub(super) fn chunk(&mut self, c: &Chunk) -> Result<(), ReportError> {
        let width = self.kind.head.len() - 2;
        for i in 0..c.len() {
            self.line(c.programs[i], c.amounts[i], c.cells(i, width)).map_err(xerr(&self.path))?;
        }
        Ok(())
    }

    fn line<'a>(&mut self, p: Program, amount: Fen, cells: impl Iterator<Item = &'a str>) -> Result<(), XlsxError> {
        let full = self.open.as_ref().map(|o| (o.program, o.lines >= self.rows_per_sheet));
        if full != Some((p, false)) {
            self.next_sheet(p)?;
        }
        let (kind, rows_per_sheet) = (self.kind, self.rows_per_sheet);
        let o = self.open.as_mut().expect("a sheet is open");
        let ws = self.wb.worksheet_from_index(o.index)?;
        ws.write_number(o.row, 0, (o.part * rows_per_sheet + o.lines + 1) as f64)?;
        let mut col = 1u16;
        for text in cells {
            if col == kind.amount_col {
                col += 1;
            }
            ws.write_string(o.row, col, text)?;
            col += 1;
        }
        ws.write_number(o.row, kind.amount_col, num(amount.to_yuan()))?;
        o.sum = o.sum.checked_add(amount).unwrap_or(o.sum);
        o.lines += 1;
        o.row += 1;
        Ok(())
    }

    /// Closes the open sheet and starts the next: the program's next part, or
    /// the first sheet of program `p`.
    fn next_sheet(&mut self, p: Program) -> Result<(), XlsxError> {
        let prev = self.open.take();
        if let Some(o) = &prev {
            self.close_sheet(o)?;
        }
        let (part, first_index) = match &prev {
            Some(o) if o.program == p => (o.part + 1, o.first_index),
            _ => (0, self.sheets),
        };
        let base = p.chinese_name();
        if part == 1 {
            self.wb.worksheet_from_index(first_index)?.set_name(format!("{base}({})", 1))?;
        }
        let name = if part == 0 { base.to_string() } else { format!("{base}({})", part + 1) };
        let ws = self.wb.add_worksheet_with_constant_memory()?;
        ws.set_name(name)?;
        let title = format!(
            "{} {} {}{}",
            self.head.office_name,
            period_cn(self.head.period),
            p.chinese_name(),
            self.kind.title
        );
        let left = format!("制表单位：{}", self.head.office_name);
        let right = format!("单位：元　生成时间：{}", self.head.generated_at);
        heading(ws, &self.s, &title, &left, &right, self.kind.head)?;
        page_setup(ws, 2, self.kind.widths)?;
        // The data cells take their style from the column: the writer looks a
        // cell's format up by hashing the whole `Format`, which for a million-line
        // list cost more than writing the cells themselves. Header and total rows
        // keep their own.
        for c in 0..self.kind.head.len() as u16 {
            let f = match c {
                0 => &self.s.count,
                c if c == self.kind.amount_col => &self.s.money,
                _ => &self.s.text,
            };
            ws.set_column_format(c, f)?;
        }
        self.open =
            Some(OpenSheet { program: p, index: self.sheets, part, first_index, row: 3, lines: 0, sum: Fen::ZERO });
        self.sheets += 1;
        Ok(())
    }

    /// The 合计 row and the footer under the last line of a sheet.
    fn close_sheet(&mut self, o: &OpenSheet) -> Result<(), XlsxError> {
        let (s, kind) = (&self.s, self.kind);
        let footer = (kind.footer)(&self.head);
        let ws = self.wb.worksheet_from_index(o.index)?;
        let last = (kind.head.len() - 1) as u16;
        let row = o.row;
        ws.write_string_with_format(row, 0, "合计", &s.total_text)?;
        for c in 1..=last {
            if c == kind.amount_col {
                ws.write_number_with_format(row, c, num(o.sum.to_yuan()), &s.total_money)?;
            } else if c == 1 {
                ws.write_string_with_format(row, c, format!("共{}笔", o.lines), &s.total_text)?;
            } else {
                ws.write_string_with_format(row, c, "", &s.total_text)?;
            }
        }
        for (i, line) in footer.iter().enumerate() {
            let r = row + 1 + i as u32;
            ws.merge_range(r, 0, r, last, line, &s.sub)?;
        }
        Ok(())
    }

    /// Closes the last sheet (or writes the 本次无发放数据 sheet when no line came)
    /// and saves the workbook beside its path, not yet renamed in.
    pub(super) fn finish(mut self) -> Result<Staged, ReportError> {
        let path = self.path.clone();
        match self.open.take() {
            Some(o) => self.close_sheet(&o).map_err(xerr(&path))?,
            None => {
                let ws = self.wb.add_worksheet();
                ws.set_name(self.kind.title)
                    .and_then(|ws| ws.write_string(0, 0, "本次无发放数据"))
                    .map_err(xerr(&path))?;
            }
        }
        save_staged(&path, &mut self.wb)
    }
}

/// A clerk's table as rust_xlsxwriter wrote it before [`super::table`]: title,
/// sub-title, header, the rows (a new constant-memory sheet every
/// `rows_per_sheet`), frozen under the header; "无" when there is no row.
pub(super) fn table(
    path: &Path,
    t: &super::table::Table,
    rows: &[Vec<super::table::Value>],
    rows_per_sheet: usize,
) -> Result<(), ReportError> {
    use super::table::{fit, Value};
    let s = Styles::new();
    let mut wb = Workbook::new();
    let short: String = t.title.rsplit(' ').next().unwrap_or(&t.title).chars().take(25).collect();
    let open = |wb: &mut Workbook, n: usize| -> Result<(), XlsxError> {
        let ws = wb.add_worksheet_with_constant_memory()?;
        ws.set_name(if n == 1 { short.clone() } else { format!("{short}({n})") })?;
        heading(ws, &s, &t.title, &t.left, &t.right, t.head)?;
        page_setup(ws, 2, t.widths)?;
        ws.set_freeze_panes(3, 0)?;
        Ok(())
    };
    let written = (|| -> Result<(), XlsxError> {
        let mut sheets = 0;
        for (i, cells) in rows.iter().enumerate() {
            if i % rows_per_sheet.max(1) == 0 {
                sheets += 1;
                open(&mut wb, sheets)?;
            }
            let row = (i % rows_per_sheet.max(1)) as u32 + 3;
            let ws = wb.worksheet_from_index(sheets - 1)?;
            for (c, v) in cells.iter().enumerate() {
                let c = c as u16;
                match v {
                    Value::Text(x) => ws.write_string_with_format(row, c, fit(x), &s.text)?,
                    Value::Count(n) => ws.write_number_with_format(row, c, *n as f64, &s.count)?,
                    Value::Money(Some(f)) => ws.write_number_with_format(row, c, num(f.to_yuan()), &s.money)?,
                    Value::Money(None) => ws.write_string_with_format(row, c, "", &s.text)?,
                };
            }
        }
        if rows.is_empty() {
            open(&mut wb, 1)?;
            let ws = wb.worksheet_from_index(0)?;
            ws.merge_range(3, 0, 3, t.head.len() as u16 - 1, "无", &s.text)?;
        }
        Ok(())
    })();
    written.map_err(xerr(path))?;
    save_staged(path, &mut wb)?.persist()
}
