//! A browser someone has signed in from keeps a sign-in lane of its own. Without it,
//! anyone who knows a person's organisation and email address could keep them locked
//! out: five wrong passwords make the account wait, and each further one renews the
//! wait. After a successful password step the browser gets a cookie naming this
//! account (a random nonce and its HMAC over the account, under a key derived from the
//! master key, so it holds no email address). Attempts that bring it are throttled under
//! the account and that nonce; others' failures never reach that lane, and guesses
//! without the cookie are held as before. Minting a lane needs the password. (OWASP's
//! "device cookies" against lockout.) Each account has its own cookie, named by an HMAC
//! of the account, so one browser keeps lanes for several accounts; each successful
//! sign-in renews the account's cookie.

use actix_web::HttpRequest;
use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::cookie::{Cookie, SameSite};
use subtle::ConstantTimeEq;

use crate::crypto::{hmac_sha256, random_array};

/// The start of each lane cookie's name; the rest names the account (see [`name`]).
pub const COOKIE: &str = "__Host-expenseplus-device-";
/// How long a browser keeps its lane without signing in again.
const KEPT_DAYS: i64 = 180;
/// Hex digits of the nonce (16 random bytes).
const NONCE_LEN: usize = 32;

/// The account as the sign-in reads it: organisation and email, trimmed, lower-cased.
fn account(organisation: &str, email: &str) -> String {
    format!(
        "{}\n{}",
        organisation.trim().to_lowercase(),
        email.trim().to_lowercase()
    )
}

fn mac(key: &[u8; 32], account: &str, nonce: &str) -> String {
    hex::encode(hmac_sha256(
        key,
        &[b"device lane", account.as_bytes(), nonce.as_bytes()],
    ))
}

/// The account's cookie name: [`COOKIE`] and 16 hex digits of an HMAC of the account,
/// which names nobody to whoever reads the cookie jar.
fn name(key: &[u8; 32], account: &str) -> String {
    let id = mac(key, account, "cookie name");
    format!("{COOKIE}{}", &id[..16])
}

/// The lane this request's browser holds for the account typed, if any: its nonce.
pub fn lane(req: &HttpRequest, key: &[u8; 32], organisation: &str, email: &str) -> Option<String> {
    let account = account(organisation, email);
    let cookie = req.cookie(&name(key, &account))?;
    lane_of(cookie.value(), key, &account)
}

fn lane_of(value: &str, key: &[u8; 32], account: &str) -> Option<String> {
    let (nonce, given) = value.split_once('.')?;
    let well_formed = nonce.len() == NONCE_LEN && nonce.bytes().all(|b| b.is_ascii_hexdigit());
    if !well_formed {
        return None;
    }
    let expected = mac(key, account, nonce);
    bool::from(expected.as_bytes().ct_eq(given.as_bytes())).then(|| nonce.to_owned())
}

/// The cookie for a browser that just passed the password step of this account.
pub fn issue(key: &[u8; 32], organisation: &str, email: &str) -> Option<Cookie<'static>> {
    let account = account(organisation, email);
    let nonce = hex::encode(random_array::<16>().ok()?);
    let value = format!("{nonce}.{}", mac(key, &account, &nonce));
    Some(
        Cookie::build(name(key, &account), value)
            .path("/")
            .secure(true)
            .http_only(true)
            .same_site(SameSite::Strict)
            .max_age(CookieDuration::days(KEPT_DAYS))
            .finish(),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_lane_belongs_to_one_account_and_one_key() {
        let key = [3u8; 32];
        let cookie = issue(&key, " Acme", "Emp@acme.example ").unwrap();
        let value = cookie.value();
        let nonce = lane_of(value, &key, &account("acme", "emp@acme.example")).unwrap();
        assert!(value.starts_with(&nonce));
        assert_eq!(
            lane_of(value, &key, &account("acme", "boss@acme.example")),
            None
        );
        assert_eq!(
            lane_of(value, &[4u8; 32], &account("acme", "emp@acme.example")),
            None
        );
        // A nonce with another's MAC, or no MAC, is no lane.
        // Each account has a cookie of its own name.
        assert!(cookie.name().starts_with(COOKIE));
        let other = issue(&key, "acme", "boss@acme.example").unwrap();
        assert_ne!(cookie.name(), other.name());
        let forged = format!("{}.{}", "a".repeat(NONCE_LEN), &value[NONCE_LEN + 1..]);
        assert_eq!(
            lane_of(&forged, &key, &account("acme", "emp@acme.example")),
            None
        );
        assert_eq!(
            lane_of(&nonce, &key, &account("acme", "emp@acme.example")),
            None
        );
    }
}
