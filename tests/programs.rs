//! Programs, lines and rules as data (SPEC §9), through the real binary on
//! generated offices: each case of issue 21's "Why" pays or holds as a clerk
//! expects, and a program code nobody built in works end to end.

mod common;

use std::fmt::Write as _;
use std::path::PathBuf;

use calamine::{Data, Reader};
use disburse::domain::IdNumber;
use disburse::ledger::{Ledger, SqliteLedger};

/// An ID number of someone born on `birth` (YYYYMMDD), person `n` of that day.
fn born(birth: &str, n: u32) -> String {
    let first17 = format!("330729{birth}{:03}", n % 1000);
    format!("{first17}{}", IdNumber::check_char(first17.as_bytes()))
}

/// A card number for person `n` (passes Luhn).
fn card(n: u64) -> String {
    common::gen::card(n)
}

/// One roster row: the columns of [`HEAD`].
#[derive(Clone)]
struct Row {
    name: String,
    id: String,
    account: String,
    amount: String,
    payee_name: String,
    payee_type: &'static str,
    category: &'static str,
    line_type: &'static str,
    covers: &'static str,
}

const HEAD: &str = "乡镇,村(社区),姓名,身份证号,银行账号,金额,收款人,收款人类型,类别,项目类型,所属期";

fn row(n: u64, name: &str, id: &str, amount: &str) -> Row {
    Row {
        name: name.to_string(),
        id: id.to_string(),
        account: card(n),
        amount: amount.to_string(),
        payee_name: String::new(),
        payee_type: "",
        category: "",
        line_type: "",
        covers: "",
    }
}

impl Row {
    fn paid_to(mut self, n: u64, payee: &str, payee_type: &'static str) -> Row {
        self.account = card(n);
        self.payee_name = payee.to_string();
        self.payee_type = payee_type;
        self
    }
    fn line(mut self, line_type: &'static str, covers: &'static str) -> Row {
        self.line_type = line_type;
        self.covers = covers;
        self
    }
    fn category(mut self, c: &'static str) -> Row {
        self.category = c;
        self
    }
}

struct Office {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    config: PathBuf,
}

/// An office whose `[programs.*]` tables are `programs` (code, extra TOML
/// lines), every one monthly, as pain.001, roster `rosters/{period}/CODE.csv`;
/// `extra` is appended to the config (check lists …).
fn office(programs: &[(&str, &str)], extra: &str) -> Office {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("office");
    std::fs::create_dir_all(dir.join("keys")).unwrap();
    let key = dir.join("keys/signing.pem");
    common::expect(&["keygen", "--algorithm", "ed25519", "--out", key.to_str().unwrap()], 0);
    let mut toml = String::from(
        "[office]\nname = \"测试县民政局\"\nuscc = \"113307290025311719\"\n[ledger]\npath = \"state/ledger.db\"\n\
         [output]\ndir = \"out\"\n[signing]\nalgorithm = \"ed25519\"\nkey = \"keys/signing.pem\"\n\
         [inputs]\napprovals = \"rosters/{period}/approvals.csv\"\nstops = \"stops.csv\"\n\
         [payers.main]\nname = \"测试县民政局社会救助资金专户\"\naccount = \"33001610000053012345\"\n\
         bank_code = \"105331000011\"\n",
    );
    for (code, rules) in programs {
        write!(
            toml,
            "[programs.{code}]\nschedule = \"monthly\"\npayer = \"main\"\nformat = \"pain001-v09\"\n\
             roster = \"rosters/{{period}}/{code}.csv\"\ncap = \"20000.00\"\n{rules}\n"
        )
        .unwrap();
    }
    toml.push_str(extra);
    let config = dir.join("disburse.toml");
    std::fs::write(&config, toml).unwrap();
    std::fs::write(dir.join("stops.csv"), "id_number,reason,effective,program\n").unwrap();
    Office { _tmp: tmp, dir, config }
}

impl Office {
    fn c(&self) -> &str {
        self.config.to_str().unwrap()
    }

