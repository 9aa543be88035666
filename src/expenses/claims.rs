//! Claims and their lines in one organisation's database. Personal text (titles,
//! merchants, descriptions, comments) is sealed; amounts, dates, categories and status
//! stay plain for reports. Who may see or act on a claim is decided here, not in pages.
//! Lines live in [`super::lines`] and are re-exported here.

use diesel::prelude::*;

pub use super::lines::{
    AddLine, FieldErrors, LineInput, LineRow, MILEAGE, ValidLine, add_line, day_totals, flags,
    lines, rate_flags, reference_rate,
};
pub use super::lists::{ListFilter, list_own, waiting_for};
pub use super::mileage::mileage_text;
use super::money::Currency;
use super::row_ids;
use super::status::{self, Actor, Status, Transition, TransitionError};
use crate::audit::{self, Action};
use crate::auth::users::{self, UserError};
use crate::auth::{Role, Roles};
use crate::crypto::columns::{ClaimTitle, EventComment};
use crate::crypto::{CryptoError, Revealed, Sealed};
use crate::db::schema::org::{categories, claim_events, claims};
use crate::db::{DbError, now_unix};
use crate::ids::UserId;
use crate::tenancy::Org;

pub const TITLE_MAX: usize = 200;
pub const TEXT_MAX: usize = 1000;

pub(super) use super::text::{clean_line, clean_text};
/// Lines dated further back than this are refused (the default of the organisation's
/// policy, `super::policy`).
pub const MAX_LINE_AGE_DAYS: i64 = super::policy::DEFAULT_MAX_LINE_AGE_DAYS;
/// Above this total (base currency) finance must approve as well (policy default).
pub const SECOND_APPROVAL_ABOVE_MINOR: i64 = super::policy::DEFAULT_SECOND_APPROVAL_ABOVE_MINOR;

#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error("there is no such claim")]
    NotFound,
    #[error("you may not do that with this claim")]
    Forbidden,
    #[error("{0}")]
    Invalid(String),
    /// One field of the form as typed is refused (its name, and why), so the page can
    /// say so on that field.
    #[error("{1}")]
    Field(&'static str, String),
    #[error("someone else changed this claim a moment ago; look at it again before deciding")]
    Conflict,
    /// The same step again by the same person (a double click, a form sent twice): the
    /// first one did it; the claim is now in this status.
    #[error("you had already done that: the claim is {0}")]
    AlreadyDone(Status),
    /// The owner's page was out of date (another tab, a line added meanwhile).
    #[error(
        "this claim changed after you opened the page (perhaps in another tab), so nothing was changed; look at it again"
    )]
    Stale,
    /// The line being changed was removed meanwhile (another tab).
    #[error("this line was removed, perhaps in another tab, so your changes were not saved")]
    LineGone,
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// The owner's data is restricted (GDPR Art. 18): nothing may change or use it.
    #[error("{}", crate::privacy::RESTRICTED_MESSAGE)]
    Restricted,
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

impl ClaimError {
    /// The form field this refusal is about, if it is about one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            ClaimError::Field(field, _) => Some(field),
            ClaimError::Transition(TransitionError::ReasonRequired) => Some("comment"),
            _ => None,
        }
    }
}

impl From<diesel::result::Error> for ClaimError {
    fn from(e: diesel::result::Error) -> Self {
        ClaimError::Db(e.into())
    }
}

