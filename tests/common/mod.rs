//! Helpers shared by the integration tests: run the real binary on real files.
#![allow(dead_code)]

pub mod fake_bank;
pub mod gen;
pub mod pg;
pub mod seed;
pub mod small;

use std::path::{Path, PathBuf};
use std::process::Output;

/// The ISO 20022 schemas vendored under fixtures/xsd (see its SOURCES.md).
pub fn xsd_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/xsd")
}

/// The built `disburse` binary.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_disburse"))
}

/// The language the suite's messages are asserted in: the tests were written
/// against the English texts (`DISBURSE_LANG=en`); the Chinese default has its own
/// tests (tests/language.rs), which run the binary without it.
pub const LANG: (&str, &str) = ("DISBURSE_LANG", "en");

/// `disburse` as a command to build on, in the suite's language ([`LANG`]).
pub fn command() -> std::process::Command {
    let mut c = std::process::Command::new(bin());
    c.env(LANG.0, LANG.1);
    c
}

/// Runs `disburse args…`, returning its output (never panics on a non-zero exit).
pub fn disburse(args: &[&str]) -> Output {
    command().args(args).output().expect("run disburse")
}

/// Runs and asserts the exit status, printing stdout/stderr when it differs.
pub fn expect(args: &[&str], code: i32) -> Output {
    let out = disburse(args);
    assert_eq!(
        out.status.code(),
        Some(code),
        "disburse {args:?}\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A fresh example office in a temp dir; returns the dir guard and the config path.
pub fn office() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("office");
    expect(&["init", dir.to_str().unwrap()], 0);
    (tmp, dir.join("disburse.toml"))
}

/// Reads a CSV (BOM stripped) into rows of strings, header first.
pub fn read_csv(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut r = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    r.records().map(|x| x.unwrap().iter().map(str::to_string).collect()).collect()
}

/// The text of stdout and stderr together.
pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}
