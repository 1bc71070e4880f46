//! Exit statuses cron can trust and refusals a clerk can act on (SPEC §7 and its
//! addendum): argument errors are refusals (1, never 2); a rerun that pays nothing
//! while lines are held still needs a person (2); a failed command leaves no
//! report that looks current; every message names the file once and says what to do.

mod common;

use common::{disburse, expect, office, text};

fn period_args<'a>(c: &'a str, period: &'a str) -> [&'a str; 5] {
    ["check", "--config", c, "--period", period]
}

/// Every kind of argument error exits 1, whatever the command: bad periods
/// (full-width digits, month 13, month 0, no dash, extra text), unknown flags,
/// missing arguments, unknown commands. `--help` and `--version` exit 0.
#[test]
fn argument_errors_are_refusals_not_held_lines() {
    let (_tmp, config) = office();
    let c = config.to_str().unwrap();
    for period in ["２０２６-10", "2026-13", "2026-00", "202610", "2026-1", "2026-10x", "", "26-10"] {
        for cmd in ["check", "run", "status"] {
            let o = disburse(&[cmd, "--config", c, "--period", period]);
            assert_eq!(o.status.code(), Some(1), "{cmd} --period {period:?}: {}", text(&o));
            assert!(text(&o).contains("period") || text(&o).contains("PERIOD"), "{}", text(&o));
        }
    }
    let cases: &[&[&str]] = &[
        &["check", "--config", c, "--period", "2026-11", "--bogus"],
        &["check", "--config", c],
        &["run", "--period", "2026-11", "--config"],
        &["returns", "--config", c],
        &["reissue", "--config", c, "--period", "2026-11"],
        &["frobnicate"],
        &[],
        &["--log-format", "xml", "status", "--config", c],
        &["keygen", "--algorithm", "rsa", "--out", "k.pem"],
    ];
    for args in cases {
        let o = disburse(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o));
        assert!(!o.stderr.is_empty(), "{args:?} says why");
    }
    expect(&["--help"], 0);
    expect(&["check", "--help"], 0);
    expect(&["--version"], 0);
}

/// A rerun that pays nothing new while lines of the period are held exits 2.
#[test]
fn a_rerun_with_lines_still_held_exits_2() {
    let (_tmp, config) = office();
    let c = config.to_str().unwrap();
    expect(&["run", "--config", c, "--period", "2026-11"], 2);
    let again = expect(&["run", "--config", c, "--period", "2026-11"], 2);
    assert!(text(&again).contains("nothing new to pay"), "{}", text(&again));
}

/// A failed check (and a failed run) leaves no reports of an earlier check that
/// would be read as its answer; a published run's own reports stay.
#[test]
fn a_failed_check_or_run_leaves_no_stale_reports() {
    let (_tmp, config) = office();
    let c = config.to_str().unwrap();
    let dir = config.parent().unwrap();
    let reports = dir.join("out/2026-11/reports");
    expect(&period_args(c, "2026-11"), 2);
    assert!(reports.join("exceptions.csv").exists());
    let approvals = dir.join("rosters/2026-11/approvals.csv");
    let good = std::fs::read(&approvals).unwrap();
    std::fs::write(&approvals, "program,count\n").unwrap();
    let o = expect(&period_args(c, "2026-11"), 1);
    assert!(!reports.exists(), "stale reports removed: {}", text(&o));
    std::fs::write(&approvals, &good).unwrap();
    expect(&period_args(c, "2026-11"), 2);
    std::fs::write(&approvals, "program,count\n").unwrap();
    expect(&["run", "--config", c, "--period", "2026-11"], 1);
    assert!(!reports.exists(), "a failed run removes the check's reports too");
    // After a published run, a failed check removes its own copies only.
    std::fs::write(&approvals, &good).unwrap();
    expect(&["run", "--config", c, "--period", "2026-11"], 2);
    expect(&period_args(c, "2026-11"), 2);
    let check_reports = dir.join("out/2026-11/check/reports");
    assert!(check_reports.join("exceptions.csv").exists());
    std::fs::write(&approvals, "program,count\n").unwrap();
    expect(&period_args(c, "2026-11"), 1);
    assert!(!check_reports.exists());
    assert!(reports.join("paid.csv").exists() && reports.join("exceptions.csv").exists(), "the run's reports stay");
}

/// A path that is not a folder is named once, with what to do.
#[test]
fn an_output_path_that_is_a_file_is_named_once() {
    let (_tmp, config) = office();
    let dir = config.parent().unwrap();
    let toml = std::fs::read_to_string(&config).unwrap();
    // The folder asked for, once, and the file in its way when that is another.
    for (target, named) in [("/dev/null", "/dev/null"), ("blocker/out", "blocker/out")] {
        std::fs::write(dir.join("blocker"), "").unwrap();
        std::fs::write(&config, toml.replace("dir = \"out\"", &format!("dir = \"{target}\""))).unwrap();
        for cmd in ["check", "run"] {
            let o = expect(&[cmd, "--config", config.to_str().unwrap(), "--period", "2026-11"], 1);
            let err = String::from_utf8_lossy(&o.stderr).to_string();
            assert!(err.contains("is a file, not a folder") && err.contains("disburse.toml"), "{err}");
            assert!(!err.contains("os error 17") && !err.contains("File exists"), "{err}");
            assert_eq!(err.matches(named).count(), 1, "names {named} once: {err}");
        }
    }
}

/// A configured stop list that is missing refuses check and run, naming it; a
/// stop list with only its header is fine.
#[test]
fn a_configured_stop_list_must_exist() {
    let (_tmp, config) = office();
    let c = config.to_str().unwrap();
    let stops = config.parent().unwrap().join("stops.csv");
    let header = std::fs::read_to_string(&stops).unwrap().lines().next().unwrap().to_string();
    std::fs::remove_file(&stops).unwrap();
    for cmd in ["check", "run"] {
        let o = expect(&[cmd, "--config", c, "--period", "2026-11"], 1);
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        assert_eq!(err.matches("stops.csv").count(), 1, "{err}");
        assert!(err.contains("not found"), "{err}");
    }
    assert!(!config.parent().unwrap().join("out/2026-11/bank").exists(), "nothing paid");
    std::fs::write(&stops, format!("{header}\n")).unwrap();
    expect(&["check", "--config", c, "--period", "2026-11"], 2);
}

/// Every refusal names its file once (no doubled paths) — across the usual mistakes.
#[test]
fn refusals_name_the_file_once() {
    let (_tmp, config) = office();
    let c = config.to_str().unwrap();
    let dir = config.parent().unwrap();
    let o = expect(&["check", "--config", "nope/disburse.toml", "--period", "2026-11"], 1);
    assert_eq!(String::from_utf8_lossy(&o.stderr).matches("nope/disburse.toml").count(), 1, "{}", text(&o));
    std::fs::remove_file(dir.join("keys/signing.pem")).unwrap();
    let o = expect(&["run", "--config", c, "--period", "2026-11"], 1);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(err.matches("signing.pem").count(), 1, "{err}");
    assert!(err.contains("no such file or folder") && err.contains("disburse.toml"), "{err}");
    std::fs::remove_file(dir.join("rosters/2026-11/approvals.csv")).unwrap();
    let o = expect(&["check", "--config", c, "--period", "2026-11"], 1);
    assert_eq!(String::from_utf8_lossy(&o.stderr).matches("approvals.csv").count(), 1, "{}", text(&o));
}
