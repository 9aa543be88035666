//! Who may call each route. Every resource is wrapped by `enforce`, which looks up the
//! matched route in the route table (`routes::ROUTES`), resolves the signed-in user
//! once, and answers 303 to /login, 303 to MFA enrolment, or 403 before the handler runs.

use std::future::{Ready, ready};
use std::sync::Arc;

use actix_session::SessionExt;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, web};

use super::layout::{Chrome, NavLink};
use super::session::{self, Identity};
use super::{AppError, AppState, routes};
use crate::auth::users::UserRow;
use crate::auth::{Role, Roles, policy};
use crate::crypto::Revealed;
use crate::db::now_unix;
use crate::ids::{OrgId, UserId};
use crate::tenancy::Org;

/// What a route requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not.
    Public,
    /// Any signed-in user, including one who must still enrol in MFA.
    Enrolling,
    /// Any signed-in user who has done what policy requires.
    SignedIn,
    /// A signed-in user holding at least one of these roles.
    Roles(Roles),
}

impl Access {
    pub const fn roles(list: &[Role]) -> Access {
        Access::Roles(Roles::of(list))
    }
}

/// The signed-in user of this request, resolved by `enforce`.
#[derive(Clone)]
pub struct CurrentUser(Arc<Inner>);

pub struct Inner {
    pub org: Arc<Org>,
    pub user: UserRow,
    pub name: Revealed,
    pub roles: Roles,
    pub csrf: String,
    pub must_enrol: bool,
}

impl CurrentUser {
    pub fn id(&self) -> UserId {
        self.0.user.user_id()
    }

    pub fn org(&self) -> &Arc<Org> {
        &self.0.org
    }

    pub fn user(&self) -> &UserRow {
        &self.0.user
    }

    pub fn roles(&self) -> Roles {
        self.0.roles
    }

    pub fn has(&self, role: Role) -> bool {
        self.0.roles.contains(role)
    }

    /// Policy requires MFA for one of this user's roles and they have not enrolled.
    pub fn must_enrol(&self) -> bool {
        self.0.must_enrol
    }

    pub fn csrf(&self) -> &str {
        &self.0.csrf
    }

    /// The page header for this user: only links their roles can open.
    pub fn chrome(&self) -> Chrome {
        let mut links = vec![NavLink {
            href: "/",
            label: "Home",
        }];
        if self.0.must_enrol {
            links = vec![NavLink {
                href: "/account/mfa",
                label: "Set up two-step sign-in",
            }];
        } else {
            if self.has(Role::Employee) {
                links.push(NavLink {
                    href: "/claims",
                    label: "My claims",
                });
            }
            if self.has(Role::Manager) || self.has(Role::Finance) {
                links.push(NavLink {
                    href: "/approvals",
                    label: "Approvals",
                });
            }
            if self.has(Role::Finance) {
                links.push(NavLink {
                    href: "/finance",
                    label: "Finance",
                });
            }
            if self.has(Role::Admin) {
                links.push(NavLink {
                    href: "/admin/users",
                    label: "Users",
                });
            }
            if self.has(Role::Dpo) {
                links.push(NavLink {
                    href: "/privacy/requests",
                    label: "Privacy",
                });
            }
            if self.has(Role::Dpo) || self.has(Role::Admin) {
                links.push(NavLink {
                    href: "/audit",
                    label: "Audit log",
                });
            }
            if self.has(Role::Dpo) {
                links.push(NavLink {
                    href: "/privacy/people",
                    label: "People's data",
                });
            }
            links.push(NavLink {
                href: "/account",
                label: "Account",
            });
        }
        Chrome {
            org_name: self.0.org.name.clone(),
            user_name: self.0.name.to_string(),
            csrf_token: self.0.csrf.clone(),
            links,
        }
    }
}

impl FromRequest for CurrentUser {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // Present only where the route table requires sign-in.
        ready(
            req.extensions()
                .get::<CurrentUser>()
                .cloned()
                .ok_or(AppError::SignIn),
        )
    }
}

fn see_other(req: ServiceRequest, to: &str) -> ServiceResponse<BoxBody> {
    let resp = HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .finish();
    req.into_response(resp)
}

