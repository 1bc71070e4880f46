//! `disburse verify` on a real run of the example office: flipping a single byte
//! anywhere in a bank file, a signature or the manifest makes it fail.

mod common;

use common::{expect, office};

#[test]
fn any_flipped_byte_fails_verify() {
    let (_tmp, config) = office();
    let dir = config.parent().unwrap();
    expect(&["run", "--config", config.to_str().unwrap(), "--period", "2026-10"], 2);
    let period = dir.join("out/2026-10");
    let key = dir.join("keys/signing.pem.pub");
    disburse::pipeline::verify(&period, Some(&key)).expect("an untouched run verifies");
    let mut targets = vec![period.join("manifest.json"), period.join("manifest.json.sig")];
    for e in std::fs::read_dir(period.join("bank")).unwrap() {
        targets.push(e.unwrap().path());
    }
    let mut flips = 0;
    for path in &targets {
        let original = std::fs::read(path).unwrap();
        let step = (original.len() / 24).max(1);
        let positions: Vec<usize> = (0..original.len()).step_by(step).chain([original.len() - 1]).collect();
        for pos in positions {
            let mut bytes = original.clone();
            bytes[pos] ^= 0x01;
            std::fs::write(path, &bytes).unwrap();
            for pinned in [None, Some(key.as_path())] {
                let r = disburse::pipeline::verify(&period, pinned);
                assert!(
                    r.is_err(),
                    "{} byte {pos} flipped, pinned={}: verify passed",
                    path.display(),
                    pinned.is_some()
                );
            }
            flips += 1;
        }
        std::fs::write(path, &original).unwrap();
    }
    disburse::pipeline::verify(&period, Some(&key)).expect("restored run verifies again");
    assert!(flips > 100, "{flips}");
}
