//! The organisation admin pages: people, their roles, managers and status, reset
//! links, and which roles must use two-step sign-in. The route table admits admins only.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::audit::{self, Action};
use crate::auth::account::{self, AccountError};
use crate::auth::password::PasswordError;
use crate::auth::session_sealed;
use crate::auth::users::{self, NewUser, UserError, UserView};
use crate::auth::{Role, Roles};
use crate::crypto::columns::PendingResetLink;
use crate::ids::UserId;
use crate::tenancy::Org;
use crate::web::access::CurrentUser;
use crate::web::forms::{Fields, field};
use crate::web::layout::{Chrome, html, see_other, sentence};
use crate::web::{AppError, session};

/// A new reset link (person id, path) waiting to be shown once, on that person's page.
const RESET_LINK: &str = "admin_reset_link";

/// One person as the admin pages show them.
struct Row {
    id: i64,
    name: String,
    email: String,
    roles: String,
    manager: String,
    active: bool,
    mfa: bool,
}

pub(super) struct RoleBox {
    pub(super) value: &'static str,
    pub(super) checked: bool,
}

struct Choice {
    id: i64,
    label: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    chrome: Option<Chrome>,
    csrf: String,
    notice: Option<String>,
    error: Option<String>,
    rows: Vec<Row>,
    name: String,
    email: String,
    roles: Vec<RoleBox>,
    managers: Vec<Choice>,
}

#[derive(Template)]
#[template(path = "admin_user.html")]
struct UserPage {
    chrome: Option<Chrome>,
    csrf: String,
    notice: Option<String>,
    error: Option<String>,
    reset_link: Option<String>,
    person: Row,
    is_self: bool,
    roles: Vec<RoleBox>,
    managers: Vec<Choice>,
}

/// The ticked roles: the known ones, and a message if any value was not a role.
pub(super) fn roles_in(fields: &[(String, String)]) -> (Roles, Option<String>) {
    let mut roles = Roles::NONE;
    let mut error = None;
    for (_, value) in fields.iter().filter(|(k, _)| k == "role") {
        match Role::parse(value) {
            Some(role) => roles = roles.with(role),
            None => error = Some("Choose roles from the list.".to_owned()),
        }
    }
    (roles, error)
}

fn manager_in(fields: &[(String, String)]) -> Result<Option<UserId>, String> {
    let value = field(fields, "manager").trim();
    if value.is_empty() {
        return Ok(None);
    }
    value
        .parse::<i64>()
        .map(|id| Some(UserId(id)))
        .map_err(|_| "Choose a manager from the list.".to_owned())
}

/// A refusal the person can act on becomes a sentence for the page; a fault is an error.
pub(crate) fn refusal(e: AccountError) -> Result<String, AppError> {
    match e {
        AccountError::User(UserError::Db(e)) => Err(e.into()),
        AccountError::User(UserError::Crypto(e)) => Err(e.into()),
        AccountError::User(UserError::Password(PasswordError::Hashing)) => {
            Err(AppError::internal("password hashing failed"))
        }
        AccountError::User(UserError::NotFound) => {
            Ok("That person is not in this organisation.".to_owned())
        }
        e => Ok(sentence(&e.to_string())),
    }
}

/// Where no refusal is expected, any error is a fault.
pub(crate) fn fault(e: AccountError) -> AppError {
    refusal(e).map_or_else(|e| e, AppError::internal)
}

pub(super) fn role_boxes(roles: Roles) -> Vec<RoleBox> {
    Role::ALL
        .into_iter()
        .map(|r| RoleBox {
            value: r.as_str(),
            checked: roles.contains(r),
        })
        .collect()
}

type People = Vec<(UserView, bool)>;

/// Everyone as the pages show them, managers by name.
fn rows(people: &People) -> Vec<Row> {
    let name_of = |id: UserId| {
        people
            .iter()
            .find(|(v, _)| v.id == id)
            .map(|(v, _)| &v.name)
    };
    let rows = people.iter().map(|(v, mfa)| Row {
        id: v.id.0,
        name: v.name.to_string(),
        email: v.email.to_string(),
        roles: v.roles.to_string().replace(',', ", "),
        manager: v
            .manager_id
            .and_then(name_of)
            .map(ToString::to_string)
            .unwrap_or_default(),
        active: v.active,
        mfa: *mfa,
    });
    rows.collect()
}

/// Everyone who can be chosen as a manager (not `except`, who would manage themselves).
fn choices(people: &People, selected: Option<UserId>, except: Option<UserId>) -> Vec<Choice> {
    people
        .iter()
        .filter(|(v, _)| Some(v.id) != except)
        .map(|(v, _)| Choice {
            id: v.id.0,
            label: format!("{} ({})", v.name, v.email),
            selected: Some(v.id) == selected,
        })
        .collect()
}

