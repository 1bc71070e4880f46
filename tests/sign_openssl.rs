//! Interop with OpenSSL 3: keys made by `openssl genpkey` load and sign, our
//! signatures verify with `openssl pkeyutl`, OpenSSL's verify with our
//! `Verifier`, and one flipped byte breaks each direction. Skipped (with a note)
//! when `openssl` is not on PATH.

use std::fs;
use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use disburse::sign::{keygen, pub_path, Signer, Verifier, DEFAULT_DISTID};

const DATA: &[u8] = "H|20261115|3|3600.00\n张三|6222020200000000001|1200.00\n".as_bytes();

fn have_openssl() -> bool {
    let ok = Command::new("openssl").arg("version").output().map(|o| o.status.success());
    if !matches!(ok, Ok(true)) {
        eprintln!("NOTE: openssl not on PATH; OpenSSL interop test skipped");
        return false;
    }
    true
}

fn openssl(args: &[&str]) -> bool {
    let o = Command::new("openssl").args(args).output().expect("run openssl");
    if !o.status.success() {
        eprintln!("openssl {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    }
    o.status.success()
}

fn chmod600(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(p, fs::Permissions::from_mode(0o600)).unwrap();
}

fn b64(raw: &[u8]) -> Vec<u8> {
    let mut s = base64::engine::general_purpose::STANDARD.encode(raw);
    s.push('\n');
    s.into_bytes()
}

fn unb64(sig: &[u8]) -> Vec<u8> {
    let t = std::str::from_utf8(sig).unwrap().trim();
    base64::engine::general_purpose::STANDARD.decode(t).unwrap()
}

/// The `pkeyutl` options that select the algorithm's hashing.
fn opts(alg: &str, distid: &str) -> Vec<String> {
    match alg {
        "sm2" => vec!["-digest".into(), "sm3".into(), "-pkeyopt".into(), format!("distid:{distid}")],
        _ => vec![],
    }
}

fn ossl_verify(alg: &str, distid: &str, pubk: &Path, data: &Path, sig: &Path) -> bool {
    let mut a: Vec<String> = ["pkeyutl", "-verify", "-pubin", "-inkey"].map(String::from).into();
    a.push(pubk.to_str().unwrap().into());
    a.push("-rawin".into());
    a.extend(opts(alg, distid));
    a.extend(["-in".into(), data.to_str().unwrap().into(), "-sigfile".into(), sig.to_str().unwrap().into()]);
    openssl(&a.iter().map(String::as_str).collect::<Vec<_>>())
}

fn ossl_sign(alg: &str, distid: &str, key: &Path, data: &Path, out: &Path) {
    let mut a: Vec<String> = ["pkeyutl", "-sign", "-inkey"].map(String::from).into();
    a.push(key.to_str().unwrap().into());
    a.push("-rawin".into());
    a.extend(opts(alg, distid));
    a.extend(["-in".into(), data.to_str().unwrap().into(), "-out".into(), out.to_str().unwrap().into()]);
    assert!(openssl(&a.iter().map(String::as_str).collect::<Vec<_>>()), "openssl sign failed");
}

/// Both directions for one key pair (`key`, `pubk`) and distid.
fn both_directions(alg: &str, distid: &str, key: &Path, pubk: &Path, dir: &Path) {
    let data = dir.join("data.txt");
    let bad_data = dir.join("data-flipped.txt");
    fs::write(&data, DATA).unwrap();
    let mut flipped = DATA.to_vec();
    flipped[5] ^= 0x01;
    fs::write(&bad_data, &flipped).unwrap();

    // Ours → OpenSSL.
    let signer = Signer::load(alg, key, distid).unwrap();
    let sig_bin = dir.join("ours.sig.bin");
    let raw = unb64(&signer.sign(DATA));
    if alg == "ed25519" {
        assert_eq!(raw.len(), 64);
    }
    fs::write(&sig_bin, &raw).unwrap();
    assert!(ossl_verify(alg, distid, pubk, &data, &sig_bin), "{alg}: openssl rejects our signature");
    assert!(!ossl_verify(alg, distid, pubk, &bad_data, &sig_bin), "{alg}: openssl accepts flipped data");
    let mut bad_sig = raw.clone();
    let last = bad_sig.len() - 1;
    bad_sig[last] ^= 0x01;
    fs::write(&sig_bin, &bad_sig).unwrap();
    assert!(!ossl_verify(alg, distid, pubk, &data, &sig_bin), "{alg}: openssl accepts flipped sig");

    // OpenSSL → ours.
    let pem = fs::read_to_string(pubk).unwrap();
    let v = Verifier::from_public_pem(alg, &pem, distid).unwrap();
    assert_eq!(v.public_key_pem(), signer.public_key_pem(), "{alg}: public keys differ");
    let osig = dir.join("openssl.sig.bin");
    ossl_sign(alg, distid, key, &data, &osig);
    let osig = fs::read(&osig).unwrap();
    v.verify(DATA, &b64(&osig)).unwrap();
    assert!(v.verify(&flipped, &b64(&osig)).is_err(), "{alg}: we accept flipped data");
    let mut bad = osig.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x01;
    assert!(v.verify(DATA, &b64(&bad)).is_err(), "{alg}: we accept a flipped OpenSSL signature");
}

#[test]
fn openssl_made_keys_interoperate() {
    if !have_openssl() {
        return;
    }
    for (alg, ossl_alg) in [("sm2", "SM2"), ("ed25519", "ed25519")] {
        let d = tempfile::tempdir().unwrap();
        let key = d.path().join("key.pem");
        let pubk = d.path().join("pub.pem");
        let (k, p) = (key.to_str().unwrap(), pubk.to_str().unwrap());
        assert!(openssl(&["genpkey", "-algorithm", ossl_alg, "-out", k]));
        assert!(openssl(&["pkey", "-in", k, "-pubout", "-out", p]));
        chmod600(&key);
        both_directions(alg, DEFAULT_DISTID, &key, &pubk, d.path());
    }
}

#[test]
fn our_keys_interoperate() {
    if !have_openssl() {
        return;
    }
    for alg in ["sm2", "ed25519"] {
        let d = tempfile::tempdir().unwrap();
        let key = d.path().join("key.pem");
        keygen(alg, &key).unwrap();
        // OpenSSL derives the same public key from our private key file.
        let derived = d.path().join("derived.pub");
        assert!(openssl(&["pkey", "-in", key.to_str().unwrap(), "-pubout", "-out", derived.to_str().unwrap()]));
        assert_eq!(fs::read_to_string(&derived).unwrap(), fs::read_to_string(pub_path(&key)).unwrap());
        both_directions(alg, DEFAULT_DISTID, &key, &pub_path(&key), d.path());
    }
}

#[test]
fn sm2_custom_distid_matches_openssl_only_with_same_distid() {
    if !have_openssl() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let key = d.path().join("key.pem");
    keygen("sm2", &key).unwrap();
    both_directions("sm2", "BANKOFCOUNTY0001", &key, &pub_path(&key), d.path());
    // Our signature with a custom distid fails OpenSSL's default-distid check.
    let s = Signer::load("sm2", &key, "BANKOFCOUNTY0001").unwrap();
    let data = d.path().join("data.txt");
    let sig = d.path().join("s.bin");
    fs::write(&data, DATA).unwrap();
    fs::write(&sig, unb64(&s.sign(DATA))).unwrap();
    assert!(!ossl_verify("sm2", DEFAULT_DISTID, &pub_path(&key), &data, &sig));
}
