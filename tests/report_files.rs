//! The report files of a small hand-built run: exact CSV text, masking, formula
//! injection (CSV and xlsx read back with calamine), the 汇总表 and the HTML page.

use std::fs;
use std::path::Path;

use calamine::{open_workbook, Data, Reader, Xlsx};
use disburse::domain::{
    Account, Change, ChangeKind, Code, EndToEndId, Exception, Failure, Fen, IdNumber, PayeeType, PaymentLine,
    PaymentStatus, Period, Program, SourcePos,
};
use disburse::report::{write_failures_csv, write_reports, ExceptionSource, ReportError, ReportSet, RunReport};
use disburse::totals::{PlaceKey, PlaceTotals, ProgramTotals, RunTotals, Tally};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

const BOM: &str = "\u{feff}";
const PERIOD: Period = Period { year: 2026, month: 11 };

/// A valid ID from its first 17 digits.
fn id(first17: &str) -> IdNumber {
    let check = IdNumber::check_char(first17.as_bytes());
    IdNumber::parse(&format!("{first17}{check}")).unwrap()
}

#[allow(clippy::too_many_arguments)]
fn line(p: Program, seq: u64, town: &str, village: &str, name: &str, id17: &str, acct: &str, fen: i64) -> PaymentLine {
    PaymentLine {
        program: p,
        end_to_end_id: EndToEndId::new(p, PERIOD, 'R', 1, seq),
        township: town.into(),
        village: village.into(),
        name: name.into(),
        id_number: id(id17),
        payee_name: name.into(),
        payee_type: PayeeType::SelfPaid,
        account: Account::parse(acct).unwrap(),
        bank: "农行".into(),
        amount: Fen(fen),
        household_size: Some(2),
        category: Default::default(),
        note: Default::default(),
        kind: Default::default(),
        pos: SourcePos { file: "roster.xlsx".into(), row: seq + 1 },
    }
}

const ID1: &str = "11010519491231002"; // → 11010519491231002X
const ID2: &str = "44030419851020123";
const ID3: &str = "51010219600101555";
const ACCT1: &str = "6222021234567890123";
const ACCT2: &str = "6228480000000000018";
const ACCT3: &str = "6217001234567890";

fn paid_lines() -> Vec<PaymentLine> {
    let mut wubao = line(Program::Wubao, 1, "河口乡", "河口村", "李四", ID3, ACCT3, 120_000);
    wubao.payee_type = PayeeType::Institution;
    wubao.payee_name = "河口乡敬老院".into();
    vec![
        line(Program::Dibao, 1, "城关镇", "东街社区", "张三", ID1, ACCT1, 39_600),
        line(Program::Dibao, 2, "城关镇", "西街社区", "=HYPERLINK(\"x\")", ID2, ACCT2, 50_050),
        wubao,
    ]
}

fn tally(lines: u64, amount: Decimal) -> Tally {
    Tally { lines, amount }
}

fn totals() -> RunTotals {
    let mut t = RunTotals::default();
    t.programs.insert(
        Program::Dibao,
        ProgramTotals {
            approved: tally(3, dec!(1196.50)),
            paid: tally(2, dec!(896.50)),
            held: tally(1, dec!(300)),
            ..Default::default()
        },
    );
    t.programs.insert(
        Program::Wubao,
        ProgramTotals {
            approved: tally(2, dec!(1201.005)),
            paid: tally(1, dec!(1200.00)),
            held: tally(1, dec!(1.005)),
            ..Default::default()
        },
    );
    let place = |p, town: &str, village: &str, paid, held| {
        (
            PlaceKey { program: p, township: town.into(), village: village.into() },
            PlaceTotals { households: 1, people: 2, paid, held },
        )
    };
    t.places.extend([
        place(Program::Dibao, "城关镇", "东街社区", tally(1, dec!(396.00)), tally(1, dec!(300))),
        place(Program::Dibao, "城关镇", "西街社区", tally(1, dec!(500.50)), Tally::default()),
        place(Program::Wubao, "河口乡", "河口村", tally(1, dec!(1200.00)), tally(1, dec!(1.005))),
    ]);
    t
}

fn exceptions() -> Vec<Exception> {
    vec![
        Exception {
            program: Program::Dibao,
            file: "dibao.xlsx".into(),
            row: 5,
            field: "id_number",
            code: Code::V02,
            name: "王五".into(),
            id_number_masked: "110105********1234".into(),
            message: "身份证号校验码错误，请核对后重新录入".into(),
        },
        Exception {
            program: Program::Wubao,
            file: "wubao.csv".into(),
            row: 7,
            field: "amount",
            code: Code::V04,
            name: "@赵六".into(),
            // A caller that forgot to mask, and a message quoting an account: both masked on output.
            id_number_masked: "510102196001015551".into(),
            message: "-金额1.005有三位小数；账号6222021234567890123".into(),
        },
    ]
}

