//! The ledger as a cache of signed files (SPEC §8), on the real binary: receipts
//! are archived byte for byte; a ledger lost, replaced by an empty one or
//! restored from an older backup is refused by every writing command; `ledger
//! rebuild` restores what the lost ledger said, period by period, byte for byte;
//! and no bank file name is ever written twice.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{disburse, expect, fake_bank, text};

const PERIODS: [&str; 2] = ["2026-10", "2026-11"];

struct Office {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    config: String,
}

impl Office {
    fn new() -> Office {
        let (tmp, config) = common::office();
        let dir = config.parent().unwrap().to_path_buf();
        Office { _tmp: tmp, dir, config: config.to_str().unwrap().to_string() }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// `disburse <command> --config C <rest…>`.
    fn args<'a>(&'a self, command: &'a [&'a str], rest: &'a [&'a str]) -> Vec<&'a str> {
        let mut v: Vec<&str> = command.to_vec();
        v.extend(["--config", self.config.as_str()]);
        v.extend(rest);
        v
    }

    fn go(&self, command: &[&str], rest: &[&str], codes: &[i32]) -> String {
        let o = disburse(&self.args(command, rest));
        let code = o.status.code().unwrap_or(-1);
        assert!(codes.contains(&code), "disburse {command:?} {rest:?} exited {code}:\n{}", text(&o));
        text(&o)
    }

    fn run(&self, period: &str) -> String {
        self.go(&["run"], &["--period", period], &[0, 2])
    }

    fn returns(&self, files: &[PathBuf]) -> String {
        let files: Vec<&str> = files.iter().map(|p| p.to_str().unwrap()).collect();
        self.go(&["returns"], &files, &[0, 2])
    }

    fn reissue(&self, period: &str, corrections: &Path) -> String {
        self.go(&["reissue"], &["--period", period, "--corrections", corrections.to_str().unwrap()], &[0, 2])
    }

    fn status(&self, period: &str) -> String {
        let o = expect(&self.args(&["status"], &["--period", period, "--json"]), 0);
        String::from_utf8(o.stdout).unwrap()
    }

    fn statuses(&self) -> BTreeMap<&'static str, String> {
        PERIODS.iter().map(|p| (*p, self.status(p))).collect()
    }

    fn ledger(&self) -> PathBuf {
        self.path("state/ledger.db")
    }

    /// Deletes the ledger and what SQLite keeps beside it.
    fn lose_ledger(&self) {
        for s in ["", "-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(format!("{}{s}", self.ledger().display()));
        }
    }

    /// Every file under out/ with its bytes' digest: what "nothing written" compares.
    fn outputs(&self) -> BTreeMap<PathBuf, String> {
        let mut v = BTreeMap::new();
        walk(&self.path("out"), &mut |p| {
            v.insert(p.to_path_buf(), disburse::fsutil::sha256_file(p).unwrap());
        });
        v
    }

    fn bank_files(&self) -> usize {
        PERIODS.iter().map(|p| std::fs::read_dir(self.path(&format!("out/{p}/bank"))).map_or(0, |d| d.count())).sum()
    }
}

fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        if e.path().is_dir() {
            walk(&e.path(), f);
        } else {
            f(&e.path());
        }
    }
}

/// Two months of runs, each answered by the bank (pain.002 with rejections, a
/// camt.054 return), and a correction batch for each month.
fn two_months(o: &Office) {
    for (i, p) in PERIODS.iter().enumerate() {
        o.run(p);
        let inbox = o.path(&format!("inbox-{p}"));
        fake_bank::answer(&o.path(&format!("out/{p}")), &inbox, 5 + i).unwrap();
        o.returns(&[inbox.join("pain002.xml"), inbox.join("camt054.xml")]);
        o.reissue(p, &inbox.join("corrections.csv"));
    }
}

/// The refusal of a command on a ledger that does not know what out/ holds:
/// exit 1, nothing written, and a message naming `newest` and the way out.
fn refused(o: &Office, command: &[&str], rest: &[&str], newest: &str) {
    let before = o.outputs();
    let out = disburse(&o.args(command, rest));
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{command:?} must refuse:\n{said}");
    assert!(said.contains("disburse ledger rebuild"), "{command:?}: says what to do:\n{said}");
    assert!(said.contains(newest), "{command:?}: names {newest}:\n{said}");
    assert_eq!(o.outputs(), before, "{command:?}: nothing written");
}

