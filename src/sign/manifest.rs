//! The run manifest (`manifest.json` + `manifest.json.sig`) and `disburse verify`.
//!
//! Why a manifest: the bank, an auditor or next month's run must be able to tell,
//! from the folder alone, that every bank file is the one the run wrote (size,
//! SHA-256, signature, line count and total) and that no run was dropped or
//! replaced (each manifest carries the SHA-256 of the previous run's manifest —
//! a chain). Earlier manifests of the same period are kept in `history/`, since
//! the period's later runs (e.g. correction batches) replace `manifest.json`.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use super::{SignError, Signer, Verifier};
use crate::domain::{parse_amount, Fen};
use crate::fsutil::{sha256_hex, sync_dir, write_atomic};

/// The manifest's file name inside a period folder.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Where earlier manifests of the period are kept.
pub const HISTORY_DIR: &str = "history";
/// The manifest format this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// What one run of a period wrote, signed.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Manifest {
    /// Always [`FORMAT_VERSION`].
    pub format_version: u32,
    pub office: String,
    pub office_uscc: String,
    /// `YYYY-MM`.
    pub period: String,
    /// The batch of the period, e.g. `R001` (regular run) or `C001` (correction).
    pub run_id: String,
    /// RFC 3339.
    pub created: String,
    /// Every bank file of the period so far (cumulative across the period's runs).
    pub files: Vec<FileEntry>,
    /// Per program code: this run's counts and totals.
    pub programs: BTreeMap<String, ProgramEntry>,
    /// SHA-256 of the previous run's `manifest.json` bytes (any period); `None`
    /// for the very first run.
    pub previous_manifest_sha256: Option<String>,
    pub signing: SigningInfo,
    /// Every batch's payment record of the period so far (cumulative, like
    /// `files`): what `disburse ledger rebuild` replays. Signed through this
    /// manifest's signature (their SHA-256 is in it); absent in manifests of
    /// versions that kept no record.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<RecordEntry>,
    /// This batch's corrections paid for a person the bank reported deceased or
    /// the stop list names, each with who checked that the person is alive and
    /// entitled (`reissue`'s `verified_by`): signed here so that a rebuilt
    /// ledger keeps the name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verified: Vec<VerifiedEntry>,
}

/// One correction vouched for by a person (see [`Manifest::verified`]).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct VerifiedEntry {
    pub original_id: String,
    pub retry: u32,
    pub verified_by: String,
    pub reason: String,
}

/// A batch's payment record (发放记录): every line the batch paid, with all the
/// ledger keeps of it, so that a lost ledger can be rebuilt from signed files.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct RecordEntry {
    /// The batch it records, e.g. `R001`.
    pub run_id: String,
    /// Relative to the period folder, e.g. `records/R001/paid.csv`.
    pub path: String,
    pub size: u64,
    pub sha256: String,
    pub lines: u64,
    /// Yuan, two decimals.
    pub total: String,
}

/// One bank file as written.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct FileEntry {
    /// Relative to the period folder, e.g. `bank/DB202611R001-1.xml`.
    pub path: String,
    pub program: String,
    pub format: String,
    pub size: u64,
    pub sha256: String,
    pub lines: u64,
    /// Yuan, two decimals.
    pub total: String,
    /// Relative path of the `.sig`.
    pub signature: String,
}

/// A program's counts and totals in one run (amounts in yuan, two decimals).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Default)]
pub struct ProgramEntry {
    pub approved_lines: u64,
    pub approved_amount: String,
    pub paid_lines: u64,
    pub paid_amount: String,
    pub held_lines: u64,
    pub held_amount: String,
    pub skipped_lines: u64,
    pub skipped_amount: String,
    /// The approval's 文号, approver and date (审批, SPEC §9); absent when the
    /// approval gave none (and in manifests written before).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub approval_reference: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub approved_by: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub approved_on: String,
}

/// How the manifest and the files were signed.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct SigningInfo {
    /// `sm2` or `ed25519`.
    pub algorithm: String,
    /// SM2 distinguishing ID; `None` for Ed25519.
    pub distid: Option<String>,
    /// SPKI PEM.
    pub public_key_pem: String,
}

