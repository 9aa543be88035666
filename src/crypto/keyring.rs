//! One organisation's keys: its organisation key, the blind-index key derived from it,
//! and the per-person keys in `keys.sqlite`, unwrapped on first use and cached.
//! Destroying a person's key (crypto-shredding) makes all their sealed data read
//! back as [`Revealed::Erased`].

use std::collections::HashMap;
use std::sync::RwLock;

use diesel::prelude::*;

use super::{
    BytesColumn, CryptoError, PersonalColumn, Revealed, Sealed, SecretKey, envelope, hmac_sha256,
};
use crate::db::schema::keys::person_keys;
use crate::db::{DbPool, now_unix};
use crate::ids::PersonKeyId;

const PERSON_KEY_LABEL: &str = "person-key";
const BLIND_INDEX_CONTEXT: &[u8] = b"expenseplus blind index v1";
const INTEGRITY_CONTEXT: &[u8] = b"expenseplus integrity v1";

pub struct KeyRing {
    org_key: SecretKey,
    index_key: SecretKey,
    store: DbPool,
    /// `None` marks a key known to be destroyed.
    cache: RwLock<HashMap<PersonKeyId, Option<SecretKey>>>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyRing(..)")
    }
}

fn store_err(e: impl std::fmt::Display) -> CryptoError {
    CryptoError::KeyStore(e.to_string())
}

