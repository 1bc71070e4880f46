//! The streamed paid-line reports (`PaidReports`): the same files as
//! `write_reports`, one sheet per program, and nothing left behind on an error.

use std::fs;
use std::path::{Path, PathBuf};

use calamine::{open_workbook, Data, Reader, Xlsx};
use disburse::domain::{Account, EndToEndId, Fen, IdNumber, PayeeType, PaymentLine, Period, Program, SourcePos};
use disburse::report::{
    write_reports, write_summary_reports, ExceptionSource, PaidHead, PaidReports, ReportError, ReportSet, RunReport,
};
use disburse::totals::{ProgramTotals, RunTotals, Tally};
use rust_decimal::Decimal;

const PERIOD: Period = Period { year: 2026, month: 11 };
const OFFICE: &str = "某县民政局";
const AT: &str = "2026-11-25 14:03";

fn id(first17: &str) -> IdNumber {
    let check = IdNumber::check_char(first17.as_bytes());
    IdNumber::parse(&format!("{first17}{check}")).unwrap()
}

/// Line `seq` of program `p`: varied names, a guardian now and then, a formula-like name once.
fn line(p: Program, seq: u64) -> PaymentLine {
    let ids = ["11010519491231002", "44030419851020123", "51010219600101555"];
    let accts = ["6222021234567890123", "6228480000000000018", "6217001234567890"];
    let k = seq as usize % 3;
    let name = if seq == 2 { "=HYPERLINK(\"x\")".to_string() } else { format!("张{seq}") };
    let mut l = PaymentLine {
        program: p,
        end_to_end_id: EndToEndId::new(p, PERIOD, 'R', 1, seq),
        township: ["城关镇", "河口乡"][k % 2].into(),
        village: format!("第{}村", k + 1).into(),
        name: name.clone().into(),
        id_number: id(ids[k]),
        payee_name: name.into(),
        payee_type: PayeeType::SelfPaid,
        account: Account::parse(accts[k]).unwrap(),
        bank: "农行".into(),
        amount: Fen(39_600 + 50 * seq as i64),
        household_size: Some(2),
        category: Default::default(),
        note: if seq.is_multiple_of(4) { "补发".into() } else { Default::default() },
        kind: Default::default(),
        pos: SourcePos { file: "roster.xlsx".into(), row: seq + 1 },
    };
    if seq.is_multiple_of(5) {
        l.payee_type = PayeeType::Guardian;
        l.payee_name = "王监护".into();
    }
    l
}

/// Lines of several programs, grouped in `Program` order.
fn grouped_lines() -> Vec<PaymentLine> {
    let mut v = Vec::new();
    for (p, n) in [(Program::Dibao, 7), (Program::Wubao, 3), (Program::Yimin, 2)] {
        v.extend((1..=n).map(|s| line(p, s)));
    }
    v
}

fn totals_of(lines: &[PaymentLine]) -> RunTotals {
    let mut t = RunTotals::default();
    for l in lines {
        let e: &mut ProgramTotals = t.programs.entry(l.program).or_default();
        for tally in [&mut e.approved, &mut e.paid] {
            *tally = Tally { lines: tally.lines + 1, amount: tally.amount + l.amount.to_yuan() };
        }
    }
    t
}

fn bank_file(l: &PaymentLine) -> String {
    format!("{}_1.txt", l.program.code())
}

fn head(totals: &RunTotals) -> PaidHead<'_> {
    PaidHead { office_name: OFFICE, period: PERIOD, generated_at: AT, totals }
}

fn report<'a>(totals: &'a RunTotals, paid: &'a [PaymentLine], files: &'a [String]) -> RunReport<'a> {
    RunReport {
        office_name: OFFICE,
        period: PERIOD,
        generated_at: AT.into(),
        totals,
        paid,
        bank_files: files,
        exceptions: ExceptionSource::List(&[]),
        changes: &[],
        failures: &[],
    }
}

/// PaidReports over `lines`, then the summary reports, as a streaming run would.
fn stream(dir: &Path, lines: &[PaymentLine], totals: &RunTotals, set: ReportSet) -> Vec<PathBuf> {
    let mut pr = PaidReports::create(dir, head(totals), set).unwrap();
    for l in lines {
        pr.push(l, &bank_file(l)).unwrap();
    }
    let mut written = pr.finish().unwrap();
    written.extend(write_summary_reports(dir, &report(totals, &[], &[]), set).unwrap());
    written
}

/// A cell with its sheet, row and column.
type Cell = (String, u32, u32, Data);

