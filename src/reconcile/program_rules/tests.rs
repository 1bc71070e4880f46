use std::collections::HashSet;

use super::*;
use crate::domain::{Cell, RosterRow, SourcePos, TextEncoding, TextRules};
use crate::validate::{check_row, Rules};

/// Born 1990-03-15 (36 on 2026-11-01).
const YOUNG: &str = "110105199003150015";
/// Born 1940-05-20 (86 on 2026-11-01).
const OLD: &str = "110105194005200011";

fn id(first17: &str) -> String {
    format!("{first17}{}", crate::domain::IdNumber::check_char(first17.as_bytes()))
}

fn row(id_number: &str, amount: &str, payee: (&str, &str), category: &str, line_type: &str) -> Checked {
    let r = RosterRow {
        program: Program::Gaoling,
        pos: SourcePos { file: "g.csv".into(), row: 2 },
        cells: vec![
            (Field::Township, Cell::Text("城关镇".into())),
            (Field::Village, Cell::Text("东村".into())),
            (Field::Name, Cell::Text("张三".into())),
            (Field::IdNumber, Cell::Text(id(&id_number[..17]).into())),
            (Field::Account, Cell::Text("6222081302002142160".into())),
            (Field::Amount, Cell::Text(amount.into())),
            (Field::PayeeName, Cell::Text(payee.0.into())),
            (Field::PayeeType, Cell::Text(payee.1.into())),
            (Field::Category, Cell::Text(category.into())),
            (Field::LineType, Cell::Text(line_type.into())),
        ],
    };
    check_row(&r, &Rules { cap: Fen(1_000_000), text: TextRules { encoding: TextEncoding::Utf8, name_max: None } })
}

fn apply(mut c: Checked, rules: &ProgramRules, lists: &[CheckList], dead: &HashSet<u64>) -> Vec<Code> {
    let cx = RowContext { rules, institutions: None, period_start: "2026-11-01".parse().unwrap(), lists, dead };
    check_row_rules(&mut c, &cx);
    c.exceptions.iter().map(|e| e.code).collect()
}

fn codes(c: Checked, rules: &ProgramRules) -> Vec<Code> {
    apply(c, rules, &[], &HashSet::new())
}

#[test]
fn ages_count_whole_years_on_the_first_day() {
    let d = |s: &str| s.parse::<NaiveDate>().unwrap();
    assert_eq!(age_on(d("1946-11-01"), d("2026-11-01")), 80);
    assert_eq!(age_on(d("1946-11-02"), d("2026-11-01")), 79);
    assert_eq!(age_on(d("2000-02-29"), d("2026-03-01")), 26);
    assert_eq!(age_on(d("2030-01-01"), d("2026-03-01")), 0);
}

#[test]
fn a01_holds_outside_the_bounds_only() {
    let rules = ProgramRules { min_age: Some(60), ..Default::default() };
    assert_eq!(codes(row(YOUNG, "100", ("张三", "self"), "", ""), &rules), [Code::A01]);
    assert!(codes(row(OLD, "100", ("张三", "self"), "", ""), &rules).is_empty());
    let rules = ProgramRules { max_age: Some(17), ..Default::default() };
    assert_eq!(codes(row(OLD, "100", ("张三", "self"), "", ""), &rules), [Code::A01]);
}

#[test]
fn a03_picks_the_highest_standard_reached() {
    let rules = ProgramRules {
        standards: vec![Standard { min_age: 80, amount: Fen(10_000) }, Standard { min_age: 90, amount: Fen(20_000) }],
        ..Default::default()
    };
    assert!(codes(row(OLD, "100", ("张三", "self"), "", ""), &rules).is_empty());
    assert_eq!(codes(row(OLD, "200", ("张三", "self"), "", ""), &rules), [Code::A03]);
    // A care line has its own amount: no standard applies.
    assert!(codes(row(OLD, "200", ("张三", "self"), "", "care"), &rules).is_empty());
}

#[test]
fn p01_payee_types_and_guardians() {
    let rules = ProgramRules { payees: Some(vec![PayeeType::SelfPaid]), ..Default::default() };
    assert_eq!(codes(row(OLD, "100", ("李四", "guardian"), "", ""), &rules), [Code::P01]);
    let rules =
        ProgramRules {
            guardian_only_for_minors: true, guardian_categories: vec!["失能".into()], ..Default::default()
        };
    assert_eq!(codes(row(YOUNG, "100", ("李四", "guardian"), "", ""), &rules), [Code::P01]);
    assert!(codes(row(YOUNG, "100", ("李四", "guardian"), "失能", ""), &rules).is_empty());
    assert!(codes(row("110105201503150015", "100", ("李四", "guardian"), "", ""), &rules).is_empty());
}

