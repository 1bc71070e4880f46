//! The direct list writer against the rust_xlsxwriter one it replaced: same
//! sheets, same cells, same package parts (but for the sheets' `<dimension>`,
//! which the direct writer leaves out, and the creation time).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use calamine::{open_workbook, Data, Reader, Xlsx};

use super::table::{Table, TableWriter, Value};
use super::{legacy, ListHead, ListKind, ListWriter, NOTICE, ROSTER};
use super::{Chunk, ROWS_PER_SHEET};
use crate::domain::{Account, EndToEndId, Fen, IdNumber, PayeeType, PaymentLine, Period, Program, SourcePos, Text};

const PERIOD: Period = Period { year: 2026, month: 11 };

fn head() -> ListHead {
    ListHead {
        office_name: "某县民政局&<公示>".into(),
        period: PERIOD,
        generated_at: "2026-11-25 14:03".into(),
        notice: Default::default(),
    }
}

fn id(first17: &str) -> IdNumber {
    let check = IdNumber::check_char(first17.as_bytes());
    IdNumber::parse(&format!("{first17}{check}")).unwrap()
}

/// Texts that exercise every escape: markup, formula starts, edge spaces,
/// control characters, literal `_xHHHH_`, U+FFFF, and an empty note.
const NAMES: &[&str] = &[
    "张三",
    "=HYPERLINK(\"http://x\",\"点我\")",
    "+86 138",
    "-1",
    "@SUM(A1)",
    "王&李<赵>",
    " 前后空格 ",
    "\t制表",
    "换行\n",
    "回车\r号",
    "控制\u{1}\u{1F}符",
    "_x0041_ 与 _x00zz_",
    "非字符\u{FFFF}",
    "欧阳娜娜",
    "'单引号\"双引号",
];

fn line(p: Program, seq: u64) -> PaymentLine {
    let ids = ["11010519491231002", "44030419851020123", "51010219600101555"];
    let accts = ["6222021234567890123", "6228480000000000018", "6217001234567890"];
    let k = seq as usize % 3;
    let name = NAMES[seq as usize % NAMES.len()].to_string();
    let mut l = PaymentLine {
        program: p,
        end_to_end_id: EndToEndId::new(p, PERIOD, 'R', 1, seq),
        township: ["城关镇", "河口乡", "东岭乡"][k].into(),
        village: if seq.is_multiple_of(7) { Text::default() } else { format!("第{}村", seq % 13).into() },
        name: name.clone().into(),
        id_number: id(ids[k]),
        payee_name: name.into(),
        payee_type: PayeeType::SelfPaid,
        account: Account::parse(accts[k]).unwrap(),
        bank: "农行".into(),
        // Whole yuan, one decimal, two decimals, a fen, large sums.
        amount: Fen([39_600, 39_650, 39_655, 1, 12_345_678_901][seq as usize % 5] + seq as i64 * 100),
        household_size: Some(2),
        category: Text::default(),
        note: ["", "补发", " 补发10月 ", "=1+1"][seq as usize % 4].into(),
        kind: Default::default(),
        pos: SourcePos { file: "roster.xlsx".into(), row: seq + 1 },
    };
    match seq % 6 {
        1 => {
            l.payee_type = PayeeType::Guardian;
            l.payee_name = "王监护".into();
        }
        2 => {
            l.payee_type = PayeeType::Institution;
            l.payee_name = "县福利院".into();
        }
        3 => l.payee_name = "代领人".into(),
        _ => {}
    }
    l
}

/// Lines of the given programs and counts, grouped in `Program` order.
fn lines(counts: &[(Program, u64)]) -> Vec<PaymentLine> {
    counts.iter().flat_map(|&(p, n)| (1..=n).map(move |s| line(p, s))).collect()
}

fn chunk(kind: &ListKind, lines: &[PaymentLine]) -> Chunk {
    let mut c = Chunk::with_capacity(lines.len(), kind);
    for l in lines {
        c.push(kind, l, "第1批");
    }
    c
}

/// Writes the workbook both ways; returns (old, new) paths.
fn both(dir: &Path, kind: &'static ListKind, lines: &[PaymentLine], rows: usize) -> (PathBuf, PathBuf) {
    let (old, new) = (dir.join("old").join("book.xlsx"), dir.join("new").join("book.xlsx"));
    // Two chunks, so a sheet may span them.
    let (a, b) = lines.split_at(lines.len() / 2);
    let mut w = legacy::ListWriter::new(&old, kind, head(), rows).unwrap();
    w.chunk(&chunk(kind, a)).unwrap();
    w.chunk(&chunk(kind, b)).unwrap();
    w.finish().unwrap().persist().unwrap();
    let mut w = ListWriter::new(&new, kind, head(), rows).unwrap();
    w.chunk(&chunk(kind, a)).unwrap();
    w.chunk(&chunk(kind, b)).unwrap();
    w.finish().unwrap().persist().unwrap();
    (old, new)
}

