#![no_main]
//! The stop list.
use libfuzzer_sys::fuzz_target;

#[path = "input_file.rs"]
mod input_file;

fuzz_target!(|data: &[u8]| {
    let path = input_file::write_input(data, "csv");
    let _ = disburse::ingest::read_stops(path, "stops.csv");
});
