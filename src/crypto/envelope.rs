//! The ciphertext format: `version | key id (u64, big-endian) | 24-byte nonce | sealed`.
//! The associated data is the version, the key id and a label naming what the value
//! is (a column, or a wrapped key), so a value copied elsewhere fails to open.

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};

use super::{CryptoError, SecretKey, random_array};

pub const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
const HEADER_LEN: usize = 1 + 8 + NONCE_LEN;
const TAG_LEN: usize = 16;

fn associated_data(key_id: u64, label: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(9 + label.len());
    aad.push(VERSION);
    aad.extend_from_slice(&key_id.to_be_bytes());
    aad.extend_from_slice(label.as_bytes());
    aad
}

fn cipher(key: &SecretKey) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(&(*key.expose()).into())
}

/// Encrypts `plaintext` under `key`, recording `key_id` and binding `label`.
pub fn seal(
    key: &SecretKey,
    key_id: u64,
    label: &str,
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let nonce: [u8; NONCE_LEN] = random_array()?;
    let aad = associated_data(key_id, label);
    let sealed = cipher(key)
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| CryptoError::Malformed)?;
    let mut out = Vec::with_capacity(HEADER_LEN + sealed.len());
    out.push(VERSION);
    out.extend_from_slice(&key_id.to_be_bytes());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Reads the key id from a ciphertext's header without decrypting it.
pub fn key_id(ciphertext: &[u8]) -> Result<u64, CryptoError> {
    if ciphertext.len() < HEADER_LEN + TAG_LEN {
        return Err(CryptoError::Malformed);
    }
    if ciphertext[0] != VERSION {
        return Err(CryptoError::UnknownVersion(ciphertext[0]));
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&ciphertext[1..9]);
    Ok(u64::from_be_bytes(id))
}

/// Decrypts a value sealed by [`seal`] with the same key and label.
pub fn open(key: &SecretKey, label: &str, ciphertext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let key_id = key_id(ciphertext)?;
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&ciphertext[9..HEADER_LEN]);
    let aad = associated_data(key_id, label);
    cipher(key)
        .decrypt(
            &XNonce::from(nonce),
            Payload {
                msg: &ciphertext[HEADER_LEN..],
                aad: &aad,
            },
        )
        .map_err(|_| CryptoError::Tampered)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_header() {
        let key = SecretKey::generate().unwrap();
        let ct = seal(&key, 42, "users.name", b"Ada Lovelace").unwrap();
        assert_eq!(key_id(&ct).unwrap(), 42);
        assert_eq!(open(&key, "users.name", &ct).unwrap(), b"Ada Lovelace");
        // Two seals of the same value differ (fresh nonce).
        assert_ne!(ct, seal(&key, 42, "users.name", b"Ada Lovelace").unwrap());
    }

    #[test]
    fn every_flipped_byte_is_refused() {
        let key = SecretKey::generate().unwrap();
        let ct = seal(&key, 7, "claims.merchant", b"Cafe").unwrap();
        for i in 0..ct.len() {
            let mut bad = ct.clone();
            bad[i] ^= 0x01;
            assert!(open(&key, "claims.merchant", &bad).is_err(), "byte {i}");
        }
    }

    #[test]
    fn wrong_label_or_key_is_refused() {
        let key = SecretKey::generate().unwrap();
        let other = SecretKey::generate().unwrap();
        let ct = seal(&key, 7, "users.email", b"a@example.com").unwrap();
        assert!(matches!(
            open(&key, "users.name", &ct),
            Err(CryptoError::Tampered)
        ));
        assert!(matches!(
            open(&other, "users.email", &ct),
            Err(CryptoError::Tampered)
        ));
        assert!(matches!(
            open(&key, "users.email", &ct[..10]),
            Err(CryptoError::Malformed)
        ));
        let mut v2 = ct.clone();
        v2[0] = 2;
        assert!(matches!(
            open(&key, "users.email", &v2),
            Err(CryptoError::UnknownVersion(2))
        ));
    }
}
