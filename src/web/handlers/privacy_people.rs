//! The DPO's view of people: everyone with their privacy state, one person's details
//! with the rights actions (export, rectify, restrict or lift, erase). The route table
//! admits the DPO only; every view of a person is audited, and the domain
//! (`crate::privacy`) decides.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::me::{export_turn, zip_download};
use crate::audit::{self, Action};
use crate::auth::users;
use crate::ids::UserId;
use crate::privacy::erasure::{self, Mode, Outcome};
use crate::privacy::rectify::{self, Rectified};
use crate::privacy::{PrivacyError, day_of, export, restriction};
use crate::tenancy::Org;
use crate::web::AppState;
use crate::web::access::CurrentUser;
use crate::web::forms::{Fields, field};
use crate::web::layout::{Chrome, html, role_names, see_other, sentence};
use crate::web::{AppError, session};

/// A refusal the DPO can act on is shown on the page; faults are errors.
pub(super) fn refusal(e: PrivacyError) -> Result<String, AppError> {
    match e {
        PrivacyError::Db(e) => Err(e.into()),
        PrivacyError::Crypto(e) => Err(e.into()),
        PrivacyError::NotFound => Err(AppError::NotFound),
        PrivacyError::Export(e) => Err(AppError::internal(e)),
        e => Ok(sentence(&e.to_string())),
    }
}

/// Any privacy error where none is expected.
pub fn fault(e: PrivacyError) -> AppError {
    refusal(e).map_or_else(|e| e, AppError::BadRequest)
}

/// The UK date, as the request pages and retention use.
fn today() -> time::Date {
    crate::privacy::deadlines::uk_today(time::OffsetDateTime::now_utc())
}

pub struct PersonRow {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub status: String,
}

/// A person's privacy state in words.
fn status_of(active: bool, flags: &restriction::Flags) -> String {
    let day = |at: Option<i64>| {
        at.and_then(day_of)
            .map(|d| d.to_string())
            .unwrap_or_default()
    };
    if flags.erased() {
        format!("erased on {}", day(flags.erased_at))
    } else if let Some(due) = &flags.erase_due {
        format!("restricted; erasure due on {due}")
    } else if flags.restricted() {
        "restricted".into()
    } else if active {
        "active".into()
    } else {
        "deactivated".into()
    }
}

#[derive(Template)]
#[template(path = "person_list.html")]
struct PeoplePage {
    chrome: Option<Chrome>,
    people: Vec<PersonRow>,
}

/// GET /privacy/people: everyone, audited as one view (a count, no names).
pub async fn list(user: CurrentUser) -> Result<HttpResponse, AppError> {
    let (org, actor) = (user.org().clone(), user.id());
    let people = web::block(move || -> Result<Vec<PersonRow>, AppError> {
        let mut out = Vec::new();
        for v in users::list(&org)? {
            let flags = restriction::flags(&org, v.id).map_err(fault)?;
            out.push(PersonRow {
                id: v.id.0,
                name: v.name.to_string(),
                email: v.email.to_string(),
                status: status_of(v.active, &flags),
            });
        }
        let detail = format!("privacy people list ({} people)", out.len());
        audit::record(&org, Some(actor), None, Action::ViewedPerson, &detail)?;
        Ok(out)
    })
    .await??;
    let page = PeoplePage {
        chrome: Some(user.chrome()),
        people,
    };
    html(StatusCode::OK, &page)
}

#[derive(Template)]
#[template(path = "person_detail.html")]
struct PersonPage {
    chrome: Option<Chrome>,
    csrf: String,
    notice: Option<String>,
    error: Option<String>,
    id: i64,
    name: String,
    email: String,
    roles: String,
    manager: String,
    mfa: bool,
    status: String,
    erased: bool,
    restricted: bool,
    reason: String,
    claims: i64,
    /// The rectification form as typed, with any problems per field.
    name_input: String,
    email_input: String,
    name_error: String,
    email_error: String,
}

