//! The two request actions that reach the subject's data: handing out their export and
//! erasing them. Both need a request whose identity check is done; erasure also needs
//! an erasure request, and completes it. What the data-subject functions refuse is
//! shown on the request page; nothing is half-done.

use actix_session::Session;
use actix_web::{HttpResponse, web};

use super::me::{export_turn, zip_download};
use super::privacy::{Fields, dpo, field, refused_page, today};
use super::privacy_people::{fault, refusal};
use crate::audit::{self, Action};
use crate::privacy::erasure::{self, Mode, Outcome};
use crate::privacy::export;
use crate::privacy::requests::{self, Kind, Status};
use crate::web::access::CurrentUser;
use crate::web::layout::see_other;
use crate::web::{AppError, AppState, session};

const NOT_VERIFIED: &str = "Verify the subject's identity first: their data is only handed out \
     or erased for a request whose identity check is done and that is still open.";

/// GET /privacy/requests/{id}/export: the subject's ZIP, audited as a view of their data.
pub async fn export(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = path.into_inner();
    dpo(&user)?;
    let turn = export_turn(&state, &user).await?;
    let (org, actor) = (user.org().clone(), user.id());
    let ready = web::block(move || -> Result<Option<export::Prepared>, AppError> {
        let r = requests::get(&org, id)?;
        if !matches!(
            r.status(),
            Status::Verified | Status::InProgress | Status::Completed
        ) {
            return Ok(None);
        }
        let subject = r.subject();
        let ready = export::prepare(&org, subject).map_err(fault)?;
        let detail = format!("data export for request {id}");
        audit::record(
            &org,
            Some(actor),
            Some(subject),
            Action::ViewedPerson,
            &detail,
        )?;
        Ok(Some(ready))
    })
    .await??;
    match ready {
        Some(ready) => Ok(zip_download(
            turn,
            user.org().clone(),
            ready,
            &format!("request-{id}-data.zip"),
        )),
        None => refused_page(&user, id, NOT_VERIFIED.into()).await,
    }
}

/// POST /privacy/requests/{id}/erase: `mode` (now, after_retention) and `confirm=yes`.
pub async fn erase(
    user: CurrentUser,
    session: Session,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    form: Fields,
) -> Result<HttpResponse, AppError> {
    let backups = state.backup_dir.get().cloned();
    let id = path.into_inner();
    let officer = dpo(&user)?;
    let Some(mode) = Mode::parse(field(&form, "mode")) else {
        let msg = "Choose when to erase: now, or after the retention period.";
        return refused_page(&user, id, msg.into()).await;
    };
    if field(&form, "confirm") != "yes" {
        let msg = "Tick the box to confirm the erasure: it cannot be undone.";
        return refused_page(&user, id, msg.into()).await;
    }
    let (org, actor) = (user.org().clone(), user.id());
    let outcome = web::block(move || -> Result<Result<String, String>, AppError> {
        let r = requests::get(&org, id)?;
        if r.kind() != Kind::Erasure {
            return Ok(Err(
                "Only an erasure request can erase the person's data.".into()
            ));
        }
        if !matches!(r.status(), Status::Verified | Status::InProgress) {
            return Ok(Err(NOT_VERIFIED.into()));
        }
        let today = today();
        let done = match erasure::erase(&org, actor, r.subject(), mode, today) {
            Ok(Outcome::Erased(key)) => {
                "Erased: the person's key is destroyed, so their personal data reads as \
                 erased everywhere; the request is completed."
                    .to_owned()
                    + &crate::backup::forget_now(backups.as_deref(), &org, key)
            }
            Ok(Outcome::Scheduled(due)) => format!(
                "Restricted now; their data will be erased on {due}, when their claims no \
                 longer have to be kept. The request is completed."
            ),
            Err(e) => return Ok(Err(refusal(e)?)),
        };
        requests::mark_completed(&org, officer, id, today)?;
        Ok(Ok(done))
    })
    .await??;
    match outcome {
        Ok(done) => {
            session::set_notice(&session, &done);
            Ok(see_other(&format!("/privacy/requests/{id}")))
        }
        Err(msg) => refused_page(&user, id, msg).await,
    }
}
