//! The ledger's history read back: the previous period per person (R06 and
//! the dropped), and a year's lines at once (the annual cap).

use super::*;

/// The previous period reads back per person: the lines that stand added up
/// (a basic line and a care fee; a failed original and its correction), a
/// returned line not at all; and only the people asked for are named, under
/// the greatest name of their standing lines.
#[test]
fn the_last_paid_period_reads_back_as_keys_and_names_only_who_is_asked() {
    use crate::domain::{id_key, LineKind, LineType};
    let dir = tempfile::tempdir().unwrap();
    let mut l = SqliteLedger::open(&dir.path().join("l.db")).unwrap();
    let (a, c, d) = ("110105194912310011", "11010519491231002X", "110105194912310038");
    let named = |e2e: &str, who: &str, name: &str, amount: i64| LedgerLine {
        name: name.into(),
        amount: Fen(amount),
        ..line(e2e, who, None, 0)
    };
    let care =
        LedgerLine { kind: LineKind { line_type: LineType::Care, covers: None }, ..named("E2", a, "张三丰", 50) };
    let lines = [named("E1", a, "张三", 100), care, named("E3", c, "王五", 100), named("E4", d, "赵六", 100)];
    l.commit_run(&run("R001"), &[file("f1")], &lines).unwrap();
    let (failed, returned) = (receipt_line("E3", PaymentStatus::Failed), receipt_line("E4", PaymentStatus::Returned));
    apply(&mut l, "r1", &[failed, returned], &mut plain);
    let mut fix = run("C001");
    fix.kind = BatchKind::Correction;
    let correction = LedgerLine { name: "李四".into(), ..line("E5", c, Some("E3"), 1) };
    l.commit_run(&fix, &[file("f2")], &in_file("f2", &[correction])).unwrap();

    let (last, paid) = l.last_paid_before(Program::Dibao, "2027-01".parse().unwrap()).unwrap().unwrap();
    assert_eq!(last, want_period());
    let key = |id: &str| id_key(id).unwrap();
    let want: PaidByPerson = [(key(a), Fen(150)), (key(c), Fen(100))].into_iter().collect();
    assert_eq!(paid, want);
    assert!(l.last_paid_before(Program::Wubao, "2027-01".parse().unwrap()).unwrap().is_none());
    assert!(l.last_paid_before(Program::Dibao, want_period()).unwrap().is_none(), "nothing before November");

    let asked = [key(c), key(a), key(d), key("110105194912310054")];
    let got = l.people_named(Program::Dibao, want_period(), &asked).unwrap();
    let want = [(key(a), a.to_string(), "张三丰".to_string()), (key(c), c.to_string(), "李四".to_string())];
    assert_eq!(got, want, "D was returned, the last one never paid; 王五 was the failed line's name");
    assert!(l.people_named(Program::Wubao, want_period(), &asked).unwrap().is_empty());
    assert!(l.people_named(Program::Dibao, want_period(), &[]).unwrap().is_empty());
    // Asked again (the temporary table is emptied between calls).
    assert_eq!(l.people_named(Program::Dibao, want_period(), &[key(c)]).unwrap(), want[1..]);
    // A few people's lines are found by index, never by reading the period.
    let mut stmt = l.conn.prepare(&format!("EXPLAIN QUERY PLAN {NAMED_PEOPLE_SQL}")).unwrap();
    let plan: Vec<String> =
        stmt.query_map(params!["dibao", 202611], |r| r.get(3)).unwrap().map(Result::unwrap).collect();
    for index in ["one_payment_per_person", "corrections_by_period"] {
        assert!(plan.iter().any(|d| d.contains(index)), "{index}: {plan:?}");
    }
    assert!(!plan.iter().any(|d| d.starts_with("SCAN p")), "{plan:?}");
}

