//! Rosters as offices make them (SPEC §13): total and sign-off rows at the
//! bottom (or between townships) are not people — skipped, reported, not
//! counted against the approval — and a header spread over two rows (a merged
//! group title such as 收款信息 above 银行账号 and 开户行) is read. Each layout
//! is written at test time, run through the real binary, and must pay exactly
//! its people.

mod common;

use std::fmt::Write as _;
use std::path::Path;

use common::{gen, small};
use rust_xlsxwriter::{Format, Workbook};

/// A person's cells in the order 乡镇, 村, 姓名, 身份证号, 银行账号, 金额.
fn person(n: u64) -> [String; 6] {
    let (t, v) = gen::place(n);
    [t.to_string(), v, gen::name(n), gen::id_number(n), gen::card(n), format!("{}.00", small::amount(n))]
}

fn total(people: &[u64]) -> u64 {
    people.iter().map(|&n| small::amount(n)).sum()
}

/// Writes the approvals of 2026-11: dibao with `people`, no wubao.
fn approve(o: &small::Office, people: &[u64]) {
    let dir = o.dir.join("rosters/2026-11");
    std::fs::create_dir_all(&dir).unwrap();
    let a = format!(
        "program,count,total,reference,approved_by,approved_on\ndibao,{},{}.00,R,X,2026-11-01\n",
        people.len(),
        total(people)
    );
    std::fs::write(dir.join("approvals.csv"), a).unwrap();
    let _ = std::fs::remove_file(dir.join("wubao.csv"));
}

/// Points the dibao roster at `name` (a .csv or .xlsx under rosters/{period}).
fn roster_file(o: &small::Office, name: &str) {
    let toml = std::fs::read_to_string(&o.config).unwrap();
    let toml = toml.replace("rosters/{period}/dibao.csv", &format!("rosters/{{period}}/{name}"));
    // wubao is not in these rosters: pay it in January only.
    let toml = toml.replacen(
        "schedule = \"monthly\"\npayer = \"main\"\nformat = \"pain001-v09\"\nroster = \"rosters/{period}/wubao.csv\"",
        "schedule = [1]\npayer = \"main\"\nformat = \"pain001-v09\"\nroster = \"rosters/{period}/wubao.csv\"",
        1,
    );
    std::fs::write(&o.config, toml).unwrap();
}

/// Runs 2026-11, expecting every person paid and nothing held (exit 0), and
/// returns what the command printed.
fn run_pays_exactly(o: &small::Office, people: &[u64]) -> String {
    let out = o.run("2026-11", 0);
    let paid = o.report("2026-11", "paid.csv");
    let mut ids: Vec<&str> = paid.iter().map(|r| r[5].as_str()).collect();
    ids.sort();
    let mut want: Vec<String> = people.iter().map(|&n| gen::id_number(n)).collect();
    want.sort();
    assert_eq!(ids, want, "exactly the people are paid");
    assert!(o.report("2026-11", "exceptions.csv").is_empty(), "nothing held");
    common::text(&out)
}

fn office(root: &Path) -> small::Office {
    small::office(root, "\"monthly\"")
}

