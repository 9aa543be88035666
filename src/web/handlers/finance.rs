//! Finance pages: approved claims to pay, marking a batch paid, and the CSV export for
//! accounting. The route table admits finance only; the domain (`expenses::finance`)
//! decides what each claim allows and writes history and audit.

use std::collections::HashMap;

use actix_session::Session;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use time::Date;

use crate::audit;
use crate::auth::users;
use crate::crypto::Revealed;
use crate::expenses::claims::{self, ClaimError, ClaimFields, ClaimRow};
use crate::expenses::finance::{self, BatchOutcome};
use crate::expenses::money::format_minor;
use crate::expenses::status::Status;
use crate::ids::UserId;
use crate::tenancy::Org;
use crate::web::access::CurrentUser;
use crate::web::layout::{Chrome, count, html, see_other, sentence};
use crate::web::{AppError, session};

/// At most this many skipped claims are named in the notice; the rest are counted.
const SKIPS_SHOWN: usize = 10;
/// Claims on one page of the payment queue.
const QUEUE_PAGE: i64 = 100;

pub struct PayItem {
    pub id: i64,
    pub version: i64,
    pub title: String,
    pub owner: String,
    pub total: String,
    pub approved: String,
    /// The viewer's own claim: shown, but someone else must pay it.
    pub own: bool,
    /// The claimant's data is restricted: shown, but it cannot be paid.
    pub restricted: bool,
}

#[derive(Template)]
#[template(path = "finance.html")]
struct FinancePage {
    chrome: Option<Chrome>,
    csrf: String,
    claims: Vec<PayItem>,
    /// The link to the next page of the queue, if there is one.
    next: Option<String>,
    from: String,
    to: String,
    notice: Option<String>,
    error: Option<String>,
    /// Lines the export leaves out because their claimant's data is restricted.
    held_back: i64,
}

fn day(at: Option<i64>) -> String {
    at.and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
        .map(|t| t.date().to_string())
        .unwrap_or_default()
}

fn pay_item(
    org: &Org,
    viewer: UserId,
    restricted: &[i64],
    names: &HashMap<UserId, Revealed>,
    c: &ClaimRow,
) -> Result<PayItem, AppError> {
    let owner = names
        .get(&UserId(c.owner_id))
        .map_or_else(|| "unknown".into(), |n| n.to_string());
    Ok(PayItem {
        id: c.id,
        version: c.version,
        title: claims::title(org, c)?.to_string(),
        owner,
        total: format!(
            "{} {}",
            format_minor(c.total_minor, c.currency()),
            c.currency
        ),
        approved: day(c.decided_at),
        own: c.owner_id == viewer.0,
        restricted: restricted.contains(&c.owner_id),
    })
}

async fn page(
    user: &CurrentUser,
    after: Option<finance::QueueCursor>,
    from: String,
    to: String,
    error: Option<String>,
) -> Result<FinancePage, AppError> {
    let (org, uid) = (user.org().clone(), user.id());
    let (items, last, held_back) = web::block(move || -> Result<_, AppError> {
        let restricted = crate::privacy::restriction::restricted_people(&org)?;
        let rows = finance::to_pay(&org, after, QUEUE_PAGE)?;
        let last = (rows.len() as i64 == QUEUE_PAGE)
            .then(|| rows.last().map(|c| (c.decided_at.unwrap_or(0), c.id)))
            .flatten();
        // Every claimant's name in one query, not one per row.
        let names = users::names(&org, rows.iter().map(|c| UserId(c.owner_id)))?;
        let items = rows
            .iter()
            .map(|c| pay_item(&org, uid, &restricted, &names, c))
            .collect::<Result<Vec<_>, _>>()?;
        // Names and titles of other people: a view of each claimant (the count only).
        let detail = format!("payment queue ({})", count(items.len(), "claim", "claims"));
        audit::record_views(&org, uid, rows.iter().map(|c| UserId(c.owner_id)), &detail)?;
        Ok((items, last, finance::held_back(&org)?))
    })
    .await??;
    Ok(FinancePage {
        chrome: Some(user.chrome()),
        csrf: user.csrf().to_owned(),
        claims: items,
        next: last.map(|(at, id)| format!("/finance?after={at}.{id}")),
        from,
        to,
        notice: None,
        error,
        held_back,
    })
}

#[derive(Deserialize)]
pub struct QueueQuery {
    after: Option<String>,
}

/// `"<decided_at>.<id>"`, as the next-page link carries it.
fn parse_cursor(raw: &str) -> Option<finance::QueueCursor> {
    let (at, id) = raw.split_once('.')?;
    Some((at.parse().ok()?, id.parse().ok()?))
}

pub async fn show(
    user: CurrentUser,
    session: Session,
    q: web::Query<QueueQuery>,
) -> Result<HttpResponse, AppError> {
    let after = q.after.as_deref().and_then(parse_cursor);
    let mut p = page(&user, after, String::new(), String::new(), None).await?;
    p.notice = session::take_notice(&session);
    html(StatusCode::OK, &p)
}

