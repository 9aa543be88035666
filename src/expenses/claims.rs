//! Claims and their lines in one organisation's database. Personal text (titles,
//! merchants, descriptions, comments) is sealed; amounts, dates, categories and status
//! stay plain for reports. Who may see or act on a claim is decided here, not in pages.

use diesel::prelude::*;
use time::{Date, OffsetDateTime};

use super::money::{self, Currency, MoneyError};
use super::status::{self, Actor, Status, Transition, TransitionError};
use crate::audit::{self, Action};
use crate::auth::users::{self, UserError};
use crate::auth::{Role, Roles};
use crate::crypto::columns::{ClaimTitle, EventComment, LineDescription, LineMerchant};
use crate::crypto::{CryptoError, Revealed, Sealed};
use crate::db::schema::org::{categories, claim_events, claim_lines, claims};
use crate::db::{DbError, now_unix};
use crate::ids::UserId;
use crate::tenancy::Org;

pub const TITLE_MAX: usize = 200;
pub const TEXT_MAX: usize = 1000;
/// Lines dated further back than this are refused (an organisation policy default).
pub const MAX_LINE_AGE_DAYS: i64 = 90;
/// Above this total (base currency) finance must approve as well.
pub const SECOND_APPROVAL_ABOVE_MINOR: i64 = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error("there is no such claim")]
    NotFound,
    #[error("you may not do that with this claim")]
    Forbidden,
    #[error("{0}")]
    Invalid(String),
    #[error("someone else changed this claim a moment ago; look at it again before deciding")]
    Conflict,
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
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

impl ClaimRow {
    pub fn status(&self) -> Status {
        Status::parse(&self.status).unwrap_or(Status::Draft)
    }

