//! Setting up two-step sign-in: the secret offered to one session, its confirmation
//! with a code from the app, and the recovery codes shown once. Confirming ends every
//! other session of the person, as they were signed in with the password alone.

use diesel::prelude::*;

use super::account::{AccountError, bump_version};
use super::login::RECOVERY_INDEX;
use super::mfa;
use super::session_sealed;
use super::users::{self, UserError};
use crate::audit::{self, Action};
use crate::crypto::columns::{PendingRecoveryCodes, PendingTotpSecret, UserTotpSecret};
use crate::db::now_unix;
use crate::db::schema::org::{recovery_codes, users as users_t};
use crate::ids::UserId;
use crate::tenancy::Org;

/// A TOTP secret offered at enrolment, not yet confirmed.
pub struct Enrolment {
    /// In base32, to show as text and as a QR code.
    pub secret: String,
    /// The secret sealed under the person's key. The caller keeps it in the one session
    /// that is enrolling and hands it back to [`confirm_enrolment`]: a pending secret on
    /// the user row would be shown to every session of the person, so whoever held one
    /// with only the password could read it and share the enrolment.
    pub token: String,
}

/// The secret a pending token holds, if it is this user's and opens.
fn open_pending(org: &Org, user: UserId, token: &str) -> Result<Option<String>, AccountError> {
    Ok(session_sealed::open::<PendingTotpSecret>(org, user, token)?)
}

/// The secret to show at enrolment: the one `held` (kept across reloads) if it is
/// still good, else a fresh one. Nothing is written: the user row changes only when
/// the person confirms.
pub fn enrolment_secret(
    org: &Org,
    user: UserId,
    held: Option<&str>,
) -> Result<Enrolment, AccountError> {
    if let Some(token) = held
        && let Some(secret) = open_pending(org, user, token)?
    {
        return Ok(Enrolment {
            secret,
            token: token.to_owned(),
        });
    }
    let row = users::get(org, user)?.ok_or(UserError::NotFound)?;
    let secret = mfa::new_secret()?;
    let token = session_sealed::seal::<PendingTotpSecret>(org, &row, &secret)?;
    Ok(Enrolment { secret, token })
}

/// What a confirmed enrolment gives the session that made it.
pub struct Enrolled {
    /// The recovery codes, to show once, sealed for the session (open them with
    /// [`open_recovery_codes`]).
    pub codes: String,
    /// The new session version: every other session of the person has ended.
    pub version: i64,
}

/// Confirms enrolment of the secret in `held` with a code from the app. `version` is
/// the confirming session's: a session ended meanwhile cannot enrol. Every other
/// session ends, as they were signed in with the password alone.
pub fn confirm_enrolment(
    org: &Org,
    user: UserId,
    version: i64,
    held: Option<&str>,
    code: &str,
) -> Result<Enrolled, AccountError> {
    let secret = match held {
        Some(token) => open_pending(org, user, token)?,
        None => None,
    };
    // No pending secret (e.g. the session was renewed): the page offers a fresh one.
    let secret = secret.ok_or(AccountError::WrongCode)?;
    let now = now_unix().max(0) as u64;
    let step = mfa::verify(&secret, code, now, None).ok_or(AccountError::WrongCode)?;
    let row = users::get(org, user)?.ok_or(UserError::NotFound)?;
    let sealed = org.keys.seal::<UserTotpSecret>(row.person_key(), &secret)?;
    let codes = mfa::new_recovery_codes()?;
    let hashes: Vec<Vec<u8>> = codes
        .iter()
        .map(|c| {
            org.keys
                .blind_index(RECOVERY_INDEX, &mfa::normalise_recovery_code(c))
        })
        .collect();
    org.write(|c| -> Result<_, AccountError> {
        // Conditional: of two sessions confirming at once, one wins; the other has ended.
        let n = diesel::update(
            users_t::table
                .find(user.0)
                .filter(users_t::mfa_enabled.eq(false))
                .filter(users_t::active.eq(true))
                .filter(users_t::session_version.eq(version)),
        )
        .set((
            users_t::totp_secret.eq(Some(&sealed)),
            users_t::mfa_enabled.eq(true),
            users_t::totp_last_step.eq(Some(step)),
        ))
        .execute(c)?;
        if n != 1 {
            return Err(AccountError::SessionEnded);
        }
        bump_version(c, user)?;
        diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user.0)))
            .execute(c)?;
        for hash in &hashes {
            diesel::insert_into(recovery_codes::table)
                .values((
                    recovery_codes::user_id.eq(user.0),
                    recovery_codes::code_hash.eq(hash),
                ))
                .execute(c)?;
        }
        audit::append(c, Some(user), Some(user), Action::MfaEnrolled, "")?;
        Ok(())
    })?;
    let codes = session_sealed::seal::<PendingRecoveryCodes>(org, &row, &codes.join(" "))?;
    Ok(Enrolled {
        codes,
        version: version + 1,
    })
}

/// The recovery codes an enrolment sealed for its session, if they are this user's.
pub fn open_recovery_codes(
    org: &Org,
    user: UserId,
    sealed: &str,
) -> Result<Vec<String>, AccountError> {
    let codes = session_sealed::open::<PendingRecoveryCodes>(org, user, sealed)?;
    Ok(codes
        .map(|c| c.split(' ').map(str::to_owned).collect())
        .unwrap_or_default())
}