impl KeyRing {
    pub fn new(org_key: SecretKey, store: DbPool) -> KeyRing {
        let index_key =
            SecretKey::from_bytes(hmac_sha256(org_key.expose(), &[BLIND_INDEX_CONTEXT]));
        KeyRing {
            org_key,
            index_key,
            store,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// Makes a new data subject's key and stores it wrapped by the organisation key.
    pub fn create_person_key(&self) -> Result<PersonKeyId, CryptoError> {
        let key = SecretKey::generate()?;
        // Random 63-bit ids: positive in SQLite, and they reveal no head count.
        let id = (u64::from_be_bytes(super::random_array()?) >> 1).max(1);
        let wrapped = envelope::seal(&self.org_key, id, PERSON_KEY_LABEL, key.expose())?;
        let id = PersonKeyId(id as i64);
        let mut conn = self.store.get().map_err(store_err)?;
        diesel::insert_into(person_keys::table)
            .values((
                person_keys::id.eq(id.0),
                person_keys::wrapped.eq(Some(wrapped)),
                person_keys::created_at.eq(now_unix()),
            ))
            .execute(&mut conn)
            .map_err(store_err)?;
        self.cache_put(id, Some(key));
        Ok(id)
    }

    fn cache_put(&self, id: PersonKeyId, key: Option<SecretKey>) {
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        cache.insert(id, key);
    }

    /// The person's key, or `None` if it was destroyed. A key this organisation never
    /// had (a value from elsewhere) is an error, not an erasure.
    fn person_key(&self, id: PersonKeyId) -> Result<Option<SecretKey>, CryptoError> {
        {
            let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
            if let Some(entry) = cache.get(&id) {
                return Ok(entry.clone());
            }
        }
        let mut conn = self.store.get().map_err(store_err)?;
        let row: Option<Vec<u8>> = person_keys::table
            .find(id.0)
            .select(person_keys::wrapped)
            .first(&mut conn)
            .optional()
            .map_err(store_err)?
            .ok_or(CryptoError::UnknownKey)?;
        let key = match row {
            Some(wrapped) => {
                if envelope::key_id(&wrapped)? != id.0 as u64 {
                    return Err(CryptoError::Tampered);
                }
                let bytes = zeroize::Zeroizing::new(envelope::open(
                    &self.org_key,
                    PERSON_KEY_LABEL,
                    &wrapped,
                )?);
                Some(SecretKey::from_slice(&bytes).ok_or(CryptoError::Malformed)?)
            }
            None => None,
        };
        self.cache_put(id, key.clone());
        Ok(key)
    }

    /// True while the person's key exists: a person whose key was destroyed is gone.
    pub fn is_alive(&self, id: PersonKeyId) -> Result<bool, CryptoError> {
        Ok(self.person_key(id)?.is_some())
    }

    /// The live key for sealing new data: a destroyed key seals nothing more.
    fn sealing_key(&self, owner: PersonKeyId) -> Result<SecretKey, CryptoError> {
        self.person_key(owner)?
            .ok_or_else(|| CryptoError::KeyStore("the person's key has been destroyed".into()))
    }

    /// Seals `plaintext` for column `C` under the person's key.
    pub fn seal<C: PersonalColumn>(
        &self,
        owner: PersonKeyId,
        plaintext: &str,
    ) -> Result<Sealed<C>, CryptoError> {
        let key = self.sealing_key(owner)?;
        let bytes = envelope::seal(&key, owner.0 as u64, C::LABEL, plaintext.as_bytes())?;
        Ok(Sealed::from_ciphertext(bytes))
    }

    /// Seals a file's bytes for a bytes column `C` under the person's key.
    pub fn seal_bytes<C: BytesColumn>(
        &self,
        owner: PersonKeyId,
        plaintext: &[u8],
    ) -> Result<Sealed<C>, CryptoError> {
        let key = self.sealing_key(owner)?;
        let bytes = envelope::seal(&key, owner.0 as u64, C::LABEL, plaintext)?;
        Ok(Sealed::from_ciphertext(bytes))
    }

    /// Opens a sealed file: its bytes, or `None` if its owner's key is gone (erased).
    pub fn open_bytes<C: BytesColumn>(
        &self,
        sealed: &Sealed<C>,
    ) -> Result<Option<Vec<u8>>, CryptoError> {
        let id = PersonKeyId(envelope::key_id(sealed.ciphertext())? as i64);
        let Some(key) = self.person_key(id)? else {
            return Ok(None);
        };
        envelope::open(&key, C::LABEL, sealed.ciphertext()).map(Some)
    }

    /// Opens a sealed value: the text, or `Erased` if its owner's key is gone.
    pub fn open<C: PersonalColumn>(&self, sealed: &Sealed<C>) -> Result<Revealed, CryptoError> {
        let id = PersonKeyId(envelope::key_id(sealed.ciphertext())? as i64);
        let Some(key) = self.person_key(id)? else {
            return Ok(Revealed::Erased);
        };
        let bytes = envelope::open(&key, C::LABEL, sealed.ciphertext())?;
        String::from_utf8(bytes)
            .map(Revealed::Value)
            .map_err(|_| CryptoError::Malformed)
    }

    /// Destroys the person's key. Afterwards every copy of their sealed data, in
    /// any file or backup taken with today's key store, reads back as erased.
    pub fn destroy(&self, id: PersonKeyId) -> Result<(), CryptoError> {
        let mut conn = self.store.get().map_err(store_err)?;
        diesel::update(person_keys::table.find(id.0))
            .set((
                person_keys::wrapped.eq(None::<Vec<u8>>),
                person_keys::destroyed_at.eq(Some(now_unix())),
            ))
            .execute(&mut conn)
            .map_err(store_err)?;
        self.cache_put(id, None);
        Ok(())
    }

    /// A MAC over `parts` under a key derived from the organisation key, for records
    /// kept where others may write (backup manifests): without the organisation key,
    /// nobody can make one that matches. `purpose` keeps MACs of different records apart.
    pub fn integrity_mac(&self, purpose: &str, parts: &[&[u8]]) -> [u8; 32] {
        let key = hmac_sha256(
            self.org_key.expose(),
            &[INTEGRITY_CONTEXT, purpose.as_bytes()],
        );
        hmac_sha256(&key, parts)
    }

    /// Keyed HMAC of a normalised value, for equality look-ups without plaintext.
    /// `purpose` keeps indexes of different fields unlinkable.
    pub fn blind_index(&self, purpose: &str, normalised: &str) -> Vec<u8> {
        hmac_sha256(
            self.index_key.expose(),
            &[purpose.as_bytes(), normalised.as_bytes()],
        )
        .to_vec()
    }
}