    pub fn currency(&self) -> Currency {
        Currency::parse(&self.currency).unwrap_or(Currency::GBP)
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = claim_lines)]
pub struct LineRow {
    pub id: i64,
    pub claim_id: i64,
    pub spent_on: String,
    pub category: String,
    pub merchant: Sealed<LineMerchant>,
    pub description: Sealed<LineDescription>,
    pub amount_minor: i64,
    pub currency: String,
    pub rate_micros: i64,
    pub base_minor: i64,
    pub vat_minor: Option<i64>,
    pub miles_tenths: Option<i64>,
    pub form_key: Option<String>,
    pub created_at: i64,
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

fn clean_text(raw: &str, max: usize, what: &str, required: bool) -> Result<String, String> {
    // Control characters (other than ordinary line breaks) are dropped, not stored.
    let text: String = raw
        .chars()
        .filter(|c| !c.is_control() || *c == '\n')
        .collect::<String>()
        .trim()
        .to_owned();
    if required && text.is_empty() {
        return Err(format!("enter the {what}"));
    }
    if text.chars().count() > max {
        return Err(format!("the {what} can be at most {max} characters"));
    }
    Ok(text)
}

/// Creates a draft claim. The same `form_key` twice gives the same claim.
pub fn create(org: &Org, owner: UserId, title: &str, form_key: &str) -> Result<i64, ClaimError> {
    let title = clean_text(title, TITLE_MAX, "claim title", true).map_err(ClaimError::Invalid)?;
    let owner_row = users::get(org, owner)?.ok_or(ClaimError::Forbidden)?;
    let mut conn = org.conn()?;
    let existing: Option<(i64, i64)> = claims::table
        .filter(claims::form_key.eq(form_key))
        .select((claims::id, claims::owner_id))
        .first(&mut conn)
        .optional()?;
    if let Some((id, who)) = existing {
        return if who == owner.0 {
            Ok(id)
        } else {
            Err(ClaimError::Forbidden)
        };
    }
    let sealed = org
        .keys
        .seal::<ClaimTitle>(owner_row.person_key(), &title)?;
    let now = now_unix();
    let inserted = diesel::insert_into(claims::table)
        .values((
            claims::owner_id.eq(owner.0),
            claims::title.eq(&sealed),
            claims::status.eq(Status::Draft.code()),
            claims::currency.eq(Currency::GBP.code()),
            claims::form_key.eq(Some(form_key)),
            claims::created_at.eq(now),
            claims::updated_at.eq(now),
        ))
        .returning(claims::id)
        .get_result::<i64>(&mut conn);
    match inserted {
        Ok(id) => Ok(id),
        // A concurrent double post: the other request made it.
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => Ok(claims::table
            .filter(claims::form_key.eq(form_key))
            .select(claims::id)
            .first(&mut conn)?),
        Err(e) => Err(e.into()),
    }
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
/// Managers see their reports' claims once submitted; finance sees claims that reached
/// it. An unknown and a forbidden claim look the same to callers (404), so ids leak nothing.
pub fn role_for(
    org: &Org,
    viewer: UserId,
    roles: Roles,
    claim: &ClaimRow,
) -> Result<Option<Actor>, ClaimError> {
    if claim.owner_id == viewer.0 {
        return Ok(Some(Actor::Owner));
    }
    let status = claim.status();
    if status != Status::Draft {
        let owner = users::get(org, UserId(claim.owner_id))?;
        if roles.contains(Role::Manager) && owner.and_then(|o| o.manager_id) == Some(viewer.0) {
            return Ok(Some(Actor::Approver));
        }
    }
    if roles.contains(Role::Finance)
        && matches!(
            status,
            Status::AwaitingFinance | Status::Approved | Status::Paid
        )
    {
        return Ok(Some(Actor::Finance));
    }
    Ok(None)
}

/// Fields of a new line as typed; errors come back per field so the form can show them.
#[derive(Debug, Clone, Default)]
pub struct LineInput {
    pub date: String,
    pub category: String,
    pub merchant: String,
    pub description: String,
    pub amount: String,
    pub currency: String,
    pub rate: String,
    pub vat: String,
    pub form_key: String,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<(&'static str, String)>);

impl FieldErrors {
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }

    fn add(&mut self, field: &'static str, msg: impl Into<String>) {
        self.0.push((field, msg.into()));
    }
}

fn parse_date(raw: &str, today: Date) -> Result<Date, String> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = Date::parse(raw.trim(), &format)
        .map_err(|_| "enter a real date as YYYY-MM-DD".to_owned())?;
    if date > today {
        return Err("the date cannot be in the future".into());
    }
    if (today - date).whole_days() > MAX_LINE_AGE_DAYS {
        return Err(format!(
            "lines older than {MAX_LINE_AGE_DAYS} days cannot be claimed"
        ));
    }
    Ok(date)
}

pub enum AddLine {
    Added,
    Invalid(FieldErrors),
}

/// Adds a line to the owner's draft claim, or says what is wrong with each field.
pub fn add_line(
    org: &Org,
    owner: UserId,
    claim_id: i64,
    input: &LineInput,
) -> Result<AddLine, ClaimError> {
    let claim = get(org, claim_id)?;
    if claim.owner_id != owner.0 {
        return Err(ClaimError::NotFound);
    }
    if !claim.status().editable() {
        return Err(ClaimError::Invalid(
            "only a draft claim can be changed".into(),
        ));
    }
    let today = OffsetDateTime::now_utc().date();
    let mut errors = FieldErrors::default();
    let date = parse_date(&input.date, today)
        .map_err(|e| errors.add("date", e))
        .ok();
    let cats = categories(org)?;
    let category = cats.iter().find(|c| c.code == input.category.trim());
    if category.is_none() {
        errors.add("category", "choose a category from the list");
    }
    let merchant = clean_text(&input.merchant, TITLE_MAX, "merchant", true)
        .map_err(|e| errors.add("merchant", e))
        .ok();
    let description = clean_text(&input.description, TEXT_MAX, "description", false)
        .map_err(|e| errors.add("description", e))
        .ok();
    let currency = Currency::parse(&input.currency)
        .map_err(|e| errors.add("currency", e.to_string()))
        .ok();
    let amount = currency.and_then(|c| {
        money::parse_amount(&input.amount, c)
            .map_err(|e| errors.add("amount", e.to_string()))
            .ok()
    });
    let base = claim.currency();
    let rate = match currency {
        Some(c) if c == base => Some(1_000_000),
        Some(_) => money::parse_rate(&input.rate)
            .map_err(|e: MoneyError| errors.add("rate", e.to_string()))
            .ok(),
        None => None,
    };
    let vat = match input.vat.trim() {
        "" => Some(None),
        v => currency
            .and_then(|c| {
                money::parse_amount(v, c)
                    .map_err(|e| errors.add("vat", e.to_string()))
                    .ok()
            })
            .map(Some),
    };
    if let (Some(Some(v)), Some(a)) = (vat, amount)
        && v > a
    {
        errors.add("vat", "VAT cannot be more than the amount");
    }
    let (
        Some(date),
        Some(category),
        Some(merchant),
        Some(description),
        Some(currency),
        Some(amount),
        Some(rate),
        Some(vat),
    ) = (
        date,
        category,
        merchant,
        description,
        currency,
        amount,
        rate,
        vat,
    )
    else {
        return Ok(AddLine::Invalid(errors));
    };
    if !errors.0.is_empty() {
        return Ok(AddLine::Invalid(errors));
    }
    let base_minor = money::convert(amount, currency, base, rate);
    let owner_row = users::get(org, owner)?.ok_or(ClaimError::Forbidden)?;
    let key = owner_row.person_key();
    let merchant = org.keys.seal::<LineMerchant>(key, &merchant)?;
    let description = org.keys.seal::<LineDescription>(key, &description)?;
    let mut conn = org.conn()?;
    let added = conn.immediate_transaction(|c| {
        let dup: i64 = claim_lines::table
            .filter(claim_lines::form_key.eq(&input.form_key))
            .count()
            .get_result(c)?;
        if dup > 0 {
            return QueryResult::Ok(false);
        }
        diesel::insert_into(claim_lines::table)
            .values((
                claim_lines::claim_id.eq(claim_id),
                claim_lines::spent_on.eq(date.to_string()),
                claim_lines::category.eq(&category.code),
                claim_lines::merchant.eq(&merchant),
                claim_lines::description.eq(&description),
                claim_lines::amount_minor.eq(amount),
                claim_lines::currency.eq(currency.code()),
                claim_lines::rate_micros.eq(rate),
                claim_lines::base_minor.eq(base_minor),
                claim_lines::vat_minor.eq(vat),
                claim_lines::form_key.eq(Some(&input.form_key)),
                claim_lines::created_at.eq(now_unix()),
            ))
            .execute(c)?;
        // The status check inside the transaction: a claim submitted meanwhile is not changed.
        let n = diesel::update(
            claims::table
                .find(claim_id)
                .filter(claims::status.eq(Status::Draft.code())),
        )
        .set((
            claims::total_minor.eq(claims::total_minor + base_minor),
            claims::version.eq(claims::version + 1),
            claims::updated_at.eq(now_unix()),
        ))
        .execute(c)?;
        if n != 1 {
            return Err(diesel::result::Error::RollbackTransaction);
        }
        Ok(true)
    });
    match added {
        Ok(_) => Ok(AddLine::Added),
        Err(diesel::result::Error::RollbackTransaction) => Err(ClaimError::Invalid(
            "only a draft claim can be changed".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

pub fn lines(org: &Org, claim_id: i64) -> Result<Vec<LineRow>, ClaimError> {
    let mut conn = org.conn()?;
    Ok(claim_lines::table
        .filter(claim_lines::claim_id.eq(claim_id))
        .order(claim_lines::id)
        .select(LineRow::as_select())
        .load(&mut conn)?)
}

/// Policy flags on a line, shown to the claimant before submitting and to approvers.
pub fn flags(line: &LineRow, category: Option<&Category>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(cat) = category {
        if let Some(limit) = cat.limit_minor
            && line.base_minor > limit
        {
            out.push(format!(
                "over the {} limit of {}",
                cat.label,
                money::format_minor(limit, Currency::GBP)
            ));
        }
        if let Some(above) = cat.receipt_above_minor
            && line.base_minor > above
        {
            out.push("needs a receipt".to_owned());
        }
    }
    out
}

/// Moves the claim through the state machine as `actor`. `seen_version` is the version
/// the actor's page showed: if the claim changed since, nothing happens (`Conflict`).
pub fn transition(
    org: &Org,
    actor: UserId,
    roles: Roles,
    claim_id: i64,
    seen_version: i64,
    t: Transition,
    comment: &str,
) -> Result<Status, ClaimError> {
    let claim = get(org, claim_id)?;
    let part = role_for(org, actor, roles, &claim)?.ok_or(ClaimError::NotFound)?;
    // The page the actor decided on is out of date: say so, whatever the new state is.
    if claim.version != seen_version {
        return Err(ClaimError::Conflict);
    }
    if t == Transition::Submit && lines(org, claim_id)?.is_empty() {
        return Err(ClaimError::Invalid(
            "add at least one line before submitting".into(),
        ));
    }
    let comment = clean_text(comment, TEXT_MAX, "comment", false).map_err(ClaimError::Invalid)?;
    let over = claim.total_minor > SECOND_APPROVAL_ABOVE_MINOR;
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
    let mut conn = org.conn()?;
    conn.immediate_transaction(|c| {
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
        diesel::insert_into(claim_events::table)
            .values((
                claim_events::claim_id.eq(claim_id),
                claim_events::actor_id.eq(actor.0),
                claim_events::at.eq(now),
                claim_events::from_status.eq(from.code()),
                claim_events::to_status.eq(to.code()),
                claim_events::comment.eq(sealed.as_ref()),
            ))
            .execute(c)?;
        audit::append(
            c,
            Some(actor),
            Some(UserId(claim.owner_id)),
            Action::ClaimTransition,
            &format!("claim {claim_id}: {} -> {}", from.code(), to.code()),
        )?;
        Ok(to)
    })
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
}

pub fn history(org: &Org, claim_id: i64) -> Result<Vec<EventRow>, ClaimError> {
    let mut conn = org.conn()?;
    Ok(claim_events::table
        .filter(claim_events::claim_id.eq(claim_id))
        .order(claim_events::id)
        .select(EventRow::as_select())
        .load(&mut conn)?)
}

/// A page of a person's own claims, newest first.
pub fn list_own(
    org: &Org,
    owner: UserId,
    status: Option<Status>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<ClaimRow>, ClaimError> {
    let mut conn = org.conn()?;
    let mut q = claims::table
        .filter(claims::owner_id.eq(owner.0))
        .into_boxed();
    if let Some(s) = status {
        q = q.filter(claims::status.eq(s.code()));
    }
    if let Some(b) = before {
        q = q.filter(claims::id.lt(b));
    }
    Ok(q.order(claims::id.desc())
        .limit(limit)
        .select(ClaimRow::as_select())
        .load(&mut conn)?)
}

/// Opens a claim's title, or "erased".
pub fn title(org: &Org, claim: &ClaimRow) -> Result<Revealed, ClaimError> {
    Ok(org.keys.open(&claim.title)?)
}

/// Claims waiting for `approver`: submitted claims of their reports (managers) and
/// claims awaiting the second approval (finance). Oldest first, as a queue.
pub fn waiting_for(
    org: &Org,
    approver: UserId,
    roles: Roles,
    limit: i64,
) -> Result<Vec<ClaimRow>, ClaimError> {
    use crate::db::schema::org::users;
    let mut conn = org.conn()?;
    let mut out = Vec::new();
    if roles.contains(Role::Manager) {
        out.extend(
            claims::table
                .inner_join(users::table)
                .filter(users::manager_id.eq(approver.0))
                .filter(claims::status.eq(Status::Submitted.code()))
                .filter(claims::owner_id.ne(approver.0))
                .order(claims::id.asc())
                .limit(limit)
                .select(ClaimRow::as_select())
                .load(&mut conn)?,
        );
    }
    if roles.contains(Role::Finance) {
        out.extend(
            claims::table
                .filter(claims::status.eq(Status::AwaitingFinance.code()))
                .filter(claims::owner_id.ne(approver.0))
                .order(claims::id.asc())
                .limit(limit)
                .select(ClaimRow::as_select())
                .load(&mut conn)?,
        );
    }
    Ok(out)
}
