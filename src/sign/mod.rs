//! Signatures: SM2 with SM3 and Ed25519, detached `.sig` files over exact bytes,
//! and key generation.
//!
//! Why detached signatures over the exact bytes: the bank receives the file as
//! written (GBK text or UTF-8 XML); signing anything else (a parsed form, a
//! re-encoding) would let the two drift apart.
//!
//! # Key files
//!
//! Private keys are PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), public keys SPKI
//! PEM (`-----BEGIN PUBLIC KEY-----`), the same files `openssl genpkey
//! -algorithm SM2` / `-algorithm ed25519` and `openssl pkey -pubout` make. A
//! private key file must not be readable by group or others (mode `0600`).
//!
//! # The `.sig` file format
//!
//! One line: the standard base64 (RFC 4648, with padding) of the signature,
//! then `\n`.
//!
//! - `sm2`: the DER `SEQUENCE { r INTEGER, s INTEGER }` of an SM2 signature
//!   (GM/T 0003) over SM3, with the signer's distinguishing ID (default
//!   `1234567812345678`, GM/T 0009) folded into the digest as `Z_A`.
//! - `ed25519`: the raw 64-byte Ed25519 signature (RFC 8032, pure Ed25519).
//!
//! To check one with OpenSSL 3:
//!
//! ```text
//! base64 -d file.sig > file.sig.bin
//! # SM2
//! openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -digest sm3 \
//!     -pkeyopt distid:1234567812345678 -in file -sigfile file.sig.bin
//! # Ed25519
//! openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in file -sigfile file.sig.bin
//! ```

pub mod manifest;
mod stream;

use std::fmt;
use std::fs;
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use base64::Engine as _;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use sm2::elliptic_curve::Generate as _;
use sm2::pkcs8::LineEnding;
use zeroize::Zeroizing;

/// The distinguishing ID GM/T 0009 prescribes when the parties agreed on none.
pub const DEFAULT_DISTID: &str = "1234567812345678";

/// Why signing or verifying failed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("{}", crate::tr!("不认识的签名算法 `{_0}`：请用 `sm2` 或 `ed25519`", "unknown signature algorithm `{_0}`: use `sm2` or `ed25519`"))]
    UnknownAlgorithm(String),
    #[error("{}", crate::tr!("密钥文件 {0} 别的用户也能读（权限 {1:o}）；请运行 `chmod 600 {0}` 后再试", "key file {0} can be read by other users (mode {1:o}); run `chmod 600 {0}` and try again", path.display(), mode))]
    KeyReadableByOthers { path: PathBuf, mode: u32 },
    #[error("{}", crate::tr!("读不了密钥文件 {}：{}", "cannot read key file {}: {}", path.display(), crate::fsutil::Explained(source)))]
    ReadKey { path: PathBuf, source: io::Error },
    #[error("{}", crate::tr!("密钥文件 {} 不是 {algorithm} PKCS#8 PEM 私钥（{reason}）；请检查文件和配置里的签名算法", "key file {} is not a {algorithm} PKCS#8 PEM private key ({reason}); check the file and the configured algorithm", path.display()))]
    BadPrivateKey { path: PathBuf, algorithm: Algorithm, reason: String },
    #[error("{}", crate::tr!("公钥不是 {algorithm} SPKI PEM 公钥（{reason}）；请检查公钥和配置里的签名算法", "public key is not a {algorithm} SPKI PEM public key ({reason}); check the key and the configured algorithm"))]
    BadPublicKey { algorithm: Algorithm, reason: String },
    #[error("{}", crate::tr!("签名者标识 `{_0}` 不能用（最多 8191 字节）；请检查配置里的 signing.distid", "distinguishing ID `{_0}` is not usable (at most 8191 bytes); check signing.distid in the config"))]
    BadDistId(String),
    #[error("{}", crate::tr!("签名文件不是 base64 文本（{_0}）；它可能已损坏，或者不是 disburse 的 .sig 文件", "signature file is not base64 text ({_0}); it may be damaged or not a disburse .sig file"))]
    BadSigEncoding(String),
    #[error("{}", crate::tr!("{} 在签名过程中被改动了（还有程序在写它？）；没有写出签名：等没有程序写它时再签", "{} changed while it was being signed (something is still writing to it?); no signature was written: sign it again once nothing writes to it", path.display()))]
    ChangedWhileSigning { path: PathBuf },
    #[error("{}", crate::tr!("读不了要校验的数据：{_0}", "cannot read the data to verify: {_0}"))]
    ReadData(io::Error),
    #[error("{}", crate::tr!("签名对不上：文件或它的 .sig 被改过，或者是用另一把密钥、另一个签名者标识签的", "signature does not match: the file or its .sig was changed, or it was signed with another key or distinguishing ID"))]
    BadSignature,
    #[error("{}", crate::tr!("{} 已经存在；不覆盖已有的密钥（请先把它移走）", "{} already exists; refusing to overwrite a key (move it away first)", path.display()))]
    KeyExists { path: PathBuf },
    #[error("{}", crate::tr!("写不了 {}：{}", "cannot write {}: {}", path.display(), crate::fsutil::Explained(source)))]
    Write { path: PathBuf, source: io::Error },
    #[error("{}", crate::tr!("读不了 {}：{}", "cannot read {}: {}", path.display(), crate::fsutil::Explained(source)))]
    Read { path: PathBuf, source: io::Error },
    #[error("{}", crate::tr!("系统随机数发生器出错：{_0}", "the system random number generator failed: {_0}"))]
    Rng(String),
    #[error("{0}")]
    Other(String),
}

