//! An administrator turns off a person's two-step sign-in, for someone who lost both
//! their authenticator and their recovery codes: without it they could never sign in
//! again. Their sessions end; they sign in with their password, and are made to enrol
//! again where their role requires it. Audited; an administrator cannot do it to
//! themselves (another must), as with roles and deactivation.

use diesel::prelude::*;

use super::account::{AccountError, bump_version};
use crate::audit::{self, Action};
use crate::auth::users::{self, UserError};
use crate::db::schema::org::{recovery_codes, users as users_t};
use crate::ids::UserId;
use crate::tenancy::Org;

/// Turns off `user`'s two-step sign-in: their secret and recovery codes are deleted
/// and every session of theirs ends.
pub fn reset_mfa(org: &Org, actor: UserId, user: UserId) -> Result<(), AccountError> {
    if actor == user {
        return Err(AccountError::SelfChange);
    }
    users::get(org, user)?.ok_or(UserError::NotFound)?;
    org.write(|c| -> Result<_, AccountError> {
        let n = diesel::update(
            users_t::table
                .find(user.0)
                .filter(users_t::mfa_enabled.eq(true)),
        )
        .set((
            users_t::mfa_enabled.eq(false),
            users_t::totp_secret.eq(None::<Vec<u8>>),
            users_t::totp_last_step.eq(None::<i64>),
        ))
        .execute(c)?;
        if n == 0 {
            // Off already (a double click, or another admin first): nothing to do.
            return Ok(());
        }
        diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user.0)))
            .execute(c)?;
        bump_version(c, user)?;
        audit::append(c, Some(actor), Some(user), Action::MfaReset, "")?;
        Ok(())
    })
}
