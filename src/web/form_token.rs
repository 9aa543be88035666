//! CSRF tokens for the forms shown before signing in (sign-in, a setup or reset link),
//! without a session: a random nonce in a `__Host-` cookie, and the form carries its
//! HMAC under a key derived from the master key (a signed double-submit cookie).
//! Another site can neither read that cookie nor set one for this host, so it cannot
//! make a matching pair. Before, each such page view made a session row to hold its
//! token: a write per view, and anyone could grow `registry.sqlite` by loading /login.
//! A session that has a token (signed in, or between password and code) uses its own.

use actix_session::Session;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::{HttpRequest, HttpResponse, web};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::{AppError, AppState, session};
use crate::crypto::random_array;

pub const COOKIE: &str = "__Host-expenseplus-form";
/// Hex digits of the nonce (32 random bytes).
const NONCE_LEN: usize = 64;

/// A form's token, and the cookie to send with the page if the client has none yet.
pub struct FormToken {
    token: String,
    cookie: Option<Cookie<'static>>,
}

impl FormToken {
    /// The token for a form on the page answering `req`.
    pub fn new(req: &HttpRequest, session: &Session) -> FormToken {
        if let Ok(Some(token)) = session.get::<String>(session::CSRF) {
            return FormToken {
                token,
                cookie: None,
            };
        }
        let Some(key) = key_of(req) else {
            return FormToken::none();
        };
        if let Some(nonce) = req.cookie(COOKIE).map(|c| c.value().to_owned())
            && well_formed(&nonce)
        {
            return FormToken {
                token: sign(&key, &nonce),
                cookie: None,
            };
        }
        // Without randomness there is no safe token: an empty one matches nothing.
        let Ok(bytes) = random_array::<32>() else {
            return FormToken::none();
        };
        let nonce = hex::encode(bytes);
        let cookie = Cookie::build(COOKIE, nonce.clone())
            .path("/")
            .secure(true)
            .http_only(true)
            // Lax, not Strict: a reset link opened from an email is a visit from
            // another site, and must not replace the cookie other open tabs rely on.
            // The HMAC and the `__Host-` prefix are the protection, not SameSite.
            .same_site(SameSite::Lax)
            .finish();
        FormToken {
            token: sign(&key, &nonce),
            cookie: Some(cookie),
        }
    }

    fn none() -> FormToken {
        FormToken {
            token: String::new(),
            cookie: None,
        }
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// The page, with the cookie the token needs if one is due.
    pub fn respond(self, page: Result<HttpResponse, AppError>) -> Result<HttpResponse, AppError> {
        let mut page = page?;
        if let Some(cookie) = self.cookie {
            page.add_cookie(&cookie).map_err(AppError::internal)?;
        }
        Ok(page)
    }
}

fn key_of(req: &HttpRequest) -> Option<[u8; 32]> {
    req.app_data::<web::Data<AppState>>().map(|s| s.form_key)
}

fn well_formed(nonce: &str) -> bool {
    nonce.len() == NONCE_LEN && nonce.bytes().all(|b| b.is_ascii_hexdigit())
}

fn sign(key: &[u8; 32], nonce: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(b"form token\n");
    mac.update(nonce.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `submitted` is the token for the form cookie `nonce`, under `key`.
pub fn matches(key: &[u8; 32], nonce: Option<&str>, submitted: &str) -> bool {
    match nonce.filter(|n| well_formed(n)) {
        Some(nonce) => {
            let expected = sign(key, nonce);
            !expected.is_empty() && expected.as_bytes().ct_eq(submitted.as_bytes()).into()
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_fits_only_its_own_cookie_and_key() {
        let (key, other_key) = ([1u8; 32], [2u8; 32]);
        let (nonce, other) = ("a".repeat(64), "b".repeat(64));
        let token = sign(&key, &nonce);
        assert!(matches(&key, Some(&nonce), &token));
        assert!(!matches(&key, Some(&other), &token));
        assert!(!matches(&other_key, Some(&nonce), &token));
        assert!(!matches(&key, None, &token));
        assert!(!matches(&key, Some(&nonce), ""));
        // A cookie that is not a nonce we could have made is no cookie.
        let short = "a".repeat(10);
        assert!(!matches(&key, Some(&short), &sign(&key, &short)));
    }
}