/// A signature algorithm by its config name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sm2,
    Ed25519,
}

impl Algorithm {
    /// The name used in config, manifests and the CLI.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sm2 => "sm2",
            Algorithm::Ed25519 => "ed25519",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Algorithm {
    type Err = SignError;
    fn from_str(s: &str) -> Result<Self, SignError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sm2" => Ok(Algorithm::Sm2),
            "ed25519" => Ok(Algorithm::Ed25519),
            _ => Err(SignError::UnknownAlgorithm(s.to_string())),
        }
    }
}

/// The private half. Both types wipe their secret on drop.
enum SecretKey {
    /// The SM2 secret; a `SigningKey` is derived per signature so that only the
    /// zeroize-on-drop `SecretKey` lives long.
    Sm2 {
        secret: sm2::SecretKey,
        distid: String,
    },
    Ed25519(ed25519_dalek::SigningKey),
}

/// A loaded private key. Never printed: `Debug` shows only the algorithm.
pub struct Signer {
    key: SecretKey,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer").field("algorithm", &self.algorithm().name()).finish_non_exhaustive()
    }
}

impl Signer {
    /// Loads a PKCS#8 PEM private key (refused if others can read the file).
    /// `distid` matters only for SM2 (empty means the default).
    pub fn load(algorithm: &str, key_path: &Path, distid: &str) -> Result<Signer, SignError> {
        let alg: Algorithm = algorithm.parse()?;
        let pem = read_private_key(key_path)?;
        let bad = |reason: String| SignError::BadPrivateKey { path: key_path.into(), algorithm: alg, reason };
        let key = match alg {
            Algorithm::Sm2 => {
                let secret = sm2::SecretKey::from_pkcs8_pem(&pem).map_err(|e| bad(e.to_string()))?;
                let distid = distid_or_default(distid).to_string();
                sm2::dsa::SigningKey::new(&distid, &secret).map_err(|_| SignError::BadDistId(distid.clone()))?;
                SecretKey::Sm2 { secret, distid }
            }
            Algorithm::Ed25519 => {
                SecretKey::Ed25519(ed25519_dalek::SigningKey::from_pkcs8_pem(&pem).map_err(|e| bad(e.to_string()))?)
            }
        };
        Ok(Signer { key })
    }

    /// The algorithm of this key.
    pub fn algorithm(&self) -> Algorithm {
        match self.key {
            SecretKey::Sm2 { .. } => Algorithm::Sm2,
            SecretKey::Ed25519(_) => Algorithm::Ed25519,
        }
    }

    /// The distinguishing ID (SM2 only).
    pub fn distid(&self) -> Option<&str> {
        match &self.key {
            SecretKey::Sm2 { distid, .. } => Some(distid),
            SecretKey::Ed25519(_) => None,
        }
    }

    /// The raw signature: DER for SM2, 64 bytes for Ed25519.
    pub fn sign_raw(&self, bytes: &[u8]) -> Vec<u8> {
        use sm2::dsa::signature::Signer as _;
        match &self.key {
            SecretKey::Sm2 { secret, distid } => {
                // `load` already built a SigningKey with this distid, so this cannot fail.
                let sk = sm2::dsa::SigningKey::new(distid, secret).expect("distid checked at load");
                let sig: sm2::dsa::Signature = sk.sign(bytes);
                sig.to_der().to_vec()
            }
            SecretKey::Ed25519(sk) => sk.sign(bytes).to_bytes().to_vec(),
        }
    }

