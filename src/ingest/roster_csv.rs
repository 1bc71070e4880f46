//! Streaming a CSV roster: one reused record, rows handed to the visitor as read,
//! so a million-line roster never sits in memory.

use csv::StringRecord;

use crate::domain::{Cell, Program, RosterRow, Text};

use super::header::{HeaderSearch, RowKind};
use super::text::{Records, TextSource};
use super::{IngestError, RosterInfo, SkippedRows};

pub(super) fn read(
    source: TextSource,
    display: &str,
    program: Program,
    visit: &mut dyn FnMut(RosterRow),
) -> Result<(RosterInfo, SkippedRows), IngestError> {
    let mut records = Records::new(source, display);
    let mut rec = StringRecord::new();
    let mut search = HeaderSearch::new(display);
    let columns = loop {
        let Some(line) = records.next(&mut rec)? else {
            return Err(search.end_of_file());
        };
        if rec.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        if let Some(columns) = search.offer(line, rec.iter())? {
            break columns;
        }
    };
    let mut data_rows = 0;
    let mut skipped = SkippedRows::default();
    while let Some(line) = records.next(&mut rec)? {
        match columns.row(program, line, rec.len(), |i| text_cell(rec.get(i))) {
            RowKind::Data(row) => {
                data_rows += 1;
                visit(row);
            }
            RowKind::Footer(row) => skipped.push(row),
            RowKind::Blank => {}
        }
    }
    Ok(skipped.into_info(records.encoding().label(), data_rows))
}

/// A CSV cell as written; nothing but white space (or no cell at all) is empty.
fn text_cell(raw: Option<&str>) -> Cell {
    match raw {
        Some(s) if !s.trim().is_empty() => Cell::Text(Text::new(s)),
        _ => Cell::Empty,
    }
}
