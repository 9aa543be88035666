//! Erasure by crypto-shredding. `Now` destroys the person's key, so every sealed value
//! of theirs (name, email, claim texts, receipts, comments they wrote) reads back as
//! "erased" in the live files and in any backup opened with today's key store; their
//! login goes (no password, TOTP secret, recovery codes or email index; sessions end).
//! Claims, lines, amounts, dates and categories stay as pseudonymous records, so the
//! organisation's totals do not change; comments other people wrote on their claims are
//! removed (they are about the person but sealed under their authors' keys). `AfterRetention` restricts the person now and
//! schedules the shredding for the end of the retention period of their claims.

use diesel::prelude::*;
use time::Date;

use super::PrivacyError;
use super::restriction::{self, set_restricted};
use super::retention;
use crate::audit::{self, Action};
use crate::auth::users;
use crate::auth::{Role, Roles};
use crate::crypto::random_array;
use crate::db::now_unix;
use crate::db::schema::org::{
    claim_events, claims, privacy_flags, recovery_codes, reset_tokens, users as users_t,
};
use crate::ids::{PersonKeyId, UserId};
use crate::tenancy::Org;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Now,
    AfterRetention,
}

impl Mode {
    pub fn parse(raw: &str) -> Option<Mode> {
        match raw.trim() {
            "now" => Some(Mode::Now),
            "after_retention" => Some(Mode::AfterRetention),
            _ => None,
        }
    }
}

/// What an erasure request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The key was destroyed now. Backups must forget it too
    /// (`backup::forget_person_key`).
    Erased(PersonKeyId),
    /// Restricted now; retention shreds the person on this day.
    Scheduled(Date),
}

/// Erases `subject` as `actor` in the given mode, as of `today`.
pub fn erase(
    org: &Org,
    actor: UserId,
    subject: UserId,
    mode: Mode,
    today: Date,
) -> Result<Outcome, PrivacyError> {
    if actor == subject {
        return Err(PrivacyError::Invalid(
            "you cannot erase yourself; ask another data protection officer".into(),
        ));
    }
    refuse_if_only_admin(org, subject)?;
    match mode {
        Mode::Now => erase_now(org, Some(actor), subject, "now").map(Outcome::Erased),
        Mode::AfterRetention => schedule(org, actor, subject, today),
    }
}

/// Erasing the organisation's only active administrator would leave nobody to manage
/// people, roles and policy: someone else must hold the role first.
fn refuse_if_only_admin(org: &Org, subject: UserId) -> Result<(), PrivacyError> {
    let row = users::get(org, subject)?.ok_or(PrivacyError::NotFound)?;
    if !row.active || !row.roles().contains(Role::Admin) {
        return Ok(());
    }
    let mut conn = org.conn()?;
    let others: Vec<String> = users_t::table
        .filter(users_t::active.eq(true))
        .filter(users_t::id.ne(subject.0))
        .select(users_t::roles)
        .load(&mut conn)?;
    let admin = |roles: &String| Roles::parse_list(roles).is_ok_and(|r| r.contains(Role::Admin));
    if others.iter().any(admin) {
        return Ok(());
    }
    Err(PrivacyError::Invalid(
        "this person is the organisation's only administrator; give someone else the admin role first"
            .into(),
    ))
}

/// Destroys the person's key and removes their login. Gives the destroyed key's id.
pub fn erase_now(
    org: &Org,
    actor: Option<UserId>,
    subject: UserId,
    why: &str,
) -> Result<PersonKeyId, PrivacyError> {
    erase_if(org, actor, subject, why, |_| Ok(true))?.ok_or(PrivacyError::NotFound)
}

/// As [`erase_now`], if `still_due` says so inside the write that erases: retention
/// chooses people before it erases them, and a DPO who restricted one, cancelled their
/// scheduled erasure or an admin who reactivated them meanwhile wrote under the same
/// write lock, so the check sees it. Gives `None` when they are no longer due.
pub fn erase_if(
    org: &Org,
    actor: Option<UserId>,
    subject: UserId,
    why: &str,
    still_due: impl FnOnce(&mut SqliteConnection) -> Result<bool, PrivacyError>,
) -> Result<Option<PersonKeyId>, PrivacyError> {
    // A random value keeps the column unique and matches no email ever typed.
    let index = random_array::<32>()?.to_vec();
    let key = org.write(|c| -> Result<_, PrivacyError> {
        let key: i64 = users_t::table
            .find(subject.0)
            .select(users_t::person_key_id)
            .first(c)
            .optional()?
            .ok_or(PrivacyError::NotFound)?;
        if restriction::flags_in(c, subject)?.erased() {
            return Err(PrivacyError::Erased);
        }
        if !still_due(c)? {
            return Ok(None);
        }
        // The key goes first: should the database step fail, the data is already
        // unreadable and the person cannot sign in (sign-in needs a live key); running
        // the erasure again completes it. The key store is written while this write
        // is held: a backup copying it makes the organisation's writers wait a moment.
        let key = PersonKeyId(key);
        org.keys.destroy(key)?;
        scrub(c, actor, subject, &index, now_unix(), why)?;
        Ok(Some(key))
    })?;
    if key.is_some() {
        // Old page images of what was just cleared live on in the write-ahead log until
        // it is checkpointed: fold it into the database (where `secure_delete` has
        // zeroed them) and empty it. Readers may hold it past the busy timeout: the
        // daily retention run empties it again.
        org.empty_wal_after("an erasure");
    }
    Ok(key)
}

