//! Crash safety, proven: `run` is killed at many moments — at every named point
//! of every stage (the process aborts itself there, like SIGKILL: no destructor,
//! no flush) and by a real SIGKILL at timed moments — then run again. After each
//! trial: every line is paid exactly once across all bank files ever published,
//! the ledger and the files agree, `verify` passes, and a further run pays nobody.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::pg::{copy_office, open_ledger, Backend};
use common::{expect, gen};
use disburse::bankfile::Format;

const LINES: u64 = 6_000;

/// An office with two programs of `LINES / 2` lines each (one XML, one GBK text).
fn template(backend: Backend) -> Option<(tempfile::TempDir, PathBuf)> {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("office");
    std::fs::create_dir_all(dir.join("rosters/2026-11")).unwrap();
    let half = LINES / 2;
    let (dibao, dibao_total) = gen::roster_csv(0, half);
    let (yimin, yimin_total) = gen::roster_csv(half, half);
    std::fs::write(dir.join("rosters/2026-11/dibao.csv"), dibao).unwrap();
    std::fs::write(dir.join("rosters/2026-11/youfu.csv"), yimin).unwrap();
    let yuan = |f: i64| format!("{}.{:02}", f / 100, f % 100);
    std::fs::write(
        dir.join("rosters/2026-11/approvals.csv"),
        format!(
            "program,count,total,reference,approved_by,approved_on\ndibao,{half},{},A1,审核人,2026-11-20\nyoufu,{half},{},A2,审核人,2026-11-20\n",
            yuan(dibao_total),
            yuan(yimin_total)
        ),
    )
    .unwrap();
    std::fs::write(dir.join("disburse.toml"), CONFIG).unwrap();
    expect(&["keygen", "--algorithm", "sm2", "--out", dir.join("keys/signing.pem").to_str().unwrap()], 0);
    common::pg::use_backend(&dir.join("disburse.toml"), backend, "330729").then_some((tmp, dir))
}

const CONFIG: &str = r#"
[office]
name = "测试县民政局"
uscc = "11330000MB0000000H"
[ledger]
path = "state/ledger.db"
[output]
dir = "out"
[signing]
algorithm = "sm2"
key = "keys/signing.pem"
[inputs]
approvals = "rosters/{period}/approvals.csv"
[payers.main]
name = "测试县民政局社会救助资金专户"
account = "33001610000053012345"
bank_code = "105331000011"
[programs.dibao]
schedule = "monthly"
payer = "main"
format = "pain001-v09"
roster = "rosters/{period}/dibao.csv"
cap = "3000.00"
[programs.youfu]
schedule = "monthly"
payer = "main"
format = "pipe-gbk"
roster = "rosters/{period}/youfu.csv"
cap = "3000.00"
purpose = "PENS"
"#;

fn run_cmd(dir: &Path) -> std::process::Command {
    let mut c = common::command();
    c.args(["run", "--config", dir.join("disburse.toml").to_str().unwrap(), "--period", "2026-11"]);
    c.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    c
}

/// Every invariant a crash must not break.
fn check_consistent(dir: &Path, trial: &str) {
    let period_dir = dir.join("out/2026-11");
    let ledger = open_ledger(&dir.join("disburse.toml"));
    let lines = ledger.payments_of_period("2026-11".parse().unwrap()).unwrap();
    let people: BTreeSet<(String, String)> =
        lines.iter().map(|l| (l.program.to_string(), l.id_number.to_string())).collect();
    assert_eq!(lines.len() as u64, LINES, "{trial}: every line recorded once");
    assert_eq!(people.len() as u64, LINES, "{trial}: nobody recorded twice");
    let ledger_refs: BTreeSet<String> = lines.iter().map(|l| l.end_to_end_id.to_string()).collect();
    let formats: BTreeMap<String, String> =
        ledger.files_of_period("2026-11".parse().unwrap()).unwrap().into_iter().map(|f| (f.name, f.format)).collect();
    let mut file_refs = Vec::new();
    for e in std::fs::read_dir(period_dir.join("bank")).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name.ends_with(".sig") {
            continue;
        }
        let format = formats.get(&name).unwrap_or_else(|| panic!("{trial}: bank file {name} is not in the ledger"));
        let f = Format::load(format, &dir.join("formats")).unwrap();
        for p in f.read_payments(&std::fs::read(e.path()).unwrap()).unwrap() {
            file_refs.push(p.end_to_end_id);
        }
    }
    let unique: BTreeSet<String> = file_refs.iter().cloned().collect();
    assert_eq!(unique.len(), file_refs.len(), "{trial}: a reference appears in two published bank files");
    assert_eq!(unique, ledger_refs, "{trial}: bank files and ledger disagree");
    drop(ledger);
    let leftovers: Vec<_> = std::fs::read_dir(&period_dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".staging"))
        .collect();
    assert!(leftovers.is_empty(), "{trial}: staging left behind");
    expect(&["verify", period_dir.to_str().unwrap()], 0);
}