impl SigningInfo {
    /// The signing info that matches `signer`.
    pub fn of(signer: &Signer) -> SigningInfo {
        SigningInfo {
            algorithm: signer.algorithm().name().to_string(),
            distid: signer.distid().map(str::to_string),
            public_key_pem: signer.public_key_pem(),
        }
    }
}

/// `path` with `.sig` appended to its file name.
pub fn sig_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".sig");
    PathBuf::from(s)
}

/// Signs the exact bytes of `path` into `<path>.sig` (written atomically),
/// streaming the file: bank files can be hundreds of MB.
pub fn sign_file(path: &Path, signer: &Signer) -> Result<PathBuf, SignError> {
    sign_file_with(path, signer, write_atomic)
}

/// [`sign_file`] for a file in a staging folder: the `.sig` is written whole
/// but not synced; the caller syncs it with the folder's other files
/// ([`crate::fsutil::sync_files`]) before anything relies on it.
pub fn sign_staged_file(path: &Path, signer: &Signer) -> Result<PathBuf, SignError> {
    sign_file_with(path, signer, crate::fsutil::write_whole_unsynced)
}

fn sign_file_with(
    path: &Path,
    signer: &Signer,
    write: fn(&Path, &[u8]) -> io::Result<()>,
) -> Result<PathBuf, SignError> {
    let read_err = |source: io::Error| {
        if super::stream::is_changed_while_signing(&source) {
            SignError::ChangedWhileSigning { path: path.into() }
        } else {
            SignError::Read { path: path.into(), source }
        }
    };
    let mut file = fs::File::open(path).map_err(read_err)?;
    let content = signer.sign_reader(&mut file).map_err(read_err)?;
    let sig = sig_path(path);
    write(&sig, &content).map_err(|source| SignError::Write { path: sig.clone(), source })?;
    Ok(sig)
}

/// Writes `period_dir/manifest.json` (pretty JSON) and its `.sig`, first moving
/// an existing manifest (and its `.sig`) to `history/manifest-<run_id>.json`.
/// Returns the SHA-256 hex of the written `manifest.json` bytes (the next run's
/// `previous_manifest_sha256`).
pub fn write_manifest(period_dir: &Path, m: &Manifest, signer: &Signer) -> Result<String, SignError> {
    if m.signing != SigningInfo::of(signer) {
        return Err(SignError::Other(format!(
            "manifest for {} {}: its signing section does not describe the signing key; \
             build it with SigningInfo::of(&signer)",
            m.period, m.run_id
        )));
    }
    let path = period_dir.join(MANIFEST_FILE);
    archive_existing(period_dir)?;
    let mut bytes =
        serde_json::to_vec_pretty(m).map_err(|e| SignError::Other(format!("cannot encode {}: {e}", path.display())))?;
    bytes.push(b'\n');
    write_atomic(&path, &bytes).map_err(|source| SignError::Write { path: path.clone(), source })?;
    let sig = sig_path(&path);
    write_atomic(&sig, &signer.sign(&bytes)).map_err(|source| SignError::Write { path: sig.clone(), source })?;
    Ok(sha256_hex(&bytes))
}

/// Moves `manifest.json` (+ `.sig`) into `history/` under a name no other
/// manifest has, so that no earlier run's record of the period is lost.
fn archive_existing(period_dir: &Path) -> Result<(), SignError> {
    let cur = period_dir.join(MANIFEST_FILE);
    let bytes = match fs::read(&cur) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(SignError::Read { path: cur, source }),
    };
    let run_id = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("run_id").and_then(|r| r.as_str()).map(safe_name))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_string());
    let hist = period_dir.join(HISTORY_DIR);
    crate::fsutil::create_private_dir(&hist).map_err(|source| SignError::Write { path: hist.clone(), source })?;
    let mut dest = hist.join(format!("manifest-{run_id}.json"));
    let mut n = 2;
    while dest.exists() || sig_path(&dest).exists() {
        dest = hist.join(format!("manifest-{run_id}-{n}.json"));
        n += 1;
    }
    let mv =
        |from: &Path, to: &Path| fs::rename(from, to).map_err(|source| SignError::Write { path: to.into(), source });
    mv(&cur, &dest)?;
    let cur_sig = sig_path(&cur);
    if cur_sig.exists() {
        mv(&cur_sig, &sig_path(&dest))?;
    }
    sync_dir(&hist).and_then(|_| sync_dir(period_dir)).map_err(|source| SignError::Write { path: hist.clone(), source })
}

