//! Password hashing (argon2id at OWASP's minimum: 19 MiB, t=2, p=1) and the password
//! policy. Hashing is CPU-bound: web handlers call it through `web::block`.

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};

pub const MIN_LEN: usize = 12;
pub const MAX_LEN: usize = 128;
/// zxcvbn score: 3 means about 10^10 guesses are needed.
pub const MIN_SCORE: u8 = 3;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("the password must be at least 12 characters long")]
    TooShort,
    #[error("the password must be at most 128 characters long")]
    TooLong,
    #[error("the password is too easy to guess; try a longer phrase of unrelated words")]
    TooWeak,
    #[error("the password must not contain your email address or the organisation's name")]
    ContainsIdentity,
    #[error("the password could not be hashed")]
    Hashing,
}

fn hasher() -> Argon2<'static> {
    // The constants are valid argon2 parameters, so this cannot fail.
    let params = Params::new(
        Params::DEFAULT_M_COST,
        Params::DEFAULT_T_COST,
        Params::DEFAULT_P_COST,
        None,
    )
    .unwrap_or(Params::DEFAULT);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Checks the policy: length, strength, and no email or organisation inside.
/// `context` holds the email, its local part, and the organisation slug and name.
pub fn check_policy(password: &str, context: &[&str]) -> Result<(), PasswordError> {
    let len = password.chars().count();
    if len < MIN_LEN {
        return Err(PasswordError::TooShort);
    }
    if len > MAX_LEN {
        return Err(PasswordError::TooLong);
    }
    let lower = password.to_lowercase();
    if context
        .iter()
        .map(|c| c.trim().to_lowercase())
        .any(|c| c.chars().count() >= 3 && lower.contains(&c))
    {
        return Err(PasswordError::ContainsIdentity);
    }
    if (zxcvbn::zxcvbn(password, context).score() as u8) < MIN_SCORE {
        return Err(PasswordError::TooWeak);
    }
    Ok(())
}

/// Words in a suggested passphrase: 6 from the EFF long list is about 77 bits.
pub const SUGGESTED_WORDS: usize = 6;

/// A machine-made passphrase like `crisp-ladder-oyster-...` (uniform over the EFF
/// large word list, by rejection sampling so no word is more likely than another).
pub fn suggest_passphrase() -> String {
    let list = eff_wordlist::large::LIST;
    let n = list.len() as u32;
    let limit = u32::MAX - u32::MAX % n;
    let mut words = Vec::with_capacity(SUGGESTED_WORDS);
    while words.len() < SUGGESTED_WORDS {
        let Ok(bytes) = crate::crypto::random_array::<4>() else {
            continue;
        };
        let r = u32::from_be_bytes(bytes);
        if r < limit {
            words.push(list[(r % n) as usize].1);
        }
    }
    words.join("-")
}

/// Hashes a password into a PHC string (`$argon2id$...`).
pub fn hash(password: &str) -> Result<String, PasswordError> {
    hasher()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|_| PasswordError::Hashing)
}

/// Verifies a password. With no stored hash it still does the same work, so an
/// unknown account costs as much time as a wrong password.
pub fn verify(stored: Option<&str>, password: &str) -> bool {
    match stored {
        Some(phc) => hasher().verify_password(password.as_bytes(), phc).is_ok(),
        None => {
            let _ = hasher().verify_password(password.as_bytes(), dummy_hash());
            false
        }
    }
}

fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash("expenseplus dummy password for timing").unwrap_or_default())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        assert_eq!(check_policy("short", &[]), Err(PasswordError::TooShort));
        assert_eq!(
            check_policy(&"x".repeat(129), &[]),
            Err(PasswordError::TooLong)
        );
        assert_eq!(
            check_policy("passwordpassword", &[]),
            Err(PasswordError::TooWeak)
        );
        assert_eq!(
            check_policy(
                "acme-corp-is-my-employer-9!",
                &["ada@example.com", "acme-corp"]
            ),
            Err(PasswordError::ContainsIdentity)
        );
        assert!(check_policy("correct horse battery staple", &["ada@example.com"]).is_ok());
    }

    #[test]
    fn suggestions_pass_the_policy() {
        let a = suggest_passphrase();
        assert_eq!(a.split('-').count(), SUGGESTED_WORDS);
        assert_ne!(a, suggest_passphrase());
        assert!(check_policy(&a, &["ada@example.com"]).is_ok());
    }

    #[test]
    fn hash_and_verify() {
        let h = hash("correct horse battery staple").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify(Some(&h), "correct horse battery staple"));
        assert!(!verify(Some(&h), "correct horse battery stapler"));
        assert!(!verify(None, "anything at all"));
    }
}
