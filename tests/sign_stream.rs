//! Signing and verifying files without reading them whole: streamed signatures
//! must be byte-for-byte what the in-memory path makes (Ed25519, and SM2 verifies
//! both ways), memory must not grow with the file, and tampering must still fail.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use disburse::domain::Fen;
use disburse::sign::manifest::{self, FileEntry, Manifest, SigningInfo};
use disburse::sign::{keygen, Signer};

fn key(dir: &Path, alg: &str) -> PathBuf {
    let p = dir.join(format!("keys/{alg}.pem"));
    if !p.exists() {
        keygen(alg, &p).unwrap();
    }
    p
}

/// A period folder with one bank file, signed, and its manifest.
fn sign_period(dir: &Path, signer: &Signer, file: &Path) {
    let sig = manifest::sign_file(file, signer).unwrap();
    let rel = |p: &Path| p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
    let entry = FileEntry {
        path: rel(file),
        program: "DB".into(),
        format: "text".into(),
        size: fs::metadata(file).unwrap().len(),
        sha256: disburse::fsutil::sha256_file(file).unwrap(),
        lines: 1,
        total: "1.00".into(),
        signature: rel(&sig),
    };
    let m = Manifest {
        format_version: manifest::FORMAT_VERSION,
        office: "test office".into(),
        office_uscc: "11110000000000000X".into(),
        period: "2026-11".into(),
        run_id: "R001".into(),
        created: "2026-11-01T00:00:00+08:00".into(),
        files: vec![entry],
        programs: Default::default(),
        previous_manifest_sha256: None,
        signing: SigningInfo::of(signer),
    };
    manifest::write_manifest(dir, &m, signer).unwrap();
}

fn count_one(_: &Path, _: &str) -> Result<(u64, Fen), String> {
    Ok((1, Fen::from_yuan(rust_decimal::Decimal::ONE).unwrap()))
}

fn bench_dir() -> (PathBuf, String, PathBuf) {
    let dir = PathBuf::from(std::env::var("SIGN_BENCH_DIR").expect("set SIGN_BENCH_DIR"));
    let alg = std::env::var("SIGN_BENCH_ALG").unwrap_or_else(|_| "sm2".into());
    let file = dir.join("bank/big.txt");
    assert!(file.exists(), "put the file to sign at {}", file.display());
    (dir, alg, file)
}

fn report(what: &str, file: &Path, t: Instant) {
    let mb = fs::metadata(file).unwrap().len() as f64 / 1e6;
    let s = t.elapsed().as_secs_f64();
    eprintln!("{what}: {mb:.1} MB in {s:.2} s = {:.1} MB/s", mb / s);
}

/// Measures `sign_file` on `$SIGN_BENCH_DIR/bank/big.txt` (key `$SIGN_BENCH_ALG`,
/// default sm2) and writes the manifest for `bench_verify`. Run under
/// `/usr/bin/time -f %M` for the peak RSS.
#[test]
#[ignore]
fn bench_sign() {
    let (dir, alg, file) = bench_dir();
    let keys = dir.parent().unwrap().join("bench-keys");
    let signer = Signer::load(&alg, &key(&keys, &alg), "").unwrap();
    let t = Instant::now();
    manifest::sign_file(&file, &signer).unwrap();
    report(&format!("sign_file {alg}"), &file, t);
    let _ = fs::remove_file(dir.join(manifest::MANIFEST_FILE));
    sign_period(&dir, &signer, &file);
}

/// Measures `verify_dir` on the folder `bench_sign` wrote.
#[test]
#[ignore]
fn bench_verify() {
    let (dir, alg, file) = bench_dir();
    let t = Instant::now();
    manifest::verify_dir(&dir, None, &count_one).unwrap();
    report(&format!("verify_dir {alg}"), &file, t);
}
