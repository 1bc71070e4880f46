//! The manifest and `verify_dir`: a correct folder passes; any flipped byte of a
//! bank file, a `.sig` or the manifest fails; added, missing or miscounted files
//! fail; the chain is found across periods and within a period's history.

use std::fs;
use std::path::{Path, PathBuf};

use disburse::domain::{parse_amount, Fen};
use disburse::fsutil::{sha256_file, sha256_hex};
use disburse::sign::manifest::{
    sign_file, verify_dir, write_manifest, FileEntry, Manifest, ProgramEntry, SigningInfo, VerifyError, VerifyReport,
};
use disburse::sign::{keygen, pub_path, Signer};

/// Stand-in for the bank-file readers: one `name|amount` line per payment.
fn count_lines(path: &Path, format: &str) -> Result<(u64, Fen), String> {
    if format != "test-pipe" {
        return Err(format!("unknown format {format}"));
    }
    let text = fs::read_to_string(path).map_err(|e| e.to_string())?;
    let mut n = 0;
    let mut total = Fen::ZERO;
    for (i, line) in text.lines().enumerate() {
        let amt = line.split('|').nth(1).ok_or(format!("line {}: no amount", i + 1))?;
        let fen = parse_amount(amt).ok().and_then(Fen::from_yuan);
        total += fen.ok_or(format!("line {}: bad amount", i + 1))?;
        n += 1;
    }
    Ok((n, total))
}

fn verify(dir: &Path, pinned: Option<&Path>) -> Result<VerifyReport, VerifyError> {
    verify_dir(dir, pinned, &count_lines)
}

fn signer(root: &Path, name: &str, alg: &str) -> (Signer, PathBuf) {
    let key = root.join("keys").join(name);
    keygen(alg, &key).unwrap();
    (Signer::load(alg, &key, "").unwrap(), pub_path(&key))
}

