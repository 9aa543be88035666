//! The web layer's one error type, mapped once to status codes and pages. Pages
//! never show internals: the detail goes to the log (which holds nothing personal).

use actix_web::body::{BoxBody, EitherBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::{StatusCode, header};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpMessage, HttpResponse, ResponseError};
use askama::Template;

use crate::auth::users::UserError;
use crate::crypto::CryptoError;
use crate::db::DbError;
use crate::tenancy::TenancyError;
use crate::web::access::CurrentUser;
use crate::web::layout::Chrome;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("page not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    #[error("sign-in required")]
    SignIn,
    #[error("{0}")]
    BadRequest(String),
    #[error("the request is too large")]
    TooLarge,
    /// Too many of this person's requests at once: the message says what to wait for.
    #[error("{0}")]
    Busy(&'static str),
    /// The body stopped arriving (or arrived too slowly) and was given up.
    #[error("the request took too long to arrive")]
    TooSlow,
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
    /// The disk is full or the data is read-only: the write was refused, reads work.
    #[error("a write was refused by storage: {0}")]
    Storage(String),
}

/// Said when a write fails because the disk is full or the data is read-only.
pub const STORAGE_MESSAGE: &str = "Your change was not saved: the server cannot write its data right now (its disk is full or read-only). You can still view pages. Please tell your administrator.";

/// SQLite's words for a full disk, a read-only file or a failing disk.
fn is_storage_failure(e: &DbError) -> bool {
    let DbError::Query(diesel::result::Error::DatabaseError(_, info)) = e else {
        return false;
    };
    let m = info.message();
    m.contains("database or disk is full")
        || m.contains("readonly database")
        || m.contains("disk I/O error")
}

impl AppError {
    pub fn internal(e: impl std::fmt::Display) -> AppError {
        AppError::Internal(e.to_string())
    }
}

impl From<DbError> for AppError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Pool(_) => AppError::Unavailable(e.to_string()),
            e if is_storage_failure(&e) => AppError::Storage(e.to_string()),
            e => AppError::internal(e),
        }
    }
}

impl From<TenancyError> for AppError {
    fn from(e: TenancyError) -> Self {
        match e {
            TenancyError::NotFound(_) => AppError::NotFound,
            TenancyError::Db(e) => e.into(),
            e => AppError::internal(e),
        }
    }
}

impl From<CryptoError> for AppError {
    fn from(e: CryptoError) -> Self {
        AppError::internal(e)
    }
}

impl From<UserError> for AppError {
    fn from(e: UserError) -> Self {
        match e {
            UserError::Db(e) => e.into(),
            e => AppError::internal(e),
        }
    }
}

impl From<crate::expenses::claims::ClaimError> for AppError {
    fn from(e: crate::expenses::claims::ClaimError) -> Self {
        use crate::expenses::claims::ClaimError;
        match e {
            // A claim one may not see is indistinguishable from one that does not exist.
            ClaimError::NotFound | ClaimError::Forbidden => AppError::NotFound,
            // What the person did or saw is out of date or not allowed: say so plainly.
            // Handlers that can show the form again catch these before they get here.
            ClaimError::Restricted
            | ClaimError::Invalid(_)
            | ClaimError::Field(..)
            | ClaimError::Transition(_)
            | ClaimError::Conflict
            | ClaimError::AlreadyDone(_)
            | ClaimError::Stale
            | ClaimError::LineGone => {
                AppError::BadRequest(crate::web::layout::sentence(&e.to_string()))
            }
            ClaimError::Db(e) => e.into(),
            ClaimError::Crypto(e) => AppError::internal(e),
        }
    }
}

impl From<actix_web::error::BlockingError> for AppError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        AppError::internal(e)
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    chrome: Option<Chrome>,
    status: u16,
    title: &'a str,
    message: &'a str,
}

