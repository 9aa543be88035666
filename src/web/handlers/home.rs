//! The start page: what each of the user's roles can do from here.

use actix_session::Session;
use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use askama::Template;

use crate::auth::Role;
use crate::web::access::CurrentUser;
use crate::web::layout::{Chrome, html};
use crate::web::{AppError, session};

pub struct Tile {
    pub title: &'static str,
    pub text: &'static str,
    pub href: &'static str,
    pub action: &'static str,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    chrome: Option<Chrome>,
    name: String,
    roles: String,
    notice: Option<String>,
    mfa_enabled: bool,
    tiles: Vec<Tile>,
}

pub async fn dashboard(user: CurrentUser, session: Session) -> Result<HttpResponse, AppError> {
    let mut tiles = Vec::new();
    if user.has(Role::Employee) {
        tiles.push(Tile {
            title: "Your claims",
            text: "Start a claim, add its lines and submit it to your manager.",
            href: "/claims",
            action: "My claims",
        });
    }
    if user.has(Role::Manager) || user.has(Role::Finance) {
        tiles.push(Tile {
            title: "Approvals",
            text: "Claims waiting for your decision, with any policy flags.",
            href: "/approvals",
            action: "Open approvals",
        });
    }
    if user.has(Role::Admin) {
        tiles.push(Tile {
            title: "People and roles",
            text: "Invite people, set their roles and managers, and choose who must use two-step sign-in.",
            href: "/admin/users",
            action: "Manage users",
        });
    }
    if user.has(Role::Dpo) || user.has(Role::Admin) {
        tiles.push(Tile {
            title: "Audit log",
            text: "Every sign-in, change and view of personal data, in a tamper-evident chain.",
            href: "/audit",
            action: "Open the audit log",
        });
    }
    tiles.push(Tile {
        title: "Your account",
        text: "Change your password, sign out of other devices and manage two-step sign-in.",
        href: "/account",
        action: "Account settings",
    });
    let page = HomePage {
        chrome: Some(user.chrome()),
        name: user.chrome().user_name,
        roles: user
            .roles()
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        notice: session::take_notice(&session),
        mfa_enabled: user.user().mfa_enabled,
        tiles,
    };
    html(StatusCode::OK, &page)
}