/// A killed run's ledger transaction left its rollback journal (a run journals
/// outside WAL): the next open must roll it back.
fn journal_left(dir: &Path) -> bool {
    dir.join("state/ledger.db-journal").exists()
}

/// Kills at a named point, reruns, checks. Returns whether the process died,
/// and whether it left a rollback journal behind.
fn fault_trial(template: &Path, work: &Path, point: &str, n: u32) -> (bool, bool) {
    let dir = work.join(format!("{point}-{n}"));
    copy_office(template, &dir);
    let status = run_cmd(&dir).env("DISBURSE_FAULT", format!("{point}:{n}")).status().unwrap();
    let died = status.code().is_none();
    let journal = journal_left(&dir);
    let again = run_cmd(&dir).status().unwrap();
    assert!(matches!(again.code(), Some(0) | Some(2)), "{point}:{n}: rerun failed: {again:?}");
    check_consistent(&dir, &format!("{point}:{n}"));
    let third = run_cmd(&dir).status().unwrap();
    assert_eq!(third.code(), Some(0), "{point}:{n}: a third run must pay nobody");
    check_consistent(&dir, &format!("{point}:{n} third"));
    std::fs::remove_dir_all(&dir).unwrap();
    (died, journal)
}

#[test]
fn killed_anywhere_run_pays_everyone_exactly_once() {
    killed_anywhere_run_pays_everyone_exactly_once_on(Backend::Sqlite);
}

/// The same on a shared PostgreSQL ledger: killed at every named point and by SIGKILL, a run's transaction is rolled back by the server.
#[test]
fn killed_anywhere_run_pays_everyone_exactly_once_on_a_shared_ledger() {
    killed_anywhere_run_pays_everyone_exactly_once_on(Backend::Postgres);
}

fn killed_anywhere_run_pays_everyone_exactly_once_on(backend: Backend) {
    let Some((_t, template)) = template(backend) else { return };
    let work = tempfile::tempdir().unwrap();

    // A clean run, to know how long one takes and how many files it publishes.
    let clean = work.path().join("clean");
    copy_office(&template, &clean);
    let start = Instant::now();
    assert_eq!(run_cmd(&clean).status().unwrap().code(), Some(0));
    let took = start.elapsed();
    check_consistent(&clean, "clean");
    let published = walk_count(&clean.join("out/2026-11"));

    let mut trials = 0;
    let mut died = 0;
    let mut points: Vec<(&str, u32)> = vec![
        ("ingest", 1),
        ("ingest", 2),
        ("reconcile", 1),
        ("reports", 1),
        ("record", 1),
        ("manifest", 1),
        ("committed", 1),
    ];
    for n in 1..=2 {
        points.push(("bankfile", n));
        points.push(("signed", n));
    }
    for n in 1..=published as u32 {
        points.push(("publish", n));
    }
    let stages: BTreeSet<&str> = points.iter().map(|p| p.0).collect();
    let mut journals = 0;
    for (point, n) in &points {
        trials += 1;
        let (d, j) = fault_trial(&template, work.path(), point, *n);
        died += d as u32;
        journals += j as u32;
    }

    // Real SIGKILLs spread over the length of a run.
    let timed = 50u32.saturating_sub(trials as u32).max(24);
    for i in 0..timed {
        let dir = work.path().join(format!("kill-{i}"));
        copy_office(&template, &dir);
        let delay = took.mul_f64(i as f64 / timed as f64 * 1.2);
        let mut child = run_cmd(&dir).spawn().unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        let status = child.wait().unwrap();
        died += status.code().is_none() as u32;
        journals += journal_left(&dir) as u32;
        let again = run_cmd(&dir).status().unwrap();
        assert!(matches!(again.code(), Some(0) | Some(2)), "kill {i}: rerun failed");
        check_consistent(&dir, &format!("kill after {delay:?}"));
        std::fs::remove_dir_all(&dir).unwrap();
        trials += 1;
    }
    eprintln!(
        "crash trials: {trials} ({} named points over stages {stages:?}, {timed} timed SIGKILLs); processes killed mid-run: {died} ({journals} with the ledger's rollback journal left behind); double payments: 0; clean run took {took:?}",
        points.len()
    );
    assert!(trials >= 50);
    // The named points inside the ledger's transaction (bank files, signing,
    // manifest) leave its journal, so the rollback on open is tested each time.
    assert!(
        backend == Backend::Postgres || journals >= 3,
        "only {journals} trials killed a run inside its ledger transaction"
    );
    assert!(died as usize >= points.len(), "every named point must actually kill the run");
}

