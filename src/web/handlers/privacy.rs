//! The DPO's request register (`/privacy/requests`, one request and its actions) and
//! everyone's own privacy page (`/me/privacy`). The route table admits the DPO to the
//! register; the employee page shows only the signed-in person's own requests.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use time::{Date, OffsetDateTime};

use crate::audit::{self, Action};
use crate::auth::users;
use crate::crypto::Revealed;
use crate::ids::UserId;
use crate::privacy::deadlines::{self, Urgency};
use crate::privacy::requests::{self, Dpo, Kind, NewRequest, RequestError, RequestRow, Status};
use crate::tenancy::Org;
use crate::web::access::CurrentUser;
use crate::web::layout::{Chrome, html, see_other};
use crate::web::{AppError, session};

impl From<RequestError> for AppError {
    fn from(e: RequestError) -> Self {
        match e {
            RequestError::NotFound => AppError::NotFound,
            RequestError::Db(e) => e.into(),
            e @ (RequestError::Field(..) | RequestError::Refused(_) | RequestError::Fields(_)) => {
                AppError::BadRequest(e.to_string())
            }
            e => AppError::internal(e),
        }
    }
}

/// The signed-in user as the DPO, or 403: the domain's proof of the role.
pub fn dpo(user: &CurrentUser) -> Result<Dpo, AppError> {
    Dpo::check(user.id(), user.roles()).ok_or(AppError::Forbidden)
}

pub use crate::web::forms::{Fields, field};

pub fn today() -> Date {
    deadlines::uk_today(OffsetDateTime::now_utc())
}

pub fn when(at: i64) -> String {
    OffsetDateTime::from_unix_timestamp(at)
        .map(|t| {
            let t = t.to_offset(deadlines::uk_offset(t));
            format!("{} {:02}:{:02}", t.date(), t.hour(), t.minute())
        })
        .unwrap_or_default()
}

/// One request in a list.
pub struct Item {
    pub id: i64,
    pub subject: String,
    pub kind: &'static str,
    pub status: &'static str,
    pub received: String,
    pub due: String,
    /// CSS class and words: "overdue", "due-soon", "paused" or empty.
    pub mark: &'static str,
    pub mark_text: String,
}

fn mark(r: &RequestRow, today: Date) -> (&'static str, String) {
    match r.urgency(today) {
        None => ("", String::new()),
        Some(Urgency::Paused) => ("paused", "waiting for proof of identity".into()),
        Some(Urgency::OnTime { days_left }) => ("", format!("{days_left} days left")),
        Some(Urgency::DueSoon { days_left: 0 }) => ("due-soon", "due today".into()),
        Some(Urgency::DueSoon { days_left }) => (
            "due-soon",
            format!("due soon: {days_left} day{} left", plural(days_left)),
        ),
        Some(Urgency::Overdue { days_over }) => (
            "overdue",
            format!("overdue by {days_over} day{}", plural(days_over)),
        ),
    }
}