/// Resolves the session's identity to a live user, or `None` if the session is no
/// longer valid (user gone, deactivated, erased, or the session version moved on).
/// Every check reads the database, on every request: nothing about the user is cached.
/// A failure is logged with the organisation's slug: a damaged database affects only it.
fn load(
    org: Arc<Org>,
    conn: &mut diesel::SqliteConnection,
    id: &Identity,
    csrf: String,
) -> Result<Option<CurrentUser>, AppError> {
    let named = |e: AppError| {
        log::error!("organisation {}: {e}", org.slug);
        e
    };
    let found =
        policy::user_and_mfa_policy_in(conn, UserId(id.user)).map_err(|e| named(e.into()))?;
    let Some((user, mfa_required)) = found else {
        return Ok(None);
    };
    if !user.active
        || user.session_version != id.version
        || !org.keys.is_alive(user.person_key())?
    {
        return Ok(None);
    }
    let roles = user.roles();
    let must_enrol = !user.mfa_enabled && mfa_required.intersects(roles);
    let name = org.keys.open(&user.name)?;
    Ok(Some(CurrentUser(Arc::new(Inner {
        org,
        user,
        name,
        roles,
        csrf,
        must_enrol,
    }))))
}

/// [`load`], opening the organisation first if it is not open yet.
fn open_and_load(
    state: &AppState,
    id: &Identity,
    csrf: String,
) -> Result<Option<CurrentUser>, AppError> {
    match state.tenants.get(OrgId(id.org)) {
        Ok(org) => load_waiting(org, id, csrf),
        Err(crate::tenancy::TenancyError::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// [`load`] on a connection waited for (on a blocking thread).
fn load_waiting(
    org: Arc<Org>,
    id: &Identity,
    csrf: String,
) -> Result<Option<CurrentUser>, AppError> {
    let mut conn = org.conn()?;
    load(org, &mut conn, id, csrf)
}

/// The per-resource guard; see the module docs.
pub async fn enforce(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let pattern = req.match_pattern().unwrap_or_default();
    let access = routes::access_for(&pattern, req.method().as_str());
    let access = match access {
        // A route missing from the table admits nobody.
        None => return Ok(req.into_response(AppError::Forbidden.error_response_page())),
        Some(Access::Public) => return Ok(next.call(req).await?.map_into_boxed_body()),
        Some(a) => a,
    };
    let session = req.get_session();
    let Some(id) = session::identity(&session) else {
        return Ok(see_other(req, "/login"));
    };
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        let e = AppError::internal("application state missing");
        return Ok(req.into_response(e.error_response_page()));
    };
    let now = now_unix();
    let settings = &state.settings;
    if now - id.seen > settings.session_idle.as_secs() as i64
        || now - id.issued > settings.session_absolute.as_secs() as i64
    {
        session.purge();
        return Ok(see_other(req, "/login"));
    }
    let csrf = session::csrf_token(&session);
    // An open organisation's user is two indexed point reads on a local SQLite file
    // (microseconds, and WAL readers never wait for writers): done here, on a free
    // connection, as moving to a blocking thread and back would cost more than the
    // reads. Waiting for a connection (long reads have all of them), or opening an
    // organisation (real I/O), goes to a blocking thread: an async worker that waited
    // would stall every organisation's requests behind it.
    let cached = state.tenants.cached(OrgId(id.org));
    let free = cached.as_ref().and_then(|org| org.try_conn());
    let loaded = match (cached, free) {
        (Some(org), Some(mut conn)) => load(org, &mut conn, &id, csrf),
        (Some(org), None) => web::block(move || load_waiting(org, &id, csrf))
            .await
            .unwrap_or_else(|e| Err(AppError::from(e))),
        (None, _) => web::block(move || open_and_load(&state, &id, csrf))
            .await
            .unwrap_or_else(|e| Err(AppError::from(e))),
    };
    // Failures become the error page here, inside the header and error middleware.
    let loaded = match loaded {
        Ok(loaded) => loaded,
        Err(e) => return Ok(req.into_response(e.error_response_page())),
    };
    let Some(user) = loaded else {
        session.purge();
        return Ok(see_other(req, "/login"));
    };
    session::touch(&session, &id);
    if user.0.must_enrol && access != Access::Enrolling {
        return Ok(see_other(req, "/account/mfa"));
    }
    if let Access::Roles(allowed) = access
        && !user.roles().intersects(allowed)
    {
        return Ok(req.into_response(AppError::Forbidden.error_response_page()));
    }
    let slug = user.org().slug.clone();
    req.extensions_mut().insert(user);
    let res = next.call(req).await?.map_into_boxed_body();
    if res.status().is_server_error() {
        log::error!(
            "a request of organisation {slug} failed with status {}",
            res.status().as_u16()
        );
    }
    Ok(res)
}
