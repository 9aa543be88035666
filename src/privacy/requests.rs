//! The register of data-subject requests: logging one (by the DPO, or by the person
//! from their own privacy page), its status machine, identity check, extension,
//! notes, and the look-ups pages need. Texts that may hold personal data are sealed
//! under the subject's key; kind, dates and status stay plain as proof of compliance.

use diesel::prelude::*;
use time::Date;

use super::deadlines::{self, Clock, ExtensionError, Urgency};
use crate::audit::{self, Action};
use crate::auth::users::{self, UserError};
use crate::auth::{Role, Roles};
use crate::crypto::columns::{
    RequestExtensionReason, RequestIdentityMethod, RequestNote, RequestRefusalReason,
};
use crate::crypto::{CryptoError, PersonalColumn, Revealed, Sealed};
use crate::db::schema::org::{privacy_request_notes as notes, privacy_requests as reqs};
use crate::db::{DbError, now_unix};
use crate::ids::UserId;
use crate::tenancy::Org;

/// Longest note, reason or identity-check description accepted.
pub const TEXT_MAX: usize = 4000;

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("not found")]
    NotFound,
    /// A form field is wrong: (field name, message for the person).
    #[error("{1}")]
    Field(&'static str, String),
    /// The action does not fit the request's state: a message for the person.
    #[error("{0}")]
    Refused(String),
    /// Several form fields are wrong: (field name, message) each.
    #[error("some fields need attention")]
    Fields(Vec<(&'static str, String)>),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

impl From<diesel::result::Error> for RequestError {
    fn from(e: diesel::result::Error) -> Self {
        RequestError::Db(e.into())
    }
}

impl From<UserError> for RequestError {
    fn from(e: UserError) -> Self {
        match e {
            UserError::Db(e) => RequestError::Db(e),
            UserError::Crypto(e) => RequestError::Crypto(e),
            e => RequestError::Refused(e.to_string()),
        }
    }
}

impl From<ExtensionError> for RequestError {
    fn from(e: ExtensionError) -> Self {
        match e {
            ExtensionError::BadLength => RequestError::Field("months", e.to_string()),
            // The form is no longer offered in these states: a page-level message.
            e => RequestError::Refused(e.to_string()),
        }
    }
}

macro_rules! str_enum {
    ($name:ident { $($variant:ident => $code:literal, $label:literal,)* }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($variant,)* }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];
            pub fn code(self) -> &'static str { match self { $($name::$variant => $code,)* } }
            pub fn label(self) -> &'static str { match self { $($name::$variant => $label,)* } }
            pub fn parse(s: &str) -> Option<$name> {
                $name::ALL.iter().copied().find(|k| k.code() == s.trim())
            }
        }
    };
}

str_enum!(Kind {
    Access => "access", "access (a copy of the personal data)",
    Portability => "portability", "portability (the data in a machine-readable file)",
    Rectification => "rectification", "rectification (correct the data)",
    Restriction => "restriction", "restriction (keep the data but stop using it for now)",
    Erasure => "erasure", "erasure (delete the data)",
    Objection => "objection", "objection (stop a particular use of the data)",
});

str_enum!(Status {
    Received => "received", "received",
    Verified => "verified", "identity verified",
    InProgress => "in_progress", "in progress",
    Completed => "completed", "completed",
    Refused => "refused", "refused",
});

impl Status {
    pub fn is_open(self) -> bool {
        !matches!(self, Status::Completed | Status::Refused)
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = reqs)]
pub struct RequestRow {
    pub id: i64,
    pub subject_id: i64,
    pub kind: String,
    pub status: String,
    pub received_on: String,
    pub identity_requested_on: Option<String>,
    pub identity_verified_on: Option<String>,
    pub identity_method: Option<Sealed<RequestIdentityMethod>>,
    pub extension_months: i32,
    pub extended_on: Option<String>,
    pub extension_reason: Option<Sealed<RequestExtensionReason>>,
    pub refusal_reason: Option<Sealed<RequestRefusalReason>>,
    pub closed_on: Option<String>,
    pub opened_by: i64,
    pub self_service: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

const DATE: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// A stored date; stored dates were validated on write.
fn day(s: &str) -> Option<Date> {
    Date::parse(s, DATE).ok()
}

impl RequestRow {
    pub fn subject(&self) -> UserId {
        UserId(self.subject_id)
    }

    pub fn kind(&self) -> Kind {
        Kind::parse(&self.kind).unwrap_or(Kind::Access)
    }

