#![no_main]
//! approvals.csv.
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// One temp folder per fuzzing process; the input is rewritten into it each time
/// because this reader takes a path.
fn file() -> &'static PathBuf {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, p) = DIR.get_or_init(|| {
        let d = tempfile::tempdir().expect("temp dir");
        let p = d.path().join("input.csv");
        (d, p)
    });
    p
}

fuzz_target!(|data: &[u8]| {
    let path = file();
    std::fs::write(path, data).expect("write input");
    let _ = disburse::ingest::read_approvals(path, "approvals.csv");
});
