//! The workbooks: 汇总表 (`summary.xlsx`, ready to print and sign), 发放名册
//! (`roster.xlsx`) and 公示 (`notice.xlsx`).
//!
//! Cells are typed: amounts and counts are numbers (`#,##0.00` / `#,##0`), every
//! text — names, ID and account numbers included — is a string cell (never a
//! number, never a formula), so Excel neither turns an 18-digit ID into
//! `1.1E+17` nor runs a name that starts with `=` as a formula.
//!
//! The one float in the program lives here: an xlsx number cell *is* an IEEE
//! double. Amounts up to a trillion yuan with two decimals convert exactly as
//! displayed; sums are computed in exact decimals before conversion, and the 大写
//! text is built from the exact amount.
//!
//! The 汇总表 is small and built with rust_xlsxwriter. The roster and notice can
//! hold a million lines: [`listbook`] writes their sheet XML itself, row by row,
//! straight into the zip's deflate stream (a fifth of the CPU rust_xlsxwriter's
//! constant-memory mode took, and no temporary sheet files), with the same
//! styles and layout, and splits them below Excel's row limit. Their amounts go
//! from fen to text without a float.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use rust_xlsxwriter::{Color, Format, FormatAlign, FormatBorder, Workbook, Worksheet, XlsxError};

use super::{amount_in_words, period_cn, programs_of, ReportError, ReportSet, RunReport, Staged};
use crate::domain::{Fen, PayeeType, PaymentLine, Period, Program};
use crate::fsutil::create_private_dir;
use crate::totals::{PlaceTotals, ProgramTotals, Tally};

/// Data rows per sheet: below Excel's 1,048,576 with room for title, header and total.
const ROWS_PER_SHEET: usize = 1_000_000;

/// The rust_xlsxwriter list writer that `listbook` replaced: the tests' reference.
mod clerk;
#[cfg(test)]
mod legacy;
mod listbook;
mod package;
mod sheetxml;
mod table;
#[cfg(test)]
mod tests;

use listbook::ListWriter;

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

/// Writes the workbook to a temporary file beside `path` (synced, not yet in
/// place): the caller renames it in with [`Staged::persist`], so a workbook is
/// whole or absent, and is written once rather than copied.
fn save_staged(path: &Path, wb: &mut Workbook) -> Result<Staged, ReportError> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let io_err = |e: io::Error| ReportError::io(path, e);
    create_private_dir(dir).map_err(io_err)?;
    let tmp = tempfile::Builder::new().prefix(".tmp-xlsx-").tempfile_in(dir).map_err(io_err)?;
    let (file, tmp) = tmp.into_parts();
    let mut w = io::BufWriter::with_capacity(1 << 20, file);
    wb.save_to_writer(&mut w).map_err(xerr(path))?;
    let file = w.into_inner().map_err(|e| io_err(e.into_error()))?;
    file.sync_all().map_err(io_err)?;
    Ok(Staged { tmp, path: path.to_path_buf() })
}

fn save(path: &Path, wb: &mut Workbook) -> Result<(), ReportError> {
    save_staged(path, wb)?.persist()
}

fn title_prefix(r: &RunReport) -> String {
    format!("{} {}", r.office_name, period_cn(r.period))
}

/// `exceptions.xlsx` and `changes.xlsx` of a run (or check) in `reports_dir`.
pub(super) fn clerk_lists(reports_dir: &Path, r: &RunReport) -> Result<(), ReportError> {
    clerk::exceptions(&reports_dir.join("exceptions.xlsx"), r.office_name, r.period, r.exceptions)?;
    clerk::changes(&reports_dir.join("changes.xlsx"), r.office_name, r.period, r.changes)
}

/// `failures.xlsx` beside `failures.csv`.
pub(super) fn failures(
    path: &Path,
    office: &str,
    period: Period,
    list: &[crate::domain::Failure],
) -> Result<(), ReportError> {
    clerk::failures(path, office, period, list)
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
        let note = approval_note(&t);
        tallies(ws, s, row, 2, &[t.approved, t.paid, t.held, t.skipped], false)?;
        ws.write_string_with_format(row, 10, super::scrub(&note), &s.text)?;
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

/// 备注 of a program's row: the approval it was paid under (文号, approver,
/// date: SPEC §9), and the refusal if the roster did not match it.
fn approval_note(t: &ProgramTotals) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(a) = &t.approval {
        for (label, v) in [("审批文号", &a.reference), ("审批人", &a.approved_by), ("审批日期", &a.approved_on)]
        {
            if !v.is_empty() {
                parts.push(format!("{label}：{v}"));
            }
        }
    }
    if t.refused {
        parts.push("与审批不符，整体未发放".to_string());
    }
    parts.join("；")
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
            sub.absorb(v);
            row += 1;
        }
        place_row(ws, s, row, town, "小计", &sub, true)?;
        total.absorb(&sub);
        row += 1;
    }
    place_row(ws, s, row, "合计", "", &total, true)?;
    sign_off(ws, s, row + 1, 7, "发放金额合计", total.paid.amount)
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
    ws.write_string_with_format(row, 0, super::scrub(a), tf)?;
    ws.write_string_with_format(row, 1, super::scrub(b), tf)?;
    ws.write_number_with_format(row, 2, v.households as f64, cf)?;
    ws.write_number_with_format(row, 3, v.people as f64, cf)?;
    tallies(ws, s, row, 4, &[v.paid, v.held], total)
}