/// What a person is told for each status: plain words, no internals.
fn words(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        400 => (
            "Bad request",
            "The request could not be understood. Go back and try again.",
        ),
        403 => ("Not allowed", "You do not have permission to do that."),
        404 => ("Page not found", "There is no page at this address."),
        405 => ("Not allowed", "That action is not available here."),
        408 => (
            "Too slow",
            "What you sent took too long to arrive, so nothing was saved. Try again on a steadier connection.",
        ),
        413 => (
            "Too large",
            "What you sent is larger than this page accepts.",
        ),
        429 => (
            "Too many attempts",
            "Please wait a little before trying again.",
        ),
        503 => (
            "Temporarily unavailable",
            "The service is busy. Please try again in a moment.",
        ),
        s if s >= 500 => (
            "Something went wrong",
            "The problem has been logged. Please try again later.",
        ),
        _ => ("Request refused", "The request could not be completed."),
    }
}

/// What an error page said, kept on its response: the error middleware, which sees the
/// request, renders it again inside the signed-in header when the person is known.
#[derive(Clone)]
struct Shown(String);

fn render(status: StatusCode, message: &str, chrome: Option<Chrome>) -> Result<String, String> {
    let (title, _) = words(status);
    ErrorPage {
        chrome,
        status: status.as_u16(),
        title,
        message,
    }
    .render()
    .map_err(|_| title.to_owned())
}

/// The error page for `status`, without the signed-in header (added by
/// [`render_framework_error`] where the request has a signed-in person).
pub fn error_page(status: StatusCode, detail: Option<&str>) -> HttpResponse {
    let message = detail.unwrap_or(words(status).1);
    match render(status, message, None) {
        Ok(html) => {
            let mut res = HttpResponse::build(status)
                .content_type("text/html; charset=utf-8")
                .body(html);
            res.extensions_mut().insert(Shown(message.to_owned()));
            res
        }
        Err(title) => HttpResponse::build(status)
            .content_type("text/plain; charset=utf-8")
            .body(title),
    }
}

impl AppError {
    /// The error's page, for middleware that answers before any handler runs.
    pub fn error_response_page(&self) -> HttpResponse<BoxBody> {
        ResponseError::error_response(self)
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Forbidden => StatusCode::FORBIDDEN,
            AppError::SignIn => StatusCode::SEE_OTHER,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::Busy(_) => StatusCode::TOO_MANY_REQUESTS,
            AppError::TooSlow => StatusCode::REQUEST_TIMEOUT,
            AppError::Unavailable(_) | AppError::Storage(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        match self {
            AppError::SignIn => HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/login"))
                .finish(),
            AppError::Internal(detail) | AppError::Unavailable(detail) => {
                log::error!("{detail}");
                error_page(self.status_code(), None)
            }
            AppError::BadRequest(msg) => error_page(self.status_code(), Some(msg)),
            AppError::Busy(msg) => error_page(self.status_code(), Some(msg)),
            AppError::Storage(detail) => {
                log::error!("{detail}");
                error_page(self.status_code(), Some(STORAGE_MESSAGE))
            }
            _ => error_page(self.status_code(), None),
        }
    }
}

/// Gives framework-made errors (unknown method, oversized body, ...) the same page, and
/// our own error pages the signed-in header when the route had resolved the person
/// (no extra reads: `access::enforce` already loaded them). Pages answered before that
/// (an unknown address, a role refused by the route table) keep the plain header and
/// the link to the home page.
pub fn render_framework_error<B>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_html = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if is_html {
        let shown = res.response().extensions().get::<Shown>().cloned();
        let user = res.request().extensions().get::<CurrentUser>().cloned();
        if let (Some(Shown(message)), Some(user)) = (shown, user)
            && let Ok(html) = render(res.status(), &message, Some(user.chrome()))
        {
            // The same response (status, headers, cookies), with the page in the header.
            let (req, old) = res.into_parts();
            let page = old.set_body(BoxBody::new(html));
            return Ok(ErrorHandlerResponse::Response(
                ServiceResponse::new(req, page).map_into_right_body::<B>(),
            ));
        }
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let (req, _) = res.into_parts();
    let page = error_page(status, None);
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, page).map_into_right_body::<B>(),
    ))
}

pub type ErrorBody<B> = EitherBody<B, BoxBody>;

pub async fn not_found() -> Result<HttpResponse, AppError> {
    Err(AppError::NotFound)
}