/// Sheet names, and every cell of every sheet with its position.
fn workbook(path: &Path) -> (Vec<String>, Vec<Cell>) {
    let mut wb: Xlsx<_> = open_workbook(path).unwrap();
    let names = wb.sheet_names();
    let mut cells = Vec::new();
    for name in &names {
        let range = wb.worksheet_range(name).unwrap();
        let (r0, c0) = range.start().unwrap_or((0, 0));
        for (r, c, d) in range.used_cells() {
            cells.push((name.clone(), r as u32 + r0, c as u32 + c0, d.clone()));
        }
    }
    (names, cells)
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = match fs::read_dir(dir) {
        Ok(rd) => rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

#[test]
fn streamed_files_equal_write_reports() {
    let lines = grouped_lines();
    let totals = totals_of(&lines);
    let files: Vec<String> = lines.iter().map(bank_file).collect();
    for set in [ReportSet::Run, ReportSet::Check] {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let whole = write_reports(a.path(), &report(&totals, &lines, &files), set).unwrap();
        let streamed = stream(b.path(), &lines, &totals, set);
        let name = |p: &PathBuf| p.file_name().unwrap().to_string_lossy().into_owned();
        let mut whole_names: Vec<String> = whole.iter().map(name).collect();
        let mut streamed_names: Vec<String> = streamed.iter().map(name).collect();
        whole_names.sort();
        streamed_names.sort();
        assert_eq!(whole_names, streamed_names);
        assert_eq!(names_in(a.path()), whole_names, "only the reports, no temporary file");
        assert_eq!(names_in(b.path()), whole_names, "only the reports, no temporary file");
        for n in &whole_names {
            let (x, y) = (a.path().join(n), b.path().join(n));
            if n.ends_with(".csv") || n.ends_with(".html") {
                assert_eq!(fs::read(&x).unwrap(), fs::read(&y).unwrap(), "{n} differs");
            } else {
                assert_eq!(workbook(&x), workbook(&y), "{n} differs");
            }
        }
    }
}

#[test]
fn one_sheet_per_program_with_its_total() {
    let lines = grouped_lines();
    let totals = totals_of(&lines);
    let dir = tempfile::tempdir().unwrap();
    stream(dir.path(), &lines, &totals, ReportSet::Run);
    let expected = ["城乡最低生活保障金", "特困人员供养金", Program::Yimin.chinese_name()];
    for book in ["roster.xlsx", "notice.xlsx"] {
        let path = dir.path().join(book);
        let (names, cells) = workbook(&path);
        assert_eq!(names, expected, "{book}");
        let at = |sheet: &str, r: u32, c: u32| {
            cells.iter().find(|x| x.0 == sheet && x.1 == r && x.2 == c).map(|x| x.3.clone()).unwrap_or(Data::Empty)
        };
        // 7 dibao lines: rows 3..=9 numbered 1..=7, 合计 on row 10.
        assert_eq!(at(expected[0], 3, 0), Data::Float(1.0));
        assert_eq!(at(expected[0], 9, 0), Data::Float(7.0));
        assert_eq!(at(expected[0], 10, 0), Data::String("合计".into()));
        assert_eq!(at(expected[0], 10, 1), Data::String("共7笔".into()));
        assert_eq!(at(expected[1], 6, 1), Data::String("共3笔".into()));
        assert_eq!(at(expected[2], 5, 1), Data::String("共2笔".into()));
        let title = format!("{OFFICE} 2026年11月 {}", expected[1]);
        assert!(matches!(at(expected[1], 0, 0), Data::String(s) if s.starts_with(&title)));
    }
    // Amount total of the 特困 sheet: 3 lines of 396.50, 397.00, 397.50.
    let roster = workbook(&dir.path().join("roster.xlsx")).1;
    let total = roster.iter().find(|x| x.0 == expected[1] && x.1 == 6 && x.2 == 6).unwrap();
    assert_eq!(total.3, Data::Float(1191.0));
    // The guardian shows in 备注 (line 5 of 低保 is on row 7).
    let note = roster.iter().find(|x| x.0 == expected[0] && x.1 == 7 && x.2 == 7).unwrap();
    assert_eq!(note.3, Data::String("收款人：王监护（监护人）".into()));
}

#[test]
fn lines_out_of_program_order_are_refused_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let totals = RunTotals::default();
    let mut pr = PaidReports::create(dir.path(), head(&totals), ReportSet::Run).unwrap();
    pr.push(&line(Program::Wubao, 1), "w.xml").unwrap();
    let err = pr.push(&line(Program::Dibao, 1), "d.txt").unwrap_err();
    assert!(matches!(err, ReportError::LinesOutOfOrder { program: Program::Dibao, after: Program::Wubao }));
    assert!(err.to_string().contains("dibao"));
    drop(pr);
    assert_eq!(names_in(dir.path()), Vec::<String>::new());
}

#[test]
fn a_failing_workbook_leaves_no_file_at_all() {
    // A name past Excel's 32,767-character cell limit fails the workbook threads;
    // the error comes back and none of the four files (nor a temporary) remains.
    let dir = tempfile::tempdir().unwrap();
    let totals = RunTotals::default();
    let mut pr = PaidReports::create(dir.path(), head(&totals), ReportSet::Run).unwrap();
    let mut bad = line(Program::Dibao, 1);
    bad.name = "长".repeat(40_000).into();
    let result = pr.push(&bad, "d.txt").and_then(|_| pr.finish().map(drop));
    let err = result.unwrap_err();
    assert!(matches!(err, ReportError::Xlsx { .. }), "{err}");
    assert_eq!(names_in(dir.path()), Vec::<String>::new());
}

#[test]
fn an_unwritable_folder_fails_before_any_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-folder");
    fs::write(&file, b"x").unwrap();
    let totals = RunTotals::default();
    let err = PaidReports::create(&file.join("reports"), head(&totals), ReportSet::Run).err().unwrap();
    assert!(matches!(err, ReportError::Io { .. }), "{err}");
    assert_eq!(names_in(dir.path()), ["not-a-folder"]);
}

