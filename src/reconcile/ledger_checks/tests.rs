use super::*;

fn p(s: &str) -> Period {
    s.parse().unwrap()
}

fn entry(program: Program, id: u64) -> Entry {
    Entry { program, row: id as u32, id, institution: false, payable: true, kind: 0 }
}

const QUARTERLY: DueMonths =
    DueMonths([true, false, false, true, false, false, true, false, false, true, false, false]);

#[test]
fn a_payment_covers_its_month_and_the_months_until_the_next_due_one() {
    let annual = DueMonths::from_fn(|m| m == 1);
    let half = DueMonths::from_fn(|m| m == 1 || m == 7);
    let cases = [
        (DueMonths::MONTHLY, "2026-02", &["2026-02"][..], &["2026-01", "2026-03"][..]),
        (QUARTERLY, "2026-01", &["2026-01", "2026-02", "2026-03"], &["2025-12", "2026-04"]),
        (QUARTERLY, "2026-10", &["2026-10", "2026-12"], &["2027-01"]),
        (half, "2026-07", &["2026-07", "2026-12"], &["2027-01", "2026-06"]),
        (annual, "2026-01", &["2026-01", "2026-06", "2026-12"], &["2027-01", "2025-12"]),
        // Paid in a month that is not due (the schedule changed): up to the next due month.
        (QUARTERLY, "2026-02", &["2026-02", "2026-03"], &["2026-04", "2026-01"]),
    ];
    for (due, paid_in, covered, not) in cases {
        let c = Coverage::of(&due, p(paid_in));
        for m in covered {
            assert!(c.contains(p(m)), "{paid_in} covers {m}");
        }
        for m in not {
            assert!(!c.contains(p(m)), "{paid_in} does not cover {m}");
        }
    }
}

#[test]
fn periods_to_compare_are_the_partners_payments_that_overlap() {
    let known: Vec<Period> = ["2025-10", "2026-01", "2026-02", "2026-03", "2026-04"].map(p).to_vec();
    // 低保 (monthly) in 2026-02: 特困 quarterly paid in 2026-01 covers it (and
    // one paid in 2026-02 would, were the ledger to hold one); 2025-10 does not.
    let got = periods_to_compare(&DueMonths::MONTHLY, p("2026-02"), &QUARTERLY, &known);
    assert_eq!(got, vec![p("2026-01"), p("2026-02")]);
    let got = periods_to_compare(&DueMonths::MONTHLY, p("2026-04"), &QUARTERLY, &known);
    assert_eq!(got, vec![p("2026-04")]);
    // 特困 quarterly in 2026-01 covers 01–03: every 低保 month paid in it.
    let got = periods_to_compare(&QUARTERLY, p("2026-01"), &DueMonths::MONTHLY, &known);
    assert_eq!(got, ["2026-01", "2026-02", "2026-03"].map(p).to_vec());
    // Monthly against monthly: the same month only, and only if the ledger has it.
    assert_eq!(periods_to_compare(&DueMonths::MONTHLY, p("2026-04"), &DueMonths::MONTHLY, &known), vec![p("2026-04")]);
    assert!(periods_to_compare(&DueMonths::MONTHLY, p("2026-05"), &DueMonths::MONTHLY, &known).is_empty());
}

#[test]
fn exclusive_partners_are_found_on_either_side_of_a_pair() {
    let pairs = [(Program::Dibao, Program::Wubao), (Program::Youfu, Program::Wubao)];
    assert_eq!(exclusive_partners(Program::Dibao, &pairs).collect::<Vec<_>>(), vec![Program::Wubao]);
    assert_eq!(exclusive_partners(Program::Wubao, &pairs).collect::<Vec<_>>(), vec![Program::Dibao, Program::Youfu]);
    assert_eq!(exclusive_partners(Program::Yimin, &pairs).count(), 0);
}

#[test]
fn a_row_paid_by_an_exclusive_program_is_held_once() {
    let mut rows = vec![entry(Program::Wubao, 1), entry(Program::Wubao, 2), entry(Program::Wubao, 3)];
    rows[2].payable = false;
    let paid = vec![
        PaidElsewhere { program: Program::Dibao, period: p("2026-02"), people: [1, 3].into_iter().collect() },
        PaidElsewhere { program: Program::Dibao, period: p("2026-03"), people: [1].into_iter().collect() },
        // Not a partner of 特困: ignored.
        PaidElsewhere { program: Program::Youfu, period: p("2026-02"), people: [2].into_iter().collect() },
    ];
    let mut found = Vec::new();
    hold_paid_by_exclusive(&mut rows, 10, Program::Wubao, BUILT_IN_EXCLUSIVE, &paid, &mut found);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].index, found[0].code), (10, Code::R02));
    assert!(found[0].message.contains("2026-02") && found[0].message.contains("最低生活保障"), "{}", found[0].message);
    assert!(!rows[0].payable && rows[1].payable);
    // A program in no pair is never held.
    let mut rows = vec![entry(Program::Youfu, 1)];
    hold_paid_by_exclusive(&mut rows, 0, Program::Youfu, BUILT_IN_EXCLUSIVE, &paid, &mut found);
    assert!(rows[0].payable);
}

