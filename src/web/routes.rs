//! Every route with the roles it admits, in one table. `configure` registers them, each
//! resource wrapped by `access::enforce`, and the route x role test walks `ROUTES`.

use actix_web::middleware::from_fn;
use actix_web::{Route, web};

use super::access::{self, Access};
use super::handlers::{account, home, login};
use super::{pages, static_files};
use crate::auth::Role::{Admin, Dpo};

/// One method on one path, and who may call it.
#[derive(Debug, Clone, Copy)]
pub struct RouteSpec {
    pub path: &'static str,
    pub method: &'static str,
    pub access: Access,
}

const DPO_ADMIN: Access = Access::roles(&[Dpo, Admin]);
#[allow(dead_code)]
const ADMIN: Access = Access::roles(&[Admin]);

macro_rules! route_table {
    ($($path:literal => [$($method:ident $access:expr => $handler:path),+ $(,)?],)*) => {
        pub const ROUTES: &[RouteSpec] = &[
            $($(RouteSpec { path: $path, method: stringify!($method), access: $access },)+)*
        ];

        pub fn configure(cfg: &mut web::ServiceConfig) {
            $(
                cfg.service(
                    web::resource($path)
                        $(.route(method(stringify!($method)).to($handler)))+
                        .wrap(from_fn(access::enforce)),
                );
            )*
        }
    };
}

fn method(name: &str) -> Route {
    match name {
        "POST" => web::post(),
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
    "/audit" => [GET DPO_ADMIN => pages::not_yet],
}

/// The access rule for a matched route pattern and method, if the table has one.
pub fn access_for(pattern: &str, method: &str) -> Option<Access> {
    ROUTES
        .iter()
        .find(|r| r.path == pattern && r.method == method)
        .map(|r| r.access)
}
