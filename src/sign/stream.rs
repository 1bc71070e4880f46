//! Signing and verifying a reader, a buffer at a time.
//!
//! Why: a pain.001 file of a million lines is ~190 MB; reading it whole to sign
//! or verify it would cost that much memory. The signatures are the very ones
//! [`Signer::sign`](super::Signer::sign) makes — same algorithms, same bytes
//! signed — only the message is fed to the hash in pieces.

use std::cell::RefCell;
use std::fmt;
use std::io::{self, Read, Seek, SeekFrom};

use ed25519_dalek::hazmat::{raw_sign_byupdate, ExpandedSecretKey};
use sha2::Digest as _;
use sm2::dsa::signature::hazmat::{PrehashSigner as _, PrehashVerifier as _};
use sm2::elliptic_curve::sec1::ToSec1Point as _;

/// Read size: big enough that system calls cost nothing next to hashing, small
/// enough not to show in the RSS.
pub(super) const BUF_SIZE: usize = 256 * 1024;

/// SM2 curve parameters a, b, xG, yG (GB/T 32918.5-2017 §3), which go into Z_A.
/// The `sm2` crate keeps its own `hash_z` private; the tests show this Z_A is
/// the crate's (signatures verify across the two paths, both ways).
const SM2_CURVE_HEX: [&str; 4] = [
    "fffffffeffffffffffffffffffffffffffffffff00000000fffffffffffffffc",
    "28e9fa9e9d9f5e344d5a9e4bcf6509a7f39789f515ab8f92ddbcbd414d940e93",
    "32c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7",
    "bc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0",
];

/// The data changed between the two reads Ed25519 signing needs; a signature
/// made from two different contents would be one no verifier accepts.
#[derive(Debug)]
pub(super) struct ChangedWhileSigning;

impl fmt::Display for ChangedWhileSigning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the data changed while it was being signed")
    }
}

impl std::error::Error for ChangedWhileSigning {}

/// Whether `e` says the data changed while it was being signed.
pub(super) fn is_changed_while_signing(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<ChangedWhileSigning>())
}

