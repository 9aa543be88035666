//! Organisation policy kept in the `settings` table: which roles must use MFA.

use diesel::prelude::*;

use super::Roles;
use super::users::UserRow;
use crate::db::DbError;
use crate::db::schema::org::{settings, users};
use crate::ids::UserId;
use crate::tenancy::Org;

const MFA_REQUIRED_ROLES: &str = "mfa_required_roles";

/// Roles whose holders must enrol in MFA before doing anything else.
pub fn mfa_required_roles(org: &Org) -> Result<Roles, DbError> {
    let mut conn = org.conn()?;
    let value: Option<String> = settings::table
        .find(MFA_REQUIRED_ROLES)
        .select(settings::value)
        .first(&mut conn)
        .optional()?;
    Ok(parse_policy(value))
}

fn parse_policy(value: Option<String>) -> Roles {
    value
        .map(|v| Roles::parse_list(&v).unwrap_or_default())
        .unwrap_or_default()
}

/// A user and the roles the organisation requires MFA for, in one statement (the
/// policy as a sub-select): every request of a signed-in person needs both, and one
/// statement takes SQLite's read lock once.
pub fn user_and_mfa_policy(org: &Org, id: UserId) -> Result<Option<(UserRow, Roles)>, DbError> {
    let mut conn = org.conn()?;
    user_and_mfa_policy_in(&mut conn, id)
}

/// [`user_and_mfa_policy`] on a connection the caller holds.
pub fn user_and_mfa_policy_in(
    conn: &mut SqliteConnection,
    id: UserId,
) -> Result<Option<(UserRow, Roles)>, DbError> {
    let policy = settings::table
        .find(MFA_REQUIRED_ROLES)
        .select(settings::value)
        .single_value();
    let found: Option<(UserRow, Option<String>)> = users::table
        .find(id.0)
        .select((UserRow::as_select(), policy))
        .first(conn)
        .optional()?;
    Ok(found.map(|(user, value)| (user, parse_policy(value))))
}

/// Saves the MFA policy (inside the caller's transaction, with its audit entry).
pub fn set_mfa_required_roles(conn: &mut SqliteConnection, roles: Roles) -> QueryResult<()> {
    diesel::replace_into(settings::table)
        .values((
            settings::name.eq(MFA_REQUIRED_ROLES),
            settings::value.eq(roles.to_string()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Saves the roles that must use two-step sign-in, with its audit entry, together; an
/// unchanged policy writes nothing.
pub fn save_mfa_required_roles(org: &Org, actor: UserId, roles: Roles) -> Result<(), DbError> {
    let old = mfa_required_roles(org)?;
    if old == roles {
        return Ok(());
    }
    let show = |r: Roles| match r.is_empty() {
        true => "none".to_owned(),
        false => r.to_string(),
    };
    let detail = format!("{} -> {}", show(old), show(roles));
    org.write(|c| -> Result<_, DbError> {
        set_mfa_required_roles(c, roles)?;
        crate::audit::append(
            c,
            Some(actor),
            None,
            crate::audit::Action::PolicyChanged,
            &detail,
        )?;
        Ok(())
    })
}