#[test]
fn p02_institution_categories_and_list() {
    let rules = ProgramRules { institution_categories: vec!["集中供养".into()], ..Default::default() };
    assert_eq!(codes(row(OLD, "100", ("张三", "self"), "集中供养", ""), &rules), [Code::P02]);
    assert!(codes(row(OLD, "100", ("敬老院", "institution"), "集中供养", ""), &rules).is_empty());
    let list = Institutions { by_account: [("6222081302002142160".to_string(), "城关敬老院".to_string())].into() };
    let mut c = row(OLD, "100", ("别的院", "institution"), "集中供养", "");
    let cx = RowContext {
        rules: &rules,
        institutions: Some(&list),
        period_start: "2026-11-01".parse().unwrap(),
        lists: &[],
        dead: &HashSet::new(),
    };
    check_row_rules(&mut c, &cx);
    assert_eq!(c.exceptions.iter().map(|e| e.code).collect::<Vec<_>>(), [Code::P02]);
    let mut c = row(OLD, "100", ("城关敬老院", "institution"), "集中供养", "");
    check_row_rules(&mut c, &cx);
    assert!(c.line.is_some());
}

#[test]
fn funeral_needs_a_death_and_another_payee() {
    let rules = ProgramRules { funeral_months: Some(6), ..Default::default() };
    let key = crate::domain::IdNumber::parse(&id(&OLD[..17])).unwrap().key();
    let dead: HashSet<u64> = [key].into();
    assert!(apply(row(OLD, "600", ("张小三", "guardian"), "", "funeral"), &rules, &[], &dead).is_empty());
    assert_eq!(
        apply(row(OLD, "600", ("张小三", "guardian"), "", "funeral"), &rules, &[], &HashSet::new()),
        [Code::A03]
    );
    assert_eq!(apply(row(OLD, "600", ("张三", "self"), "", "funeral"), &rules, &[], &dead), [Code::P01]);
    assert_eq!(funeral_amount_wrong(6, Some(Fen(10_000)), Fen(60_000)), None);
    assert!(funeral_amount_wrong(6, Some(Fen(10_000)), Fen(50_000)).unwrap().contains("600.00"));
    assert!(funeral_amount_wrong(6, None, Fen(50_000)).is_some());
}

#[test]
fn check_lists_hold_or_warn_and_name_the_list() {
    let key = crate::domain::IdNumber::parse(&id(&OLD[..17])).unwrap().key();
    let list = |hold: bool, programs: Vec<Program>| CheckList {
        name: "殡葬火化数据".into(),
        hold,
        programs,
        people: [(key, (Some("2026-10-03".parse().unwrap()), String::new()))].into(),
    };
    let mut c = row(OLD, "100", ("张三", "self"), "", "");
    let cx_lists = [list(true, vec![])];
    let cx = RowContext {
        rules: &ProgramRules::default(),
        institutions: None,
        period_start: "2026-11-01".parse().unwrap(),
        lists: &cx_lists,
        dead: &HashSet::new(),
    };
    check_row_rules(&mut c, &cx);
    assert!(c.line.is_none());
    assert_eq!(c.exceptions[0].code, Code::R03);
    assert!(c.exceptions[0].message.contains("殡葬火化数据"));
    assert_eq!(
        apply(
            row(OLD, "100", ("张三", "self"), "", ""),
            &ProgramRules::default(),
            &[list(false, vec![])],
            &HashSet::new()
        ),
        [Code::W03]
    );
    // Another program's list says nothing here.
    assert!(apply(
        row(OLD, "100", ("张三", "self"), "", ""),
        &ProgramRules::default(),
        &[list(true, vec![Program::Dibao])],
        &HashSet::new()
    )
    .is_empty());
}

#[test]
fn annual_cap_counts_what_was_paid_this_year() {
    assert_eq!(over_annual_cap(Fen(60_000), Fen(0), Fen(60_000), 2026), None);
    assert!(over_annual_cap(Fen(60_000), Fen(60_000), Fen(60_000), 2026).unwrap().contains("600.00"));
    assert!(over_annual_cap(Fen(60_000), Fen(30_000), Fen(30_001), 2026).is_some());
}
