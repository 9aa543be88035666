//! First run: while no organisation exists, `serve` prints a one-time link to
//! `/setup/{token}`, where the operator creates the first organisation and its first
//! administrator. Any other token, or any visit once an organisation exists, is a 404.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::audit::{self, Action};
use crate::auth::users::{self, NewUser, UserError};
use crate::auth::{Role, Roles, password};
use crate::ids::Slug;
use crate::tenancy::TenancyError;
use crate::tenancy::registry::check_org_name;
use crate::web::form_token::FormToken;
use crate::web::layout::{Chrome, html, see_other, sentence};
use crate::web::{AppError, AppState};

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    chrome: Option<Chrome>,
    csrf: String,
    action: String,
    slug: String,
    org_name: String,
    name: String,
    email: String,
    error: Option<String>,
}

/// Missing fields are empty, so a wrong token is a 404 whatever the body holds.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SetupForm {
    slug: String,
    org_name: String,
    name: String,
    email: String,
    password: String,
    confirm_password: String,
}

/// Does `given` equal the live token? Compared in constant time.
fn token_matches(state: &AppState, given: &str) -> bool {
    let token = state.setup_token.lock().unwrap_or_else(|p| p.into_inner());
    token
        .as_deref()
        .is_some_and(|t| bool::from(t.as_bytes().ct_eq(given.as_bytes())))
}

/// The token is right and there is still no organisation; otherwise a 404.
async fn check_open(state: &web::Data<AppState>, token: &str) -> Result<(), AppError> {
    if !token_matches(state, token) {
        return Err(AppError::NotFound);
    }
    let st = state.clone();
    let empty = web::block(move || st.tenants.registry().is_empty()).await??;
    if !empty {
        // Someone created an organisation another way: the link is spent.
        *state.setup_token.lock().unwrap_or_else(|p| p.into_inner()) = None;
        return Err(AppError::NotFound);
    }
    Ok(())
}

fn form_page(csrf: &FormToken, token: &str, form: Option<&SetupForm>) -> SetupPage {
    let field = |f: fn(&SetupForm) -> &String| form.map(|x| f(x).clone()).unwrap_or_default();
    SetupPage {
        chrome: None,
        csrf: csrf.token().to_owned(),
        action: format!("/setup/{token}"),
        slug: field(|f| &f.slug),
        org_name: field(|f| &f.org_name),
        name: field(|f| &f.name),
        email: field(|f| &f.email),
        error: None,
    }
}

pub async fn form(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    token: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    check_open(&state, &token).await?;
    let csrf = FormToken::new(&req, &session);
    let page = html(StatusCode::OK, &form_page(&csrf, &token, None));
    csrf.respond(page)
}

/// Checks the form without touching any data: the values to create, or a message.
fn validate(form: &SetupForm) -> Result<(Slug, String, String, String), String> {
    let slug = Slug::parse(&form.slug).map_err(|e| sentence(&e.to_string()))?;
    let org_name = check_org_name(&form.org_name)
        .map_err(|e| sentence(&e.to_string()))?
        .to_owned();
    let name = users::check_name(&form.name).map_err(|e| sentence(&e.to_string()))?;
    let email = users::normalise_email(&form.email).map_err(|e| sentence(&e.to_string()))?;
    if form.password != form.confirm_password {
        return Err("The two passwords do not match.".to_owned());
    }
    let local = email.split('@').next().unwrap_or("");
    password::check_policy(&form.password, &[&email, local, slug.as_str(), &org_name])
        .map_err(|e| sentence(&e.to_string()))?;
    Ok((slug, org_name, name, email))
}

pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    token: web::Path<String>,
    form: web::Form<SetupForm>,
) -> Result<HttpResponse, AppError> {
    let token = token.into_inner();
    check_open(&state, &token).await?;
    let form = form.into_inner();
    let retry = |error: String| {
        let mut page = form_page(&FormToken::new(&req, &session), &token, Some(&form));
        page.error = Some(error);
        html(StatusCode::UNPROCESSABLE_ENTITY, &page)
    };
    let (slug, org_name, name, email) = match validate(&form) {
        Ok(v) => v,
        Err(e) => return retry(e),
    };
    let permit = state.hashing.acquire().await.map_err(AppError::internal)?;
    let secret = form.password.clone();
    let hash = web::block(move || password::hash(&secret))
        .await?
        .map_err(AppError::internal)?;
    drop(permit);
    // Take the token now, so two submissions cannot both create an organisation.
    {
        let mut live = state.setup_token.lock().unwrap_or_else(|p| p.into_inner());
        let matches = live
            .as_deref()
            .is_some_and(|t| bool::from(t.as_bytes().ct_eq(token.as_bytes())));
        if !matches {
            return Err(AppError::NotFound);
        }
        *live = None;
    }
    let st = state.clone();
    let created = web::block(move || create(&st, &slug, &org_name, &name, &email, hash)).await?;
    match created {
        Ok(()) => Ok(see_other("/login")),
        Err(SetupError::Refused(message)) => {
            // Nothing was created: the link stays usable.
            *state.setup_token.lock().unwrap_or_else(|p| p.into_inner()) = Some(token.clone());
            retry(message)
        }
        Err(SetupError::Failed(e)) => Err(e),
    }
}

enum SetupError {
    /// Nothing was created; the person can correct the form.
    Refused(String),
    Failed(AppError),
}

fn create(
    state: &AppState,
    slug: &Slug,
    org_name: &str,
    name: &str,
    email: &str,
    hash: String,
) -> Result<(), SetupError> {
    let registry = state.tenants.registry();
    match registry.is_empty() {
        Ok(true) => {}
        Ok(false) => return Err(SetupError::Failed(AppError::NotFound)),
        Err(e) => return Err(SetupError::Failed(e.into())),
    }
    registry.create_org(slug, org_name).map_err(|e| match e {
        TenancyError::Slug(_) | TenancyError::BadName | TenancyError::Duplicate(_) => {
            SetupError::Refused(sentence(&e.to_string()))
        }
        e => SetupError::Failed(e.into()),
    })?;
    let failed = |e: AppError| {
        log::error!("first-run setup created organisation {slug} but not its administrator");
        SetupError::Failed(e)
    };
    let org = state
        .tenants
        .by_slug(slug)
        .map_err(|e| failed(e.into()))?
        .ok_or_else(|| failed(AppError::internal("new organisation not found")))?;
    let id = users::create(
        &org,
        NewUser {
            email,
            name,
            roles: Roles::of(&[Role::Admin, Role::Employee]),
            manager: None,
            password_hash: Some(hash),
        },
    )
    .map_err(|e: UserError| failed(e.into()))?;
    audit::record(
        &org,
        Some(id),
        Some(id),
        Action::OrganisationSetUp,
        "first-run setup",
    )
    .map_err(|e| failed(e.into()))?;
    log::info!("first-run setup created organisation {slug}");
    Ok(())
}
