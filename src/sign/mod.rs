//! Signatures: SM2 with SM3 and Ed25519, detached `.sig` files over exact bytes,
//! and key generation. (Stub: lands in its own change.)

use std::path::Path;

/// Why signing or verifying failed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("{0}")]
    Other(String),
}

/// A loaded private key. Never printed: `Debug` shows only the algorithm.
pub struct Signer {
    _private: (),
}

impl Signer {
    /// Loads a PKCS#8 PEM private key (refused if others can read the file).
    pub fn load(algorithm: &str, key_path: &Path, distid: &str) -> Result<Signer, SignError> {
        let _ = (algorithm, key_path, distid);
        Err(SignError::Other("not implemented".into()))
    }

    /// The detached signature over exactly `bytes` (the `.sig` file's content).
    pub fn sign(&self, bytes: &[u8]) -> Vec<u8> {
        let _ = bytes;
        Vec::new()
    }

    /// The public key as SPKI PEM.
    pub fn public_key_pem(&self) -> String {
        String::new()
    }
}

/// Writes a new key pair: `out` (PKCS#8 PEM, 0600) and `out.pub` (SPKI PEM).
pub fn keygen(algorithm: &str, out: &Path) -> Result<(), SignError> {
    let _ = (algorithm, out);
    Err(SignError::Other("not implemented".into()))
}
