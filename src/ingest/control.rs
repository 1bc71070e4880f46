//! Control files: approvals (审批), the stop list (停发名单) and corrections (更正).
//!
//! Why a bad line refuses the whole file: these files decide *whether and where*
//! money goes. A skipped approval line refuses a program later with a confusing
//! message; a skipped stop line pays a dead person; a skipped correction resends
//! to a closed account. Better to stop and say which line to fix.

use std::collections::HashMap;
use std::path::Path;

use chrono::NaiveDate;
use csv::StringRecord;
use rust_decimal::Decimal;

use crate::domain::{mask_account, mask_id, parse_amount, Account, Approval, IdNumber, Program};

use super::header::normalise;
use super::limits;
use super::text::{self, Records, Sniffed};
use super::IngestError;

/// Why a person is on the stop list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StopReason {
    /// 死亡
    Death,
    /// 服刑 (benefits stop while in prison)
    Prison,
    /// 注销/取消 (entitlement cancelled after review)
    Cancelled,
    /// 迁出 (moved out of the county)
    Moved,
}

impl StopReason {
    /// Parses the English code of SPEC §2 or the Chinese word a clerk writes.
    pub fn parse(s: &str) -> Option<StopReason> {
        match normalise(s).as_str() {
            "death" | "dead" | "死亡" | "去世" => Some(StopReason::Death),
            "prison" | "服刑" | "入狱" | "收监" => Some(StopReason::Prison),
            "cancelled" | "canceled" | "注销" | "取消" | "停保" => Some(StopReason::Cancelled),
            "moved" | "迁出" | "迁移" | "户籍迁出" => Some(StopReason::Moved),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            StopReason::Death => "death",
            StopReason::Prison => "prison",
            StopReason::Cancelled => "cancelled",
            StopReason::Moved => "moved",
        }
    }
}

/// One line of the stop list.
#[derive(Debug, Clone, PartialEq)]
pub struct Stop {
    /// Normalised: trimmed, half-width, upper-case `X` (and a valid ID number).
    pub id_number: String,
    pub reason: StopReason,
    /// The person is not paid for a period whose first day is on or after this.
    pub effective: NaiveDate,
    /// The line in stops.csv.
    pub row: u64,
    /// stops.csv `program` (SPEC §9): the one program stopped; `None` (empty): every program.
    pub program: Option<Program>,
}

/// One person on a check list (比对名单, SPEC §9): cremation data, the public
/// payroll, … as `id_number[,date][,note]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    /// Normalised, as [`Stop::id_number`].
    pub id_number: String,
    pub date: Option<NaiveDate>,
    pub note: String,
    pub row: u64,
}

/// One line of a corrections file: where a failed payment goes instead.
#[derive(Debug, Clone, PartialEq)]
pub struct Correction {
    /// The reference of the failed payment being corrected.
    pub end_to_end_id: String,
    /// The new account, digits only (validated).
    pub account: String,
    /// The new bank as written (may be empty).
    pub bank: String,
    /// The new account holder's name as written (empty: unchanged).
    pub payee_name: String,
    /// `payee_type` as written (`self`, `guardian`, … ; empty: see `reissue`).
    pub payee_type: String,
    /// Who checked that a beneficiary the bank reported deceased, or on the
    /// stop list, is alive and entitled (empty: nobody; such a line is held).
    pub verified_by: String,
    /// The line in the corrections file.
    pub row: u64,
}

/// Reads approvals.csv (`program,count,total,reference,approved_by,approved_on`).
/// One line per program; `total` is the exact decimal as written.
pub fn read_approvals(path: &Path, display: &str) -> Result<Vec<Approval>, IngestError> {
    let cols = Layout {
        what: crate::lang::pick("审批表", "approvals file"),
        required: &["program", "count", "total"],
        optional: &["reference", "approved_by", "approved_on"],
        max_lines: limits::APPROVAL_LINES,
    };
    let mut seen: HashMap<Program, u64> = HashMap::new();
    read_table(path, display, &cols, |line| {
        let program = Program::known(line.get("program")).map_err(|e: String| line.bad("program", e))?;
        if let Some(first) = seen.insert(program, line.row) {
            let why = crate::tr!(
                "{program} 审批了两次（第 {first} 行也有）：每个项目只留一行",
                "{program} is approved twice (also on row {first}): keep one line per program"
            );
            return Err(line.bad("program", why));
        }
        let count = parse_count(line.get("count")).ok_or_else(|| {
            let why = crate::tr!("'{}' 不是整数笔数", "'{}' is not a whole number of lines", line.get("count"));
            line.bad("count", why)
        })?;
        let total = parse_amount(line.get("total")).map_err(|e| line.bad("total", e.to_string()))?;
        if total < Decimal::ZERO {
            return Err(line.bad("total", crate::tr!("合计 {total} 是负数", "total {total} is negative")));
        }
        Ok(Approval {
            program,
            count,
            total,
            reference: line.get("reference").to_string(),
            approved_by: line.get("approved_by").to_string(),
            approved_on: line.get("approved_on").to_string(),
        })
    })
}