fn changes() -> Vec<Change> {
    vec![
        Change {
            program: Program::Dibao,
            id_number_masked: "110105********002X".into(),
            name: "张三".into(),
            kind: ChangeKind::New,
            previous_amount: None,
            amount: Some(Fen(39_600)),
        },
        Change {
            program: Program::Dibao,
            id_number_masked: "440304********1234".into(),
            name: "<script>alert(1)</script>".into(),
            kind: ChangeKind::Dropped,
            previous_amount: Some(Fen(30_000)),
            amount: None,
        },
        Change {
            program: Program::Wubao,
            id_number_masked: "510102********5551".into(),
            name: "李四".into(),
            kind: ChangeKind::AmountChanged,
            previous_amount: Some(Fen(110_000)),
            amount: Some(Fen(120_000)),
        },
    ]
}

fn failures() -> Vec<Failure> {
    vec![Failure {
        program: Program::Dibao,
        end_to_end_id: "DB202611R0010000001".into(),
        township: "城关镇".into(),
        village: "东街社区".into(),
        name: "张三".into(),
        id_number_masked: "110105********002X".into(),
        amount: Fen(39_600),
        status: PaymentStatus::Failed,
        reason_code: "AC04".into(),
        reason_text: "账户6222021234567890123已销户".into(),
        action: "核实账户后更正发放".into(),
    }]
}

struct Fixture {
    totals: RunTotals,
    paid: Vec<PaymentLine>,
    bank_files: Vec<String>,
    exceptions: Vec<Exception>,
    changes: Vec<Change>,
    failures: Vec<Failure>,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            totals: totals(),
            paid: paid_lines(),
            bank_files: vec!["dibao_1.txt".into(), "dibao_1.txt".into(), "wubao_1.xml".into()],
            exceptions: exceptions(),
            changes: changes(),
            failures: failures(),
        }
    }

    fn report(&self) -> RunReport<'_> {
        RunReport {
            office_name: "某县民政局",
            period: PERIOD,
            generated_at: "2026-11-25 14:03".into(),
            totals: &self.totals,
            paid: &self.paid,
            bank_files: &self.bank_files,
            exceptions: ExceptionSource::List(&self.exceptions),
            changes: &self.changes,
            failures: &self.failures,
        }
    }
}

fn run_reports(set: ReportSet) -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let fx = Fixture::new();
    let written = write_reports(&dir.path().join("reports"), &fx.report(), set).unwrap();
    let names = written.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    (dir, names)
}

fn read(dir: &Path, name: &str) -> String {
    fs::read_to_string(dir.join("reports").join(name)).unwrap()
}

fn full_id(i: usize) -> String {
    [ID1, ID2, ID3].map(|s| id(s).as_str().to_string())[i].clone()
}

/// No full ID (any of the fixture's, or any 17 digits + check) and no run of 16+ digits.
fn assert_no_secrets(what: &str, text: &str) {
    for i in 0..3 {
        assert!(!text.contains(&full_id(i)), "{what} contains a full ID number");
    }
    for a in [ACCT1, ACCT2, ACCT3] {
        assert!(!text.contains(a), "{what} contains an account number");
    }
    let mut run = 0;
    for c in text.chars() {
        run = if c.is_ascii_digit() { run + 1 } else { 0 };
        assert!(run < 16, "{what} has a run of 16 or more digits");
    }
}

