//! People in one organisation: creation, look-up by email through the blind index,
//! and the decrypted views pages show. Names and emails are stored only sealed.

use diesel::prelude::*;

use super::password::PasswordError;
use super::roles::{RoleError, Roles};
use crate::crypto::columns::{UserEmail, UserName, UserTotpSecret};
use crate::crypto::{CryptoError, Revealed, Sealed};
use crate::db::schema::org::users;
use crate::db::{DbError, now_unix};
use crate::ids::{PersonKeyId, UserId};
use crate::tenancy::Org;

pub const EMAIL_INDEX: &str = "users.email";
pub const NAME_MAX: usize = 100;
pub const EMAIL_MAX: usize = 254;

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("that is not a valid email address")]
    BadEmail,
    #[error("a name must be 1 to 100 characters without control characters")]
    BadName,
    #[error("a user with that email address already exists")]
    Duplicate,
    #[error("there is no user with that email address")]
    NotFound,
    #[error("a user needs at least one role")]
    NoRoles,
    #[error(transparent)]
    Role(#[from] RoleError),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

impl From<diesel::result::Error> for UserError {
    fn from(e: diesel::result::Error) -> Self {
        UserError::Db(e.into())
    }
}

/// Trims and lower-cases an email and checks its shape (one `@`, no spaces).
pub fn normalise_email(raw: &str) -> Result<String, UserError> {
    let email = raw.trim().to_lowercase();
    let ok = email.len() <= EMAIL_MAX
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@') && domain.contains('.')
        });
    if ok {
        Ok(email)
    } else {
        Err(UserError::BadEmail)
    }
}

pub fn check_name(raw: &str) -> Result<String, UserError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > NAME_MAX || name.chars().any(char::is_control) {
        return Err(UserError::BadName);
    }
    Ok(name.to_owned())
}

/// A user row as stored: personal fields still sealed.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: i64,
    pub person_key_id: i64,
    pub email: Sealed<UserEmail>,
    pub name: Sealed<UserName>,
    pub roles: String,
    pub manager_id: Option<i64>,
    pub password_hash: Option<String>,
    pub totp_secret: Option<Sealed<UserTotpSecret>>,
    pub totp_last_step: Option<i64>,
    pub mfa_enabled: bool,
    pub active: bool,
    pub session_version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl UserRow {
    pub fn user_id(&self) -> UserId {
        UserId(self.id)
    }

    pub fn person_key(&self) -> PersonKeyId {
        PersonKeyId(self.person_key_id)
    }

    /// Stored role lists were validated on write; an unknown one grants nothing.
    pub fn roles(&self) -> Roles {
        Roles::parse_list(&self.roles).unwrap_or_default()
    }
}

/// What a page may show of a user, opened.
#[derive(Debug, Clone)]
pub struct UserView {
    pub id: UserId,
    pub name: Revealed,
    pub email: Revealed,
    pub roles: Roles,
    pub manager_id: Option<UserId>,
    pub active: bool,
}

impl UserView {
    pub fn open(org: &Org, row: &UserRow) -> Result<UserView, CryptoError> {
        Ok(UserView {
            id: row.user_id(),
            name: org.keys.open(&row.name)?,
            email: org.keys.open(&row.email)?,
            roles: row.roles(),
            manager_id: row.manager_id.map(UserId),
            active: row.active,
        })
    }
}

pub struct NewUser<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub roles: Roles,
    pub manager: Option<UserId>,
    /// An argon2 PHC string, already hashed (hashing is slow; callers choose where).
    pub password_hash: Option<String>,
}

