#![no_main]
//! disburse.toml, parsed and checked.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(c) = disburse::config::Config::parse(text, std::path::Path::new("/office")) {
            // Exercise what the commands do with a parsed config.
            let p: disburse::domain::Period = "2026-11".parse().expect("period");
            let _ = c.due_programs(p);
            let _ = c.period_dir(p);
        }
    }
});
