//! Reports people read: the CSV lists (summary, exceptions, notice, paid, changes,
//! failures), the 汇总表, 发放名册 and 公示 workbooks (.xlsx) and the one-page HTML
//! run report.
//!
//! Why the care over plain text:
//! - Every CSV starts with a UTF-8 byte-order mark, so Excel on a Chinese Windows
//!   desk opens it as UTF-8 instead of GBK and shows 姓名 rather than mojibake.
//! - Text that a spreadsheet would run as a formula (starting `=`, `+`, `-`, `@`,
//!   tab or CR) is defused: in CSV it gets a leading `'`, in xlsx it is written as
//!   a string cell (never a formula). A roster typed by someone else must not run
//!   code on the clerk's machine (CSV injection).
//! - Full ID and account numbers appear only in `paid.csv` and `roster.xlsx`, which
//!   exist for the bank reconciliation; every other report carries masked IDs, and
//!   free text is scrubbed of any long digit run that looks like one.
//! - Every file is written whole or not at all (`fsutil::write_atomic_with`, or a
//!   temporary file renamed in when complete), and the reports made from the paid
//!   lines are streamed ([`PaidReports`]) so a run of a million lines stays cheap
//!   and never holds its lines.

use std::borrow::Cow;
use std::io;
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;

use crate::domain::{mask_id, Change, Failure, PaymentLine, Period, Program};
use crate::totals::RunTotals;

mod csvout;
mod derived;
mod exlog;
mod html;
mod paid;
mod snapshot;
mod words;
mod xlsx;

pub use derived::{rebuild, status_json, DerivedError, Rebuilt};
pub use exlog::{Counts, ExceptionLog, ExceptionSource, Exceptions};
pub use paid::{PaidHead, PaidReports};
pub use snapshot::{refresh_html, save_snapshot};
pub use words::amount_in_words;

/// Everything a run hands over for its reports.
#[derive(Debug, Clone)]
pub struct RunReport<'a> {
    pub office_name: &'a str,
    pub period: Period,
    /// Local time as the caller wants it shown, e.g. `2026-11-25 14:03`.
    pub generated_at: String,
    pub totals: &'a RunTotals,
    /// Lines paid (or, for `check`, lines that would be paid).
    pub paid: &'a [PaymentLine],
    /// Bank file name of each paid line, same index as `paid` (may be empty for `check`).
    pub bank_files: &'a [String],
    pub exceptions: ExceptionSource<'a>,
    pub changes: &'a [Change],
    /// Empty until receipts arrive.
    pub failures: &'a [Failure],
}

/// Which reports a command writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportSet {
    /// `check`: nothing was paid, so no `paid.csv` and no `roster.xlsx`.
    Check,
    /// A real run: every report.
    Run,
}

/// Why a report could not be written. Nothing half-written is left behind.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{}", crate::tr!("写不了报告 {}：{}", "could not write report {}: {}", path.display(), crate::fsutil::Explained(cause)))]
    Io { path: PathBuf, cause: io::Error },
    #[error("{}", crate::tr!("生成表格 {} 失败：{message}；请检查目录可写、磁盘未满，然后重新运行", "could not build spreadsheet {}: {message}; check that the folder is writable and the disk is not full, then run again", path.display()))]
    Xlsx { path: PathBuf, message: String },
    #[error("{}", crate::tr!("内部错误：发放 {paid} 笔，却只交给报告 {files} 个银行文件名；没有写任何报告（请报告这个程序错误）", "internal error: {paid} paid lines but {files} bank file names were handed to the reports; no report was written (please report this bug)"))]
    BankFilesMismatch { paid: usize, files: usize },
    #[error("{}", crate::tr!("内部错误：{} 的一笔排在 {} 之后，报告要求同一项目的发放排在一起；没有写任何报告（请报告这个程序错误）", "internal error: a {} line came after {} lines, but the reports need the lines grouped by program; no report was written (please report this bug)", program.code(), after.code()))]
    LinesOutOfOrder { program: Program, after: Program },
}

impl ReportError {
    fn io(path: &Path, cause: io::Error) -> ReportError {
        ReportError::Io { path: path.to_path_buf(), cause }
    }
}

