//! Rectification (GDPR Art. 16) by the DPO: a person's name and email, checked as at
//! user creation, sealed afresh under their key, the email's blind index moved with
//! it. The audit entry names the fields changed, never their values.

use diesel::prelude::*;

use super::PrivacyError;
use super::restriction;
use crate::audit::{self, Action};
use crate::auth::users::{self, EMAIL_INDEX, UserError};
use crate::crypto::columns::{UserEmail, UserName};
use crate::db::now_unix;
use crate::db::schema::org::users as users_t;
use crate::ids::UserId;
use crate::tenancy::Org;

/// Problems with what was typed, per field (`name`, `email`).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Problems(pub Vec<(&'static str, String)>);

/// The outcome: which fields changed, or what is wrong with each field.
pub enum Rectified {
    Changed(Vec<&'static str>),
    Invalid(Problems),
}

/// Sets the person's name and email to what the DPO typed.
pub fn rectify(
    org: &Org,
    actor: UserId,
    subject: UserId,
    name: &str,
    email: &str,
) -> Result<Rectified, PrivacyError> {
    let row = users::get(org, subject)?.ok_or(PrivacyError::NotFound)?;
    let flags = restriction::flags(org, subject)?;
    if flags.erased() || !org.keys.is_alive(row.person_key())? {
        return Err(PrivacyError::Erased);
    }
    if flags.restricted() {
        return Err(PrivacyError::Restricted);
    }
    let mut problems = Problems::default();
    let name = users::check_name(name)
        .map_err(|e| problems.0.push(("name", e.to_string())))
        .ok();
    let email = users::normalise_email(email)
        .map_err(|e| problems.0.push(("email", e.to_string())))
        .ok();
    let (Some(name), Some(email)) = (name, email) else {
        return Ok(Rectified::Invalid(problems));
    };
    let old_name = org.keys.open(&row.name)?;
    let old_email = org.keys.open(&row.email)?;
    let mut changed = Vec::new();
    if old_name.as_str() != Some(name.as_str()) {
        changed.push("name");
    }
    if old_email.as_str() != Some(email.as_str()) {
        changed.push("email");
    }
    if changed.is_empty() {
        return Ok(Rectified::Changed(changed));
    }
    let key = row.person_key();
    let index = org.keys.blind_index(EMAIL_INDEX, &email);
    let sealed_name = org.keys.seal::<UserName>(key, &name)?;
    let sealed_email = org.keys.seal::<UserEmail>(key, &email)?;
    let result = org.write(|c| -> Result<_, PrivacyError> {
        let taken: i64 = users_t::table
            .filter(users_t::email_index.eq(&index))
            .filter(users_t::id.ne(subject.0))
            .count()
            .get_result(c)?;
        if taken > 0 {
            return Ok(false);
        }
        diesel::update(users_t::table.find(subject.0))
            .set((
                users_t::name.eq(&sealed_name),
                users_t::email.eq(&sealed_email),
                users_t::email_index.eq(&index),
                users_t::updated_at.eq(now_unix()),
            ))
            .execute(c)?;
        audit::append(
            c,
            Some(actor),
            Some(subject),
            Action::RectifiedPerson,
            &changed.join(","),
        )?;
        Ok(true)
    })?;
    if !result {
        problems.0.push(("email", UserError::Duplicate.to_string()));
        return Ok(Rectified::Invalid(problems));
    }
    // The wrong name or email, sealed under the person's live key, stays readable in
    // the write-ahead log's old page images until it is emptied (else the daily run).
    org.empty_wal_after("a rectification");
    Ok(Rectified::Changed(changed))
}
