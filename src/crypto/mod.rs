//! Encryption at rest. The master key wraps organisation keys, an organisation key
//! wraps one key per data subject, and personal data is sealed under the key of the
//! person it belongs to (`Sealed<C>`). Nothing here knows about HTTP or pages.

pub mod columns;
pub mod envelope;
pub mod keyring;
pub mod master;
pub mod sealed;

use std::fmt;
use zeroize::Zeroizing;

pub use keyring::KeyRing;
pub use sealed::{BytesColumn, PersonalColumn, Revealed, Sealed};

/// Length of every symmetric key here (XChaCha20-Poly1305, HMAC-SHA256).
pub const KEY_LEN: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("the encrypted value is malformed")]
    Malformed,
    #[error("the encrypted value has an unknown format version {0}")]
    UnknownVersion(u8),
    /// Wrong key, wrong column, or a changed byte: AEAD cannot tell which, by design.
    #[error("the encrypted value failed authentication")]
    Tampered,
    #[error("the value was sealed with a key this organisation does not have")]
    UnknownKey,
    #[error("the operating system's random number generator failed")]
    Random,
    #[error("the key store could not be used: {0}")]
    KeyStore(String),
}

/// A 256-bit key, wiped from memory on drop and never printed.
#[derive(Clone)]
pub struct SecretKey(Zeroizing<[u8; KEY_LEN]>);

impl SecretKey {
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> SecretKey {
        SecretKey(Zeroizing::new(bytes))
    }

    pub fn from_slice(bytes: &[u8]) -> Option<SecretKey> {
        let arr: [u8; KEY_LEN] = bytes.try_into().ok()?;
        Some(SecretKey::from_bytes(arr))
    }

    pub fn generate() -> Result<SecretKey, CryptoError> {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        getrandom::fill(bytes.as_mut()).map_err(|_| CryptoError::Random)?;
        Ok(SecretKey(bytes))
    }

    pub fn expose(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

/// Fills a fresh array from the OS generator.
pub fn random_array<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|_| CryptoError::Random)?;
    Ok(out)
}

/// HMAC-SHA256, used for key derivation and blind indexes.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    for part in parts {
        // Length-prefix each part so ("ab","c") and ("a","bc") differ.
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}