    pub fn status(&self) -> Status {
        Status::parse(&self.status).unwrap_or(Status::Received)
    }

    pub fn received(&self) -> Date {
        day(&self.received_on).unwrap_or(Date::MIN)
    }

    pub fn clock(&self) -> Clock {
        Clock {
            received: self.received(),
            identity_requested: self.identity_requested_on.as_deref().and_then(day),
            identity_verified: self.identity_verified_on.as_deref().and_then(day),
            extension_months: self.extension_months.max(0) as u32,
        }
    }

    pub fn due(&self) -> Option<Date> {
        self.clock().due()
    }

    /// `None` once the request is closed.
    pub fn urgency(&self, today: Date) -> Option<Urgency> {
        self.status()
            .is_open()
            .then(|| deadlines::urgency(self.due(), today))
    }
}

/// Trims a free-text field and checks its length; `None` if empty.
pub fn clean_text(raw: &str) -> Result<Option<String>, String> {
    let t = raw.trim();
    if t.chars().count() > TEXT_MAX {
        return Err(format!("Keep this under {TEXT_MAX} characters."));
    }
    if t.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err("This text contains characters that cannot be stored.".into());
    }
    Ok((!t.is_empty()).then(|| t.to_owned()))
}

pub(super) fn required(field: &'static str, raw: &str, what: &str) -> Result<String, RequestError> {
    clean_text(raw)
        .map_err(|m| RequestError::Field(field, m))?
        .ok_or_else(|| RequestError::Field(field, format!("Give {what}.")))
}

/// Seals text under the subject's key; a subject already erased can get no new text.
pub(super) fn seal_for<C: PersonalColumn>(
    org: &Org,
    subject: UserId,
    text: &str,
) -> Result<Sealed<C>, RequestError> {
    let row = users::get(org, subject)?.ok_or(RequestError::NotFound)?;
    if !org.keys.is_alive(row.person_key())? {
        return Err(RequestError::Refused(
            "This person's data has been erased: no new text can be recorded about them.".into(),
        ));
    }
    Ok(org.keys.seal::<C>(row.person_key(), text)?)
}

pub fn get(org: &Org, id: i64) -> Result<RequestRow, RequestError> {
    let mut conn = org.conn()?;
    reqs::table
        .find(id)
        .select(RequestRow::as_select())
        .first(&mut conn)
        .optional()?
        .ok_or(RequestError::NotFound)
}