// ---------------------------------------------------------------- 发放名册 and 公示

/// What a list workbook prints above and below its lines.
#[derive(Debug, Clone)]
pub(super) struct ListHead {
    pub office_name: String,
    pub period: Period,
    pub generated_at: String,
    /// What the 公示 prints under its lines (`[notice]`).
    pub notice: crate::config::Notice,
}

/// One printed list: what its title says and which columns it has.
pub(super) struct ListKind {
    title: &'static str,
    head: &'static [&'static str],
    widths: &'static [f64],
    /// Column of the amount.
    amount_col: u16,
    /// Puts the text cells of a line, in column order after 序号 (amount
    /// excluded); the second argument is the line's batch as printed (批次).
    cells: fn(&PaymentLine, &str, &mut Chunk),
    /// Lines under the 合计 row of every sheet, one merged row each (none: empty).
    footer: fn(&ListHead) -> Vec<String>,
}

pub(super) const ROSTER: ListKind = ListKind {
    title: "发放名册",
    head: &["序号", "乡镇", "村(社区)", "姓名", "身份证号", "银行账号", "金额", "备注", "批次"],
    widths: &[8.0, 16.0, 18.0, 12.0, 22.0, 26.0, 14.0, 36.0, 12.0],
    amount_col: 6,
    cells: |l, batch, c| {
        c.cell(&l.township);
        c.cell(&l.village);
        c.cell(&l.name);
        c.cell(l.id_number.as_str());
        c.cell(l.account.as_str());
        roster_note(l, &mut c.text);
        c.end_cell();
        c.cell(batch);
    },
    footer: |_| Vec::new(),
};

pub(super) const NOTICE: ListKind = ListKind {
    title: "发放公示",
    head: &["序号", "姓名", "身份证号", "乡镇", "村(社区)", "金额", "批次"],
    widths: &[8.0, 14.0, 22.0, 18.0, 20.0, 14.0, 12.0],
    amount_col: 5,
    cells: |l, batch, c| {
        c.cell(&super::scrub(&l.name));
        c.cell(&l.id_number.masked());
        c.cell(&super::scrub(&l.township));
        c.cell(&super::scrub(&l.village));
        c.cell(batch);
    },
    footer: notice_footer,
};

/// The 公示's lines under its table: the 公示期, where to object and the phone
/// (from `[notice]`). A part the configuration does not give is printed as a
/// blank to fill in by hand, so the notice is never posted without it unseen.
fn notice_footer(h: &ListHead) -> Vec<String> {
    const BLANK: &str = "＿＿＿＿＿＿";
    let n = &h.notice;
    let day = |d: Option<chrono::NaiveDate>| match d {
        Some(d) => d.format("%Y年%-m月%-d日").to_string(),
        None => "＿＿＿＿年＿＿月＿＿日".to_string(),
    };
    let days = match (n.start, n.end) {
        (Some(s), Some(e)) => format!("（共{}天）", (e - s).num_days() + 1),
        _ => String::new(),
    };
    let whom = n.objection.as_deref().map_or_else(|| h.office_name.clone(), |o| super::scrub(o).into_owned());
    let phone = n.phone.as_deref().map_or(BLANK, |p| p);
    let mut lines = vec![
        format!("公示期：{}至{}{days}", day(n.start), day(n.end)),
        format!("公示期内如有异议，请向{whom}反映，联系电话：{phone}。"),
    ];
    if n.start.is_none() || n.end.is_none() || n.phone.is_none() || n.objection.is_none() {
        lines.push("（横线处未在配置文件 [notice] 中填写，请张贴前补填。）".to_string());
    }
    lines
}

/// 备注 of the roster: the clerk's note, and who receives when it is not the
/// beneficiary (so the signer sees a guardian or institution at a glance).
fn roster_note(l: &PaymentLine, out: &mut String) {
    let who = match l.payee_type {
        PayeeType::SelfPaid if l.payee_name.is_empty() || l.payee_name == l.name => None,
        PayeeType::SelfPaid => Some("本人"),
        PayeeType::Guardian => Some("监护人"),
        PayeeType::Caregiver => Some("照料人"),
        PayeeType::Institution => Some("供养机构"),
    };
    match (who, l.note.trim()) {
        (None, note) => out.push_str(note),
        (Some(w), "") => {
            let _ = write!(out, "收款人：{}（{w}）", l.payee_name);
        }
        (Some(w), note) => {
            let _ = write!(out, "收款人：{}（{w}）；{note}", l.payee_name);
        }
    }
}

