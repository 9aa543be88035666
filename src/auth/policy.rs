//! Organisation policy kept in the `settings` table: which roles must use MFA.

use diesel::prelude::*;

use super::Roles;
use crate::db::DbError;
use crate::db::schema::org::settings;
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
    Ok(value
        .map(|v| Roles::parse_list(&v).unwrap_or_default())
        .unwrap_or_default())
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