#[test]
fn run_writes_every_file_and_check_skips_paid_and_roster() {
    let (_d, run) = run_reports(ReportSet::Run);
    assert_eq!(
        run,
        [
            "summary.csv",
            "exceptions.csv",
            "notice.csv",
            "paid.csv",
            "changes.csv",
            "summary.xlsx",
            "roster.xlsx",
            "notice.xlsx",
            "report.html"
        ]
    );
    let (d, check) = run_reports(ReportSet::Check);
    assert!(!check.contains(&"paid.csv".to_string()) && !check.contains(&"roster.xlsx".to_string()));
    assert_eq!(check.len(), 7);
    assert!(!d.path().join("reports/paid.csv").exists());
    // Nothing temporary left behind.
    let leftovers: Vec<_> = fs::read_dir(d.path().join("reports"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn csv_contents_are_exact() {
    let (d, _) = run_reports(ReportSet::Run);
    let dir = d.path();
    assert_eq!(
        read(dir, "summary.csv"),
        format!(
            "{BOM}program,township,village,paid_lines,paid_amount,held_lines,held_amount\n\
             dibao,城关镇,东街社区,1,396.00,1,300.00\n\
             dibao,城关镇,西街社区,1,500.50,0,0.00\n\
             wubao,河口乡,河口村,1,1200.00,1,1.005\n"
        )
    );
    assert_eq!(
        read(dir, "exceptions.csv"),
        format!(
            "{BOM}program,file,row,field,code,severity,name,id_number_masked,message\n\
             dibao,dibao.xlsx,5,id_number,V02,hold,王五,110105********1234,身份证号校验码错误，请核对后重新录入\n\
             wubao,wubao.csv,7,amount,V04,hold,'@赵六,510102********5551,'-金额1.005有三位小数；账号***************0123\n"
        )
    );
    assert_eq!(
        read(dir, "notice.csv"),
        format!(
            "{BOM}program,township,village,name,id_number_masked,amount\n\
             dibao,城关镇,东街社区,张三,110105********002X,396.00\n\
             dibao,城关镇,西街社区,\"'=HYPERLINK(\"\"x\"\")\",{},500.50\n\
             wubao,河口乡,河口村,李四,{},1200.00\n",
            id(ID2).masked(),
            id(ID3).masked()
        )
    );
    assert_eq!(
        read(dir, "paid.csv"),
        format!(
            "{BOM}program,end_to_end_id,township,village,name,id_number,account,amount,bank_file\n\
             dibao,DB202611R0010000001,城关镇,东街社区,张三,11010519491231002X,{ACCT1},396.00,dibao_1.txt\n\
             dibao,DB202611R0010000002,城关镇,西街社区,\"'=HYPERLINK(\"\"x\"\")\",{},{ACCT2},500.50,dibao_1.txt\n\
             wubao,WB202611R0010000001,河口乡,河口村,李四,{},{ACCT3},1200.00,wubao_1.xml\n",
            full_id(1),
            full_id(2)
        )
    );
    assert_eq!(
        read(dir, "changes.csv"),
        format!(
            "{BOM}program,id_number_masked,name,change,previous_amount,amount\n\
             dibao,110105********002X,张三,new,,396.00\n\
             dibao,440304********1234,<script>alert(1)</script>,dropped,300.00,\n\
             wubao,510102********5551,李四,amount_changed,1100.00,1200.00\n"
        )
    );
}

#[test]
fn failures_csv_is_exact_and_masked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("returns/failures.csv");
    write_failures_csv(&path, &failures()).unwrap();
    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(
        text,
        format!(
            "{BOM}program,end_to_end_id,township,village,name,id_number_masked,amount,status,reason_code,reason_text,action\n\
             dibao,DB202611R0010000001,城关镇,东街社区,张三,110105********002X,396.00,failed,AC04,账户***************0123已销户,核实账户后更正发放\n"
        )
    );
    assert_no_secrets("failures.csv", &text);
}

#[test]
fn public_files_never_carry_full_ids_or_accounts() {
    let (d, _) = run_reports(ReportSet::Run);
    for name in ["notice.csv", "exceptions.csv", "changes.csv", "summary.csv", "report.html"] {
        assert_no_secrets(name, &read(d.path(), name));
    }
    for name in ["notice.xlsx", "summary.xlsx"] {
        let text = all_cells(&d.path().join("reports").join(name)).join("\n");
        assert_no_secrets(name, &text);
    }
    // The masked ID is there (so the check above is not vacuous).
    assert!(all_cells(&d.path().join("reports/notice.xlsx")).contains(&"110105********002X".to_string()));
}

/// Every cell of every sheet, as text.
fn all_cells(path: &Path) -> Vec<String> {
    let mut wb: Xlsx<_> = open_workbook(path).unwrap();
    let mut out = Vec::new();
    for name in wb.sheet_names() {
        let range = wb.worksheet_range(&name).unwrap();
        out.extend(range.used_cells().map(|(_, _, c)| c.to_string()));
    }
    out
}

fn cell(path: &Path, sheet: &str, row: u32, col: u32) -> Data {
    let mut wb: Xlsx<_> = open_workbook(path).unwrap();
    wb.worksheet_range(sheet).unwrap().get_value((row, col)).cloned().unwrap_or(Data::Empty)
}

fn formula(path: &Path, sheet: &str, row: u32, col: u32) -> String {
    let mut wb: Xlsx<_> = open_workbook(path).unwrap();
    wb.worksheet_formula(sheet).unwrap().get_value((row, col)).cloned().unwrap_or_default()
}

#[test]
fn formula_text_is_a_string_cell_in_xlsx() {
    let (d, _) = run_reports(ReportSet::Run);
    let reports = d.path().join("reports");
    // roster: row 3 = first data line, row 4 = the second (the =HYPERLINK name in column 3).
    let roster = reports.join("roster.xlsx");
    assert_eq!(cell(&roster, "城乡最低生活保障金", 4, 3), Data::String("=HYPERLINK(\"x\")".into()));
    assert_eq!(formula(&roster, "城乡最低生活保障金", 4, 3), "");
    // notice: name in column 1.
    let notice = reports.join("notice.xlsx");
    assert_eq!(cell(&notice, "城乡最低生活保障金", 4, 1), Data::String("=HYPERLINK(\"x\")".into()));
    assert_eq!(formula(&notice, "城乡最低生活保障金", 4, 1), "");
}

#[test]
fn roster_keeps_ids_and_accounts_as_text_and_totals() {
    let (d, _) = run_reports(ReportSet::Run);
    let roster = d.path().join("reports/roster.xlsx");
    let sheet = "城乡最低生活保障金";
    assert_eq!(cell(&roster, sheet, 2, 4), Data::String("身份证号".into()));
    assert_eq!(cell(&roster, sheet, 3, 4), Data::String("11010519491231002X".into()));
    assert_eq!(cell(&roster, sheet, 3, 5), Data::String(ACCT1.into()));
    assert_eq!(cell(&roster, sheet, 3, 6), Data::Float(396.0));
    assert_eq!(cell(&roster, sheet, 5, 0), Data::String("合计".into()));
    assert_eq!(cell(&roster, sheet, 5, 6), Data::Float(896.5));
    let wubao = "特困人员供养金";
    assert_eq!(cell(&roster, wubao, 3, 7), Data::String("收款人：河口乡敬老院（供养机构）".into()));
}

#[test]
fn summary_xlsx_has_grand_total_and_capitals() {
    let (d, _) = run_reports(ReportSet::Run);
    let path = d.path().join("reports/summary.xlsx");
    let wb: Xlsx<_> = open_workbook(&path).unwrap();
    assert_eq!(wb.sheet_names(), ["总表", "城乡最低生活保障金", "特困人员供养金"]);
    assert_eq!(cell(&path, "总表", 0, 0), Data::String("某县民政局 2026年11月 社会救助资金发放汇总表".into()));
    // 合计 row (after two program rows) and paid total 896.50 + 1200.00.
    assert_eq!(cell(&path, "总表", 5, 0), Data::String("合计".into()));
    assert_eq!(cell(&path, "总表", 5, 5), Data::Float(2096.5));
    assert_eq!(cell(&path, "总表", 5, 2), Data::Float(5.0));
    let cells = all_cells(&path);
    assert!(cells.contains(&"本次发放金额合计（大写）：人民币贰仟零玖拾陆元伍角".to_string()), "{cells:?}");
    for sign in ["制表人：", "审核人：", "负责人："] {
        assert!(cells.contains(&sign.to_string()));
    }
    // Program sheet: title, township subtotal, program total, 大写.
    assert_eq!(
        cell(&path, "城乡最低生活保障金", 0, 0),
        Data::String("某县民政局 2026年11月 城乡最低生活保障金发放汇总表".into())
    );
    assert_eq!(cell(&path, "城乡最低生活保障金", 5, 1), Data::String("小计".into()));
    assert_eq!(cell(&path, "城乡最低生活保障金", 5, 5), Data::Float(896.5));
    assert_eq!(cell(&path, "城乡最低生活保障金", 6, 0), Data::String("合计".into()));
    assert!(cells.contains(&"发放金额合计（大写）：人民币捌佰玖拾陆元伍角".to_string()));
}

#[test]
fn html_is_self_contained_escaped_and_has_charts() {
    let (d, _) = run_reports(ReportSet::Run);
    let html = read(d.path(), "report.html");
    assert!(html.contains("<svg"));
    assert!(!html.to_lowercase().contains("<script"), "injected script survived");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains("http"), "external reference");
    assert!(!html.contains("url("));
    assert!(!html.contains("<img") && !html.contains("<link"));
    for label in ["各项目合计", "各乡镇发放金额", "暂缓及提示原因", "与上期相比的变动", "银行回盘失败及退票"]
    {
        assert!(html.contains(label), "missing section {label}");
    }
    assert!(html.contains("身份证号校验码") || html.contains("身份证号无效"));
    assert!(html.contains("2,096.50"));
    assert!(html.contains("城关镇"));
}

#[test]
fn html_skips_failures_section_when_none() {
    let dir = tempfile::tempdir().unwrap();
    let mut fx = Fixture::new();
    fx.failures.clear();
    write_reports(dir.path(), &fx.report(), ReportSet::Check).unwrap();
    let html = fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(!html.contains("银行回盘失败"));
    assert!(html.contains("试算"));
}

#[test]
fn mismatched_bank_files_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut fx = Fixture::new();
    fx.bank_files.pop();
    let err = write_reports(dir.path(), &fx.report(), ReportSet::Run).unwrap_err();
    assert!(matches!(err, ReportError::BankFilesMismatch { paid: 3, files: 2 }));
    assert!(!dir.path().join("summary.csv").exists());
}

