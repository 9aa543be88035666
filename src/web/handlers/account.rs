//! The signed-in user's own account: password, other sessions, two-step sign-in.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::auth::account::{self, AccountError};
use crate::auth::mfa_enrolment::{self, Enrolment};
use crate::auth::{login, mfa, password};
use crate::web::access::CurrentUser;
use crate::web::layout::{Chrome, html, see_other};
use crate::web::{AppError, AppState, session};

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    chrome: Option<Chrome>,
    csrf: String,
    notice: Option<String>,
    error: Option<String>,
    suggestion: String,
    mfa_enabled: bool,
    codes_left: i64,
}

#[derive(Template)]
#[template(path = "mfa.html")]
struct MfaPage {
    chrome: Option<Chrome>,
    csrf: String,
    enabled: bool,
    /// The secret in groups of four, easier to type into an app.
    secret_grouped: String,
    qr: String,
    recovery_codes: Vec<String>,
    codes_left: i64,
    must_enrol: bool,
    /// The password must be typed again before a secret is shown or confirmed.
    prove_password: bool,
    error: Option<String>,
}

fn group(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current_password: String,
    new_password: String,
    confirm_password: String,
}

#[derive(Deserialize)]
pub struct CodeForm {
    code: String,
}

#[derive(Deserialize)]
pub struct ProveForm {
    password: String,
}

fn account_page(
    user: &CurrentUser,
    notice: Option<String>,
    error: Option<String>,
    codes_left: i64,
) -> AccountPage {
    AccountPage {
        chrome: Some(user.chrome()),
        csrf: user.csrf().to_owned(),
        notice,
        error,
        suggestion: password::suggest_passphrase(),
        mfa_enabled: user.user().mfa_enabled,
        codes_left,
    }
}

/// What both password forms say once the throttle makes them wait.
fn too_many_wrong(wait: std::time::Duration) -> String {
    let secs = wait.as_secs().max(1);
    format!("Too many wrong passwords. Please wait {secs} seconds and try again.")
}

async fn codes_left(user: &CurrentUser) -> Result<i64, AppError> {
    let (org, id) = (user.org().clone(), user.id());
    Ok(web::block(move || login::recovery_codes_left(&org, id)).await??)
}

pub async fn page(user: CurrentUser, session: Session) -> Result<HttpResponse, AppError> {
    let left = codes_left(&user).await?;
    html(
        StatusCode::OK,
        &account_page(&user, session::take_notice(&session), None, left),
    )
}

