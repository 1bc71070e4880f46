//! Turns the example rosters into the bytes clerks really hand over: an `.xlsx`
//! with a title row and text-typed ID/account cells (低保), a GBK `.csv` (五保),
//! a UTF-8 `.csv` with BOM and English headers (优抚), plain UTF-8 `.csv` (义务兵,
//! 移民), plus approvals, the stop list and the expected exception list.

use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, FormatAlign, Workbook};

use crate::domain::{Program, TextEncoding};

use super::rosters::{Line, Roster, Stop};
use super::ExampleError;

/// The bytes of one roster file.
pub(crate) fn roster_bytes(r: &Roster) -> Result<Vec<u8>, ExampleError> {
    match r.program {
        Program::Dibao => dibao_xlsx(r),
        Program::Wubao => {
            let text = wubao_csv(r)?;
            TextEncoding::Gbk.encode(&text).map_err(|c| ExampleError::Encoding { file: r.file(), ch: c })
        }
        Program::Youfu => Ok([b"\xEF\xBB\xBF".as_slice(), youfu_csv(r)?.as_bytes()].concat()),
        Program::Yiwubing => Ok(yiwubing_csv(r)?.into_bytes()),
        Program::Yimin => Ok(yimin_csv(r)?.into_bytes()),
        _ => Ok(gaoling_csv(r)?.into_bytes()),
    }
}

fn xlsx_err(e: rust_xlsxwriter::XlsxError) -> ExampleError {
    ExampleError::Build(e.to_string())
}

/// 城乡低保发放名册 as a county spreadsheet: title row, header row, ID and account
/// cells stored as text (so Excel never turns them into 6.22848E+18), amounts as
/// numbers with two decimals. Creation time is fixed so the bytes never change.
fn dibao_xlsx(r: &Roster) -> Result<Vec<u8>, ExampleError> {
    let mut wb = Workbook::new();
    let created = ExcelDateTime::from_ymd(2026, r.period.month as u8 - 1, 26)
        .and_then(|d| d.and_hms(9, 0, 0))
        .map_err(xlsx_err)?;
    let props = DocProperties::new()
        .set_title(title(r))
        .set_author("示例县民政局社会救助科")
        .set_company("示例县民政局")
        .set_creation_datetime(&created);
    wb.set_properties(&props);
    let ws = wb.add_worksheet();
    ws.set_name("发放名册").map_err(xlsx_err)?;
    let title_fmt = Format::new().set_bold().set_font_size(14).set_align(FormatAlign::Center);
    let head_fmt = Format::new().set_bold().set_align(FormatAlign::Center);
    let money = Format::new().set_num_format("0.00");
    ws.merge_range(0, 0, 0, 8, &title(r), &title_fmt).map_err(xlsx_err)?;
    let headers = ["乡镇", "村(社区)", "姓名", "身份证号", "银行账号", "开户行", "保障人数", "保障金额", "备注"];
    let widths = [10.0, 12.0, 10.0, 22.0, 24.0, 26.0, 10.0, 12.0, 20.0];
    for (c, (h, w)) in headers.iter().zip(widths).enumerate() {
        ws.write_string_with_format(1, c as u16, *h, &head_fmt).map_err(xlsx_err)?;
        ws.set_column_width(c as u16, w).map_err(xlsx_err)?;
    }
    for (i, l) in r.lines.iter().enumerate() {
        let row = (r.row(i) - 1) as u32;
        let texts = [(0, l.township), (1, l.village), (2, l.name.as_str()), (3, &l.id), (4, &l.account), (5, l.bank)];
        for (c, t) in texts {
            if !t.is_empty() {
                ws.write_string(row, c, t).map_err(xlsx_err)?;
            }
        }
        if let Some(n) = l.household {
            ws.write_number(row, 6, n).map_err(xlsx_err)?;
        }
        ws.write_number_with_format(row, 7, spreadsheet_number(l), &money).map_err(xlsx_err)?;
        if !l.note.is_empty() {
            ws.write_string(row, 8, &l.note).map_err(xlsx_err)?;
        }
    }
    wb.save_to_buffer().map_err(xlsx_err)
}

/// A numeric spreadsheet cell is an IEEE double by definition of the file format:
/// this is the one place money becomes a float, parsed from the exact two-decimal
/// text, which is what Excel itself stores for a typed `860.00`.
fn spreadsheet_number(l: &Line) -> f64 {
    l.amount.yuan_string().parse().unwrap_or(0.0)
}

fn title(r: &Roster) -> String {
    format!("示例县{}年{}月城乡低保发放名册", r.period.year, r.period.month)
}