/// Writes every report of `set` into `reports_dir` (created if missing) and returns
/// the paths written, in a fixed order: summary.csv, exceptions.csv, notice.csv,
/// paid.csv, changes.csv, summary.xlsx, roster.xlsx, notice.xlsx, report.html
/// (`check` has no paid.csv and no roster.xlsx).
///
/// The lines may come in any order: the CSVs keep it, the workbooks group them by
/// program. A run that streams its lines uses [`PaidReports`] and
/// [`write_summary_reports`] instead.
pub fn write_reports(reports_dir: &Path, r: &RunReport, set: ReportSet) -> Result<Vec<PathBuf>, ReportError> {
    if set == ReportSet::Run && r.bank_files.len() != r.paid.len() {
        return Err(ReportError::BankFilesMismatch { paid: r.paid.len(), files: r.bank_files.len() });
    }
    let head =
        PaidHead { office_name: r.office_name, period: r.period, generated_at: &r.generated_at, totals: r.totals };
    let mut lines = PaidReports::create(reports_dir, head, set)?;
    lines.push_all(r.paid, r.bank_files)?;
    // The workbook threads finish their last lines while the small reports are written.
    let rest = write_summary_reports(reports_dir, r, set)?;
    let paid = lines.finish()?;
    // rest: summary.csv, exceptions.csv, changes.csv, summary.xlsx, report.html;
    // paid: notice.csv, [paid.csv,] [roster.xlsx,] notice.xlsx.
    let (csvs, books) = paid.split_at(if set == ReportSet::Run { 2 } else { 1 });
    let mut written = Vec::with_capacity(rest.len() + paid.len());
    written.extend_from_slice(&rest[..2]);
    written.extend_from_slice(csvs);
    written.extend_from_slice(&rest[2..4]);
    written.extend_from_slice(books);
    written.extend_from_slice(&rest[4..]);
    Ok(written)
}

/// Writes the reports not made from the lines — summary.csv, exceptions.csv,
/// changes.csv, summary.xlsx, report.html, in that order — and returns their
/// paths. `r.paid` and `r.bank_files` are not read: totals, exceptions and
/// changes are known before the first line.
pub fn write_summary_reports(reports_dir: &Path, r: &RunReport, set: ReportSet) -> Result<Vec<PathBuf>, ReportError> {
    let mut written = Vec::with_capacity(5);
    let mut out = |name: &str, f: &dyn Fn(&Path) -> Result<(), ReportError>| {
        let path = reports_dir.join(name);
        f(&path)?;
        written.push(path);
        Ok::<(), ReportError>(())
    };
    out("summary.csv", &|p| csvout::summary(p, r.totals))?;
    out("exceptions.csv", &|p| csvout::exceptions(p, r.exceptions))?;
    out("changes.csv", &|p| csvout::changes(p, r.changes))?;
    out("summary.xlsx", &|p| xlsx::summary(p, r, set))?;
    out("report.html", &|p| html::write(p, r, set))?;
    Ok(written)
}

/// A report written completely and synced beside its final name, waiting to be
/// renamed in: dropping it removes the temporary file.
pub(crate) struct Staged {
    tmp: tempfile::TempPath,
    path: PathBuf,
}

impl Staged {
    /// Renames the file in and makes the rename durable.
    fn persist(self) -> Result<(), ReportError> {
        let dir = self.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
        self.persist_no_sync()?;
        crate::fsutil::sync_dir(&dir).map_err(|e| ReportError::io(&dir, e))
    }

    /// Renames the file in; the caller syncs the folder.
    fn persist_no_sync(self) -> Result<PathBuf, ReportError> {
        let Staged { tmp, path } = self;
        tmp.persist(&path).map_err(|e| ReportError::io(&path, e.error))?;
        Ok(path)
    }
}

/// Writes a list of exceptions with the columns of `exceptions.csv` (SPEC §4).
pub fn write_exceptions_csv(path: &Path, list: &[crate::domain::Exception]) -> Result<(), ReportError> {
    csvout::exceptions(path, ExceptionSource::List(list))
}

/// Writes `failures.csv` (SPEC §6): masked IDs only, never an account number.
pub fn write_failures_csv(path: &Path, failures: &[Failure]) -> Result<(), ReportError> {
    csvout::failures(path, failures)
}

/// Defuses text a spreadsheet would otherwise run as a formula: a leading `'`
/// makes Excel show it as text. Only for CSV; xlsx cells are typed.
fn defuse(s: &str) -> Cow<'_, str> {
    // By byte: each of these is one byte in UTF-8, and a run defuses five cells a line.
    if s.as_bytes().first().is_some_and(|b| b"=+-@\t\r".contains(b)) {
        Cow::Owned(format!("'{s}"))
    } else {
        Cow::Borrowed(s)
    }
}

