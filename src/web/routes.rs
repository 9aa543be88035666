//! Every route with the roles it admits, in one table. `configure` registers them, each
//! resource wrapped by `access::enforce` (and by the guard named after `wrap`, if any),
//! and the route x role test walks `ROUTES`.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::{Next, from_fn};
use actix_web::{Route, guard, web};

use super::access::{self, Access};
use super::app::loggable_path;
use super::errors::error_page;
use super::handlers::{
    account, admin, audit, claims, home, login, privacy, privacy_breaches, privacy_people,
    privacy_request_ops, reset, setup,
};
use super::{pages, static_files};
use crate::auth::Role::{Admin, Dpo, Employee, Finance, Manager};

/// One method on one path, and who may call it.
#[derive(Debug, Clone, Copy)]
pub struct RouteSpec {
    pub path: &'static str,
    pub method: &'static str,
    pub access: Access,
}

const DPO_ADMIN: Access = Access::roles(&[Dpo, Admin]);
const EMPLOYEE: Access = Access::roles(&[Employee]);
const APPROVERS: Access = Access::roles(&[Manager, Finance]);
const FINANCE: Access = Access::roles(&[Finance]);
const ADMIN: Access = Access::roles(&[Admin]);
/// The data protection officer's registers and people pages.
const DPO: Access = Access::roles(&[Dpo]);
const MANAGER: Access = Access::roles(&[Manager]);

macro_rules! route_table {
    ($($path:literal => [$($method:ident $access:expr => $handler:path),+ $(,)?] $(wrap $guard:path)?,)*) => {
        pub const ROUTES: &[RouteSpec] = &[
            $($(RouteSpec { path: $path, method: stringify!($method), access: $access },)+)*
        ];

        pub fn configure(cfg: &mut web::ServiceConfig) {
            $(
                cfg.service(
                    web::resource($path)
                        $(.route(method(stringify!($method), $access).to($handler)))+
                        // Inside `enforce`: the guard sees only people the route admits.
                        $(.wrap(from_fn($guard)))?
                        .wrap(from_fn(access::enforce)),
                );
            )*
        }
    };
}

/// Said when another site tried to start a download.
pub const STARTED_ELSEWHERE: &str = "This download must be started from ExpensePlus itself. A link on another site tried to start it, so nothing was exported. Open ExpensePlus and start the download there.";