fn csv_text(headers: &[&str], rows: Vec<Vec<String>>, crlf: bool) -> Result<String, ExampleError> {
    let term = if crlf { csv::Terminator::CRLF } else { csv::Terminator::Any(b'\n') };
    let mut w = csv::WriterBuilder::new().terminator(term).from_writer(Vec::new());
    let io = |e: csv::Error| ExampleError::Build(e.to_string());
    w.write_record(headers).map_err(io)?;
    for row in rows {
        w.write_record(&row).map_err(io)?;
    }
    let bytes = w.into_inner().map_err(|e| ExampleError::Build(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| ExampleError::Build(e.to_string()))
}

/// 特困人员供养金发放表, saved by Excel as "CSV (逗号分隔)": GBK and CRLF, with a 序号
/// column the program ignores.
fn wubao_csv(r: &Roster) -> Result<String, ExampleError> {
    let headers = [
        "序号",
        "乡镇",
        "村(社区)",
        "姓名",
        "身份证号",
        "类别",
        "收款人",
        "收款人类型",
        "银行账号",
        "开户行",
        "发放金额",
        "备注",
    ];
    let rows = r
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let seq = (i + 1).to_string();
            let t = [&seq, l.township, l.village, &l.name, &l.id, l.category, &l.payee_name, l.payee_type];
            let mut v: Vec<String> = t.iter().map(|s| s.to_string()).collect();
            v.extend([l.account.clone(), l.bank.to_string(), l.amount_text.clone(), l.note.clone()]);
            v
        })
        .collect();
    csv_text(&headers, rows, true)
}

/// 优抚 export from the veterans' system: English headers in its own order.
fn youfu_csv(r: &Roster) -> Result<String, ExampleError> {
    let headers = [
        "id_number",
        "name",
        "category",
        "amount",
        "account",
        "bank",
        "payee_name",
        "payee_type",
        "township",
        "village",
        "note",
    ];
    let rows = r
        .lines
        .iter()
        .map(|l| {
            [&l.id, &l.name, l.category, &l.amount_text, &l.account, l.bank, &l.payee_name, l.payee_type]
                .iter()
                .map(|s| s.to_string())
                .chain([l.township.to_string(), l.village.to_string(), l.note.clone()])
                .collect()
        })
        .collect();
    csv_text(&headers, rows, true)
}

fn yiwubing_csv(r: &Roster) -> Result<String, ExampleError> {
    let headers =
        ["乡镇", "村(社区)", "姓名", "身份证号", "收款人", "收款人类型", "银行账号", "开户银行", "补贴金额", "备注"];
    let rows = r
        .lines
        .iter()
        .map(|l| {
            [l.township, l.village, &l.name, &l.id, &l.payee_name, l.payee_type, &l.account, l.bank]
                .iter()
                .map(|s| s.to_string())
                .chain([l.amount_text.clone(), l.note.clone()])
                .collect()
        })
        .collect();
    csv_text(&headers, rows, false)
}

fn yimin_csv(r: &Roster) -> Result<String, ExampleError> {
    let headers = ["乡镇", "村(社区)", "姓名", "身份证号", "银行账号", "开户银行", "补贴金额", "备注"];
    let rows = r
        .lines
        .iter()
        .map(|l| {
            [l.township, l.village, &l.name, &l.id, &l.account, l.bank, &l.amount_text, &l.note]
                .iter()
                .map(|s| s.to_string())
                .collect()
        })
        .collect();
    csv_text(&headers, rows, false)
}

/// 高龄津贴: a plain UTF-8 CSV with the 备注 a clerk writes.
fn gaoling_csv(r: &Roster) -> Result<String, ExampleError> {
    let headers = ["乡镇", "村(社区)", "姓名", "身份证号", "银行账号", "开户银行", "补贴金额", "备注"];
    let rows = r
        .lines
        .iter()
        .map(|l| {
            [l.township, l.village, &l.name, &l.id, &l.account, l.bank, &l.amount_text, &l.note]
                .iter()
                .map(|s| s.to_string())
                .collect()
        })
        .collect();
    csv_text(&headers, rows, false)
}

/// The cremation check list (殡葬火化数据): `id_number,date,note`.
pub(crate) fn cremations_csv(list: &[Stop]) -> Result<String, ExampleError> {
    let rows = list.iter().map(|(id, on, place)| vec![id.clone(), on.to_string(), place.to_string()]).collect();
    csv_text(&["id_number", "date", "note"], rows, false)
}

/// `approvals.csv` of one period: count and total computed from the rosters as
/// SPEC §2 says (every data line; the exact sum of the amounts as written).
pub(crate) fn approvals_csv(rosters: &[&Roster]) -> Result<String, ExampleError> {
    let rows = rosters
        .iter()
        .enumerate()
        .map(|(k, r)| {
            let number = if r.period.month == 10 { 101 } else { 112 } + k;
            let approved_on = if r.period.month == 10 { "2026-09-25" } else { "2026-10-27" };
            vec![
                r.program.code().to_string(),
                r.lines.len().to_string(),
                r.total().yuan_string(),
                format!("示民审〔{}〕{number}号", r.period.year),
                "陈立新".to_string(),
                approved_on.to_string(),
            ]
        })
        .collect();
    csv_text(&["program", "count", "total", "reference", "approved_by", "approved_on"], rows, false)
}

pub(crate) fn stops_csv(stops: &[Stop]) -> Result<String, ExampleError> {
    let rows = stops.iter().map(|(id, reason, on)| vec![id.clone(), reason.to_string(), on.to_string()]).collect();
    csv_text(&["id_number", "reason", "effective"], rows, false)
}

pub(crate) fn expected_csv(expected: &[super::ExpectedHold]) -> Result<String, ExampleError> {
    let rows = expected
        .iter()
        .map(|e| {
            vec![
                e.period.to_string(),
                e.program.code().to_string(),
                e.file.clone(),
                e.row.to_string(),
                e.field.to_string(),
                e.code.to_string(),
            ]
        })
        .collect();
    csv_text(&["period", "program", "file", "row", "field", "code"], rows, false)
}