/// Keeps a run id usable as part of a file name.
fn safe_name(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect()
}

/// Why a period folder failed verification. Each names the file and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("{}", crate::tr!("读不了 {}：{source}", "cannot read {}: {source}", path.display()))]
    Io { path: PathBuf, source: io::Error },
    #[error("{}", crate::tr!("缺少 {}", "{} is missing", path.display()))]
    Missing { path: PathBuf },
    #[error("{}", crate::tr!("{} 不是有效的清单：{reason}", "{} is not a valid manifest: {reason}", path.display()))]
    ManifestParse { path: PathBuf, reason: String },
    #[error("{}", crate::tr!("{}：不支持 format_version {found}（本程序读的是 {FORMAT_VERSION}）", "{}: format_version {found} is not supported (this program reads {FORMAT_VERSION})", path.display()))]
    UnsupportedVersion { path: PathBuf, found: u32 },
    #[error("{}", crate::tr!("{}：公钥不能用：{reason}", "{}: the public key is not usable: {reason}", path.display()))]
    BadKey { path: PathBuf, reason: String },
    #[error("{}", crate::tr!("{} 的签名密钥不是指定的公钥 {}：这个目录不可信，请查明是谁生成的", "{} was signed with a different key than the pinned key {}: treat the folder as untrusted and ask who produced it", manifest.display(), pinned.display()))]
    KeyMismatch { manifest: PathBuf, pinned: PathBuf },
    #[error("{}", crate::tr!("签名 {} 与 {} 对不上：文件或签名被改过，或者是另一把密钥签的", "signature {} does not verify for {}: the file or its signature was changed, or another key signed it", sig.display(), path.display()))]
    BadSignature { path: PathBuf, sig: PathBuf },
    #[error("{}", crate::tr!("{} 里有一个路径为空或指向发放期目录之外：`{entry}`", "{} has a path that leaves the period folder or is empty: `{entry}`", manifest.display()))]
    UnsafePath { manifest: PathBuf, entry: String },
    #[error("{}", crate::tr!("{}：大小是 {actual} 字节，清单记的是 {expected}：文件被改过或被截断", "{}: size is {actual} bytes, the manifest says {expected}: the file was changed or truncated", path.display()))]
    SizeMismatch { path: PathBuf, expected: u64, actual: u64 },
    #[error("{}", crate::tr!("{}：SHA-256 是 {actual}，清单记的是 {expected}：文件被改过", "{}: SHA-256 is {actual}, the manifest says {expected}: the file was changed", path.display()))]
    DigestMismatch { path: PathBuf, expected: String, actual: String },
    #[error("{}", crate::tr!("{}：无法统计笔数和金额：{reason}", "{}: cannot count its lines and total: {reason}", path.display()))]
    CountFailed { path: PathBuf, reason: String },
    #[error("{}", crate::tr!("{}：清单里的合计 `{total}` 不是两位小数的元金额", "{}: the manifest's total `{total}` is not an amount in yuan with two decimals", path.display()))]
    BadTotal { path: PathBuf, total: String },
    #[error("{}", crate::tr!("{}：文件里是 {lines} 笔共 {total} 元，清单记的是 {expected_lines} 笔共 {expected_total} 元", "{}: it holds {lines} lines totalling {total} yuan, the manifest says {expected_lines} lines totalling {expected_total} yuan", path.display()))]
    CountMismatch { path: PathBuf, expected_lines: u64, lines: u64, expected_total: String, total: String },
    #[error("{}", crate::tr!("{}：大小 {actual} 字节和 SHA-256 与清单记录不符：发放记录被改过", "{}: size {actual} bytes and SHA-256 do not match the manifest's record entry: the payment record was changed", path.display()))]
    RecordMismatch { path: PathBuf, actual: u64 },
    #[error("{}", crate::tr!("{} 不在清单里：是发放之后有人加进去的；请移走它，或查明它的来历", "{} is not listed in the manifest: someone added it after the run; remove it or find out where it came from", path.display()))]
    ExtraFile { path: PathBuf },
    #[error("{}", crate::tr!("清单链断了：{} 指向上一份清单 SHA-256 {sha256}，但在 {}/history、旁边其他发放期目录及其 history 里都找不到这份清单", "chain broken: {} names previous manifest SHA-256 {sha256}, but no manifest with that digest is in {}/history, the other period folders beside it, or their history folders", manifest.display(), period_dir.display()))]
    ChainBroken { manifest: PathBuf, period_dir: PathBuf, sha256: String },
}

