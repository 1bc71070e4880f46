//! Ingest: reads rosters (.csv in UTF-8, UTF-8 with BOM or GBK, detected; .xlsx;
//! .xls), approvals, stop lists and corrections into rows, without judging them.
//!
//! Why ingest does not judge: a bad cell in a roster is a *line* problem (validation
//! holds the line, the rest is paid), so every roster cell reaches the visitor
//! exactly as written. Only a file that cannot be read at all is refused here.
//! Control files (approvals, stops, corrections) are different: a bad line in them
//! would silently pay the wrong amount or the wrong person, so it refuses the file.
//!
//! Row numbers are always the ones a person sees in the spreadsheet (1-based,
//! counting title and header rows), so a clerk can go straight to the line.

use std::path::Path;

use crate::domain::{Field, Program, RosterRow};

mod control;
mod footer;
mod header;
pub(crate) mod limits;
mod normalise;
mod roster_csv;
mod roster_excel;
mod text;
mod xls_guard;
mod xlsx_guard;

pub use control::{
    read_approvals, read_checklist, read_corrections, read_institutions, read_stops, Correction, Institution, Listed,
    Stop, StopReason,
};
pub use footer::FooterKind;

/// A file that cannot be read at all. Every message names the file, says what is
/// wrong and what to do, and never carries a full ID or account number.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Anything not covered by a more specific variant.
    #[error("{}", crate::tr!("{file}：{reason}", "{file}: {reason}"))]
    Refused { file: String, reason: String },

    #[error("{}", crate::tr!("{file}：找不到文件：请检查 disburse.toml 里的路径，或把文件放到那里", "{file}: file not found: check the path in disburse.toml or put the file there"))]
    NotFound { file: String },

    #[error("{}", crate::tr!("{file}：这是一个目录，不是文件：请在配置里写它里面的文件", "{file}: is a folder, not a file: point the configuration at the file inside it"))]
    IsDirectory { file: String },

    #[error("{}", crate::tr!("{file}：读不了：{}", "{file}: could not be read: {}", crate::fsutil::Explained(source)))]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },

    #[error("{}", crate::tr!("{file}：文件是空的：请重新导出 {what}", "{file}: the file is empty: export the {what} again"))]
    Empty { file: String, what: &'static str },

    #[error("{}", crate::tr!("{file}：不是 CSV 文件也不是 Excel 工作簿（{looks_like}）：请重新导出为 .csv 或 .xlsx", "{file}: is not a CSV file or Excel workbook ({looks_like}): export the data again as .csv or .xlsx"))]
    NotASpreadsheet { file: String, looks_like: String },

    #[error("{}", crate::tr!("{file}：第 {line} 行不是有效的 {encoding} 文本{hint}：请另存为“CSV UTF-8”（或 GBK）后重新运行", "{file}: line {line} is not valid {encoding} text{hint}: save the file again as \"CSV UTF-8\" (or GBK) and run again"))]
    Encoding { file: String, line: u64, encoding: &'static str, hint: &'static str },

    #[error("{}", crate::tr!("{file}：第 {line} 行：CSV 格式有误（{reason}）：请用 Excel 或 WPS 打开后重新另存为 CSV", "{file}: line {line}: the CSV text is malformed ({reason}): open the file in Excel or WPS and save it again as CSV"))]
    Csv { file: String, line: u64, reason: String },

    #[error("{}", crate::tr!("{file}：前 {searched} 行里找不到表头行：{needs}", "{file}: no header row found in the first {searched} rows: {needs}"))]
    NoHeader { file: String, searched: u64, needs: String },

    #[error("{}", crate::tr!("{file}：第 {row} 行像是表头，但缺少列 {missing}：请补上（{accepted}）", "{file}: row {row} looks like the header but lacks the column(s) {missing}: add them ({accepted})"))]
    MissingColumns { file: String, row: u64, missing: String, accepted: String },

    #[error("{}", crate::tr!("{file}：第 {row} 行：列 {first} 和 {second} 都表示 {field}：只保留一列（把另一列改名或删掉）", "{file}: row {row}: columns {first} and {second} both mean {field}: keep one of them (rename or delete the other)"))]
    DuplicateColumn { file: String, row: u64, field: String, first: String, second: String },

    #[error("{}", crate::tr!("{file}：工作簿读不了（{reason}）：请用 Excel 或 WPS 打开后重新另存为 .xlsx", "{file}: the workbook could not be read ({reason}): open it in Excel or WPS and save it again as .xlsx"))]
    Workbook { file: String, reason: String },

    #[error("{}", crate::tr!("{file}：没有名为 '{sheet}' 的工作表；它的工作表有：{available}：请改正 disburse.toml 里的工作表名", "{file}: has no sheet named '{sheet}'; its sheets are: {available}: fix the sheet name in disburse.toml"))]
    NoSuchSheet { file: String, sheet: String, available: String },

    /// A file beyond one of the limits of [`limits`] (SPEC §12).
    #[error("{}", crate::tr!("{file}：{place}：{what}（上限是 {limit}）：文件已损坏或不是应有的文件；请重新导出（或拆分）后再运行", "{file}: {place}: {what} (the limit is {limit}): the file is damaged or not what it should be; export it again (or split it) and run again"))]
    TooLarge { file: String, place: String, what: String, limit: String },

    #[error("{}", crate::tr!("{file}：第 {row} 行，{field}：{reason}：请改正这一行后重新运行", "{file}: row {row}, {field}: {reason}: correct the line and run again"))]
    BadLine { file: String, row: u64, field: String, reason: String },
}

