//! Secrets a session must hold for a moment (a TOTP secret being enrolled, recovery
//! codes or a reset link waiting to be shown once) are sealed under the person's key
//! before they go in: the session store is a plain table in `registry.sqlite`, and a
//! copy of it must not yield a way into an account. A sealed value names its person,
//! so it opens only for them, and reads as nothing once they are erased.

use crate::crypto::{CryptoError, PersonalColumn, Sealed};
use crate::ids::UserId;
use crate::tenancy::Org;

use super::users::UserRow;

/// Seals `text` for the session, as "person id.hex ciphertext". The id is sealed with
/// the text too: the prefix alone is only where to look, and could be rewritten.
pub fn seal<C: PersonalColumn>(
    org: &Org,
    person: &UserRow,
    text: &str,
) -> Result<String, CryptoError> {
    let sealed = org
        .keys
        .seal::<C>(person.person_key(), &format!("{}\n{text}", person.id))?;
    Ok(format!(
        "{}.{}",
        person.id,
        hex::encode(sealed.ciphertext())
    ))
}

/// What a token from [`seal`] holds, if it was sealed for `person` and still opens.
pub fn open<C: PersonalColumn>(
    org: &Org,
    person: UserId,
    token: &str,
) -> Result<Option<String>, CryptoError> {
    let Some((owner, sealed)) = token.split_once('.') else {
        return Ok(None);
    };
    let Ok(sealed) = hex::decode(sealed) else {
        return Ok(None);
    };
    if owner.parse::<i64>().ok() != Some(person.0) {
        return Ok(None);
    }
    match org.keys.open(&Sealed::<C>::from_stored(sealed)) {
        Ok(text) => Ok(text
            .as_str()
            .and_then(|t| t.split_once('\n'))
            .filter(|(id, _)| id.parse::<i64>().ok() == Some(person.0))
            .map(|(_, text)| text.to_owned())),
        // Not one made for this person (or their key is gone): nothing to show.
        Err(
            CryptoError::Malformed
            | CryptoError::Tampered
            | CryptoError::UnknownVersion(_)
            | CryptoError::UnknownKey,
        ) => Ok(None),
        Err(e) => Err(e),
    }
}
