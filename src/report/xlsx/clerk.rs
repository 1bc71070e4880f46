//! The lists a clerk opens as workbooks (SPEC §13): `exceptions.xlsx`,
//! `changes.xlsx` and `returns/failures.xlsx`, beside the CSVs whose column
//! names stay the contract's. Here every header and value is Chinese: the
//! program by its name, the severity, the change and the payment status in
//! words (暂缓, 金额变化, 失败 …), codes with their meaning. IDs are masked and
//! free text scrubbed, as in the CSVs: these lists go round the office.
//!
//! Written row by row ([`super::table`]), split below Excel's row limit: a
//! second run of a big period lists every line it skipped, and that must not
//! sit in memory.

use std::borrow::Cow;
use std::path::Path;

use super::table::{Table, TableWriter, Value};
use super::{period_cn, ROWS_PER_SHEET};
use crate::domain::{Change, Code, Exception, Failure, Field, Period};
use crate::report::{change_cn, code_meaning, masked_id, scrub, severity_cn, status_cn, ExceptionSource, ReportError};

/// Writes one table: title, sub-title, header, then the rows `rows` gives.
fn write_list(
    path: &Path,
    t: &Table,
    rows: &mut dyn FnMut(&mut TableWriter<'_>) -> Result<(), ReportError>,
) -> Result<(), ReportError> {
    let mut w = TableWriter::new(path, t, ROWS_PER_SHEET)?;
    rows(&mut w)?;
    w.finish()?.persist()
}

fn text(s: &str) -> Value<'_> {
    Value::Text(Cow::Borrowed(s))
}

fn open(s: &str) -> Value<'_> {
    Value::Text(scrub(s))
}

/// The roster column a field is, as its header reads (`金额`).
fn field_cn(code: &str) -> &'static str {
    Field::ALL.into_iter().find(|f| f.code() == code).map_or("", |f| f.headers()[0])
}

/// `exceptions.xlsx`: the held and flagged lines, in Chinese.
///
/// Lines already paid in the period (R04) are left out and only counted, in
/// the line above the table: `check` of a period already paid holds every line
/// as R04, and a million rows that all say so help no clerk (and took most of
/// the command's time). exceptions.csv lists them one by one.
pub(in crate::report) fn exceptions(
    path: &Path,
    office: &str,
    period: Period,
    list: ExceptionSource,
) -> Result<(), ReportError> {
    let t = Table {
        title: format!("{office} {} 发放异常清单", period_cn(period)),
        left: "行号为名册中的行号；暂缓的行未发放，改正后可再次运行补发".into(),
        right: already_paid_note(list.counts().by_code.get(&Code::R04).copied().unwrap_or(0)),
        head: &["序号", "项目", "行号", "栏目", "代码", "处理", "问题类别", "说明", "姓名", "身份证号"],
        widths: &[7.0, 20.0, 7.0, 10.0, 7.0, 12.0, 26.0, 60.0, 10.0, 22.0],
    };
    write_list(path, &t, &mut |w| {
        let mut n = 0u64;
        let mut failed = None;
        let read = list.for_each_but(Some(Code::R04), &mut |e: &Exception| {
            n += 1;
            let row = if e.row == 0 { Value::Text("".into()) } else { Value::Count(e.row) };
            let cells = [
                Value::Count(n),
                text(e.program.chinese_name()),
                row,
                text(field_cn(e.field)),
                text(e.code.as_str()),
                text(severity_cn(e.code.severity())),
                text(code_meaning(e.code.as_str())),
                open(&e.message),
                open(&e.name),
                Value::Text(masked_id(&e.id_number_masked)),
            ];
            w.put(&cells).map_err(|err| {
                failed = Some(err);
                std::io::Error::other("writing exceptions.xlsx failed")
            })
        });
        if let Some(err) = failed {
            return Err(err);
        }
        read.map_err(|e| ReportError::io(path, e))
    })
}

/// What exceptions.xlsx says of the R04 lines it leaves out: nothing when none.
/// In words, not by file name: the clerk's workbooks carry no English
/// (exceptions.csv is the text list of the same name beside it).
fn already_paid_note(r04: u64) -> String {
    if r04 == 0 {
        return String::new();
    }
    format!("另有 {r04} 行本期已发放（R04），不再发放，本表不列；逐行明细见同一文件夹中同名的文本清单")
}

/// `changes.xlsx`: who is new, who dropped, whose amount changed.
pub(in crate::report) fn changes(
    path: &Path,
    office: &str,
    period: Period,
    list: &[Change],
) -> Result<(), ReportError> {
    let t = Table {
        title: format!("{office} {} 与上期相比变动清单", period_cn(period)),
        left: "上期为上一个已发放的月份".into(),
        right: String::new(),
        head: &["序号", "项目", "姓名", "身份证号", "变动", "上期金额", "本期金额"],
        widths: &[7.0, 22.0, 12.0, 22.0, 14.0, 14.0, 14.0],
    };
    write_list(path, &t, &mut |w| {
        for (i, c) in list.iter().enumerate() {
            w.put(&[
                Value::Count(i as u64 + 1),
                text(c.program.chinese_name()),
                open(&c.name),
                Value::Text(masked_id(&c.id_number_masked)),
                text(change_cn(c.kind)),
                Value::Money(c.previous_amount),
                Value::Money(c.amount),
            ])?;
        }
        Ok(())
    })
}

/// `returns/failures.xlsx`: the failed and returned payments and what to do.
pub(in crate::report) fn failures(
    path: &Path,
    office: &str,
    period: Period,
    list: &[Failure],
) -> Result<(), ReportError> {
    let t = Table {
        title: format!("{office} {} 银行回盘失败及退票清单", period_cn(period)),
        left: "核实并更正账号后，填写更正清单办理更正发放".into(),
        right: String::new(),
        head: &[
            "序号",
            "项目",
            "流水号",
            "乡镇",
            "村(社区)",
            "姓名",
            "身份证号",
            "金额",
            "状态",
            "原因代码",
            "银行说明",
            "处理办法",
        ],
        widths: &[7.0, 20.0, 24.0, 12.0, 14.0, 10.0, 22.0, 12.0, 10.0, 10.0, 30.0, 24.0],
    };
    write_list(path, &t, &mut |w| {
        for (i, f) in list.iter().enumerate() {
            w.put(&[
                Value::Count(i as u64 + 1),
                text(f.program.chinese_name()),
                open(&f.end_to_end_id),
                open(&f.township),
                open(&f.village),
                open(&f.name),
                Value::Text(masked_id(&f.id_number_masked)),
                Value::Money(Some(f.amount)),
                text(status_cn(f.status)),
                open(&f.reason_code),
                open(&f.reason_text),
                open(&f.action),
            ])?;
        }
        Ok(())
    })
}