/// One bank file that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedFile {
    pub path: String,
    pub program: String,
    pub lines: u64,
    pub total: Fen,
}

/// What `verify_dir` checked.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifyReport {
    pub period: String,
    pub run_id: String,
    pub algorithm: String,
    /// Whether the signatures were checked against a pinned key (rather than the
    /// key the manifest carries, which proves integrity but not authorship).
    pub key_pinned: bool,
    pub files: Vec<VerifiedFile>,
    pub lines: u64,
    pub total: Fen,
    /// Where the previous manifest of the chain was found.
    pub previous_manifest: Option<PathBuf>,
    /// Earlier manifests of the period whose signatures were checked.
    pub history_manifests: Vec<PathBuf>,
}

/// Counts a bank file's detail lines and their total, given its format name.
pub type CountAndTotal<'a> = &'a dyn Fn(&Path, &str) -> Result<(u64, Fen), String>;

/// Checks a period folder: the manifest, its signature, every file (size,
/// SHA-256, signature, lines and total), no unlisted file in `bank/`, the chain
/// to the previous manifest, and the signatures of the period's earlier
/// manifests. Fails on the first thing wrong.
pub fn verify_dir(
    period_dir: &Path,
    pinned_public_key: Option<&Path>,
    count_and_total: CountAndTotal<'_>,
) -> Result<VerifyReport, VerifyError> {
    let mpath = period_dir.join(MANIFEST_FILE);
    let bytes = read(&mpath)?;
    let m: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| VerifyError::ManifestParse { path: mpath.clone(), reason: e.to_string() })?;
    if m.format_version != FORMAT_VERSION {
        return Err(VerifyError::UnsupportedVersion { path: mpath, found: m.format_version });
    }
    let verifier = manifest_verifier(&mpath, &m, pinned_public_key)?;
    check_sig(&verifier, &mpath, &bytes)?;
    let mut report = VerifyReport {
        period: m.period.clone(),
        run_id: m.run_id.clone(),
        algorithm: m.signing.algorithm.clone(),
        key_pinned: pinned_public_key.is_some(),
        files: Vec::new(),
        lines: 0,
        total: Fen::ZERO,
        previous_manifest: None,
        history_manifests: Vec::new(),
    };
    for f in &m.files {
        let v = check_file(period_dir, &mpath, f, &verifier, count_and_total)?;
        report.lines += v.lines;
        report.total += v.total;
        report.files.push(v);
    }
    check_no_extra_files(period_dir, &m)?;
    for r in &m.records {
        check_record(period_dir, &mpath, r)?;
    }
    if let Some(h) = &m.previous_manifest_sha256 {
        let found = find_manifest_by_sha(period_dir, h).ok_or_else(|| VerifyError::ChainBroken {
            manifest: mpath.clone(),
            period_dir: period_dir.into(),
            sha256: h.clone(),
        })?;
        report.previous_manifest = Some(found);
    }
    report.history_manifests = check_history(period_dir, &verifier)?;
    Ok(report)
}

fn read(path: &Path) -> Result<Vec<u8>, VerifyError> {
    fs::read(path).map_err(|source| io_err(path, source))
}

fn io_err(path: &Path, source: io::Error) -> VerifyError {
    if source.kind() == io::ErrorKind::NotFound {
        VerifyError::Missing { path: path.into() }
    } else {
        VerifyError::Io { path: path.into(), source }
    }
}

