//! Signing and verifying files without reading them whole: streamed signatures
//! must be byte-for-byte what the in-memory path makes (Ed25519, and SM2 verifies
//! both ways), memory must not grow with the file, and tampering must still fail.

use std::fs;
use std::io::{self, Cursor, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Instant;

use disburse::domain::Fen;
use disburse::sign::manifest::{self, FileEntry, Manifest, SigningInfo, VerifyError};
use disburse::sign::{keygen, SignError, Signer, Verifier};

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
        records: Vec::new(),
        verified: Vec::new(),
    };
    manifest::write_manifest(dir, &m, signer).unwrap();
}

/// Deterministic pseudo-random bytes (no two 256 KB buffers alike).
fn data(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ len as u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// 0 bytes, 1 byte, a few KB, and several MB that do not end on a buffer edge.
const SIZES: [usize; 4] = [0, 1, 4099, 5 * 1024 * 1024 + 3];
const BIG: usize = SIZES[3];
const CUSTOM_DISTID: &str = "minzheng-ju@example.cn";

fn signer(dir: &Path, alg: &str, distid: &str) -> Signer {
    Signer::load(alg, &key(dir, alg), distid).unwrap()
}

fn streamed(s: &Signer, bytes: &[u8]) -> Vec<u8> {
    s.sign_reader(&mut Cursor::new(bytes)).unwrap()
}

#[test]
fn ed25519_streamed_signature_is_byte_identical() {
    let d = tempfile::tempdir().unwrap();
    let s = signer(d.path(), "ed25519", "");
    for n in SIZES {
        let msg = data(n);
        assert_eq!(streamed(&s, &msg), s.sign(&msg), "{n} bytes");
    }
}

#[test]
fn sm2_streamed_and_in_memory_verify_each_other() {
    let d = tempfile::tempdir().unwrap();
    for distid in ["", CUSTOM_DISTID] {
        let s = signer(d.path(), "sm2", distid);
        let v = s.verifier();
        for n in SIZES {
            let msg = data(n);
            let by_stream = streamed(&s, &msg);
            let in_memory = s.sign(&msg);
            v.verify(&msg, &by_stream).unwrap_or_else(|e| panic!("distid `{distid}`, {n} bytes: {e}"));
            v.verify_reader(&mut Cursor::new(&msg), &in_memory).unwrap();
            v.verify_reader(&mut Cursor::new(&msg), &by_stream).unwrap();
            // Both use RFC 6979 nonces over the same digest: the very same bytes.
            assert_eq!(by_stream, in_memory, "distid `{distid}`, {n} bytes");
        }
    }
}

#[test]
fn sm2_distid_matters_to_the_streamed_path() {
    let d = tempfile::tempdir().unwrap();
    let msg = data(4099);
    let custom = signer(d.path(), "sm2", CUSTOM_DISTID);
    let default = signer(d.path(), "sm2", "");
    let sig = streamed(&custom, &msg);
    assert!(matches!(default.verifier().verify_reader(&mut Cursor::new(&msg), &sig), Err(SignError::BadSignature)));
    assert!(default.verifier().verify(&msg, &sig).is_err());
}

#[test]
fn ed25519_in_memory_signature_verifies_streamed_and_back() {
    let d = tempfile::tempdir().unwrap();
    let s = signer(d.path(), "ed25519", "");
    let v = s.verifier();
    for n in SIZES {
        let msg = data(n);
        v.verify_reader(&mut Cursor::new(&msg), &s.sign(&msg)).unwrap();
        v.verify(&msg, &streamed(&s, &msg)).unwrap();
    }
}

#[test]
fn tampered_data_fails_streamed_verification() {
    let d = tempfile::tempdir().unwrap();
    for alg in ["sm2", "ed25519"] {
        let s = signer(d.path(), alg, "");
        let v = s.verifier();
        let mut msg = data(BIG);
        let sig = streamed(&s, &msg);
        for pos in [0, BIG / 2, BIG - 1] {
            msg[pos] ^= 0x20;
            let r = v.verify_reader(&mut Cursor::new(&msg), &sig);
            assert!(matches!(r, Err(SignError::BadSignature)), "{alg} byte {pos}: {r:?}");
            msg[pos] ^= 0x20;
        }
        let r = v.verify_reader(&mut Cursor::new(&msg[..BIG - 1]), &sig);
        assert!(matches!(r, Err(SignError::BadSignature)), "{alg} truncated: {r:?}");
        assert!(matches!(v.verify_reader(&mut Cursor::new(&msg), b"not base64!"), Err(SignError::BadSigEncoding(_))));
        v.verify_reader(&mut Cursor::new(&msg), &sig).unwrap();
    }
}

/// Returns at most 7 bytes per read, so every buffer edge case comes up.
struct Trickle<R>(R);

impl<R: Read> Read for Trickle<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(7);
        self.0.read(&mut buf[..n])
    }
}