/// Total rows (合计 in 序号, in 姓名, 小计 between townships, 总计 with a count
/// in the ID column) and sign-off rows (制表人/审核人/日期 on one line or on
/// several, 填报单位, 负责人) in CSV (UTF-8 and GBK) and .xlsx.
#[test]
fn total_and_sign_off_rows_are_skipped_and_reported() {
    let people: Vec<u64> = (1..=9).collect();
    let amount_sum = format!("{}.00", total(&people));
    // Each layout: (file name, rows after the header as cells, skipped rows expected).
    type Layout = (&'static str, Vec<Vec<String>>, u64);
    let with_seq = |rows: &mut Vec<Vec<String>>, seq: bool| {
        for (i, &n) in people.iter().enumerate() {
            let mut r: Vec<String> = person(n).to_vec();
            if seq {
                r.insert(0, (i + 1).to_string());
            }
            rows.push(r);
        }
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let mut layouts: Vec<Layout> = Vec::new();
    // 1: 合计 in 序号, then a one-line sign-off.
    let mut rows = Vec::new();
    with_seq(&mut rows, true);
    rows.push(s(&["合计", "", "", "", "", "", &amount_sum]));
    rows.push(s(&["制表人：张三", "", "审核人：李四", "", "负责人：王五", "", "日期：2026年11月20日"]));
    layouts.push(("a.csv", rows, 2));
    // 2: no 序号; 小计 after each township's people, 合 计 in the 姓名 column,
    // a blank line and a sign-off block of several rows.
    let mut rows = Vec::new();
    for (i, &n) in people.iter().enumerate() {
        rows.push(person(n).to_vec());
        if i % 3 == 2 {
            rows.push(s(&["小计", "", "", "3人", "", "900.00"]));
        }
    }
    rows.push(s(&["", "", "合 计", "", "", &amount_sum]));
    rows.push(s(&["", "", "", "", "", ""]));
    rows.push(s(&["填报单位（盖章）：城关镇人民政府", "", "", "", "", ""]));
    rows.push(s(&["制表人:", "赵六", "审核人:", "孙七", "", ""]));
    rows.push(s(&["日期:", "2026-11-20", "", "", "", ""]));
    rows.push(s(&["", "", "", "", "2026年11月20日", ""]));
    layouts.push(("b.csv", rows, 8));
    // 3: the same as GBK with 总计 and a count where the ID would be.
    let mut rows = Vec::new();
    with_seq(&mut rows, true);
    rows.push(s(&["小计", "", "", "", &amount_sum, "", &amount_sum]));
    rows.push(s(&["总计", "", "", "", "共9户", "", &amount_sum]));
    rows.push(s(&["审核：", "", "", "", "", "", ""]));
    layouts.push(("c-gbk.csv", rows, 3));

    for (name, rows, skipped) in layouts {
        let tmp = tempfile::tempdir().unwrap();
        let o = office(tmp.path());
        approve(&o, &people);
        roster_file(&o, name);
        let seq = rows[0].len() == 7;
        let mut text = if seq { "序号," } else { "" }.to_string();
        text.push_str("乡镇,村(社区),姓名,身份证号,银行账号,金额\n");
        for r in &rows {
            writeln!(text, "{}", r.join(",")).unwrap();
        }
        let bytes =
            if name.contains("gbk") { encoding_rs::GBK.encode(&text).0.into_owned() } else { text.into_bytes() };
        std::fs::write(o.dir.join("rosters/2026-11").join(name), bytes).unwrap();
        let said = run_pays_exactly(&o, &people);
        assert!(said.contains(&format!("跳过 {skipped} 行合计/落款行")), "{name}: {said}");
        assert!(said.contains(name), "{name}: the file is named: {said}");
        assert!(!said.contains("R07"), "{name}: the approval matched: {said}");
    }

    // 4: .xlsx with a title row, 合计 with a SUM-like number, sign-off cells
    // spread over the row, and one 合计-looking row that has an ID (a person).
    let tmp = tempfile::tempdir().unwrap();
    let o = office(tmp.path());
    let mut paid = people.clone();
    paid.push(40);
    approve(&o, &paid);
    roster_file(&o, "d.xlsx");
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.write_string(0, 0, "测试县2026年11月城乡低保发放名册").unwrap();
    for (c, h) in ["序号", "乡镇", "村(社区)", "姓名", "身份证号", "银行账号", "金额"].iter().enumerate()
    {
        ws.write_string(1, c as u16, *h).unwrap();
    }
    let mut r = 2u32;
    for (i, &n) in paid.iter().enumerate() {
        let seq = if n == 40 { "合计".to_string() } else { (i + 1).to_string() };
        ws.write_string(r, 0, &seq).unwrap();
        for (c, v) in person(n).iter().enumerate() {
            if c == 5 {
                ws.write_number(r, 6, small::amount(n) as f64).unwrap();
            } else {
                ws.write_string(r, c as u16 + 1, v).unwrap();
            }
        }
        r += 1;
    }
    ws.write_string(r, 0, "合计").unwrap();
    ws.write_number(r, 6, total(&paid) as f64).unwrap();
    ws.write_string(r + 2, 1, "制表人：").unwrap();
    ws.write_string(r + 2, 2, "钱八").unwrap();
    ws.write_string(r + 2, 4, "审核人：").unwrap();
    ws.write_string(r + 3, 1, "填报日期：2026年11月20日").unwrap();
    wb.save(o.dir.join("rosters/2026-11/d.xlsx")).unwrap();
    let said = run_pays_exactly(&o, &paid);
    assert!(said.contains("跳过 3 行合计/落款行"), "{said}");
    assert!(said.contains(&format!("第 {} 行", r + 1)), "the row as the clerk sees it: {said}");
}

/// A row with an ID number is a person even when its first cell says 合计:
/// with a broken line it is held, and the approval still counts it.
#[test]
fn a_total_word_never_hides_a_person() {
    let tmp = tempfile::tempdir().unwrap();
    let o = office(tmp.path());
    let people = [1u64, 2, 3];
    approve(&o, &people);
    roster_file(&o, "dibao.csv");
    let mut text = String::from("乡镇,村(社区),姓名,身份证号,银行账号,金额\n");
    for &n in &people[..2] {
        writeln!(text, "{}", person(n).join(",")).unwrap();
    }
    let mut p = person(3);
    p[0] = "合计".into();
    p[4] = "not-an-account".into();
    writeln!(text, "{}", p.join(",")).unwrap();
    std::fs::write(o.dir.join("rosters/2026-11/dibao.csv"), text).unwrap();
    let out = o.run("2026-11", 2);
    assert!(!common::text(&out).contains("合计/落款行"), "{}", common::text(&out));
    let ex = o.report("2026-11", "exceptions.csv");
    assert_eq!(ex.len(), 1, "{ex:?}");
    assert_eq!(ex[0][4], "V03");
}

/// Two-row headers: 收款信息 merged over 银行账号 and 开户行, 序号 … 金额 merged
/// down over both rows; a title above; in .xlsx (real merges) and CSV (as
/// Excel exports merged cells: the value in the first cell, the rest empty).
#[test]
fn two_row_headers_are_read() {
    let people: Vec<u64> = (11..=16).collect();
    // (upper, lower) header rows; the data columns follow the lower row's order.
    let layouts: [(&[&str], &[&str]); 3] = [
        (
            &["序号", "乡镇", "村(社区)", "姓名", "身份证号", "收款信息", "", "金额"],
            &["", "", "", "", "", "银行账号", "开户行", ""],
        ),
        (
            &["序号", "户主信息", "", "", "", "收款信息", "", "发放金额（元）"],
            &["", "乡镇", "村居", "姓名", "身份证号码", "卡号", "开户银行", ""],
        ),
        (
            &["乡镇", "村(社区)", "享受人", "", "收款账户", "", "保障金额"],
            &["", "", "姓名", "身份证号", "账号", "开户行", ""],
        ),
    ];
    for (k, (upper, lower)) in layouts.iter().enumerate() {
        for ext in ["xlsx", "csv"] {
            let tmp = tempfile::tempdir().unwrap();
            let o = office(tmp.path());
            approve(&o, &people);
            let name = format!("two-{k}.{ext}");
            roster_file(&o, &name);
            let seq = upper[0] == "序号";
            // The third layout has 享受人 over 姓名 and 身份证号: its upper 享受人
            // cell is not a column of its own (it is the lower row's 姓名).
            let row_of = |i: usize, n: u64| -> Vec<String> {
                let p = person(n);
                let mut r = Vec::new();
                if seq {
                    r.push((i + 1).to_string());
                }
                r.extend([p[0].clone(), p[1].clone(), p[2].clone(), p[3].clone(), p[4].clone(), "农商银行".into()]);
                r.push(p[5].clone());
                r
            };
            let path = o.dir.join("rosters/2026-11").join(&name);
            if ext == "csv" {
                let mut text = String::from("测试县2026年11月城乡低保发放名册\n");
                writeln!(text, "{}", upper.join(",")).unwrap();
                writeln!(text, "{}", lower.join(",")).unwrap();
                for (i, &n) in people.iter().enumerate() {
                    writeln!(text, "{}", row_of(i, n).join(",")).unwrap();
                }
                writeln!(text, "合计,,,,,,{}.00", total(&people)).unwrap();
                std::fs::write(&path, text).unwrap();
            } else {
                let mut wb = Workbook::new();
                let ws = wb.add_worksheet();
                let f = Format::new();
                ws.merge_range(0, 0, 0, upper.len() as u16 - 1, "测试县2026年11月城乡低保发放名册", &f).unwrap();
                // Merge as an office does: a title over the blank cells to its
                // right; a name over the blank cell below it.
                let mut c = 0;
                while c < upper.len() {
                    let mut end = c;
                    while end + 1 < upper.len() && upper[end + 1].is_empty() {
                        end += 1;
                    }
                    if end > c {
                        ws.merge_range(1, c as u16, 1, end as u16, upper[c], &f).unwrap();
                    } else if lower[c].is_empty() {
                        ws.merge_range(1, c as u16, 2, c as u16, upper[c], &f).unwrap();
                    } else {
                        ws.write_string(1, c as u16, upper[c]).unwrap();
                    }
                    if end > c || !lower[c].is_empty() {
                        for j in c..=end {
                            if !lower[j].is_empty() {
                                ws.write_string(2, j as u16, lower[j]).unwrap();
                            }
                        }
                    }
                    c = end + 1;
                }
                for (i, &n) in people.iter().enumerate() {
                    for (j, v) in row_of(i, n).iter().enumerate() {
                        ws.write_string(3 + i as u32, j as u16, v).unwrap();
                    }
                }
                wb.save(&path).unwrap();
            }
            let said = run_pays_exactly(&o, &people);
            if ext == "csv" {
                assert!(said.contains("跳过 1 行合计/落款行"), "{name}: {said}");
            }
            let rows = o.report("2026-11", "paid.csv");
            assert_eq!(rows[0][3], gen::place(people[0]).1, "{name}: village read from its column");
        }
    }
}
