//! CSRF protection for every POST, in one place: the form's `csrf_token` must equal
//! the session's token (synchroniser token pattern), and a browser-sent `Origin` must
//! be this site. Form bodies are read here and handed on unchanged to the handler.

use actix_session::SessionExt;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::web::Bytes;

use super::AppError;
use super::app::FORM_LIMIT;
use super::session;

pub const FIELD: &str = "csrf_token";

fn same_origin(req: &ServiceRequest) -> bool {
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        // Non-browser clients and older browsers send none; the token still applies.
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let host = req.connection_info().host().to_owned();
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest.trim_end_matches('/') == host)
}

fn refuse(req: ServiceRequest, why: &str) -> ServiceResponse<BoxBody> {
    log::warn!("refused a POST to {}: {why}", req.path());
    req.into_response(AppError::Forbidden.error_response_page())
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
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Ok(refuse(req, "not a form post"));
    }
    let body = match req.extract::<Bytes>().await {
        Ok(body) if body.len() <= FORM_LIMIT => body,
        _ => return Ok(refuse(req, "unreadable or oversized form")),
    };
    let token = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
        .ok()
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == FIELD).map(|(_, v)| v));
    let session = req.get_session();
    if !token.is_some_and(|t| session::csrf_matches(&session, &t)) {
        return Ok(refuse(req, "missing or wrong CSRF token"));
    }
    req.set_payload(Payload::from(body));
    Ok(next.call(req).await?.map_into_boxed_body())
}
