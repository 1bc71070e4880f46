//! The workbooks: 汇总表 (`summary.xlsx`, ready to print and sign), 发放名册
//! (`roster.xlsx`) and 公示 (`notice.xlsx`).
//!
//! Cells are typed: amounts and counts are numbers (`#,##0.00` / `#,##0`), every
//! text — names, ID and account numbers included — is a string cell written with
//! `write_string`, so Excel neither turns an 18-digit ID into `1.1E+17` nor runs
//! a name that starts with `=` as a formula.
//!
//! The one float in the program lives here: an xlsx number cell *is* an IEEE
//! double. Amounts up to a trillion yuan with two decimals convert exactly as
//! displayed; sums are computed in exact decimals before conversion, and the 大写
//! text is built from the exact amount.
//!
//! The roster and notice can hold a million lines, so their sheets use the
//! writer's constant-memory mode (rows streamed to a temporary file in the
//! reports folder) and split at Excel's row limit.

use std::collections::BTreeMap;
use std::io::{self, Seek};
use std::path::Path;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use rust_xlsxwriter::{Color, Format, FormatAlign, FormatBorder, Workbook, Worksheet, XlsxError};

use super::{amount_in_words, period_cn, programs_of, ReportError, ReportSet, RunReport};
use crate::domain::{Fen, PayeeType, PaymentLine, Program};
use crate::fsutil::{create_private_dir, write_atomic_with};
use crate::totals::{PlaceTotals, ProgramTotals, Tally};

/// Data rows per sheet: below Excel's 1,048,576 with room for title, header and total.
const ROWS_PER_SHEET: usize = 1_000_000;
/// `paper_size` code of A4 in the xlsx page setup.
const A4: u8 = 9;

/// The cell formats every workbook uses.
struct Styles {
    title: Format,
    sub: Format,
    sub_right: Format,
    head: Format,
    text: Format,
    count: Format,
    money: Format,
    total_text: Format,
    total_count: Format,
    total_money: Format,
    words: Format,
    sign: Format,
}

impl Styles {
    fn new() -> Styles {
        let cell = Format::new().set_border(FormatBorder::Thin).set_align(FormatAlign::VerticalCenter);
        let bold = cell.clone().set_bold();
        Styles {
            title: Format::new().set_bold().set_font_size(16).set_align(FormatAlign::Center),
            sub: Format::new(),
            sub_right: Format::new().set_align(FormatAlign::Right),
            head: bold
                .clone()
                .set_align(FormatAlign::Center)
                .set_text_wrap()
                .set_background_color(Color::RGB(0xD9D9D9)),
            text: cell.clone(),
            count: cell.clone().set_num_format("#,##0"),
            money: cell.clone().set_num_format("#,##0.00"),
            total_text: bold.clone(),
            total_count: bold.clone().set_num_format("#,##0"),
            total_money: bold.clone().set_num_format("#,##0.00"),
            words: bold.clone().set_align(FormatAlign::Left),
            sign: cell.set_align(FormatAlign::Left).set_align(FormatAlign::Top),
        }
    }
}

fn xerr(path: &Path) -> impl Fn(XlsxError) -> ReportError + '_ {
    move |e| ReportError::Xlsx { path: path.to_path_buf(), message: e.to_string() }
}

fn num(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(0.0)
}

/// Page setup of a printed list: A4 landscape, one page wide, header row repeated.
fn page_setup(ws: &mut Worksheet, header_row: u32, widths: &[f64]) -> Result<(), XlsxError> {
    ws.set_paper_size(A4).set_landscape().set_print_fit_to_pages(1, 0).set_print_center_horizontally(true);
    ws.set_repeat_rows(header_row, header_row)?;
    for (c, w) in widths.iter().enumerate() {
        ws.set_column_width(c as u16, *w)?;
    }
    Ok(())
}

/// Title and sub-title rows (0 and 1) and the header row (2).
fn heading(
    ws: &mut Worksheet,
    s: &Styles,
    title: &str,
    left: &str,
    right: &str,
    head: &[&str],
) -> Result<(), XlsxError> {
    let last = (head.len() - 1) as u16;
    ws.set_row_height(0, 30)?;
    ws.merge_range(0, 0, 0, last, title, &s.title)?;
    let mid = last / 2;
    ws.merge_range(1, 0, 1, mid, left, &s.sub)?;
    ws.merge_range(1, mid + 1, 1, last, right, &s.sub_right)?;
    for (c, h) in head.iter().enumerate() {
        ws.write_string_with_format(2, c as u16, *h, &s.head)?;
    }
    Ok(())
}