/// Everyone in the organisation, opened; the listing is audited as one view of
/// personal data (the count only, no names).
async fn people(user: &CurrentUser) -> Result<People, AppError> {
    let (org, actor) = (user.org().clone(), user.id());
    web::block(move || {
        let people = account::list_with_mfa(&org)?;
        let detail = format!("user list ({} people)", people.len());
        crate::audit::record(
            &org,
            Some(actor),
            None,
            crate::audit::Action::ViewedPerson,
            &detail,
        )?;
        Ok::<_, account::AccountError>(people)
    })
    .await?
    .map_err(fault)
}

#[derive(Default)]
struct Draft {
    name: String,
    email: String,
    roles: Roles,
    manager: Option<UserId>,
}

fn users_page(
    user: &CurrentUser,
    people: &People,
    notice: Option<String>,
    error: Option<String>,
    draft: Draft,
) -> UsersPage {
    UsersPage {
        chrome: Some(user.chrome()),
        csrf: user.csrf().to_owned(),
        notice,
        error,
        rows: rows(people),
        name: draft.name,
        email: draft.email,
        roles: role_boxes(draft.roles),
        managers: choices(people, draft.manager, None),
    }
}

pub async fn list(user: CurrentUser, session: Session) -> Result<HttpResponse, AppError> {
    let people = people(&user).await?;
    let notice = session::take_notice(&session);
    let page = users_page(&user, &people, notice, None, Draft::default());
    html(StatusCode::OK, &page)
}

/// Keeps a new reset link, sealed under its person's key, for that person's page.
fn remember_link(session: &Session, id: UserId, sealed: String) -> Result<(), AppError> {
    session
        .insert(RESET_LINK, (id.0, sealed))
        .map_err(AppError::internal)
}

/// The path of the link waiting for this person's page, removed as it is shown.
async fn take_link(
    session: &Session,
    user: &CurrentUser,
    id: UserId,
) -> Result<Option<String>, AppError> {
    let Some((person, sealed)) = session.get::<(i64, String)>(RESET_LINK).ok().flatten() else {
        return Ok(None);
    };
    if person != id.0 {
        return Ok(None);
    }
    session.remove(RESET_LINK);
    let org = user.org().clone();
    let token = web::block(move || session_sealed::open::<PendingResetLink>(&org, id, &sealed))
        .await?
        .map_err(AppError::internal)?;
    Ok(token.map(|t| format!("/reset/{}/{t}", user.org().slug)))
}

