//! The fake bank of the demo: `fake_bank PERIOD_DIR OUT_DIR [--every N]` answers
//! a run the way a bank does (see `tests/common/fake_bank.rs`).

#[path = "../tests/common/fake_bank.rs"]
mod fake_bank;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: fake_bank PERIOD_DIR OUT_DIR [--every N]");
        std::process::exit(1);
    }
    let every = args
        .iter()
        .position(|a| a == "--every")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    match fake_bank::answer(args[0].as_ref(), args[1].as_ref(), every) {
        Ok(a) => println!(
            "fake bank: {} lines, {} rejected, {} late return; files in {}",
            a.lines,
            a.rejected.len(),
            a.returned.iter().count(),
            args[1]
        ),
        Err(e) => {
            eprintln!("fake bank: {e}");
            std::process::exit(1);
        }
    }
}
