//! What the DPO does to a request: ask for proof of identity, record the identity
//! check, start, complete, refuse (with a reason), extend (once), add a note. Each
//! change and its audit entry commit together; a change made from a stale page (the
//! status moved on meanwhile) is refused rather than applied twice.

use diesel::prelude::*;
use time::Date;

use super::deadlines::{SAR_DEADLINE_MONTHS, add_months, check_extension};
use super::requests::{Dpo, Kind, RequestError, RequestRow, Status, get, required};
use crate::audit::{self, Action};
use crate::crypto::columns::{
    RequestExtensionReason, RequestIdentityMethod, RequestNote, RequestRefusalReason,
};
use crate::db::now_unix;
use crate::db::schema::org::{
    privacy_flags, privacy_request_notes as notes, privacy_requests as reqs,
};
use crate::ids::UserId;
use crate::tenancy::Org;

fn refused(msg: &str) -> RequestError {
    RequestError::Refused(msg.to_owned())
}

/// Runs `change` on the request's row if its status is still `from`, with an audit
/// entry `(action, "request N: what")` in the same transaction.
fn apply<F>(
    org: &Org,
    actor: UserId,
    id: i64,
    from: Status,
    action: Action,
    what: &str,
    change: F,
) -> Result<(), RequestError>
where
    F: FnOnce(&mut SqliteConnection) -> QueryResult<usize>,
{
    let subject = get(org, id)?.subject();
    org.write(|c| -> Result<(), RequestError> {
        let current: String = reqs::table.find(id).select(reqs::status).first(c)?;
        if current != from.code() {
            return Err(refused(
                "The request changed while you were looking at it: check it and try again.",
            ));
        }
        if change(c)? != 1 {
            return Err(RequestError::NotFound);
        }
        audit::append(
            c,
            Some(actor),
            Some(subject),
            action,
            &format!("request {id}: {what}"),
        )?;
        Ok(())
    })
}

/// Records that proof of identity was asked for: the deadline clock stops until it
/// is verified. Only while the first month runs: ID must be asked for promptly, and
/// asking later would restart an overdue request's clock (ICO guidance).
/// Proof of identity restarts the clock, so it must be asked for promptly: not once
/// the request's first month is over.
pub fn in_time_to_ask_identity(r: &RequestRow, today: Date) -> bool {
    today <= add_months(r.received(), SAR_DEADLINE_MONTHS)
}

pub fn ask_identity(org: &Org, dpo: Dpo, id: i64, today: Date) -> Result<(), RequestError> {
    let actor = dpo.id();
    let r = get(org, id)?;
    if r.status() != Status::Received || r.identity_requested_on.is_some() {
        return Err(refused(
            "Proof of identity can be asked for once, before identity is verified.",
        ));
    }
    if !in_time_to_ask_identity(&r, today) {
        let due = add_months(r.received(), SAR_DEADLINE_MONTHS);
        return Err(refused(&format!(
            "This request was due on {due}: proof of identity can no longer be asked for, \
             because it must be asked for promptly and would restart the deadline."
        )));
    }
    apply(
        org,
        actor,
        id,
        Status::Received,
        Action::PrivacyRequestUpdated,
        "identity proof requested",
        |c| {
            diesel::update(reqs::table.find(id))
                .set((
                    reqs::identity_requested_on.eq(today.to_string()),
                    reqs::updated_at.eq(now_unix()),
                ))
                .execute(c)
        },
    )
}

/// Records how identity was checked; the request moves to "identity verified".
pub fn verify(org: &Org, dpo: Dpo, id: i64, method: &str, today: Date) -> Result<(), RequestError> {
    let actor = dpo.id();
    let r = get(org, id)?;
    if r.status() != Status::Received {
        return Err(refused("Only a newly received request can be verified."));
    }
    let method = required("method", method, "how identity was checked")?;
    let sealed = super::requests::seal_for::<RequestIdentityMethod>(org, r.subject(), &method)?;
    apply(
        org,
        actor,
        id,
        Status::Received,
        Action::PrivacyRequestUpdated,
        "identity verified",
        |c| {
            diesel::update(reqs::table.find(id))
                .set((
                    reqs::status.eq(Status::Verified.code()),
                    reqs::identity_verified_on.eq(today.to_string()),
                    reqs::identity_method.eq(Some(&sealed)),
                    reqs::updated_at.eq(now_unix()),
                ))
                .execute(c)
        },
    )
}

/// Work on the request begins.
pub fn start(org: &Org, dpo: Dpo, id: i64) -> Result<(), RequestError> {
    let actor = dpo.id();
    if get(org, id)?.status() != Status::Verified {
        return Err(refused(
            "Work can start once the person's identity is verified.",
        ));
    }
    apply(
        org,
        actor,
        id,
        Status::Verified,
        Action::PrivacyRequestUpdated,
        "in progress",
        |c| {
            diesel::update(reqs::table.find(id))
                .set((
                    reqs::status.eq(Status::InProgress.code()),
                    reqs::updated_at.eq(now_unix()),
                ))
                .execute(c)
        },
    )
}

