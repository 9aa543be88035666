//! Changes to a person's account: MFA enrolment, password, roles, manager, status.
//! Every change bumps what it must (the session version ends other sessions) and
//! writes its audit entry in the same transaction.

use diesel::prelude::*;

use super::login::RECOVERY_INDEX;
use super::mfa;
use super::password;
use super::roles::Roles;
use super::users::{self, UserError};
use crate::audit::{self, Action};
use crate::crypto::columns::UserTotpSecret;
use crate::crypto::random_array;
use crate::db::now_unix;
use crate::db::schema::org::{recovery_codes, reset_tokens, users as users_t};
use crate::ids::UserId;
use crate::tenancy::Org;

/// How long an admin-issued reset link stays valid.
pub const RESET_LINK_SECS: i64 = 24 * 60 * 60;
const RESET_INDEX: &str = "reset_tokens.token";

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("that code is not right; check the time on your device and try again")]
    WrongCode,
    #[error("the current password is not right")]
    WrongPassword,
    #[error("this reset link is not valid any more; ask your administrator for a new one")]
    BadResetLink,
    #[error("you cannot change your own roles or status")]
    SelfChange,
    #[error("a person cannot be their own manager")]
    OwnManager,
    /// The person's data is restricted (GDPR Art. 18): their profile stays as it is.
    #[error("{}", crate::privacy::RESTRICTED_MESSAGE)]
    Restricted,
    #[error(transparent)]
    User(#[from] UserError),
}

impl From<diesel::result::Error> for AccountError {
    fn from(e: diesel::result::Error) -> Self {
        AccountError::User(e.into())
    }
}

impl From<crate::db::DbError> for AccountError {
    fn from(e: crate::db::DbError) -> Self {
        AccountError::User(e.into())
    }
}

impl From<crate::crypto::CryptoError> for AccountError {
    fn from(e: crate::crypto::CryptoError) -> Self {
        AccountError::User(e.into())
    }
}

fn bump_version(c: &mut SqliteConnection, user: UserId) -> QueryResult<()> {
    diesel::update(users_t::table.find(user.0))
        .set((
            users_t::session_version.eq(users_t::session_version + 1),
            users_t::updated_at.eq(now_unix()),
        ))
        .execute(c)?;
    Ok(())
}

/// Refuses a change to a person whose data is restricted.
fn if_restricted(org: &Org, user: UserId) -> Result<(), AccountError> {
    if crate::privacy::restriction::check(org, user)? {
        return Err(AccountError::Restricted);
    }
    Ok(())
}

/// The pending TOTP secret to show at enrolment: kept across reloads until confirmed.
pub fn enrolment_secret(org: &Org, user: UserId) -> Result<String, AccountError> {
    let row = users::get(org, user)?.ok_or(UserError::NotFound)?;
    if let Some(sealed) = &row.totp_secret
        && let Some(secret) = org.keys.open(sealed)?.as_str()
    {
        return Ok(secret.to_owned());
    }
    let secret = mfa::new_secret()?;
    let sealed = org.keys.seal::<UserTotpSecret>(row.person_key(), &secret)?;
    org.write(|c| -> Result<_, AccountError> {
        diesel::update(users_t::table.find(user.0))
            .set((
                users_t::totp_secret.eq(Some(&sealed)),
                users_t::mfa_enabled.eq(false),
                users_t::totp_last_step.eq(None::<i64>),
            ))
            .execute(c)?;
        Ok(())
    })?;
    Ok(secret)
}

