//! The DPO's retention page (`/privacy/retention`): the periods, what retention did,
//! and whether it runs.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::privacy_people::{fault, refusal};
use time::OffsetDateTime;

use super::privacy::when;
use crate::privacy::retention::{self, Periods};
use crate::web::AppState;
use crate::web::access::CurrentUser;
use crate::web::forms::{Fields, field};
use crate::web::layout::{Chrome, html, see_other};
use crate::web::{AppError, session};

#[derive(Template)]
#[template(path = "person_retention.html")]
struct RetentionPage {
    chrome: Option<Chrome>,
    csrf: String,
    notice: Option<String>,
    error: Option<String>,
    claims_years: String,
    profile_months: String,
    audit_years: String,
    /// Whether retention runs, in one sentence, and whether that is bad news.
    ran: String,
    late: bool,
    log: Vec<LogRow>,
}

/// Whether retention runs daily, as the DPO is told: `last` its last run, `since` when
/// the organisation was created. The second value says it is late.
pub fn ran_words(
    last: Option<OffsetDateTime>,
    since: OffsetDateTime,
    now: OffsetDateTime,
) -> (String, bool) {
    let late = crate::jobs::late(last, since, now);
    let words = match (last, late) {
        (Some(at), false) => format!("Retention last ran on {}.", when(at.unix_timestamp())),
        (Some(at), true) => format!(
            "Retention last ran on {}, more than a day ago: the daily run is failing. \
             Tell whoever runs the server.",
            when(at.unix_timestamp())
        ),
        (None, false) => {
            "Retention has not run yet: it first runs at the server's next daily run.".into()
        }
        (None, true) => "Retention has never run, though the organisation is more than a day \
                         old: the daily run is failing. Tell whoever runs the server."
            .into(),
    };
    (words, late)
}

pub struct LogRow {
    pub run_date: String,
    pub kind: String,
    pub count: i64,
    pub detail: String,
}

async fn retention_page(
    user: &CurrentUser,
    state: web::Data<AppState>,
    typed: Option<(String, String, String)>,
) -> Result<RetentionPage, AppError> {
    let org = user.org().clone();
    let (periods, log, (ran, late)) = web::block(move || -> Result<_, AppError> {
        let last = retention::last_run(&org).map_err(fault)?;
        let since = super::privacy_backups::org_created(&state, &org)?;
        Ok((
            retention::periods(&org).map_err(fault)?,
            retention::recent_log(&org, 100).map_err(fault)?,
            ran_words(last, since, OffsetDateTime::now_utc()),
        ))
    })
    .await??;
    let (claims_years, profile_months, audit_years) = typed.unwrap_or_else(|| {
        (
            periods.claims_years.to_string(),
            periods.profile_months.to_string(),
            periods.audit_years.to_string(),
        )
    });
    Ok(RetentionPage {
        chrome: Some(user.chrome()),
        csrf: user.csrf().to_owned(),
        notice: None,
        error: None,
        claims_years,
        profile_months,
        audit_years,
        ran,
        late,
        log: log
            .into_iter()
            .map(|e| LogRow {
                run_date: e.run_date,
                kind: e.kind,
                count: e.count,
                detail: e.detail,
            })
            .collect(),
    })
}

/// GET /privacy/retention
pub async fn retention(
    user: CurrentUser,
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let mut page = retention_page(&user, state, None).await?;
    page.notice = session::take_notice(&session);
    html(StatusCode::OK, &page)
}

/// POST /privacy/retention: `claims_years`, `profile_months`, `audit_years`.
pub async fn save_retention(
    user: CurrentUser,
    session: Session,
    state: web::Data<AppState>,
    form: Fields,
) -> Result<HttpResponse, AppError> {
    let typed = (
        field(&form, "claims_years").to_owned(),
        field(&form, "profile_months").to_owned(),
        field(&form, "audit_years").to_owned(),
    );
    let parse = |s: &str| s.trim().parse::<i32>().ok();
    let periods = match (parse(&typed.0), parse(&typed.1), parse(&typed.2)) {
        (Some(claims_years), Some(profile_months), Some(audit_years)) => Periods {
            claims_years,
            profile_months,
            audit_years,
        },
        _ => {
            let mut page = retention_page(&user, state, Some(typed)).await?;
            page.error = Some("Enter each period as a whole number.".into());
            return html(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    let (org, actor) = (user.org().clone(), user.id());
    match web::block(move || retention::set_periods(&org, actor, periods)).await? {
        Ok(()) => {
            session::set_notice(&session, "The retention periods were saved.");
            Ok(see_other("/privacy/retention"))
        }
        Err(e) => {
            let message = refusal(e)?;
            let mut page = retention_page(&user, state, Some(typed)).await?;
            page.error = Some(message);
            html(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}
