//! What the session holds (ids, timestamps, the CSRF token; secrets waiting there for a
//! moment, such as a TOTP secret being enrolled, new recovery codes or a reset link,
//! only sealed by `auth::session_sealed`; nothing personal in the clear) and the
//! helpers that read and write it.

use actix_session::Session;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::crypto::random_array;
use crate::db::now_unix;

pub const CSRF: &str = "csrf";
pub const ORG: &str = "org";
pub const UID: &str = "uid";
pub const VERSION: &str = "ver";
pub const ISSUED: &str = "iat";
pub const SEEN: &str = "seen";
pub const PENDING_MFA: &str = "mfa_pending";
/// The TOTP secret this session is enrolling, sealed (see `mfa_enrolment::Enrolment`).
pub const PENDING_TOTP: &str = "totp_pending";
/// New recovery codes, sealed, until the page that shows them once.
pub const RECOVERY_CODES: &str = "recovery_codes";
pub const NOTICE: &str = "notice";
/// When this session last proved the password again (see [`password_proved_within`]).
pub const PASSWORD_PROVED: &str = "pw_at";
/// Setting up two-step sign-in needs the password proved within this long, by signing
/// in or by typing it again: a stolen session alone must not enrol its thief's device
/// (which would also end every other session, the owner's included).
pub const PASSWORD_RECENT_SECS: i64 = 10 * 60;
/// ...and confirming the code from the app, this long: installing an authenticator app
/// can take longer than ten minutes, and the secret was only shown within them.
pub const ENROL_CONFIRM_SECS: i64 = 30 * 60;
/// `seen` is refreshed at most this often, so a busy user causes one session write a minute.
pub const SEEN_RESOLUTION_SECS: i64 = 60;

/// The signed-in identity a session carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    pub org: i64,
    pub user: i64,
    pub version: i64,
    pub issued: i64,
    pub seen: i64,
}

/// A password was right but the second factor is still to come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingMfa {
    pub org: i64,
    pub user: i64,
    pub since: i64,
    /// The session version the password step saw: a reset, deactivation or sign-out
    /// everywhere before the code step voids it.
    pub version: i64,
}

pub fn identity(session: &Session) -> Option<Identity> {
    let get = |k: &str| session.get::<i64>(k).ok().flatten();
    Some(Identity {
        org: get(ORG)?,
        user: get(UID)?,
        version: get(VERSION)?,
        issued: get(ISSUED)?,
        seen: get(SEEN)?,
    })
}

/// The session's CSRF token, made on first use.
pub fn csrf_token(session: &Session) -> String {
    if let Ok(Some(token)) = session.get::<String>(CSRF) {
        return token;
    }
    // Without randomness there is no safe token: an empty one matches nothing.
    let Ok(bytes) = random_array::<32>() else {
        return String::new();
    };
    let token = hex::encode(bytes);
    let _ = session.insert(CSRF, &token);
    token
}

/// Constant-time check of a submitted token against the session's.
pub fn csrf_matches(session: &Session, submitted: &str) -> bool {
    match session.get::<String>(CSRF) {
        Ok(Some(expected)) if !expected.is_empty() => {
            expected.as_bytes().ct_eq(submitted.as_bytes()).into()
        }
        _ => false,
    }
}

/// Starts a signed-in session under a new id (no fixation) with a new CSRF token.
pub fn sign_in(session: &Session, org: i64, user: i64, version: i64) {
    session.renew();
    session.clear();
    let now = now_unix();
    let _ = session.insert(ORG, org);
    let _ = session.insert(UID, user);
    let _ = session.insert(VERSION, version);
    let _ = session.insert(ISSUED, now);
    let _ = session.insert(SEEN, now);
    csrf_token(session);
}

/// Whether the password was proved within the last `secs` seconds: at sign-in, or typed
/// again since ([`PASSWORD_RECENT_SECS`], [`ENROL_CONFIRM_SECS`]).
pub fn password_proved_within(session: &Session, id: &Identity, secs: i64) -> bool {
    let proved = session.get::<i64>(PASSWORD_PROVED).ok().flatten();
    let last = proved.unwrap_or(id.issued).max(id.issued);
    now_unix() - last < secs
}

/// Records that the password was just typed again, under a fresh session id (the
/// session is worth more now).
pub fn password_proved(session: &Session) {
    session.renew();
    let _ = session.insert(PASSWORD_PROVED, now_unix());
}

/// Marks the session as active now, writing at most once a minute.
pub fn touch(session: &Session, id: &Identity) {
    let now = now_unix();
    if now - id.seen >= SEEN_RESOLUTION_SECS {
        let _ = session.insert(SEEN, now);
    }
}

/// A one-time message for the next page.
pub fn set_notice(session: &Session, text: &str) {
    let _ = session.insert(NOTICE, text);
}

pub fn take_notice(session: &Session) -> Option<String> {
    take(session, NOTICE)
}

/// Takes a value out of the session, once. Only a session holding it is touched:
/// actix-session counts any `remove` as a change, and a changed session is written to
/// the store, which would be a write per page view.
pub fn take<T: serde::de::DeserializeOwned>(session: &Session, key: &str) -> Option<T> {
    if !session.contains_key(key) {
        return None;
    }
    session.remove_as::<T>(key).and_then(Result::ok)
}