/// Reads the stop list (`id_number,reason,effective`).
pub fn read_stops(path: &Path, display: &str) -> Result<Vec<Stop>, IngestError> {
    let cols = Layout {
        what: crate::lang::pick("停发名单", "stop list"),
        required: &["id_number", "reason", "effective"],
        optional: &["program"],
        max_lines: limits::STOP_LINES,
    };
    read_table(path, display, &cols, |line| {
        let raw = line.get("id_number");
        let id = IdNumber::parse(raw)
            .map_err(|e| line.bad("id_number", crate::tr!("身份证号 {}：{e}", "ID number {}: {e}", mask_id(raw))))?;
        let reason = StopReason::parse(line.get("reason")).ok_or_else(|| {
            let why = crate::tr!(
                "停发原因 '{}' 不是 死亡、服刑、注销、迁出（death、prison、cancelled、moved）之一",
                "reason '{}' is not one of death, prison, cancelled, moved",
                line.get("reason")
            );
            line.bad("reason", why)
        })?;
        let effective = parse_date(line.get("effective")).ok_or_else(|| {
            let why = crate::tr!(
                "'{}' 不是 2026-11-01 这样的日期",
                "'{}' is not a date such as 2026-11-01",
                line.get("effective")
            );
            line.bad("effective", why)
        })?;
        let program = match line.get("program") {
            "" => None,
            p => Some(Program::from_clerk(p).map_err(|e| line.bad("program", e))?),
        };
        Ok(Stop { id_number: id.as_str().to_string(), reason, effective, row: line.row, program })
    })
}

/// One care institution (供养机构) of an `institutions` file (`name,account,bank`).
#[derive(Debug, Clone, PartialEq)]
pub struct Institution {
    pub name: String,
    /// Digits only (validated).
    pub account: String,
    pub bank: String,
}

/// Reads an institutions file (`name,account,bank`, SPEC §9): the accounts an
/// `institution` payee may be paid to. An account that is not one refuses it.
pub fn read_institutions(path: &Path, display: &str) -> Result<Vec<Institution>, IngestError> {
    let cols = Layout {
        what: "institutions file",
        required: &["name", "account"],
        optional: &["bank"],
        max_lines: limits::STOP_LINES,
    };
    read_table(path, display, &cols, |line| {
        let raw = line.get("account");
        let account =
            Account::parse(raw).map_err(|e| line.bad("account", format!("account {}: {e}", mask_account(raw))))?;
        Ok(Institution {
            name: line.get("name").to_string(),
            account: account.as_str().to_string(),
            bank: line.get("bank").to_string(),
        })
    })
}

/// Reads a check list (`id_number[,date][,note]`, SPEC §9): with a header row
/// (`id_number`/`身份证号`, `date`/`日期`, `note`/`备注`) or without one (the
/// first cell is then an ID number). A line whose ID number is not one refuses
/// the list: a skipped line would pay someone the list names.
pub fn read_checklist(path: &Path, display: &str) -> Result<Vec<Listed>, IngestError> {
    let source = match text::sniff(path, display, "check list")? {
        Sniffed::Text(source) => source,
        Sniffed::Xlsx | Sniffed::Xls => {
            let reason = "is an Excel workbook, but a check list must be a CSV file: save it as CSV with the \
                          columns id_number,date,note"
                .to_string();
            return Err(IngestError::Refused { file: display.to_string(), reason });
        }
    };
    let mut records = Records::new(source, display);
    let mut rec = StringRecord::new();
    let mut columns: Option<[Option<usize>; 3]> = None;
    let mut out = Vec::new();
    let bad = |row: u64, field: &str, reason: String| IngestError::BadLine {
        file: display.to_string(),
        row,
        field: field.to_string(),
        reason,
    };
    while let Some(row) = records.next(&mut rec)? {
        if rec.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        if out.len() as u64 >= limits::STOP_LINES {
            return Err(IngestError::TooLarge {
                file: display.to_string(),
                place: format!("line {row}"),
                what: format!("more than {} lines", limits::STOP_LINES),
                limit: format!("{} lines a check list may have", limits::STOP_LINES),
            });
        }
        let cols = match columns {
            Some(c) => c,
            None => {
                let first = rec.get(0).unwrap_or("").trim();
                if IdNumber::parse(first).is_ok() {
                    *columns.insert([Some(0), Some(1), Some(2)])
                } else {
                    let names: Vec<String> = rec.iter().map(normalise).collect();
                    let find = |alts: &[&str]| names.iter().position(|n| alts.contains(&n.as_str()));
                    let id = find(&["id_number", "身份证号", "身份证号码", "公民身份号码"]);
                    if id.is_none() {
                        return Err(bad(
                            row,
                            "id_number",
                            "the first line is neither a header with id_number \
                                   (身份证号) nor an ID number"
                                .to_string(),
                        ));
                    }
                    let date = find(&["date", "日期", "火化日期", "死亡日期"]);
                    columns = Some([id, date, find(&["note", "备注"])]);
                    continue;
                }
            }
        };
        let cell = |i: Option<usize>| i.and_then(|i| rec.get(i)).map_or("", str::trim);
        let raw = cell(cols[0]);
        let id = IdNumber::parse(raw).map_err(|e| bad(row, "id_number", format!("ID number {}: {e}", mask_id(raw))))?;
        let date = match cell(cols[1]) {
            "" => None,
            d => {
                Some(parse_date(d).ok_or_else(|| bad(row, "date", format!("'{d}' is not a date such as 2026-11-01")))?)
            }
        };
        out.push(Listed { id_number: id.as_str().to_string(), date, note: cell(cols[2]).to_string(), row });
    }
    Ok(out)
}