/// Confirms enrolment with a code from the app; returns the recovery codes to show once.
pub fn confirm_enrolment(org: &Org, user: UserId, code: &str) -> Result<Vec<String>, AccountError> {
    let secret = enrolment_secret(org, user)?;
    let now = now_unix().max(0) as u64;
    let step = mfa::verify(&secret, code, now, None).ok_or(AccountError::WrongCode)?;
    let codes = mfa::new_recovery_codes()?;
    let hashes: Vec<Vec<u8>> = codes
        .iter()
        .map(|c| {
            org.keys
                .blind_index(RECOVERY_INDEX, &mfa::normalise_recovery_code(c))
        })
        .collect();
    org.write(|c| -> Result<_, AccountError> {
        diesel::update(users_t::table.find(user.0))
            .set((
                users_t::mfa_enabled.eq(true),
                users_t::totp_last_step.eq(Some(step)),
            ))
            .execute(c)?;
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
    Ok(codes)
}

fn policy_context<'a>(org: &'a Org, email: &'a str) -> [&'a str; 4] {
    [
        email,
        email.split('@').next().unwrap_or(""),
        org.slug.as_str(),
        &org.name,
    ]
}

/// Checks the policy and hashes a new password (slow: call off the async workers).
pub fn prepare_password(org: &Org, user: UserId, new: &str) -> Result<String, AccountError> {
    let row = users::get(org, user)?.ok_or(UserError::NotFound)?;
    let email = org.keys.open(&row.email)?;
    let email = email.as_str().unwrap_or_default();
    password::check_policy(new, &policy_context(org, email)).map_err(UserError::from)?;
    Ok(password::hash(new).map_err(UserError::from)?)
}

/// Changes one's own password; all other sessions end.
pub fn change_password(
    org: &Org,
    user: UserId,
    current: &str,
    new: &str,
) -> Result<(), AccountError> {
    let row = users::get(org, user)?.ok_or(UserError::NotFound)?;
    if !password::verify(row.password_hash.as_deref(), current) {
        return Err(AccountError::WrongPassword);
    }
    let hash = prepare_password(org, user, new)?;
    org.write(|c| -> Result<_, AccountError> {
        diesel::update(users_t::table.find(user.0))
            .set(users_t::password_hash.eq(Some(&hash)))
            .execute(c)?;
        bump_version(c, user)?;
        audit::append(c, Some(user), Some(user), Action::PasswordChanged, "")?;
        Ok(())
    })?;
    Ok(())
}

/// Ends every session of the user (sign out everywhere).
pub fn end_all_sessions(org: &Org, actor: UserId, user: UserId) -> Result<(), AccountError> {
    org.write(|c| -> Result<_, AccountError> {
        bump_version(c, user)?;
        audit::append(c, Some(actor), Some(user), Action::SignOutEverywhere, "")?;
        Ok(())
    })?;
    Ok(())
}

/// An admin sets a user's roles; their sessions end so the new roles apply at once.
pub fn set_roles(org: &Org, actor: UserId, user: UserId, roles: Roles) -> Result<(), AccountError> {
    if roles.is_empty() {
        return Err(UserError::NoRoles.into());
    }
    if actor == user {
        return Err(AccountError::SelfChange);
    }
    if_restricted(org, user)?;
    org.write(|c| -> Result<_, AccountError> {
        let old: String = users_t::table
            .find(user.0)
            .select(users_t::roles)
            .first(c)?;
        if old == roles.to_string() {
            return Ok(());
        }
        diesel::update(users_t::table.find(user.0))
            .set(users_t::roles.eq(roles.to_string()))
            .execute(c)?;
        bump_version(c, user)?;
        audit::append(
            c,
            Some(actor),
            Some(user),
            Action::RolesChanged,
            &format!("{old} -> {roles}"),
        )?;
        Ok(())
    })?;
    Ok(())
}

pub fn set_manager(
    org: &Org,
    actor: UserId,
    user: UserId,
    manager: Option<UserId>,
) -> Result<(), AccountError> {
    if manager == Some(user) {
        return Err(AccountError::OwnManager);
    }
    if let Some(m) = manager {
        users::get(org, m)?.ok_or(UserError::NotFound)?;
    }
    if_restricted(org, user)?;
    org.write(|c| -> Result<_, AccountError> {
        diesel::update(users_t::table.find(user.0))
            .set((
                users_t::manager_id.eq(manager.map(|m| m.0)),
                users_t::updated_at.eq(now_unix()),
            ))
            .execute(c)?;
        let detail = manager
            .map(|m| format!("manager {m}"))
            .unwrap_or_else(|| "no manager".into());
        audit::append(c, Some(actor), Some(user), Action::ManagerChanged, &detail)?;
        Ok(())
    })?;
    Ok(())
}

/// Deactivates (data kept, sign-in refused, sessions ended) or reactivates a user.
pub fn set_active(
    org: &Org,
    actor: UserId,
    user: UserId,
    active: bool,
) -> Result<(), AccountError> {
    if actor == user {
        return Err(AccountError::SelfChange);
    }
    org.write(|c| -> Result<_, AccountError> {
        diesel::update(users_t::table.find(user.0))
            .set(users_t::active.eq(active))
            .execute(c)?;
        bump_version(c, user)?;
        let action = if active {
            Action::UserReactivated
        } else {
            Action::UserDeactivated
        };
        audit::append(c, Some(actor), Some(user), action, "")?;
        Ok(())
    })?;
    Ok(())
}

/// Issues a one-time reset link token (only its keyed hash is stored).
pub fn issue_reset_token(org: &Org, actor: UserId, user: UserId) -> Result<String, AccountError> {
    users::get(org, user)?.ok_or(UserError::NotFound)?;
    let token = hex::encode(random_array::<32>()?);
    let hash = org.keys.blind_index(RESET_INDEX, &token);
    org.write(|c| -> Result<_, AccountError> {
        diesel::insert_into(reset_tokens::table)
            .values((
                reset_tokens::token_hash.eq(&hash),
                reset_tokens::user_id.eq(user.0),
                reset_tokens::expires_at.eq(now_unix() + RESET_LINK_SECS),
            ))
            .execute(c)?;
        audit::append(c, Some(actor), Some(user), Action::PasswordResetIssued, "")?;
        Ok(())
    })?;
    Ok(token)
}

/// The user a reset token belongs to, if it is unused and unexpired.
pub fn reset_token_user(org: &Org, token: &str) -> Result<Option<UserId>, AccountError> {
    let hash = org.keys.blind_index(RESET_INDEX, token);
    let mut conn = org.conn()?;
    let user: Option<i64> = reset_tokens::table
        .find(&hash)
        .filter(reset_tokens::used_at.is_null())
        .filter(reset_tokens::expires_at.gt(now_unix()))
        .select(reset_tokens::user_id)
        .first(&mut conn)
        .optional()?;
    Ok(user.map(UserId))
}

/// Sets a new password through a reset link; the link is used up, sessions end.
pub fn redeem_reset_token(org: &Org, token: &str, new: &str) -> Result<UserId, AccountError> {
    let user = reset_token_user(org, token)?.ok_or(AccountError::BadResetLink)?;
    let hash = prepare_password(org, user, new)?;
    let token_hash = org.keys.blind_index(RESET_INDEX, token);
    org.write(|c| {
        let n = diesel::update(
            reset_tokens::table
                .find(&token_hash)
                .filter(reset_tokens::used_at.is_null()),
        )
        .set(reset_tokens::used_at.eq(Some(now_unix())))
        .execute(c)?;
        if n != 1 {
            return Err(AccountError::BadResetLink);
        }
        diesel::update(users_t::table.find(user.0))
            .set(users_t::password_hash.eq(Some(&hash)))
            .execute(c)?;
        bump_version(c, user)?;
        audit::append(c, None, Some(user), Action::PasswordReset, "")?;
        Ok(())
    })?;
    Ok(user)
}

/// Every user, opened, with whether they use two-step sign-in (the admin list).
pub fn list_with_mfa(org: &Org) -> Result<Vec<(users::UserView, bool)>, AccountError> {
    let mut conn = org.conn()?;
    let rows: Vec<users::UserRow> = users_t::table
        .order(users_t::id)
        .select(users::UserRow::as_select())
        .load(&mut conn)?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        out.push((users::UserView::open(org, row)?, row.mfa_enabled));
    }
    Ok(out)
}

/// An admin invites a person: created without a password, audited, and given a reset
/// link token (to show the admin once) so they can set their own.
pub fn invite(
    org: &Org,
    actor: UserId,
    new: users::NewUser<'_>,
) -> Result<(UserId, String), AccountError> {
    if let Some(m) = new.manager {
        users::get(org, m)?.ok_or(UserError::NotFound)?;
    }
    let detail = format!("roles {}", new.roles);
    let user = users::create(
        org,
        users::NewUser {
            password_hash: None,
            ..new
        },
    )?;
    audit::record(org, Some(actor), Some(user), Action::UserCreated, &detail)?;
    let token = issue_reset_token(org, actor, user)?;
    Ok((user, token))
}