    /// Writes the period's rosters and an approvals file that matches them.
    fn rosters(&self, period: &str, rosters: &[(&str, Vec<Row>)]) {
        let dir = self.dir.join("rosters").join(period);
        std::fs::create_dir_all(&dir).unwrap();
        let mut approvals = String::from("program,count,total,reference,approved_by,approved_on\n");
        for (code, rows) in rosters {
            let mut csv = format!("{HEAD}\n");
            let mut total = rust_decimal::Decimal::ZERO;
            for r in rows {
                writeln!(
                    csv,
                    "城关镇,东村,{},{},{},{},{},{},{},{},{}",
                    r.name, r.id, r.account, r.amount, r.payee_name, r.payee_type, r.category, r.line_type, r.covers
                )
                .unwrap();
                total += r.amount.parse::<rust_decimal::Decimal>().unwrap();
            }
            std::fs::write(dir.join(format!("{code}.csv")), csv).unwrap();
            writeln!(approvals, "{code},{},{total},民审〔2026〕{}号,王科长,2026-01-05", rows.len(), rows.len())
                .unwrap();
        }
        std::fs::write(dir.join("approvals.csv"), approvals).unwrap();
    }

    /// Runs the period. A run that pays nothing writes no files: then `check`
    /// writes the exception list the tests read.
    fn run(&self, period: &str) -> String {
        let listed = self.dir.join("out").join(period).join("reports/exceptions.csv");
        let _ = std::fs::remove_file(&listed);
        let out = common::disburse(&["run", "--config", self.c(), "--period", period]);
        let code = out.status.code();
        assert!(matches!(code, Some(0) | Some(2)), "run {period} exited {code:?}: {}", common::text(&out));
        if !listed.exists() {
            let check = common::disburse(&["check", "--config", self.c(), "--period", period]);
            let checked = self.dir.join("out").join(period).join("check/reports/exceptions.csv");
            let checked = if checked.exists() { checked } else { listed.clone() };
            assert!(checked.exists(), "check {period}: {}", common::text(&check));
            if checked != listed {
                std::fs::create_dir_all(listed.parent().unwrap()).unwrap();
                std::fs::copy(&checked, &listed).unwrap();
            }
        }
        common::text(&out)
    }

    /// (program, file row, code, message) of the period's exceptions.
    fn exceptions(&self, period: &str) -> Vec<(String, u64, String, String)> {
        let rows = common::read_csv(&self.dir.join("out").join(period).join("reports/exceptions.csv"));
        rows[1..].iter().map(|r| (r[0].clone(), r[2].parse().unwrap(), r[4].clone(), r[8].clone())).collect()
    }

    fn codes_at(&self, period: &str, program: &str, row: u64) -> Vec<String> {
        self.exceptions(period).into_iter().filter(|e| e.0 == program && e.1 == row).map(|e| e.2).collect()
    }

    fn ledger(&self) -> SqliteLedger {
        SqliteLedger::open(&self.dir.join("state/ledger.db")).unwrap()
    }

    /// (program, ID, line type, covers, amount) of every line of the period.
    fn paid(&self, period: &str) -> Vec<(String, String, String, String, String)> {
        let lines = self.ledger().payments_of_period(period.parse().unwrap()).unwrap();
        lines
            .into_iter()
            .map(|l| {
                (
                    l.program.code().to_string(),
                    l.id_number.to_string(),
                    l.kind.line_type.code().to_string(),
                    l.kind.covers_text(),
                    l.amount.yuan_string(),
                )
            })
            .collect()
    }

    fn paid_count(&self, period: &str, program: &str, id: &str) -> usize {
        self.paid(period).iter().filter(|l| l.0 == program && l.1 == id).count()
    }
}

/// Rows are numbered as a spreadsheet shows them: the header is row 1.
const FIRST: u64 = 2;