/// Reads a corrections file (`end_to_end_id,account,bank,payee_name`, and
/// optionally `payee_type`, `verified_by`); an account that is not one refuses
/// the file.
pub fn read_corrections(path: &Path, display: &str) -> Result<Vec<Correction>, IngestError> {
    let cols = Layout {
        what: crate::lang::pick("更正表", "corrections file"),
        required: &["end_to_end_id", "account"],
        optional: &["bank", "payee_name", "payee_type", "verified_by"],
        max_lines: limits::CORRECTION_LINES,
    };
    let mut seen: HashMap<String, u64> = HashMap::new();
    read_table(path, display, &cols, |line| {
        let e2e = line.get("end_to_end_id");
        let e2e_ok = !e2e.is_empty() && e2e.len() <= 35 && e2e.chars().all(|c| c.is_ascii_alphanumeric());
        if !e2e_ok {
            let why = crate::tr!(
                "'{e2e}' 不是交易编号（字母和数字，最多 35 位）",
                "'{e2e}' is not a payment reference (letters and digits, at most 35)"
            );
            return Err(line.bad("end_to_end_id", why));
        }
        if let Some(first) = seen.insert(e2e.to_string(), line.row) {
            let why =
                crate::tr!("{e2e} 更正了两次（第 {first} 行也有）", "{e2e} is corrected twice (also on row {first})");
            return Err(line.bad("end_to_end_id", why));
        }
        let raw = line.get("account");
        if raw.is_empty() {
            let why = crate::tr!("没有账号（文件被截断了？）", "the account is missing (is the file cut short?)");
            return Err(line.bad("account", why));
        }
        let account = Account::parse(raw)
            .map_err(|e| line.bad("account", crate::tr!("账号 {}：{e}", "account {}: {e}", mask_account(raw))))?;
        Ok(Correction {
            end_to_end_id: e2e.to_string(),
            account: account.as_str().to_string(),
            bank: line.get("bank").to_string(),
            payee_name: line.get("payee_name").to_string(),
            payee_type: line.get("payee_type").to_string(),
            verified_by: line.get("verified_by").to_string(),
            row: line.row,
        })
    })
}

/// The columns a control file has.
struct Layout {
    what: &'static str,
    required: &'static [&'static str],
    optional: &'static [&'static str],
    /// The most data lines the file may have (each is held in memory).
    max_lines: u64,
}

/// One data line of a control file, its cells looked up by column name.
struct Line<'a> {
    display: &'a str,
    row: u64,
    rec: &'a StringRecord,
    index: &'a [(&'static str, Option<usize>)],
}

impl Line<'_> {
    /// The trimmed cell of `name` (empty when the column or cell is absent).
    fn get(&self, name: &str) -> &str {
        self.index
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, i)| i.and_then(|i| self.rec.get(i)))
            .map_or("", str::trim)
    }

    fn bad(&self, field: &str, reason: String) -> IngestError {
        IngestError::BadLine { file: self.display.to_string(), row: self.row, field: field.to_string(), reason }
    }
}