    /// The detached signature over exactly `bytes` (the `.sig` file's content:
    /// base64 of the raw signature and a newline).
    pub fn sign(&self, bytes: &[u8]) -> Vec<u8> {
        sig_file_content(&self.sign_raw(bytes))
    }

    /// The detached signature (as [`Signer::sign`] makes it, byte for byte for
    /// Ed25519) over what `r` holds from its current position to its end, read a
    /// buffer at a time so memory does not grow with the data. Ed25519 reads the
    /// data twice (hence `Seek`) and fails (`io::ErrorKind::InvalidData`) if the
    /// two reads differ; [`manifest::sign_file`] reports that as
    /// [`SignError::ChangedWhileSigning`].
    pub fn sign_reader<R: Read + Seek + ?Sized>(&self, r: &mut R) -> io::Result<Vec<u8>> {
        Ok(sig_file_content(&self.sign_raw_reader(r)?))
    }

    /// The raw signature (as [`Signer::sign_raw`]) over what `r` holds; see
    /// [`Signer::sign_reader`].
    pub fn sign_raw_reader<R: Read + Seek + ?Sized>(&self, r: &mut R) -> io::Result<Vec<u8>> {
        match &self.key {
            SecretKey::Sm2 { secret, distid } => stream::sm2_sign(secret, distid, r),
            SecretKey::Ed25519(sk) => stream::ed25519_sign(sk, r),
        }
    }

    /// The public key as SPKI PEM.
    pub fn public_key_pem(&self) -> String {
        let r = match &self.key {
            SecretKey::Sm2 { secret, .. } => secret.public_key().to_public_key_pem(LineEnding::LF),
            SecretKey::Ed25519(sk) => sk.verifying_key().to_public_key_pem(LineEnding::LF),
        };
        // Encoding a valid public key into PEM cannot fail (no I/O, fixed sizes).
        r.expect("public key encodes as SPKI PEM")
    }

    /// A verifier for this key's own signatures.
    pub fn verifier(&self) -> Verifier {
        let pem = self.public_key_pem();
        Verifier::from_public_pem(self.algorithm().name(), &pem, self.distid().unwrap_or(""))
            .expect("own public key parses")
    }
}

/// A `.sig` file's content: base64 of the raw signature and a newline.
fn sig_file_content(raw: &[u8]) -> Vec<u8> {
    let mut out = base64::engine::general_purpose::STANDARD.encode(raw);
    out.push('\n');
    out.into_bytes()
}

/// The raw signature in a `.sig` file's content (whitespace ignored).
fn decode_sig_file(content: &[u8]) -> Result<Vec<u8>, SignError> {
    let text: Vec<u8> = content.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(&text).map_err(|e| SignError::BadSigEncoding(e.to_string()))
}

fn distid_or_default(distid: &str) -> &str {
    if distid.is_empty() {
        DEFAULT_DISTID
    } else {
        distid
    }
}

/// Reads a private key file, refusing one that group or others may read: a
/// signing key others can copy is a key anyone can pay with. The mode is taken
/// from the open file, so a swap between check and read cannot slip through.
fn read_private_key(path: &Path) -> Result<Zeroizing<String>, SignError> {
    use std::io::Read as _;
    let rerr = |source: io::Error| SignError::ReadKey { path: path.into(), source };
    let mut f = fs::File::open(path).map_err(rerr)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = f.metadata().map_err(rerr)?.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(SignError::KeyReadableByOthers { path: path.into(), mode });
        }
    }
    // Sized up front so no reallocation leaves an unwiped copy behind.
    let len = f.metadata().map_err(rerr)?.len() as usize;
    let mut pem = Zeroizing::new(String::with_capacity(len.min(1 << 20) + 1));
    f.read_to_string(&mut pem).map_err(rerr)?;
    Ok(pem)
}