type Cells = Vec<(String, u32, u32, Data)>;

/// Sheet names and every cell with its sheet and position, as calamine reads them.
fn cells(path: &Path) -> (Vec<String>, Cells) {
    let mut wb: Xlsx<_> = open_workbook(path).unwrap();
    let names = wb.sheet_names();
    let mut out = Vec::new();
    for name in &names {
        let range = wb.worksheet_range(name).unwrap();
        let (r0, c0) = range.start().unwrap_or((0, 0));
        for (r, c, d) in range.used_cells() {
            out.push((name.clone(), r as u32 + r0, c as u32 + c0, d.clone()));
        }
    }
    (names, out)
}

/// Every part of the package by name.
fn parts(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut z = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut out = BTreeMap::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        let mut v = Vec::new();
        f.read_to_end(&mut v).unwrap();
        out.insert(f.name().unwrap().to_string(), v);
    }
    out
}

/// The part as the new writer should have written it: no `<dimension>`, and a
/// fixed time in core.xml.
fn normalized(name: &str, xml: &[u8]) -> String {
    let mut s = String::from_utf8(xml.to_vec()).unwrap();
    if name.starts_with("xl/worksheets/") && !s.contains("<dimension ref=\"A1\"/>") {
        if let Some(a) = s.find("<dimension ") {
            let b = a + s[a..].find("/>").unwrap() + 2;
            s.replace_range(a..b, "");
        }
    }
    if name == "docProps/core.xml" {
        for tag in ["dcterms:created", "dcterms:modified"] {
            let open = format!("<{tag} xsi:type=\"dcterms:W3CDTF\">");
            let a = s.find(&open).unwrap() + open.len();
            let b = a + s[a..].find('<').unwrap();
            s.replace_range(a..b, "T");
        }
    }
    s
}

/// Styles referenced by cells and columns all exist in styles.xml.
fn styles_exist(p: &BTreeMap<String, Vec<u8>>) {
    let styles = String::from_utf8(p["xl/styles.xml"].clone()).unwrap();
    let a = styles.find("<cellXfs count=\"").unwrap() + 16;
    let count: usize = styles[a..a + styles[a..].find('"').unwrap()].parse().unwrap();
    for (name, xml) in p.iter().filter(|(n, _)| n.starts_with("xl/worksheets/")) {
        let xml = std::str::from_utf8(xml).unwrap();
        for (i, _) in xml.match_indices(" s=\"").chain(xml.match_indices(" style=\"")) {
            let rest = &xml[i..];
            let v = &rest[rest.find('"').unwrap() + 1..];
            let n: usize = v[..v.find('"').unwrap()].parse().unwrap();
            assert!(n < count, "{name}: style {n} of {count}");
        }
    }
}

