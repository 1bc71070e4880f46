#![no_main]
//! Every built-in text layout: its return-file (回盘) reader, and the reader that
//! re-reads a bank file it wrote (used by `verify`).
use std::sync::OnceLock;

use disburse::bankfile::{builtin_formats, Format};
use libfuzzer_sys::fuzz_target;

fn formats() -> &'static [Format] {
    static F: OnceLock<Vec<Format>> = OnceLock::new();
    F.get_or_init(|| {
        let none = std::path::Path::new("/nonexistent-formats-dir");
        builtin_formats().iter().map(|(name, _)| Format::load(name, none).expect("built-in layout")).collect()
    })
}

fuzz_target!(|data: &[u8]| {
    for f in formats() {
        let _ = f.read_returns(data, "return.txt");
        let _ = f.read_payments(data);
        let _ = f.count_and_total(data);
    }
});
