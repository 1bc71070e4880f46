//! `report.html`: the one page a person reads after a run. Self-contained (inline
//! CSS and SVG, no script, font, image or link to anywhere), so it opens the same
//! on an office PC without network and can be mailed as one file. All text is
//! HTML-escaped; IDs appear masked only and free text is scrubbed of long digit
//! runs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use rust_decimal::Decimal;

use super::{code_meaning, masked_id, period_cn, programs_of, scrub, yuan, ReportError, ReportSet, RunReport};
use crate::domain::{ChangeKind, Code, Severity};
use crate::fsutil::write_atomic;
use crate::totals::{ProgramTotals, Tally};

/// Rows of the changes table; the full list is in `changes.csv`.
const CHANGES_SHOWN: usize = 200;

const CSS: &str = r#"
body{font-family:"Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei","PingFang SC","SimHei",sans-serif;
 margin:24px auto;max-width:1120px;padding:0 16px;color:#1a202c;background:#fff;line-height:1.5}
h1{font-size:24px;margin:0 0 4px}
h2{font-size:18px;border-bottom:2px solid #2b6cb0;padding-bottom:4px;margin:32px 0 8px}
.meta{color:#4a5568;margin:0 0 16px}
.tag{display:inline-block;background:#fefcbf;color:#744210;border:1px solid #ecc94b;border-radius:4px;padding:0 8px;font-size:14px;margin-left:8px}
.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{flex:1;min-width:180px;border:1px solid #e2e8f0;border-radius:6px;padding:10px 14px;background:#f7fafc}
.card .k{color:#4a5568;font-size:13px}.card .v{font-size:20px;font-weight:bold}.card .s{color:#4a5568;font-size:13px}
table{border-collapse:collapse;width:100%;font-size:13px;margin:8px 0}
th,td{border:1px solid #cbd5e0;padding:4px 8px;text-align:left}
th{background:#edf2f7;font-weight:bold}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.total td{font-weight:bold;background:#f7fafc}
.ok{color:#276749}.bad{color:#c53030;font-weight:bold}.warn{color:#975a16}
.note{color:#4a5568;font-size:13px}
svg{display:block;margin:8px 0;max-width:100%;height:auto}
svg text{font-size:12px;fill:#2d3748}
"#;

/// Escapes text for HTML element content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in scrub(s).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// `1,234,567.89` for reading (exact, no rounding).
fn money(d: Decimal) -> String {
    let s = yuan(d);
    let (sign, body) = s.strip_prefix('-').map(|b| ("-", b)).unwrap_or(("", &s));
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped}.{frac}")
}

fn count(n: u64) -> String {
    money(Decimal::from(n)).trim_end_matches(".00").to_string()
}

/// A program's ledger status: sent, settled, failed, returned, pending and
/// reissued, each (lines, amount).
pub(super) type StatusRow = (crate::domain::Program, [(u64, Decimal); 6]);

/// What a page redrawn after its run shows besides the run's report: the
/// month's batches, the bank's answers so far, and when it was redrawn.
#[derive(Debug, Clone, Default)]
pub(super) struct Extra {
    /// (batch, lines, amount) of every batch of the month, when more than one.
    pub batches: Vec<(String, u64, Decimal)>,
    /// Correction lines per program (they re-pay lines already counted).
    pub corrections: Vec<(crate::domain::Program, u64, Decimal)>,
    pub status: Vec<StatusRow>,
    pub refreshed_at: Option<String>,
}

pub(super) fn write(path: &Path, r: &RunReport, set: ReportSet) -> Result<(), ReportError> {
    write_with(path, r, set, &Extra::default())
}

pub(super) fn write_with(path: &Path, r: &RunReport, set: ReportSet, extra: &Extra) -> Result<(), ReportError> {
    let page = render(r, set, extra);
    write_atomic(path, page.as_bytes()).map_err(|e| ReportError::io(path, e))
}

/// The whole page as a string (a few hundred KB at most: lists are capped).
pub(super) fn render(r: &RunReport, set: ReportSet, extra: &Extra) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let title = format!("{} {} 社会救助资金发放运行报告", r.office_name, period_cn(r.period));
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{}</title><style>{CSS}</style></head><body>\n",
        esc(&title)
    );
    let tag = if set == ReportSet::Check { "<span class=\"tag\">试算（check）：未发放</span>" } else { "" };
    let refreshed = extra.refreshed_at.as_deref().map(|t| format!(" · 更新时间 {}", esc(t))).unwrap_or_default();
    let _ = writeln!(
        h,
        "<h1>{}{tag}</h1><p class=\"meta\">期次 {} · 生成时间 {}{refreshed}</p>",
        esc(&title),
        esc(&r.period.to_string()),
        esc(&r.generated_at)
    );
    programs(&mut h, r, !extra.batches.is_empty());
    batches(&mut h, extra);
    bank_status(&mut h, extra);
    townships(&mut h, r);
    reasons(&mut h, r, !extra.batches.is_empty());
    changes(&mut h, r);
    failures(&mut h, r);
    h.push_str("<p class=\"note\">本页不含完整身份证号和银行账号；身份证号仅显示前6位和后4位。明细见 reports 目录下的 CSV 和 Excel 文件。</p>\n</body></html>\n");
    h
}

fn sum_programs(r: &RunReport) -> ProgramTotals {
    let mut s = ProgramTotals::default();
    for t in r.totals.programs.values() {
        for (acc, x) in
            [(&mut s.approved, t.approved), (&mut s.paid, t.paid), (&mut s.held, t.held), (&mut s.skipped, t.skipped)]
        {
            acc.lines += x.lines;
            acc.amount += x.amount;
        }
        s.warned += t.warned;
    }
    s
}

fn card(h: &mut String, k: &str, t: Tally) {
    let _ = write!(
        h,
        "<div class=\"card\"><div class=\"k\">{k}</div><div class=\"v\">¥{}</div><div class=\"s\">{} 笔</div></div>",
        money(t.amount),
        count(t.lines)
    );
}

fn tally_cells(h: &mut String, t: Tally) {
    let _ = write!(h, "<td class=\"n\">{}</td><td class=\"n\">{}</td>", count(t.lines), money(t.amount));
}

fn programs(h: &mut String, r: &RunReport, month: bool) {
    let all = sum_programs(r);
    h.push_str("<h2>总体情况</h2><div class=\"cards\">");
    card(h, "核定（名册）", all.approved);
    card(h, if month { "本月已发放（各批次合计）" } else { "本次发放" }, all.paid);
    card(h, "暂缓（异常）", all.held);
    card(h, "已发不重发", all.skipped);
    h.push_str("</div>\n<h2>各项目合计</h2><table><thead><tr><th>项目</th><th class=\"n\">核定笔数</th><th class=\"n\">核定金额</th>\
        <th class=\"n\">发放笔数</th><th class=\"n\">发放金额</th><th class=\"n\">暂缓笔数</th><th class=\"n\">暂缓金额</th>\
        <th class=\"n\">已发笔数</th><th class=\"n\">已发金额</th><th>核对</th></tr></thead><tbody>\n");
    for p in programs_of(r.totals) {
        let t = r.totals.programs.get(&p).cloned().unwrap_or_default();
        let _ = write!(h, "<tr><td>{}</td>", esc(p.chinese_name()));
        for x in [t.approved, t.paid, t.held, t.skipped] {
            tally_cells(h, x);
        }
        let check = if t.refused {
            "<span class=\"bad\">与审批不符，整体未发放（R07）</span>"
        } else if t.balances() {
            "<span class=\"ok\">核定 = 发放 + 暂缓 + 已发</span>"
        } else {
            "<span class=\"bad\">核定与发放、暂缓、已发之和不符，请核查</span>"
        };
        let _ = writeln!(h, "<td>{check}</td></tr>");
    }
    h.push_str("<tr class=\"total\"><td>合计</td>");
    for x in [all.approved, all.paid, all.held, all.skipped] {
        tally_cells(h, x);
    }
    h.push_str("<td></td></tr></tbody></table>\n");
}

/// The month's batches, when there is more than one: which batch paid how much.
fn batches(h: &mut String, extra: &Extra) {
    if extra.batches.is_empty() {
        return;
    }
    h.push_str(
        "<h2>本月各批次</h2><table><thead><tr><th>批次</th><th>编号</th><th class=\"n\">笔数</th>\
         <th class=\"n\">金额</th></tr></thead><tbody>\n",
    );
    let (mut lines, mut amount) = (0, Decimal::ZERO);
    for (b, n, a) in &extra.batches {
        let _ = write!(h, "<tr><td>{}</td><td>{}</td>", esc(&super::batch_label(b)), esc(b));
        tally_cells(h, Tally { lines: *n, amount: *a });
        h.push_str("</tr>\n");
        lines += n;
        amount += a;
    }
    h.push_str("<tr class=\"total\"><td>合计</td><td></td>");
    tally_cells(h, Tally { lines, amount });
    h.push_str("</tr></tbody></table>\n");
    if !extra.corrections.is_empty() {
        let n: u64 = extra.corrections.iter().map(|c| c.1).sum();
        let _ = writeln!(
            h,
            "<p class=\"note\">其中更正发放 {} 笔，是对回盘失败或退票款项的重新发放，不重复计入上方“本月已发放”。\
             发放名册 roster.xlsx 和 paid.csv 逐笔列出各批次；公示 notice.xlsx 每人只列一次。</p>",
            count(n)
        );
    } else {
        h.push_str("<p class=\"note\">发放名册 roster.xlsx、公示 notice.xlsx 和 paid.csv 逐笔列出本月各批次。</p>\n");
    }
}

/// What the bank has answered so far (from the ledger, redrawn by `returns`
/// and `reissue`).
fn bank_status(h: &mut String, extra: &Extra) {
    if extra.status.is_empty() {
        return;
    }
    h.push_str(
        "<h2>银行回盘情况</h2><table><thead><tr><th>项目</th><th class=\"n\">已发送</th><th class=\"n\">已到账</th>\
         <th class=\"n\">失败</th><th class=\"n\">退票</th><th class=\"n\">待回盘</th><th class=\"n\">已更正发放</th>\
         </tr></thead><tbody>\n",
    );
    for (p, buckets) in &extra.status {
        let _ = write!(h, "<tr><td>{}</td>", esc(p.chinese_name()));
        for (n, a) in buckets {
            let _ = write!(h, "<td class=\"n\">{} 笔<br>¥{}</td>", count(*n), money(*a));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody></table>\n<p class=\"note\">已发送 = 已到账 + 失败 + 退票 + 待回盘。失败和退票的逐笔明细见 returns/failures.xlsx。</p>\n");
}

/// A horizontal bar chart: one labelled bar per item, length proportional to the
/// value (computed in exact decimals, rounded to whole pixels).
fn bar_chart(items: &[(String, Decimal, String)], color: &str) -> String {
    const LABEL: i64 = 170;
    const BAR: i64 = 520;
    const ROW: i64 = 26;
    let max = items.iter().map(|i| i.1).max().unwrap_or_default();
    let height = ROW * items.len() as i64 + 10;
    let mut s = format!("<svg viewBox=\"0 0 820 {height}\" width=\"820\" height=\"{height}\" role=\"img\">");
    for (i, (label, value, shown)) in items.iter().enumerate() {
        let y = 5 + ROW * i as i64;
        let w = if max > Decimal::ZERO && *value > Decimal::ZERO {
            (value * Decimal::from(BAR) / max).round().try_into().unwrap_or(0i64).max(1)
        } else {
            0
        };
        let short: String = label.chars().take(12).collect();
        let short = if short.chars().count() < label.chars().count() { format!("{short}…") } else { short };
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\
             <rect x=\"{LABEL}\" y=\"{y}\" width=\"{w}\" height=\"{}\" fill=\"{color}\" rx=\"2\"><title>{}：{}</title></rect>\
             <text x=\"{}\" y=\"{}\">{}</text>",
            LABEL - 8,
            y + 15,
            esc(&short),
            ROW - 8,
            esc(label),
            esc(shown),
            LABEL + w + 6,
            y + 15,
            esc(shown)
        );
    }
    s.push_str("</svg>\n");
    s
}

fn townships(h: &mut String, r: &RunReport) {
    let mut towns: BTreeMap<&str, (Tally, Tally)> = BTreeMap::new();
    for (k, v) in &r.totals.places {
        let e = towns.entry(k.township.as_str()).or_default();
        e.0.lines += v.paid.lines;
        e.0.amount += v.paid.amount;
        e.1.lines += v.held.lines;
        e.1.amount += v.held.amount;
    }
    h.push_str("<h2>各乡镇发放金额</h2>\n");
    if towns.is_empty() {
        h.push_str("<p class=\"note\">无数据。</p>\n");
        return;
    }
    // Chart: largest first, so the eye finds where the money went; the table stays by name.
    let mut by_amount: Vec<_> = towns.iter().collect();
    by_amount.sort_by_key(|t| std::cmp::Reverse(t.1 .0.amount));
    let items: Vec<_> = by_amount
        .into_iter()
        .map(|(t, (paid, _))| {
            (t.to_string(), paid.amount, format!("¥{}（{}笔）", money(paid.amount), count(paid.lines)))
        })
        .collect();
    h.push_str(&bar_chart(&items, "#3182ce"));
    h.push_str(
        "<table><thead><tr><th>乡镇</th><th class=\"n\">发放笔数</th><th class=\"n\">发放金额</th>\
        <th class=\"n\">暂缓笔数</th><th class=\"n\">暂缓金额</th></tr></thead><tbody>\n",
    );
    for (t, (paid, held)) in &towns {
        let _ = write!(h, "<tr><td>{}</td>", esc(t));
        tally_cells(h, *paid);
        tally_cells(h, *held);
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody></table>\n");
}

/// `month`: the page shows the month across batches, where the lines a later
/// batch skipped as already paid are the earlier batches' paid lines: they stay
/// in the table but would only crowd the chart.
fn reasons(h: &mut String, r: &RunReport, month: bool) {
    let by_code: BTreeMap<Code, u64> = r.exceptions.counts().by_code;
    h.push_str("<h2>暂缓及提示原因</h2>\n");
    let items: Vec<_> = by_code
        .iter()
        .filter(|(c, _)| !(month && c.severity() == Severity::Skip))
        .map(|(c, n)| {
            (format!("{} {}", c, super::severity_cn(c.severity())), Decimal::from(*n), format!("{} 条", count(*n)))
        })
        .collect();
    if items.is_empty() {
        h.push_str("<p class=\"ok\">本次没有异常。</p>\n");
    } else {
        h.push_str(&bar_chart(&items, "#dd6b20"));
    }
    h.push_str(
        "<table><thead><tr><th>代码</th><th>处理</th><th>含义</th><th class=\"n\">条数</th></tr></thead><tbody>\n",
    );
    for c in Code::ALL {
        let n = by_code.get(&c).copied().unwrap_or(0);
        let _ = writeln!(
            h,
            "<tr><td>{c}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
            super::severity_cn(c.severity()),
            esc(code_meaning(c.as_str())),
            count(n)
        );
    }
    h.push_str("</tbody></table>\n<p class=\"note\">一行可能因多个原因列出；逐行明细见 exceptions.csv。</p>\n");
}

fn changes(h: &mut String, r: &RunReport) {
    h.push_str("<h2>与上期相比的变动</h2>\n<div class=\"cards\">");
    for k in [ChangeKind::New, ChangeKind::Dropped, ChangeKind::AmountChanged] {
        let n = r.changes.iter().filter(|c| c.kind == k).count() as u64;
        let _ = write!(
            h,
            "<div class=\"card\"><div class=\"k\">{}</div><div class=\"v\">{}</div><div class=\"s\">人</div></div>",
            super::change_cn(k),
            count(n)
        );
    }
    h.push_str("</div>\n");
    if r.changes.is_empty() {
        return;
    }
    let amt = |a: Option<crate::domain::Fen>| a.map(|f| money(f.to_yuan())).unwrap_or_default();
    h.push_str(
        "<table><thead><tr><th>项目</th><th>姓名</th><th>身份证号</th><th>变动</th>\
        <th class=\"n\">上期金额</th><th class=\"n\">本期金额</th></tr></thead><tbody>\n",
    );
    for c in r.changes.iter().take(CHANGES_SHOWN) {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(c.program.chinese_name()),
            esc(&c.name),
            esc(&masked_id(&c.id_number_masked)),
            super::change_cn(c.kind),
            amt(c.previous_amount),
            amt(c.amount)
        );
    }
    h.push_str("</tbody></table>\n");
    if r.changes.len() > CHANGES_SHOWN {
        let _ = writeln!(
            h,
            "<p class=\"note\">共 {} 条，仅列前 {CHANGES_SHOWN} 条；完整清单见 changes.csv。</p>",
            count(r.changes.len() as u64)
        );
    }
}

fn failures(h: &mut String, r: &RunReport) {
    if r.failures.is_empty() {
        return;
    }
    let mut by_reason: BTreeMap<&str, (Tally, &str)> = BTreeMap::new();
    for f in r.failures {
        let e = by_reason.entry(f.reason_code.as_str()).or_insert((Tally::default(), f.reason_text.as_str()));
        e.0.add_fen(f.amount);
    }
    h.push_str("<h2>银行回盘失败及退票</h2>\n");
    let items: Vec<_> = by_reason
        .iter()
        .map(|(c, (t, _))| {
            (
                if c.is_empty() { "（无代码）".to_string() } else { c.to_string() },
                Decimal::from(t.lines),
                format!("{} 笔 ¥{}", count(t.lines), money(t.amount)),
            )
        })
        .collect();
    h.push_str(&bar_chart(&items, "#c53030"));
    h.push_str("<table><thead><tr><th>原因代码</th><th>银行说明（示例）</th><th class=\"n\">笔数</th><th class=\"n\">金额</th></tr></thead><tbody>\n");
    for (c, (t, text)) in &by_reason {
        let _ = write!(h, "<tr><td>{}</td><td>{}</td>", esc(c), esc(text));
        tally_cells(h, *t);
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody></table>\n<p class=\"note\">逐笔明细和处理办法见 returns/failures.csv。</p>\n");
}
