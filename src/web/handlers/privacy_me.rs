//! `/me/privacy`: anyone signed in reads their rights in plain words, starts a request
//! of their own (it lands in the DPO's register) and follows their own requests.
//! Only the signed-in person's requests are ever loaded here.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::privacy::{Fields, error_for, field, today};
use crate::privacy::requests::{self, Kind, RequestError};
use crate::web::access::CurrentUser;
use crate::web::layout::{Chrome, html, see_other};
use crate::web::{AppError, session};

pub struct MyRequest {
    pub id: i64,
    pub kind: &'static str,
    pub status: &'static str,
    pub received: String,
    pub due: String,
    pub extension_reason: String,
    pub refusal_reason: String,
}

#[derive(Template)]
#[template(path = "privacy_me.html")]
struct MePage {
    chrome: Option<Chrome>,
    csrf: String,
    notice: Option<String>,
    requests: Vec<MyRequest>,
    kinds: Vec<(&'static str, &'static str)>,
    kind: String,
    note: String,
    errors: Vec<(&'static str, String)>,
}

impl MePage {
    fn error_for(&self, name: &str) -> String {
        error_for(&self.errors, name)
    }
}

async fn page(
    user: &CurrentUser,
    kind: String,
    note: String,
    errors: Vec<(&'static str, String)>,
) -> Result<MePage, AppError> {
    let (org, uid) = (user.org().clone(), user.id());
    let mine = web::block(move || -> Result<Vec<MyRequest>, AppError> {
        let mut out = Vec::new();
        for r in requests::list_for_subject(&org, uid)? {
            let text =
                |s: Option<crate::crypto::Revealed>| s.map(|v| v.to_string()).unwrap_or_default();
            out.push(MyRequest {
                id: r.id,
                kind: r.kind().code(),
                status: r.status().label(),
                received: r.received_on.clone(),
                due: match (r.status().is_open(), r.due()) {
                    (true, Some(d)) => d.to_string(),
                    (true, None) => "once your identity is confirmed".into(),
                    (false, _) => String::new(),
                },
                extension_reason: text(requests::reveal(&org, &r.extension_reason)?),
                refusal_reason: text(requests::reveal(&org, &r.refusal_reason)?),
            });
        }
        Ok(out)
    })
    .await??;
    Ok(MePage {
        chrome: Some(user.chrome()),
        csrf: user.csrf().to_owned(),
        notice: None,
        requests: mine,
        kinds: Kind::ALL.iter().map(|k| (k.code(), k.label())).collect(),
        kind,
        note,
        errors,
    })
}

/// GET /me/privacy
pub async fn me(user: CurrentUser, session: Session) -> Result<HttpResponse, AppError> {
    let mut p = page(&user, Kind::Access.code().into(), String::new(), Vec::new()).await?;
    p.notice = session::take_notice(&session);
    html(StatusCode::OK, &p)
}

/// POST /me/privacy: `kind`, optional `note`.
pub async fn me_create(
    user: CurrentUser,
    session: Session,
    form: Fields,
) -> Result<HttpResponse, AppError> {
    let (kind, note) = (
        field(&form, "kind").to_owned(),
        field(&form, "note").to_owned(),
    );
    let (org, uid, k, n) = (user.org().clone(), user.id(), kind.clone(), note.clone());
    match web::block(move || requests::open_own(&org, uid, &k, &n, today())).await? {
        Ok(id) => {
            session::set_notice(
                &session,
                &format!(
                    "Your request {id} has been sent to your organisation's data protection officer."
                ),
            );
            Ok(see_other("/me/privacy"))
        }
        Err(RequestError::Field(name, msg)) => {
            let p = page(&user, kind, note, vec![(name, msg)]).await?;
            html(StatusCode::UNPROCESSABLE_ENTITY, &p)
        }
        Err(e) => Err(e.into()),
    }
}