/// Creates a user with a fresh person key. Nothing is left behind on failure.
pub fn create(org: &Org, new: NewUser<'_>) -> Result<UserId, UserError> {
    let email = normalise_email(new.email)?;
    let name = check_name(new.name)?;
    if new.roles.is_empty() {
        return Err(UserError::NoRoles);
    }
    let index = org.keys.blind_index(EMAIL_INDEX, &email);
    let mut conn = org.conn()?;
    let exists: i64 = users::table
        .filter(users::email_index.eq(&index))
        .count()
        .get_result(&mut conn)?;
    if exists > 0 {
        return Err(UserError::Duplicate);
    }
    let key = org.keys.create_person_key()?;
    let result = (|| {
        let sealed_email = org.keys.seal::<UserEmail>(key, &email)?;
        let sealed_name = org.keys.seal::<UserName>(key, &name)?;
        let now = now_unix();
        let id: i64 = diesel::insert_into(users::table)
            .values((
                users::person_key_id.eq(key.0),
                users::email_index.eq(&index),
                users::email.eq(&sealed_email),
                users::name.eq(&sealed_name),
                users::roles.eq(new.roles.to_string()),
                users::manager_id.eq(new.manager.map(|m| m.0)),
                users::password_hash.eq(new.password_hash.as_deref()),
                users::active.eq(true),
                users::created_at.eq(now),
                users::updated_at.eq(now),
            ))
            .returning(users::id)
            .get_result(&mut conn)
            .map_err(|e| match e {
                diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    _,
                ) => UserError::Duplicate,
                e => e.into(),
            })?;
        Ok(UserId(id))
    })();
    if result.is_err() {
        // The key protects nothing yet; destroying it keeps the key store tidy.
        let _ = org.keys.destroy(key);
    }
    result
}

pub fn find_by_email(org: &Org, raw_email: &str) -> Result<Option<UserRow>, UserError> {
    let Ok(email) = normalise_email(raw_email) else {
        return Ok(None);
    };
    let index = org.keys.blind_index(EMAIL_INDEX, &email);
    let mut conn = org.conn()?;
    Ok(users::table
        .filter(users::email_index.eq(index))
        .select(UserRow::as_select())
        .first(&mut conn)
        .optional()?)
}

pub fn get(org: &Org, id: UserId) -> Result<Option<UserRow>, UserError> {
    let mut conn = org.conn()?;
    Ok(users::table
        .find(id.0)
        .select(UserRow::as_select())
        .first(&mut conn)
        .optional()?)
}

/// A person as a chooser or a list shows them: id and name.
#[derive(Debug, Clone)]
pub struct Person {
    pub id: UserId,
    pub name: Revealed,
}

/// Active people holding any of `roles`, in id order. Only their names are read and
/// opened: an organisation may have thousands of people, of whom few hold such roles.
pub fn active_with_any_role(org: &Org, roles: Roles) -> Result<Vec<Person>, UserError> {
    let mut conn = org.conn()?;
    let rows: Vec<(i64, Sealed<UserName>, String)> = users::table
        .filter(users::active.eq(true))
        .order(users::id)
        .select((users::id, users::name, users::roles))
        .load(&mut conn)?;
    rows.into_iter()
        .filter(|(_, _, held)| {
            Roles::parse_list(held)
                .unwrap_or_default()
                .intersects(roles)
        })
        .map(|(id, name, _)| {
            Ok(Person {
                id: UserId(id),
                name: org.keys.open(&name)?,
            })
        })
        .collect()
}

/// The names of these people, each opened once, in one query. Ids of people who do
/// not exist are absent from the map.
pub fn names(
    org: &Org,
    ids: impl IntoIterator<Item = UserId>,
) -> Result<std::collections::HashMap<UserId, Revealed>, UserError> {
    let mut wanted: Vec<i64> = ids.into_iter().map(|id| id.0).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut conn = org.conn()?;
    let rows: Vec<(i64, Sealed<UserName>)> = users::table
        .filter(users::id.eq_any(wanted))
        .select((users::id, users::name))
        .load(&mut conn)?;
    rows.into_iter()
        .map(|(id, name)| Ok((UserId(id), org.keys.open(&name)?)))
        .collect()
}

/// Every user, opened, in id order (page-sized organisations; paging comes with admin pages).
pub fn list(org: &Org) -> Result<Vec<UserView>, UserError> {
    let mut conn = org.conn()?;
    let rows: Vec<UserRow> = users::table
        .order(users::id)
        .select(UserRow::as_select())
        .load(&mut conn)?;
    rows.iter()
        .map(|r| UserView::open(org, r).map_err(UserError::from))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            normalise_email("  Ada@Example.COM ").unwrap(),
            "ada@example.com"
        );
        for bad in [
            "",
            "ada",
            "@x.com",
            "ada@",
            "a b@x.com",
            "a@b@c.com",
            "ada@localhost",
        ] {
            assert!(normalise_email(bad).is_err(), "{bad}");
        }
    }
}