/// Reads a CSV control file: the first non-blank line is the header (names in any
/// order, extra columns ignored), blank lines are skipped, every other line is
/// parsed by `parse` or refuses the file.
fn read_table<T>(
    path: &Path,
    display: &str,
    layout: &Layout,
    mut parse: impl FnMut(&Line) -> Result<T, IngestError>,
) -> Result<Vec<T>, IngestError> {
    let source = match text::sniff(path, display, layout.what)? {
        Sniffed::Text(source) => source,
        Sniffed::Xlsx | Sniffed::Xls => {
            let reason = crate::tr!(
                "这是 Excel 工作簿，但{}必须是 CSV 文件：请另存为 CSV，列为 {}",
                "is an Excel workbook, but the {} must be a CSV file: save it as CSV with the columns {}",
                layout.what,
                all_columns(layout)
            );
            return Err(IngestError::Refused { file: display.to_string(), reason });
        }
    };
    let mut records = Records::new(source, display);
    let mut rec = StringRecord::new();
    let mut index = None;
    let mut out = Vec::new();
    let mut lines = 0u64;
    while let Some(row) = records.next(&mut rec)? {
        if rec.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        lines += 1;
        let too_large = |what: String, limit: String| IngestError::TooLarge {
            file: display.to_string(),
            place: format!("line {row}"),
            what,
            limit,
        };
        if rec.as_slice().len() > limits::CONTROL_LINE_BYTES {
            let what = format!("a line of {} bytes", rec.as_slice().len());
            return Err(too_large(
                what,
                format!("{} bytes a line of a {} may have", limits::CONTROL_LINE_BYTES, layout.what),
            ));
        }
        if lines > layout.max_lines {
            let what = format!("more than {} lines", layout.max_lines);
            return Err(too_large(what, format!("{} lines a {} may have", layout.max_lines, layout.what)));
        }
        match &index {
            None => index = Some(header_index(&rec, row, display, layout)?),
            Some(index) => out.push(parse(&Line { display, row, rec: &rec, index })?),
        }
    }
    if index.is_none() {
        return Err(IngestError::Empty { file: display.to_string(), what: layout.what });
    }
    Ok(out)
}

/// Maps each known column name to its position in the header row.
fn header_index(
    rec: &StringRecord,
    row: u64,
    display: &str,
    layout: &Layout,
) -> Result<Vec<(&'static str, Option<usize>)>, IngestError> {
    let names: Vec<String> = rec.iter().map(normalise).collect();
    let mut index = Vec::new();
    for name in layout.required.iter().chain(layout.optional) {
        let mut hits = names.iter().enumerate().filter(|(_, n)| n == name).map(|(i, _)| i);
        let first = hits.next();
        if let (Some(a), Some(b)) = (first, hits.next()) {
            return Err(IngestError::DuplicateColumn {
                file: display.to_string(),
                row,
                field: name.to_string(),
                first: super::column_letter(a),
                second: super::column_letter(b),
            });
        }
        index.push((*name, first));
    }
    let missing: Vec<&str> =
        layout.required.iter().copied().filter(|n| index.iter().any(|(m, i)| m == n && i.is_none())).collect();
    if !missing.is_empty() {
        return Err(IngestError::MissingColumns {
            file: display.to_string(),
            row,
            missing: missing.join(", "),
            accepted: crate::tr!("第一行写列名：{}", "the first line names the columns {}", all_columns(layout)),
        });
    }
    Ok(index)
}

fn all_columns(layout: &Layout) -> String {
    layout.required.iter().chain(layout.optional).copied().collect::<Vec<_>>().join(",")
}

/// A count as written: digits (full-width allowed), nothing else.
fn parse_count(s: &str) -> Option<u64> {
    let half = normalise(s);
    if half.is_empty() || !half.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    half.parse().ok()
}

/// A date as clerks write it: 2026-11-01, 2026/11/01, 2026.11.01, 20261101, 2026年11月1日.
fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = normalise(s);
    let s = s.strip_suffix('日').unwrap_or(&s).replace(['年', '月', '/', '.'], "-");
    NaiveDate::parse_from_str(&s, "%Y-%m-%d").or_else(|_| NaiveDate::parse_from_str(&s, "%Y%m%d")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_reasons() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        for s in ["2026-11-01", "2026/11/1", "2026.11.01", "20261101", "2026年11月1日", " ２０２６-11-01 "] {
            assert_eq!(parse_date(s), Some(d), "{s}");
        }
        assert_eq!(parse_date("2026-13-01"), None);
        assert_eq!(parse_date("soon"), None);
        assert_eq!(StopReason::parse(" Death "), Some(StopReason::Death));
        assert_eq!(StopReason::parse("迁出"), Some(StopReason::Moved));
        assert_eq!(StopReason::parse("holiday"), None);
    }

    #[test]
    fn counts() {
        assert_eq!(parse_count("120"), Some(120));
        assert_eq!(parse_count("１２０"), Some(120));
        assert_eq!(parse_count("1.5"), None);
        assert_eq!(parse_count("-1"), None);
        assert_eq!(parse_count(""), None);
    }
}