fn plural(n: i64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn item(org: &Org, r: &RequestRow, today: Date, with_subject: bool) -> Result<Item, AppError> {
    let subject = if with_subject {
        match users::get(org, r.subject())? {
            Some(u) => org.keys.open(&u.name)?.to_string(),
            None => "unknown".into(),
        }
    } else {
        String::new()
    };
    let (mark, mark_text) = mark(r, today);
    Ok(Item {
        id: r.id,
        subject,
        kind: r.kind().code(),
        status: r.status().label(),
        received: r.received_on.clone(),
        due: r
            .due()
            .map(|d| d.to_string())
            .unwrap_or_else(|| "not yet".into()),
        mark,
        mark_text,
    })
}

#[derive(Template)]
#[template(path = "privacy_requests.html")]
struct ListPage {
    chrome: Option<Chrome>,
    csrf: String,
    notice: Option<String>,
    items: Vec<Item>,
    kinds: Vec<(&'static str, &'static str)>,
    input: NewRequest,
    errors: Vec<(&'static str, String)>,
}

impl ListPage {
    fn error_for(&self, name: &str) -> String {
        error_for(&self.errors, name)
    }
}

pub fn error_for(errors: &[(&'static str, String)], name: &str) -> String {
    errors
        .iter()
        .find(|(f, _)| *f == name)
        .map(|(_, m)| m.clone())
        .unwrap_or_default()
}

fn kinds() -> Vec<(&'static str, &'static str)> {
    Kind::ALL.iter().map(|k| (k.code(), k.label())).collect()
}

async fn list_page(
    user: &CurrentUser,
    input: NewRequest,
    errors: Vec<(&'static str, String)>,
) -> Result<ListPage, AppError> {
    let (org, viewer) = (user.org().clone(), user.id());
    let items = web::block(move || -> Result<Vec<Item>, AppError> {
        let today = today();
        let rows = requests::list(&org)?;
        let items = rows
            .iter()
            .map(|r| item(&org, r, today, true))
            .collect::<Result<Vec<_>, _>>()?;
        // The list names each request's subject: a view of each of them.
        audit::record_views(
            &org,
            viewer,
            rows.iter().map(|r| r.subject()),
            "privacy request list",
        )?;
        Ok(items)
    })
    .await??;
    Ok(ListPage {
        chrome: Some(user.chrome()),
        csrf: user.csrf().to_owned(),
        notice: None,
        items,
        kinds: kinds(),
        input,
        errors,
    })
}

/// GET /privacy/requests
pub async fn list(user: CurrentUser, session: Session) -> Result<HttpResponse, AppError> {
    let input = NewRequest {
        received: today().to_string(),
        kind: Kind::Access.code().into(),
        ..Default::default()
    };
    let mut page = list_page(&user, input, Vec::new()).await?;
    page.notice = session::take_notice(&session);
    html(StatusCode::OK, &page)
}

/// POST /privacy/requests: `subject_email`, `kind`, `received`.
pub async fn create(
    user: CurrentUser,
    session: Session,
    form: Fields,
) -> Result<HttpResponse, AppError> {
    let input = NewRequest {
        subject_email: field(&form, "subject_email").to_owned(),
        kind: field(&form, "kind").to_owned(),
        received: field(&form, "received").to_owned(),
    };
    let (org, uid, new) = (user.org().clone(), dpo(&user)?, input.clone());
    match web::block(move || requests::open(&org, uid, &new, today())).await? {
        Ok(id) => {
            session::set_notice(&session, &format!("Request {id} is in the register."));
            Ok(see_other(&format!("/privacy/requests/{id}")))
        }
        Err(RequestError::Field(name, msg)) => {
            let page = list_page(&user, input, vec![(name, msg)]).await?;
            html(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(e) => Err(e.into()),
    }
}

pub struct NoteItem {
    pub when: String,
    pub author: String,
    pub text: String,
    pub withheld: bool,
}

#[derive(Template)]
#[template(path = "privacy_request.html")]
struct RequestPage {
    chrome: Option<Chrome>,
    csrf: String,
    notice: Option<String>,
    error: Option<String>,
    errors: Vec<(&'static str, String)>,
    id: i64,
    subject: String,
    subject_email: String,
    subject_state: &'static str,
    kind: Kind,
    kind_label: &'static str,
    status: &'static str,
    open: bool,
    received: String,
    identity_requested: String,
    identity_verified: String,
    identity_method: String,
    clock_start: String,
    first_due: String,
    due: String,
    mark: &'static str,
    mark_text: String,
    extension: String,
    extension_reason: String,
    refusal_reason: String,
    closed_on: String,
    self_service: bool,
    notes: Vec<NoteItem>,
    can_ask_identity: bool,
    can_verify: bool,
    can_start: bool,
    can_complete: bool,
    can_extend: bool,
    /// What was typed into the action forms, kept after an error.
    input: Vec<(String, String)>,
}

impl RequestPage {
    fn error_for(&self, name: &str) -> String {
        error_for(&self.errors, name)
    }

    fn typed(&self, name: &str) -> String {
        field(&self.input, name).to_owned()
    }

    fn is_erasure(&self) -> bool {
        self.kind == Kind::Erasure
    }

    fn is_export(&self) -> bool {
        matches!(self.kind, Kind::Access | Kind::Portability)
    }
}

fn text(r: Option<Revealed>) -> String {
    r.map(|v| v.to_string()).unwrap_or_default()
}

fn load(org: &Org, viewer: UserId, id: i64) -> Result<RequestPage, AppError> {
    let r = requests::get(org, id)?;
    let today = today();
    let subject = users::get(org, r.subject())?;
    let (name, email, state) = match &subject {
        Some(u) => {
            let alive = org.keys.is_alive(u.person_key())?;
            (
                org.keys.open(&u.name)?.to_string(),
                org.keys.open(&u.email)?.to_string(),
                match (alive, u.active) {
                    (false, _) => "erased",
                    (true, true) => "current user",
                    (true, false) => "deactivated",
                },
            )
        }
        None => ("unknown".into(), String::new(), "unknown"),
    };
    if r.subject() != viewer {
        audit::record(
            org,
            Some(viewer),
            Some(r.subject()),
            Action::ViewedPerson,
            &format!("privacy request {id}"),
        )?;
    }
    let mut notes = Vec::new();
    for n in requests::notes_of(org, id)? {
        let author = match users::get(org, UserId(n.author_id))? {
            Some(u) => org.keys.open(&u.name)?.to_string(),
            None => "unknown".into(),
        };
        notes.push(NoteItem {
            when: when(n.at),
            author,
            text: org.keys.open(&n.body)?.to_string(),
            withheld: n.withheld,
        });
    }
    let clock = r.clock();
    let status = r.status();
    let (mark, mark_text) = mark(&r, today);
    let date = |d: Option<Date>| d.map(|d| d.to_string()).unwrap_or_default();
    Ok(RequestPage {
        chrome: None,
        csrf: String::new(),
        notice: None,
        error: None,
        errors: Vec::new(),
        id,
        subject: name,
        subject_email: email,
        subject_state: state,
        kind: r.kind(),
        kind_label: r.kind().label(),
        status: status.label(),
        open: status.is_open(),
        received: r.received_on.clone(),
        identity_requested: r.identity_requested_on.clone().unwrap_or_default(),
        identity_verified: r.identity_verified_on.clone().unwrap_or_default(),
        identity_method: text(requests::reveal(org, &r.identity_method)?),
        clock_start: date(clock.start()),
        first_due: date(clock.first_due()),
        due: date(clock.due()),
        mark,
        mark_text,
        extension: if r.extension_months > 0 {
            format!(
                "by {} month{} on {}",
                r.extension_months,
                plural(r.extension_months.into()),
                r.extended_on.clone().unwrap_or_default()
            )
        } else {
            String::new()
        },
        extension_reason: text(requests::reveal(org, &r.extension_reason)?),
        refusal_reason: text(requests::reveal(org, &r.refusal_reason)?),
        closed_on: r.closed_on.clone().unwrap_or_default(),
        self_service: r.self_service,
        notes,
        can_ask_identity: status == Status::Received
            && r.identity_requested_on.is_none()
            && requests::in_time_to_ask_identity(&r, today),
        can_verify: status == Status::Received,
        can_start: status == Status::Verified,
        can_complete: matches!(status, Status::Verified | Status::InProgress),
        can_extend: status.is_open() && deadlines::check_extension(&clock, today, 1).is_ok(),
        input: Vec::new(),
    })
}

async fn request_page(user: &CurrentUser, id: i64) -> Result<RequestPage, AppError> {
    let (org, uid) = (user.org().clone(), user.id());
    let mut page = web::block(move || load(&org, uid, id)).await??;
    page.chrome = Some(user.chrome());
    page.csrf = user.csrf().to_owned();
    Ok(page)
}

/// The request page again with a refusal (422): nothing was changed.
pub(super) async fn refused_page(
    user: &CurrentUser,
    id: i64,
    message: String,
) -> Result<HttpResponse, AppError> {
    let mut page = request_page(user, id).await?;
    page.error = Some(message);
    html(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

/// GET /privacy/requests/{id}
pub async fn show(
    user: CurrentUser,
    session: Session,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let mut page = request_page(&user, id.into_inner()).await?;
    page.notice = session::take_notice(&session);
    html(StatusCode::OK, &page)
}

/// The actions on one request, each a POST to `/privacy/requests/{id}/<step>`.
#[derive(Debug, Clone, Copy)]
pub enum Step {
    AskIdentity,
    Verify,
    Start,
    Complete,
    Refuse,
    Extend,
    Note,
}

async fn act(
    user: CurrentUser,
    session: Session,
    id: i64,
    form: Vec<(String, String)>,
    step: Step,
) -> Result<HttpResponse, AppError> {
    let (org, uid, f) = (user.org().clone(), dpo(&user)?, form.clone());
    let outcome = web::block(move || {
        let today = today();
        let get = |n: &str| field(&f, n).to_owned();
        match step {
            Step::AskIdentity => requests::ask_identity(&org, uid, id, today),
            Step::Verify => requests::verify(&org, uid, id, &get("method"), today),
            Step::Start => requests::start(&org, uid, id),
            Step::Complete => requests::mark_completed(&org, uid, id, today),
            Step::Refuse => requests::refuse(&org, uid, id, &get("reason"), today),
            Step::Extend => requests::extend(
                &org,
                uid,
                id,
                &get("months"),
                &get("extension_reason"),
                today,
            ),
            Step::Note => requests::add_note(&org, uid, id, &get("note"), get("withheld") == "yes"),
        }
    })
    .await?;
    let (error, errors) = match outcome {
        Ok(()) => {
            let done = match step {
                Step::AskIdentity => {
                    "Recorded: proof of identity asked for. The clock waits until it is verified."
                }
                Step::Verify => "Identity verified; the clock is running.",
                Step::Start => "The request is in progress.",
                Step::Complete => "The request is completed.",
                Step::Refuse => "The request is refused.",
                Step::Extend => "The deadline is extended.",
                Step::Note => "Note added.",
            };
            session::set_notice(&session, done);
            return Ok(see_other(&format!("/privacy/requests/{id}")));
        }
        Err(RequestError::Field(name, msg)) => {
            // The extension's reason field is named apart from the refusal's.
            let name = match (step, name) {
                (Step::Extend, "reason") => "extension_reason",
                (_, n) => n,
            };
            (None, vec![(name, msg)])
        }
        Err(RequestError::Refused(msg)) => (Some(msg), Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut page = request_page(&user, id).await?;
    page.error = error.or_else(|| Some("Nothing was changed: see the message below.".into()));
    page.errors = errors;
    page.input = form;
    html(StatusCode::UNPROCESSABLE_ENTITY, &page)
}

macro_rules! step_handler {
    ($($name:ident => $step:expr,)*) => {$(
        pub async fn $name(
            user: CurrentUser,
            session: Session,
            id: web::Path<i64>,
            form: Fields,
        ) -> Result<HttpResponse, AppError> {
            act(user, session, id.into_inner(), form.into_inner(), $step).await
        }
    )*};
}

step_handler! {
    ask_identity => Step::AskIdentity,
    verify => Step::Verify,
    start => Step::Start,
    complete => Step::Complete,
    refuse => Step::Refuse,
    extend => Step::Extend,
    note => Step::Note,
}

pub use super::privacy_me::{me, me_create};