/// `"<id>:<version>"` as the page's checkboxes send it.
fn parse_pick(value: &str) -> Option<(i64, i64)> {
    let (id, version) = value.split_once(':')?;
    Some((id.trim().parse().ok()?, version.trim().parse().ok()?))
}

fn outcome_notice(out: &BatchOutcome) -> String {
    let mut text = format!("{} marked paid.", count(out.paid.len(), "claim", "claims"));
    if !out.skipped.is_empty() {
        let named: Vec<String> = out
            .skipped
            .iter()
            .take(SKIPS_SHOWN)
            .map(|(id, why)| format!("claim {id}: {}", why.text()))
            .collect();
        text.push_str(&format!(
            " {} not paid ({})",
            count(out.skipped.len(), "claim was", "claims were"),
            named.join("; ")
        ));
        if out.skipped.len() > SKIPS_SHOWN {
            text.push_str(&format!(" and {} more", out.skipped.len() - SKIPS_SHOWN));
        }
        text.push('.');
    }
    text
}

/// The batch form: any number of `pay=<id>:<version>` fields.
pub async fn pay(
    user: CurrentUser,
    session: Session,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let mut batch = Vec::new();
    for (name, value) in form.into_inner() {
        if name == "pay" {
            let pick = parse_pick(&value)
                .ok_or_else(|| AppError::BadRequest("The selection was not understood.".into()))?;
            batch.push(pick);
        }
    }
    if batch.is_empty() {
        session::set_notice(&session, "No claims were selected, so none were paid.");
        return Ok(see_other("/finance"));
    }
    // The page offers one page of claims. A longer batch came from elsewhere, and
    // each claim is a write of its own: it would hold the organisation's writers.
    if batch.len() > QUEUE_PAGE as usize {
        session::set_notice(
            &session,
            &format!("At most {QUEUE_PAGE} claims can be paid at once, one page; none were paid."),
        );
        return Ok(see_other("/finance"));
    }
    let (org, uid, roles) = (user.org().clone(), user.id(), user.roles());
    let out = web::block(move || finance::mark_paid(&org, uid, roles, &batch)).await??;
    session::set_notice(&session, &outcome_notice(&out));
    Ok(see_other("/finance"))
}

#[derive(Deserialize)]
pub struct ExportQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

/// An optional `YYYY-MM-DD` date: empty is `None`, anything else must be a real date.
fn parse_day(raw: &str, what: &str) -> Result<Option<Date>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(raw, &format)
        .map(Some)
        .map_err(|_| format!("Enter the {what} date as a real date in the form YYYY-MM-DD."))
}

pub async fn export(
    user: CurrentUser,
    q: web::Query<ExportQuery>,
) -> Result<HttpResponse, AppError> {
    let q = q.into_inner();
    let dates = parse_day(&q.from, "start").and_then(|f| Ok((f, parse_day(&q.to, "end")?)));
    let (from, to) = match dates {
        Ok(d) => d,
        Err(msg) => return bad_export(&user, q, msg).await,
    };
    let (org, uid) = (user.org().clone(), user.id());
    let statuses = [Status::Approved, Status::Paid];
    match web::block(move || finance::export_csv(&org, uid, from, to, &statuses)).await? {
        Ok(bytes) => {
            let name = |d: Option<Date>| d.map_or_else(|| "all".to_owned(), |d| d.to_string());
            Ok(HttpResponse::Ok()
                .content_type("text/csv; charset=utf-8")
                .insert_header((
                    header::CONTENT_DISPOSITION,
                    format!(
                        "attachment; filename=\"expenses-{}-{}.csv\"",
                        name(from),
                        name(to)
                    ),
                ))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .body(bytes))
        }
        Err(ClaimError::Invalid(msg)) => bad_export(&user, q, sentence(&msg)).await,
        Err(e) => Err(e.into()),
    }
}

/// The finance page again, with the dates as typed and a plain message (400).
async fn bad_export(
    user: &CurrentUser,
    q: ExportQuery,
    msg: String,
) -> Result<HttpResponse, AppError> {
    // What was typed goes back into the form (escaped by the template), kept short.
    let keep = |s: &str| s.chars().take(20).collect::<String>();
    let p = page(user, None, keep(&q.from), keep(&q.to), Some(msg)).await?;
    html(StatusCode::BAD_REQUEST, &p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expenses::finance::SkipReason;

    #[test]
    fn picks_and_notices() {
        assert_eq!(parse_pick("12:3"), Some((12, 3)));
        assert_eq!(parse_pick("12"), None);
        assert_eq!(parse_pick("x:1"), None);
        let out = BatchOutcome {
            paid: vec![1],
            skipped: vec![(2, SkipReason::ChangedMeanwhile)],
        };
        let text = outcome_notice(&out);
        assert!(text.starts_with("1 claim marked paid."), "{text}");
        assert!(text.contains("claim 2: it changed meanwhile"), "{text}");
        assert_eq!(
            outcome_notice(&BatchOutcome::default()),
            "0 claims marked paid."
        );
        assert!(parse_day("2026-02-30", "start").is_err());
        assert_eq!(parse_day(" ", "start"), Ok(None));
    }
}