#[test]
fn a_tekun_persons_basic_support_and_care_fee_are_both_paid_but_never_twice() {
    let o = office(&[("wubao", "")], "");
    let a = born("19400101", 1);
    let b = born("19410101", 2);
    let rows = vec![
        row(1, "张老汉", &a, "1000.00").category("分散供养"),
        row(1, "张老汉", &a, "300.00").paid_to(9, "李照料", "照料人").line("护理费", "").category("分散供养"),
        row(2, "王老汉", &b, "1000.00"),
        row(2, "王老汉", &b, "1000.00"),
    ];
    o.rosters("2026-03", &[("wubao", rows.clone())]);
    o.run("2026-03");
    assert_eq!(o.paid_count("2026-03", "wubao", &a), 2, "basic and care: {:?}", o.exceptions("2026-03"));
    assert!(o.codes_at("2026-03", "wubao", FIRST).is_empty() && o.codes_at("2026-03", "wubao", FIRST + 1).is_empty());
    assert_eq!(o.codes_at("2026-03", "wubao", FIRST + 2), ["R01"], "a second basic line is still R01");
    assert_eq!(o.paid_count("2026-03", "wubao", &b), 0);
    // The same roster again: both of 张老汉's lines are already paid (R04), none twice.
    o.run("2026-03");
    assert_eq!(o.codes_at("2026-03", "wubao", FIRST), ["R04"]);
    assert_eq!(o.codes_at("2026-03", "wubao", FIRST + 1), ["R04"]);
    assert_eq!(o.paid_count("2026-03", "wubao", &a), 2);
}

#[test]
fn an_age_bound_holds_a_man_too_young_for_the_60_plus_subsidy() {
    let o = office(&[("youfu", "min_age = 60")], "");
    let young = born("19900315", 1);
    let old = born("19600301", 2);
    o.rosters("2026-03", &[("youfu", vec![row(1, "李青年", &young, "500.00"), row(2, "赵老兵", &old, "500.00")])]);
    o.run("2026-03");
    assert_eq!(o.codes_at("2026-03", "youfu", FIRST), ["A01"]);
    let msg = &o.exceptions("2026-03")[0].3;
    assert!(msg.contains("35周岁") && msg.contains("60"), "{msg}");
    assert!(!msg.contains(&young), "the message masks the ID: {msg}");
    assert_eq!(o.paid_count("2026-03", "youfu", &old), 1, "66 on 2026-03-01");
}

#[test]
fn centrally_supported_money_goes_to_a_listed_institution_only() {
    let o = office(&[("wubao", "institutions = \"institutions.csv\"")], "");
    std::fs::write(o.dir.join("institutions.csv"), format!("name,account,bank\n城关敬老院,{},农商行\n", card(50)))
        .unwrap();
    let ids: Vec<String> = (1..=3).map(|n| born("19380101", n)).collect();
    let rows = vec![
        row(1, "甲", &ids[0], "900.00").category("集中供养"),
        row(2, "乙", &ids[1], "900.00").category("集中供养").paid_to(50, "城关敬老院", "机构"),
        row(3, "丙", &ids[2], "900.00").category("集中供养").paid_to(51, "某某养老院", "机构"),
    ];
    o.rosters("2026-03", &[("wubao", rows)]);
    o.run("2026-03");
    assert_eq!(o.codes_at("2026-03", "wubao", FIRST), ["P02"], "集中供养 to a personal card");
    assert!(o.codes_at("2026-03", "wubao", FIRST + 1).is_empty());
    assert_eq!(o.codes_at("2026-03", "wubao", FIRST + 2), ["P02"], "an institution not on the list");
    assert_eq!(o.paid("2026-03").len(), 1);
}

#[test]
fn a_guardian_receives_only_for_a_minor_or_an_incapacitated_adult() {
    let o = office(&[("dibao", "")], "");
    let adult = born("19800101", 1);
    let child = born("20150101", 2);
    let disabled = born("19850101", 3);
    let rows = vec![
        row(1, "成年人", &adult, "400.00").paid_to(7, "某监护", "监护人"),
        row(2, "小孩", &child, "400.00").paid_to(8, "孩监护", "监护人"),
        row(3, "残疾人", &disabled, "400.00").paid_to(9, "残监护", "监护人").category("重度残疾"),
    ];
    o.rosters("2026-03", &[("dibao", rows)]);
    o.run("2026-03");
    assert_eq!(o.codes_at("2026-03", "dibao", FIRST), ["P01"]);
    assert!(o.codes_at("2026-03", "dibao", FIRST + 1).is_empty());
    assert!(o.codes_at("2026-03", "dibao", FIRST + 2).is_empty());
    assert_eq!(o.paid("2026-03").len(), 2);
}