pub async fn change_password(
    user: CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<PasswordForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    if form.new_password != form.confirm_password {
        let left = codes_left(&user).await?;
        let page = account_page(
            &user,
            None,
            Some("The two new passwords do not match.".into()),
            left,
        );
        return html(StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    let _permit = state.hashing.acquire().await.map_err(AppError::internal)?;
    let (org, id, st) = (user.org().clone(), user.id(), state.clone());
    let result = web::block(move || {
        let (current, new) = (&form.current_password, &form.new_password);
        account::change_password(&org, &st.throttle, id, current, new)?;
        Ok::<_, AccountError>(crate::auth::users::get(&org, id)?.map(|u| u.session_version))
    })
    .await?;
    match result {
        Ok(Some(version)) => {
            // Every other session ended with the version bump; this one carries on.
            session::sign_in(&session, user.org().id.0, id.0, version);
            session::set_notice(
                &session,
                "Your password was changed. Other devices have been signed out.",
            );
            Ok(see_other("/account"))
        }
        Ok(None) => Err(AppError::SignIn),
        Err(AccountError::User(crate::auth::users::UserError::Db(e))) => Err(e.into()),
        Err(AccountError::Throttled(wait)) => {
            let left = codes_left(&user).await?;
            let message = too_many_wrong(wait);
            html(
                StatusCode::TOO_MANY_REQUESTS,
                &account_page(&user, None, Some(message), left),
            )
        }
        Err(e) => {
            let left = codes_left(&user).await?;
            html(
                StatusCode::UNPROCESSABLE_ENTITY,
                &account_page(&user, None, Some(e.to_string()), left),
            )
        }
    }
}

pub async fn end_sessions(user: CurrentUser, session: Session) -> Result<HttpResponse, AppError> {
    let (org, id) = (user.org().clone(), user.id());
    web::block(move || account::end_all_sessions(&org, id, id))
        .await?
        .map_err(AppError::internal)?;
    session.purge();
    Ok(see_other("/login"))
}

/// The secret this session is enrolling: the one it holds, or a fresh one it keeps.
async fn enrolment(user: &CurrentUser, session: &Session) -> Result<Enrolment, AppError> {
    let held = session
        .get::<String>(session::PENDING_TOTP)
        .map_err(AppError::internal)?;
    let (org, id) = (user.org().clone(), user.id());
    let held_now = held.clone();
    let enrolment =
        web::block(move || mfa_enrolment::enrolment_secret(&org, id, held_now.as_deref()))
            .await?
            .map_err(AppError::internal)?;
    if held.as_deref() != Some(enrolment.token.as_str()) {
        session
            .insert(session::PENDING_TOTP, &enrolment.token)
            .map_err(AppError::internal)?;
    }
    Ok(enrolment)
}

fn enrol_page(
    user: &CurrentUser,
    secret: &str,
    recovery_codes: Vec<String>,
    codes_left: i64,
    error: Option<String>,
) -> MfaPage {
    let enabled = user.user().mfa_enabled;
    let qr = match enabled || secret.is_empty() {
        true => String::new(),
        false => mfa::qr_data_uri(&mfa::otpauth_uri(secret, user.org().slug.as_str()))
            .unwrap_or_default(),
    };
    MfaPage {
        chrome: Some(user.chrome()),
        csrf: user.csrf().to_owned(),
        enabled,
        secret_grouped: group(secret),
        qr,
        recovery_codes,
        codes_left,
        must_enrol: user.must_enrol(),
        prove_password: false,
        error,
    }
}

/// Whether this session proved the password within `secs` seconds.
fn proved_within(session: &Session, secs: i64) -> bool {
    session::identity(session).is_some_and(|id| session::password_proved_within(session, &id, secs))
}

/// The enrolment page asking for the password again, with no secret made yet.
fn prove_page(
    user: &CurrentUser,
    status: StatusCode,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let mut page = enrol_page(user, "", Vec::new(), 0, error);
    page.prove_password = true;
    html(status, &page)
}

pub async fn mfa_page(user: CurrentUser, session: Session) -> Result<HttpResponse, AppError> {
    let recovery_codes = match session::take::<String>(&session, session::RECOVERY_CODES) {
        Some(sealed) => {
            let (org, id) = (user.org().clone(), user.id());
            web::block(move || mfa_enrolment::open_recovery_codes(&org, id, &sealed))
                .await?
                .map_err(AppError::internal)?
        }
        None => Vec::new(),
    };
    let enabled = user.user().mfa_enabled;
    if !enabled
        && recovery_codes.is_empty()
        && !proved_within(&session, session::PASSWORD_RECENT_SECS)
    {
        return prove_page(&user, StatusCode::OK, None);
    }
    let secret = match enabled {
        true => String::new(),
        false => enrolment(&user, &session).await?.secret,
    };
    let left = codes_left(&user).await?;
    let page = enrol_page(&user, &secret, recovery_codes, left, None);
    html(StatusCode::OK, &page)
}

pub async fn mfa_confirm(
    user: CurrentUser,
    session: Session,
    form: web::Form<CodeForm>,
) -> Result<HttpResponse, AppError> {
    if user.user().mfa_enabled {
        return Ok(see_other("/account/mfa"));
    }
    if !proved_within(&session, session::ENROL_CONFIRM_SECS) {
        let error = "Please enter your password again before setting up two-step sign-in.";
        return prove_page(&user, StatusCode::FORBIDDEN, Some(error.into()));
    }
    let held = session
        .get::<String>(session::PENDING_TOTP)
        .map_err(AppError::internal)?;
    let (org, id, version) = (user.org().clone(), user.id(), user.user().session_version);
    let code = form.into_inner().code;
    let confirmed = web::block(move || {
        mfa_enrolment::confirm_enrolment(&org, id, version, held.as_deref(), &code)
    })
    .await?;
    match confirmed {
        Ok(enrolled) => {
            // Every other session ended with the new version (they were signed in with
            // the password alone); this one carries on under a fresh id.
            session::sign_in(&session, user.org().id.0, id.0, enrolled.version);
            session
                .insert(session::RECOVERY_CODES, enrolled.codes)
                .map_err(AppError::internal)?;
            Ok(see_other("/account/mfa"))
        }
        Err(AccountError::WrongCode) => {
            let secret = enrolment(&user, &session).await?.secret;
            let error = Some(AccountError::WrongCode.to_string());
            let page = enrol_page(&user, &secret, Vec::new(), 0, error);
            html(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        // Confirmed meanwhile (a double click): the first post signed this browser in
        // again with the codes; clearing the cookie here could undo that. If this
        // session really ended, the next page sends it to sign in anyway.
        Err(AccountError::SessionEnded) => Ok(see_other("/account/mfa")),
        Err(e) => Err(AppError::internal(e)),
    }
}

/// Proves the password again, so that this session may set up two-step sign-in.
pub async fn prove_password(
    user: CurrentUser,
    state: web::Data<AppState>,
    session: Session,
    form: web::Form<ProveForm>,
) -> Result<HttpResponse, AppError> {
    if user.user().mfa_enabled {
        return Ok(see_other("/account/mfa"));
    }
    let _permit = state.hashing.acquire().await.map_err(AppError::internal)?;
    let (org, id, st) = (user.org().clone(), user.id(), state.clone());
    let password = form.into_inner().password;
    let checked = web::block(move || {
        let failed = crate::audit::Action::PasswordConfirmFailed;
        account::check_own_password(&org, &st.throttle, id, &password, failed)
    })
    .await?;
    match checked {
        Ok(()) => {
            session::password_proved(&session);
            Ok(see_other("/account/mfa"))
        }
        Err(AccountError::WrongPassword) => {
            let error = "That password is not right.";
            prove_page(&user, StatusCode::UNPROCESSABLE_ENTITY, Some(error.into()))
        }
        Err(AccountError::Throttled(wait)) => {
            let error = too_many_wrong(wait);
            prove_page(&user, StatusCode::TOO_MANY_REQUESTS, Some(error))
        }
        Err(AccountError::User(crate::auth::users::UserError::Db(e))) => Err(e.into()),
        Err(e) => Err(AppError::internal(e)),
    }
}
