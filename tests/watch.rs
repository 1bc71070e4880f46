//! `disburse watch` against the real binary: a receipt written in two halves is not
//! read until it is complete and settled, is applied once and moved to
//! `processed/`; a garbage file goes to `refused/` with its reason; SIGTERM ends
//! the watch cleanly with exit 2 (something was refused). `--once` honours `.ok`
//! markers, leaves temporary names and the locked ledger alone.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{expect, fake_bank, office, read_csv, text};

/// (settled, failed, returned) lines over all programs of 2026-10.
fn counts(config: &str) -> (u64, u64, u64) {
    let out = expect(&["status", "--config", config, "--period", "2026-10", "--json"], 0);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sum = |k: &str| v["programs"].as_object().unwrap().values().map(|p| p[k]["lines"].as_u64().unwrap()).sum();
    (sum("settled"), sum("failed"), sum("returned"))
}

/// Polls `cond` every 25 ms until it holds, or panics after `secs`.
fn wait_for(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// The single dated folder under `processed/` (the date is the watcher's, not ours).
fn processed(inbox: &Path, name: &str) -> Option<PathBuf> {
    let days = std::fs::read_dir(inbox.join("processed")).ok()?;
    days.filter_map(Result::ok).map(|d| d.path().join(name)).find(|p| p.is_file())
}

/// Pays 2026-10 and lets the fake bank answer into `staging`.
fn paid_office() -> (tempfile::TempDir, PathBuf, fake_bank::Answer, Vec<String>) {
    let (tmp, config) = office();
    let c = config.to_str().unwrap();
    expect(&["run", "--config", c, "--period", "2026-10"], 2);
    let oct = config.parent().unwrap().join("out/2026-10");
    let answer = fake_bank::answer(&oct, &tmp.path().join("staging"), 7).unwrap();
    let paid = read_csv(&oct.join("reports/paid.csv"));
    let full_numbers = paid[1..].iter().flat_map(|r| [r[5].clone(), r[6].clone()]).collect();
    (tmp, config, answer, full_numbers)
}

fn spawn_watch(config: &str, inbox: &Path, logs: &Path, settle_ms: u64) -> Child {
    common::command()
        .args(["watch", "--config", config, "--inbox", inbox.to_str().unwrap()])
        .args(["--settle-ms", &settle_ms.to_string()])
        .env("DISBURSE_LOG", "info")
        .stdout(std::fs::File::create(logs.join("stdout")).unwrap())
        .stderr(std::fs::File::create(logs.join("stderr")).unwrap())
        .stdin(Stdio::null())
        .spawn()
        .expect("start watch")
}

#[test]
fn watch_applies_a_complete_receipt_once_refuses_garbage_and_stops_on_sigterm() {
    let (tmp, config, answer, full_numbers) = paid_office();
    let c = config.to_str().unwrap();
    let inbox = tmp.path().join("inbox");
    std::fs::create_dir(&inbox).unwrap();
    std::fs::write(inbox.join(".pain002.xml.swp"), "editor junk").unwrap();
    let before = counts(c);
    assert_eq!(before, (0, 0, 0));

    let settle_ms = 600;
    let mut child = spawn_watch(c, &inbox, tmp.path(), settle_ms);
    let receipt = std::fs::read(tmp.path().join("staging/pain002.xml")).unwrap();
    let (first, second) = receipt.split_at(receipt.len() / 2);

    // The bank writes half, pauses (longer than a tick, shorter than settle), then the rest.
    let target = inbox.join("pain002.xml");
    let mut f = std::fs::File::create(&target).unwrap();
    f.write_all(first).unwrap();
    f.sync_all().unwrap();
    let written = Instant::now();
    std::thread::sleep(Duration::from_millis(250));
    let mid = counts(c);
    let still_growing = written.elapsed() < Duration::from_millis(settle_ms);
    assert_eq!(mid, before, "nothing applied while the file is growing");
    if still_growing {
        assert!(target.is_file(), "a growing file is left where it is");
        assert!(!inbox.join("refused").exists() && !inbox.join("processed").exists());
    }
    f.write_all(second).unwrap();
    f.sync_all().unwrap();
    drop(f);

    wait_for("pain002.xml in processed/", 15, || processed(&inbox, "pain002.xml").is_some());
    assert!(!target.exists());
    assert!(!inbox.join("refused").exists(), "the half file was never read");
    let failed = answer.rejected.len() as u64;
    let after = counts(c);
    assert_eq!(after, (answer.lines as u64 - failed, failed, 0), "applied exactly once, completely");
    assert_eq!(std::fs::read(processed(&inbox, "pain002.xml").unwrap()).unwrap(), receipt, "moved as it was");

    // The same receipt again, written under a temporary name and renamed: a name
    // clash gets a suffix, and the ledger does not change.
    let part = inbox.join("pain002.xml.part");
    std::fs::write(&part, &receipt).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(part.is_file(), "a .part name is never touched");
    std::fs::rename(&part, &target).unwrap();
    wait_for("the second copy in processed/", 15, || processed(&inbox, "pain002.1.xml").is_some());
    assert_eq!(std::fs::read(processed(&inbox, "pain002.xml").unwrap()).unwrap(), receipt, "not overwritten");
    assert_eq!(counts(c), after, "reading the same receipt twice changes nothing");

    // Garbage is refused, with the reason beside it.
    std::fs::write(inbox.join("bad.xml"), "<Document><garbage").unwrap();
    wait_for("bad.xml in refused/", 15, || inbox.join("refused/bad.xml.why.txt").is_file());
    assert!(inbox.join("refused/bad.xml").is_file() && !inbox.join("bad.xml").exists());
    let why = std::fs::read_to_string(inbox.join("refused/bad.xml.why.txt")).unwrap();
    assert!(why.contains("bad.xml") && why.trim().len() > 20, "{why}");
    assert_eq!(counts(c), after);

    let asked = Instant::now();
    let kill = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if asked.elapsed() > Duration::from_secs(5) {
            let _ = child.kill();
            panic!("watch did not stop within 5 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = std::fs::read_to_string(tmp.path().join("stdout")).unwrap();
    let stderr = std::fs::read_to_string(tmp.path().join("stderr")).unwrap();
    assert_eq!(status.code(), Some(2), "a file was refused\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(stdout.lines().filter(|l| l.starts_with("watch：")).count(), 1, "{stdout}");
    assert!(stdout.contains("处理回执 2 个") && stdout.contains("拒收 1 个"), "{stdout}");
    assert!(stderr.contains("receipt applied") && stderr.contains("receipt refused"), "{stderr}");
    assert!(inbox.join(".pain002.xml.swp").is_file(), "hidden names are left alone");
    for n in &full_numbers {
        assert!(!stdout.contains(n.as_str()) && !stderr.contains(n.as_str()), "full number in the output");
    }
}

#[test]
fn once_honours_markers_and_the_lock_and_leaves_partial_files() {
    let (tmp, config, answer, _) = paid_office();
    let c = config.to_str().unwrap();
    let staging = tmp.path().join("staging");
    let inbox = tmp.path().join("inbox");
    std::fs::create_dir(&inbox).unwrap();
    std::fs::copy(staging.join("pain002.xml"), inbox.join("pain002.xml")).unwrap();
    std::fs::write(inbox.join("pain002.xml.ok"), "").unwrap();
    let once = |settle: &str| {
        let args = ["watch", "--config", c, "--inbox", inbox.to_str().unwrap(), "--once", "--settle-ms", settle];
        let started = Instant::now();
        let out = common::disburse(&args);
        (out, started.elapsed())
    };

    // Another run holds the ledger lock: the file stays, exit 3 (cron retries later).
    let lock = disburse::ledger::Lock::acquire(&config.parent().unwrap().join("state/ledger.db")).unwrap();
    let (out, _) = once("200");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(inbox.join("pain002.xml").is_file() && inbox.join("pain002.xml.ok").is_file());
    assert_eq!(counts(c), (0, 0, 0));
    drop(lock);

    // The marked file goes at once; the camt.054 after settling; a .part never.
    std::thread::sleep(Duration::from_millis(20));
    std::fs::copy(staging.join("camt054.xml"), inbox.join("camt054.xml")).unwrap();
    std::fs::write(inbox.join("next.xml.part"), "<Document>").unwrap();
    let (out, took) = once("300");
    assert_eq!(out.status.code(), Some(2), "failures found: a person must look\n{}", text(&out));
    assert!(took < Duration::from_secs(10), "--once exits by itself ({took:?})");
    assert!(processed(&inbox, "pain002.xml").is_some());
    assert!(processed(&inbox, "pain002.xml.ok").is_some(), "the marker moves with its file");
    assert!(processed(&inbox, "camt054.xml").is_some());
    assert!(inbox.join("next.xml.part").is_file());
    let failed = answer.rejected.len() as u64;
    assert_eq!(counts(c), (answer.lines as u64 - failed - 1, failed, 1), "pain.002 first, then the 退票");

    // Nothing complete: exits at once with 0.
    let (out, took) = once("5000");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(took < Duration::from_secs(4), "a .part alone is not waited for ({took:?})");
}
