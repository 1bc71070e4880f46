//! failures.csv, stops_suggested.csv, report.json and report.html are derived
//! from the ledger (SPEC §8): a crash or an unwritable folder after `returns`
//! committed never leaves a failure off the clerk's list for good — reading the
//! receipt again ("already applied") or `disburse report` writes them again.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::small::{office, Office};

/// Runs March for ten people and writes the bank's answer: every third line
/// rejected (the fake bank's reasons, MD07 among them). Returns the receipt
/// and the references rejected.
fn paid_and_answered(tmp: &Path) -> (Office, PathBuf, BTreeSet<String>) {
    let o = office(tmp, "\"monthly\"");
    o.rosters("2026-03", Some(&(1..=10).collect::<Vec<_>>()), Some(&[20, 21]));
    o.run("2026-03", 0);
    let inbox = tmp.join("inbox");
    let answer = common::fake_bank::answer(&o.dir.join("out/2026-03"), &inbox, 3).unwrap();
    assert!(answer.rejected.len() >= 4, "an MD07 among them");
    (o, inbox.join("pain002.xml"), answer.rejected.into_iter().collect())
}

fn returns(o: &Office, receipt: &Path) -> Command {
    let mut c = common::command();
    c.args(["returns", "--config", o.c(), receipt.to_str().unwrap()]);
    c
}

/// The references failures.csv lists (none if it is missing).
fn listed(o: &Office) -> BTreeSet<String> {
    let path = o.dir.join("out/2026-03/returns/failures.csv");
    if !path.exists() {
        return BTreeSet::new();
    }
    common::read_csv(&path)[1..].iter().map(|r| r[1].clone()).collect()
}

fn deaths_listed(o: &Office) -> usize {
    let path = o.dir.join("out/2026-03/returns/stops_suggested.csv");
    if !path.exists() {
        return 0;
    }
    common::read_csv(&path).len() - 1
}

/// What report.json says the ledger holds: failed lines of dibao.
fn failed_in_report_json(o: &Office) -> Option<u64> {
    let text = std::fs::read_to_string(o.dir.join("out/2026-03/reports/report.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["ledger"]["programs"]["dibao"]["failed"]["lines"].as_u64()
}

fn html_has_failures(o: &Office) -> bool {
    std::fs::read_to_string(o.dir.join("out/2026-03/reports/report.html")).unwrap().contains("银行回盘失败及退票")
}

#[test]
fn killed_after_the_commit_the_receipt_read_again_lists_every_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let (o, receipt, rejected) = paid_and_answered(tmp.path());
    let s = returns(&o, &receipt).env("DISBURSE_FAULT", "receipts_committed:1").status().unwrap();
    assert_eq!(s.code(), None, "died after the commit");
    assert!(listed(&o).is_empty(), "the crash came before the lists");
    let again = returns(&o, &receipt).output().unwrap();
    assert!(common::text(&again).contains("applied before"), "{}", common::text(&again));
    assert_eq!(again.status.code(), Some(0), "reading a receipt again changes nothing in the ledger");
    assert_eq!(listed(&o), rejected, "every failure on the clerk's list");
    assert!(deaths_listed(&o) >= 1, "the MD07 line suggested for the stop list");
    assert_eq!(failed_in_report_json(&o), Some(rejected.iter().filter(|r| r.starts_with("DB")).count() as u64));
    assert!(html_has_failures(&o));
}

#[test]
fn an_unwritable_returns_folder_is_said_and_report_writes_the_lists_later() {
    let tmp = tempfile::tempdir().unwrap();
    let (o, receipt, rejected) = paid_and_answered(tmp.path());
    // A folder where the list must go: it cannot be written (as with a full
    // disk, whoever runs the test), while the receipt's archive copy, written
    // before the commit, can.
    let blocked = o.dir.join("out/2026-03/returns/failures.csv");
    std::fs::create_dir_all(blocked.join("in-the-way")).unwrap();
    let out = returns(&o, &receipt).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", common::text(&out));
    let said = common::text(&out);
    assert!(said.contains("disburse report") && said.contains("ledger has recorded"), "{said}");
    std::fs::remove_dir_all(&blocked).unwrap();
    assert!(listed(&o).is_empty());

    let report = common::disburse(&["report", "--config", o.c(), "--period", "2026-03"]);
    assert_eq!(report.status.code(), Some(2), "{}", common::text(&report));
    assert_eq!(listed(&o), rejected);
    assert!(html_has_failures(&o));
    // Again: the same lists, nothing else changes.
    let before = std::fs::read(o.dir.join("out/2026-03/returns/failures.csv")).unwrap();
    common::expect(&["report", "--config", o.c(), "--period", "2026-03"], 2);
    assert_eq!(std::fs::read(o.dir.join("out/2026-03/returns/failures.csv")).unwrap(), before);
    // A period with nothing failed: exit 0, an empty list.
    o.rosters("2026-04", Some(&[1]), Some(&[21]));
    o.run("2026-04", 0);
    common::expect(&["report", "--config", o.c(), "--period", "2026-04"], 0);
    assert_eq!(common::read_csv(&o.dir.join("out/2026-04/returns/failures.csv")).len(), 1);
}

#[test]
fn a_later_batch_keeps_the_failures_on_the_periods_report() {
    let tmp = tempfile::tempdir().unwrap();
    let (o, receipt, rejected) = paid_and_answered(tmp.path());
    common::expect(&["returns", "--config", o.c(), receipt.to_str().unwrap()], 2);
    assert!(html_has_failures(&o));
    // A second batch of the month writes its own report: the failures stay on it.
    o.rosters("2026-03", Some(&(1..=11).collect::<Vec<_>>()), Some(&[20, 21]));
    o.run("2026-03", 2); // 20 reported deceased (MD07): held
    assert!(html_has_failures(&o), "the second batch's report shows the period's failures");
    assert_eq!(listed(&o), rejected);
}