/// Writes and signs `bank/<name>` with `rows` lines of `amount`.
fn bank_file(period_dir: &Path, name: &str, rows: usize, amount: &str, s: &Signer) -> FileEntry {
    let rel = format!("bank/{name}");
    let path = period_dir.join(&rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let body: String = (0..rows).map(|i| format!("张{i}|{amount}\n")).collect();
    fs::write(&path, &body).unwrap();
    sign_file(&path, s).unwrap();
    let (lines, total) = count_lines(&path, "test-pipe").unwrap();
    FileEntry {
        path: rel.clone(),
        program: "dibao".into(),
        format: "test-pipe".into(),
        size: body.len() as u64,
        sha256: sha256_file(&path).unwrap(),
        lines,
        total: total.yuan_string(),
        signature: format!("{rel}.sig"),
    }
}

fn manifest(period: &str, run_id: &str, files: Vec<FileEntry>, prev: Option<String>, s: &Signer) -> Manifest {
    let mut programs = std::collections::BTreeMap::new();
    programs.insert(
        "dibao".to_string(),
        ProgramEntry { paid_lines: files.iter().map(|f| f.lines).sum(), ..Default::default() },
    );
    Manifest {
        format_version: 1,
        office: "某县民政局".into(),
        office_uscc: "11330000000000000X".into(),
        period: period.into(),
        run_id: run_id.into(),
        created: "2026-11-15T09:00:00+08:00".into(),
        files,
        programs,
        previous_manifest_sha256: prev,
        signing: SigningInfo::of(s),
        records: Vec::new(),
        verified: Vec::new(),
    }
}

/// A period folder with two bank files, signed and with a manifest.
fn period(root: &Path, p: &str, s: &Signer, prev: Option<String>) -> (PathBuf, String) {
    let dir = root.join("out").join(p);
    let tag = p.replace('-', "");
    let files = vec![
        bank_file(&dir, &format!("DB{tag}R001-1.txt"), 3, "1200.00", s),
        bank_file(&dir, &format!("DB{tag}R001-2.txt"), 2, "0.05", s),
    ];
    let sha = write_manifest(&dir, &manifest(p, "R001", files, prev, s), s).unwrap();
    (dir, sha)
}

fn flip(path: &Path, at: usize) -> Vec<u8> {
    let orig = fs::read(path).unwrap();
    let mut b = orig.clone();
    b[at] ^= 0x01;
    fs::write(path, &b).unwrap();
    orig
}

fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(all_files(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn correct_dir_passes_and_reports() {
    let root = tempfile::tempdir().unwrap();
    for alg in ["sm2", "ed25519"] {
        let (s, pubk) = signer(root.path(), alg, alg);
        let (dir, sha) = period(&root.path().join(alg), "2026-11", &s, None);
        assert_eq!(sha, sha256_hex(&fs::read(dir.join("manifest.json")).unwrap()));
        let r = verify(&dir, None).unwrap();
        assert_eq!((r.files.len(), r.lines, r.total), (2, 5, Fen(360_010)));
        assert!(!r.key_pinned);
        let r = verify(&dir, Some(&pubk)).unwrap();
        assert!(r.key_pinned);
        assert_eq!(r.algorithm, alg);
    }
}

#[test]
fn any_flipped_byte_fails() {
    let root = tempfile::tempdir().unwrap();
    let (s, pubk) = signer(root.path(), "k", "sm2");
    let (dir, _) = period(root.path(), "2026-11", &s, None);
    let files = all_files(&dir);
    assert_eq!(files.len(), 6, "{files:?}"); // 2 bank files + 2 sigs + manifest + sig
    for f in &files {
        let len = fs::metadata(f).unwrap().len() as usize;
        // Every byte of small files; a spread of positions in the manifest.
        let step = if len > 400 { 13 } else { 1 };
        let mut positions: Vec<usize> = (0..len).step_by(step).collect();
        positions.push(len - 1);
        for at in positions {
            let orig = flip(f, at);
            let r = verify(&dir, None);
            assert!(r.is_err(), "{} byte {at} flipped: verify passed", f.display());
            assert!(verify(&dir, Some(&pubk)).is_err());
            fs::write(f, orig).unwrap();
        }
    }
    verify(&dir, Some(&pubk)).unwrap();
}

#[test]
fn flipped_bank_file_names_file_and_digest() {
    let root = tempfile::tempdir().unwrap();
    let (s, _) = signer(root.path(), "k", "ed25519");
    let (dir, _) = period(root.path(), "2026-11", &s, None);
    let bank = dir.join("bank/DB202611R001-2.txt");
    flip(&bank, 4);
    let e = verify(&dir, None).unwrap_err();
    assert!(matches!(e, VerifyError::DigestMismatch { .. }), "{e:?}");
    assert!(e.to_string().contains("DB202611R001-2.txt"), "{e}");
}

#[test]
fn miscounted_missing_and_added_files_fail() {
    let root = tempfile::tempdir().unwrap();
    let (s, _) = signer(root.path(), "k", "sm2");
    let (dir, _) = period(root.path(), "2026-11", &s, None);

    // Added file (and an added .sig) in bank/.
    for extra in ["bank/DB202611R001-3.txt", "bank/DB202611R001-3.txt.sig"] {
        fs::write(dir.join(extra), "x|1.00\n").unwrap();
        let e = verify(&dir, None).unwrap_err();
        assert!(matches!(e, VerifyError::ExtraFile { .. }), "{e:?}");
        assert!(e.to_string().contains("DB202611R001-3.txt"), "{e}");
        fs::remove_file(dir.join(extra)).unwrap();
    }

    // Missing file, missing signature.
    for gone in ["bank/DB202611R001-1.txt", "bank/DB202611R001-1.txt.sig"] {
        let p = dir.join(gone);
        let orig = fs::read(&p).unwrap();
        fs::remove_file(&p).unwrap();
        let e = verify(&dir, None).unwrap_err();
        assert!(matches!(e, VerifyError::Missing { .. }), "{e:?}");
        assert!(e.to_string().contains(gone.rsplit('/').next().unwrap()), "{e}");
        fs::write(&p, orig).unwrap();
    }
    verify(&dir, None).unwrap();

    // A manifest (validly signed) whose count or total disagrees with the file.
    let mut m: Manifest = serde_json::from_slice(&fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    m.files[0].lines += 1;
    write_manifest(&dir, &m, &s).unwrap();
    let e = verify(&dir, None).unwrap_err();
    assert!(matches!(e, VerifyError::CountMismatch { .. }), "{e:?}");
    m.files[0].lines -= 1;
    m.files[0].total = "3600.01".into();
    write_manifest(&dir, &m, &s).unwrap();
    assert!(matches!(verify(&dir, None), Err(VerifyError::CountMismatch { .. })));
    // A path escaping the folder is refused before anything is read.
    m.files[0].path = "../../etc/passwd".into();
    write_manifest(&dir, &m, &s).unwrap();
    assert!(matches!(verify(&dir, None), Err(VerifyError::UnsafePath { .. })));
}

#[test]
fn chain_across_periods_and_within_history() {
    let root = tempfile::tempdir().unwrap();
    let (s, pubk) = signer(root.path(), "k", "sm2");
    let (oct, oct_sha) = period(root.path(), "2026-10", &s, None);
    let (nov, nov_sha) = period(root.path(), "2026-11", &s, Some(oct_sha.clone()));
    let r = verify(&nov, Some(&pubk)).unwrap();
    assert!(r.previous_manifest.unwrap().ends_with("2026-10/manifest.json"));

    // A correction batch in November: the R001 manifest moves to history/.
    let mut m: Manifest = serde_json::from_slice(&fs::read(nov.join("manifest.json")).unwrap()).unwrap();
    m.files.push(bank_file(&nov, "DB202611C001-1.txt", 1, "300.00", &s));
    m.run_id = "C001".into();
    m.previous_manifest_sha256 = Some(nov_sha.clone());
    let c_sha = write_manifest(&nov, &m, &s).unwrap();
    let hist = nov.join("history/manifest-R001.json");
    assert_eq!(sha256_hex(&fs::read(&hist).unwrap()), nov_sha);
    assert!(nov.join("history/manifest-R001.json.sig").is_file());
    let r = verify(&nov, Some(&pubk)).unwrap();
    assert_eq!(r.files.len(), 3);
    assert_eq!(r.previous_manifest.unwrap(), hist);
    assert_eq!(r.history_manifests, vec![hist.clone()]);

    // A tampered history manifest breaks the chain (checked first) ...
    let orig = flip(&hist, 10);
    let e = verify(&nov, None).unwrap_err();
    assert!(matches!(e, VerifyError::ChainBroken { .. }), "{e:?}");
    fs::write(&hist, orig).unwrap();
    // ... and a tampered history signature fails on its signature.
    let hist_sig = nov.join("history/manifest-R001.json.sig");
    let orig = flip(&hist_sig, 3);
    let e = verify(&nov, None).unwrap_err();
    assert!(matches!(e, VerifyError::BadSignature { .. }), "{e:?}");
    assert!(e.to_string().contains("manifest-R001.json"), "{e}");
    fs::write(&hist_sig, orig).unwrap();

    // December chains to November's C001 in the sibling folder.
    let (dec, _) = period(root.path(), "2026-12", &s, Some(c_sha));
    verify(&dec, Some(&pubk)).unwrap();

    // December needs only November's C001: October's manifest may be archived.
    fs::rename(oct.join("manifest.json"), root.path().join("moved.json")).unwrap();
    verify(&dec, None).unwrap();
}

#[test]
fn chain_broken_is_reported() {
    let root = tempfile::tempdir().unwrap();
    let (s, _) = signer(root.path(), "k", "ed25519");
    let (oct, oct_sha) = period(root.path(), "2026-10", &s, None);
    let (nov, _) = period(root.path(), "2026-11", &s, Some(oct_sha));
    verify(&nov, None).unwrap();
    fs::rename(oct.join("manifest.json"), root.path().join("moved.json")).unwrap();
    let e = verify(&nov, None).unwrap_err();
    assert!(matches!(e, VerifyError::ChainBroken { .. }), "{e:?}");
    assert!(e.to_string().contains("chain broken"), "{e}");
    fs::rename(root.path().join("moved.json"), oct.join("manifest.json")).unwrap();
    verify(&nov, None).unwrap();

    let (dec, _) = period(root.path(), "2026-12", &s, Some("ab".repeat(32)));
    assert!(matches!(verify(&dec, None), Err(VerifyError::ChainBroken { .. })));
}

#[test]
fn pinned_key_catches_a_resigned_folder() {
    let root = tempfile::tempdir().unwrap();
    let (s, pubk) = signer(root.path(), "office", "sm2");
    let (mallory, mallory_pub) = signer(root.path(), "mallory", "sm2");
    let (dir, _) = period(root.path(), "2026-11", &s, None);
    assert!(matches!(verify(&dir, Some(&mallory_pub)), Err(VerifyError::KeyMismatch { .. })));

    // Someone changes a file and re-signs everything with their own key.
    let bank = dir.join("bank/DB202611R001-1.txt");
    fs::write(&bank, "张0|1200.00\n张1|1200.00\n李四|1200.00\n").unwrap();
    sign_file(&bank, &mallory).unwrap();
    sign_file(&dir.join("bank/DB202611R001-2.txt"), &mallory).unwrap();
    let mut m: Manifest = serde_json::from_slice(&fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    m.files[0].size = fs::metadata(&bank).unwrap().len();
    m.files[0].sha256 = sha256_file(&bank).unwrap();
    m.signing = SigningInfo::of(&mallory);
    write_manifest(&dir, &m, &mallory).unwrap();
    // Without a pinned key only integrity can be checked; with it, this is caught.
    verify(&dir, None).unwrap_err(); // history manifest (office key) vs mallory's key
    let e = verify(&dir, Some(&pubk)).unwrap_err();
    assert!(matches!(e, VerifyError::KeyMismatch { .. }), "{e:?}");
}

#[test]
fn rewriting_same_run_keeps_both_manifests() {
    let root = tempfile::tempdir().unwrap();
    let (s, _) = signer(root.path(), "k", "ed25519");
    let (dir, _) = period(root.path(), "2026-11", &s, None);
    let m: Manifest = serde_json::from_slice(&fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    write_manifest(&dir, &m, &s).unwrap();
    write_manifest(&dir, &m, &s).unwrap();
    assert!(dir.join("history/manifest-R001.json").is_file());
    assert!(dir.join("history/manifest-R001-2.json").is_file());
    assert_eq!(verify(&dir, None).unwrap().history_manifests.len(), 2);
}

#[test]
fn manifest_signing_section_must_match_signer() {
    let root = tempfile::tempdir().unwrap();
    let (s, _) = signer(root.path(), "a", "sm2");
    let (t, _) = signer(root.path(), "b", "sm2");
    let m = manifest("2026-11", "R001", vec![], None, &s);
    assert!(write_manifest(&root.path().join("out/2026-11"), &m, &t).is_err());
}