/// Each part parses as XML (xmllint, as CI installs it).
fn well_formed(p: &BTreeMap<String, Vec<u8>>) {
    let dir = tempfile::tempdir().unwrap();
    for (i, (name, xml)) in p.iter().enumerate() {
        let f = dir.path().join(format!("{i}.xml"));
        std::fs::write(&f, xml).unwrap();
        let out = Command::new("xmllint").arg("--noout").arg(&f).output().expect("xmllint is installed");
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// The new workbook reads as the old one, cell for cell, and its parts are the
/// old ones but for the dimension and the time.
fn same(kind: &'static ListKind, lines: &[PaymentLine], rows: usize) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = both(dir.path(), kind, lines, rows);
    same_books(&old, &new, |_, xml| xml)
}

/// [`same`] of two written workbooks, each new part read through `fix`
/// first; the new one's sheet names.
fn same_books(old: &Path, new: &Path, fix: impl Fn(&str, String) -> String) -> Vec<String> {
    let (old_cells, new_cells) = (cells(old), cells(new));
    assert_eq!(old_cells.0, new_cells.0, "sheet names");
    assert_eq!(old_cells.1.len(), new_cells.1.len(), "number of cells");
    for (a, b) in old_cells.1.iter().zip(&new_cells.1) {
        assert_eq!(a, b);
    }
    let (po, pn) = (parts(old), parts(new));
    assert_eq!(po.keys().collect::<Vec<_>>(), pn.keys().collect::<Vec<_>>(), "part names");
    for (name, xml) in &po {
        let (a, b) = (normalized(name, xml), fix(name, normalized(name, &pn[name])));
        if a != b {
            let at = a.bytes().zip(b.bytes()).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
            let around = |s: &str| {
                s.chars()
                    .skip(s.char_indices().take_while(|(i, _)| *i < at).count().saturating_sub(80))
                    .take(200)
                    .collect::<String>()
            };
            panic!("{name} differs at byte {at}:\nold …{}\nnew …{}", around(&a), around(&b));
        }
    }
    assert!(!pn.values().any(|x| std::str::from_utf8(x).unwrap().contains("<dimension ref=\"A1:")));
    styles_exist(&pn);
    well_formed(&pn);
    new_cells.0
}

#[test]
fn roster_and_notice_match_the_old_writer() {
    let l = lines(&[(Program::Dibao, 150), (Program::Wubao, 3), (Program::Yiwubing, 1), (Program::Yimin, 146)]);
    for kind in [&ROSTER, &NOTICE] {
        let names = same(kind, &l, ROWS_PER_SHEET);
        assert_eq!(names.len(), 4);
    }
}

#[test]
fn sheets_split_and_renamed_as_before() {
    // 120 dibao lines at 50 a sheet: (1), (2), (3); 50 wubao exactly fill one.
    let l = lines(&[(Program::Dibao, 120), (Program::Wubao, 50), (Program::Youfu, 51)]);
    for kind in [&ROSTER, &NOTICE] {
        let names = same(kind, &l, 50);
        assert_eq!(
            names,
            [
                "城乡最低生活保障金(1)",
                "城乡最低生活保障金(2)",
                "城乡最低生活保障金(3)",
                "特困人员供养金",
                "优抚对象抚恤补助(1)",
                "优抚对象抚恤补助(2)"
            ]
        );
    }
}

#[test]
fn no_lines_gives_the_same_empty_workbook() {
    for kind in [&ROSTER, &NOTICE] {
        assert_eq!(same(kind, &[], ROWS_PER_SHEET), [kind.title]);
    }
}

#[test]
fn ids_stay_text_and_amounts_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let l = lines(&[(Program::Dibao, 5)]);
    let (_, new) = both(dir.path(), &ROSTER, &l, ROWS_PER_SHEET);
    let (_, c) = cells(&new);
    let at = |r: u32, col: u32| c.iter().find(|x| x.1 == r && x.2 == col).map(|x| x.3.clone());
    assert_eq!(at(3, 4), Some(Data::String(l[0].id_number.as_str().into())));
    assert_eq!(at(3, 5), Some(Data::String(l[0].account.as_str().into())));
    assert_eq!(at(3, 6), Some(Data::Float(396.5 + 1.0)));
    assert_eq!(at(4, 3), Some(Data::String(NAMES[2].into())));
}

#[test]
fn a_text_past_excels_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = line(Program::Dibao, 1);
    l.name = "长".repeat(32_768).into();
    let mut w = ListWriter::new(&dir.path().join("r.xlsx"), &ROSTER, head(), ROWS_PER_SHEET).unwrap();
    let err = w.chunk(&chunk(&ROSTER, &[l.clone()])).unwrap_err();
    assert!(err.to_string().contains("D4"), "{err}");
    drop(w);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no temporary file left");
    // 32,767 is still allowed (and counted in UTF-16 units, as Excel does).
    l.name = "长".repeat(32_767).into();
    let mut w = ListWriter::new(&dir.path().join("r.xlsx"), &ROSTER, head(), ROWS_PER_SHEET).unwrap();
    w.chunk(&chunk(&ROSTER, &[l.clone()])).unwrap();
    l.name = "𠀀".repeat(16_384).into();
    assert!(w.chunk(&chunk(&ROSTER, &[l])).is_err());
}