fn load_person(org: &Org, viewer: &CurrentUser, id: UserId) -> Result<PersonPage, AppError> {
    use crate::db::schema::org::claims;
    use diesel::prelude::*;
    let row = users::get(org, id)?.ok_or(AppError::NotFound)?;
    let view = users::UserView::open(org, &row)?;
    let flags = restriction::flags(org, id).map_err(fault)?;
    let manager = match row.manager_id {
        Some(m) => match users::get(org, UserId(m))? {
            Some(u) => org.keys.open(&u.name)?.to_string(),
            None => String::new(),
        },
        None => String::new(),
    };
    let reason = match &flags.restriction_reason {
        Some(sealed) => org.keys.open(sealed)?.to_string(),
        None => String::new(),
    };
    let mut conn = org.conn()?;
    let n: i64 = claims::table
        .filter(claims::owner_id.eq(id.0))
        .count()
        .get_result(&mut conn)
        .map_err(crate::db::DbError::from)?;
    let (name, email) = (view.name.to_string(), view.email.to_string());
    Ok(PersonPage {
        chrome: Some(viewer.chrome()),
        csrf: viewer.csrf().to_owned(),
        notice: None,
        error: None,
        id: id.0,
        name_input: name.clone(),
        email_input: email.clone(),
        name,
        email,
        roles: role_names(&view.roles.to_string()),
        manager,
        mfa: row.mfa_enabled,
        status: status_of(row.active, &flags),
        erased: flags.erased() || view.name.is_erased(),
        restricted: flags.restricted(),
        reason,
        claims: n,
        name_error: String::new(),
        email_error: String::new(),
    })
}

/// The person's page, its viewing audited.
async fn person_page(user: &CurrentUser, id: UserId) -> Result<PersonPage, AppError> {
    let (org, viewer) = (user.org().clone(), user.clone());
    web::block(move || -> Result<PersonPage, AppError> {
        let page = load_person(&org, &viewer, id)?;
        audit::record(
            &org,
            Some(viewer.id()),
            Some(id),
            Action::ViewedPerson,
            "privacy page",
        )?;
        Ok(page)
    })
    .await?
}

pub async fn show(
    user: CurrentUser,
    session: Session,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let mut page = person_page(&user, UserId(path.into_inner())).await?;
    page.notice = session::take_notice(&session);
    html(StatusCode::OK, &page)
}

/// GET /privacy/people/{id}/export: the person's ZIP, audited as a view of their data.
pub async fn export(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = UserId(path.into_inner());
    let turn = export_turn(&state, &user).await?;
    let (org, actor) = (user.org().clone(), user.id());
    let ready = web::block(move || -> Result<export::Prepared, AppError> {
        let ready = export::prepare(&org, id).map_err(fault)?;
        audit::record(
            &org,
            Some(actor),
            Some(id),
            Action::ViewedPerson,
            "data export",
        )?;
        Ok(ready)
    })
    .await??;
    Ok(zip_download(
        turn,
        user.org().clone(),
        ready,
        &format!("person-{id}-data.zip"),
    ))
}