/// A batch of list rows in one flat buffer (a few allocations per batch rather
/// than several per line), handed from the caller's thread to a workbook thread.
#[derive(Debug, Default)]
pub(super) struct Chunk {
    programs: Vec<Program>,
    amounts: Vec<Fen>,
    text: String,
    /// End offset in `text` of every cell, row after row.
    ends: Vec<usize>,
}

impl Chunk {
    fn with_capacity(lines: usize, kind: &ListKind) -> Chunk {
        let cells = kind.head.len() - 2;
        Chunk {
            programs: Vec::with_capacity(lines),
            amounts: Vec::with_capacity(lines),
            text: String::with_capacity(lines * cells * 12),
            ends: Vec::with_capacity(lines * cells),
        }
    }

    fn cell(&mut self, s: &str) {
        self.text.push_str(s);
        self.end_cell();
    }

    fn end_cell(&mut self) {
        self.ends.push(self.text.len());
    }

    fn push(&mut self, kind: &ListKind, l: &PaymentLine, batch: &str) {
        self.programs.push(l.program);
        self.amounts.push(l.amount);
        (kind.cells)(l, batch, self);
    }

    fn len(&self) -> usize {
        self.programs.len()
    }

    /// The text cells of row `i`.
    fn cells(&self, i: usize, width: usize) -> impl Iterator<Item = &str> {
        let ends = &self.ends[i * width..(i + 1) * width];
        let mut start = if i == 0 { 0 } else { self.ends[i * width - 1] };
        ends.iter().map(move |&end| {
            let s = &self.text[start..end];
            start = end;
            s
        })
    }
}

/// What the caller's thread sends a workbook thread.
enum Msg {
    Rows(Chunk),
    /// All lines sent: save the workbook. A channel closed without it means the
    /// run failed, and the workbook is dropped unsaved.
    Done,
}

/// Lines per batch sent to a workbook thread, and batches in flight: bounds the
/// memory between the threads (a few MB) whatever the number of lines.
const CHUNK_LINES: usize = 4096;
const CHUNKS_IN_FLIGHT: usize = 4;

/// A list workbook written on its own thread, fed line by line.
pub(super) struct ListFeed {
    kind: &'static ListKind,
    path: PathBuf,
    chunk: Chunk,
    tx: Option<mpsc::SyncSender<Msg>>,
    handle: Option<thread::JoinHandle<Result<Option<Staged>, ReportError>>>,
}

impl ListFeed {
    pub(super) fn spawn(path: &Path, kind: &'static ListKind, head: ListHead) -> Result<ListFeed, ReportError> {
        let mut writer = ListWriter::new(path, kind, head, ROWS_PER_SHEET)?;
        let (tx, rx) = mpsc::sync_channel::<Msg>(CHUNKS_IN_FLIGHT);
        let handle = thread::Builder::new()
            .name(format!("report-{}", kind.title))
            .spawn(move || {
                while let Ok(msg) = rx.recv() {
                    match msg {
                        Msg::Rows(c) => writer.chunk(&c)?,
                        Msg::Done => return writer.finish().map(Some),
                    }
                }
                Ok(None)
            })
            .map_err(|e| ReportError::io(path, e))?;
        Ok(ListFeed {
            kind,
            path: path.to_path_buf(),
            chunk: Chunk::with_capacity(CHUNK_LINES, kind),
            tx: Some(tx),
            handle: Some(handle),
        })
    }

    pub(super) fn push(&mut self, l: &PaymentLine, batch: &str) -> Result<(), ReportError> {
        self.chunk.push(self.kind, l, batch);
        if self.chunk.len() >= CHUNK_LINES {
            let full = std::mem::replace(&mut self.chunk, Chunk::with_capacity(CHUNK_LINES, self.kind));
            self.send(Msg::Rows(full))?;
        }
        Ok(())
    }

    /// Sends to the thread; if it has stopped, its error is the answer.
    fn send(&mut self, msg: Msg) -> Result<(), ReportError> {
        let sent = self.tx.as_ref().map(|tx| tx.send(msg).is_ok()).unwrap_or(false);
        if sent {
            return Ok(());
        }
        self.tx = None;
        Err(self.join().err().unwrap_or_else(|| self.stopped()))
    }

    fn stopped(&self) -> ReportError {
        ReportError::Xlsx { path: self.path.clone(), message: "the workbook writer stopped early".into() }
    }

    fn join(&mut self) -> Result<Option<Staged>, ReportError> {
        match self.handle.take() {
            Some(h) => h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)),
            None => Ok(None),
        }
    }

    /// Sends the last lines, waits for the workbook and returns it staged.
    pub(super) fn finish(mut self) -> Result<Staged, ReportError> {
        let last = std::mem::take(&mut self.chunk);
        if last.len() > 0 {
            self.send(Msg::Rows(last))?;
        }
        self.send(Msg::Done)?;
        self.tx = None;
        self.join()?.ok_or_else(|| self.stopped())
    }
}

impl Drop for ListFeed {
    /// A feed dropped before `finish` (an error elsewhere) stops its thread and
    /// waits for it, so its temporary files are gone when the caller returns.
    fn drop(&mut self) {
        self.tx = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