impl<R: Seek> Seek for Trickle<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.0.seek(pos)
    }
}

#[test]
fn short_reads_and_a_start_offset_sign_the_same_bytes() {
    let d = tempfile::tempdir().unwrap();
    let msg = data(100_003);
    for alg in ["sm2", "ed25519"] {
        let s = signer(d.path(), alg, "");
        assert_eq!(s.sign_reader(&mut Trickle(Cursor::new(&msg))).unwrap(), s.sign(&msg), "{alg}");
        s.verifier().verify_reader(&mut Trickle(Cursor::new(&msg)), &s.sign(&msg)).unwrap();
        // From the reader's position to its end, as for the in-memory tail.
        let mut c = Cursor::new(&msg);
        c.seek(SeekFrom::Start(1000)).unwrap();
        assert_eq!(s.sign_reader(&mut c).unwrap(), s.sign(&msg[1000..]), "{alg} from offset");
    }
}

/// Gives other content on every second pass from the start, as a file that is
/// being rewritten would.
struct Changing {
    data: Vec<u8>,
    pos: usize,
    passes: usize,
}

impl Read for Changing {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        if self.passes.is_multiple_of(2) {
            buf[..n].iter_mut().for_each(|b| *b ^= 1);
        }
        self.pos += n;
        Ok(n)
    }
}

impl Seek for Changing {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        match pos {
            SeekFrom::Start(p) => {
                self.pos = p as usize;
                self.passes += 1;
            }
            SeekFrom::Current(0) => {}
            _ => panic!("unexpected seek {pos:?}"),
        }
        Ok(self.pos as u64)
    }
}

#[test]
fn ed25519_refuses_data_that_changes_between_reads() {
    let d = tempfile::tempdir().unwrap();
    let s = signer(d.path(), "ed25519", "");
    let mut r = Changing { data: data(300_000), pos: 0, passes: 0 };
    let e = s.sign_reader(&mut r).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
    assert!(e.to_string().contains("changed"), "{e}");
}

#[test]
fn sign_file_streams_and_verify_dir_checks_a_multi_mb_file() {
    let d = tempfile::tempdir().unwrap();
    for alg in ["sm2", "ed25519"] {
        let dir = d.path().join(alg);
        let file = dir.join("bank/big.txt");
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        let msg = data(BIG);
        fs::write(&file, &msg).unwrap();
        let s = signer(d.path(), alg, CUSTOM_DISTID);
        sign_period(&dir, &s, &file);
        let sig = fs::read(manifest::sig_path(&file)).unwrap();
        s.verifier().verify(&msg, &sig).unwrap();
        if alg == "ed25519" {
            assert_eq!(sig, s.sign(&msg));
        }
        manifest::verify_dir(&dir, None, &count_one).unwrap();

        // Same size, one byte changed: the digest check names it first.
        let mut bad = msg.clone();
        bad[BIG / 3] ^= 4;
        fs::write(&file, &bad).unwrap();
        let e = manifest::verify_dir(&dir, None, &count_one).unwrap_err();
        assert!(matches!(e, VerifyError::DigestMismatch { .. }), "{alg}: {e}");
        fs::write(&file, &msg).unwrap();

        // A .sig over other content (the file itself untouched).
        let sig_path = manifest::sig_path(&file);
        fs::write(&sig_path, s.sign(b"other")).unwrap();
        let e = manifest::verify_dir(&dir, None, &count_one).unwrap_err();
        assert!(matches!(e, VerifyError::BadSignature { .. }), "{alg}: {e}");
        // Unparsable .sig: still a bad signature, after size and digest were checked.
        fs::write(&sig_path, b"%%%\n").unwrap();
        let e = manifest::verify_dir(&dir, None, &count_one).unwrap_err();
        assert!(matches!(e, VerifyError::BadSignature { .. }), "{alg}: {e}");
        fs::remove_file(&sig_path).unwrap();
        let e = manifest::verify_dir(&dir, None, &count_one).unwrap_err();
        assert!(matches!(e, VerifyError::Missing { .. }), "{alg}: {e}");
        fs::write(&sig_path, &sig).unwrap();
        manifest::verify_dir(&dir, None, &count_one).unwrap();
    }
}