/// The page again with a refusal (422).
async fn refuse(user: &CurrentUser, id: UserId, message: String) -> Result<HttpResponse, AppError> {
    let mut page = person_page(user, id).await?;
    page.error = Some(message);
    html(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

/// Runs one action on a person; back to their page with `notice` or the refusal.
async fn act<F>(
    user: CurrentUser,
    session: Session,
    id: UserId,
    op: F,
) -> Result<HttpResponse, AppError>
where
    F: FnOnce(&Org, UserId, UserId) -> Result<String, PrivacyError> + Send + 'static,
{
    let (org, actor) = (user.org().clone(), user.id());
    let outcome = web::block(move || -> Result<Result<String, PrivacyError>, AppError> {
        users::get(&org, id)?.ok_or(AppError::NotFound)?;
        Ok(op(&org, actor, id))
    })
    .await??;
    match outcome {
        Ok(notice) => {
            session::set_notice(&session, &notice);
            Ok(see_other(&format!("/privacy/people/{id}")))
        }
        Err(e) => refuse(&user, id, refusal(e)?).await,
    }
}

/// POST /privacy/people/{id}/rectify: `name`, `email`.
pub async fn rectify(
    user: CurrentUser,
    session: Session,
    path: web::Path<i64>,
    form: Fields,
) -> Result<HttpResponse, AppError> {
    let id = UserId(path.into_inner());
    let (name, email) = (
        field(&form, "name").to_owned(),
        field(&form, "email").to_owned(),
    );
    let (org, actor) = (user.org().clone(), user.id());
    let (n, e) = (name.clone(), email.clone());
    let outcome = web::block(move || -> Result<_, AppError> {
        users::get(&org, id)?.ok_or(AppError::NotFound)?;
        Ok(rectify::rectify(&org, actor, id, &n, &e))
    })
    .await??;
    match outcome {
        Ok(Rectified::Changed(fields)) => {
            let notice = if fields.is_empty() {
                "Nothing changed: the details were already as typed.".to_owned()
            } else {
                format!("Corrected: {}.", fields.join(" and "))
            };
            session::set_notice(&session, &notice);
            Ok(see_other(&format!("/privacy/people/{id}")))
        }
        Ok(Rectified::Invalid(problems)) => {
            let mut page = person_page(&user, id).await?;
            for (f, msg) in problems.0 {
                let msg = sentence(&msg);
                if f == "name" {
                    page.name_error = msg;
                } else {
                    page.email_error = msg;
                }
            }
            page.name_input = name;
            page.email_input = email;
            page.error = Some("The details were not changed: see the messages below.".into());
            html(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(e) => refuse(&user, id, refusal(e)?).await,
    }
}

/// POST /privacy/people/{id}/restrict: `reason` (sealed under the person's key).
pub async fn restrict(
    user: CurrentUser,
    session: Session,
    path: web::Path<i64>,
    form: Fields,
) -> Result<HttpResponse, AppError> {
    let reason = field(&form, "reason").to_owned();
    act(
        user,
        session,
        UserId(path.into_inner()),
        move |org, actor, id| {
            restriction::restrict(org, actor, id, &reason)?;
            Ok("Their data is now restricted: it is kept but not changed or used.".into())
        },
    )
    .await
}

/// POST /privacy/people/{id}/lift
pub async fn lift(
    user: CurrentUser,
    session: Session,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    act(
        user,
        session,
        UserId(path.into_inner()),
        |org, actor, id| {
            restriction::lift(org, actor, id)?;
            Ok("The restriction was lifted (with any erasure scheduled for later).".into())
        },
    )
    .await
}

/// POST /privacy/people/{id}/erase: `mode` (now, after_retention) and `confirm`.
pub async fn erase(
    user: CurrentUser,
    session: Session,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    form: Fields,
) -> Result<HttpResponse, AppError> {
    let backups = state.backup_dir.get().cloned();
    let id = UserId(path.into_inner());
    let Some(mode) = Mode::parse(field(&form, "mode")) else {
        return refuse(
            &user,
            id,
            "Choose when to erase: now, or after the retention period.".into(),
        )
        .await;
    };
    if field(&form, "confirm") != "yes" {
        return refuse(
            &user,
            id,
            "Tick the box to confirm the erasure: it cannot be undone.".into(),
        )
        .await;
    }
    act(user, session, id, move |org, actor, id| {
        Ok(match erasure::erase(org, actor, id, mode, today())? {
            Outcome::Erased(key) => {
                "Erased: their key is destroyed, so their personal data reads as erased \
                 everywhere; the amounts of their claims stay as anonymous records."
                    .to_owned()
                    + &crate::backup::forget_now(backups.as_deref(), org, key)
            }
            Outcome::Scheduled(due) => format!(
                "Restricted now; their data will be erased on {due}, when the claims no longer have to be kept."
            ),
        })
    })
    .await
}