fn walk_count(dir: &Path) -> usize {
    std::fs::read_dir(dir).unwrap().flatten().map(|e| if e.path().is_dir() { walk_count(&e.path()) } else { 1 }).sum()
}

#[test]
fn two_runs_in_parallel_one_pays_one_exits_3() {
    two_runs_in_parallel_one_pays_one_exits_3_on(Backend::Sqlite);
}

/// The same on a shared PostgreSQL ledger: the office's advisory lock.
#[test]
fn two_runs_in_parallel_one_pays_one_exits_3_on_a_shared_ledger() {
    two_runs_in_parallel_one_pays_one_exits_3_on(Backend::Postgres);
}

fn two_runs_in_parallel_one_pays_one_exits_3_on(backend: Backend) {
    let Some((_t, dir)) = template(backend) else { return };
    let mut a = run_cmd(&dir).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let b = run_cmd(&dir).status().unwrap();
    let a = a.wait().unwrap();
    let mut codes = vec![a.code(), b.code()];
    codes.sort();
    assert_eq!(codes, vec![Some(0), Some(3)], "one pays, the other finds the lock");
    check_consistent(&dir, "parallel");
}

/// Per reference, the status the ledger holds (for comparing with a clean control).
fn statuses(dir: &Path) -> BTreeMap<String, String> {
    let ledger = open_ledger(&dir.join("disburse.toml"));
    ledger
        .payments_of_period("2026-11".parse().unwrap())
        .unwrap()
        .into_iter()
        .map(|l| (l.end_to_end_id.into(), format!("{:?} {} {:?} {}", l.status, l.reason_code, l.original_id, l.retry)))
        .collect()
}

fn cmd(dir: &Path, args: &[&str]) -> std::process::Command {
    let mut c = common::command();
    c.args(args).args(["--config", dir.join("disburse.toml").to_str().unwrap()]);
    c.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    c
}

/// `returns` and `reissue` killed at their named points and at timed moments:
/// rerunning ends exactly where an uninterrupted run ends, nobody is reissued
/// twice, and `verify` passes.
#[test]
fn killed_returns_and_reissue_end_where_a_clean_run_ends() {
    killed_returns_and_reissue_end_where_a_clean_run_ends_on(Backend::Sqlite);
}

/// The same on a shared PostgreSQL ledger: receipts and corrections killed anywhere.
#[test]
fn killed_returns_and_reissue_end_where_a_clean_run_ends_on_a_shared_ledger() {
    killed_returns_and_reissue_end_where_a_clean_run_ends_on(Backend::Postgres);
}