/// The year's lines read at once add up as the periods read one by one do
/// (the trait's own way): the year's periods up to the one asked, not the year
/// before, nor later months, nor lines that failed or came back.
#[test]
fn a_year_read_at_once_is_its_periods_read_one_by_one() {
    use crate::domain::id_key;
    let dir = tempfile::tempdir().unwrap();
    let mut l = SqliteLedger::open(&dir.path().join("l.db")).unwrap();
    let (a, c) = ("110105194912310011", "11010519491231002X");
    let months = ["2026-10", "2026-11", "2026-12", "2027-01"];
    for (m, period) in months.iter().enumerate() {
        let period: Period = period.parse().unwrap();
        let dated = |e2e: String, who: &str, amount: i64| LedgerLine {
            period,
            amount: Fen(amount),
            ..line(&e2e, who, None, 0)
        };
        let lines = [dated(format!("A{m}"), a, 100 + m as i64), dated(format!("C{m}"), c, 1000 + m as i64)];
        let name = format!("f{m}");
        l.commit_run(&NewRun { period, ..run(&format!("R00{m}")) }, &[file(&name)], &in_file(&name, &lines)).unwrap();
    }
    apply(&mut l, "r1", &[receipt_line("C1", PaymentStatus::Failed)], &mut plain);
    // The trait's default: period by period.
    let by_period = |period: &str| {
        let period: Period = period.parse().unwrap();
        let mut out = PaidByPerson::default();
        let mut before = Period { month: period.month + 1, ..period };
        if period.month == 12 {
            before = Period { year: period.year + 1, month: 1 };
        }
        while let Some((q, amounts)) = l.last_paid_before(Program::Dibao, before).unwrap() {
            if q.year != period.year {
                break;
            }
            for (k, fen) in amounts {
                *out.entry(k).or_insert(Fen(0)) += fen;
            }
            before = q;
        }
        out
    };
    let key = |id: &str| id_key(id).unwrap();
    for period in months {
        let at_once = l.paid_in_year(Program::Dibao, period.parse().unwrap()).unwrap();
        assert_eq!(at_once, by_period(period), "{period}");
    }
    let dec = l.paid_in_year(Program::Dibao, "2026-12".parse().unwrap()).unwrap();
    let want: PaidByPerson = [(key(a), Fen(100 + 101 + 102)), (key(c), Fen(1000 + 1002))].into_iter().collect();
    assert_eq!(dec, want, "October to December; C's failed November line left out");
    let jan = l.paid_in_year(Program::Dibao, "2027-01".parse().unwrap()).unwrap();
    assert_eq!(jan, [(key(a), Fen(103)), (key(c), Fen(1003))].into_iter().collect::<PaidByPerson>());
    assert!(l.paid_in_year(Program::Wubao, "2026-12".parse().unwrap()).unwrap().is_empty());
}

/// The period's standing lines paid into the accounts asked (R05 of a
/// correction batch): each with its own version's account, payee and village;
/// not a failed or returned line, not another account, not another period.
#[test]
fn standing_lines_are_found_by_their_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = SqliteLedger::open(&dir.path().join("l.db")).unwrap();
    let (a, b, c, d) = ("110105194912310011", "11010519491231002X", "110105194912310038", "110105194912310054");
    let paid = |e2e: &str, who: &str, account: &str, village: &str| LedgerLine {
        account: account.into(),
        village: village.into(),
        ..line(e2e, who, None, 0)
    };
    let lines = [
        paid("E1", a, "6222000011112222", "东村"),
        paid("E2", b, "6222000011112222", "西村"),
        paid("E3", c, "6222000033334444", "南村"),
        paid("E4", d, "6222000011112222", "北村"),
    ];
    l.commit_run(&run("R001"), &[file("f1")], &lines).unwrap();
    apply(&mut l, "r1", &[receipt_line("E4", PaymentStatus::Returned)], &mut plain);
    // The same person (a) in December with another account: a version of its own.
    let mut dec = run("R001");
    dec.period = "2026-12".parse().unwrap();
    let later = LedgerLine { period: dec.period, ..paid("E5", a, "6222000055556666", "东村") };
    l.commit_run(&dec, &[file("f2")], &in_file("f2", &[later])).unwrap();

    let found = |period: Period, accounts: &[&str]| {
        let accounts: HashSet<&str> = accounts.iter().copied().collect();
        let mut out = Vec::new();
        l.for_each_standing_line(period, &accounts, &mut |p, id, account, _payee, village| {
            out.push((p, id.to_string(), account.to_string(), village.to_string()));
        })
        .unwrap();
        out.sort();
        out
    };
    let want = |id: &str, account: &str, village: &str| (Program::Dibao, id.into(), account.into(), village.into());
    assert_eq!(
        found(want_period(), &["6222000011112222", "6222000099990000"]),
        [want(a, "6222000011112222", "东村"), want(b, "6222000011112222", "西村")],
        "E4 came back; E3 is another account"
    );
    assert_eq!(found(want_period(), &["6222000055556666"]), [], "a's December account is not November's");
    assert_eq!(found(dec.period, &["6222000055556666"]), [want(a, "6222000055556666", "东村")]);
    assert_eq!(found(want_period(), &[]), []);
}