/// The database side of an erasure, for the live data, a backup's copy or data just
/// restored from one: the login goes (a random email index keeps the column unique and
/// matches no email ever typed), and so do comments others wrote on the person's
/// claims, which are about the person but sealed under their authors' keys, so the
/// shredding does not reach them. The decisions themselves stay. The person is marked
/// erased, which ends any restriction: what is left is pseudonymous financial records.
/// The audit log says so, and `why`.
pub(crate) fn scrub(
    c: &mut SqliteConnection,
    actor: Option<UserId>,
    subject: UserId,
    random_index: &[u8],
    now: i64,
    why: &str,
) -> QueryResult<()> {
    diesel::update(users_t::table.find(subject.0))
        .set((
            users_t::email_index.eq(random_index),
            users_t::password_hash.eq(None::<String>),
            users_t::totp_secret.eq(None::<Vec<u8>>),
            users_t::totp_last_step.eq(None::<i64>),
            users_t::mfa_enabled.eq(false),
            users_t::active.eq(false),
            users_t::session_version.eq(users_t::session_version + 1),
            users_t::updated_at.eq(now),
        ))
        .execute(c)?;
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(subject.0)))
        .execute(c)?;
    diesel::delete(reset_tokens::table.filter(reset_tokens::user_id.eq(subject.0))).execute(c)?;
    let own_claims = claims::table
        .filter(claims::owner_id.eq(subject.0))
        .select(claims::id);
    diesel::update(
        claim_events::table
            .filter(claim_events::claim_id.eq_any(own_claims))
            .filter(claim_events::actor_id.ne(subject.0)),
    )
    .set(claim_events::comment.eq(None::<Vec<u8>>))
    .execute(c)?;
    diesel::insert_into(privacy_flags::table)
        .values((
            privacy_flags::user_id.eq(subject.0),
            privacy_flags::erased_at.eq(Some(now)),
        ))
        .on_conflict(privacy_flags::user_id)
        .do_update()
        .set((
            privacy_flags::erased_at.eq(Some(now)),
            privacy_flags::restricted_at.eq(None::<i64>),
            privacy_flags::restriction_reason.eq(None::<Vec<u8>>),
            privacy_flags::erase_due.eq(None::<String>),
        ))
        .execute(c)?;
    audit::append(c, actor, Some(subject), Action::ErasedPerson, why)
}

/// Restricts now and schedules the shredding for the end of retention; a person
/// with nothing to keep is erased now.
fn schedule(
    org: &Org,
    actor: UserId,
    subject: UserId,
    today: Date,
) -> Result<Outcome, PrivacyError> {
    users::get(org, subject)?.ok_or(PrivacyError::NotFound)?;
    if restriction::flags(org, subject)?.erased() {
        return Err(PrivacyError::Erased);
    }
    let periods = retention::periods(org)?;
    let due = retention::claims_shred_on(org, subject, &periods)?;
    let Some(due) = due.filter(|d| *d > today) else {
        return erase_now(org, Some(actor), subject, "nothing to keep").map(Outcome::Erased);
    };
    let reason = format!(
        "Erasure requested. The claims are kept for the tax retention period and \
         everything is erased on {due}."
    );
    let sealed = restriction::seal_reason(org, subject, &reason)?;
    let due_text = due.to_string();
    org.write(|c| -> Result<_, PrivacyError> {
        set_restricted(c, subject, &sealed, Some(&due_text))?;
        audit::append(
            c,
            Some(actor),
            Some(subject),
            Action::ErasureScheduled,
            &format!("due {due_text}"),
        )?;
        Ok(())
    })?;
    Ok(Outcome::Scheduled(due))
}

/// People whose scheduled erasure is due on or before `today`.
pub fn due(org: &Org, today: Date) -> Result<Vec<UserId>, PrivacyError> {
    let mut conn = org.conn()?;
    let ids: Vec<i64> = privacy_flags::table
        .filter(privacy_flags::erased_at.is_null())
        .filter(privacy_flags::erase_due.le(today.to_string()))
        .select(privacy_flags::user_id)
        .load(&mut conn)?;
    Ok(ids.into_iter().map(UserId).collect())
}