#[test]
fn the_annual_cap_holds_the_second_and_third_600_of_the_year() {
    let o = office(&[("yimin", "")], "");
    let m = born("19700101", 1);
    let other = born("19710101", 2);
    for (month, n) in [("2026-01", 0), ("2026-02", 1), ("2026-03", 2)] {
        o.rosters(month, &[("yimin", vec![row(1, "移民甲", &m, "600.00"), row(2, "移民乙", &other, "300.00")])]);
        o.run(month);
        let codes = o.codes_at(month, "yimin", FIRST);
        if n == 0 {
            assert!(codes.is_empty(), "{month}: {codes:?}");
        } else {
            assert_eq!(codes, ["A02"], "{month}");
            assert!(o.exceptions(month)[0].3.contains("600.00"));
        }
        assert_eq!(o.paid_count(month, "yimin", &m), usize::from(n == 0), "{month}");
    }
    // 移民乙 had 300 a month: 600 by February, the third is over the cap.
    assert_eq!(o.paid_count("2026-02", "yimin", &other), 1);
    assert_eq!(o.codes_at("2026-03", "yimin", FIRST + 1), ["A02"]);
    // A new year starts again.
    o.rosters("2027-01", &[("yimin", vec![row(1, "移民甲", &m, "600.00")])]);
    o.run("2027-01");
    assert_eq!(o.paid_count("2027-01", "yimin", &m), 1);
}

#[test]
fn a_deceased_veterans_funeral_grant_is_paid_and_a_wrong_amount_held() {
    let o = office(&[("youfu", "")], "");
    let d = born("19300101", 1);
    let e = born("19310101", 2);
    let f = born("19320101", 3);
    let september =
        vec![row(1, "老兵丁", &d, "2000.00"), row(2, "老兵戊", &e, "1500.00"), row(3, "老兵己", &f, "1000.00")];
    o.rosters("2026-09", &[("youfu", september)]);
    o.run("2026-09");
    std::fs::write(
        o.dir.join("stops.csv"),
        format!(
            "id_number,reason,effective,program\n{d},death,2026-09-20,\n{e},death,2026-09-25,youfu\n\
             {f},death,2026-09-26,\n"
        ),
    )
    .unwrap();
    let rows = vec![
        row(1, "老兵丁", &d, "2000.00"),
        row(1, "老兵丁", &d, "12000.00").paid_to(11, "丁家属", "监护人").line("丧葬补助", ""),
        row(2, "老兵戊", &e, "8000.00").paid_to(12, "戊家属", "监护人").line("funeral", ""),
        row(3, "老兵己", &f, "6000.00").line("funeral", ""),
    ];
    o.rosters("2026-10", &[("youfu", rows)]);
    o.run("2026-10");
    assert_eq!(o.codes_at("2026-10", "youfu", FIRST), ["R03"], "the dead are not paid their pension");
    assert!(o.codes_at("2026-10", "youfu", FIRST + 1).is_empty(), "6 × 2000 to the family: paid");
    assert_eq!(o.codes_at("2026-10", "youfu", FIRST + 2), ["A03"], "6 × 1500 is 9000, not 8000");
    assert!(o.exceptions("2026-10").iter().any(|x| x.3.contains("9000.00")));
    assert!(o.codes_at("2026-10", "youfu", FIRST + 3).contains(&"P01".to_string()), "not to the dead person");
    let paid = o.paid("2026-10");
    assert_eq!(paid, [("youfu".into(), d.clone(), "funeral".into(), String::new(), "12000.00".into())]);
}

#[test]
fn a_stop_for_one_program_leaves_the_others_paid() {
    let o = office(&[("dibao", ""), ("youfu", "")], "");
    let f = born("19500101", 1);
    std::fs::write(
        o.dir.join("stops.csv"),
        format!("id_number,reason,effective,program\n{f},cancelled,2026-02-01,低保\n"),
    )
    .unwrap();
    o.rosters(
        "2026-03",
        &[("dibao", vec![row(1, "两项人", &f, "400.00")]), ("youfu", vec![row(1, "两项人", &f, "800.00")])],
    );
    o.run("2026-03");
    assert_eq!(o.codes_at("2026-03", "dibao", FIRST), ["R03"]);
    assert!(o.exceptions("2026-03")[0].3.contains("停发城乡最低生活保障金"));
    assert!(o.codes_at("2026-03", "youfu", FIRST).is_empty());
    assert_eq!(o.paid_count("2026-03", "youfu", &f), 1);
    assert_eq!(o.paid_count("2026-03", "dibao", &f), 0);
    // An empty program column stops every program.
    std::fs::write(o.dir.join("stops.csv"), format!("id_number,reason,effective,program\n{f},moved,2026-02-01,\n"))
        .unwrap();
    o.rosters(
        "2026-04",
        &[("dibao", vec![row(1, "两项人", &f, "400.00")]), ("youfu", vec![row(1, "两项人", &f, "800.00")])],
    );
    o.run("2026-04");
    assert_eq!(o.codes_at("2026-04", "youfu", FIRST), ["R03"]);
}

