//! Reading a roster from an Excel workbook (.xlsx/.xlsm or legacy .xls).
//!
//! Why numbers stay text: Excel stores every number as an IEEE double, so an ID
//! or card number typed as a number has already lost digits. Ingest hands the
//! shortest text that round-trips the double (`6228480000000000000`,
//! `395.99999999999994`) to validation, which can then see the damage and hold
//! the line instead of paying a wrong account or a wrong amount.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use calamine::{Data, DataRef, Reader, SheetVisible, Xls, Xlsx};

use crate::domain::{Cell, Program, RosterRow};

use super::header::HeaderSearch;
use super::limits;
use super::{IngestError, RosterInfo};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Xlsx,
    Xls,
}

pub(super) fn read(
    path: &Path,
    display: &str,
    program: Program,
    sheet: Option<&str>,
    kind: Kind,
    visit: &mut dyn FnMut(RosterRow),
) -> Result<RosterInfo, IngestError> {
    if kind == Kind::Xlsx {
        super::xlsx_guard::check(path, display)?;
    }
    let mut rows = Rows::new(display, program, visit);
    // calamine panics on some damaged workbooks (an index out of bounds in its
    // .xls record parser, found by fuzzing): that is a bad file, not a crash.
    let read = quiet_panics(|| match kind {
        Kind::Xlsx => read_xlsx(path, display, sheet, &mut rows),
        Kind::Xls => read_xls(path, display, sheet, &mut rows),
    });
    read.unwrap_or_else(|_| {
        Err(bad_workbook(display, "its internal structure is damaged (the Excel reader could not follow it)"))
    })?;
    let data_rows = rows.finish()?;
    let encoding = if kind == Kind::Xlsx { "xlsx" } else { "xls" };
    Ok(RosterInfo { encoding, data_rows })
}

/// Reads the sheet of an .xlsx cell by cell, building one row at a time: a sheet
/// that claims `A1:XFD1048576` costs what its cells cost, and a shared string is
/// only copied into the cells that are read (each at most [`limits::CELL_CHARS`]).
fn read_xlsx(path: &Path, display: &str, sheet: Option<&str>, rows: &mut Rows) -> Result<(), IngestError> {
    let mut wb: Xlsx<BufReader<File>> = calamine::open_workbook(path).map_err(|e| bad_workbook(display, e))?;
    let name = pick_sheet(wb.sheets_metadata(), display, sheet)?;
    let mut cells = wb.worksheet_cells_reader(&name).map_err(|e| bad_workbook(display, e))?;
    let mut row = RowBuf::default();
    while let Some(cell) = cells.next_cell().map_err(|e| bad_workbook(display, e))? {
        let (r, c) = cell.get_position();
        if r >= limits::XLSX_ROWS || c >= limits::XLSX_COLUMNS {
            let what = format!("a cell at row {}, column {}", u64::from(r) + 1, u64::from(c) + 1);
            let limit = format!("{} rows and {} columns of a sheet", limits::XLSX_ROWS, limits::XLSX_COLUMNS);
            return Err(too_large(display, &name, what, limit));
        }
        match row.at {
            Some(at) if r < at => {
                let reason =
                    format!("the cells of sheet '{name}' are not in row order (row {} after row {})", r + 1, at + 1);
                return Err(bad_workbook(display, reason));
            }
            Some(at) if r > at => {
                rows.row(u64::from(at) + 1, 0, &row.cells)?;
                row.clear();
            }
            _ => {}
        }
        row.at = Some(r);
        let value: Data = match cell.get_value() {
            DataRef::SharedString(s) => {
                check_cell(display, &name, r, c, s.len(), s)?;
                Data::String((*s).to_string())
            }
            other => other.clone().into(),
        };
        if let Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) = &value {
            check_cell(display, &name, r, c, s.len(), s)?;
        }
        row.put(c as usize, value, display, &name)?;
    }
    if let Some(at) = row.at {
        rows.row(u64::from(at) + 1, 0, &row.cells)?;
    }
    Ok(())
}

/// Refuses a cell longer than Excel itself allows.
fn check_cell(display: &str, sheet: &str, r: u32, c: u32, len: usize, s: &str) -> Result<(), IngestError> {
    if len > limits::CELL_CHARS && s.chars().count() > limits::CELL_CHARS {
        let place = format!("sheet '{sheet}', cell {}{}", super::column_letter(c as usize), u64::from(r) + 1);
        let what = format!("a cell of {} characters", s.chars().count());
        let limit = format!("{} characters a cell may have, as in Excel", limits::CELL_CHARS);
        return Err(IngestError::TooLarge { file: display.to_string(), place, what, limit });
    }
    Ok(())
}