enum PublicKey {
    Sm2(sm2::dsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

/// A public key that checks `.sig` files.
pub struct Verifier {
    key: PublicKey,
    /// Canonical SPKI PEM, for comparing keys whatever their line wrapping.
    pem: String,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier").field("public_key_pem", &self.pem).finish()
    }
}

impl Verifier {
    /// Parses an SPKI PEM public key. `distid` matters only for SM2 (empty means
    /// the default).
    pub fn from_public_pem(algorithm: &str, pem: &str, distid: &str) -> Result<Verifier, SignError> {
        let alg: Algorithm = algorithm.parse()?;
        let bad = |reason: String| SignError::BadPublicKey { algorithm: alg, reason };
        let (key, canon) = match alg {
            Algorithm::Sm2 => {
                let pk = sm2::PublicKey::from_public_key_pem(pem).map_err(|e| bad(e.to_string()))?;
                let canon = pk.to_public_key_pem(LineEnding::LF).map_err(|e| bad(e.to_string()))?;
                let distid = distid_or_default(distid);
                let vk =
                    sm2::dsa::VerifyingKey::new(distid, pk).map_err(|_| SignError::BadDistId(distid.to_string()))?;
                (PublicKey::Sm2(vk), canon)
            }
            Algorithm::Ed25519 => {
                let vk = ed25519_dalek::VerifyingKey::from_public_key_pem(pem).map_err(|e| bad(e.to_string()))?;
                let canon = vk.to_public_key_pem(LineEnding::LF).map_err(|e| bad(e.to_string()))?;
                (PublicKey::Ed25519(vk), canon)
            }
        };
        Ok(Verifier { key, pem: canon })
    }

    /// The canonical SPKI PEM of this key.
    pub fn public_key_pem(&self) -> &str {
        &self.pem
    }

    /// Checks a `.sig` file's content (base64 + newline) against exactly `bytes`.
    pub fn verify(&self, bytes: &[u8], sig_file_content: &[u8]) -> Result<(), SignError> {
        self.verify_raw(bytes, &decode_sig_file(sig_file_content)?)
    }

    /// Checks a `.sig` file's content against what `r` holds, read a buffer at a
    /// time; accepts exactly the signatures [`Verifier::verify`] accepts. A read
    /// failure is [`SignError::ReadData`]. `r` may be left unread (e.g. when the
    /// signature cannot be parsed).
    pub fn verify_reader<R: Read + ?Sized>(&self, r: &mut R, sig_file_content: &[u8]) -> Result<(), SignError> {
        let raw = decode_sig_file(sig_file_content)?;
        let ok = match &self.key {
            PublicKey::Sm2(vk) => stream::sm2_verify(vk, &raw, r),
            PublicKey::Ed25519(vk) => stream::ed25519_verify(vk, &raw, r),
        };
        if ok.map_err(SignError::ReadData)? {
            Ok(())
        } else {
            Err(SignError::BadSignature)
        }
    }