#[test]
fn the_approvals_reference_and_approver_reach_ledger_manifest_and_summary() {
    let o = office(&[("dibao", "")], "");
    o.rosters("2026-03", &[("dibao", vec![row(1, "审批人", &born("19600101", 1), "400.00")])]);
    o.run("2026-03");
    let approvals = o.ledger().approvals_of_period("2026-03".parse().unwrap()).unwrap();
    assert_eq!(approvals.len(), 1);
    assert_eq!((approvals[0].1.reference.as_str(), approvals[0].1.approved_by.as_str()), ("民审〔2026〕1号", "王科长"));
    let manifest = std::fs::read_to_string(o.dir.join("out/2026-03/manifest.json")).unwrap();
    let m: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    let dibao = &m["programs"]["dibao"];
    assert_eq!(dibao["approval_reference"], "民审〔2026〕1号", "{manifest}");
    assert_eq!(dibao["approved_by"], "王科长");
    assert_eq!(dibao["approved_on"], "2026-01-05");
    let mut wb = calamine::open_workbook_auto(o.dir.join("out/2026-03/reports/summary.xlsx")).unwrap();
    let sheet = wb.worksheet_range("总表").unwrap();
    let cells: Vec<String> = sheet.rows().flatten().map(Data::to_string).collect();
    assert!(cells.iter().any(|c| c.contains("民审〔2026〕1号") && c.contains("王科长")), "{cells:?}");
}