/// The subject of request `request_id`, or `None` if there is no such request.
pub fn subject_of(org: &Org, request_id: i64) -> Result<Option<UserId>, RequestError> {
    match get(org, request_id) {
        Ok(r) => Ok(Some(r.subject())),
        Err(RequestError::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Proof that the acting user holds the dpo role. The register's DPO functions take
/// one, so the domain checks the role as well as the route table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dpo(UserId);

impl Dpo {
    pub fn check(user: UserId, roles: Roles) -> Option<Dpo> {
        roles.contains(Role::Dpo).then_some(Dpo(user))
    }

    pub fn id(self) -> UserId {
        self.0
    }
}

/// What the DPO's form sends to log a request.
#[derive(Debug, Clone, Default)]
pub struct NewRequest {
    pub subject_email: String,
    pub kind: String,
    /// YYYY-MM-DD; empty means today.
    pub received: String,
}

fn insert(
    org: &Org,
    actor: UserId,
    subject: UserId,
    kind: Kind,
    received: Date,
    note: Option<&str>,
) -> Result<i64, RequestError> {
    let sealed_note = note
        .map(|n| seal_for::<RequestNote>(org, subject, n))
        .transpose()?;
    let now = now_unix();
    let id = org.write(|c| -> Result<i64, RequestError> {
        let id: i64 = diesel::insert_into(reqs::table)
            .values((
                reqs::subject_id.eq(subject.0),
                reqs::kind.eq(kind.code()),
                reqs::status.eq(Status::Received.code()),
                reqs::received_on.eq(received.to_string()),
                reqs::opened_by.eq(actor.0),
                reqs::self_service.eq(actor == subject),
                reqs::created_at.eq(now),
                reqs::updated_at.eq(now),
            ))
            .returning(reqs::id)
            .get_result(c)?;
        if let Some(body) = &sealed_note {
            diesel::insert_into(notes::table)
                .values((
                    notes::request_id.eq(id),
                    notes::author_id.eq(actor.0),
                    notes::at.eq(now),
                    notes::body.eq(body),
                ))
                .execute(c)?;
        }
        let detail = format!("request {id}: {}", kind.code());
        audit::append(
            c,
            Some(actor),
            Some(subject),
            Action::PrivacyRequestOpened,
            &detail,
        )?;
        Ok(id)
    })?;
    Ok(id)
}

/// Logs a request on someone's behalf. The subject must be a user of this
/// organisation (current or deactivated), found through the email blind index.
pub fn open(org: &Org, dpo: Dpo, new: &NewRequest, today: Date) -> Result<i64, RequestError> {
    let actor = dpo.id();
    let kind = Kind::parse(&new.kind)
        .ok_or_else(|| RequestError::Field("kind", "Choose the kind of request.".into()))?;
    let received = match new.received.trim() {
        "" => today,
        s => Date::parse(s, DATE).map_err(|_| {
            RequestError::Field(
                "received",
                "Give the date as YYYY-MM-DD, e.g. 2026-01-31.".into(),
            )
        })?,
    };
    if received > today {
        return Err(RequestError::Field(
            "received",
            "The date received cannot be in the future.".into(),
        ));
    }
    if new.subject_email.trim().is_empty() {
        return Err(RequestError::Field(
            "subject_email",
            "Give the email address of the person the request is about.".into(),
        ));
    }
    let subject = users::find_by_email(org, &new.subject_email)?.ok_or_else(|| {
        RequestError::Field(
            "subject_email",
            "There is no one in this organisation with that email address.".into(),
        )
    })?;
    insert(org, actor, subject.user_id(), kind, received, None)
}

/// A person starts their own request (received today), with an optional note.
pub fn open_own(
    org: &Org,
    subject: UserId,
    kind: &str,
    note: &str,
    today: Date,
) -> Result<i64, RequestError> {
    let kind = Kind::parse(kind)
        .ok_or_else(|| RequestError::Field("kind", "Choose what you are asking for.".into()))?;
    let note = clean_text(note).map_err(|m| RequestError::Field("note", m))?;
    insert(org, subject, subject, kind, today, note.as_deref())
}

/// Every request, open ones first (most urgent first), then closed ones newest first.
pub fn list(org: &Org) -> Result<Vec<RequestRow>, RequestError> {
    let mut conn = org.conn()?;
    let rows = reqs::table
        .select(RequestRow::as_select())
        .load(&mut conn)?;
    Ok(sorted(rows))
}

/// One person's own requests, in the same order.
pub fn list_for_subject(org: &Org, subject: UserId) -> Result<Vec<RequestRow>, RequestError> {
    let mut conn = org.conn()?;
    let rows = reqs::table
        .filter(reqs::subject_id.eq(subject.0))
        .select(RequestRow::as_select())
        .load(&mut conn)?;
    Ok(sorted(rows))
}

fn sorted(mut rows: Vec<RequestRow>) -> Vec<RequestRow> {
    // Open before closed; open by due date (paused ones last); closed newest first.
    rows.sort_by_key(|r| {
        let open = r.status().is_open();
        (
            !open,
            if open {
                r.due().unwrap_or(Date::MAX)
            } else {
                Date::MIN
            },
            if open { 0 } else { -r.updated_at },
            r.id,
        )
    });
    rows
}

/// Open requests due within `DUE_SOON_DAYS` and overdue ones, for the dashboard.
pub fn due_counts(org: &Org, today: Date) -> Result<(usize, usize), RequestError> {
    let mut soon = 0;
    let mut over = 0;
    for r in list(org)? {
        match r.urgency(today) {
            Some(Urgency::DueSoon { .. }) => soon += 1,
            Some(Urgency::Overdue { .. }) => over += 1,
            _ => {}
        }
    }
    Ok((soon, over))
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = notes)]
pub struct NoteRow {
    pub id: i64,
    pub request_id: i64,
    pub author_id: i64,
    pub at: i64,
    pub body: Sealed<RequestNote>,
    /// Kept out of the person's own copy of their data (the DPO's choice).
    pub withheld: bool,
}

pub fn notes_of(org: &Org, id: i64) -> Result<Vec<NoteRow>, RequestError> {
    let mut conn = org.conn()?;
    Ok(notes::table
        .filter(notes::request_id.eq(id))
        .order(notes::id)
        .select(NoteRow::as_select())
        .load(&mut conn)?)
}

/// Opens an optional sealed text.
pub fn reveal<C: PersonalColumn>(
    org: &Org,
    sealed: &Option<Sealed<C>>,
) -> Result<Option<Revealed>, RequestError> {
    Ok(sealed.as_ref().map(|s| org.keys.open(s)).transpose()?)
}

pub use super::requests_actions::*;
