//! The claim page: one claim with its lines, flags and history, opened for the viewer,
//! and what it offers them (edit, decide, pay). Who may do what is the domain's call
//! (`claims::role_for`); a claim the viewer may not see is a 404, like a missing one.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::audit::{self, Action};
use crate::auth::users;
use crate::crypto::random_array;
use crate::expenses::claims::{self, ClaimError, ClaimFields, FieldErrors, LineInput};
use crate::expenses::money::{Currency, format_minor, format_rate};
use crate::expenses::policy;
use crate::expenses::receipts;
use crate::expenses::status::{Actor, Status};
use crate::ids::UserId;
use crate::privacy::deadlines::uk_today;
use crate::tenancy::Org;
use crate::web::AppError;
use crate::web::access::CurrentUser;
use crate::web::layout::{Chrome, html, sentence};

pub(super) fn form_key() -> String {
    random_array::<16>().map(hex::encode).unwrap_or_default()
}

pub struct LineItem {
    pub id: i64,
    pub date: String,
    pub category: String,
    pub merchant: String,
    pub description: String,
    pub amount: String,
    pub base: String,
    pub vat: String,
    /// "120.0 miles at 45p" for mileage lines.
    pub mileage: String,
    /// "at 0.85" for a line in another currency than the claim's: how `base` was reached.
    pub rate: String,
    /// The line's receipt id, for its download link.
    pub receipt: Option<i64>,
    pub flags: Vec<String>,
}

pub struct EventItem {
    pub when: String,
    pub who: String,
    pub what: String,
    pub comment: String,
    /// The manager a delegate decided for.
    pub on_behalf: String,
}

/// Why the owner's claim came back to them: shown at the top of the claim with what
/// to do next.
pub struct Outcome {
    /// Rejected for good; otherwise returned for changes.
    pub rejected: bool,
    pub who: String,
    pub when: String,
    pub reason: String,
}

