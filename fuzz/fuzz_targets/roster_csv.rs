#![no_main]
//! Roster CSV (UTF-8, BOM, GBK, tab/comma — the reader sniffs) through ingest::read_roster.
use libfuzzer_sys::fuzz_target;

#[path = "input_file.rs"]
mod input_file;

fuzz_target!(|data: &[u8]| {
    let path = input_file::write_input(data, "csv");
    for program in [disburse::domain::Program::Dibao, disburse::domain::Program::Wubao] {
        let _ = disburse::ingest::read_roster(path, "input.csv", program, None, &mut |_row| {});
    }
});
