#![no_main]
//! Roster workbooks (.xlsx, and .xls when the bytes say so) through ingest::read_roster.
use libfuzzer_sys::fuzz_target;

#[path = "input_file.rs"]
mod input_file;

fuzz_target!(|data: &[u8]| {
    let path = input_file::write_input(data, "xlsx");
    let _ = disburse::ingest::read_roster(path, "input.xlsx", disburse::domain::Program::Dibao, None, &mut |_row| {});
    let _ = disburse::ingest::read_roster(path, "input.xlsx", disburse::domain::Program::Dibao, Some("Sheet1"), &mut |_row| {});
});