fn killed_returns_and_reissue_end_where_a_clean_run_ends_on(backend: Backend) {
    let Some((_t, template)) = template(backend) else { return };
    let work = tempfile::tempdir().unwrap();
    let paid = work.path().join("paid");
    copy_office(&template, &paid);
    assert_eq!(run_cmd(&paid).status().unwrap().code(), Some(0));
    let inbox = work.path().join("inbox");
    common::fake_bank::answer(&paid.join("out/2026-11"), &inbox, 10).unwrap();
    let receipts = [inbox.join("pain002.xml"), inbox.join("camt054.xml")];
    let receipt_args: Vec<&str> = receipts.iter().map(|p| p.to_str().unwrap()).collect();
    let corrections = inbox.join("corrections.csv");
    let reissue_args = ["reissue", "--period", "2026-11", "--corrections", corrections.to_str().unwrap()];
    let returns_args: Vec<&str> = std::iter::once("returns").chain(receipt_args.iter().copied()).collect();

    // The control: the same steps, never interrupted.
    let control = work.path().join("control");
    copy_office(&paid, &control);
    assert_eq!(cmd(&control, &returns_args).status().unwrap().code(), Some(2));
    let after_returns = statuses(&control);
    let start = Instant::now();
    assert_eq!(cmd(&control, &reissue_args).status().unwrap().code(), Some(0));
    let reissue_took = start.elapsed();
    let after_reissue = statuses(&control);
    assert!(after_reissue.len() > after_returns.len());

    let mut trials = 0;
    let returns_points = [("receipt", 1), ("receipt", 2), ("archived", 1)];
    let reissue_points = [
        ("bankfile", 1),
        ("bankfile", 2),
        ("signed", 1),
        ("signed", 2),
        ("record", 1),
        ("manifest", 1),
        ("committed", 1),
        ("publish", 1),
        ("publish", 3),
        ("publish", 6),
    ];
    for (point, n) in returns_points {
        let dir = work.path().join(format!("ret-{point}-{n}"));
        copy_office(&paid, &dir);
        let s = cmd(&dir, &returns_args).env("DISBURSE_FAULT", format!("{point}:{n}")).status().unwrap();
        assert!(s.code().is_none(), "returns should have died at {point}:{n}");
        cmd(&dir, &returns_args).status().unwrap();
        assert_eq!(statuses(&dir), after_returns, "returns killed at {point}:{n}");
        trials += 1;
        std::fs::remove_dir_all(&dir).unwrap();
    }
    let returned = work.path().join("returned");
    copy_office(&paid, &returned);
    cmd(&returned, &returns_args).status().unwrap();
    for (point, n) in reissue_points {
        let dir = work.path().join(format!("re-{point}-{n}"));
        copy_office(&returned, &dir);
        let s = cmd(&dir, &reissue_args).env("DISBURSE_FAULT", format!("{point}:{n}")).status().unwrap();
        assert!(s.code().is_none(), "reissue should have died at {point}:{n}");
        let again = cmd(&dir, &reissue_args).status().unwrap();
        assert!(matches!(again.code(), Some(0) | Some(2)));
        let got = statuses(&dir);
        assert_eq!(got.len(), after_reissue.len(), "reissue killed at {point}:{n}: one correction per failed line");
        assert_eq!(
            got.values().filter(|v| v.contains("Some(")).count(),
            after_reissue.values().filter(|v| v.contains("Some(")).count()
        );
        expect(&["verify", dir.join("out/2026-11").to_str().unwrap()], 0);
        trials += 1;
        std::fs::remove_dir_all(&dir).unwrap();
    }
    for i in 0..8u32 {
        let dir = work.path().join(format!("re-kill-{i}"));
        copy_office(&returned, &dir);
        let mut child = cmd(&dir, &reissue_args).spawn().unwrap();
        std::thread::sleep(reissue_took.mul_f64(i as f64 / 8.0));
        let _ = child.kill();
        child.wait().unwrap();
        cmd(&dir, &reissue_args).status().unwrap();
        assert_eq!(statuses(&dir).len(), after_reissue.len(), "reissue killed after {i}/8 of its time");
        expect(&["verify", dir.join("out/2026-11").to_str().unwrap()], 0);
        trials += 1;
        std::fs::remove_dir_all(&dir).unwrap();
    }
    eprintln!("returns/reissue crash trials: {trials}; double corrections: 0");
}