#[test]
fn ed25519_streamed_verify_is_as_strict_as_verify_strict() {
    // The identity point as a public key and as R with s = 0 "verifies" any
    // message without the small-order checks; verify_strict refuses it.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let weak = ed25519_dalek::VerifyingKey::from_bytes(&identity).unwrap();
    use ed25519_dalek::pkcs8::EncodePublicKey as _;
    let pem = weak.to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF).unwrap();
    let v = Verifier::from_public_pem("ed25519", &pem, "").unwrap();
    let mut raw = [0u8; 64];
    raw[..32].copy_from_slice(&identity);
    let sig = format!("{}\n", base64_encode(&raw));
    for msg in [&b""[..], b"pay everyone twice"] {
        assert!(v.verify(msg, sig.as_bytes()).is_err());
        let r = v.verify_reader(&mut Cursor::new(msg), sig.as_bytes());
        assert!(matches!(r, Err(SignError::BadSignature)), "{r:?}");
    }
}

fn base64_encode(raw: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(raw)
}

#[test]
fn no_key_material_in_debug_or_errors() {
    let d = tempfile::tempdir().unwrap();
    for alg in ["sm2", "ed25519"] {
        let s = signer(d.path(), alg, "");
        let pem = fs::read_to_string(key(d.path(), alg)).unwrap();
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let missing = d.path().join("no-such-file");
        let e = manifest::sign_file(&missing, &s).unwrap_err();
        assert!(matches!(e, SignError::Read { .. }), "{e}");
        let mut changing = Changing { data: data(1000), pos: 0, passes: 0 };
        let shown = [
            format!("{s:?}"),
            format!("{e} {e:?}"),
            format!("{:?}", s.sign_reader(&mut changing)),
            format!("{:?}", s.verifier()),
        ];
        for text in shown {
            for chunk in body.as_bytes().chunks(16) {
                let chunk = std::str::from_utf8(chunk).unwrap();
                assert!(!text.contains(chunk), "{alg}: key material in `{text}`");
            }
        }
    }
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

#[test]
fn a_staged_file_gets_the_same_signature_file() {
    let d = tempfile::tempdir().unwrap();
    let s = signer(d.path(), "ed25519", "");
    let (a, b) = (d.path().join("a/DB.txt"), d.path().join("b/DB.txt"));
    for f in [&a, &b] {
        fs::create_dir_all(f.parent().unwrap()).unwrap();
        fs::write(f, data(300_000)).unwrap();
    }
    let (sig_a, sig_b) = (manifest::sign_file(&a, &s).unwrap(), manifest::sign_staged_file(&b, &s).unwrap());
    assert_eq!(sig_b, manifest::sig_path(&b));
    assert_eq!(fs::read(&sig_a).unwrap(), fs::read(&sig_b).unwrap());
    let names: Vec<_> = fs::read_dir(b.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
    disburse::fsutil::sync_files(&[b.clone(), sig_b]).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(manifest::sig_path(&b)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