pub async fn create(
    user: CurrentUser,
    session: Session,
    form: Fields,
) -> Result<HttpResponse, AppError> {
    let fields = form.into_inner();
    let (roles, bad_role) = roles_in(&fields);
    let manager = manager_in(&fields);
    let draft = Draft {
        name: field(&fields, "name").to_owned(),
        email: field(&fields, "email").to_owned(),
        roles,
        manager: manager.clone().ok().flatten(),
    };
    let error = match (bad_role, manager) {
        (Some(message), _) | (None, Err(message)) => message,
        (None, Ok(manager)) => {
            let (org, actor) = (user.org().clone(), user.id());
            let (name, email) = (draft.name.clone(), draft.email.clone());
            let new = move || {
                let new = NewUser {
                    email: &email,
                    name: &name,
                    roles,
                    manager,
                    password_hash: None,
                };
                let (id, token) = account::invite(&org, actor, new)?;
                let person = users::get(&org, id)?.ok_or(UserError::NotFound)?;
                let sealed = session_sealed::seal::<PendingResetLink>(&org, &person, &token)?;
                Ok::<_, AccountError>((id, sealed))
            };
            match web::block(new).await? {
                Ok((id, sealed)) => {
                    remember_link(&session, id, sealed)?;
                    session::set_notice(
                        &session,
                        "The user was created. Send them the link below so they can set a password.",
                    );
                    return Ok(see_other(&format!("/admin/users/{id}")));
                }
                Err(e) => refusal(e)?,
            }
        }
    };
    let people = people(&user).await?;
    let page = users_page(&user, &people, None, Some(error), draft);
    html(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

/// One person's page; unknown ids are a 404.
async fn user_page(
    user: &CurrentUser,
    id: UserId,
    error: Option<String>,
) -> Result<UserPage, AppError> {
    let people = people(user).await?;
    let Some((view, _)) = people.iter().find(|(v, _)| v.id == id) else {
        return Err(AppError::NotFound);
    };
    let person = rows(&people).into_iter().find(|r| r.id == id.0);
    Ok(UserPage {
        chrome: Some(user.chrome()),
        csrf: user.csrf().to_owned(),
        notice: None,
        error,
        reset_link: None,
        person: person.ok_or(AppError::NotFound)?,
        is_self: id == user.id(),
        roles: role_boxes(view.roles),
        managers: choices(&people, view.manager_id, Some(id)),
    })
}

pub async fn show(
    user: CurrentUser,
    session: Session,
    path: web::Path<i64>,
    req: actix_web::HttpRequest,
) -> Result<HttpResponse, AppError> {
    let id = UserId(path.into_inner());
    let mut page = user_page(&user, id, None).await?;
    if id != user.id() {
        let (org, actor) = (user.org().clone(), user.id());
        web::block(move || audit::record(&org, Some(actor), Some(id), Action::ViewedPerson, ""))
            .await??;
    }
    page.notice = session::take_notice(&session);
    // The whole address, at the host the admin's own browser reached, ready to send.
    // Always https: the link carries a one-time token, and the scheme this request
    // came in by says nothing about the person's (behind a TLS-terminating proxy,
    // `--plain-http` sees `http` unless the proxy says otherwise).
    let host = req.connection_info().host().to_owned();
    let path = take_link(&session, &user, id).await?;
    page.reset_link = path.map(|path| format!("https://{host}{path}"));
    html(StatusCode::OK, &page)
}

async fn refuse(user: &CurrentUser, id: UserId, message: String) -> Result<HttpResponse, AppError> {
    let page = user_page(user, id, Some(message)).await?;
    html(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

/// Runs one change to a person, then goes back to their page with `notice`, or shows
/// the page again with the refusal. `op` gets (org, actor, person) and may return a
/// reset token to show once.
async fn change<F>(
    user: CurrentUser,
    session: Session,
    id: UserId,
    notice: &str,
    op: F,
) -> Result<HttpResponse, AppError>
where
    F: FnOnce(&Org, UserId, UserId) -> Result<Option<String>, AccountError> + Send + 'static,
{
    let (org, actor) = (user.org().clone(), user.id());
    let outcome = web::block(move || -> Result<Option<Option<String>>, AccountError> {
        let Some(person) = users::get(&org, id)? else {
            return Ok(None);
        };
        let token = op(&org, actor, id)?;
        let sealed = token.map(|t| session_sealed::seal::<PendingResetLink>(&org, &person, &t));
        Ok(Some(sealed.transpose()?))
    })
    .await?;
    match outcome {
        Ok(None) => Err(AppError::NotFound),
        Ok(Some(token)) => {
            if let Some(sealed) = token {
                remember_link(&session, id, sealed)?;
            }
            session::set_notice(&session, notice);
            Ok(see_other(&format!("/admin/users/{id}")))
        }
        Err(e) => refuse(&user, id, refusal(e)?).await,
    }
}

pub async fn set_roles(
    user: CurrentUser,
    session: Session,
    path: web::Path<i64>,
    form: Fields,
) -> Result<HttpResponse, AppError> {
    let id = UserId(path.into_inner());
    let (roles, bad_role) = roles_in(&form);
    if let Some(message) = bad_role {
        return refuse(&user, id, message).await;
    }
    let notice = "The roles were changed. Their sessions have ended, so the new roles apply now.";
    change(user, session, id, notice, move |org, actor, id| {
        account::set_roles(org, actor, id, roles).map(|()| None)
    })
    .await
}

pub async fn set_manager(
    user: CurrentUser,
    session: Session,
    path: web::Path<i64>,
    form: Fields,
) -> Result<HttpResponse, AppError> {
    let id = UserId(path.into_inner());
    let manager = match manager_in(&form) {
        Ok(manager) => manager,
        Err(message) => return refuse(&user, id, message).await,
    };
    change(
        user,
        session,
        id,
        "The manager was changed.",
        move |org, actor, id| account::set_manager(org, actor, id, manager).map(|()| None),
    )
    .await
}

pub async fn set_active(
    user: CurrentUser,
    session: Session,
    path: web::Path<i64>,
    form: Fields,
) -> Result<HttpResponse, AppError> {
    let id = UserId(path.into_inner());
    let (active, notice) = match field(&form, "active") {
        "true" => (true, "The user was reactivated and can sign in again."),
        "false" => (false, "The user was deactivated and signed out everywhere."),
        _ => return refuse(&user, id, "Choose deactivate or reactivate.".into()).await,
    };
    change(user, session, id, notice, move |org, actor, id| {
        account::set_active(org, actor, id, active).map(|()| None)
    })
    .await
}

pub async fn issue_reset(
    user: CurrentUser,
    session: Session,
    path: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let id = UserId(path.into_inner());
    let notice = "A password reset link was made. It works once, within 24 hours.";
    change(user, session, id, notice, |org, actor, id| {
        account::issue_reset_token(org, actor, id).map(Some)
    })
    .await
}

/// Turns off the person's two-step sign-in (they lost their device and codes).
pub async fn reset_mfa(
    user: CurrentUser,
    session: Session,
    path: web::Path<i64>,
    form: Fields,
) -> Result<HttpResponse, AppError> {
    let id = UserId(path.into_inner());
    if field(&form, "confirm") != "yes" {
        let why = "Tick the box to confirm: they will sign in with their password alone until they set up two-step sign-in again.";
        return refuse(&user, id, why.into()).await;
    }
    let notice = "Two-step sign-in was turned off and they were signed out everywhere. They sign in with their password, and set it up again where their role requires it.";
    change(user, session, id, notice, |org, actor, id| {
        crate::auth::mfa_reset::reset_mfa(org, actor, id).map(|()| None)
    })
    .await
}
