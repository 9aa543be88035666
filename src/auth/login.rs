//! Checking a password and a second factor. Blocking (argon2 is slow on purpose):
//! the web layer runs these on the blocking pool behind a semaphore.

use diesel::prelude::*;

use super::mfa;
use super::password;
use super::users::{self, UserError, UserRow};
use crate::audit::{self, Action};
use crate::crypto::columns::UserTotpSecret;
use crate::db::now_unix;
use crate::db::schema::org::{recovery_codes, users as users_t};
use crate::ids::UserId;
use crate::tenancy::Org;

pub const RECOVERY_INDEX: &str = "recovery_codes.code";

/// The user whose password matches, if any. Unknown organisations and emails cost the
/// same argon2 work as a wrong password. Inactive and erased people never match.
pub fn check_password(
    org: Option<&Org>,
    email: &str,
    password_given: &str,
) -> Result<Option<UserRow>, UserError> {
    let row = match org {
        Some(org) => users::find_by_email(org, email)?,
        None => None,
    };
    let ok = password::verify(
        row.as_ref().and_then(|r| r.password_hash.as_deref()),
        password_given,
    );
    let Some(row) = row.filter(|_| ok) else {
        return Ok(None);
    };
    let alive = match org {
        Some(org) => org.keys.is_alive(row.person_key())?,
        None => false,
    };
    Ok((row.active && alive).then_some(row))
}

/// How a second factor was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactor {
    Totp,
    RecoveryCode,
}

/// The outcome of the second step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondStep {
    Accepted(SecondFactor),
    /// A wrong code, or one already used.
    Refused,
    /// The account changed since the password step (deactivated, erased, password
    /// reset, signed out everywhere): that step no longer counts. No code was used up.
    Stale,
}

/// The user's row as the password step saw it: active, alive, same session version.
fn unchanged(c: &mut SqliteConnection, user: UserId, version: i64) -> QueryResult<bool> {
    let n: i64 = users_t::table
        .find(user.0)
        .filter(users_t::active.eq(true))
        .filter(users_t::session_version.eq(version))
        .count()
        .get_result(c)?;
    Ok(n == 1)
}

/// Accepts a current TOTP code (never one already used) or an unused recovery code,
/// for a password step made at session `version`.
pub fn check_second_factor(
    org: &Org,
    user: UserId,
    version: i64,
    code: &str,
) -> Result<SecondStep, UserError> {
    let row = users::get(org, user)?.ok_or(UserError::NotFound)?;
    if !row.active || row.session_version != version || !org.keys.is_alive(row.person_key())? {
        return Ok(SecondStep::Stale);
    }
    if !row.mfa_enabled {
        return Ok(SecondStep::Refused);
    }
    if let Some(sealed) = &row.totp_secret {
        let secret = org.keys.open::<UserTotpSecret>(sealed)?;
        if let Some(secret) = secret.as_str() {
            let now = now_unix().max(0) as u64;
            if let Some(step) = mfa::verify(secret, code, now, row.totp_last_step) {
                // Conditional update: of two requests racing with one code, one wins;
                // the version and status are checked again in the same statement.
                let outcome = org.write(|c| -> Result<_, UserError> {
                    let n = diesel::update(
                        users_t::table
                            .find(user.0)
                            .filter(users_t::active.eq(true))
                            .filter(users_t::session_version.eq(version))
                            .filter(
                                users_t::totp_last_step
                                    .is_null()
                                    .or(users_t::totp_last_step.lt(step)),
                            ),
                    )
                    .set(users_t::totp_last_step.eq(step))
                    .execute(c)?;
                    // Not written: the code was used meanwhile, or the account changed
                    // (that is not a wrong code, and must not count as one).
                    Ok(if n == 1 {
                        SecondStep::Accepted(SecondFactor::Totp)
                    } else if unchanged(c, user, version)? {
                        SecondStep::Refused
                    } else {
                        SecondStep::Stale
                    })
                })?;
                return Ok(outcome);
            }
        }
    }
    let normalised = mfa::normalise_recovery_code(code);
    if normalised.len() != 10 {
        return Ok(SecondStep::Refused);
    }
    let hash = org.keys.blind_index(RECOVERY_INDEX, &normalised);
    org.write(|c| -> Result<_, UserError> {
        if !unchanged(c, user, version)? {
            return Ok(SecondStep::Stale);
        }
        let n = diesel::update(
            recovery_codes::table
                .filter(recovery_codes::user_id.eq(user.0))
                .filter(recovery_codes::code_hash.eq(&hash))
                .filter(recovery_codes::used_at.is_null()),
        )
        .set(recovery_codes::used_at.eq(Some(now_unix())))
        .execute(c)?;
        if n != 1 {
            return Ok(SecondStep::Refused);
        }
        audit::append(c, Some(user), Some(user), Action::RecoveryCodeUsed, "")?;
        Ok(SecondStep::Accepted(SecondFactor::RecoveryCode))
    })
}

/// How many unused recovery codes the user has left.
pub fn recovery_codes_left(org: &Org, user: UserId) -> Result<i64, UserError> {
    let mut conn = org.conn()?;
    Ok(recovery_codes::table
        .filter(recovery_codes::user_id.eq(user.0))
        .filter(recovery_codes::used_at.is_null())
        .count()
        .get_result(&mut conn)?)
}