/// The key to check signatures with: the pinned one (which must be the one the
/// manifest names), else the manifest's own.
fn manifest_verifier(mpath: &Path, m: &Manifest, pinned: Option<&Path>) -> Result<Verifier, VerifyError> {
    let s = &m.signing;
    let distid = s.distid.as_deref().unwrap_or("");
    let embedded = Verifier::from_public_pem(&s.algorithm, &s.public_key_pem, distid)
        .map_err(|e| VerifyError::BadKey { path: mpath.into(), reason: e.to_string() })?;
    let Some(pin) = pinned else {
        return Ok(embedded);
    };
    let pem = String::from_utf8_lossy(&read(pin)?).into_owned();
    let pinned_v = Verifier::from_public_pem(&s.algorithm, &pem, distid)
        .map_err(|e| VerifyError::BadKey { path: pin.into(), reason: e.to_string() })?;
    if pinned_v.public_key_pem() != embedded.public_key_pem() {
        return Err(VerifyError::KeyMismatch { manifest: mpath.into(), pinned: pin.into() });
    }
    Ok(pinned_v)
}

/// Checks `<path>.sig` against `bytes` (the content of `path`).
fn check_sig(v: &Verifier, path: &Path, bytes: &[u8]) -> Result<(), VerifyError> {
    check_sig_at(v, path, &sig_path(path), bytes)
}

fn check_sig_at(v: &Verifier, path: &Path, sig: &Path, bytes: &[u8]) -> Result<(), VerifyError> {
    let content = read(sig)?;
    v.verify(bytes, &content).map_err(|_| VerifyError::BadSignature { path: path.into(), sig: sig.into() })
}

/// Resolves a manifest path under the period folder, refusing `..`, absolute
/// paths and the like (a tampered manifest must not make us read elsewhere).
fn resolve(period_dir: &Path, mpath: &Path, rel: &str) -> Result<PathBuf, VerifyError> {
    let p = Path::new(rel);
    let safe = !rel.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)));
    if !safe {
        return Err(VerifyError::UnsafePath { manifest: mpath.into(), entry: rel.to_string() });
    }
    Ok(period_dir.join(p))
}

fn check_file(
    period_dir: &Path,
    mpath: &Path,
    f: &FileEntry,
    v: &Verifier,
    count_and_total: CountAndTotal<'_>,
) -> Result<VerifiedFile, VerifyError> {
    let path = resolve(period_dir, mpath, &f.path)?;
    let sig = resolve(period_dir, mpath, &f.signature)?;
    let (size, digest, signature) = read_and_verify(v, &path, &sig)?;
    if size != f.size {
        return Err(VerifyError::SizeMismatch { path, expected: f.size, actual: size });
    }
    if !digest.eq_ignore_ascii_case(&f.sha256) {
        return Err(VerifyError::DigestMismatch { path, expected: f.sha256.clone(), actual: digest });
    }
    signature?;
    let expected_total = parse_amount(&f.total)
        .ok()
        .and_then(Fen::from_yuan)
        .ok_or_else(|| VerifyError::BadTotal { path: path.clone(), total: f.total.clone() })?;
    let (lines, total) =
        count_and_total(&path, &f.format).map_err(|reason| VerifyError::CountFailed { path: path.clone(), reason })?;
    if lines != f.lines || total != expected_total {
        return Err(VerifyError::CountMismatch {
            path,
            expected_lines: f.lines,
            lines,
            expected_total: expected_total.yuan_string(),
            total: total.yuan_string(),
        });
    }
    Ok(VerifiedFile { path: f.path.clone(), program: f.program.clone(), lines, total })
}

/// A payment record must be the bytes the manifest names (size and SHA-256):
/// the manifest's signature covers it through them.
fn check_record(period_dir: &Path, mpath: &Path, r: &RecordEntry) -> Result<(), VerifyError> {
    let path = resolve(period_dir, mpath, &r.path)?;
    let mut tee =
        HashingReader { inner: fs::File::open(&path).map_err(|e| io_err(&path, e))?, sha: sha2::Sha256::new(), len: 0 };
    io::copy(&mut tee, &mut io::sink()).map_err(|source| VerifyError::Io { path: path.clone(), source })?;
    if tee.len != r.size || !hex::encode(tee.sha.finalize()).eq_ignore_ascii_case(&r.sha256) {
        return Err(VerifyError::RecordMismatch { path, actual: tee.len });
    }
    Ok(())
}