#[test]
fn the_deceased_the_bank_reported_are_held() {
    let mut rows = vec![entry(Program::Dibao, 1), entry(Program::Youfu, 1), entry(Program::Dibao, 2)];
    let deceased: FastMap<u64, String> = [(1, "DB202611R0010000001".to_string())].into_iter().collect();
    let mut found = Vec::new();
    hold_reported_deceased(&mut rows, &deceased, &mut found);
    assert_eq!(found.iter().map(|f| (f.index, f.code)).collect::<Vec<_>>(), vec![(0, Code::R03), (1, Code::R03)]);
    assert!(found[0].message.contains("DB202611R0010000001"));
    assert_eq!(rows.iter().map(|e| e.payable).collect::<Vec<_>>(), vec![false, false, true]);
}

#[test]
fn already_paid_rows_are_skipped_not_held() {
    let mut rows = vec![entry(Program::Dibao, 1), entry(Program::Dibao, 2), entry(Program::Dibao, 0)];
    rows[1].payable = false;
    let paid: HashSet<u64> = [1, 2, 0].into_iter().collect();
    let mut found = Vec::new();
    let skipped = skip_already_paid(&mut rows, 5, &paid, p("2026-11"), &mut found);
    assert_eq!(skipped, vec![5]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].code, Code::R04);
    assert!(found[0].message.contains("2026-11"));
    assert!(!rows[0].payable);
}

#[test]
fn changes_against_the_previous_period_and_r06() {
    let rows =
        vec![entry(Program::Dibao, 1), entry(Program::Dibao, 2), entry(Program::Dibao, 3), entry(Program::Dibao, 4)];
    let amounts = [Fen(10_000), Fen(50_000), Fen(10_500), Fen(7_000)];
    let prev: FastMap<u64, Fen> = [(2, Fen(30_000)), (3, Fen(10_000)), (4, Fen(7_000))].into_iter().collect();
    let previous = Previous { period: p("2026-10"), amounts: &prev };
    let (mut changes, mut found) = (Vec::new(), Vec::new());
    let share: Decimal = "0.2".parse().unwrap();
    let seen = compare_with_previous(&rows, 0, &|i| amounts[i], &previous, share, &mut changes, &mut found);
    let kinds: Vec<(usize, ChangeKind)> = changes.iter().map(|c| (c.index, c.kind)).collect();
    assert_eq!(kinds, vec![(0, ChangeKind::New), (1, ChangeKind::AmountChanged), (2, ChangeKind::AmountChanged)]);
    assert_eq!(found.iter().map(|f| (f.index, f.code)).collect::<Vec<_>>(), vec![(1, Code::R06)], "5% is no R06");
    assert_eq!(seen.len(), 4);
    assert_eq!(dropped_since(&prev, &seen), Vec::<u64>::new(), "everyone paid before is on the roster");
}

/// Who was paid last period and is not on the roster now is listed as
/// `dropped`, by ID number, masked, with their name and what they were paid;
/// people still on the roster are not.
#[test]
fn people_paid_before_and_gone_now_are_listed_as_dropped() {
    let ids = ["110105194912310038", "11010519491231002X", "110105194912310011", "110105194912310054"];
    let key = |i: usize| crate::domain::id_key(ids[i]).unwrap();
    let prev: FastMap<u64, Fen> = (0..4).map(|i| (key(i), Fen(10_000 + i as i64))).collect();
    let seen: FastSet<u64> = [key(3), 77].into_iter().collect();
    let dropped = dropped_since(&prev, &seen);
    assert_eq!(dropped, {
        let mut k = vec![key(0), key(1), key(2)];
        k.sort();
        k
    });
    // The ledger names them in its own order; one it no longer names keeps its place.
    let named =
        vec![(key(0), ids[0].to_string(), "王五".to_string()), (key(1), ids[1].to_string(), "张三".to_string())];
    let changes = dropped_changes(Program::Wubao, &prev, &dropped, named);
    let got: Vec<(&str, &str, Option<Fen>)> =
        changes.iter().map(|c| (c.id_number_masked.as_str(), c.name.as_str(), c.previous_amount)).collect();
    assert_eq!(
        got,
        [
            ("110105********0011", "", Some(Fen(10_002))),
            ("110105********002X", "张三", Some(Fen(10_001))),
            ("110105********0038", "王五", Some(Fen(10_000))),
        ]
    );
    assert!(changes.iter().all(|c| c.kind == ChangeKind::Dropped && c.amount.is_none() && c.program == Program::Wubao));
}
