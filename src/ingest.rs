//! Ingest: reads rosters (.csv in UTF-8, UTF-8 with BOM or GBK, detected; .xlsx;
//! .xls), approvals and stop lists into rows, without judging them.
//! (Stub: the real reader lands in its own change.)

use std::path::Path;

use crate::domain::{Program, RosterRow};

/// A file that cannot be read at all. The message names the file and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{file}: {reason}")]
    Refused { file: String, reason: String },
}

/// What reading a roster found besides its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterInfo {
    /// How the file was read: `UTF-8`, `UTF-8 (BOM)`, `GBK`, `xlsx`, `xls`.
    pub encoding: &'static str,
    /// Data rows passed to the visitor (blank rows are not data rows).
    pub data_rows: u64,
}

/// Reads the roster at `path`, calling `visit` with every data row in file order.
/// `display` is the name exceptions use for the file. `sheet` picks a worksheet of
/// a workbook (first sheet if `None`).
pub fn read_roster(
    path: &Path,
    display: &str,
    program: Program,
    sheet: Option<&str>,
    visit: &mut dyn FnMut(RosterRow),
) -> Result<RosterInfo, IngestError> {
    let _ = (path, program, sheet, visit);
    Err(IngestError::Refused {
        file: display.to_string(),
        reason: "not implemented".into(),
    })
}
