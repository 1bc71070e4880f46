//! The clerk's desk (SPEC §13) on the example office, through the real binary:
//! the month's lists across its batches, report.html redrawn by `returns` and
//! `reissue`, the 公示's [notice], and the Chinese workbooks beside the CSVs.
//! Workbooks are read back with calamine, the page as text: structure, counts
//! and words are checked, not pixels.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use calamine::{open_workbook, Data, Reader, Xlsx};

/// Every sheet's rows of a workbook, as text.
fn sheets(path: &Path) -> Vec<(String, Vec<Vec<String>>)> {
    let mut wb: Xlsx<_> = open_workbook(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let names = wb.sheet_names().to_vec();
    names
        .into_iter()
        .map(|n| {
            let range = wb.worksheet_range(&n).unwrap();
            let rows = range
                .rows()
                .map(|r| {
                    r.iter()
                        .map(|c| match c {
                            Data::Empty => String::new(),
                            Data::Float(f) => format!("{f}"),
                            other => other.to_string(),
                        })
                        .collect()
                })
                .collect();
            (n, rows)
        })
        .collect()
}

/// Data rows of a list workbook: rows whose first cell is a 序号 (a number).
fn data_rows(path: &Path) -> Vec<Vec<String>> {
    sheets(path)
        .into_iter()
        .flat_map(|(_, rows)| rows)
        .filter(|r| r.first().is_some_and(|c| c.parse::<u64>().is_ok()))
        .collect()
}

/// All the text of a workbook, cell after cell.
fn all_text(path: &Path) -> String {
    sheets(path)
        .into_iter()
        .flat_map(|(n, rows)| std::iter::once(n).chain(rows.into_iter().flatten()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A run of three or more Latin letters: an English word (or a code such as
/// `dibao`, `failed`, `amount_changed`) where a clerk should read Chinese.
/// Codes like V02, AC04 and references like DB202611R0010000001 have none.
fn english_words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_alphabetic() {
            word.push(c);
        } else {
            if word.len() >= 3 {
                out.push(std::mem::take(&mut word));
            }
            word.clear();
        }
    }
    out
}

fn run(config: &Path, args: &[&str], codes: &[i32]) -> String {
    let mut all = vec![args[0], "--config", config.to_str().unwrap()];
    all.extend_from_slice(&args[1..]);
    // The clerk's desk is read in Chinese (the suite's default is English).
    let out = common::command().env("DISBURSE_LANG", "zh").args(&all).output().unwrap();
    let said = common::text(&out);
    assert!(codes.contains(&out.status.code().unwrap_or(-1)), "disburse {all:?}: {:?}\n{said}", out.status);
    said
}

/// The 2026-11 wubao roster with its held line (an account a spreadsheet
/// turned into 6.22848E+18) corrected: a second batch of one line.
fn correct_wubao_line(office: &Path) {
    let path = office.join("rosters/2026-11/wubao.csv");
    let bytes = std::fs::read(&path).unwrap();
    let (text, _, _) = encoding_rs::GBK.decode(&bytes);
    assert!(text.contains("6.22848E+18"), "the example's held wubao line");
    let fixed = text.replacen("6.22848E+18", "6228480000000000017", 1);
    std::fs::write(&path, encoding_rs::GBK.encode(&fixed).0).unwrap();
}

#[test]
fn the_month_across_batches_returns_reissue_and_the_notice() {
    let (_tmp, config) = common::office();
    let office = config.parent().unwrap().to_path_buf();
    // October without [notice]: its 公示 leaves blanks to fill in by hand.
    run(&config, &["run", "--period", "2026-10"], &[0, 2]);
    let oct = office.join("out/2026-10/reports/notice.xlsx");
    let text = all_text(&oct);
    assert!(text.contains("公示期：＿＿＿＿年＿＿月＿＿日至＿＿＿＿年＿＿月＿＿日"), "{text}");
    assert!(text.contains("请张贴前补填"), "the clerk is told what is missing");

    let mut toml = std::fs::read_to_string(&config).unwrap();
    toml.push_str(
        "\n[notice]\nstart = 2026-11-20\nend = \"2026-11-26\"\nphone = \"0571-12345678\"\nobjection = \"县民政局社会救助股（人民路1号）\"\n",
    );
    std::fs::write(&config, toml).unwrap();
    run(&config, &["run", "--period", "2026-11"], &[2]);
    let period = office.join("out/2026-11");
    let reports = period.join("reports");
    let first = common::read_csv(&reports.join("paid.csv"));
    let n1 = first.len() - 1;
    assert!(n1 > 50);

    correct_wubao_line(&office);
    let said = run(&config, &["run", "--period", "2026-11"], &[2]);
    assert!(said.contains("第2批"), "{said}");

    // paid.csv: every line of both batches, each with its batch in its
    // reference and bank file; the columns stay the contract's.
    let paid = common::read_csv(&reports.join("paid.csv"));
    assert_eq!(
        paid[0],
        ["program", "end_to_end_id", "township", "village", "name", "id_number", "account", "amount", "bank_file"]
    );
    let batch_of = |r: &Vec<String>| r[1][8..12].to_string();
    let mut by_batch: BTreeMap<String, usize> = BTreeMap::new();
    for r in &paid[1..] {
        assert!(r[8].contains(&batch_of(r)), "{r:?}");
        *by_batch.entry(batch_of(r)).or_default() += 1;
    }
    assert_eq!(by_batch, BTreeMap::from([("R001".to_string(), n1), ("R002".to_string(), 1)]));
    assert!(paid[1..n1 + 1] == first[1..], "the first batch's lines stay as they were");
    let notice_csv = common::read_csv(&reports.join("notice.csv"));
    assert_eq!(notice_csv.len() - 1, n1 + 1);

    // 名册 and 公示: every line, with 第1批 / 第2批.
    for book in ["roster.xlsx", "notice.xlsx"] {
        let rows = data_rows(&reports.join(book));
        assert_eq!(rows.len(), n1 + 1, "{book}");
        let batch_col = if book == "roster.xlsx" { 8 } else { 6 };
        assert_eq!(rows.iter().filter(|r| r[batch_col] == "第2批").count(), 1, "{book}");
        assert_eq!(rows.iter().filter(|r| r[batch_col] == "第1批").count(), n1, "{book}");
    }
    let notice = all_text(&reports.join("notice.xlsx"));
    assert!(notice.contains("公示期：2026年11月20日至2026年11月26日（共7天）"), "{notice}");
    assert!(notice.contains("县民政局社会救助股（人民路1号）") && notice.contains("0571-12345678"));
    assert!(!notice.contains("补填"));

    // report.html: the month's paid and its batches.
    let html = std::fs::read_to_string(reports.join("report.html")).unwrap();
    assert!(html.contains("本月各批次") && html.contains("R002") && html.contains("第2批"));
    assert!(html.contains("本月已发放（各批次合计）"));
    assert!(html.contains(&format!("{} 笔", n1 + 1)), "the month's paid count");

    // returns redraws report.html with the bank's answers; failures.xlsx.
    let bank = office.join("bank-answer");
    let answer = common::fake_bank::answer(&period, &bank, 20).unwrap();
    assert!(!answer.rejected.is_empty());
    let before = html;
    let receipts = [bank.join("pain002.xml"), bank.join("camt054.xml")];
    let r: Vec<&str> = receipts.iter().map(|p| p.to_str().unwrap()).collect();
    run(&config, &["returns", r[0], r[1]], &[2]);
    let html = std::fs::read_to_string(reports.join("report.html")).unwrap();
    assert_ne!(html, before, "returns redraws report.html");
    assert!(html.contains("银行回盘情况") && html.contains("已到账") && html.contains("银行回盘失败及退票"));
    assert!(html.contains("更新时间"));
    let failures = period.join("returns/failures.xlsx");
    let rows = data_rows(&failures);
    assert_eq!(rows.len(), answer.rejected.len() + 1, "every failed line and the late return");
    assert!(rows.iter().any(|r| r[8] == "失败") && rows.iter().any(|r| r[8] == "退票"), "{rows:?}");

    // reissue: the correction batch joins the month's lists and the page.
    let corrections = bank.join("corrections.csv");
    run(&config, &["reissue", "--period", "2026-11", "--corrections", corrections.to_str().unwrap()], &[0, 2]);
    let html = std::fs::read_to_string(reports.join("report.html")).unwrap();
    assert!(html.contains("更正第1批") && html.contains("C001"), "reissue redraws report.html");
    let paid = common::read_csv(&reports.join("paid.csv"));
    let reissued = paid[1..].iter().filter(|r| batch_of(r) == "C001").count();
    assert_eq!(reissued, answer.rejected.len() + 1);
    assert_eq!(data_rows(&reports.join("roster.xlsx")).len(), n1 + 1 + reissued);
    assert_eq!(data_rows(&reports.join("notice.xlsx")).len(), n1 + 1, "the 公示 lists each person once");

    // The clerk's workbooks: Chinese headers and values, masked.
    let full_ids: Vec<&str> = paid[1..].iter().map(|r| r[5].as_str()).collect();
    for (book, header) in [
        (reports.join("exceptions.xlsx"), "问题类别"),
        (reports.join("changes.xlsx"), "变动"),
        (failures.clone(), "处理办法"),
    ] {
        let text = all_text(&book);
        assert!(text.contains(header), "{}", book.display());
        assert_eq!(english_words(&text), Vec::<String>::new(), "{}", book.display());
        for id in &full_ids {
            assert!(!text.contains(id), "{}: a full ID number", book.display());
        }
    }
    // The second batch's lists: its lines already paid (R04) are in
    // exceptions.csv one by one, and only counted in exceptions.xlsx.
    let exceptions = data_rows(&reports.join("exceptions.xlsx"));
    let csv = common::read_csv(&reports.join("exceptions.csv"));
    assert_r04_counted(&reports, n1);
    assert_eq!(exceptions.len(), csv[1..].iter().filter(|r| r[4] != "R04").count());
    assert!(exceptions.iter().any(|r| r[5] == "暂缓"));
    assert!(exceptions.iter().all(|r| r[1].chars().all(|c| !c.is_ascii_alphabetic())), "programs by their names");
    // October → November changes, in words.
    let oct_changes = data_rows(&office.join("out/2026-10/reports/changes.xlsx"));
    let nov_changes = data_rows(&reports.join("changes.xlsx"));
    let kinds: Vec<&str> = nov_changes.iter().chain(&oct_changes).map(|r| r[4].as_str()).collect();
    assert!(!nov_changes.is_empty(), "November changes against October");
    assert!(kinds.iter().all(|k| ["新增", "减少（停发）", "金额变化"].contains(k)), "{kinds:?}");
    assert!(!english_words(&all_text(&reports.join("notice.xlsx"))).iter().any(|w| w != "xlsx"));
}

/// exceptions.xlsx of `dir` lists every exception of exceptions.csv but the R04
/// lines (already paid in the period), in the same order, and says above its
/// table how many it left out (`r04`, and nothing of them when none).
fn assert_r04_counted(dir: &Path, r04: usize) {
    let csv = common::read_csv(&dir.join("exceptions.csv"));
    let code = csv[0].iter().position(|h| h == "code").unwrap();
    assert_eq!(csv[1..].iter().filter(|r| r[code] == "R04").count(), r04, "{}", dir.display());
    let others: Vec<&str> = csv[1..].iter().map(|r| r[code].as_str()).filter(|c| *c != "R04").collect();
    let book = dir.join("exceptions.xlsx");
    let rows = data_rows(&book);
    let codes: Vec<&str> = rows.iter().map(|r| r[4].as_str()).collect();
    assert_eq!(codes, others, "{}: every exception but R04, in order", book.display());
    let text = all_text(&book);
    let note = format!("另有 {r04} 行本期已发放（R04），不再发放，本表不列；逐行明细见同一文件夹中同名的文本清单");
    if r04 > 0 {
        assert!(text.contains(&note), "{}: {text}", book.display());
        // Above the table: on the first sheet, before its header row.
        let (_, first) = sheets(&book).into_iter().next().unwrap();
        let head = first.iter().position(|r| r.first().is_some_and(|c| c == "序号")).unwrap();
        assert!(first[..head].iter().flatten().any(|c| c == &note), "{first:?}");
    } else {
        assert!(!text.contains("本期已发放"), "{}: {text}", book.display());
    }
}

/// `check` of a period already paid holds every line as R04: exceptions.csv
/// lists each, exceptions.xlsx only counts them and keeps the other exceptions
/// (the held line); a first run, with no R04 line, says nothing of them.
#[test]
fn lines_already_paid_are_counted_not_listed_in_exceptions_xlsx() {
    let (_tmp, config) = common::office();
    let office = config.parent().unwrap().to_path_buf();
    run(&config, &["run", "--period", "2026-11"], &[2]);
    let reports = office.join("out/2026-11/reports");
    assert_r04_counted(&reports, 0);
    let paid = common::read_csv(&reports.join("paid.csv")).len() - 1;
    assert!(paid > 50);
    run(&config, &["check", "--period", "2026-11"], &[0, 2]);
    let check = office.join("out/2026-11/check/reports");
    assert_r04_counted(&check, paid);
    let held = data_rows(&check.join("exceptions.xlsx"));
    assert!(held.iter().any(|r| r[5] == "暂缓"), "the held line is still listed: {held:?}");
}
