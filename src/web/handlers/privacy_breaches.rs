//! The DPO's breach register (`/privacy/breaches`) with the 72-hour clock, processor
//! breach notices and their acknowledgement, and the records of processing
//! (`/privacy/records`, DPO and admin).

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use time::OffsetDateTime;

use super::privacy::{Fields, dpo, error_for, field, when};
use crate::audit::{self, Action};
use crate::privacy::breaches::{self, BreachInput, BreachRow};
use crate::privacy::deadlines::{BreachClock, span_words};
use crate::privacy::records::{self, Records};
use crate::privacy::requests::RequestError;
use crate::tenancy::Org;
use crate::web::access::CurrentUser;
use crate::web::layout::{Chrome, html, see_other};
use crate::web::{AppError, session};

/// The 72-hour clock in words, with a CSS class ("overdue", "due-soon" or empty).
pub fn clock_words(b: &BreachRow, now: OffsetDateTime) -> (&'static str, String) {
    match b.clock(now) {
        BreachClock::Stopped if b.authority_told_at.is_some() => ("", "authority told".into()),
        BreachClock::Stopped => ("", "not reported (reason recorded)".into()),
        BreachClock::Running { minutes_left } => (
            "due-soon",
            format!("{} left to tell the authority", span_words(minutes_left)),
        ),
        BreachClock::Overdue { minutes_over } => (
            "overdue",
            format!("72 hours passed {} ago", span_words(minutes_over)),
        ),
    }
}

pub struct BreachItem {
    pub id: i64,
    pub detected: String,
    pub nature: String,
    pub people: i64,
    pub records: i64,
    pub mark: &'static str,
    pub clock: String,
    pub people_told: String,
}

pub struct NoticeItem {
    pub id: i64,
    pub received: String,
    pub text: String,
}

fn notices(org: &Org) -> Result<Vec<NoticeItem>, AppError> {
    breaches::pending_notices(org)?
        .iter()
        .map(|n| {
            Ok(NoticeItem {
                id: n.id,
                received: when(n.received_at),
                text: org.keys.open(&n.body)?.to_string(),
            })
        })
        .collect()
}