/// Marks the request answered. Seals nothing, so it works after the subject has been
/// erased (the export and erase routes call it when they finish the job).
pub fn mark_completed(org: &Org, dpo: Dpo, id: i64, today: Date) -> Result<(), RequestError> {
    let actor = dpo.id();
    let r = get(org, id)?;
    let from = r.status();
    if !matches!(from, Status::Verified | Status::InProgress) {
        return Err(refused(
            "Only a request whose identity check is done and that is still open can be completed.",
        ));
    }
    // An erasure request is answered by an erasure (now, or scheduled for the end of
    // the retention period), or refused with a reason: "completed" with the data still
    // there would tell the person something untrue.
    if r.kind() == Kind::Erasure {
        let mut conn = org.conn()?;
        let erased_or_due: i64 = privacy_flags::table
            .find(r.subject_id)
            .filter(
                privacy_flags::erased_at
                    .is_not_null()
                    .or(privacy_flags::erase_due.is_not_null()),
            )
            .count()
            .get_result(&mut conn)?;
        drop(conn);
        // The key destroyed is erased too, whatever the flags say (an erasure that
        // stopped after its first step, which comes first).
        let key_gone = match crate::auth::users::get(org, r.subject())? {
            Some(person) => !org.keys.is_alive(person.person_key())?,
            None => true,
        };
        if erased_or_due == 0 && !key_gone {
            return Err(refused(
                "An erasure request is completed by erasing the person, now or at the end of the retention period, with the erase buttons on this page; or refuse it with a reason.",
            ));
        }
    }
    apply(
        org,
        actor,
        id,
        from,
        Action::PrivacyRequestCompleted,
        "completed",
        |c| {
            diesel::update(reqs::table.find(id))
                .set((
                    reqs::status.eq(Status::Completed.code()),
                    reqs::closed_on.eq(Some(today.to_string())),
                    reqs::updated_at.eq(now_unix()),
                ))
                .execute(c)
        },
    )
}

/// Refuses the request; a reason is required (it is told to the person).
pub fn refuse(org: &Org, dpo: Dpo, id: i64, reason: &str, today: Date) -> Result<(), RequestError> {
    let actor = dpo.id();
    let r = get(org, id)?;
    let from = r.status();
    if !from.is_open() {
        return Err(refused("This request is already closed."));
    }
    let reason = required("reason", reason, "the reason for refusing")?;
    let sealed = super::requests::seal_for::<RequestRefusalReason>(org, r.subject(), &reason)?;
    apply(
        org,
        actor,
        id,
        from,
        Action::PrivacyRequestRefused,
        "refused",
        |c| {
            diesel::update(reqs::table.find(id))
                .set((
                    reqs::status.eq(Status::Refused.code()),
                    reqs::refusal_reason.eq(Some(&sealed)),
                    reqs::closed_on.eq(Some(today.to_string())),
                    reqs::updated_at.eq(now_unix()),
                ))
                .execute(c)
        },
    )
}

/// Extends the deadline once by one or two months, with a reason, within the first month.
pub fn extend(
    org: &Org,
    dpo: Dpo,
    id: i64,
    months: &str,
    reason: &str,
    today: Date,
) -> Result<(), RequestError> {
    let actor = dpo.id();
    let r = get(org, id)?;
    let from = r.status();
    if !from.is_open() {
        return Err(refused("A closed request cannot be extended."));
    }
    let months: u32 = months
        .trim()
        .parse()
        .map_err(|_| RequestError::Field("months", "Choose one or two months.".into()))?;
    check_extension(&r.clock(), today, months)?;
    let reason = required("reason", reason, "the reason for the extension")?;
    let sealed = super::requests::seal_for::<RequestExtensionReason>(org, r.subject(), &reason)?;
    apply(
        org,
        actor,
        id,
        from,
        Action::PrivacyRequestExtended,
        &format!("extended by {months} month(s)"),
        |c| {
            diesel::update(reqs::table.find(id).filter(reqs::extension_months.eq(0)))
                .set((
                    reqs::extension_months.eq(months as i32),
                    reqs::extended_on.eq(Some(today.to_string())),
                    reqs::extension_reason.eq(Some(&sealed)),
                    reqs::updated_at.eq(now_unix()),
                ))
                .execute(c)
        },
    )
}

/// Adds a note (sealed under the subject's key) to a request in any state. It goes
/// into the person's own copy of their data (Art. 15) unless `withheld`: a note that
/// names someone else, say.
pub fn add_note(
    org: &Org,
    dpo: Dpo,
    id: i64,
    text: &str,
    withheld: bool,
) -> Result<(), RequestError> {
    let actor = dpo.id();
    let r = get(org, id)?;
    let text = required("note", text, "the note")?;
    let sealed = super::requests::seal_for::<RequestNote>(org, r.subject(), &text)?;
    apply(
        org,
        actor,
        id,
        r.status(),
        Action::PrivacyRequestNoted,
        if withheld {
            "note added, withheld from the person's copy"
        } else {
            "note added"
        },
        |c| {
            diesel::insert_into(notes::table)
                .values((
                    notes::request_id.eq(id),
                    notes::author_id.eq(actor.0),
                    notes::at.eq(now_unix()),
                    notes::body.eq(&sealed),
                    notes::withheld.eq(withheld),
                ))
                .execute(c)
        },
    )
}
