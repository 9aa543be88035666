//! Sign-in (password, then a second factor where enrolled) and sign-out.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::audit::{self, Action};
use crate::auth::login::{self, SecondFactor, SecondStep};
use crate::auth::throttle::{Attempt, FREE_FAILURES};
use crate::crypto::random_array;
use crate::db::now_unix;
use crate::ids::{OrgId, Slug, UserId};
use crate::web::device;
use crate::web::form_token::FormToken;
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

pub async fn form(req: HttpRequest, session: Session) -> Result<HttpResponse, AppError> {
    if session::identity(&session).is_some() {
        return Ok(see_other("/"));
    }
    let token = FormToken::new(&req, &session);
    let page = LoginPage {
        chrome: None,
        csrf: token.token().to_owned(),
        organisation: String::new(),
        email: String::new(),
        error: None,
    };
    token.respond(html(StatusCode::OK, &page))
}

/// Throttle key for an account: a digest, so the map holds no email addresses; keyed
/// with a secret made at start-up, so nobody who reads the process's memory can test
/// guessed addresses against it. Both fields are trimmed and lower-cased as the sign-in
/// reads them (`Slug::parse` trims), so padding them cannot make a fresh key for the
/// same account.
fn account_key(organisation: &str, email: &str) -> String {
    static SECRET: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    let secret = SECRET.get_or_init(|| random_array::<32>().unwrap_or([7; 32]));
    let slug = organisation.trim().to_lowercase();
    let email = email.trim().to_lowercase();
    let mut digest = Sha256::new();
    digest.update(secret);
    digest.update(format!("{slug}\n{email}"));
    format!("acct:{}", hex::encode(&digest.finalize()[..16]))
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
            csrf: FormToken::new(&req, &session).token().to_owned(),
            organisation: form.organisation.clone(),
            email: form.email.clone(),
            error: Some(error),
        };
        html(status, &page)
    };
    // A browser this account signed in from has a lane of its own: failures sent by
    // others cannot keep its owner out.
    let lane = device::lane(&req, &state.device_key, &form.organisation, &form.email);
    let account = account_key(&form.organisation, &form.email);
    let keys = Attempt {
        account: match &lane {
            Some(nonce) => format!("{account}:device:{nonce}"),
            None => account,
        },
        address: Some(format!(
            "ip:{}",
            state.settings.trusted_proxies.client_of(&req)
        )),
    };
    // Counted now, before the slow check: parallel guesses cannot all get past.
    if let Err(wait) = state.throttle.begin(&keys) {
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
        // Typed on a keyboard that capitalises: "Acme" is acme, as the throttle reads it.
        let org = match Slug::parse(&slug.to_lowercase()) {
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
            // Given, or renewed: a lane lasts from the last sign-in through it.
            let lane = device::issue(&state.device_key, &form.organisation, &form.email);
            let with_lane = |mut resp: HttpResponse| -> Result<HttpResponse, AppError> {
                if let Some(cookie) = &lane {
                    resp.add_cookie(cookie).map_err(AppError::internal)?;
                }
                Ok(resp)
            };
            if user.mfa_enabled {
                session.renew();
                let pending = PendingMfa {
                    org: org.id.0,
                    user: user.id,
                    since: now_unix(),
                    version: user.session_version,
                };
                session
                    .insert(session::PENDING_MFA, pending)
                    .map_err(AppError::internal)?;
                return with_lane(see_other("/login/mfa"));
            }
            session::sign_in(&session, org.id.0, user.id, user.session_version);
            let uid = user.user_id();
            web::block(move || {
                audit::record(&org, Some(uid), Some(uid), Action::SignIn, "password")
            })
            .await??;
            with_lane(see_other("/"))
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
    let keys = Attempt {
        account: format!("mfa:{}:{}", p.org, p.user),
        address: None,
    };
    let retry = |error: &str, status| {
        let page = MfaPage {
            chrome: None,
            csrf: session::csrf_token(&session),
            error: Some(error.to_owned()),
        };
        html(status, &page)
    };
    // Counted now, before the code is checked: parallel guesses cannot all get past.
    if state.throttle.begin(&keys).is_err() {
        return retry(
            "Too many wrong codes. Please wait a little and try again.",
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    let st = state.clone();
    let code = form.into_inner().code;
    let (org, result) = web::block(move || -> Result<_, AppError> {
        let org = st.tenants.get(OrgId(p.org))?;
        let result = login::check_second_factor(&org, UserId(p.user), p.version, &code)?;
        Ok((org, result))
    })
    .await??;
    let uid = UserId(p.user);
    match result {
        SecondStep::Stale => {
            // As for an expired password step: start again.
            session.purge();
            Ok(see_other("/login"))
        }
        SecondStep::Accepted(factor) => {
            state.throttle.succeed(&keys);
            // The version the password step saw, never one read now: a change made
            // since then must not be inherited by this session.
            session::sign_in(&session, p.org, p.user, p.version);
            let detail = match factor {
                SecondFactor::Totp => "password and authenticator code",
                SecondFactor::RecoveryCode => "password and recovery code",
            };
            web::block(move || audit::record(&org, Some(uid), Some(uid), Action::SignIn, detail))
                .await??;
            Ok(see_other("/"))
        }
        SecondStep::Refused => {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_organisation_or_email_is_the_same_account() {
        let key = account_key("acme", "emp@acme.example");
        for (org, email) in [
            (" acme", "emp@acme.example"),
            ("acme ", "emp@acme.example"),
            ("\tACME\n", " Emp@Acme.Example "),
        ] {
            assert_eq!(account_key(org, email), key, "{org:?} {email:?}");
        }
        assert_ne!(account_key("acme2", "emp@acme.example"), key);
    }
}
