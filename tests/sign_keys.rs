//! Key handling: file modes, refusal of readable keys, distinguishing IDs, and
//! that no key material leaks through `Debug` or errors.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use disburse::sign::{keygen, pub_path, SignError, Signer, Verifier};

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn keygen_private_key_is_0600_and_pub_is_spki_pem() {
    let d = tempfile::tempdir().unwrap();
    for alg in ["sm2", "ed25519"] {
        let key = d.path().join(format!("keys/{alg}.pem"));
        keygen(alg, &key).unwrap();
        assert_eq!(mode(&key), 0o600, "{alg} private key mode");
        let text = fs::read_to_string(&key).unwrap();
        assert!(text.starts_with("-----BEGIN PRIVATE KEY-----"), "{alg}: {text:.40}");
        let pubk = fs::read_to_string(pub_path(&key)).unwrap();
        assert!(pubk.starts_with("-----BEGIN PUBLIC KEY-----"));
        // The .pub belongs to the private key.
        let s = Signer::load(alg, &key, "").unwrap();
        assert_eq!(s.public_key_pem(), pubk);
        // No temporary files are left behind.
        let left: Vec<_> = fs::read_dir(key.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}

#[test]
fn key_readable_by_others_is_refused_with_chmod_advice() {
    let d = tempfile::tempdir().unwrap();
    for alg in ["sm2", "ed25519"] {
        let key = d.path().join(format!("{alg}.pem"));
        keygen(alg, &key).unwrap();
        for m in [0o644, 0o640, 0o604, 0o660] {
            fs::set_permissions(&key, fs::Permissions::from_mode(m)).unwrap();
            let err = Signer::load(alg, &key, "").unwrap_err();
            assert!(matches!(err, SignError::KeyReadableByOthers { .. }), "{err:?}");
            let msg = err.to_string();
            assert!(msg.contains("chmod 600") && msg.contains(&*key.to_string_lossy()), "{msg}");
        }
        fs::set_permissions(&key, fs::Permissions::from_mode(0o400)).unwrap();
        Signer::load(alg, &key, "").unwrap();
    }
}

#[test]
fn missing_or_garbage_key_names_the_file() {
    let d = tempfile::tempdir().unwrap();
    let missing = d.path().join("nope.pem");
    let msg = Signer::load("sm2", &missing, "").unwrap_err().to_string();
    assert!(msg.contains("nope.pem"), "{msg}");
    let garbage = d.path().join("garbage.pem");
    fs::write(&garbage, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").unwrap();
    fs::set_permissions(&garbage, fs::Permissions::from_mode(0o600)).unwrap();
    let msg = Signer::load("ed25519", &garbage, "").unwrap_err().to_string();
    assert!(msg.contains("garbage.pem") && !msg.contains("AAAA"), "{msg}");
}

#[test]
fn sm2_distid_must_match() {
    let d = tempfile::tempdir().unwrap();
    let key = d.path().join("k.pem");
    keygen("sm2", &key).unwrap();
    let s = Signer::load("sm2", &key, "BANK-ID-0001").unwrap();
    assert_eq!(s.distid(), Some("BANK-ID-0001"));
    let sig = s.sign(b"payload");
    let pem = s.public_key_pem();
    Verifier::from_public_pem("sm2", &pem, "BANK-ID-0001").unwrap().verify(b"payload", &sig).unwrap();
    for other in ["", "1234567812345678", "BANK-ID-0002"] {
        let v = Verifier::from_public_pem("sm2", &pem, other).unwrap();
        assert!(v.verify(b"payload", &sig).is_err(), "distid {other:?} accepted");
    }
    // The default distid is used when none is configured.
    let s0 = Signer::load("sm2", &key, "").unwrap();
    assert_eq!(s0.distid(), Some("1234567812345678"));
}

#[test]
fn debug_shows_only_the_algorithm() {
    let d = tempfile::tempdir().unwrap();
    for alg in ["sm2", "ed25519"] {
        let key = d.path().join(format!("{alg}.pem"));
        keygen(alg, &key).unwrap();
        let s = Signer::load(alg, &key, "").unwrap();
        let secret_hex = match alg {
            "sm2" => {
                use sm2::pkcs8::DecodePrivateKey;
                let sk = sm2::SecretKey::read_pkcs8_pem_file(&key).unwrap();
                hex::encode(sk.to_bytes())
            }
            _ => {
                use ed25519_dalek::pkcs8::DecodePrivateKey;
                let sk = ed25519_dalek::SigningKey::read_pkcs8_pem_file(&key).unwrap();
                hex::encode(sk.to_bytes())
            }
        };
        let pem = fs::read_to_string(&key).unwrap();
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        for dbg in [format!("{s:?}"), format!("{s:#?}")] {
            assert!(dbg.contains(alg), "{dbg}");
            assert!(!dbg.to_lowercase().contains(&secret_hex[..16]), "{dbg}");
            assert!(!dbg.contains(&body[..20]), "{dbg}");
            assert!(dbg.len() < 60, "{dbg}");
        }
    }
}

#[test]
fn sig_file_is_base64_line() {
    let d = tempfile::tempdir().unwrap();
    for (alg, raw_len) in [("sm2", 8..=72), ("ed25519", 64..=64)] {
        let key = d.path().join(format!("{alg}.pem"));
        keygen(alg, &key).unwrap();
        let s = Signer::load(alg, &key, "").unwrap();
        let sig = s.sign(b"x");
        let text = std::str::from_utf8(&sig).unwrap();
        assert_eq!(text.matches('\n').count(), 1);
        assert!(text.ends_with('\n'));
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::STANDARD.decode(text.trim()).unwrap();
        assert_eq!(raw, s.sign_raw(b"x"), "{alg}: signing is deterministic");
        assert!(raw_len.contains(&raw.len()), "{alg}: {} bytes", raw.len());
    }
}