/// Times both writers on a million lines (`LIST_BENCH_LINES`), CPU and wall:
/// `cargo test --release --lib report::xlsx::tests::bench -- --ignored --nocapture`.
#[test]
#[ignore]
fn bench_million_lines() {
    let n: u64 = std::env::var("LIST_BENCH_LINES").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let programs = [Program::Dibao, Program::Wubao, Program::Youfu, Program::Yiwubing, Program::Yimin];
    let per = n / programs.len() as u64;
    let chunks: Vec<(&'static ListKind, Vec<Chunk>)> = [&ROSTER, &NOTICE]
        .into_iter()
        .map(|kind| {
            let mut v = Vec::new();
            for p in programs {
                let ls: Vec<PaymentLine> = (1..=per).map(|s| line(p, s)).collect();
                for c in ls.chunks(4096) {
                    v.push(chunk(kind, c));
                }
            }
            (kind, v)
        })
        .collect();
    for (kind, cs) in &chunks {
        for which in ["rust_xlsxwriter", "direct"] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("b.xlsx");
            let (t0, c0) = (std::time::Instant::now(), cpu_seconds());
            if which == "direct" {
                let mut w = ListWriter::new(&path, kind, head(), ROWS_PER_SHEET).unwrap();
                cs.iter().for_each(|c| w.chunk(c).unwrap());
                w.finish().unwrap().persist().unwrap();
            } else {
                let mut w = legacy::ListWriter::new(&path, kind, head(), ROWS_PER_SHEET).unwrap();
                cs.iter().for_each(|c| w.chunk(c).unwrap());
                w.finish().unwrap().persist().unwrap();
            }
            let (wall, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
            let size = std::fs::metadata(&path).unwrap().len();
            eprintln!("{} {which:>15}: {n} lines  cpu {cpu:.2} s  wall {wall:.2} s  {size} bytes", kind.title);
        }
    }
}

/// User + system CPU seconds of this process so far (Linux).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let f: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// Writes the old workbooks of a small run to `LIST_DUMP` (by hand, to look at).
#[test]
#[ignore]
fn dump_old() {
    let Ok(out) = std::env::var("LIST_DUMP") else { return };
    let out = Path::new(&out);
    let l = lines(&[(Program::Dibao, 12), (Program::Wubao, 3)]);
    for (name, kind, lines, rows) in [
        ("roster", &ROSTER, &l[..], ROWS_PER_SHEET),
        ("notice", &NOTICE, &l[..], ROWS_PER_SHEET),
        ("split", &NOTICE, &l[..], 5),
        ("empty", &NOTICE, &[][..], ROWS_PER_SHEET),
    ] {
        let path = out.join(format!("{name}.xlsx"));
        let mut w = legacy::ListWriter::new(&path, kind, head(), rows).unwrap();
        w.chunk(&chunk(kind, lines)).unwrap();
        w.finish().unwrap().persist().unwrap();
    }
}

#[test]
fn dropped_unfinished_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let l = lines(&[(Program::Dibao, 3_000), (Program::Wubao, 10)]);
    let mut w = ListWriter::new(&dir.path().join("r.xlsx"), &ROSTER, head(), 1_000).unwrap();
    w.chunk(&chunk(&ROSTER, &l)).unwrap();
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "the temporary file while writing");
    drop(w);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// A clerk's table written by both writers: the same workbook.
fn same_table(t: &Table, rows: &[Vec<Value>], per_sheet: usize) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (dir.path().join("old").join("t.xlsx"), dir.path().join("new").join("t.xlsx"));
    legacy::table(&old, t, rows, per_sheet).unwrap();
    let mut w = TableWriter::new(&new, t, per_sheet).unwrap();
    for r in rows {
        w.put(r).unwrap();
    }
    w.finish().unwrap().persist().unwrap();
    // The tables use the lists' styles, not the set rust_xlsxwriter made for
    // each table in the order it met them: a cell's style is compared by what
    // it is (font, fill, border, number format), not by its index.
    let (po, pn) = (parts(&old), parts(&new));
    let (so, sn) = (resolved_styles(&po["xl/styles.xml"]), resolved_styles(&pn["xl/styles.xml"]));
    same_books(&old, &new, |name, xml| match name {
        "xl/styles.xml" => String::from_utf8(po[name].clone()).unwrap(),
        n if n.starts_with("xl/worksheets/") => restyled(&xml, &sn, &so),
        _ => xml,
    })
}

