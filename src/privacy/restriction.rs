//! Restriction of processing (GDPR Art. 18): while a person is restricted their data
//! is only stored. Their claims cannot be edited, submitted, approved or paid, their
//! profile cannot be changed, and their lines stay out of the accounting export, until
//! the DPO lifts it. The claim and account code asks [`check`] / [`is_restricted`], so
//! the rule holds in the domain whatever page or command calls it.

use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;

use super::PrivacyError;
use crate::audit::{self, Action};
use crate::auth::users;
use crate::crypto::Sealed;
use crate::crypto::columns::RestrictionReason;
use crate::db::now_unix;
use crate::db::schema::org::privacy_flags;
use crate::ids::UserId;
use crate::tenancy::Org;

pub const REASON_MAX: usize = 1000;

/// The privacy state of one person as stored.
#[derive(Debug, Clone, Default, Queryable, Selectable)]
#[diesel(table_name = privacy_flags)]
pub struct Flags {
    pub user_id: i64,
    pub restricted_at: Option<i64>,
    pub restriction_reason: Option<Sealed<RestrictionReason>>,
    pub erase_due: Option<String>,
    pub erased_at: Option<i64>,
}

impl Flags {
    pub fn restricted(&self) -> bool {
        self.restricted_at.is_some()
    }

    pub fn erased(&self) -> bool {
        self.erased_at.is_some()
    }

    /// Restricted without a scheduled erasure: retention leaves the person's data
    /// alone (see [`held_from_retention`]).
    pub fn holds_from_retention(&self) -> bool {
        self.restricted() && self.erase_due.is_none()
    }
}

/// The person's flags (all empty if nothing was ever applied).
pub fn flags(org: &Org, user: UserId) -> Result<Flags, PrivacyError> {
    let mut conn = org.conn()?;
    Ok(flags_in(&mut conn, user)?)
}

/// [`flags`] on the caller's connection (e.g. inside a write).
pub fn flags_in(conn: &mut SqliteConnection, user: UserId) -> QueryResult<Flags> {
    Ok(privacy_flags::table
        .find(user.0)
        .select(Flags::as_select())
        .first(conn)
        .optional()?
        .unwrap_or(Flags {
            user_id: user.0,
            ..Flags::default()
        }))
}