/// The 大写 line and the signature boxes (制表人 / 审核人 / 负责人 / 日期) under a table.
fn sign_off(
    ws: &mut Worksheet,
    s: &Styles,
    row: u32,
    last: u16,
    label: &str,
    amount: Decimal,
) -> Result<(), XlsxError> {
    let words = match Fen::from_yuan(amount) {
        Some(f) => format!("{label}（大写）：人民币{}", amount_in_words(f)),
        None => format!("{label}：{amount}（含分以下金额，不能大写，请核对）"),
    };
    ws.set_row_height(row, 24)?;
    ws.merge_range(row, 0, row, last, &words, &s.words)?;
    let boxes = ["制表人：", "审核人：", "负责人：", "日期：    年    月    日"];
    let n = last + 1;
    let row = row + 2;
    ws.set_row_height(row, 42)?;
    for (i, b) in boxes.iter().enumerate() {
        let i = i as u16;
        let (c0, c1) = (i * n / 4, ((i + 1) * n / 4).max(i * n / 4 + 1) - 1);
        if c0 == c1 {
            ws.write_string_with_format(row, c0, *b, &s.sign)?;
        } else {
            ws.merge_range(row, c0, row, c1, b, &s.sign)?;
        }
    }
    Ok(())
}

/// Writes the workbook to a temporary file beside `path`, then copies it in
/// atomically (the writer needs an owned, sendable file; the atomic writer hands
/// out a borrowed stream).
fn save(path: &Path, wb: &mut Workbook) -> Result<(), ReportError> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let io_err = |e: io::Error| ReportError::io(path, e);
    create_private_dir(dir).map_err(io_err)?;
    let mut tmp = tempfile::Builder::new().prefix(".tmp-xlsx-").tempfile_in(dir).map_err(io_err)?;
    wb.save_to_writer(tmp.as_file_mut()).map_err(xerr(path))?;
    let file = tmp.as_file_mut();
    file.rewind().map_err(io_err)?;
    write_atomic_with(path, |w| io::copy(file, w).map(drop)).map_err(io_err)
}

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

fn title_prefix(r: &RunReport) -> String {
    format!("{} {}", r.office_name, period_cn(r.period))
}

// ---------------------------------------------------------------- 汇总表

pub(super) fn summary(path: &Path, r: &RunReport, set: ReportSet) -> Result<(), ReportError> {
    let mut wb = Workbook::new();
    let s = Styles::new();
    let tag = if set == ReportSet::Check { "（试算，未发放）" } else { "" };
    grand_sheet(wb.add_worksheet(), &s, r, tag).map_err(xerr(path))?;
    for p in programs_of(r.totals) {
        program_sheet(wb.add_worksheet(), &s, r, p, tag).map_err(xerr(path))?;
    }
    save(path, &mut wb)
}

fn grand_sheet(ws: &mut Worksheet, s: &Styles, r: &RunReport, tag: &str) -> Result<(), XlsxError> {
    ws.set_name("总表")?;
    let head = [
        "序号",
        "项目",
        "核定笔数",
        "核定金额",
        "本次发放笔数",
        "本次发放金额",
        "暂缓笔数",
        "暂缓金额",
        "已发不重发笔数",
        "已发不重发金额",
        "备注",
    ];
    let title = format!("{} 社会救助资金发放汇总表{tag}", title_prefix(r));
    let left = format!("制表单位：{}", r.office_name);
    let right = format!("单位：元　生成时间：{}", r.generated_at);
    heading(ws, s, &title, &left, &right, &head)?;
    page_setup(ws, 2, &[6.0, 28.0, 10.0, 16.0, 12.0, 16.0, 10.0, 14.0, 14.0, 16.0, 24.0])?;
    let mut row = 3u32;
    let mut sum = ProgramTotals::default();
    for (i, p) in programs_of(r.totals).into_iter().enumerate() {
        let t = r.totals.programs.get(&p).cloned().unwrap_or_default();
        ws.write_number_with_format(row, 0, (i + 1) as f64, &s.count)?;
        ws.write_string_with_format(row, 1, p.chinese_name(), &s.text)?;
        let note = if t.refused { "与审批不符，整体未发放" } else { "" };
        tallies(ws, s, row, 2, &[t.approved, t.paid, t.held, t.skipped], false)?;
        ws.write_string_with_format(row, 10, note, &s.text)?;
        for (acc, x) in [
            (&mut sum.approved, t.approved),
            (&mut sum.paid, t.paid),
            (&mut sum.held, t.held),
            (&mut sum.skipped, t.skipped),
        ] {
            acc.lines += x.lines;
            acc.amount += x.amount;
        }
        row += 1;
    }
    ws.merge_range(row, 0, row, 1, "合计", &s.total_text)?;
    tallies(ws, s, row, 2, &[sum.approved, sum.paid, sum.held, sum.skipped], true)?;
    ws.write_string_with_format(row, 10, "", &s.total_text)?;
    sign_off(ws, s, row + 1, 10, "本次发放金额合计", sum.paid.amount)
}