#[test]
fn a_lost_ledger_is_refused_then_rebuilt_to_what_it_said() {
    let o = Office::new();
    two_months(&o);
    let said = o.statuses();
    assert!(said["2026-11"].contains("\"reissued\""), "{}", said["2026-11"]);
    let files = o.bank_files();
    let receipts = o.path("inbox-2026-11");
    let corrections = receipts.join("corrections.csv");

    o.lose_ledger();
    // The newest batch published is 2026-11's correction batch.
    refused(&o, &["run"], &["--period", "2026-11"], "2026-11 C001");
    refused(&o, &["returns"], &[receipts.join("pain002.xml").to_str().unwrap()], "2026-11 C001");
    refused(&o, &["reissue"], &["--period", "2026-10", "--corrections", corrections.to_str().unwrap()], "C001");

    let out = o.go(&["ledger", "rebuild"], &[], &[0]);
    assert!(out.contains("4 个批次"), "{out}");
    assert_eq!(o.statuses(), said, "status --json of every period as the lost ledger said it");
    for p in PERIODS {
        let again = o.go(&["run"], &["--period", p], &[0, 2]);
        assert!(!again.contains("bank files written"), "{p}: nothing paid again:\n{again}");
        let inbox = o.path(&format!("inbox-{p}"));
        o.reissue(p, &inbox.join("corrections.csv"));
        o.returns(&[inbox.join("pain002.xml"), inbox.join("camt054.xml")]);
    }
    assert_eq!(o.bank_files(), files, "no bank file written after the rebuild");
    assert_eq!(o.statuses(), said, "rerunning every command changed nothing");
    for p in PERIODS {
        expect(&["verify", o.path(&format!("out/{p}")).to_str().unwrap()], 0);
    }
}

#[test]
fn an_empty_or_older_ledger_is_refused_naming_the_newest_unknown_run_or_receipt() {
    let o = Office::new();
    o.run("2026-10");
    let backup = o.path("state/backup.db");
    std::fs::copy(o.ledger(), &backup).unwrap();
    let inbox = o.path("inbox");
    fake_bank::answer(&o.path("out/2026-10"), &inbox, 5).unwrap();
    o.returns(&[inbox.join("pain002.xml")]);
    let with_receipt = o.path("state/with-receipt.db");
    std::fs::copy(o.ledger(), &with_receipt).unwrap();

    // Restored from before the receipt: the archived receipt is unknown.
    std::fs::copy(&backup, o.ledger()).unwrap();
    refused(&o, &["run"], &["--period", "2026-11"], "pain002.xml");
    refused(&o, &["returns"], &[inbox.join("camt054.xml").to_str().unwrap()], "pain002.xml");

    // Restored from before November's run: the run is unknown.
    std::fs::copy(&with_receipt, o.ledger()).unwrap();
    o.run("2026-11");
    std::fs::copy(&with_receipt, o.ledger()).unwrap();
    refused(&o, &["run"], &["--period", "2026-11"], "2026-11 R001");

    // Replaced by an empty ledger.
    o.lose_ledger();
    std::fs::write(o.ledger(), b"").unwrap();
    refused(&o, &["run"], &["--period", "2026-10"], "2026-11 R001");
    refused(
        &o,
        &["reissue"],
        &["--period", "2026-10", "--corrections", inbox.join("corrections.csv").to_str().unwrap()],
        "2026-11 R001",
    );
}