#[derive(Template)]
#[template(path = "privacy_breaches.html")]
struct ListPage {
    chrome: Option<Chrome>,
    csrf: String,
    notice: Option<String>,
    items: Vec<BreachItem>,
    notices: Vec<NoticeItem>,
    input: BreachInput,
    errors: Vec<(&'static str, String)>,
}

impl ListPage {
    fn error_for(&self, name: &str) -> String {
        error_for(&self.errors, name)
    }
}

async fn list_page(
    user: &CurrentUser,
    input: BreachInput,
    errors: Vec<(&'static str, String)>,
) -> Result<ListPage, AppError> {
    let (org, viewer) = (user.org().clone(), user.id());
    let (items, notices) = web::block(move || -> Result<_, AppError> {
        let now = OffsetDateTime::now_utc();
        let mut items = Vec::new();
        for b in breaches::list(&org)? {
            let (mark, clock) = clock_words(&b, now);
            items.push(BreachItem {
                id: b.id,
                detected: when(b.detected_at),
                nature: org.keys.open(&b.nature)?.to_string(),
                people: b.people_approx,
                records: b.records_approx,
                mark,
                clock,
                people_told: b.people_told_at.map(when).unwrap_or_default(),
            });
        }
        let notices = notices(&org)?;
        // Breach texts often name people (whose, the register cannot tell): each view
        // that opens any is audited, with counts only.
        if !items.is_empty() || !notices.is_empty() {
            let detail = format!(
                "privacy breach register ({} breaches, {} processor notices)",
                items.len(),
                notices.len()
            );
            audit::record(&org, Some(viewer), None, Action::ViewedPerson, &detail)?;
        }
        Ok((items, notices))
    })
    .await??;
    Ok(ListPage {
        chrome: Some(user.chrome()),
        csrf: user.csrf().to_owned(),
        notice: None,
        items,
        notices,
        input,
        errors,
    })
}

fn input_from(form: &[(String, String)]) -> BreachInput {
    let f = |n: &str| field(form, n).to_owned();
    BreachInput {
        detected: f("detected"),
        nature: f("nature"),
        categories: f("categories"),
        people: f("people"),
        records: f("records"),
        consequences: f("consequences"),
        measures: f("measures"),
        authority_told: f("authority_told"),
        no_report_reason: f("no_report_reason"),
        people_told: f("people_told"),
    }
}

/// GET /privacy/breaches
pub async fn list(user: CurrentUser, session: Session) -> Result<HttpResponse, AppError> {
    let mut page = list_page(&user, BreachInput::default(), Vec::new()).await?;
    page.notice = session::take_notice(&session);
    html(StatusCode::OK, &page)
}

/// POST /privacy/breaches: records a breach.
pub async fn create(
    user: CurrentUser,
    session: Session,
    form: Fields,
) -> Result<HttpResponse, AppError> {
    let input = input_from(&form);
    let (org, uid, i) = (user.org().clone(), dpo(&user)?, input.clone());
    match web::block(move || breaches::save(&org, uid, None, &i, OffsetDateTime::now_utc())).await?
    {
        Ok(id) => {
            session::set_notice(&session, &format!("Breach {id} is in the register."));
            Ok(see_other(&format!("/privacy/breaches/{id}")))
        }
        Err(RequestError::Fields(errors)) => {
            let page = list_page(&user, input, errors).await?;
            html(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "privacy_breach.html")]
struct BreachPage {
    chrome: Option<Chrome>,
    csrf: String,
    notice: Option<String>,
    id: i64,
    mark: &'static str,
    clock: String,
    deadline: String,
    input: BreachInput,
    errors: Vec<(&'static str, String)>,
}

impl BreachPage {
    fn error_for(&self, name: &str) -> String {
        error_for(&self.errors, name)
    }
}

async fn breach_page(user: &CurrentUser, id: i64) -> Result<BreachPage, AppError> {
    let (org, viewer) = (user.org().clone(), user.id());
    let (b, input) = web::block(move || -> Result<_, AppError> {
        let b = breaches::get(&org, id)?;
        let input = breaches::input_of(&org, &b)?;
        let detail = format!("privacy breach {id}");
        audit::record(&org, Some(viewer), None, Action::ViewedPerson, &detail)?;
        Ok((b, input))
    })
    .await??;
    let (mark, clock) = clock_words(&b, OffsetDateTime::now_utc());
    Ok(BreachPage {
        chrome: Some(user.chrome()),
        csrf: user.csrf().to_owned(),
        notice: None,
        id,
        mark,
        clock,
        deadline: when(b.detected_at + crate::privacy::deadlines::BREACH_NOTIFY_HOURS * 3600),
        input,
        errors: Vec::new(),
    })
}

/// GET /privacy/breaches/{id}
pub async fn show(
    user: CurrentUser,
    session: Session,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let mut page = breach_page(&user, id.into_inner()).await?;
    page.notice = session::take_notice(&session);
    html(StatusCode::OK, &page)
}

/// POST /privacy/breaches/{id}: rewrites the record (e.g. when the authority is told).
pub async fn update(
    user: CurrentUser,
    session: Session,
    id: web::Path<i64>,
    form: Fields,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let input = input_from(&form);
    let (org, uid, i) = (user.org().clone(), dpo(&user)?, input.clone());
    match web::block(move || breaches::save(&org, uid, Some(id), &i, OffsetDateTime::now_utc()))
        .await?
    {
        Ok(_) => {
            session::set_notice(&session, "The breach record is saved.");
            Ok(see_other(&format!("/privacy/breaches/{id}")))
        }
        Err(RequestError::Fields(errors)) => {
            let mut page = breach_page(&user, id).await?;
            page.input = input;
            page.errors = errors;
            html(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(e) => Err(e.into()),
    }
}

/// POST /privacy/notices/{id}/ack: the DPO has read a processor's breach notice.
pub async fn acknowledge(
    user: CurrentUser,
    session: Session,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let (org, uid, id) = (user.org().clone(), dpo(&user)?, id.into_inner());
    web::block(move || breaches::acknowledge(&org, uid, id)).await??;
    session::set_notice(&session, "Notice acknowledged.");
    Ok(see_other("/privacy/breaches"))
}

#[derive(Template)]
#[template(path = "privacy_records.html")]
struct RecordsPage {
    chrome: Option<Chrome>,
    r: Records,
}

/// GET /privacy/records
pub async fn records(user: CurrentUser) -> Result<HttpResponse, AppError> {
    let org = user.org().clone();
    let r = web::block(move || records::build(&org)).await??;
    html(
        StatusCode::OK,
        &RecordsPage {
            chrome: Some(user.chrome()),
            r,
        },
    )
}

/// The DPO's part of the dashboard.
pub struct DpoFigures {
    pub due_soon: usize,
    pub overdue: usize,
    /// Breaches whose 72-hour clock still runs (or ran out): (id, class, words).
    pub open_breaches: Vec<(i64, &'static str, String)>,
    pub notices: usize,
    /// The daily backups are failing or cannot be read (`backup::status`).
    pub backups_failing: bool,
    /// Retention has not run for more than a day (`jobs::late`).
    pub retention_late: bool,
}

pub fn dpo_figures(state: &crate::web::AppState, org: &Org) -> Result<DpoFigures, AppError> {
    let today = super::privacy::today();
    let (due_soon, overdue) = crate::privacy::requests::due_counts(org, today)?;
    let now = OffsetDateTime::now_utc();
    let open_breaches = breaches::list(org)?
        .iter()
        .filter(|b| !b.settled())
        .map(|b| {
            let (mark, words) = clock_words(b, now);
            (b.id, mark, words)
        })
        .collect();
    Ok(DpoFigures {
        due_soon,
        overdue,
        open_breaches,
        notices: breaches::pending_notices(org)?.len(),
        retention_late: crate::jobs::late(
            crate::privacy::retention::last_run(org).map_err(super::privacy_people::fault)?,
            super::privacy_backups::org_created(state, org)?,
            now,
        ),
        // What is wrong is said on the backups page.
        backups_failing: super::privacy_backups::look(state, org)
            .is_some_and(|found| found.map_or(true, |(_, fresh)| fresh.is_bad())),
    })
}