fn too_large(display: &str, sheet: &str, what: String, limit: String) -> IngestError {
    IngestError::TooLarge { file: display.to_string(), place: format!("sheet '{sheet}'"), what, limit }
}

/// The cells of the row being read, by column, and the text they hold so far.
#[derive(Default)]
struct RowBuf {
    at: Option<u32>,
    cells: Vec<Data>,
    bytes: usize,
}

impl RowBuf {
    fn put(&mut self, col: usize, value: Data, display: &str, sheet: &str) -> Result<(), IngestError> {
        self.bytes += match &value {
            Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.len(),
            _ => 8,
        };
        if self.bytes > limits::LINE_BYTES {
            let row = u64::from(self.at.unwrap_or(0)) + 1;
            let what = format!("row {row} holds more than {} of text", limits::bytes(limits::LINE_BYTES as u64));
            return Err(too_large(display, sheet, what, limits::bytes(limits::LINE_BYTES as u64)));
        }
        if self.cells.len() <= col {
            self.cells.resize(col + 1, Data::Empty);
        }
        self.cells[col] = value;
        Ok(())
    }

    fn clear(&mut self) {
        self.cells.clear();
        self.bytes = 0;
    }
}

/// Reads the sheet of a legacy .xls, whose reader loads every sheet at once:
/// the compound file is checked first (chains, and what its sheets would cost).
fn read_xls(path: &Path, display: &str, sheet: Option<&str>, rows: &mut Rows) -> Result<(), IngestError> {
    let size = std::fs::metadata(path).map_err(|e| super::text::io_error(display, e))?.len();
    if size > limits::XLS_FILE_BYTES {
        let what = format!("an .xls file of {}", limits::bytes(size));
        let limit = limits::bytes(limits::XLS_FILE_BYTES);
        return Err(IngestError::TooLarge { file: display.to_string(), place: "the file".into(), what, limit });
    }
    let bytes = std::fs::read(path).map_err(|e| super::text::io_error(display, e))?;
    if let Err(why) = cfb::check_chains(&bytes) {
        return Err(match why {
            cfb::Refusal::Damaged(why) => bad_workbook(display, why),
            cfb::Refusal::TooLarge { what, limit } => {
                IngestError::TooLarge { file: display.to_string(), place: "its sheets".into(), what, limit }
            }
        });
    }
    drop(bytes);
    let mut wb: Xls<BufReader<File>> = calamine::open_workbook(path).map_err(|e| bad_workbook(display, e))?;
    let name = pick_sheet(wb.sheets_metadata(), display, sheet)?;
    let range = wb.worksheet_range(&name).map_err(|e| bad_workbook(display, e))?;
    // The range starts at its first used cell; rows and columns before it are
    // empty but still count for the numbers a person sees.
    let (row0, col0) = range.start().map_or((0, 0), |(r, c)| (u64::from(r), c as usize));
    for (i, cells) in range.rows().enumerate() {
        rows.row(row0 + i as u64 + 1, col0, cells)?;
    }
    Ok(())
}

/// The sheet to read: the one the config names (hidden or not), else the first,
/// which must be visible. A hidden first sheet is usually a lookup table or an
/// old copy; reading it would pay from the wrong list.
fn pick_sheet(sheets: &[calamine::Sheet], display: &str, want: Option<&str>) -> Result<String, IngestError> {
    let quoted = |v: &mut dyn Iterator<Item = &calamine::Sheet>| {
        let names: Vec<String> = v.map(|s| format!("'{}'", s.name)).collect();
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    };
    if let Some(want) = want {
        return sheets.iter().find(|s| s.name.trim() == want.trim()).map(|s| s.name.clone()).ok_or_else(|| {
            IngestError::NoSuchSheet {
                file: display.to_string(),
                sheet: want.to_string(),
                available: quoted(&mut sheets.iter()),
            }
        });
    }
    let first = sheets
        .first()
        .ok_or_else(|| IngestError::Empty { file: display.to_string(), what: crate::lang::pick("名册", "roster") })?;
    if first.visible != SheetVisible::Visible {
        let visible = quoted(&mut sheets.iter().filter(|s| s.visible == SheetVisible::Visible));
        return Err(IngestError::Refused {
            file: display.to_string(),
            reason: format!(
                "its first sheet '{}' is hidden, and a hidden sheet is never read unless disburse.toml names it; \
                 the visible sheets are: {visible}: name the roster's sheet in disburse.toml (sheet = \"…\" under \
                 the program) or unhide it in Excel",
                first.name
            ),
        });
    }
    Ok(first.name.clone())
}

