//! The one-time password link an admin hands out: /reset/{org}/{token}. A link that
//! is unknown, used or expired gets one plain page (410), whatever the reason.

use std::sync::Arc;

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::admin::{fault, refusal};
use crate::auth::account::{self, AccountError};
use crate::auth::{password, users};
use crate::ids::Slug;
use crate::tenancy::Org;
use crate::web::form_token::FormToken;
use crate::web::layout::{Chrome, html, see_other};
use crate::web::{AppError, AppState};

#[derive(Template)]
#[template(path = "reset.html")]
struct ResetPage {
    chrome: Option<Chrome>,
    csrf: String,
    valid: bool,
    action: String,
    org_slug: String,
    email: String,
    suggestion: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
}

/// A live link: its organisation and the email of the person it is for.
struct Link {
    org: Arc<Org>,
    token: String,
    email: String,
}

/// Tokens are 32 random bytes in hex; anything else is not worth a database look-up.
fn plausible(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

fn lookup(state: &AppState, slug: &str, token: String) -> Result<Option<Link>, AppError> {
    let Ok(slug) = Slug::parse(slug) else {
        return Ok(None);
    };
    if !plausible(&token) {
        return Ok(None);
    }
    let Some(org) = state.tenants.by_slug(&slug)? else {
        return Ok(None);
    };
    let Some(user) = account::reset_token_user(&org, &token).map_err(fault)? else {
        return Ok(None);
    };
    let Some(row) = users::get(&org, user)? else {
        return Ok(None);
    };
    let email = org.keys.open(&row.email)?.to_string();
    Ok(Some(Link { org, token, email }))
}

async fn find(
    state: &web::Data<AppState>,
    slug: String,
    token: String,
) -> Result<Option<Link>, AppError> {
    let st = state.clone();
    web::block(move || lookup(&st, &slug, token)).await?
}

fn gone() -> Result<HttpResponse, AppError> {
    let page = ResetPage {
        chrome: None,
        csrf: String::new(),
        valid: false,
        action: String::new(),
        org_slug: String::new(),
        email: String::new(),
        suggestion: String::new(),
        error: None,
    };
    html(StatusCode::GONE, &page)
}

fn form_page(csrf: &FormToken, link: &Link, error: Option<String>) -> ResetPage {
    ResetPage {
        chrome: None,
        csrf: csrf.token().to_owned(),
        valid: true,
        action: format!("/reset/{}/{}", link.org.slug, link.token),
        org_slug: link.org.slug.to_string(),
        email: link.email.clone(),
        suggestion: password::suggest_passphrase(),
        error,
    }
}

pub async fn form(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (slug, token) = path.into_inner();
    match find(&state, slug, token).await? {
        Some(link) => {
            let csrf = FormToken::new(&req, &session);
            let page = html(StatusCode::OK, &form_page(&csrf, &link, None));
            csrf.respond(page)
        }
        None => gone(),
    }
}

pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    path: web::Path<(String, String)>,
    form: web::Form<ResetForm>,
) -> Result<HttpResponse, AppError> {
    let (slug, token) = path.into_inner();
    let Some(link) = find(&state, slug, token).await? else {
        return gone();
    };
    let form = form.into_inner();
    if form.new_password != form.confirm_password {
        let page = form_page(
            &FormToken::new(&req, &session),
            &link,
            Some("The two passwords do not match.".into()),
        );
        return html(StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    // One argon2 hash per core at a time; the rest queue here, not on the workers.
    let _permit = state
        .hashing
        .acquire()
        .await
        .map_err(|_| AppError::Unavailable("hashing closed".into()))?;
    let (org, token) = (link.org.clone(), link.token.clone());
    let result =
        web::block(move || account::redeem_reset_token(&org, &token, &form.new_password)).await?;
    drop(_permit);
    match result {
        Ok(_) => {
            // Whoever was signed in in this browser is not the person who just reset.
            session.purge();
            Ok(see_other("/login"))
        }
        Err(AccountError::BadResetLink) => gone(),
        Err(e) => {
            let page = form_page(&FormToken::new(&req, &session), &link, Some(refusal(e)?));
            html(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}