#[test]
fn empty_run_still_writes_openable_files() {
    let dir = tempfile::tempdir().unwrap();
    let totals = RunTotals::default();
    let r = RunReport {
        office_name: "某县民政局",
        period: PERIOD,
        generated_at: "2026-11-25 14:03".into(),
        totals: &totals,
        paid: &[],
        bank_files: &[],
        exceptions: ExceptionSource::List(&[]),
        changes: &[],
        failures: &[],
    };
    let written = write_reports(dir.path(), &r, ReportSet::Run).unwrap();
    assert_eq!(written.len(), 9);
    assert!(all_cells(&dir.path().join("roster.xlsx")).contains(&"本次无发放数据".to_string()));
    assert!(all_cells(&dir.path().join("summary.xlsx")).iter().any(|c| c.contains("零元整")));
}

/// Writes the sample reports into `$REPORT_SAMPLE_DIR` for a person to look at
/// (e.g. render report.html in a browser): `cargo test --test report_files -- --ignored`.
#[test]
#[ignore]
fn write_sample_for_eyes() {
    let Ok(dir) = std::env::var("REPORT_SAMPLE_DIR") else {
        return;
    };
    let mut fx = Fixture::new();
    let towns = ["城关镇", "河口乡", "石桥镇", "新华街道", "双龙乡", "白马镇", "青山乡", "一个名字特别特别长的乡镇"];
    for (i, town) in towns.iter().enumerate() {
        for v in 0..3u32 {
            let key =
                PlaceKey { program: Program::Dibao, township: town.to_string(), village: format!("第{}村", v + 1) };
            let paid = Decimal::from(1000 * (i as u32 + 1) * (v + 2)) + dec!(0.5);
            fx.totals.places.insert(
                key,
                PlaceTotals { households: 10, people: 23, paid: tally(12, paid), held: tally(v as u64, dec!(300)) },
            );
        }
    }
    for (i, code) in
        [Code::V01, Code::V03, Code::V03, Code::R01, Code::R01, Code::R01, Code::W01, Code::R04].iter().enumerate()
    {
        let mut e = fx.exceptions[0].clone();
        e.code = *code;
        e.row = 10 + i as u64;
        fx.exceptions.push(e);
    }
    write_reports(Path::new(&dir), &fx.report(), ReportSet::Run).unwrap();
}

/// Scale check, by hand: `REPORT_SCALE_LINES=1000000 cargo test --release --test
/// report_files -- --ignored scale`. Prints the time and file sizes.
#[test]
#[ignore]
fn scale_many_paid_lines() {
    let n: u64 = std::env::var("REPORT_SCALE_LINES").ok().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let template = paid_lines();
    let paid: Vec<PaymentLine> = (0..n)
        .map(|i| {
            let mut l = template[(i % 3) as usize].clone();
            l.end_to_end_id = EndToEndId::new(l.program, PERIOD, 'R', 1, i + 1);
            l
        })
        .collect();
    let bank_files = vec!["bank.txt".to_string(); paid.len()];
    let fx = Fixture::new();
    let r = RunReport { paid: &paid, bank_files: &bank_files, ..fx.report() };
    let dir = tempfile::tempdir().unwrap();
    let start = std::time::Instant::now();
    let written = write_reports(dir.path(), &r, ReportSet::Run).unwrap();
    eprintln!("{n} lines: {:?}", start.elapsed());
    for p in written {
        eprintln!("  {} {} bytes", p.file_name().unwrap().to_string_lossy(), fs::metadata(&p).unwrap().len());
    }
}