/// Feeds everything `r` still holds to `f`, a buffer at a time.
fn feed<R: Read + ?Sized>(r: &mut R, buf: &mut [u8], mut f: impl FnMut(&[u8])) -> io::Result<u64> {
    let mut total = 0u64;
    loop {
        match r.read(buf) {
            Ok(0) => return Ok(total),
            Ok(n) => {
                f(&buf[..n]);
                total += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Z_A = SM3(ENTL_A || ID_A || a || b || xG || yG || xA || yA) (GB/T 32918.2 §5.5).
fn sm2_z(vk: &sm2::dsa::VerifyingKey) -> io::Result<[u8; 32]> {
    let distid = vk.distid();
    let entl = distid
        .len()
        .checked_mul(8)
        .and_then(|bits| u16::try_from(bits).ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "SM2 distinguishing ID too long"))?;
    let mut h = sm3::Sm3::new();
    h.update(entl.to_be_bytes());
    h.update(distid.as_bytes());
    for c in SM2_CURVE_HEX {
        h.update(hex::decode(c).expect("curve constant is hex"));
    }
    let point = vk.as_affine().to_sec1_point(false);
    // Uncompressed SEC1: 0x04 || x || y.
    h.update(&point.as_bytes()[1..]);
    Ok(h.finalize().into())
}

/// e = SM3(Z_A || M), M read from `r`.
fn sm2_prehash<R: Read + ?Sized>(vk: &sm2::dsa::VerifyingKey, r: &mut R) -> io::Result<[u8; 32]> {
    let mut h = sm3::Sm3::new_with_prefix(sm2_z(vk)?);
    feed(r, &mut vec![0u8; BUF_SIZE], |c| h.update(c))?;
    Ok(h.finalize().into())
}

/// The DER SM2 signature over what `r` holds.
pub(super) fn sm2_sign<R: Read + ?Sized>(secret: &sm2::SecretKey, distid: &str, r: &mut R) -> io::Result<Vec<u8>> {
    let sk = sm2::dsa::SigningKey::new(distid, secret)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "SM2 distinguishing ID not usable"))?;
    let e = sm2_prehash(sk.verifying_key(), r)?;
    let sig: sm2::dsa::Signature = sk.sign_prehash(&e).map_err(|_| io::Error::other("SM2 signing failed"))?;
    Ok(sig.to_der().to_vec())
}

/// Whether `raw` (DER) is a valid SM2 signature over what `r` holds.
pub(super) fn sm2_verify<R: Read + ?Sized>(vk: &sm2::dsa::VerifyingKey, raw: &[u8], r: &mut R) -> io::Result<bool> {
    let Ok(sig) = sm2::dsa::Signature::from_der(raw) else {
        return Ok(false);
    };
    let e = sm2_prehash(vk, r)?;
    Ok(vk.verify_prehash(&e, &sig).is_ok())
}

/// Length and SHA-256 of one read of the data, to tell the two reads apart.
type Fingerprint = (u64, [u8; 32]);

/// One read of `r` from `start`, fed to `h`.
fn ed25519_pass<R: Read + Seek + ?Sized>(
    r: &mut R,
    start: u64,
    buf: &mut [u8],
    h: &mut sha2::Sha512,
) -> io::Result<Fingerprint> {
    r.seek(SeekFrom::Start(start))?;
    let mut fp = sha2::Sha256::new();
    let len = feed(r, buf, |c| {
        h.update(c);
        fp.update(c);
    })?;
    Ok((len, fp.finalize().into()))
}

/// The pure Ed25519 (RFC 8032) signature over what `r` holds from its current
/// position. Pure Ed25519 hashes the message twice, so `r` is read twice; if the
/// two reads differ the result is an error, not a bad signature.
pub(super) fn ed25519_sign<R: Read + Seek + ?Sized>(sk: &ed25519_dalek::SigningKey, r: &mut R) -> io::Result<Vec<u8>> {
    let start = r.stream_position()?;
    let esk = ExpandedSecretKey::from(sk.as_bytes());
    let state = RefCell::new((r, vec![0u8; BUF_SIZE], Vec::<Fingerprint>::new(), None::<io::Error>));
    let sig = raw_sign_byupdate::<sha2::Sha512, _>(
        &esk,
        |h| {
            let mut st = state.borrow_mut();
            let (r, buf, prints, err) = &mut *st;
            match ed25519_pass(&mut **r, start, buf, h) {
                Ok(fp) => {
                    prints.push(fp);
                    Ok(())
                }
                Err(e) => {
                    *err = Some(e);
                    Err(ed25519_dalek::SignatureError::new())
                }
            }
        },
        &sk.verifying_key(),
    );
    let (_, _, prints, err) = state.into_inner();
    if let Some(e) = err {
        return Err(e);
    }
    let sig = sig.map_err(|_| io::Error::other("Ed25519 signing failed"))?;
    match prints.as_slice() {
        [a, b] if a == b => Ok(sig.to_bytes().to_vec()),
        _ => Err(io::Error::new(io::ErrorKind::InvalidData, ChangedWhileSigning)),
    }
}

/// Whether `raw` is a valid Ed25519 signature over what `r` holds, with the
/// checks of `VerifyingKey::verify_strict` (canonical `s`, neither `R` nor the
/// key of small order), so that both paths accept exactly the same signatures.
pub(super) fn ed25519_verify<R: Read + ?Sized>(
    vk: &ed25519_dalek::VerifyingKey,
    raw: &[u8],
    r: &mut R,
) -> io::Result<bool> {
    let Some(mut v) = ed25519_strict_stream(vk, raw) else {
        return Ok(false);
    };
    feed(r, &mut vec![0u8; BUF_SIZE], |c| v.update(c))?;
    Ok(v.finalize_and_verify().is_ok())
}

fn ed25519_strict_stream(vk: &ed25519_dalek::VerifyingKey, raw: &[u8]) -> Option<ed25519_dalek::StreamVerifier> {
    let sig = ed25519_dalek::Signature::from_slice(raw).ok()?;
    // Decompressing R as a "key" gives the point verify_strict checks.
    let r_point = ed25519_dalek::VerifyingKey::from_bytes(sig.r_bytes()).ok()?;
    if vk.is_weak() || r_point.is_weak() {
        return None;
    }
    vk.verify_stream(&sig).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_while_signing_is_recognised_and_nothing_else_is() {
        let changed = io::Error::new(io::ErrorKind::InvalidData, ChangedWhileSigning);
        assert!(is_changed_while_signing(&changed));
        assert!(!is_changed_while_signing(&io::Error::new(io::ErrorKind::InvalidData, "other")));
        assert!(!is_changed_while_signing(&io::Error::from(io::ErrorKind::NotFound)));
    }

    #[test]
    fn read_errors_are_passed_on_not_turned_into_signatures() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk gone"))
            }
        }
        impl Seek for Failing {
            fn seek(&mut self, _: SeekFrom) -> io::Result<u64> {
                Ok(0)
            }
        }
        let sk = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
        assert_eq!(ed25519_sign(&sk, &mut Failing).unwrap_err().to_string(), "disk gone");
        let secret = sm2::SecretKey::from_slice(&[7u8; 32]).unwrap();
        assert_eq!(sm2_sign(&secret, super::super::DEFAULT_DISTID, &mut Failing).unwrap_err().to_string(), "disk gone");
    }
}
