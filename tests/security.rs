//! Security of what the program leaves on disk and prints: output folders 0700 and
//! files 0600 whatever the umask; a signing key others can read is refused; no
//! bank layout, config path or receipt makes it write outside its folders; and no
//! full ID number, account number or key material reaches a log line, an error or
//! a report meant for people (only the bank files, paid.csv, roster.xlsx, the
//! ledger and stops_suggested.csv may hold them).

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::fake_bank;
use disburse::domain::{Field, Program};

/// Runs the binary under umask 022 (the usual default), so modes come from the
/// program and not from a strict test environment.
fn run_env(office: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c").arg("umask 022 && exec \"$0\" \"$@\"").arg(common::bin()).args(args).current_dir(office);
    cmd.env_remove("DISBURSE_LOG").env_remove("DISBURSE_LOG_FORMAT").env_remove("DISBURSE_CONFIG");
    cmd.env(common::LANG.0, common::LANG.1);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run disburse")
}

fn run(office: &Path, args: &[&str]) -> Output {
    run_env(office, args, &[])
}

fn init() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("office");
    let o = run(tmp.path(), &["init", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", common::text(&o));
    (tmp, dir)
}

fn code(o: &Output) -> Option<i32> {
    o.status.code()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            out.push(e.path());
            if e.file_type().unwrap().is_dir() {
                walk(&e.path(), out);
            }
        }
    }
}

fn all(dir: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    walk(dir, &mut v);
    v.sort();
    v
}

const C: &str = "disburse.toml";

/// init, run two months, receipts, reissue: the whole life of an office.
fn full_flow(office: &Path, env: &[(&str, &str)], outputs: &mut Vec<(String, Output)>) {
    let mut go = |args: &[&str]| {
        let o = run_env(office, args, env);
        assert!(matches!(code(&o), Some(0 | 2)), "disburse {args:?}: {}", common::text(&o));
        outputs.push((format!("{args:?}"), o));
    };
    go(&["check", "--config", C, "--period", "2026-10"]);
    go(&["run", "--config", C, "--period", "2026-10"]);
    go(&["run", "--config", C, "--period", "2026-10"]);
    go(&["verify", "out/2026-10", "--public-key", "keys/signing.pem.pub"]);
    fake_bank::answer(&office.join("out/2026-10"), &office.join("inbox"), 7).unwrap();
    go(&["returns", "--config", C, "inbox/pain002.xml", "inbox/camt054.xml"]);
    go(&["returns", "--config", C, "inbox/pain002.xml"]);
    go(&["reissue", "--config", C, "--period", "2026-10", "--corrections", "inbox/corrections.csv"]);
    go(&["status", "--config", C, "--period", "2026-10"]);
    go(&["status", "--config", C, "--period", "2026-10", "--json"]);
    go(&["run", "--config", C, "--period", "2026-11"]);
    go(&["verify", "out/2026-11"]);
}

