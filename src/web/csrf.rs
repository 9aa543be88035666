//! CSRF protection for every POST, in one place: the form's `csrf_token` must equal
//! the session's token (synchroniser token pattern), or, for forms shown before signing
//! in, fit the form cookie (`form_token`); and a browser-sent `Origin` must be this
//! site. Url-encoded bodies are read here up to a size cap and handed on
//! unchanged; multipart forms (with uploads) are read here and handed on parsed.

use actix_session::SessionExt;
use actix_web::HttpMessage;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::web::{Bytes, BytesMut, Data};
use futures_util::StreamExt;

use super::AppError;
use super::app::FORM_LIMIT;
use super::state::AppState;
use super::uploads;
use super::{form_token, forms, session};

pub const FIELD: &str = "csrf_token";

enum Body {
    Form,
    Multipart,
}

/// Reads the whole body, refusing it as soon as it passes `limit`.
async fn read_body(req: &mut ServiceRequest, limit: usize) -> Option<Bytes> {
    let mut payload = req.take_payload();
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.ok()?;
        if body.len() + chunk.len() > limit {
            return None;
        }
        body.extend_from_slice(&chunk);
    }
    Some(body.freeze())
}

fn same_origin(req: &ServiceRequest) -> bool {
    let header_str = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    let fetch_site = header_str(header::HeaderName::from_static("sec-fetch-site"));
    match header_str(header::ORIGIN) {
        // Non-browser clients and older browsers send none; the token still applies.
        None => true,
        // Under `Referrer-Policy: no-referrer` browsers send `Origin: null` even for
        // their own forms; then the browser's own Fetch Metadata, where sent, decides.
        Some("null") => fetch_site.is_none_or(|s| s == "same-origin"),
        Some(origin) => {
            let host = req.connection_info().host().to_owned();
            origin
                .split_once("://")
                .is_some_and(|(_, rest)| rest.trim_end_matches('/') == host)
        }
    }
}

/// What a refused form says: most often a page left open until its token went (a
/// session that ended, a form cookie replaced by another tab), rarely an attack.
pub const REFUSED: &str = "This form has expired, or was sent from another site, so nothing \
was done. Go back, reload the page and try again.";

fn refuse(req: ServiceRequest, why: &str) -> ServiceResponse<BoxBody> {
    log::warn!(
        "refused a POST to {}: {why}",
        super::app::loggable_path(req.path())
    );
    let page = super::errors::error_page(actix_web::http::StatusCode::FORBIDDEN, Some(REFUSED));
    req.into_response(page)
}

pub async fn protect(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if req.method() != Method::POST {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    if !same_origin(&req) {
        return Ok(refuse(req, "cross-origin"));
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let kind = if content_type.starts_with("application/x-www-form-urlencoded") {
        Body::Form
    } else if content_type.starts_with("multipart/form-data") {
        Body::Multipart
    } else {
        return Ok(refuse(req, "not a form post"));
    };
    let session = req.get_session();
    let token = match kind {
        Body::Form => {
            let Some(body) = read_body(&mut req, FORM_LIMIT).await else {
                let too_large = AppError::TooLarge.error_response_page();
                return Ok(req.into_response(too_large));
            };
            let token = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
                .ok()
                .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == FIELD).map(|(_, v)| v));
            req.set_payload(Payload::from(body));
            token
        }
        Body::Multipart => {
            // Only signed-in people send files (no form before signing in is
            // multipart): anyone else's is refused unread, so nobody can make the
            // server hold a body or a connection without signing in. Only a few
            // uploads are read at once.
            let Some(who) = session::identity(&session).map(|i| (i.org, i.user)) else {
                return Ok(refuse(req, "multipart body before signing in"));
            };
            let Some(state) = req.app_data::<Data<AppState>>().cloned() else {
                let e = AppError::internal("application state missing");
                return Ok(req.into_response(e.error_response_page()));
            };
            let _turn = match state.uploads.take(who).await {
                Ok(turn) => turn,
                Err(busy) => {
                    let busy = AppError::Busy(busy.message()).error_response_page();
                    return Ok(req.into_response(busy));
                }
            };
            let payload = req.take_payload();
            let read =
                forms::read_multipart(req.headers(), payload, forms::FILE_LIMIT, forms::BODY_LIMIT);
            let Ok(read) = tokio::time::timeout(uploads::READ_TIME, read).await else {
                return Ok(req.into_response(AppError::TooSlow.error_response_page()));
            };
            match read {
                Ok(form) => {
                    let token = Some(form.text(FIELD));
                    req.extensions_mut().insert(form);
                    token
                }
                Err(forms::ReadError::TooLarge) => {
                    let too_large = AppError::TooLarge.error_response_page();
                    return Ok(req.into_response(too_large));
                }
                Err(forms::ReadError::Malformed) => {
                    let bad = AppError::BadRequest("The form could not be read.".into());
                    return Ok(req.into_response(bad.error_response_page()));
                }
            }
        }
    };
    let token = token.unwrap_or_default();
    let by_session = session::csrf_matches(&session, &token);
    // Forms shown before signing in carry a token for the form cookie instead; what
    // a signed-in session posts stays bound to that session.
    let by_cookie = || {
        let Some(state) = req.app_data::<Data<AppState>>() else {
            return false;
        };
        let nonce = req.cookie(form_token::COOKIE);
        let nonce = nonce.as_ref().map(|c| c.value());
        session::identity(&session).is_none() && form_token::matches(&state.form_key, nonce, &token)
    };
    if !by_session && !by_cookie() {
        return Ok(refuse(req, "missing or wrong CSRF token"));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}