#[derive(Template)]
#[template(path = "claim.html")]
pub(super) struct ClaimPage {
    pub(super) chrome: Option<Chrome>,
    pub(super) csrf: String,
    pub(super) id: i64,
    pub(super) title: String,
    pub(super) owner: String,
    pub(super) status: String,
    pub(super) total: String,
    pub(super) version: i64,
    /// The claim's (base) currency code.
    pub(super) base: String,
    /// Over the second-approval threshold: finance approves after the manager.
    pub(super) needs_finance: bool,
    pub(super) lines: Vec<LineItem>,
    pub(super) history: Vec<EventItem>,
    pub(super) flagged: bool,
    /// For the owner: the rejection or return that brought the claim back, with its reason.
    pub(super) outcome: Option<Outcome>,
    pub(super) can_edit: bool,
    pub(super) can_decide: bool,
    pub(super) can_pay: bool,
    /// The owner's data is restricted: nothing may be done with the claim.
    pub(super) restricted: bool,
    /// The owner was erased: their receipts are unreadable, so not linked.
    pub(super) owner_erased: bool,
    /// The list the viewer came from: their claims, their approvals or finance's queue.
    pub(super) back: (&'static str, &'static str),
    pub(super) categories: Vec<(String, String)>,
    pub(super) input: LineInput,
    pub(super) errors: Vec<(&'static str, String)>,
    pub(super) form_key: String,
    /// What the approver typed, shown again when their decision was refused.
    pub(super) approve_comment: String,
    pub(super) reject_comment: String,
    /// The approve form's comment message when an approval was refused for it.
    pub(super) approve_error: String,
    /// The reason field's message when a reject or return was refused for it.
    pub(super) reject_error: String,
    pub(super) notice: Option<String>,
    pub(super) error: Option<String>,
}

impl ClaimPage {
    fn field_error(&self, field: &str) -> String {
        sentence(
            FieldErrors(self.errors.clone())
                .get(field)
                .unwrap_or_default(),
        )
    }
}

/// Whether an event sent a submitted claim back to its owner's draft.
fn is_return(from: &str, to: &str) -> bool {
    to == Status::Draft.code()
        && (from == Status::Submitted.code() || from == Status::AwaitingFinance.code())
}

/// A moment in UK time, as the people deciding claims read their clocks ("GMT" or
/// "BST" said, so nobody has to guess).
fn when(at: i64) -> String {
    use crate::privacy::deadlines::uk_offset;
    time::OffsetDateTime::from_unix_timestamp(at)
        .map(|t| {
            let offset = uk_offset(t);
            let zone = if offset.is_utc() { "GMT" } else { "BST" };
            let t = t.to_offset(offset);
            format!("{} {:02}:{:02} {zone}", t.date(), t.hour(), t.minute())
        })
        .unwrap_or_default()
}

/// Everything the claim page shows, opened; `None` if the viewer may not see the claim.
pub(super) fn load_page(
    org: &Org,
    user: &CurrentUser,
    id: i64,
) -> Result<Option<ClaimPage>, AppError> {
    let claim = claims::get(org, id)?;
    let Some(part) = claims::role_for(org, user.id(), user.roles(), &claim)? else {
        return Ok(None);
    };
    let cats = claims::categories(org)?;
    let name_of = |uid: i64| -> Result<String, AppError> {
        Ok(match users::get(org, UserId(uid))? {
            Some(u) => org.keys.open(&u.name)?.to_string(),
            None => "unknown".into(),
        })
    };
    let currency = claim.currency();
    let policy = policy::load(org)?;
    // Ages are counted in UK days to the day the claim was submitted; a draft (one
    // returned for changes too) is counted to today, as it would be if sent now.
    let submitted = claim
        .submitted_at
        .filter(|_| !claim.status().editable())
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok());
    let as_of = uk_today(submitted.unwrap_or_else(time::OffsetDateTime::now_utc));
    let receipts = receipts::for_claim(org, id)?;
    let mut lines = Vec::new();
    let rows = claims::lines(org, id)?;
    let day_totals = claims::day_totals(&rows);
    // Typed exchange rates, held against the rates others used then.
    let rate_flags = claims::rate_flags(org, &rows, currency, id)?;
    for (l, rate_flag) in rows.iter().zip(rate_flags) {
        let cat = cats.iter().find(|c| c.code == l.category);
        let receipt = receipts
            .iter()
            .find(|r| r.line_id == Some(l.id))
            .map(|r| r.id);
        let line_currency = Currency::parse(&l.currency).unwrap_or(currency);
        lines.push(LineItem {
            id: l.id,
            mileage: claims::mileage_text(l, currency),
            date: l.spent_on.clone(),
            category: cat.map_or(l.category.clone(), |c| c.label.clone()),
            merchant: org.keys.open(&l.merchant)?.to_string(),
            description: org.keys.open(&l.description)?.to_string(),
            amount: format!(
                "{} {}",
                format_minor(l.amount_minor, line_currency),
                l.currency
            ),
            base: format_minor(l.base_minor, currency),
            rate: if line_currency == currency {
                String::new()
            } else {
                format!("at {}", format_rate(l.rate_e12))
            },
            // In the line's currency; said when that is not the claim's.
            vat: l
                .vat_minor
                .map(|v| {
                    let vat = format_minor(v, line_currency);
                    if line_currency == currency {
                        vat
                    } else {
                        format!("{vat} {}", l.currency)
                    }
                })
                .unwrap_or_default(),
            receipt,
            flags: claims::flags(
                l,
                cat,
                receipt.is_some(),
                day_totals
                    .get(&(l.spent_on.as_str(), l.category.as_str()))
                    .copied()
                    .unwrap_or(l.base_minor),
                &policy,
                currency,
                as_of,
            )
            .into_iter()
            .chain(rate_flag)
            .collect(),
        });
    }
    let mut history = Vec::new();
    let mut last_return_or_reject = None;
    let events = claims::history(org, id)?;
    let gave_first_approval = claims::gave_first_approval(&events, user.id());
    let last = events.len().saturating_sub(1);
    for (i, e) in events.into_iter().enumerate() {
        let comment = match &e.comment {
            Some(c) => org.keys.open(c)?.to_string(),
            None => String::new(),
        };
        let returned = is_return(&e.from_status, &e.to_status);
        let to = if returned {
            "returned for changes".to_owned()
        } else {
            Status::parse(&e.to_status)
                .map(|s| s.to_string())
                .unwrap_or_default()
        };
        let who = name_of(e.actor_id)?;
        // Only the latest event counts: a claim changed and submitted again is no longer
        // "returned".
        if i == last && (returned || e.to_status == Status::Rejected.code()) {
            last_return_or_reject = Some(Outcome {
                rejected: !returned,
                who: who.clone(),
                when: when(e.at),
                reason: comment.clone(),
            });
        }
        history.push(EventItem {
            when: when(e.at),
            who,
            what: to,
            comment,
            on_behalf: match e.on_behalf_of {
                Some(m) => name_of(m)?,
                None => String::new(),
            },
        });
    }
    let status = claim.status();
    let owner = UserId(claim.owner_id);
    let restricted = crate::privacy::restriction::check(org, owner)?;
    let owner_erased = match users::get(org, owner)? {
        Some(u) => !org.keys.is_alive(u.person_key())?,
        None => true,
    };
    Ok(Some(ClaimPage {
        chrome: Some(user.chrome()),
        csrf: user.csrf().to_owned(),
        id,
        title: claims::title(org, &claim)?.to_string(),
        owner: name_of(claim.owner_id)?,
        status: status.to_string(),
        total: format!(
            "{} {}",
            format_minor(claim.total_minor, currency),
            claim.currency
        ),
        version: claim.version,
        base: claim.currency.clone(),
        needs_finance: claim.total_minor > policy.second_approval_above_minor,
        flagged: lines.iter().any(|l| !l.flags.is_empty()),
        outcome: last_return_or_reject.filter(|_| part == Actor::Owner),
        lines,
        history,
        can_edit: part == Actor::Owner && status.editable() && !restricted,
        can_decide: !restricted
            && match (part, status) {
                (Actor::Approver, Status::Submitted) => true,
                // The second approval is someone else's than the first.
                (Actor::Finance, Status::AwaitingFinance) => !gave_first_approval,
                _ => false,
            },
        can_pay: part == Actor::Finance && status == Status::Approved && !restricted,
        restricted,
        owner_erased,
        back: match part {
            Actor::Owner => ("/claims", "My claims"),
            Actor::Approver => ("/approvals", "Approvals"),
            Actor::Finance => ("/finance", "Finance"),
        },
        categories: cats.into_iter().map(|c| (c.code, c.label)).collect(),
        input: LineInput {
            currency: claim.currency.clone(),
            ..Default::default()
        },
        errors: Vec::new(),
        form_key: form_key(),
        approve_comment: String::new(),
        reject_comment: String::new(),
        approve_error: String::new(),
        reject_error: String::new(),
        notice: None,
        error: None,
    }))
}