/// The status `--json` of the period, as printed.
fn status_json(dir: &Path) -> String {
    let out = common::command()
        .args(["status", "--config", dir.join("disburse.toml").to_str().unwrap(), "--period", "2026-11", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    String::from_utf8(out.stdout).unwrap()
}

fn lose_ledger(dir: &Path) {
    for s in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(format!("{}{s}", dir.join("state/ledger.db").display()));
    }
}

fn ledger_digest(dir: &Path) -> Option<String> {
    disburse::fsutil::sha256_file(&dir.join("state/ledger.db")).ok()
}

/// `ledger rebuild` killed at each of its stages (verify, each batch, each
/// receipt replay, the install) and at timed moments, with the ledger lost and
/// with `--force` over a ledger that holds data: the kill leaves the ledger as
/// it was (no ledger, or the old file byte for byte), a rerun completes, and
/// then every reference has the status it had, `status --json` is the same, and
/// a run pays nobody.
#[test]
fn killed_rebuild_leaves_the_old_ledger_and_a_rerun_ends_where_a_clean_one_ends() {
    let (_t, template) = template(Backend::Sqlite).expect("an SQLite office");
    let work = tempfile::tempdir().unwrap();
    let full = work.path().join("full");
    copy_office(&template, &full);
    assert_eq!(run_cmd(&full).status().unwrap().code(), Some(0));
    let inbox = work.path().join("inbox");
    common::fake_bank::answer(&full.join("out/2026-11"), &inbox, 10).unwrap();
    let pain = inbox.join("pain002.xml");
    let camt = inbox.join("camt054.xml");
    assert_eq!(cmd(&full, &["returns", pain.to_str().unwrap()]).status().unwrap().code(), Some(2));
    let corrections = inbox.join("corrections.csv");
    let reissue_args = ["reissue", "--period", "2026-11", "--corrections", corrections.to_str().unwrap()];
    assert!(matches!(cmd(&full, &reissue_args).status().unwrap().code(), Some(0 | 2)));
    assert_eq!(cmd(&full, &["returns", camt.to_str().unwrap()]).status().unwrap().code(), Some(2));
    let want = statuses(&full);
    let want_json = status_json(&full);
    assert!(want.values().any(|v| v.contains("Some(")), "a correction batch is among what is rebuilt");
    let bank_files = walk_count(&full.join("out/2026-11/bank"));
    // What a run says on the intact ledger: it pays nobody, and exits 2 while the
    // lines the receipts made the run hold (the deceased, R03) are still held.
    let intact = work.path().join("intact");
    copy_office(&full, &intact);
    let rerun = run_cmd(&intact).status().unwrap().code();
    assert!(matches!(rerun, Some(0 | 2)), "a run on the intact ledger: {rerun:?}");
    assert_eq!(walk_count(&intact.join("out/2026-11/bank")), bank_files, "a run on the intact ledger pays nobody");
    let lost = work.path().join("lost");
    copy_office(&full, &lost);
    lose_ledger(&lost);

    let rebuild = |dir: &Path, force: bool| {
        let mut c = cmd(dir, &["ledger", "rebuild"]);
        if force {
            c.arg("--force");
        }
        c
    };
    let check = |dir: &Path, trial: &str| {
        assert_eq!(statuses(dir), want, "{trial}: every reference as before");
        assert_eq!(status_json(dir), want_json, "{trial}: status --json as before");
        assert_eq!(run_cmd(dir).status().unwrap().code(), rerun, "{trial}: a run pays nobody, as on the intact ledger");
        assert_eq!(walk_count(&dir.join("out/2026-11/bank")), bank_files, "{trial}: no bank file written");
        assert!(!dir.join("state/ledger.db.rebuild").exists() || trial.contains("kill"), "{trial}: scratch removed");
    };
    let start = Instant::now();
    let clean = work.path().join("clean");
    copy_office(&lost, &clean);
    assert_eq!(rebuild(&clean, false).status().unwrap().code(), Some(0));
    let took = start.elapsed();
    check(&clean, "clean rebuild");

    // R001, then its receipt, C001, then its receipt: two batches, two replays.
    let points = [
        ("rebuild_verified", 1),
        ("rebuild_batch", 1),
        ("rebuild_receipt", 1),
        ("rebuild_batch", 2),
        ("rebuild_receipt", 2),
        ("rebuild_install", 1),
    ];
    let mut trials = 0;
    for force in [false, true] {
        let from = if force { &full } else { &lost };
        for (point, n) in points {
            let trial = format!("{point}:{n}{}", if force { " --force" } else { "" });
            let dir = work.path().join(format!("rb-{point}-{n}-{force}"));
            copy_office(from, &dir);
            let before = ledger_digest(&dir);
            let s = rebuild(&dir, force).env("DISBURSE_FAULT", format!("{point}:{n}")).status().unwrap();
            assert!(s.code().is_none(), "{trial}: rebuild should have died");
            assert_eq!(ledger_digest(&dir), before, "{trial}: the killed rebuild left the ledger as it was");
            assert_eq!(rebuild(&dir, force).status().unwrap().code(), Some(0), "{trial}: the rerun completes");
            check(&dir, &trial);
            trials += 1;
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }
    for i in 0..8u32 {
        let dir = work.path().join(format!("rb-kill-{i}"));
        copy_office(&lost, &dir);
        let mut child = rebuild(&dir, false).spawn().unwrap();
        std::thread::sleep(took.mul_f64(i as f64 / 8.0));
        let _ = child.kill();
        let killed = child.wait().unwrap().code().is_none();
        let code = rebuild(&dir, false).status().unwrap().code();
        // Killed after the rename, the rebuild was done: the rerun finds a ledger with data.
        assert!(code == Some(0) || (!killed || code == Some(1)), "kill {i}: rerun {code:?}");
        check(&dir, &format!("kill {i} after {:?}", took.mul_f64(i as f64 / 8.0)));
        trials += 1;
        std::fs::remove_dir_all(&dir).unwrap();
    }
    eprintln!("ledger rebuild crash trials: {trials}; clean rebuild of {LINES} lines took {took:?}; doubled: 0");
}