impl From<UserError> for ClaimError {
    fn from(e: UserError) -> Self {
        match e {
            UserError::Db(e) => ClaimError::Db(e),
            UserError::Crypto(e) => ClaimError::Crypto(e),
            e => ClaimError::Invalid(e.to_string()),
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = claims)]
pub struct ClaimRow {
    pub id: i64,
    pub owner_id: i64,
    pub title: Sealed<ClaimTitle>,
    pub status: String,
    pub currency: String,
    pub total_minor: i64,
    pub version: i64,
    pub form_key: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub submitted_at: Option<i64>,
    pub decided_at: Option<i64>,
    pub paid_at: Option<i64>,
}

/// What a list of claims shows for each: its columns all sit in the
/// `claims_owner_list` index, so a person's list is read from the index alone.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = claims)]
pub struct ClaimSummary {
    pub id: i64,
    pub owner_id: i64,
    pub title: Sealed<ClaimTitle>,
    pub status: String,
    pub currency: String,
    pub total_minor: i64,
}

/// What a claim read whole ([`ClaimRow`]) and one read for a list ([`ClaimSummary`])
/// both have, and how their stored codes are read back (once, for both).
pub trait ClaimFields {
    fn sealed_title(&self) -> &Sealed<ClaimTitle>;
    fn status_code(&self) -> &str;
    fn currency_code(&self) -> &str;

    fn status(&self) -> Status {
        Status::parse(self.status_code()).unwrap_or(Status::Draft)
    }