#[test]
fn dropped_unfinished_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let totals = RunTotals::default();
    let mut pr = PaidReports::create(dir.path(), head(&totals), ReportSet::Run).unwrap();
    for s in 1..=10_000 {
        pr.push(&line(Program::Dibao, s), "d.txt").unwrap();
    }
    drop(pr);
    assert_eq!(names_in(dir.path()), Vec::<String>::new());
}

#[test]
fn no_lines_still_gives_openable_workbooks() {
    let dir = tempfile::tempdir().unwrap();
    let totals = RunTotals::default();
    let written = PaidReports::create(dir.path(), head(&totals), ReportSet::Check).unwrap().finish().unwrap();
    let names: Vec<_> = written.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["notice.csv", "notice.xlsx"]);
    let (sheets, cells) = workbook(&dir.path().join("notice.xlsx"));
    assert_eq!(sheets, ["发放公示"]);
    assert_eq!(cells[0].3, Data::String("本次无发放数据".into()));
}

/// Scale check, by hand (lines made on the fly, so the peak RSS is the reports'):
/// `REPORT_SCALE_LINES=1000000 /usr/bin/time -v cargo test --release --test
/// report_stream -- --ignored scale_stream --nocapture`.
#[test]
#[ignore]
fn scale_stream() {
    let n: u64 = std::env::var("REPORT_SCALE_LINES").ok().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let totals = RunTotals::default();
    let dir = tempfile::tempdir().unwrap();
    let start = std::time::Instant::now();
    let mut pr = PaidReports::create(dir.path(), head(&totals), ReportSet::Run).unwrap();
    let programs = [Program::Dibao, Program::Wubao, Program::Yimin];
    for (i, p) in programs.iter().enumerate() {
        let share = n / 3 + u64::from(i == 0) * (n % 3);
        for s in 1..=share {
            pr.push(&line(*p, s), "bank.txt").unwrap();
        }
    }
    let written = pr.finish().unwrap();
    eprintln!("{n} lines: {:?}", start.elapsed());
    for p in written {
        eprintln!("  {} {} bytes", p.file_name().unwrap().to_string_lossy(), fs::metadata(&p).unwrap().len());
    }
}

/// Past 1,000,000 lines a program's list goes on in a second sheet, and the first
/// is renamed `(1)`: `cargo test --release --test report_stream -- --ignored split`.
#[test]
#[ignore]
fn split_past_a_million_lines() {
    let totals = RunTotals::default();
    let dir = tempfile::tempdir().unwrap();
    let mut pr = PaidReports::create(dir.path(), head(&totals), ReportSet::Check).unwrap();
    for s in 1..=1_000_002 {
        pr.push(&line(Program::Dibao, s), "").unwrap();
    }
    pr.finish().unwrap();
    let mut wb: Xlsx<_> = open_workbook(dir.path().join("notice.xlsx")).unwrap();
    assert_eq!(wb.sheet_names(), ["城乡最低生活保障金(1)", "城乡最低生活保障金(2)"]);
    let second = wb.worksheet_range("城乡最低生活保障金(2)").unwrap();
    assert_eq!(second.get_value((3, 0)), Some(&Data::Float(1_000_001.0)));
    assert_eq!(second.get_value((5, 1)), Some(&Data::String("共2笔".into())));
    let total = Decimal::from(2 * 39_600 + 50 * (1_000_001 + 1_000_002)) / Decimal::from(100);
    assert_eq!(second.get_value((5, 5)), Some(&Data::Float(total.try_into().unwrap())));
}

#[test]
fn write_reports_still_groups_lines_given_in_any_order() {
    // write_reports always took lines in any order: its workbooks group them by
    // program (as the streamed ones do), its CSVs keep the order given.
    let lines = grouped_lines();
    let mut mixed = lines.clone();
    mixed.swap(0, lines.len() - 1);
    mixed.swap(1, 8);
    let totals = totals_of(&lines);
    let files: Vec<String> = mixed.iter().map(bank_file).collect();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_reports(a.path(), &report(&totals, &mixed, &files), ReportSet::Run).unwrap();
    let mut grouped = mixed.clone();
    grouped.sort_by_key(|l| l.program);
    stream(b.path(), &grouped, &totals, ReportSet::Run);
    for book in ["roster.xlsx", "notice.xlsx"] {
        assert_eq!(workbook(&a.path().join(book)), workbook(&b.path().join(book)), "{book}");
    }
    let notice = fs::read_to_string(a.path().join("notice.csv")).unwrap();
    let second = notice.lines().nth(1).unwrap();
    assert!(second.starts_with("yimin,"), "CSV keeps the order given: {second}");
}