/// Lines and amount of each tally, side by side from column `col`.
fn tallies(ws: &mut Worksheet, s: &Styles, row: u32, col: u16, t: &[Tally], total: bool) -> Result<(), XlsxError> {
    let (cf, mf) = if total { (&s.total_count, &s.total_money) } else { (&s.count, &s.money) };
    for (i, t) in t.iter().enumerate() {
        let c = col + 2 * i as u16;
        ws.write_number_with_format(row, c, t.lines as f64, cf)?;
        ws.write_number_with_format(row, c + 1, num(t.amount), mf)?;
    }
    Ok(())
}

fn program_sheet(ws: &mut Worksheet, s: &Styles, r: &RunReport, p: Program, tag: &str) -> Result<(), XlsxError> {
    ws.set_name(p.chinese_name())?;
    let head = ["乡镇", "村(社区)", "户数", "人数", "发放笔数", "发放金额", "暂缓笔数", "暂缓金额"];
    let title = format!("{} {}发放汇总表{tag}", title_prefix(r), p.chinese_name());
    let left = format!("制表单位：{}", r.office_name);
    let right = format!("单位：元　生成时间：{}", r.generated_at);
    heading(ws, s, &title, &left, &right, &head)?;
    page_setup(ws, 2, &[18.0, 22.0, 10.0, 10.0, 12.0, 16.0, 10.0, 14.0])?;
    let mut towns: BTreeMap<&str, Vec<(&str, &PlaceTotals)>> = BTreeMap::new();
    for (k, v) in r.totals.places.iter().filter(|(k, _)| k.program == p) {
        towns.entry(k.township.as_str()).or_default().push((k.village.as_str(), v));
    }
    let mut row = 3u32;
    let mut total = PlaceTotals::default();
    for (town, villages) in &towns {
        let mut sub = PlaceTotals::default();
        for (village, v) in villages {
            place_row(ws, s, row, town, village, v, false)?;
            add_place(&mut sub, v);
            row += 1;
        }
        place_row(ws, s, row, town, "小计", &sub, true)?;
        add_place(&mut total, &sub);
        row += 1;
    }
    place_row(ws, s, row, "合计", "", &total, true)?;
    sign_off(ws, s, row + 1, 7, "发放金额合计", total.paid.amount)
}

fn add_place(acc: &mut PlaceTotals, v: &PlaceTotals) {
    acc.households += v.households;
    acc.people += v.people;
    acc.paid.lines += v.paid.lines;
    acc.paid.amount += v.paid.amount;
    acc.held.lines += v.held.lines;
    acc.held.amount += v.held.amount;
}

fn place_row(
    ws: &mut Worksheet,
    s: &Styles,
    row: u32,
    a: &str,
    b: &str,
    v: &PlaceTotals,
    total: bool,
) -> Result<(), XlsxError> {
    let (tf, cf) = if total { (&s.total_text, &s.total_count) } else { (&s.text, &s.count) };
    ws.write_string_with_format(row, 0, a, tf)?;
    ws.write_string_with_format(row, 1, b, tf)?;
    ws.write_number_with_format(row, 2, v.households as f64, cf)?;
    ws.write_number_with_format(row, 3, v.people as f64, cf)?;
    tallies(ws, s, row, 4, &[v.paid, v.held], total)
}

// ---------------------------------------------------------------- 发放名册 and 公示

/// One printed list: what its title says and which columns it has.
struct ListKind {
    title: &'static str,
    head: &'static [&'static str],
    widths: &'static [f64],
    /// Column of the amount.
    amount_col: u16,
    /// Text cells of a line, in column order after 序号 (amount excluded).
    cells: fn(&PaymentLine) -> Vec<String>,
    footer: fn(&RunReport) -> String,
}

const ROSTER: ListKind = ListKind {
    title: "发放名册",
    head: &["序号", "乡镇", "村(社区)", "姓名", "身份证号", "银行账号", "金额", "备注"],
    widths: &[8.0, 16.0, 18.0, 12.0, 22.0, 26.0, 14.0, 30.0],
    amount_col: 6,
    cells: |l| {
        vec![
            l.township.clone(),
            l.village.clone(),
            l.name.clone(),
            l.id_number.as_str().to_string(),
            l.account.as_str().to_string(),
            roster_note(l),
        ]
    },
    footer: |_| String::new(),
};

const NOTICE: ListKind = ListKind {
    title: "发放公示",
    head: &["序号", "姓名", "身份证号", "乡镇", "村(社区)", "金额"],
    widths: &[8.0, 14.0, 22.0, 18.0, 20.0, 14.0],
    amount_col: 5,
    cells: |l| vec![l.name.clone(), l.id_number.masked(), l.township.clone(), l.village.clone()],
    footer: |r| format!("公示期内如有异议，请向{}反映。", r.office_name),
};

