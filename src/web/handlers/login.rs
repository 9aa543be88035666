//! Sign-in (password, then a second factor where enrolled) and sign-out.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::audit::{self, Action};
use crate::auth::login::{self, SecondFactor};
use crate::auth::throttle::FREE_FAILURES;
use crate::db::now_unix;
use crate::ids::{OrgId, Slug, UserId};
use crate::web::layout::{Chrome, html, see_other};
use crate::web::session::{self, PendingMfa};
use crate::web::{AppError, AppState};

/// A password step older than this must be repeated.
const PENDING_MFA_SECS: i64 = 5 * 60;
const WRONG: &str = "The organisation, email address or password is not right.";

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Option<Chrome>,
    csrf: String,
    organisation: String,
    email: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "login_mfa.html")]
struct MfaPage {
    chrome: Option<Chrome>,
    csrf: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    organisation: String,
    email: String,
    password: String,
}

#[derive(Deserialize)]
pub struct CodeForm {
    code: String,
}

pub async fn form(session: Session) -> Result<HttpResponse, AppError> {
    if session::identity(&session).is_some() {
        return Ok(see_other("/"));
    }
    let page = LoginPage {
        chrome: None,
        csrf: session::csrf_token(&session),
        organisation: String::new(),
        email: String::new(),
        error: None,
    };
    html(StatusCode::OK, &page)
}

fn client_ip(req: &HttpRequest) -> String {
    req.peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default()
}

/// Throttle key for an account: a digest, so the map holds no email addresses.
fn account_key(slug: &str, email: &str) -> String {
    let digest = Sha256::digest(format!("{slug}\n{}", email.trim().to_lowercase()));
    format!("acct:{}", hex::encode(&digest[..16]))
}

pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let retry = |error: String, status: StatusCode| {
        let page = LoginPage {
            chrome: None,
            csrf: session::csrf_token(&session),
            organisation: form.organisation.clone(),
            email: form.email.clone(),
            error: Some(error),
        };
        html(status, &page)
    };
    let keys = [
        format!("ip:{}", client_ip(&req)),
        account_key(&form.organisation, &form.email),
    ];
    if let Err(wait) = state.throttle.check(&keys) {
        let secs = wait.as_secs().max(1);
        return retry(
            format!("Too many failed attempts. Please wait {secs} seconds and try again."),
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    // One argon2 hash per core at a time; the rest queue here, not on the workers.
    let _permit = state
        .hashing
        .acquire()
        .await
        .map_err(|_| AppError::Unavailable("hashing closed".into()))?;
    let st = state.clone();
    let (slug, email, password) = (
        form.organisation.clone(),
        form.email.clone(),
        form.password.clone(),
    );
    let outcome = web::block(move || -> Result<_, AppError> {
        let org = match Slug::parse(&slug) {
            Ok(slug) => st.tenants.by_slug(&slug)?,
            Err(_) => None,
        };
        let user = login::check_password(org.as_deref(), &email, &password)?;
        // For the audit log: who was targeted, when the email is known here.
        let target = match (&org, &user) {
            (Some(org), None) => {
                crate::auth::users::find_by_email(org, &email)?.map(|r| r.user_id())
            }
            _ => None,
        };
        Ok((org, user, target))
    })
    .await??;
    drop(_permit);
    match outcome {
        (Some(org), Some(user), _) => {
            state.throttle.succeed(&keys);
            if user.mfa_enabled {
                session.renew();
                let pending = PendingMfa {
                    org: org.id.0,
                    user: user.id,
                    since: now_unix(),
                };
                session
                    .insert(session::PENDING_MFA, pending)
                    .map_err(AppError::internal)?;
                return Ok(see_other("/login/mfa"));
            }
            session::sign_in(&session, org.id.0, user.id, user.session_version);
            let uid = user.user_id();
            web::block(move || {
                audit::record(&org, Some(uid), Some(uid), Action::SignIn, "password")
            })
            .await??;
            Ok(see_other("/"))
        }
        (org, _, target) => {
            let count = state.throttle.fail(&keys);
            if let Some(org) = org {
                if count >= FREE_FAILURES {
                    log::warn!(
                        "repeated failed sign-ins in organisation {} ({count})",
                        org.slug
                    );
                }
                let detail = format!("attempt {count}");
                web::block(move || {
                    audit::record(&org, None, target, Action::SignInFailed, &detail)
                })
                .await??;
            }
            retry(WRONG.to_owned(), StatusCode::UNAUTHORIZED)
        }
    }
}

fn pending(session: &Session) -> Option<PendingMfa> {
    session
        .get::<PendingMfa>(session::PENDING_MFA)
        .ok()
        .flatten()
        .filter(|p| now_unix() - p.since <= PENDING_MFA_SECS)
}

pub async fn mfa_form(session: Session) -> Result<HttpResponse, AppError> {
    if pending(&session).is_none() {
        return Ok(see_other("/login"));
    }
    let page = MfaPage {
        chrome: None,
        csrf: session::csrf_token(&session),
        error: None,
    };
    html(StatusCode::OK, &page)
}

pub async fn mfa_submit(
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, AppError> {
    let Some(p) = pending(&session) else {
        return Ok(see_other("/login"));
    };
    let keys = [format!("mfa:{}:{}", p.org, p.user)];
    let retry = |error: &str, status| {
        let page = MfaPage {
            chrome: None,
            csrf: session::csrf_token(&session),
            error: Some(error.to_owned()),
        };
        html(status, &page)
    };
    if state.throttle.check(&keys).is_err() {
        return retry(
            "Too many wrong codes. Please wait a little and try again.",
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    let st = state.clone();
    let code = form.into_inner().code;
    let (org, result) = web::block(move || -> Result<_, AppError> {
        let org = st.tenants.get(OrgId(p.org))?;
        let result = login::check_second_factor(&org, UserId(p.user), &code)?;
        let version = crate::auth::users::get(&org, UserId(p.user))?.map(|u| u.session_version);
        Ok((org, result.zip(version)))
    })
    .await??;
    let uid = UserId(p.user);
    match result {
        Some((factor, version)) => {
            state.throttle.succeed(&keys);
            session::sign_in(&session, p.org, p.user, version);
            let detail = match factor {
                SecondFactor::Totp => "password and authenticator code",
                SecondFactor::RecoveryCode => "password and recovery code",
            };
            web::block(move || audit::record(&org, Some(uid), Some(uid), Action::SignIn, detail))
                .await??;
            Ok(see_other("/"))
        }
        None => {
            state.throttle.fail(&keys);
            web::block(move || audit::record(&org, None, Some(uid), Action::MfaFailed, ""))
                .await??;
            retry(
                "That code is not right, or it was already used.",
                StatusCode::UNAUTHORIZED,
            )
        }
    }
}

pub async fn logout(
    state: web::Data<AppState>,
    session: Session,
) -> Result<HttpResponse, AppError> {
    if let Some(id) = session::identity(&session) {
        let st = state.clone();
        // The log entry is best-effort: signing out must work even if it fails.
        let _ = web::block(move || {
            let org = st.tenants.get(OrgId(id.org))?;
            let uid = UserId(id.user);
            audit::record(&org, Some(uid), Some(uid), Action::SignOut, "").map_err(AppError::from)
        })
        .await;
    }
    session.purge();
    Ok(see_other("/login"))
}