/// The status for a refused change to a claim: 409 when the page was out of date
/// (someone or something changed the claim), 422 when the change itself was refused.
pub(super) fn refusal_status(e: &ClaimError) -> StatusCode {
    match e {
        ClaimError::Stale | ClaimError::Conflict | ClaimError::LineGone => StatusCode::CONFLICT,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// The claim as it is now, with the reason the change was refused.
pub(super) async fn refused(
    user: &CurrentUser,
    id: i64,
    e: &ClaimError,
) -> Result<HttpResponse, AppError> {
    let mut page = page_for(user, id).await?;
    page.error = Some(sentence(&e.to_string()));
    html(refusal_status(e), &page)
}

pub(super) async fn page_for(user: &CurrentUser, id: i64) -> Result<ClaimPage, AppError> {
    let (org, u) = (user.org().clone(), user.clone());
    let page = web::block(move || -> Result<_, AppError> {
        let page = load_page(&org, &u, id)?;
        let claim = claims::get(&org, id)?;
        // Looking at someone else's claim is a view of their personal data.
        if page.is_some() && claim.owner_id != u.id().0 {
            audit::record(
                &org,
                Some(u.id()),
                Some(UserId(claim.owner_id)),
                Action::ViewedPerson,
                &format!("claim {id}"),
            )?;
        }
        Ok(page)
    })
    .await??;
    page.ok_or(AppError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::when;

    #[test]
    fn moments_are_shown_in_uk_time_with_the_zone() {
        // 2026-07-09 23:30 UTC is 00:30 BST on the 10th; 2026-01-09 23:30 UTC is GMT.
        assert_eq!(when(1_783_639_800), "2026-07-10 00:30 BST");
        assert_eq!(when(1_768_001_400), "2026-01-09 23:30 GMT");
    }
}