    /// Checks a raw signature (DER for SM2, 64 bytes for Ed25519).
    pub fn verify_raw(&self, bytes: &[u8], raw: &[u8]) -> Result<(), SignError> {
        use sm2::dsa::signature::Verifier as _;
        let ok = match &self.key {
            PublicKey::Sm2(vk) => {
                sm2::dsa::Signature::from_der(raw).map(|sig| vk.verify(bytes, &sig).is_ok()).unwrap_or(false)
            }
            PublicKey::Ed25519(vk) => ed25519_dalek::Signature::from_slice(raw)
                .map(|sig| vk.verify_strict(bytes, &sig).is_ok())
                .unwrap_or(false),
        };
        if ok {
            Ok(())
        } else {
            Err(SignError::BadSignature)
        }
    }
}

/// Writes a new key pair: `out` (PKCS#8 PEM, 0600) and `out.pub` (SPKI PEM).
/// Refuses to overwrite an existing key: losing a signing key mid-period breaks
/// the bank's trust in every file still to come.
pub fn keygen(algorithm: &str, out: &Path) -> Result<(), SignError> {
    let alg: Algorithm = algorithm.parse()?;
    let pub_path = pub_path(out);
    for p in [out, pub_path.as_path()] {
        if p.exists() {
            return Err(SignError::KeyExists { path: p.into() });
        }
    }
    let (private_pem, public_pem) = match alg {
        Algorithm::Sm2 => {
            let sk = sm2::SecretKey::try_generate().map_err(|e| SignError::Rng(e.to_string()))?;
            let pem = sk.to_pkcs8_pem(LineEnding::LF).map_err(|e| SignError::Other(e.to_string()))?;
            let pubk = sk.public_key().to_public_key_pem(LineEnding::LF);
            (pem, pubk.map_err(|e| SignError::Other(e.to_string()))?)
        }
        Algorithm::Ed25519 => {
            let seed = Zeroizing::new(<[u8; 32]>::try_generate().map_err(|e| SignError::Rng(e.to_string()))?);
            let sk = ed25519_dalek::SigningKey::from_bytes(&seed);
            // PKCS#8 v1 (no embedded public key): OpenSSL 3.0 cannot read the
            // v2 form ed25519-dalek writes by default.
            let kp = ed25519_dalek::pkcs8::KeypairBytes { secret_key: *seed, public_key: None };
            let pem = kp.to_pkcs8_pem(LineEnding::LF).map_err(|e| SignError::Other(e.to_string()))?;
            let pubk = sk.verifying_key().to_public_key_pem(LineEnding::LF);
            (pem, pubk.map_err(|e| SignError::Other(e.to_string()))?)
        }
    };
    write_new_private(out, private_pem.as_bytes())?;
    crate::fsutil::write_atomic(&pub_path, public_pem.as_bytes())
        .map_err(|source| SignError::Write { path: pub_path.clone(), source })
}

/// `out` with `.pub` appended to its file name.
/// The fingerprint of a public key (SPKI PEM): the SHA-256 of its DER bytes, in
/// hex, as `openssl pkey -pubin -outform DER | sha256sum` prints it. The ledger
/// records it for each run; `verify --config` compares a run's manifest key to it.
pub fn key_fingerprint(public_key_pem: &str) -> String {
    use sha2::Digest as _;
    let body: String = public_key_pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(body.trim()).unwrap_or_else(|_| body.into_bytes());
    hex::encode(sha2::Sha256::digest(&der))
}

pub fn pub_path(out: &Path) -> PathBuf {
    let mut s = out.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

/// Writes a new file that is 0600 from its first byte (a temporary file, which
/// `tempfile` creates 0600) and renamed into place only if nothing is there.
fn write_new_private(path: &Path, bytes: &[u8]) -> Result<(), SignError> {
    let werr = |source: io::Error| SignError::Write { path: path.into(), source };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    crate::fsutil::create_private_dir(dir).map_err(werr)?;
    let mut tmp = tempfile::Builder::new().prefix(".tmp-key-").tempfile_in(dir).map_err(werr)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file().set_permissions(fs::Permissions::from_mode(0o600)).map_err(werr)?;
    }
    tmp.write_all(bytes).map_err(werr)?;
    tmp.as_file().sync_all().map_err(werr)?;
    tmp.persist_noclobber(path).map_err(|e| {
        if e.error.kind() == io::ErrorKind::AlreadyExists {
            SignError::KeyExists { path: path.into() }
        } else {
            werr(e.error)
        }
    })?;
    crate::fsutil::sync_dir(dir).map_err(werr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(dir: &Path, alg: &str) -> PathBuf {
        let p = dir.join(format!("{alg}.key"));
        keygen(alg, &p).unwrap();
        p
    }

    #[test]
    fn sign_and_verify_both_algorithms() {
        let d = tempfile::tempdir().unwrap();
        for alg in ["sm2", "ed25519"] {
            let s = Signer::load(alg, &key(d.path(), alg), "").unwrap();
            let sig = s.sign(b"hello bank");
            assert!(sig.ends_with(b"\n"));
            let v = Verifier::from_public_pem(alg, &s.public_key_pem(), "").unwrap();
            v.verify(b"hello bank", &sig).unwrap();
            assert!(v.verify(b"hello bamk", &sig).is_err());
        }
    }

    #[test]
    fn keygen_refuses_to_overwrite() {
        let d = tempfile::tempdir().unwrap();
        let p = key(d.path(), "ed25519");
        let before = fs::read(&p).unwrap();
        assert!(matches!(keygen("ed25519", &p), Err(SignError::KeyExists { .. })));
        assert_eq!(fs::read(&p).unwrap(), before);
    }

    #[test]
    fn wrong_algorithm_for_key_names_file() {
        let d = tempfile::tempdir().unwrap();
        let p = key(d.path(), "ed25519");
        let e = Signer::load("sm2", &p, "").unwrap_err().to_string();
        assert!(e.contains("ed25519.key") && e.contains("sm2"), "{e}");
        assert!(Signer::load("rsa", &p, "").is_err());
    }
}