    fn currency(&self) -> Currency {
        Currency::parse(self.currency_code()).unwrap_or(Currency::GBP)
    }
}

impl ClaimFields for ClaimRow {
    fn sealed_title(&self) -> &Sealed<ClaimTitle> {
        &self.title
    }
    fn status_code(&self) -> &str {
        &self.status
    }
    fn currency_code(&self) -> &str {
        &self.currency
    }
}

impl ClaimFields for ClaimSummary {
    fn sealed_title(&self) -> &Sealed<ClaimTitle> {
        &self.title
    }
    fn status_code(&self) -> &str {
        &self.status
    }
    fn currency_code(&self) -> &str {
        &self.currency
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = categories)]
pub struct Category {
    pub code: String,
    pub label: String,
    pub limit_minor: Option<i64>,
    pub receipt_above_minor: Option<i64>,
    pub active: bool,
}

pub fn categories(org: &Org) -> Result<Vec<Category>, ClaimError> {
    let mut conn = org.conn()?;
    Ok(categories::table
        .filter(categories::active.eq(true))
        .order(categories::label)
        .select(Category::as_select())
        .load(&mut conn)?)
}

/// Creates a draft claim. The same `form_key` twice gives the same claim; an empty
/// key guards nothing (every such post is a new claim).
pub fn create(org: &Org, owner: UserId, title: &str, form_key: &str) -> Result<i64, ClaimError> {
    let title = clean_line(title, TITLE_MAX, "claim title", true)
        .map_err(|e| ClaimError::Field("title", e))?;
    let owner_row = users::get(org, owner)?.ok_or(ClaimError::Forbidden)?;
    if_restricted(org, owner)?;
    let form_key = Some(form_key.trim()).filter(|k| !k.is_empty());
    let sealed = org
        .keys
        .seal::<ClaimTitle>(owner_row.person_key(), &title)?;
    // One write turn for the repeat check, the base currency and the insert: a double
    // post cannot make two claims, nor a claim slip in under a base being changed.
    org.write(|c| -> Result<i64, ClaimError> {
        if let Some(key) = form_key {
            let existing: Option<(i64, i64)> = claims::table
                .filter(claims::form_key.eq(key))
                .select((claims::id, claims::owner_id))
                .first(c)
                .optional()?;
            if let Some((id, who)) = existing {
                return if who == owner.0 {
                    Ok(id)
                } else {
                    Err(ClaimError::Forbidden)
                };
            }
            if row_ids::spent_on(c, key)?.is_some() {
                return Err(ClaimError::Invalid(
                    "this form was sent before and the claim it started has been discarded; start a new claim below if you still need one".into(),
                ));
            }
        }
        let base = super::policy::load_with(c)?.base_currency;
        let now = now_unix();
        let id = row_ids::next(c, row_ids::Table::Claims)?;
        diesel::insert_into(claims::table)
            .values((
                claims::id.eq(id),
                claims::owner_id.eq(owner.0),
                claims::title.eq(&sealed),
                claims::status.eq(Status::Draft.code()),
                claims::currency.eq(base.code()),
                claims::form_key.eq(form_key),
                claims::created_at.eq(now),
                claims::updated_at.eq(now),
            ))
            .execute(c)?;
        audit::append(
            c,
            Some(owner),
            Some(owner),
            Action::ClaimCreated,
            &format!("claim {id}"),
        )?;
        Ok(id)
    })
}

/// Refuses while the person's data is restricted.
pub(super) fn if_restricted(org: &Org, owner: UserId) -> Result<(), ClaimError> {
    if crate::privacy::restriction::check(org, owner)? {
        return Err(ClaimError::Restricted);
    }
    Ok(())
}

pub fn get(org: &Org, id: i64) -> Result<ClaimRow, ClaimError> {
    let mut conn = org.conn()?;
    claims::table
        .find(id)
        .select(ClaimRow::as_select())
        .first(&mut conn)
        .optional()?
        .ok_or(ClaimError::NotFound)
}

/// The part `viewer` plays for this claim, or `None` if they may not see it at all.
/// Managers see their reports' claims once submitted (and, while a delegation to them
/// runs, the claims of their delegators' reports); finance sees claims that reached
/// it. An unknown and a forbidden claim look the same to callers (404), so ids leak nothing.
pub fn role_for(
    org: &Org,
    viewer: UserId,
    roles: Roles,
    claim: &ClaimRow,
) -> Result<Option<Actor>, ClaimError> {
    Ok(part_for(org, viewer, roles, claim)?.map(|(part, _)| part))
}

/// As [`role_for`], with the manager the viewer stands in for when they approve as a
/// delegate.
pub fn part_for(
    org: &Org,
    viewer: UserId,
    roles: Roles,
    claim: &ClaimRow,
) -> Result<Option<(Actor, Option<UserId>)>, ClaimError> {
    if claim.owner_id == viewer.0 {
        return Ok(Some((Actor::Owner, None)));
    }
    let status = claim.status();
    // Once a claim reaches finance, a finance holder acts as finance, even as the
    // claimant's manager or delegate: else a manager who also pays could never pay
    // their own reports. `transition` still keeps the two approvers apart.
    if roles.contains(Role::Finance)
        && matches!(
            status,
            Status::AwaitingFinance | Status::Approved | Status::Paid
        )
    {
        return Ok(Some((Actor::Finance, None)));
    }
    if status != Status::Draft {
        let manager = users::get(org, UserId(claim.owner_id))?.and_then(|o| o.manager_id);
        if roles.contains(Role::Manager) && manager == Some(viewer.0) {
            return Ok(Some((Actor::Approver, None)));
        }
        if let Some(m) = manager
            && (roles.contains(Role::Manager) || roles.contains(Role::Finance))
            && super::delegation::acting_for(org, viewer)?.contains(&UserId(m))
        {
            return Ok(Some((Actor::Approver, Some(UserId(m)))));
        }
    }
    Ok(None)
}

/// Whether someone can approve `owner`'s claims: their manager is another person,
/// active, with the manager role (a delegate acts only for such a manager).
fn has_approver(org: &Org, owner: UserId) -> Result<bool, ClaimError> {
    let Some(manager) = users::get(org, owner)?.and_then(|o| o.manager_id) else {
        return Ok(false);
    };
    if manager == owner.0 {
        return Ok(false);
    }
    Ok(users::get(org, UserId(manager))?
        .is_some_and(|m| m.active && m.roles().contains(Role::Manager)))
}

/// Whether `viewer` could have decided the claim while it waited for a decision: the
/// claim has since gone back to its owner, and they are told so rather than "no such
/// claim".
fn could_have_decided(
    org: &Org,
    viewer: UserId,
    roles: Roles,
    claim: &ClaimRow,
) -> Result<bool, ClaimError> {
    for waiting in [Status::Submitted, Status::AwaitingFinance] {
        let then = ClaimRow {
            status: waiting.code().to_owned(),
            ..claim.clone()
        };
        if part_for(org, viewer, roles, &then)?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether `who` gave the claim's first approval (the latest move to awaiting
/// finance, from its history), themselves or through a delegate acting for them: the
/// second approval must rest on someone else's authority.
pub fn gave_first_approval(events: &[EventRow], who: UserId) -> bool {
    events
        .iter()
        .rev()
        .find(|e| e.to_status == Status::AwaitingFinance.code())
        .is_some_and(|e| e.actor_id == who.0 || e.on_behalf_of == Some(who.0))
}

/// What to say when the claim changed under `actor`: that they had already done this
/// (their own step is the latest, e.g. a double click), or that someone else acted.
fn conflict(org: &Org, actor: UserId, claim_id: i64, t: Transition) -> ClaimError {
    let latest = org.conn().ok().and_then(|mut c| {
        claim_events::table
            .filter(claim_events::claim_id.eq(claim_id))
            .order(claim_events::id.desc())
            .select((claim_events::actor_id, claim_events::to_status))
            .first::<(i64, String)>(&mut c)
            .ok()
    });
    let did = |to: Status| match t {
        Transition::Submit => to == Status::Submitted,
        Transition::Approve => matches!(to, Status::Approved | Status::AwaitingFinance),
        Transition::Reject => to == Status::Rejected,
        Transition::ReturnForChanges => to == Status::Draft,
        Transition::MarkPaid => to == Status::Paid,
    };
    match latest.and_then(|(who, to)| Some((who, Status::parse(&to)?))) {
        Some((who, to)) if who == actor.0 && did(to) => ClaimError::AlreadyDone(to),
        _ => ClaimError::Conflict,
    }
}

/// Moves the claim through the state machine as `actor`. `seen_version` is the version
/// the actor's page showed: if the claim changed since, nothing happens (`Conflict`, or
/// `AlreadyDone` when the change was this same step by the same person).
/// Without one (a form that does not carry it) the claim is taken as it is now; the
/// guarded update below still lets only one of two people acting at once win.
pub fn transition(
    org: &Org,
    actor: UserId,
    roles: Roles,
    claim_id: i64,
    seen_version: Option<i64>,
    t: Transition,
    comment: &str,
) -> Result<Status, ClaimError> {
    let claim = get(org, claim_id)?;
    let seen_version = seen_version.unwrap_or(claim.version);
    let Some((part, on_behalf)) = part_for(org, actor, roles, &claim)? else {
        if claim.version != seen_version
            && claim.submitted_at.is_some()
            && could_have_decided(org, actor, roles, &claim)?
        {
            return Err(conflict(org, actor, claim_id, t));
        }
        return Err(ClaimError::NotFound);
    };
    // The page the actor decided on is out of date: say so, whatever the new state is.
    if claim.version != seen_version {
        return Err(conflict(org, actor, claim_id, t));
    }
    if t == Transition::Submit && lines(org, claim_id)?.is_empty() {
        return Err(ClaimError::Invalid(
            "add at least one line before submitting".into(),
        ));
    }
    if t == Transition::Submit && !has_approver(org, UserId(claim.owner_id))? {
        // Sent anyway, it would wait where nobody can see it, and its owner could not
        // take it back.
        return Err(ClaimError::Invalid(
            "you have no manager who can approve claims: ask an administrator to name one, then submit again"
                .into(),
        ));
    }
    if_restricted(org, UserId(claim.owner_id))?;
    let comment = clean_text(comment, TEXT_MAX, "comment", false)
        .map_err(|e| ClaimError::Field("comment", e))?;
    // Two approvals mean two people: whoever approved first cannot give the second.
    if t == Transition::Approve
        && claim.status() == Status::AwaitingFinance
        && gave_first_approval(&history(org, claim_id)?, actor)
    {
        return Err(ClaimError::Invalid(
            "the second approval must come from someone other than the first approver".into(),
        ));
    }
    let over = claim.total_minor > super::policy::load(org)?.second_approval_above_minor;
    let from = claim.status();
    let to = status::next(from, t, part, over, &comment)?;
    let actor_row = users::get(org, actor)?.ok_or(ClaimError::Forbidden)?;
    let sealed = if comment.is_empty() {
        None
    } else {
        Some(
            org.keys
                .seal::<EventComment>(actor_row.person_key(), &comment)?,
        )
    };
    let now = now_unix();
    let moved = org.write(|c| {
        if crate::privacy::restriction::is_restricted(c, claim.owner_id)? {
            return Err(ClaimError::Restricted);
        }
        let n = diesel::update(
            claims::table
                .find(claim_id)
                .filter(claims::version.eq(seen_version))
                .filter(claims::status.eq(from.code())),
        )
        .set((
            claims::status.eq(to.code()),
            claims::version.eq(claims::version + 1),
            claims::updated_at.eq(now),
            claims::submitted_at.eq(if t == Transition::Submit {
                Some(now)
            } else {
                claim.submitted_at
            }),
            claims::decided_at.eq(if matches!(to, Status::Approved | Status::Rejected) {
                Some(now)
            } else {
                claim.decided_at
            }),
            claims::paid_at.eq(if to == Status::Paid {
                Some(now)
            } else {
                claim.paid_at
            }),
        ))
        .execute(c)?;
        if n != 1 {
            return Err(ClaimError::Conflict);
        }
        if matches!(to, Status::Rejected | Status::Draft) {
            // A rejected claim's miles stop counting, and a returned claim's lines are
            // a draft's again: the owner's draft mileage is priced again.
            super::mileage::reprice_drafts_in(c, UserId(claim.owner_id))?;
        }
        diesel::insert_into(claim_events::table)
            .values((
                claim_events::claim_id.eq(claim_id),
                claim_events::actor_id.eq(actor.0),
                claim_events::at.eq(now),
                claim_events::from_status.eq(from.code()),
                claim_events::to_status.eq(to.code()),
                claim_events::comment.eq(sealed.as_ref()),
                claim_events::on_behalf_of.eq(on_behalf.map(|u| u.0)),
            ))
            .execute(c)?;
        audit::append(
            c,
            Some(actor),
            Some(UserId(claim.owner_id)),
            Action::ClaimTransition,
            &match on_behalf {
                Some(m) => format!(
                    "claim {claim_id}: {} -> {} on behalf of {m}",
                    from.code(),
                    to.code()
                ),
                None => format!("claim {claim_id}: {} -> {}", from.code(), to.code()),
            },
        )?;
        Ok(to)
    });
    match moved {
        Err(ClaimError::Conflict) => Err(conflict(org, actor, claim_id, t)),
        other => other,
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = claim_events)]
pub struct EventRow {
    pub id: i64,
    pub claim_id: i64,
    pub actor_id: i64,
    pub at: i64,
    pub from_status: String,
    pub to_status: String,
    pub comment: Option<Sealed<EventComment>>,
    /// The manager a delegate decided for.
    pub on_behalf_of: Option<i64>,
}

pub fn history(org: &Org, claim_id: i64) -> Result<Vec<EventRow>, ClaimError> {
    let mut conn = org.conn()?;
    Ok(claim_events::table
        .filter(claim_events::claim_id.eq(claim_id))
        .order(claim_events::id)
        .select(EventRow::as_select())
        .load(&mut conn)?)
}

/// Opens a claim's title, or "erased".
pub fn title(org: &Org, claim: &impl ClaimFields) -> Result<Revealed, ClaimError> {
    Ok(org.keys.open(claim.sealed_title())?)
}