/// 备注 of the roster: the clerk's note, and who receives when it is not the
/// beneficiary (so the signer sees a guardian or institution at a glance).
fn roster_note(l: &PaymentLine) -> String {
    let who = match l.payee_type {
        PayeeType::SelfPaid if l.payee_name.is_empty() || l.payee_name == l.name => None,
        PayeeType::SelfPaid => Some("本人"),
        PayeeType::Guardian => Some("监护人"),
        PayeeType::Caregiver => Some("照料人"),
        PayeeType::Institution => Some("供养机构"),
    };
    match (who, l.note.trim()) {
        (None, note) => note.to_string(),
        (Some(w), "") => format!("收款人：{}（{w}）", l.payee_name),
        (Some(w), note) => format!("收款人：{}（{w}）；{note}", l.payee_name),
    }
}

pub(super) fn roster(path: &Path, r: &RunReport) -> Result<(), ReportError> {
    list_workbook(path, r, &ROSTER)
}

pub(super) fn notice(path: &Path, r: &RunReport) -> Result<(), ReportError> {
    list_workbook(path, r, &NOTICE)
}

fn list_workbook(path: &Path, r: &RunReport, kind: &ListKind) -> Result<(), ReportError> {
    let mut wb = streaming_workbook(path)?;
    let s = Styles::new();
    let mut any = false;
    for p in Program::ALL {
        let lines: Vec<&PaymentLine> = r.paid.iter().filter(|l| l.program == p).collect();
        let chunks: Vec<&[&PaymentLine]> = lines.chunks(ROWS_PER_SHEET).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let name = if chunks.len() > 1 {
                format!("{}({})", p.chinese_name(), i + 1)
            } else {
                p.chinese_name().to_string()
            };
            let ws = wb.add_worksheet_with_constant_memory().map_err(xerr(path))?;
            list_sheet(ws, &s, r, kind, p, &name, chunk, i * ROWS_PER_SHEET).map_err(xerr(path))?;
            any = true;
        }
    }
    if !any {
        let ws = wb.add_worksheet();
        ws.set_name(kind.title).and_then(|ws| ws.write_string(0, 0, "本次无发放数据")).map_err(xerr(path))?;
    }
    save(path, &mut wb)
}

#[allow(clippy::too_many_arguments)]
fn list_sheet(
    ws: &mut Worksheet,
    s: &Styles,
    r: &RunReport,
    kind: &ListKind,
    p: Program,
    name: &str,
    lines: &[&PaymentLine],
    first_seq: usize,
) -> Result<(), XlsxError> {
    ws.set_name(name)?;
    let title = format!("{} {}{}", title_prefix(r), p.chinese_name(), kind.title);
    let left = format!("制表单位：{}", r.office_name);
    let right = format!("单位：元　生成时间：{}", r.generated_at);
    heading(ws, s, &title, &left, &right, kind.head)?;
    page_setup(ws, 2, kind.widths)?;
    // The data cells take their style from the column: the writer looks a cell's
    // format up by hashing the whole `Format`, which for a million-line list cost
    // more than writing the cells themselves. Header and total rows keep their own.
    let last = (kind.head.len() - 1) as u16;
    for c in 0..=last {
        let f = match c {
            0 => &s.count,
            c if c == kind.amount_col => &s.money,
            _ => &s.text,
        };
        ws.set_column_format(c, f)?;
    }
    let mut row = 3u32;
    let mut sum = Fen::ZERO;
    for (i, l) in lines.iter().enumerate() {
        ws.write_number(row, 0, (first_seq + i + 1) as f64)?;
        let mut col = 1u16;
        for text in (kind.cells)(l) {
            if col == kind.amount_col {
                col += 1;
            }
            ws.write_string(row, col, text)?;
            col += 1;
        }
        ws.write_number(row, kind.amount_col, num(l.amount.to_yuan()))?;
        sum = sum.checked_add(l.amount).unwrap_or(sum);
        row += 1;
    }
    ws.write_string_with_format(row, 0, "合计", &s.total_text)?;
    for c in 1..=last {
        if c == kind.amount_col {
            ws.write_number_with_format(row, c, num(sum.to_yuan()), &s.total_money)?;
        } else if c == 1 {
            ws.write_string_with_format(row, c, format!("共{}笔", lines.len()), &s.total_text)?;
        } else {
            ws.write_string_with_format(row, c, "", &s.total_text)?;
        }
    }
    let footer = (kind.footer)(r);
    if !footer.is_empty() {
        ws.merge_range(row + 1, 0, row + 1, last, &footer, &s.sub)?;
    }
    Ok(())
}