/// Reads `path` once, streaming, for its size, its SHA-256 and whether `sig`
/// verifies over it — one pass, so all three describe the same bytes and memory
/// does not grow with the file. The signature's result is returned, not raised,
/// so that a size or digest mismatch (the clearer message) is reported first.
fn read_and_verify(
    v: &Verifier,
    path: &Path,
    sig: &Path,
) -> Result<(u64, String, Result<(), VerifyError>), VerifyError> {
    let file = fs::File::open(path).map_err(|e| io_err(path, e))?;
    let mut tee = HashingReader { inner: file, sha: sha2::Sha256::new(), len: 0 };
    let signature = match fs::read(sig) {
        Err(e) => Err(io_err(sig, e)),
        Ok(content) => match v.verify_reader(&mut tee, &content) {
            Ok(()) => Ok(()),
            Err(SignError::ReadData(source)) => return Err(VerifyError::Io { path: path.into(), source }),
            Err(_) => Err(VerifyError::BadSignature { path: path.into(), sig: sig.into() }),
        },
    };
    // The verifier may stop early (an unparsable signature); size and digest need all.
    io::copy(&mut tee, &mut io::sink()).map_err(|source| VerifyError::Io { path: path.into(), source })?;
    Ok((tee.len, hex::encode(tee.sha.finalize()), signature))
}

/// Counts and hashes what passes through it.
struct HashingReader<R> {
    inner: R,
    sha: sha2::Sha256,
    len: u64,
}

impl<R: io::Read> io::Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

/// Every entry of `bank/` must be a listed file or its signature.
fn check_no_extra_files(period_dir: &Path, m: &Manifest) -> Result<(), VerifyError> {
    let bank = period_dir.join("bank");
    let listed: HashSet<PathBuf> =
        m.files.iter().flat_map(|f| [period_dir.join(&f.path), period_dir.join(&f.signature)]).collect();
    for entry in sorted_entries(&bank)? {
        if !listed.contains(&entry) {
            return Err(VerifyError::ExtraFile { path: entry });
        }
    }
    Ok(())
}

/// The entries of a folder, sorted; none if it does not exist.
fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, VerifyError> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(VerifyError::Io { path: dir.into(), source }),
    };
    let mut out = Vec::new();
    for e in rd {
        out.push(e.map_err(|source| VerifyError::Io { path: dir.into(), source })?.path());
    }
    out.sort();
    Ok(out)
}

/// The `*.json` files of a folder (sorted); unreadable folders count as empty.
fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = sorted_entries(dir)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json") && p.is_file())
        .collect();
    v.sort();
    v
}

/// Looks for the manifest whose bytes hash to `sha`: in this period's
/// `history/`, then every sibling period's `manifest.json` and `history/`.
fn find_manifest_by_sha(period_dir: &Path, sha: &str) -> Option<PathBuf> {
    let parent = period_dir.join("..");
    let siblings: Vec<PathBuf> =
        sorted_entries(&parent).unwrap_or_default().into_iter().filter(|p| p.is_dir()).collect();
    let candidates = json_files(&period_dir.join(HISTORY_DIR))
        .into_iter()
        .chain(siblings.iter().map(|d| d.join(MANIFEST_FILE)).filter(|p| p.is_file()))
        .chain(siblings.iter().flat_map(|d| json_files(&d.join(HISTORY_DIR))));
    candidates.into_iter().find(|p| fs::read(p).map(|b| sha256_hex(&b).eq_ignore_ascii_case(sha)).unwrap_or(false))
}

/// Every earlier manifest of the period must carry a valid signature by the
/// same key as the current one.
fn check_history(period_dir: &Path, v: &Verifier) -> Result<Vec<PathBuf>, VerifyError> {
    let files = json_files(&period_dir.join(HISTORY_DIR));
    for p in &files {
        check_sig(v, p, &read(p)?)?;
    }
    Ok(files)
}