#[test]
fn a_program_code_nobody_built_in_works_end_to_end() {
    let o = office(
        &[("nongken_buzhu", "name = \"农垦职工生活补助\"\nmin_age = 18\nannual_cap = \"1000.00\""), ("dibao", "")],
        "",
    );
    let p = born("19700101", 1);
    let kid = born("20150101", 2);
    o.rosters(
        "2026-03",
        &[
            ("nongken_buzhu", vec![row(1, "农垦甲", &p, "700.00"), row(2, "农垦乙", &kid, "700.00")]),
            ("dibao", vec![row(3, "低保丙", &born("19700101", 3), "400.00")]),
        ],
    );
    let out = o.run("2026-03");
    assert!(out.contains("nongken_buzhu"), "{out}");
    assert_eq!(o.codes_at("2026-03", "nongken_buzhu", FIRST + 1), ["A01"]);
    assert_eq!(o.paid_count("2026-03", "nongken_buzhu", &p), 1);
    let bank: Vec<String> = std::fs::read_dir(o.dir.join("out/2026-03/bank"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert!(bank.iter().any(|f| f.starts_with("NB202603") && f.ends_with(".xml")), "{bank:?}");
    let refs: Vec<String> = o
        .ledger()
        .payments_of_period("2026-03".parse().unwrap())
        .unwrap()
        .iter()
        .map(|l| l.end_to_end_id.to_string())
        .collect();
    assert!(
        refs.iter().any(|r| r.starts_with("NB202603")) && refs.iter().any(|r| r.starts_with("DB202603")),
        "{refs:?}"
    );
    let wb = calamine::open_workbook_auto(o.dir.join("out/2026-03/reports/summary.xlsx")).unwrap();
    assert!(wb.sheet_names().iter().any(|n| n == "农垦职工生活补助"), "{:?}", wb.sheet_names());
    // Its annual cap counts across runs.
    o.rosters("2026-04", &[("nongken_buzhu", vec![row(1, "农垦甲", &p, "700.00")]), ("dibao", vec![])]);
    o.run("2026-04");
    assert_eq!(o.codes_at("2026-04", "nongken_buzhu", FIRST), ["A02"]);
    // A code without a name is refused with what to write.
    let bad = office(&[("xin_xiangmu", "")], "");
    let out = common::disburse(&["check", "--config", bad.c(), "--period", "2026-03"]);
    assert!(common::text(&out).contains("name ="), "{}", common::text(&out));
}

#[test]
fn check_lists_hold_or_warn_and_name_the_list() {
    let extra = "[[checklists]]\nname = \"殡葬火化数据\"\nfile = \"lists/cremation.csv\"\neffect = \"hold\"\nprograms = [\"dibao\"]\n\
                 [[checklists]]\nname = \"财政供养人员名单\"\nfile = \"lists/payroll.csv\"\neffect = \"warn\"\n";
    let o = office(&[("dibao", ""), ("yimin", "")], extra);
    let cremated = born("19400101", 1);
    let official = born("19700101", 2);
    std::fs::create_dir_all(o.dir.join("lists")).unwrap();
    std::fs::write(o.dir.join("lists/cremation.csv"), format!("{cremated},2026-02-11,火化\n")).unwrap();
    std::fs::write(o.dir.join("lists/payroll.csv"), format!("身份证号,备注\n{official},县直单位\n")).unwrap();
    o.rosters(
        "2026-03",
        &[
            ("dibao", vec![row(1, "已火化", &cremated, "400.00"), row(2, "公职人", &official, "400.00")]),
            ("yimin", vec![row(1, "已火化", &cremated, "300.00")]),
        ],
    );
    o.run("2026-03");
    assert_eq!(o.codes_at("2026-03", "dibao", FIRST), ["R03"]);
    assert_eq!(o.codes_at("2026-03", "dibao", FIRST + 1), ["W03"]);
    let ex = o.exceptions("2026-03");
    assert!(ex.iter().any(|e| e.2 == "R03" && e.3.contains("殡葬火化数据")));
    assert!(ex.iter().any(|e| e.2 == "W03" && e.3.contains("财政供养人员名单")));
    assert_eq!(o.paid_count("2026-03", "dibao", &official), 1, "a warn list pays");
    assert_eq!(o.paid_count("2026-03", "yimin", &cremated), 1, "the hold list names dibao only");
}

#[test]
fn back_pay_for_a_month_already_paid_is_held() {
    let o = office(&[("dibao", "")], "");
    let g = born("19600101", 1);
    o.rosters("2026-02", &[("dibao", vec![row(1, "补发人", &g, "400.00")])]);
    o.run("2026-02");
    let rows = vec![
        row(1, "补发人", &g, "400.00"),
        row(1, "补发人", &g, "400.00").line("补发", "2026-02"),
        row(1, "补发人", &g, "400.00").line("back_pay", "2026-01"),
        row(1, "补发人", &g, "50.00").line("one_off", ""),
    ];
    o.rosters("2026-03", &[("dibao", rows)]);
    o.run("2026-03");
    assert!(o.codes_at("2026-03", "dibao", FIRST).is_empty());
    assert_eq!(o.codes_at("2026-03", "dibao", FIRST + 1), ["A04"]);
    assert!(o.codes_at("2026-03", "dibao", FIRST + 2).is_empty(), "January was never paid");
    assert!(o.codes_at("2026-03", "dibao", FIRST + 3).is_empty(), "提标补差 as a one-off");
    assert_eq!(o.paid_count("2026-03", "dibao", &g), 3);
    // A back pay without the month it covers is held before anything is paid.
    o.rosters("2026-04", &[("dibao", vec![row(1, "补发人", &g, "400.00").line("补发", "")])]);
    o.run("2026-04");
    assert_eq!(o.codes_at("2026-04", "dibao", FIRST), ["V01"]);
}

/// The ledger's index refuses a second payment of one (person, program,
/// period, line type, covers) even when the pipeline's own checks are bypassed:
/// the schema itself keeps the rule.
#[test]
fn the_ledger_index_keys_line_type_and_covers() {
    let o = office(&[("wubao", "")], "");
    let a = born("19400101", 1);
    o.rosters("2026-03", &[("wubao", vec![row(1, "张", &a, "100.00"), row(1, "张", &a, "30.00").line("care", "")])]);
    o.run("2026-03");
    let db = rusqlite::Connection::open(o.dir.join("state/ledger.db")).unwrap();
    // A payment row (schema v11) copied with a reference of its own: the same
    // key again, then the same person under another line type and month.
    let copy = |line_type: &str, covers: &str, reference: &str| {
        db.execute(
            "INSERT INTO payment_rows (run_id, program_id, period, person, version, amount_fen, file_id, ref_seq, \
             end_to_end_id, original_id, retry, line_type, covers) SELECT run_id, program_id, period, person, version, \
             amount_fen, file_id, NULL, ?3, original_id, retry, COALESCE(?1, line_type), COALESCE(?2, covers) \
             FROM payment_rows WHERE line_type = 'basic' LIMIT 1",
            rusqlite::params![
                (!line_type.is_empty()).then_some(line_type),
                (!line_type.is_empty()).then_some(covers),
                reference
            ],
        )
    };
    let dup = copy("", "", "X1");
    assert!(dup.is_err(), "a second identical line is refused by the index");
    let other = copy("back_pay", "2026-01", "X2");
    assert!(other.is_ok(), "{other:?}");
}

mod never_twice {
    //! Property: whatever rosters come, in whatever runs, the ledger never holds
    //! two original payments of one (person, program, period, line type,
    //! covers); and a line that is alone on its key in the first run is paid.
    use std::collections::{BTreeMap, BTreeSet};

    use proptest::prelude::*;

    use super::*;

    /// (person 0–2, line type, covered month for a back pay).
    fn line() -> impl Strategy<Value = (u32, &'static str, &'static str)> {
        let kind = prop_oneof![
            3 => Just(("", "")),
            2 => Just(("care", "")),
            1 => Just(("one_off", "")),
            1 => Just(("funeral", "")),
            2 => Just(("back_pay", "2026-01")),
            2 => Just(("back_pay", "2026-02")),
        ];
        (0u32..3, kind).prop_map(|(p, (t, c))| (p, t, c))
    }

    fn rows(lines: &[(u32, &'static str, &'static str)]) -> Vec<Row> {
        lines
            .iter()
            .map(|&(p, t, c)| {
                let name = ["甲", "乙", "丙"][p as usize];
                let r = row(u64::from(p), &format!("人{name}"), &born("19500101", p), "100.00").line(t, c);
                if t == "funeral" {
                    r.paid_to(90 + u64::from(p), &format!("家属{name}"), "监护人")
                } else {
                    r
                }
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]
        #[test]
        fn line_types_never_pay_one_key_twice_even_across_runs(
            february in proptest::collection::vec(line(), 0..4),
            runs in proptest::collection::vec(proptest::collection::vec(line(), 1..7), 1..4),
        ) {
            let o = office(&[("wubao", "funeral_months = 1")], "");
            o.rosters("2026-02", &[("wubao", rows(&february))]);
            o.run("2026-02");
            for (k, run) in runs.iter().enumerate() {
                o.rosters("2026-03", &[("wubao", rows(run))]);
                o.run("2026-03");
                let mut seen: BTreeMap<(String, String, String), usize> = BTreeMap::new();
                for (_, id, t, c, _) in o.paid("2026-03") {
                    *seen.entry((id, t, c)).or_default() += 1;
                }
                prop_assert!(seen.values().all(|&n| n == 1), "run {k}: {seen:?}");
                if k == 0 {
                    // Alone on its key, a basic, care or one-off line is paid.
                    let mut count: BTreeMap<(u32, &str, &str), usize> = BTreeMap::new();
                    for &l in run {
                        *count.entry(l).or_default() += 1;
                    }
                    let paid: BTreeSet<(String, String)> =
                        seen.keys().map(|(id, t, _)| (id.clone(), t.clone())).collect();
                    for (&(p, t, _), &n) in &count {
                        if n == 1 && matches!(t, "" | "care" | "one_off") {
                            let t = if t.is_empty() { "basic" } else { t };
                            prop_assert!(paid.contains(&(born("19500101", p), t.to_string())), "{p} {t} not paid: {paid:?} {:?}", o.exceptions("2026-03"));
                        }
                    }
                }
            }
        }
    }
}
