//! Changes to a person's account: password, roles, manager, status, reset links
//! (setting up two-step sign-in is `mfa_enrolment`'s).
//! Every change bumps what it must (the session version ends other sessions) and
//! writes its audit entry in the same transaction.

use diesel::prelude::*;

use super::password;
use super::roles::{Role, Roles};
use super::throttle::{Attempt, Throttle};
use super::users::{self, UserError};
use crate::audit::{self, Action};
use crate::crypto::random_array;
use crate::db::now_unix;
use crate::db::schema::org::{reset_tokens, users as users_t};
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
    /// Too many wrong current passwords: wait this long before trying again.
    #[error("too many wrong passwords; please wait {} seconds and try again", .0.as_secs().max(1))]
    Throttled(std::time::Duration),
    /// The session asking has ended meanwhile (e.g. another session enrolled first).
    #[error("this session has ended; please sign in again")]
    SessionEnded,
    #[error("this reset link is not valid any more; ask your administrator for a new one")]
    BadResetLink,
    #[error("you cannot change your own roles or status")]
    SelfChange,
    #[error("a person cannot be their own manager")]
    OwnManager,
    #[error("the organisation needs at least one active administrator")]
    LastAdmin,
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

pub(super) fn bump_version(c: &mut SqliteConnection, user: UserId) -> QueryResult<()> {
    diesel::update(users_t::table.find(user.0))
        .set((
            users_t::session_version.eq(users_t::session_version + 1),
            users_t::updated_at.eq(now_unix()),
        ))
        .execute(c)?;
    Ok(())
}

/// Marks every unused reset link of the user used: only the newest link may work, and
/// none once the password has been set.
fn cancel_reset_tokens(c: &mut SqliteConnection, user: UserId) -> QueryResult<()> {
    diesel::update(
        reset_tokens::table
            .filter(reset_tokens::user_id.eq(user.0))
            .filter(reset_tokens::used_at.is_null()),
    )
    .set(reset_tokens::used_at.eq(Some(now_unix())))
    .execute(c)?;
    Ok(())
}

/// Whether the user is an active admin, as the transaction sees it now.
fn is_active_admin(c: &mut SqliteConnection, user: UserId) -> QueryResult<bool> {
    let (active, roles): (bool, String) = users_t::table
        .find(user.0)
        .select((users_t::active, users_t::roles))
        .first(c)?;
    Ok(active
        && Roles::parse_list(&roles)
            .unwrap_or_default()
            .contains(Role::Admin))
}

/// Run inside a change's own transaction after it has written, if the person was an
/// active admin before it: refuses a change that leaves no active admin. Two admins
/// removing each other at once are serialised by the write turn; the second fails.
fn keep_an_admin(c: &mut SqliteConnection) -> Result<(), AccountError> {
    let held: Vec<String> = users_t::table
        .filter(users_t::active.eq(true))
        .filter(users_t::roles.like("%admin%"))
        .select(users_t::roles)
        .load(c)?;
    let any = held.iter().any(|r| {
        Roles::parse_list(r)
            .unwrap_or_default()
            .contains(Role::Admin)
    });
    if any {
        Ok(())
    } else {
        Err(AccountError::LastAdmin)
    }
}

/// Refuses a change to a person whose data is restricted.
fn if_restricted(org: &Org, user: UserId) -> Result<(), AccountError> {
    if crate::privacy::restriction::check(org, user)? {
        return Err(AccountError::Restricted);
    }
    Ok(())
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

/// Checks one's own current password under `throttle` (a stolen session must not make
/// a free password oracle); each wrong one is audited as `failed`, with the attempt count.
/// Changing the password and proving it again before setting up two-step sign-in share
/// one budget of attempts.
pub fn check_own_password(
    org: &Org,
    throttle: &Throttle,
    user: UserId,
    current: &str,
    failed: Action,
) -> Result<(), AccountError> {
    let keys = Attempt {
        account: format!("password:{}:{}", org.id.0, user.0),
        address: None,
    };
    throttle.begin(&keys).map_err(AccountError::Throttled)?;
    let row = users::get(org, user)?.ok_or(UserError::NotFound)?;
    if !password::verify(row.password_hash.as_deref(), current) {
        let count = throttle.fail(&keys);
        let detail = format!("attempt {count}");
        audit::record(org, Some(user), Some(user), failed, &detail)?;
        return Err(AccountError::WrongPassword);
    }
    throttle.succeed(&keys);
    Ok(())
}

/// Changes one's own password; all other sessions end, as do unused reset links.
pub fn change_password(
    org: &Org,
    throttle: &Throttle,
    user: UserId,
    current: &str,
    new: &str,
) -> Result<(), AccountError> {
    check_own_password(org, throttle, user, current, Action::PasswordChangeFailed)?;
    let hash = prepare_password(org, user, new)?;
    org.write(|c| -> Result<_, AccountError> {
        diesel::update(users_t::table.find(user.0))
            .set(users_t::password_hash.eq(Some(&hash)))
            .execute(c)?;
        bump_version(c, user)?;
        cancel_reset_tokens(c, user)?;
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
        let was_admin = is_active_admin(c, user)?;
        diesel::update(users_t::table.find(user.0))
            .set(users_t::roles.eq(roles.to_string()))
            .execute(c)?;
        if was_admin {
            keep_an_admin(c)?;
        }
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
        let was_admin = is_active_admin(c, user)?;
        diesel::update(users_t::table.find(user.0))
            .set(users_t::active.eq(active))
            .execute(c)?;
        if was_admin {
            keep_an_admin(c)?;
        }
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

/// Issues a one-time reset link token (only its keyed hash is stored). The person's
/// older unused links stop working: only the newest one given out is valid.
pub fn issue_reset_token(org: &Org, actor: UserId, user: UserId) -> Result<String, AccountError> {
    users::get(org, user)?.ok_or(UserError::NotFound)?;
    let token = hex::encode(random_array::<32>()?);
    let hash = org.keys.blind_index(RESET_INDEX, &token);
    org.write(|c| -> Result<_, AccountError> {
        cancel_reset_tokens(c, user)?;
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

/// Sets a new password through a reset link; it and every other link of the person
/// are used up, sessions end.
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
        cancel_reset_tokens(c, user)?;
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