/// Masks any run of 11 or more digits (an `X` may end it, groups and
/// full-width digits count) inside free text, so a message, a name, a note or a
/// bank's reason that quotes an ID or account never leaks it into an output
/// meant for many eyes. The one mechanism every writer of such outputs applies
/// to its free-text fields (SPEC §12): [`crate::domain::mask_numbers`], which
/// the receipt readers use too; only bank files, `paid.csv`, `roster.xlsx` and
/// the ledger keep full numbers.
pub(crate) fn scrub(s: &str) -> Cow<'_, str> {
    crate::domain::mask_numbers(s)
}

/// An ID field that should already be masked; masks it if a caller forgot.
fn masked_id(s: &str) -> Cow<'_, str> {
    if s.is_empty() || s.contains('*') {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(mask_id(s))
    }
}

/// Yuan with at least two decimals. Paid amounts are whole fen; a held line keeps
/// the amount as written (e.g. `1.005`), so extra decimals are kept rather than
/// rounded: approved = paid + held must still add up to the digit.
fn yuan(d: Decimal) -> String {
    let mut d = d.normalize();
    if d.scale() < 2 {
        d.rescale(2);
    }
    d.to_string()
}

/// `2026年11月`, as titles print a period.
fn period_cn(p: Period) -> String {
    format!("{}年{}月", p.year, p.month)
}

/// Programs that appear in the totals (in reporting order).
fn programs_of(t: &RunTotals) -> Vec<Program> {
    // Any program a config defines (SPEC §9), in Program's reporting order.
    let all: std::collections::BTreeSet<Program> =
        t.programs.keys().copied().chain(t.places.keys().map(|k| k.program)).collect();
    all.into_iter().collect()
}

/// The Chinese meaning of each check code (SPEC §3), for the HTML report.
fn code_meaning(code: &str) -> &'static str {
    match code {
        "V01" => "必填项缺失",
        "V02" => "身份证号无效（长度、字符、出生日期或校验码）",
        "V03" => "银行账号无效（非数字、长度不符或被表格改成科学计数）",
        "V04" => "金额无效（非数字、不大于0、超过两位小数或超过上限）",
        "V05" => "姓名无效或含银行文件编码无法表示的字",
        "V06" => "本人领取但收款人与享受人姓名不一致",
        "W01" => "银行卡号未通过Luhn校验（照发，请核对）",
        "R01" => "同一项目名册中同一人重复出现",
        "R02" => "同一期同时享受低保和特困供养",
        "R03" => "在停发名单中",
        "R04" => "本期已发放或在途，不再重复发放",
        "R05" => "同一账号收取非同户、非机构多人资金",
        "R06" => "金额较上期变动超过设定比例（照发，请核对）",
        "R07" => "名册与审批笔数或金额不符，该项目整体不发放",
        "R08" => "本期已由省内其他办公室发放（跨县重复享受）",
        "A01" => "年龄不符合本项目的年龄条件",
        "A02" => "超过本项目每人每年发放上限",
        "A03" => "金额与本项目标准不符",
        "A04" => "补发的月份已经发放过",
        "P01" => "收款人类型不符合本项目规定",
        "P02" => "供养机构规定不符（应发机构账户或机构不在名单中）",
        "W03" => "在提示性比对名单中（照发，请核对）",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn defuses_formula_starts_only() {
        assert_eq!(defuse("=1+1"), "'=1+1");
        assert_eq!(defuse("+86"), "'+86");
        assert_eq!(defuse("-2"), "'-2");
        assert_eq!(defuse("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(defuse("\tx"), "'\tx");
        assert_eq!(defuse("张三=李四"), "张三=李四");
    }

    #[test]
    fn scrubs_long_digit_runs() {
        assert_eq!(scrub("号码 11010519491231002X 有误"), "号码 110105********002X 有误");
        assert_eq!(scrub("账号6222021234567890123已销户"), "账号***************0123已销户");
        assert_eq!(scrub("DB202611R0010000042"), "DB202611R0010000042");
        assert_eq!(scrub("张三11010519491231002"), "张三*************1002", "a short or cut ID too");
        assert_eq!(scrub("存折33001610000"), "存折*******0000");
        assert_eq!(scrub("2026-11-01 共1200笔 金额 1234567.89"), "2026-11-01 共1200笔 金额 1234567.89");
    }

    #[test]
    fn yuan_keeps_exact_decimals() {
        assert_eq!(yuan(dec!(396)), "396.00");
        assert_eq!(yuan(dec!(396.5)), "396.50");
        assert_eq!(yuan(dec!(1.005)), "1.005");
        assert_eq!(yuan(dec!(-5.00)), "-5.00");
    }
}
