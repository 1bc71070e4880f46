//! The bad-input corpus (`fixtures/bad/cases.toml`): every malformed roster,
//! control file, receipt and config runs through the real binary in a fresh copy of
//! the example office, and must get exactly the exit status, exception codes and
//! refusal messages the manifest names. Also replays every fuzz seed and every
//! crash the fuzzers found through the same library entry points, on stable Rust:
//! this is the CI form of the fuzz targets.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;

use disburse::domain::{parse_amount, Field, Program};
use rust_decimal::Decimal;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    case: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    file: String,
    kind: String,
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    approvals: Option<String>,
    #[serde(default)]
    setup: Vec<String>,
    command: String,
    exit: i32,
    #[serde(default)]
    exceptions: Option<Vec<String>>,
    #[serde(default)]
    message: Vec<String>,
    #[serde(default)]
    report_message: Vec<String>,
    #[serde(default)]
    unchanged: bool,
    #[serde(default)]
    no_formula: bool,
}

const PERIOD: &str = "2026-10";

fn bad_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bad")
}

fn manifest() -> Manifest {
    let text = std::fs::read_to_string(bad_dir().join("cases.toml")).unwrap();
    toml::from_str(&text).unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

fn run(office: &Path, args: &[&str]) -> Output {
    common::command().current_dir(office).args(args).output().expect("run disburse")
}

fn status_json(office: &Path) -> String {
    let o = run(office, &["status", "--config", "disburse.toml", "--period", PERIOD, "--json"]);
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn default_target(c: &Case) -> String {
    match c.kind.as_str() {
        "roster-csv" => "rosters/2026-10/youfu.csv".into(),
        "roster-xlsx" => "rosters/2026-10/dibao.xlsx".into(),
        "approvals" => "rosters/2026-10/approvals.csv".into(),
        "stops" => "stops.csv".into(),
        "config" => "disburse.toml".into(),
        "receipt" | "corrections" => format!("inbox/{}", c.file),
        k => panic!("{}: unknown kind {k}", c.file),
    }
}

/// Writes the case's input into the office, generating `@100mb-line`.
fn place(c: &Case, dest: &Path) {
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    if c.file == "@100mb-line" {
        let mut f = std::io::BufWriter::new(std::fs::File::create(dest).unwrap());
        f.write_all(b"id_number,name,category,amount,account,bank,payee_name,payee_type,township,village,note\n")
            .unwrap();
        f.write_all(b"330729196301131392,").unwrap();
        let chunk = vec![b'A'; 1 << 20];
        for _ in 0..100 {
            f.write_all(&chunk).unwrap();
        }
        f.write_all(b",1.00\n").unwrap();
        return;
    }
    std::fs::copy(bad_dir().join(&c.file), dest).unwrap_or_else(|e| panic!("{}: {e}", c.file));
}

/// Sets the approval line of the roster's program to its count and total as
/// written, so a roster case shows only its own problem (SPEC §2: a missing or
/// non-numeric amount counts as 0). A roster that cannot be read keeps the line.
fn fix_approval(office: &Path, roster: &Path) {
    let code = roster.file_stem().unwrap().to_str().unwrap();
    let program: Program = code.parse().unwrap();
    let (mut count, mut total) = (0u64, Decimal::ZERO);
    let read = disburse::ingest::read_roster(roster, "r", program, None, &mut |row| {
        count += 1;
        total += parse_amount(row.text(Field::Amount)).unwrap_or(Decimal::ZERO);
    });
    if read.is_err() {
        return;
    }
    let path = office.join("rosters/2026-10/approvals.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let fixed: Vec<String> = text
        .lines()
        .map(|l| {
            let mut cells: Vec<String> = l.split(',').map(str::to_string).collect();
            if cells[0] == code {
                cells[1] = count.to_string();
                cells[2] = total.to_string();
            }
            cells.join(",")
        })
        .collect();
    std::fs::write(&path, fixed.join("\n") + "\n").unwrap();
}

/// The exceptions of the target's program as `CODE:row:field`.
fn exceptions(office: &Path, program: &str) -> BTreeSet<String> {
    let path = office.join("out/2026-10/reports/exceptions.csv");
    if !path.exists() {
        return BTreeSet::new();
    }
    common::read_csv(&path)
        .into_iter()
        .skip(1)
        .filter(|r| r[0] == program)
        .map(|r| format!("{}:{}:{}", r[4], r[2], r[3]))
        .collect()
}

fn reports_text(office: &Path) -> String {
    let mut s = String::new();
    if let Ok(rd) = std::fs::read_dir(office.join("out/2026-10/reports")) {
        for e in rd.flatten() {
            if e.path().extension().is_some_and(|x| x == "csv") {
                s.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
    }
    s
}

/// Runs one case; returns what was wrong with it (empty when it passed).
fn run_case(c: &Case, template: &Path) -> Vec<String> {
    let tmp = tempfile::tempdir().unwrap();
    let office = tmp.path().join("office");
    copy_dir(template, &office);
    let mut wrong = Vec::new();
    for s in &c.setup {
        let o = if s == "run" {
            run(&office, &["run", "--config", "disburse.toml", "--period", PERIOD])
        } else {
            let p = bad_dir().join(s);
            run(&office, &["returns", "--config", "disburse.toml", p.to_str().unwrap()])
        };
        if !matches!(o.status.code(), Some(0 | 2)) {
            return vec![format!("setup {s} failed: {}", common::text(&o))];
        }
    }
    let target = c.target.clone().unwrap_or_else(|| default_target(c));
    let dest = office.join(&target);
    place(c, &dest);
    if c.kind.starts_with("roster") && c.approvals.as_deref() != Some("keep") {
        fix_approval(&office, &dest);
    }
    let before = c.unchanged.then(|| status_json(&office));
    let args: Vec<&str> = match c.command.as_str() {
        "check" | "run" => vec![&c.command, "--config", "disburse.toml", "--period", PERIOD],
        "returns" => vec!["returns", "--config", "disburse.toml", &target],
        "reissue" => vec!["reissue", "--config", "disburse.toml", "--period", PERIOD, "--corrections", &target],
        other => panic!("{}: unknown command {other}", c.file),
    };
    let o = run(&office, &args);
    let out = common::text(&o);
    if o.status.code() != Some(c.exit) {
        wrong.push(format!("exit {:?}, expected {}", o.status.code(), c.exit));
    }
    for m in &c.message {
        if !out.contains(m.as_str()) {
            wrong.push(format!("output lacks {m:?}"));
        }
    }
    if let Some(expected) = &c.exceptions {
        let program = Path::new(&target).file_stem().unwrap().to_str().unwrap();
        let got = exceptions(&office, program);
        let want: BTreeSet<String> = expected.iter().cloned().collect();
        if got != want {
            wrong.push(format!("exceptions {got:?}, expected {want:?}"));
        }
    }
    let reports = reports_text(&office);
    for m in &c.report_message {
        if !reports.contains(m.as_str()) {
            wrong.push(format!("reports lack {m:?}"));
        }
    }
    if c.no_formula {
        let csvs = office.join("out/2026-10/reports");
        for name in ["exceptions.csv", "notice.csv", "paid.csv", "changes.csv", "summary.csv"] {
            let p = csvs.join(name);
            if !p.exists() {
                continue;
            }
            for row in common::read_csv(&p) {
                if let Some(cell) = row.iter().find(|x| x.starts_with(['=', '+', '@'])) {
                    wrong.push(format!("{name}: cell {cell:?} would run as a formula"));
                }
            }
        }
    }
    if let Some(before) = before {
        let after = status_json(&office);
        if before != after {
            wrong.push(format!("status changed:\nbefore {before}\nafter  {after}"));
        }
    }
    if out.contains("panicked") || out.contains("RUST_BACKTRACE") {
        wrong.push("the binary panicked".into());
    }
    if let Some(line) = out.lines().find(|l| says_twice(l)) {
        wrong.push(format!("a message repeats its cause: {line}"));
    }
    if !wrong.is_empty() {
        wrong.insert(0, format!("output:\n{}", out.chars().take(3000).collect::<String>()));
    }
    wrong
}

/// "X: X": a line that ends with the same text twice, joined by ": " (an error
/// printed with a cause it already quotes).
fn says_twice(line: &str) -> bool {
    line.match_indices(": ").any(|(at, _)| {
        let tail = &line[at + 2..];
        tail.len() >= 10 && line[..at].ends_with(tail)
    })
}

#[test]
fn says_twice_finds_a_repeated_cause() {
    assert!(says_twice("disburse: cannot read config x.toml: No such file or directory (os error 2): No such file or directory (os error 2)"));
    assert!(!says_twice("disburse: cannot read config x.toml: No such file or directory (os error 2)"));
    assert!(!says_twice("row 3: 金额: 金额“x”不是数字"));
}

#[test]
fn every_bad_input_gets_exactly_its_answer() {
    let m = manifest();
    assert!(m.case.len() >= 40, "the corpus must hold at least 40 cases");
    for c in &m.case {
        if c.file != "@100mb-line" {
            let len = std::fs::metadata(bad_dir().join(&c.file)).unwrap().len();
            assert!(len < 1024 * 1024, "{}: committed corpus files stay under 1 MB", c.file);
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let template = tmp.path().join("template");
    common::expect(&["init", template.to_str().unwrap()], 0);
    let failures = std::sync::Mutex::new(Vec::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(c) = m.case.get(i) else { break };
                let wrong = run_case(c, &template);
                if !wrong.is_empty() {
                    failures.lock().unwrap().push(format!("== {} ({})\n{}", c.file, c.kind, wrong.join("\n")));
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{} of {} cases wrong:\n{}", failures.len(), m.case.len(), failures.join("\n\n"));
}

#[test]
fn every_corpus_file_is_in_the_manifest() {
    let m = manifest();
    let listed: BTreeSet<&str> = m.case.iter().map(|c| c.file.as_str()).collect();
    for e in std::fs::read_dir(bad_dir()).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name == "cases.toml" || name == "make.py" || name.starts_with("pre_") {
            continue;
        }
        assert!(listed.contains(name.as_str()), "{name} is in fixtures/bad/ but not in cases.toml");
    }
}

// ---- fuzz replay ----------------------------------------------------------------

/// Every file under `fuzz/seeds/<target>/` and `fuzz/regressions/<target>/`
/// (and the local `fuzz/corpus/<target>/` when a fuzzer has run here).
fn fuzz_inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut out = Vec::new();
    for sub in ["seeds", "regressions", "corpus"] {
        if let Ok(rd) = std::fs::read_dir(root.join(sub).join(target)) {
            out.extend(rd.flatten().map(|e| e.path()).filter(|p| p.is_file()));
        }
    }
    out.sort();
    out
}

/// Runs `f` on each input; a panic names the input file.
fn replay(target: &str, f: impl Fn(&[u8])) -> usize {
    let inputs = fuzz_inputs(target);
    for p in &inputs {
        // A running fuzzer may drop files from fuzz/corpus while we read it.
        let Ok(bytes) = std::fs::read(p) else { continue };
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&bytes)));
        assert!(r.is_ok(), "fuzz input {} panics", p.display());
    }
    inputs.len()
}

fn via_file(ext: &str, bytes: &[u8], f: impl FnOnce(&Path)) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(format!("input.{ext}"));
    std::fs::write(&p, bytes).unwrap();
    f(&p);
}

#[test]
fn fuzz_seeds_and_crashes_replay_without_panics() {
    use disburse::bankfile::{builtin_formats, Format};
    let none = Path::new("/nonexistent-formats-dir");
    let formats: Vec<Format> = builtin_formats().iter().map(|(n, _)| Format::load(n, none).unwrap()).collect();
    let mut n = 0;
    n += replay("roster_csv", |b| {
        via_file("csv", b, |p| {
            let _ = disburse::ingest::read_roster(p, "input.csv", Program::Dibao, None, &mut |_| {});
        })
    });
    n += replay("roster_xlsx", |b| {
        via_file("xlsx", b, |p| {
            let _ = disburse::ingest::read_roster(p, "input.xlsx", Program::Dibao, None, &mut |_| {});
            let _ = disburse::ingest::read_roster(p, "input.xlsx", Program::Dibao, Some("Sheet1"), &mut |_| {});
        })
    });
    n += replay("text_returns", |b| {
        for f in &formats {
            let _ = f.read_returns(b, "return.txt");
            let _ = f.read_payments(b);
            let _ = f.count_and_total(b);
        }
    });
    n += replay("receipt_xml", |b| {
        let _ = disburse::returns::parse_xml_receipt(b, "receipt.xml");
    });
    n += replay("corrections", |b| {
        via_file("csv", b, |p| {
            let _ = disburse::ingest::read_corrections(p, "corrections.csv");
        })
    });
    n += replay("approvals", |b| {
        via_file("csv", b, |p| {
            let _ = disburse::ingest::read_approvals(p, "approvals.csv");
        })
    });
    n += replay("stops", |b| {
        via_file("csv", b, |p| {
            let _ = disburse::ingest::read_stops(p, "stops.csv");
        })
    });
    n += replay("config", |b| {
        if let Ok(t) = std::str::from_utf8(b) {
            let _ = disburse::config::Config::parse(t, Path::new("/office"));
        }
    });
    assert!(n > 0, "no fuzz seeds found under fuzz/seeds/");
}
