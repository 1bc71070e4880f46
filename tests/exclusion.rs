//! R02 looks at the ledger (SPEC §8): a person already paid by one program of an
//! exclusive pair (低保 / 特困) for a month is held by the other for that month,
//! whether the other payment came in an earlier run of the same month or in a
//! quarterly (or longer) payment that covers it; a failed or returned payment
//! does not count, and a payment stops counting once its months are over.

mod common;

use common::gen::id_number;
use common::small::office;

/// The R02 rows of a period's exceptions: (program, ID masked).
fn r02(o: &common::small::Office, period: &str) -> Vec<(String, String)> {
    o.report(period, "exceptions.csv")
        .into_iter()
        .filter(|r| r[4] == "R02")
        .map(|r| (r[0].clone(), r[7].clone()))
        .collect()
}

fn masked(n: u64) -> String {
    disburse::domain::mask_id(&id_number(n))
}

fn paid_by(o: &common::small::Office, period: &str, program: &str, n: u64) -> bool {
    o.paid(period).contains(&(program.to_string(), id_number(n)))
}

#[test]
fn moved_to_the_other_roster_in_a_later_run_of_the_month_is_held() {
    let tmp = tempfile::tempdir().unwrap();
    let o = office(tmp.path(), "\"monthly\"");
    o.rosters("2026-03", Some(&[1, 2]), Some(&[3]));
    o.run("2026-03", 0);
    // Person 1 leaves 低保 and is put on 特困 for a second run of the same month;
    // person 4 is new on 特困 and is paid.
    o.rosters("2026-03", Some(&[2]), Some(&[3, 1, 4]));
    let out = o.run("2026-03", 2);
    assert_eq!(r02(&o, "2026-03"), vec![("wubao".to_string(), masked(1))], "{}", common::text(&out));
    assert!(!paid_by(&o, "2026-03", "wubao", 1), "never paid by both");
    assert!(paid_by(&o, "2026-03", "dibao", 1) && paid_by(&o, "2026-03", "wubao", 4));
    // The other way round too: paid 特困 first, then on 低保 in a later run.
    o.rosters("2026-03", Some(&[2, 3]), Some(&[4, 6]));
    o.run("2026-03", 2);
    assert_eq!(r02(&o, "2026-03"), vec![("dibao".to_string(), masked(3))]);
    assert!(!paid_by(&o, "2026-03", "dibao", 3));
    // Another month is another month: both programs are monthly.
    o.rosters("2026-04", Some(&[1]), Some(&[3]));
    o.run("2026-04", 0);
}

#[test]
fn a_quarterly_payment_holds_the_other_program_for_the_months_it_covers() {
    let tmp = tempfile::tempdir().unwrap();
    let o = office(tmp.path(), "\"quarterly\"");
    // 特困 is due in January (covers 01–03); 低保 monthly.
    o.rosters("2026-01", Some(&[2]), Some(&[1, 5]));
    o.run("2026-01", 0);
    for month in ["2026-02", "2026-03"] {
        o.rosters(month, Some(&[1, 2]), None);
        o.run(month, 2);
        assert_eq!(r02(&o, month), vec![("dibao".to_string(), masked(1))], "{month}");
        assert!(!paid_by(&o, month, "dibao", 1) && paid_by(&o, month, "dibao", 2));
    }
    // April: the January payment is over; April's 特困 roster no longer has person 1.
    o.rosters("2026-04", Some(&[1, 2]), Some(&[5]));
    o.run("2026-04", 0);
    assert!(paid_by(&o, "2026-04", "dibao", 1));
    // And a quarterly payment is held for a month already paid by 低保 within its quarter.
    o.rosters("2026-07", Some(&[2]), None);
    let _ = std::fs::remove_file(o.dir.join("rosters/2026-07/wubao.csv"));
    std::fs::write(
        o.dir.join("rosters/2026-07/approvals.csv"),
        "program,count,total,reference,approved_by,approved_on\ndibao,1,302.00,R,X,2026-01-01\nwubao,0,0.00,R,X,2026-01-01\n",
    )
    .unwrap();
    o.rosters("2026-08", Some(&[2]), None);
    o.run("2026-08", 0);
    o.rosters("2026-07", Some(&[]), Some(&[2, 5]));
    o.run("2026-07", 2);
    assert_eq!(r02(&o, "2026-07"), vec![("wubao".to_string(), masked(2))], "08 paid by 低保 lies in 07's quarter");
}

#[test]
fn a_failed_payment_of_the_other_program_does_not_hold() {
    let tmp = tempfile::tempdir().unwrap();
    let o = office(tmp.path(), "\"monthly\"");
    o.rosters("2026-03", Some(&[1, 2]), Some(&[3]));
    o.run("2026-03", 0);
    // The bank rejects every line (fake bank: every line's answer is a rejection).
    let inbox = tmp.path().join("inbox");
    let period = o.dir.join("out/2026-03");
    common::fake_bank::answer(&period, &inbox, 1).unwrap();
    common::expect(&["returns", "--config", o.c(), inbox.join("pain002.xml").to_str().unwrap()], 2);
    o.rosters("2026-03", Some(&[2]), Some(&[3, 1]));
    o.run("2026-03", 0);
    assert!(r02(&o, "2026-03").is_empty(), "a rejected 低保 line paid nobody: {:?}", r02(&o, "2026-03"));
    assert!(paid_by(&o, "2026-03", "wubao", 1));
}