/// True while the person's data is restricted (usable inside a transaction).
pub fn is_restricted(conn: &mut SqliteConnection, user: i64) -> QueryResult<bool> {
    let n: i64 = privacy_flags::table
        .filter(privacy_flags::user_id.eq(user))
        .filter(privacy_flags::restricted_at.is_not_null())
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Whether the person is restricted, for the claim and account code.
pub fn check(org: &Org, user: UserId) -> Result<bool, crate::db::DbError> {
    let mut conn = org.conn()?;
    Ok(is_restricted(&mut conn, user.0)?)
}

/// Ids of every restricted person (for exports that must leave them out).
pub fn restricted_ids(conn: &mut SqliteConnection) -> QueryResult<Vec<i64>> {
    privacy_flags::table
        .filter(privacy_flags::restricted_at.is_not_null())
        .select(privacy_flags::user_id)
        .load(conn)
}

/// Ids of the people whose data retention must keep: restricted (Art. 18) with no
/// erasure scheduled. A scheduled erasure is the DPO's own decision, so it still runs.
pub fn held_from_retention(conn: &mut SqliteConnection) -> QueryResult<Vec<i64>> {
    privacy_flags::table
        .filter(privacy_flags::restricted_at.is_not_null())
        .filter(privacy_flags::erase_due.is_null())
        .select(privacy_flags::user_id)
        .load(conn)
}

/// Ids of every restricted person, for pages.
pub fn restricted_people(org: &Org) -> Result<Vec<i64>, crate::db::DbError> {
    let mut conn = org.conn()?;
    Ok(restricted_ids(&mut conn)?)
}

fn clean_reason(raw: &str) -> Result<String, PrivacyError> {
    let text: String = raw
        .chars()
        .filter(|c| !c.is_control() || *c == '\n')
        .collect::<String>()
        .trim()
        .to_owned();
    if text.is_empty() {
        return Err(PrivacyError::Invalid(
            "enter the reason for the restriction".into(),
        ));
    }
    if text.chars().count() > REASON_MAX {
        return Err(PrivacyError::Invalid(format!(
            "the reason can be at most {REASON_MAX} characters"
        )));
    }
    Ok(text)
}

/// Writes the restriction (inside the caller's IMMEDIATE transaction), scheduling the
/// erasure on `erase_due` if given. Without one, an erasure already scheduled stays:
/// restricting must not quietly cancel it (only lifting or the erasure itself does).
pub(super) fn set_restricted(
    c: &mut SqliteConnection,
    user: UserId,
    reason: &Sealed<RestrictionReason>,
    erase_due: Option<&str>,
) -> QueryResult<()> {
    let now = now_unix();
    diesel::insert_into(privacy_flags::table)
        .values((
            privacy_flags::user_id.eq(user.0),
            privacy_flags::restricted_at.eq(Some(now)),
            privacy_flags::restriction_reason.eq(Some(reason)),
        ))
        .on_conflict(privacy_flags::user_id)
        .do_update()
        .set((
            privacy_flags::restricted_at.eq(Some(now)),
            privacy_flags::restriction_reason.eq(Some(reason)),
        ))
        .execute(c)?;
    if let Some(due) = erase_due {
        diesel::update(privacy_flags::table.find(user.0))
            .set(privacy_flags::erase_due.eq(due))
            .execute(c)?;
    }
    Ok(())
}

/// Seals a reason under the subject's key; an erased person cannot be restricted.
pub(super) fn seal_reason(
    org: &Org,
    subject: UserId,
    raw: &str,
) -> Result<Sealed<RestrictionReason>, PrivacyError> {
    let reason = clean_reason(raw)?;
    let row = users::get(org, subject)?.ok_or(PrivacyError::NotFound)?;
    if !org.keys.is_alive(row.person_key())? {
        return Err(PrivacyError::Erased);
    }
    Ok(org.keys.seal(row.person_key(), &reason)?)
}

/// Restricts the person's data, with a reason sealed under their key.
pub fn restrict(
    org: &Org,
    actor: UserId,
    subject: UserId,
    reason: &str,
) -> Result<(), PrivacyError> {
    let sealed = seal_reason(org, subject, reason)?;
    org.write(|c| -> Result<_, PrivacyError> {
        set_restricted(c, subject, &sealed, None)?;
        audit::append(c, Some(actor), Some(subject), Action::RestrictedPerson, "")?;
        Ok(())
    })?;
    Ok(())
}

/// Lifts the restriction. A scheduled erasure is a restriction too: lifting cancels
/// the schedule (the audit entry says so).
pub fn lift(org: &Org, actor: UserId, subject: UserId) -> Result<(), PrivacyError> {
    let current = flags(org, subject)?;
    if current.erased() {
        return Err(PrivacyError::Erased);
    }
    if !current.restricted() {
        return Err(PrivacyError::Invalid(
            "this person's data is not restricted".into(),
        ));
    }
    let detail = if current.erase_due.is_some() {
        "scheduled erasure cancelled"
    } else {
        ""
    };
    org.write(|c| -> Result<_, PrivacyError> {
        diesel::update(privacy_flags::table.find(subject.0))
            .set((
                privacy_flags::restricted_at.eq(None::<i64>),
                privacy_flags::restriction_reason.eq(None::<Vec<u8>>),
                privacy_flags::erase_due.eq(None::<String>),
            ))
            .execute(c)?;
        audit::append(
            c,
            Some(actor),
            Some(subject),
            Action::RestrictionLifted,
            detail,
        )?;
        Ok(())
    })?;
    Ok(())
}
