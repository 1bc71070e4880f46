#![no_main]
//! Bank receipts as XML: pain.002 v03 / v10 and camt.054 (the kind is sniffed).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = disburse::returns::parse_xml_receipt(data, "receipt.xml");
});