/// Each `cellXfs` style of a styles part, written out: its font, fill, border
/// and number format in place of their indices.
fn resolved_styles(xml: &[u8]) -> Vec<String> {
    let xml = std::str::from_utf8(xml).unwrap();
    let fmts: BTreeMap<String, String> =
        elements(xml, "numFmts", "numFmt").iter().map(|f| (attr(f, "numFmtId"), attr(f, "formatCode"))).collect();
    let (fonts, fills, borders) =
        (elements(xml, "fonts", "font"), elements(xml, "fills", "fill"), elements(xml, "borders", "border"));
    let pick = |list: &[String], i: String| list[i.parse::<usize>().unwrap()].clone();
    elements(xml, "cellXfs", "xf")
        .iter()
        .map(|x| {
            let fmt = attr(x, "numFmtId");
            let fmt = fmts.get(&fmt).cloned().unwrap_or(fmt);
            let inner = x.split_once('>').map_or("", |(_, r)| r);
            format!(
                "{fmt}|{}|{}|{}|{inner}",
                pick(&fonts, attr(x, "fontId")),
                pick(&fills, attr(x, "fillId")),
                pick(&borders, attr(x, "borderId"))
            )
        })
        .collect()
}

/// The `<tag>` elements directly inside `<list>`.
fn elements(xml: &str, list: &str, tag: &str) -> Vec<String> {
    let Some(a) = xml.find(&format!("<{list}")) else { return Vec::new() };
    let inner = &xml[a..a + xml[a..].find(&format!("</{list}>")).unwrap()];
    let (open, close) = (format!("<{tag}"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = &inner[inner.find('>').unwrap() + 1..];
    while let Some(i) = rest.find(&open) {
        let el = &rest[i..];
        let head_end = el.find('>').unwrap();
        let end =
            if el.as_bytes()[head_end - 1] == b'/' { head_end + 1 } else { el.find(&close).unwrap() + close.len() };
        out.push(el[..end].to_string());
        rest = &el[end..];
    }
    out
}

fn attr(el: &str, name: &str) -> String {
    let key = format!(" {name}=\"");
    let Some(a) = el.find(&key) else { return "0".into() };
    let v = &el[a + key.len()..];
    v[..v.find('"').unwrap()].to_string()
}

/// A sheet with its style indices from `from` renumbered as `to` has them
/// (the index of the same style there).
fn restyled(xml: &str, from: &[String], to: &[String]) -> String {
    let mut out = String::with_capacity(xml.len());
    let mut rest = xml;
    while let Some(i) = rest.find(" s=\"").into_iter().chain(rest.find(" style=\"")).min() {
        let q = i + rest[i..].find('"').unwrap() + 1;
        let end = q + rest[q..].find('"').unwrap();
        let style = &from[rest[q..end].parse::<usize>().unwrap()];
        let n = to.iter().position(|s| s == style).unwrap_or_else(|| panic!("no such style before: {style}"));
        out += &rest[..q];
        out += &n.to_string();
        rest = &rest[end..];
    }
    out + rest
}

fn table(right: &str) -> Table {
    Table {
        title: "某县民政局&<公示> 2026年11月 银行回盘失败及退票清单".into(),
        left: "核实并更正账号后，填写更正清单办理更正发放".into(),
        right: right.into(),
        head: &["序号", "项目", "行号", "姓名", "金额", "上期金额"],
        widths: &[7.0, 20.0, 7.0, 10.0, 12.0, 14.0],
    }
}

fn table_rows(n: u64) -> Vec<Vec<Value<'static>>> {
    (1..=n)
        .map(|i| {
            vec![
                Value::Count(i),
                Value::Text(NAMES[i as usize % NAMES.len()].into()),
                if i % 3 == 0 { Value::Text("".into()) } else { Value::Count(i * 7) },
                Value::Text(format!("_x0041_ <{i}>&\u{1}").into()),
                Value::Money(Some(Fen(i as i64 * 12_345 - 50))),
                Value::Money(if i % 2 == 0 { None } else { Some(Fen(-(i as i64))) }),
            ]
        })
        .collect()
}

#[test]
fn clerk_tables_match_the_old_writer() {
    assert_eq!(same_table(&table(""), &table_rows(40), ROWS_PER_SHEET), ["银行回盘失败及退票清单"]);
    assert_eq!(same_table(&table("另有 3 行本期已发放"), &table_rows(5), ROWS_PER_SHEET).len(), 1);
    // 25 rows at 10 a sheet: three sheets, the header frozen on each.
    let names = same_table(&table(""), &table_rows(25), 10);
    assert_eq!(names, ["银行回盘失败及退票清单", "银行回盘失败及退票清单(2)", "银行回盘失败及退票清单(3)"]);
    // No row: one sheet saying 无 under the header.
    assert_eq!(same_table(&table(""), &[], ROWS_PER_SHEET).len(), 1);
    // A text past a cell's limit is cut, as before.
    let long = vec![vec![Value::Count(1), Value::Text("长".repeat(40_000).into())]];
    same_table(&table(""), &long, ROWS_PER_SHEET);
}