/// For GETs that make an export: it is audited as the person's own choice and takes
/// their export turn, and the session cookie (SameSite=Lax) still comes with a link
/// followed from another site. So a browser that says another site started the request
/// (`Sec-Fetch-Site: cross-site`) is refused. Without the header (a script, an older
/// browser) the request goes on, as it must for clients that never send it.
pub async fn started_here(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let cross_site = req
        .headers()
        .get(header::HeaderName::from_static("sec-fetch-site"))
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"));
    if cross_site {
        log::warn!(
            "refused a download started from another site: {}",
            loggable_path(req.path())
        );
        let page = error_page(StatusCode::FORBIDDEN, Some(STARTED_ELSEWHERE));
        return Ok(req.into_response(page));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// A public page answers HEAD as it answers GET (a load balancer's health check);
/// other pages do not, or a HEAD would write the audit entries and exports a GET does.
fn method(name: &str, access: Access) -> Route {
    match name {
        "POST" => web::post(),
        _ if access == Access::Public => {
            web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
        }
        _ => web::get(),
    }
}

route_table! {
    "/healthz" => [GET Access::Public => pages::healthz],
    "/static/{name}" => [GET Access::Public => static_files::serve],
    "/login" => [GET Access::Public => login::form, POST Access::Public => login::submit],
    "/login/mfa" => [GET Access::Public => login::mfa_form, POST Access::Public => login::mfa_submit],
    "/logout" => [POST Access::Public => login::logout],
    "/" => [GET Access::SignedIn => home::dashboard],
    "/account" => [GET Access::SignedIn => account::page],
    "/account/password" => [POST Access::SignedIn => account::change_password],
    "/account/sessions/end" => [POST Access::SignedIn => account::end_sessions],
    "/account/mfa" => [GET Access::Enrolling => account::mfa_page, POST Access::Enrolling => account::mfa_confirm],
    "/account/mfa/password" => [POST Access::Enrolling => account::prove_password],
    "/audit" => [GET DPO_ADMIN => audit::page],
    "/setup/{token}" => [GET Access::Public => setup::form, POST Access::Public => setup::submit],
    "/admin/users" => [GET ADMIN => admin::list, POST ADMIN => admin::create],
    "/admin/users/{id}" => [GET ADMIN => admin::show],
    "/admin/users/{id}/roles" => [POST ADMIN => admin::set_roles],
    "/admin/users/{id}/manager" => [POST ADMIN => admin::set_manager],
    "/admin/users/{id}/active" => [POST ADMIN => admin::set_active],
    "/admin/users/{id}/reset" => [POST ADMIN => admin::issue_reset],
    "/admin/users/{id}/mfa-reset" => [POST ADMIN => admin::reset_mfa],
    "/admin/policy" => [GET ADMIN => super::handlers::admin_policy::show, POST ADMIN => super::handlers::admin_policy::save],
    "/claims" => [GET EMPLOYEE => super::handlers::claims_list::list, POST EMPLOYEE => super::handlers::claims_list::create],
    "/claims/{id}" => [GET Access::SignedIn => claims::show],
    "/claims/{id}/lines" => [POST EMPLOYEE => claims::add_line],
    "/claims/{id}/receipts/{receipt}" => [GET Access::SignedIn => super::handlers::claims_receipts::download],
    "/claims/{id}/submit" => [POST EMPLOYEE => claims::submit],
    "/claims/{id}/discard" => [POST EMPLOYEE => super::handlers::claims_list::discard],
    "/approvals" => [GET APPROVERS => super::handlers::approvals::approvals],
    "/claims/{id}/approve" => [POST APPROVERS => claims::approve],
    "/claims/{id}/reject" => [POST APPROVERS => claims::reject],
    "/claims/{id}/return" => [POST APPROVERS => claims::send_back],
    "/claims/{id}/paid" => [POST FINANCE => claims::mark_paid],
    "/finance" => [GET FINANCE => super::handlers::finance::show],
    "/finance/pay" => [POST FINANCE => super::handlers::finance::pay],
    "/finance/export.csv" => [GET FINANCE => super::handlers::finance::export] wrap started_here,
    "/claims/{id}/lines/{line}/edit" => [GET EMPLOYEE => super::handlers::claims_lines::edit_form, POST EMPLOYEE => super::handlers::claims_lines::edit],
    "/claims/{id}/lines/{line}/remove" => [POST EMPLOYEE => super::handlers::claims_lines::remove],
    "/approvals/delegations" => [POST MANAGER => super::handlers::approvals::add_delegation],
    "/approvals/delegations/{id}/remove" => [POST MANAGER => super::handlers::approvals::remove_delegation],
    "/admin/expense-policy" => [GET ADMIN => super::handlers::expense_policy::show, POST ADMIN => super::handlers::expense_policy::save],
    "/reset/{org}/{token}" => [GET Access::Public => reset::form, POST Access::Public => reset::submit],
    "/me/data" => [GET Access::SignedIn => super::handlers::me::data] wrap started_here,
    "/privacy/people" => [GET DPO => privacy_people::list],
    "/privacy/people/{id}" => [GET DPO => privacy_people::show],
    "/privacy/people/{id}/export" => [GET DPO => privacy_people::export] wrap started_here,
    "/privacy/people/{id}/rectify" => [POST DPO => privacy_people::rectify],
    "/privacy/people/{id}/restrict" => [POST DPO => privacy_people::restrict],
    "/privacy/people/{id}/lift" => [POST DPO => privacy_people::lift],
    "/privacy/people/{id}/erase" => [POST DPO => privacy_people::erase],
    "/privacy/retention" => [GET DPO => super::handlers::privacy_retention::retention, POST DPO => super::handlers::privacy_retention::save_retention],
    "/privacy/backups" => [GET DPO => super::handlers::privacy_backups::page],
    "/privacy/requests" => [GET DPO => privacy::list, POST DPO => privacy::create],
    "/privacy/requests/{id}" => [GET DPO => privacy::show],
    "/privacy/requests/{id}/ask-identity" => [POST DPO => privacy::ask_identity],
    "/privacy/requests/{id}/verify" => [POST DPO => privacy::verify],
    "/privacy/requests/{id}/start" => [POST DPO => privacy::start],
    "/privacy/requests/{id}/complete" => [POST DPO => privacy::complete],
    "/privacy/requests/{id}/refuse" => [POST DPO => privacy::refuse],
    "/privacy/requests/{id}/extend" => [POST DPO => privacy::extend],
    "/privacy/requests/{id}/note" => [POST DPO => privacy::note],
    "/privacy/requests/{id}/export" => [GET DPO => privacy_request_ops::export] wrap started_here,
    "/privacy/requests/{id}/erase" => [POST DPO => privacy_request_ops::erase],
    "/me/privacy" => [GET Access::SignedIn => privacy::me, POST Access::SignedIn => privacy::me_create],
    "/privacy/breaches" => [GET DPO => privacy_breaches::list, POST DPO => privacy_breaches::create],
    "/privacy/breaches/{id}" => [GET DPO => privacy_breaches::show, POST DPO => privacy_breaches::update],
    "/privacy/notices/{id}/ack" => [POST DPO => privacy_breaches::acknowledge],
    "/privacy/records" => [GET DPO_ADMIN => privacy_breaches::records],
}

/// The access rule for a matched route pattern and method, if the table has one.
pub fn access_for(pattern: &str, method: &str) -> Option<Access> {
    let find = |method: &str| {
        ROUTES
            .iter()
            .find(|r| r.path == pattern && r.method == method)
            .map(|r| r.access)
    };
    match method {
        "HEAD" => find("GET").filter(|a| *a == Access::Public),
        other => find(other),
    }
}
