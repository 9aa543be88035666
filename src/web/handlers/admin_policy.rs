//! The two-step sign-in policy (`/admin/policy`, admins): which roles must use it.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use super::admin::{RoleBox, role_boxes, roles_in};
use crate::auth::{Roles, policy};
use crate::web::access::CurrentUser;
use crate::web::forms::Fields;
use crate::web::layout::{Chrome, html, see_other};
use crate::web::{AppError, session};

#[derive(Template)]
#[template(path = "admin_policy.html")]
struct PolicyPage {
    chrome: Option<Chrome>,
    csrf: String,
    notice: Option<String>,
    error: Option<String>,
    roles: Vec<RoleBox>,
}

fn policy_page(
    user: &CurrentUser,
    notice: Option<String>,
    error: Option<String>,
    roles: Roles,
) -> PolicyPage {
    PolicyPage {
        chrome: Some(user.chrome()),
        csrf: user.csrf().to_owned(),
        notice,
        error,
        roles: role_boxes(roles),
    }
}

pub async fn show(user: CurrentUser, session: Session) -> Result<HttpResponse, AppError> {
    let org = user.org().clone();
    let roles = web::block(move || policy::mfa_required_roles(&org)).await??;
    let page = policy_page(&user, session::take_notice(&session), None, roles);
    html(StatusCode::OK, &page)
}

pub async fn save(
    user: CurrentUser,
    session: Session,
    form: Fields,
) -> Result<HttpResponse, AppError> {
    let (roles, bad_role) = roles_in(&form);
    if let Some(message) = bad_role {
        let page = policy_page(&user, None, Some(message), roles);
        return html(StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    let (org, actor) = (user.org().clone(), user.id());
    web::block(move || policy::save_mfa_required_roles(&org, actor, roles)).await??;
    session::set_notice(&session, "The two-step sign-in policy was saved.");
    Ok(see_other("/admin/policy"))
}