#[test]
fn rebuild_keeps_a_ledger_with_data_unless_forced_and_then_keeps_the_old_file() {
    let o = Office::new();
    two_months(&o);
    let said = o.statuses();
    let before = std::fs::read(o.ledger()).unwrap();
    let out = disburse(&o.args(&["ledger", "rebuild"], &[]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("--force"), "{}", text(&out));
    assert_eq!(std::fs::read(o.ledger()).unwrap(), before, "the ledger is untouched");

    // An output folder that lacks a period the ledger paid is never the source.
    let away = o.path("away");
    std::fs::rename(o.path("out/2026-11"), &away).unwrap();
    let out = disburse(&o.args(&["ledger", "rebuild"], &["--force"]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("Restore the output folder"), "{}", text(&out));
    assert_eq!(std::fs::read(o.ledger()).unwrap(), before, "the ledger is untouched");
    std::fs::rename(&away, o.path("out/2026-11")).unwrap();

    o.go(&["ledger", "rebuild"], &["--force"], &[0]);
    assert_eq!(o.statuses(), said);
    let kept: Vec<PathBuf> = std::fs::read_dir(o.path("state"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains("ledger.db.before-rebuild-"))
        .collect();
    assert_eq!(kept.len(), 1, "the old ledger is kept beside the new one: {kept:?}");
    assert_eq!(std::fs::read(&kept[0]).unwrap(), before, "kept as it was");
    assert!(!o.path("state/ledger.db.rebuild").exists(), "no scratch ledger left");
}

#[test]
fn rebuild_stops_at_a_tampered_run_folder_naming_it() {
    let o = Office::new();
    two_months(&o);
    // Each kind of signed file of a batch: a bank file, a payment record, a manifest.
    let targets = ["out/2026-10/bank", "out/2026-11/records/R001/paid.csv", "out/2026-11/manifest.json"];
    for target in targets {
        let t = o.path(target);
        let file = if t.is_dir() {
            std::fs::read_dir(&t)
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .find(|p| !p.to_string_lossy().ends_with(".sig"))
                .unwrap()
        } else {
            t
        };
        let good = std::fs::read(&file).unwrap();
        let mut bad = good.clone();
        let at = bad.iter().rposition(|b| b.is_ascii_digit()).unwrap();
        bad[at] = if bad[at] == b'9' { b'8' } else { bad[at] + 1 };
        std::fs::write(&file, &bad).unwrap();
        o.lose_ledger();
        let out = disburse(&o.args(&["ledger", "rebuild"], &[]));
        let said = text(&out);
        assert_eq!(out.status.code(), Some(1), "{target}: {said}");
        let folder = &target[..11];
        assert!(said.contains(folder), "{target}: names the folder {folder}:\n{said}");
        assert!(!o.ledger().exists(), "{target}: no ledger made");
        std::fs::write(&file, &good).unwrap();
    }
    o.lose_ledger();
    o.go(&["ledger", "rebuild"], &[], &[0]);
}

#[test]
fn every_applied_receipt_is_archived_byte_for_byte_under_its_name() {
    let o = Office::new();
    o.run("2026-10");
    let inbox = o.path("inbox");
    fake_bank::answer(&o.path("out/2026-10"), &inbox, 5).unwrap();
    let pain = inbox.join("pain002.xml");
    o.returns(&[pain.clone(), inbox.join("camt054.xml")]);
    let received = o.path("out/2026-10/returns/received");
    assert_eq!(std::fs::read(received.join("pain002.xml")).unwrap(), std::fs::read(&pain).unwrap());
    assert_eq!(std::fs::read(received.join("camt054.xml")).unwrap(), std::fs::read(inbox.join("camt054.xml")).unwrap());
    // Applied again: nothing new. Another receipt with the same name: `.1`.
    o.returns(std::slice::from_ref(&pain));
    let other = o.path("other");
    std::fs::create_dir_all(&other).unwrap();
    let mut text = std::fs::read_to_string(&pain).unwrap();
    text = text.replacen("BANKRPT0001", "BANKRPT0002", 1);
    std::fs::write(other.join("pain002.xml"), &text).unwrap();
    o.returns(&[other.join("pain002.xml")]);
    let mut names: Vec<String> =
        std::fs::read_dir(&received).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["camt054.xml", "pain002.xml", "pain002.xml.1"]);
    assert_eq!(std::fs::read_to_string(received.join("pain002.xml.1")).unwrap(), text);
}

#[test]
fn a_bank_file_name_is_never_written_twice() {
    let o = Office::new();
    // A layout whose file name carries no batch or period: the second batch would reuse it.
    let layout = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("formats/pipe-gbk.toml")).unwrap();
    let layout = layout.replace("file_name = \"{batch_id}_{part:03}.txt\"", "file_name = \"DAIFA_{part:03}.txt\"");
    std::fs::create_dir_all(o.path("formats")).unwrap();
    std::fs::write(o.path("formats/daifa.toml"), layout).unwrap();
    let config = std::fs::read_to_string(&o.config).unwrap();
    std::fs::write(&o.config, config.replace("format = \"pipe-gbk\"", "format = \"daifa\"")).unwrap();
    o.run("2026-10");
    let first = o.outputs();
    let out = disburse(&o.args(&["run"], &["--period", "2026-11"]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("DAIFA_001.txt"), "{}", text(&out));
    assert!(!o.path("out/2026-11/bank").exists(), "nothing of November published");
    let now = o.outputs();
    // (The audit journal is not October's: the refused run's event is appended to it, SPEC §14.)
    let mut october = first.iter().filter(|(p, _)| !p.ends_with("audit.jsonl"));
    assert!(october.all(|(p, d)| now.get(p) == Some(d)), "October's files untouched");
    assert!(!o.status("2026-11").contains("\"sent\""));
}
