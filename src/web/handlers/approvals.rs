//! The approvers' queue, and a manager's delegations: naming someone to decide their
//! reports' claims for a range of days, and removing that again. The domain
//! (`expenses::claims::waiting_for`, `expenses::delegation`) decides who sees what.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::claims_list::ListParams;
use super::claims_list::{ClaimItem, items_with_owners};
use crate::audit;
use crate::auth::{Role, users};
use crate::expenses::claims::{self, FieldErrors};
use crate::expenses::delegation::{self, Delegation, DelegationInput};
use crate::expenses::status::Status;
use crate::ids::UserId;
use crate::tenancy::Org;
use crate::web::access::CurrentUser;
use crate::web::layout::{Chrome, count, html, see_other};
use crate::web::{AppError, session};

pub struct DelegationItem {
    pub id: i64,
    pub who: String,
    pub from: String,
    pub to: String,
}

#[derive(Template)]
#[template(path = "approvals.html")]
struct ApprovalsPage {
    chrome: Option<Chrome>,
    csrf: String,
    notice: Option<String>,
    claims: Vec<ClaimItem>,
    /// The link to the next page of the queue, when there is one.
    next: Option<String>,
    /// The filters as typed, for the form.
    q: ListParams,
    statuses: Vec<(&'static str, String)>,
    categories: Vec<(String, String)>,
    filter_errors: Vec<String>,
    filtered: bool,
    is_manager: bool,
    /// (id, name) of people who may be named.
    candidates: Vec<(i64, String)>,
    given: Vec<DelegationItem>,
    received: Vec<DelegationItem>,
    input: DelegationInput,
    errors: Vec<(&'static str, String)>,
}

impl ApprovalsPage {
    fn field_error(&self, field: &str) -> String {
        FieldErrors(self.errors.clone())
            .get(field)
            .unwrap_or_default()
            .to_owned()
    }
}

fn items(org: &Org, rows: Vec<Delegation>, given: bool) -> Result<Vec<DelegationItem>, AppError> {
    let other = |d: &Delegation| UserId(if given { d.delegate_id } else { d.delegator_id });
    let names = users::names(org, rows.iter().map(other))?;
    Ok(rows
        .into_iter()
        .map(|d| DelegationItem {
            id: d.id,
            who: names
                .get(&other(&d))
                .map_or_else(|| "unknown".into(), |n| n.to_string()),
            from: d.starts_on,
            to: d.ends_on,
        })
        .collect())
}

/// Claims shown per page of the queue.
const PAGE: i64 = 50;

/// One page of the queue as filtered, or the messages for bad filter values.
struct Queue {
    claims: Vec<ClaimItem>,
    next: Option<String>,
    categories: Vec<(String, String)>,
    filter_errors: Vec<String>,
}

fn queue(
    org: &Org,
    uid: UserId,
    roles: crate::auth::Roles,
    q: &ListParams,
    after: Option<i64>,
) -> Result<Queue, AppError> {
    let cats = claims::categories(org)?;
    let (mut rows, filter_errors) = match q.check(&cats) {
        Ok((filter, _)) => (
            claims::waiting_for(org, uid, roles, &filter, after, PAGE + 1)?,
            Vec::new(),
        ),
        Err(errors) => (Vec::new(), errors),
    };
    let next = (rows.len() > PAGE as usize).then(|| {
        rows.truncate(PAGE as usize);
        q.page_link("/approvals", ("after", rows[rows.len() - 1].id))
    });
    let claims = items_with_owners(org, &rows)?;
    // Names and titles of other people: a view of each claimant (the count only).
    let detail = format!(
        "approvals queue ({})",
        count(claims.len(), "claim", "claims")
    );
    audit::record_views(org, uid, rows.iter().map(|c| UserId(c.owner_id)), &detail)?;
    Ok(Queue {
        claims,
        next,
        categories: cats.into_iter().map(|c| (c.code, c.label)).collect(),
        filter_errors,
    })
}

async fn page(
    user: &CurrentUser,
    q: ListParams,
    after: Option<i64>,
    input: DelegationInput,
    errors: Vec<(&'static str, String)>,
) -> Result<ApprovalsPage, AppError> {
    let (org, uid, roles) = (user.org().clone(), user.id(), user.roles());
    let is_manager = roles.contains(Role::Manager);
    let params = q.clone();
    let (queue, candidates, given, received) = web::block(move || -> Result<_, AppError> {
        let queue = queue(&org, uid, roles, &params, after)?;
        let candidates = if is_manager {
            delegation::candidates(&org, uid)?
                .into_iter()
                .map(|u| (u.id.0, u.name.to_string()))
                .collect()
        } else {
            Vec::new()
        };
        let given = items(&org, delegation::current(&org, uid, false)?, true)?;
        let received = items(&org, delegation::current(&org, uid, true)?, false)?;
        Ok((queue, candidates, given, received))
    })
    .await??;
    Ok(ApprovalsPage {
        chrome: Some(user.chrome()),
        csrf: user.csrf().to_owned(),
        notice: None,
        claims: queue.claims,
        next: queue.next,
        filtered: q.filtered(),
        q,
        statuses: vec![
            (Status::Submitted.code(), "first approval".to_owned()),
            (
                Status::AwaitingFinance.code(),
                "finance approval".to_owned(),
            ),
        ],
        categories: queue.categories,
        filter_errors: queue.filter_errors,
        is_manager,
        candidates,
        given,
        received,
        input,
        errors,
    })
}

/// GET /approvals: the queue, filtered; bad filter values are a 400 with messages.
pub async fn approvals(
    user: CurrentUser,
    session: Session,
    req: actix_web::HttpRequest,
) -> Result<HttpResponse, AppError> {
    let q = ListParams::parse(req.query_string());
    // A mangled page start is the first page.
    let after = q.after.parse().ok();
    let mut p = page(&user, q, after, DelegationInput::default(), Vec::new()).await?;
    p.notice = session::take_notice(&session);
    let status = if p.filter_errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    html(status, &p)
}

#[derive(Deserialize)]
pub struct DelegationForm {
    #[serde(default)]
    delegate: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

pub async fn add_delegation(
    user: CurrentUser,
    session: Session,
    form: web::Form<DelegationForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let input = DelegationInput {
        delegate: form.delegate,
        from: form.from,
        to: form.to,
    };
    let (org, uid, roles, typed) = (user.org().clone(), user.id(), user.roles(), input.clone());
    match web::block(move || delegation::add(&org, uid, roles, &typed)).await?? {
        Ok(_) => {
            session::set_notice(&session, "The delegation was saved.");
            Ok(see_other("/approvals"))
        }
        Err(errors) => {
            let p = page(&user, ListParams::default(), None, input, errors.0).await?;
            html(StatusCode::UNPROCESSABLE_ENTITY, &p)
        }
    }
}

pub async fn remove_delegation(
    user: CurrentUser,
    session: Session,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let (org, uid, id) = (user.org().clone(), user.id(), id.into_inner());
    let removed = web::block(move || delegation::remove(&org, uid, id)).await??;
    session::set_notice(
        &session,
        if removed {
            "The delegation was removed."
        } else {
            "That delegation is not there any more."
        },
    );
    Ok(see_other("/approvals"))
}