#[test]
fn output_folders_are_0700_and_files_0600() {
    let (_tmp, office) = init();
    full_flow(&office, &[], &mut Vec::new());
    let mut wrong = Vec::new();
    for sub in ["out", "state", "keys"] {
        for p in all(&office.join(sub)) {
            let mode = std::fs::symlink_metadata(&p).unwrap().permissions().mode() & 0o777;
            let want = if p.is_dir() { 0o700 } else { 0o600 };
            if mode != want {
                wrong.push(format!("{} is {mode:o}, should be {want:o}", p.display()));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_key_others_can_read_is_refused() {
    let (_tmp, office) = init();
    let key = office.join("keys/signing.pem");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = run(&office, &["run", "--config", C, "--period", "2026-10"]);
    let t = common::text(&o);
    assert_eq!(code(&o), Some(1), "{t}");
    assert!(t.contains("signing.pem") && t.contains("chmod 600"), "names the key and the fix: {t}");
    assert!(!office.join("out/2026-10/bank").exists(), "nothing written");
}

/// A layout whose file name climbs out of the bank folder, or names a folder.
#[test]
fn a_bank_layout_naming_files_outside_the_bank_folder_is_refused() {
    for evil in ["../../../escaped_{part:03}.txt", "sub/dir_{part:03}.txt", "/tmp/abs_{part:03}.txt"] {
        let (tmp, office) = init();
        let layout = disburse::bankfile::builtin_formats().iter().find(|(n, _)| *n == "pipe-gbk").unwrap().1;
        let layout = layout.replace("file_name = \"{batch_id}_{part:03}.txt\"", &format!("file_name = \"{evil}\""));
        assert!(layout.contains(evil));
        std::fs::create_dir_all(office.join("formats")).unwrap();
        std::fs::write(office.join("formats/evil.toml"), layout).unwrap();
        let cfg = std::fs::read_to_string(office.join(C)).unwrap();
        std::fs::write(office.join(C), cfg.replace("format = \"pipe-gbk\"", "format = \"evil\"")).unwrap();
        let before = all(tmp.path());
        let o = run(&office, &["run", "--config", C, "--period", "2026-10"]);
        let t = common::text(&o);
        assert_eq!(code(&o), Some(1), "{evil}: {t}");
        assert!(t.contains("is not a safe, unique file name"), "{evil}: the message says why: {t}");
        let after = all(tmp.path());
        let new: Vec<_> = after
            .iter()
            .filter(|p| !before.contains(p))
            .filter(|p| !p.starts_with(office.join("out")) && !p.starts_with(office.join("state")))
            .collect();
        assert!(new.is_empty(), "{evil}: wrote {new:?}");
        assert!(!Path::new("/tmp/abs_001.txt").exists());
    }
}

#[test]
fn receipts_never_write_outside_the_output_folder() {
    let (tmp, office) = init();
    let o = run(&office, &["run", "--config", C, "--period", "2026-10"]);
    assert_eq!(code(&o), Some(2), "{}", common::text(&o));
    let inbox = tmp.path().join("inbox");
    fake_bank::answer(&office.join("out/2026-10"), &inbox, 5).unwrap();
    // A receipt whose references and texts look like paths.
    let evil = std::fs::read_to_string(inbox.join("pain002.xml")).unwrap().replacen(
        "<AddtlInf>",
        "<AddtlInf>../../../../tmp/evil/x.csv ",
        3,
    );
    std::fs::write(inbox.join("evil.xml"), evil).unwrap();
    let before: BTreeSet<PathBuf> = all(tmp.path()).into_iter().collect();
    for f in ["pain002.xml", "camt054.xml", "evil.xml"] {
        let p = inbox.join(f);
        let o = run(&office, &["returns", "--config", C, p.to_str().unwrap()]);
        assert!(matches!(code(&o), Some(0 | 2)), "{}", common::text(&o));
    }
    let after: BTreeSet<PathBuf> = all(tmp.path()).into_iter().collect();
    let out = office.join("out");
    let state = office.join("state");
    for p in after.difference(&before) {
        assert!(p.starts_with(&out) || p.starts_with(&state), "a receipt wrote {}", p.display());
    }
    assert!(office.join("out/2026-10/returns/failures.csv").exists());
    assert!(!Path::new("/tmp/evil").exists());
}

/// Every full ID and account number of the office's rosters and stop list.
fn secrets(office: &Path) -> BTreeSet<String> {
    let mut s = BTreeSet::new();
    for month in ["2026-10", "2026-11"] {
        for e in std::fs::read_dir(office.join("rosters").join(month)).unwrap().flatten() {
            let p = e.path();
            let stem = p.file_stem().unwrap().to_str().unwrap();
            // Rosters are named by a built-in code; approvals.csv is not a roster.
            let Ok(program) = Program::known(stem) else { continue };
            disburse::ingest::read_roster(&p, "r", program, None, &mut |row| {
                for f in [Field::IdNumber, Field::Account] {
                    let t = row.text(f);
                    if t.len() >= 8 && t.chars().all(|c| c.is_ascii_alphanumeric()) {
                        s.insert(t.to_string());
                    }
                }
            })
            .unwrap();
        }
    }
    let stops = std::fs::read_to_string(office.join("stops.csv")).unwrap();
    s.extend(stops.lines().skip(1).filter_map(|l| l.split(',').next()).map(str::to_string));
    s
}

/// Key material: the PEM armour and each base64 line of the private key.
fn key_material(office: &Path) -> Vec<String> {
    let pem = std::fs::read_to_string(office.join("keys/signing.pem")).unwrap();
    let mut v = vec!["PRIVATE KEY".to_string()];
    v.extend(pem.lines().filter(|l| !l.starts_with("-----") && l.len() >= 16).map(str::to_string));
    v
}

/// The text of a report, xlsx cells included.
fn file_text(p: &Path) -> String {
    if p.extension().is_some_and(|e| e == "xlsx") {
        use calamine::{open_workbook_auto, Reader};
        let mut wb = open_workbook_auto(p).unwrap();
        let mut s = String::new();
        for name in wb.sheet_names() {
            if let Ok(range) = wb.worksheet_range(&name) {
                for row in range.rows() {
                    for c in row {
                        s.push_str(&c.to_string());
                        s.push('\t');
                    }
                }
            }
        }
        return s;
    }
    String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned()
}

/// Files that exist to carry full numbers (SPEC §4): bank files, their signatures,
/// paid.csv, roster.xlsx and the ledger (SPEC §12: stops_suggested.csv, report.json
/// and flags/ mask them like every other output).
/// Bank files both ways: what we send (`bank/`) and what the bank sent back,
/// kept byte for byte (`returns/received/`, SPEC §8); the ledger; `paid.csv`
/// (a batch's record under `records/` is one too) and `roster.xlsx`.
fn may_hold_numbers(p: &Path) -> bool {
    let s = p.to_string_lossy();
    s.contains("/bank/")
        || s.contains("/returns/received/")
        || s.contains("/state/")
        || s.ends_with("paid.csv")
        || s.ends_with("roster.xlsx")
}

#[test]
fn no_full_id_account_or_key_in_logs_errors_or_reports() {
    let (_tmp, office) = init();
    let mut outputs = Vec::new();
    let text_env = [("DISBURSE_LOG", "debug")];
    let json_env = [("DISBURSE_LOG", "debug"), ("DISBURSE_LOG_FORMAT", "json")];
    full_flow(&office, &text_env, &mut outputs);
    let numbers = secrets(&office);
    assert!(numbers.len() > 100, "found the rosters' numbers ({})", numbers.len());
    let corrections = std::fs::read_to_string(office.join("inbox/corrections.csv")).unwrap();
    let mut numbers = numbers;
    numbers.extend(corrections.lines().skip(1).filter_map(|l| l.split(',').nth(1)).map(str::to_string));

    // Refusals and warnings, both log formats: bad receipt, bad roster, bad key.
    let refusals: Vec<Vec<&str>> = vec![
        vec!["returns", "--config", C, "inbox/corrections.csv"],
        vec!["reissue", "--config", C, "--period", "2026-10", "--corrections", "inbox/pain002.xml"],
        vec!["run", "--config", C, "--period", "2026-12"],
        vec!["verify", "out/2026-10", "--public-key", "keys/signing.pem"],
        vec!["check", "--config", C, "--period", "2026-11"],
        vec!["status", "--config", C],
    ];
    for env in [&text_env[..], &json_env[..]] {
        for args in &refusals {
            outputs.push((format!("{args:?} {env:?}"), run_env(&office, args, env)));
        }
    }
    // A roster whose every line is broken in a way that quotes its numbers.
    let roster = office.join("rosters/2026-11/youfu.csv");
    let text = std::fs::read_to_string(&roster).unwrap();
    let broken: String = text.lines().map(|l| l.replacen(',', ",X", 1) + "\n").collect();
    std::fs::write(&roster, broken).unwrap();
    for env in [&text_env[..], &json_env[..]] {
        outputs.push(("check broken".into(), run_env(&office, &["check", "--config", C, "--period", "2026-11"], env)));
    }
    full_flow_json(&json_env, &mut outputs);

    let keys = key_material(&office);
    let mut leaks = Vec::new();
    for (what, o) in &outputs {
        let t = common::text(o);
        assert!(!t.contains("panicked"), "{what} panicked: {t}");
        for n in numbers.iter().chain(keys.iter()) {
            if t.contains(n.as_str()) {
                leaks.push(format!("{what} prints {n}"));
            }
        }
    }
    for p in all(&office.join("out")) {
        if p.is_dir() || may_hold_numbers(&p) {
            continue;
        }
        let t = file_text(&p);
        for n in numbers.iter().chain(keys.iter()) {
            if t.contains(n.as_str()) {
                leaks.push(format!("{} holds {n}", p.display()));
            }
        }
    }
    leaks.sort();
    leaks.dedup();
    assert!(leaks.is_empty(), "{} leaks:\n{}", leaks.len(), leaks.join("\n"));
}

/// The same life in a second office with JSON logs.
fn full_flow_json(env: &[(&str, &str)], outputs: &mut Vec<(String, Output)>) {
    let (_tmp, office) = init();
    full_flow(&office, env, outputs);
}

/// Plants the office's own numbers where only free text should be: each UTF-8 CSV
/// roster of 2026-10 gets a full ID in the name of some lines and an account in
/// the note of others (the ID and account of *another* line, so a masked copy
/// elsewhere cannot hide a leak). Returns how many cells were planted.
fn plant_in_rosters(office: &Path) -> usize {
    let mut planted = 0;
    for e in std::fs::read_dir(office.join("rosters/2026-10")).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "csv") || p.file_name().is_some_and(|n| n == "approvals.csv") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&p) else { continue }; // GBK rosters stay as they are
        let body = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let mut r = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(body.as_bytes());
        let rows: Vec<Vec<String>> = r.records().flatten().map(|x| x.iter().map(str::to_string).collect()).collect();
        let find = |names: &[&str]| rows[0].iter().position(|h| names.contains(&h.trim()));
        let (Some(name), Some(id), Some(account)) = (
            find(&["姓名", "享受人", "name"]),
            find(&["身份证号", "身份证号码", "id_number"]),
            find(&["银行账号", "账号", "account"]),
        ) else {
            continue;
        };
        let note = find(&["备注", "note"]);
        let mut out = csv::Writer::from_writer(Vec::new());
        for (i, row) in rows.iter().enumerate() {
            let mut row = row.clone();
            let other = &rows[if i + 1 < rows.len() { i + 1 } else { 1 }];
            if i > 0 && i % 3 == 1 && row.len() > name {
                row[name] = format!("{}{}", row[name], other[id]);
                planted += 1;
            }
            if i > 0 && i % 3 == 2 {
                if let Some(n) = note.filter(|&n| n < row.len()) {
                    row[n] = format!("卡号{} 身份证 {}", other[account], other[id]);
                    planted += 1;
                }
            }
            out.write_record(&row).unwrap();
        }
        std::fs::write(&p, out.into_inner().unwrap()).unwrap();
        // The approval still covers the roster: the amounts are unchanged.
    }
    planted
}

/// The bank echoes full numbers into its reasons (AddtlInf of pain.002 and camt.054):
/// every rejection and return quotes an ID and an account of the office.
fn plant_in_receipts(office: &Path, numbers: &BTreeSet<String>) {
    let ids: Vec<&String> = numbers.iter().filter(|n| n.len() == 18).collect();
    let accounts: Vec<&String> = numbers.iter().filter(|n| n.len() != 18).collect();
    for file in ["inbox/pain002.xml", "inbox/camt054.xml"] {
        let path = office.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let mut out = String::new();
        for (k, part) in text.split("<AddtlInf>").enumerate() {
            if k > 0 {
                let said = format!(
                    "<AddtlInf>户名不符 身份证{} 账号{} 已核",
                    ids[k % ids.len()],
                    accounts[k % accounts.len()]
                );
                out.push_str(&said);
            }
            out.push_str(part);
        }
        std::fs::write(&path, out).unwrap();
    }
}

/// A whole office's month with the office's numbers planted in names, notes and
/// the bank's receipt texts: check, run, returns, reissue, status and report, in
/// text and JSON logs. No output but the bank files, paid.csv, roster.xlsx and the
/// ledger, and no line on stdout or stderr, holds a full ID or account number.
#[test]
fn numbers_planted_in_free_text_never_leak() {
    for env in [&[("DISBURSE_LOG", "debug")][..], &[("DISBURSE_LOG", "debug"), ("DISBURSE_LOG_FORMAT", "json")][..]] {
        let (_tmp, office) = init();
        let numbers = secrets(&office);
        assert!(plant_in_rosters(&office) > 20, "numbers planted in the rosters");
        let mut outputs = Vec::new();
        let mut go = |args: &[&str]| {
            let o = run_env(&office, args, env);
            assert!(matches!(code(&o), Some(0 | 1 | 2)), "disburse {args:?}: {}", common::text(&o));
            outputs.push((format!("{args:?}"), o));
        };
        go(&["check", "--config", C, "--period", "2026-10"]);
        go(&["run", "--config", C, "--period", "2026-10"]);
        fake_bank::answer(&office.join("out/2026-10"), &office.join("inbox"), 5).unwrap();
        plant_in_receipts(&office, &numbers);
        go(&["returns", "--config", C, "inbox/pain002.xml", "inbox/camt054.xml"]);
        go(&["reissue", "--config", C, "--period", "2026-10", "--corrections", "inbox/corrections.csv"]);
        go(&["status", "--config", C, "--period", "2026-10"]);
        go(&["status", "--config", C, "--period", "2026-10", "--json"]);
        go(&["check", "--config", C, "--period", "2026-10"]);
        let mut leaks = Vec::new();
        for (what, o) in &outputs {
            let t = common::text(o);
            leaks.extend(numbers.iter().filter(|n| t.contains(n.as_str())).map(|n| format!("{what} prints {n}")));
        }
        let files: Vec<PathBuf> = all(&office.join("out")).into_iter().filter(|p| p.is_file()).collect();
        assert!(files.iter().any(|p| p.ends_with("returns/failures.csv")), "the bank's failures were listed");
        for p in files.iter().filter(|p| !may_hold_numbers(p)) {
            let t = file_text(p);
            leaks.extend(
                numbers.iter().filter(|n| t.contains(n.as_str())).map(|n| format!("{} holds {n}", p.display())),
            );
        }
        leaks.sort();
        leaks.dedup();
        assert!(leaks.is_empty(), "{} leaks:\n{}", leaks.len(), leaks.join("\n"));
    }
}