/// What reading a roster found besides its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterInfo {
    /// How the file was read: `UTF-8`, `UTF-8 (BOM)`, `GBK`, `xlsx`, `xls`.
    pub encoding: &'static str,
    /// Data rows passed to the visitor (blank rows are not data rows).
    pub data_rows: u64,
}

/// How many skipped rows [`RosterInfo`] keeps for the summary (a sheet of a
/// million 小计 rows must not be kept whole).
pub const SKIPPED_KEPT: usize = 50;

/// A total or sign-off row that was not read as a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedRow {
    /// The row as a person sees it in the spreadsheet.
    pub row: u64,
    pub kind: FooterKind,
    /// Its first non-blank cell (at most 40 characters, long digit runs masked).
    pub text: String,
}

/// The total and sign-off rows after a roster's header (合计, 制表人 …): not
/// people, not passed to the visitor, not counted against the approval.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SkippedRows {
    /// The first [`SKIPPED_KEPT`] of them.
    pub kept: Vec<SkippedRow>,
    /// How many there were.
    pub count: u64,
}

impl SkippedRows {
    fn push(&mut self, row: SkippedRow) {
        self.count += 1;
        if self.kept.len() < SKIPPED_KEPT {
            self.kept.push(row);
        }
    }

    fn into_info(self, encoding: &'static str, data_rows: u64) -> (RosterInfo, SkippedRows) {
        (RosterInfo { encoding, data_rows }, self)
    }
}

/// Reads the roster at `path`, calling `visit` with every data row in file order.
/// `display` is the name exceptions use for the file. `sheet` picks a worksheet of
/// a workbook (first sheet if `None`).
///
/// The format is taken from the file's content, not its name: a workbook saved
/// with a `.csv` name is still read as a workbook, and a CSV is read in the
/// encoding its bytes show (UTF-8 with or without BOM, else GBK/GB18030).
pub fn read_roster(
    path: &Path,
    display: &str,
    program: Program,
    sheet: Option<&str>,
    visit: &mut dyn FnMut(RosterRow),
) -> Result<RosterInfo, IngestError> {
    read_roster_skipping(path, display, program, sheet, visit).map(|(info, _)| info)
}

/// [`read_roster`], also returning the total and sign-off rows it skipped.
pub fn read_roster_skipping(
    path: &Path,
    display: &str,
    program: Program,
    sheet: Option<&str>,
    visit: &mut dyn FnMut(RosterRow),
) -> Result<(RosterInfo, SkippedRows), IngestError> {
    match text::sniff(path, display, crate::lang::pick("名册", "roster"))? {
        text::Sniffed::Xlsx => roster_excel::read(path, display, program, sheet, roster_excel::Kind::Xlsx, visit),
        text::Sniffed::Xls => roster_excel::read(path, display, program, sheet, roster_excel::Kind::Xls, visit),
        text::Sniffed::Text(source) => roster_csv::read(source, display, program, visit),
    }
}

/// The accepted header names of `field`, for messages (`金额/发放金额/…/amount`).
fn accepted_names(field: Field) -> String {
    field.headers().join("/")
}

/// Spreadsheet column letters of a 0-based column index (`0` → `A`, `27` → `AB`).
fn column_letter(mut index: usize) -> String {
    let mut out = Vec::new();
    loop {
        out.push(b'A' + (index % 26) as u8);
        if index < 26 {
            break;
        }
        index = index / 26 - 1;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_letters() {
        assert_eq!(column_letter(0), "A");
        assert_eq!(column_letter(25), "Z");
        assert_eq!(column_letter(26), "AA");
        assert_eq!(column_letter(27), "AB");
        assert_eq!(column_letter(701), "ZZ");
        assert_eq!(column_letter(702), "AAA");
    }
}
