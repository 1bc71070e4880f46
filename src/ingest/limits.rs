//! The limits every reader of outside input works within (SPEC §12), in one
//! place, each with the reason for its size.
//!
//! Why limits at all: a roster, workbook or list comes from outside (a village
//! clerk's export, a bank's drop folder), and a damaged or hostile file must be
//! refused with a message, never take the machine's memory: a 3 KB workbook
//! claiming a sheet up to XFD1048576, a 6 MB zip that inflates to gigabytes, or
//! one 900 KB shared string repeated in every cell each once made the process
//! try to allocate hundreds of gigabytes and abort. With these limits the peak
//! memory of reading any input stays well under 1 GB; every limit is far above
//! what a real file of the kind holds.

/// Excel's own limit on the characters of one cell: no genuine workbook has more.
pub(crate) const CELL_CHARS: usize = 32_767;

/// The longest physical line (CSV, text returns) and the largest row of a
/// workbook, in bytes. A roster line is a few hundred bytes.
pub(crate) const LINE_BYTES: usize = 1024 * 1024;

/// The largest record of a CSV file in bytes, when a quoted cell runs over
/// several lines (a cell broken by Alt+Enter is a few lines, not thousands).
pub(crate) const RECORD_BYTES: usize = 4 * 1024 * 1024;

/// The rows and columns of an .xlsx sheet (Excel's own maximum).
pub(crate) const XLSX_ROWS: u32 = 1_048_576;
pub(crate) const XLSX_COLUMNS: u32 = 16_384;

/// The most bytes one XML part of a workbook may inflate to. A million-row
/// sheet with inline strings is ~700 MB of XML; it is read as a stream, so this
/// bounds time, not memory.
pub(crate) const XLSX_PART_BYTES: u64 = 1024 * 1024 * 1024;

/// The most bytes all the XML parts of a workbook together may inflate to.
pub(crate) const XLSX_TOTAL_BYTES: u64 = 2048 * 1024 * 1024;

/// The shared-string table is held in memory whole (by the Excel reader):
/// at most this many bytes of XML and this many strings. A million-row roster
/// has about three million distinct strings (IDs, accounts, names).
pub(crate) const SHARED_STRINGS_BYTES: u64 = 256 * 1024 * 1024;
pub(crate) const SHARED_STRINGS_COUNT: u64 = 6_000_000;

/// The longest stretch of workbook XML without a `<`: one tag or one text,
/// which the XML reader holds whole. A cell of 32,767 characters, escaped, is
/// well under this.
pub(crate) const XML_ITEM_BYTES: u64 = 1024 * 1024;

/// Every other XML part (workbook, styles, relationships) is held whole: a real
/// one is kilobytes; the style table at most this many elements (Excel itself
/// allows 64,000 formats).
pub(crate) const XLSX_OTHER_PART_BYTES: u64 = 64 * 1024 * 1024;
pub(crate) const STYLE_ELEMENTS: u64 = 1_000_000;

/// Entries of a workbook's zip container (a roster workbook has a dozen or two),
/// and the size of its table of contents, which the zip reader holds whole.
pub(crate) const ZIP_ENTRIES: usize = 10_000;
pub(crate) const ZIP_DIRECTORY_BYTES: u64 = 16 * 1024 * 1024;

/// A legacy .xls is read whole into memory by the Excel reader: its file size,
/// the cells of all its sheets and the rectangle a sheet spans are bounded, and
/// so is the text its cells hold once read (a shared string repeated in every
/// cell is copied into each).
pub(crate) const XLS_FILE_BYTES: u64 = 256 * 1024 * 1024;
pub(crate) const XLS_CELLS: u64 = 4_000_000;
pub(crate) const XLS_AREA: u64 = 8_000_000;
pub(crate) const XLS_TEXT_BYTES: u64 = 256 * 1024 * 1024;

/// Lines of a control file, each held in memory: approvals have one line per
/// program; a county's stop list and a correction batch have thousands.
pub(crate) const APPROVAL_LINES: u64 = 10_000;
pub(crate) const STOP_LINES: u64 = 2_000_000;
pub(crate) const CORRECTION_LINES: u64 = 1_000_000;
/// A line of a control file, in bytes (its fields are IDs, accounts, names).
pub(crate) const CONTROL_LINE_BYTES: usize = 4096;

/// The configuration file, read whole (a real one is a few KB).
pub(crate) const CONFIG_BYTES: u64 = 4 * 1024 * 1024;

/// Roster lines of one command, all rosters together: each keeps 40 bytes in
/// memory until its line is written (its ID as an integer, row, line type,
/// amount, place), 400 MB for a province's ten million; the payees R05 sorts
/// go to disk past a million. Twelve million leaves room under SPEC §12's 1 GB
/// for the rest of a run (the ledger's cache, the writers, the holds found).
pub(crate) const ROSTER_LINES: u64 = 12_000_000;

/// The names of all distinct places (township and village) of one command's
/// rosters, in bytes: each is kept in memory. A province has ~100,000 villages
/// of a dozen characters each.
pub(crate) const PLACE_NAME_BYTES: u64 = 64 * 1024 * 1024;

/// `n` bytes as a person reads them (`1 MB`, `256 MB`, `2 GB`).
pub(crate) fn bytes(n: u64) -> String {
    const MB: u64 = 1024 * 1024;
    if n >= 1024 * MB && n.is_multiple_of(1024 * MB) {
        format!("{} GB", n / (1024 * MB))
    } else if n >= MB {
        format!("{} MB", n / MB)
    } else if n >= 1024 {
        format!("{} KB", n / 1024)
    } else {
        format!("{n} bytes")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(super::bytes(1024 * 1024), "1 MB");
        assert_eq!(super::bytes(2048 * 1024 * 1024), "2 GB");
        assert_eq!(super::bytes(1536 * 1024 * 1024), "1536 MB");
        assert_eq!(super::bytes(4096), "4 KB");
    }
}