thread_local! {
    static IN_CALAMINE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f`, turning a panic into `Err` without printing it: the clerk gets the
/// refusal message, not a backtrace from inside a third-party parser. Panics on
/// other threads, or outside `f`, still go to the hook that was installed before.
fn quiet_panics<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_CALAMINE.with(|q| q.get()) {
                previous(info);
            }
        }));
    });
    IN_CALAMINE.with(|q| q.set(true));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    IN_CALAMINE.with(|q| q.set(false));
    r
}

use super::xls_guard as cfb;

fn bad_workbook(display: &str, e: impl std::fmt::Display) -> IngestError {
    IngestError::Workbook { file: display.to_string(), reason: e.to_string() }
}

/// Finds the header among the first rows and hands every data row after it to
/// the visitor; counts them.
struct Rows<'v> {
    search: HeaderSearch<'v>,
    columns: Option<super::header::Columns>,
    program: Program,
    visit: &'v mut dyn FnMut(RosterRow),
    data_rows: u64,
}

impl<'v> Rows<'v> {
    fn new(display: &'v str, program: Program, visit: &'v mut dyn FnMut(RosterRow)) -> Self {
        Rows { search: HeaderSearch::new(display), columns: None, program, visit, data_rows: 0 }
    }

    /// Row `number` (as a person sees it) whose first cell is in column `col0`.
    fn row(&mut self, number: u64, col0: usize, cells: &[Data]) -> Result<(), IngestError> {
        match &self.columns {
            None => {
                let texts: Vec<String> = leading(col0).chain(cells.iter().map(cell_text)).collect();
                if texts.iter().all(|t| t.trim().is_empty()) {
                    return Ok(());
                }
                self.columns = self.search.offer(number, texts.iter().map(String::as_str))?;
            }
            Some(columns) => {
                let at = |c: usize| c.checked_sub(col0).and_then(|c| cells.get(c)).map_or(Cell::Empty, to_cell);
                if let Some(row) = columns.row(self.program, number, at) {
                    self.data_rows += 1;
                    (self.visit)(row);
                }
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<u64, IngestError> {
        match self.columns {
            Some(_) => Ok(self.data_rows),
            None => Err(self.search.end_of_file()),
        }
    }
}

fn leading(n: usize) -> impl Iterator<Item = String> {
    std::iter::repeat_n(String::new(), n)
}

/// The cell as ingest hands it on.
fn to_cell(d: &Data) -> Cell {
    match d {
        Data::Empty => Cell::Empty,
        Data::Float(f) => Cell::Number(number_text(*f).into()),
        Data::Int(i) => Cell::Number(compact_str::ToCompactString::to_compact_string(i)),
        Data::String(s) if s.trim().is_empty() => Cell::Empty,
        _ => Cell::Text(cell_text(d).into()),
    }
}

/// Any cell as text (headers, and non-numeric cells).
fn cell_text(d: &Data) -> String {
    match d {
        Data::Empty => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Float(f) => number_text(*f),
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        Data::DateTime(dt) => match dt.as_datetime() {
            Some(t) if t.time() == chrono::NaiveTime::MIN => t.format("%Y-%m-%d").to_string(),
            Some(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
            None => dt.to_string(),
        },
        Data::Error(e) => e.to_string(),
    }
}

/// The shortest decimal text that round-trips the double, without exponent and
/// without a `.0` on whole numbers (Rust's `Display` for `f64` does exactly that).
pub(super) fn number_text(f: f64) -> String {
    if f == 0.0 {
        return "0".to_string();
    }
    format!("{f}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn xls_with_looping_sector_chains_is_refused_not_read_forever() {
        let good = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/ingest/roster.xls")).unwrap();
        assert_eq!(super::cfb::check_chains(&good), Ok(()));
        let bad =
            std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/regressions/roster_xlsx/cfb-chain-loop.xls"))
                .unwrap();
        assert!(super::cfb::check_chains(&bad).is_err());
        let huge = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fuzz/regressions/roster_xlsx/calamine-dimensions-alloc.xls"
        ))
        .unwrap();
        assert!(
            matches!(super::cfb::check_chains(&huge), Err(super::cfb::Refusal::Damaged(w)) if w.contains("more rows or columns"))
        );
        let wide = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fuzz/regressions/roster_xlsx/calamine-far-cell-alloc.xls"
        ))
        .unwrap();
        assert!(
            matches!(super::cfb::check_chains(&wide), Err(super::cfb::Refusal::Damaged(w)) if w.contains("more rows or columns"))
        );
    }

    use super::*;

    #[test]
    fn numbers_in_shortest_round_trip_form() {
        assert_eq!(number_text(396.0), "396");
        assert_eq!(number_text(395.99999999999994), "395.99999999999994");
        assert_eq!(number_text(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(number_text(6.22848e18), "6228480000000000000");
        assert_eq!(number_text(110105194912310012.0), "110105194912310020");
        assert_eq!(number_text(-0.0), "0");
        assert_eq!(number_text(-12.5), "-12.5");
    }
}
