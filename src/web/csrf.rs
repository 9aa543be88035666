//! CSRF protection for every POST, in one place: the form's `csrf_token` must equal
//! the session's token (synchroniser token pattern), and a browser-sent `Origin` must
//! be this site. Bodies (url-encoded forms, and multipart forms with uploads) are read
//! here up to a size cap and handed on unchanged to the handler.

use actix_session::SessionExt;
use actix_web::HttpMessage;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::web::{Bytes, BytesMut};
use futures_util::StreamExt;

use super::AppError;
use super::app::FORM_LIMIT;
use super::session;

pub const FIELD: &str = "csrf_token";
/// Multipart bodies carry a receipt of at most 10 MB plus the form's text fields.
pub const UPLOAD_LIMIT: usize = 11 * 1024 * 1024;

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

/// The `csrf_token` field of a multipart body, if present (text fields are small).
async fn multipart_token(req: &ServiceRequest, body: &Bytes) -> Option<String> {
    let copy = body.clone();
    let stream = futures_util::stream::once(async move { Ok(copy) });
    let mut parts = actix_multipart::Multipart::new(req.headers(), stream);
    while let Some(Ok(mut field)) = parts.next().await {
        if field.name() == Some(FIELD) {
            let mut value = Vec::new();
            while let Some(Ok(chunk)) = field.next().await {
                value.extend_from_slice(&chunk);
                if value.len() > 256 {
                    return None;
                }
            }
            return String::from_utf8(value).ok();
        }
    }
    None
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

fn refuse(req: ServiceRequest, why: &str) -> ServiceResponse<BoxBody> {
    log::warn!(
        "refused a POST to {}: {why}",
        super::app::loggable_path(req.path())
    );
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
    let limit = match kind {
        Body::Form => FORM_LIMIT,
        Body::Multipart => UPLOAD_LIMIT,
    };
    let Some(body) = read_body(&mut req, limit).await else {
        let too_large = AppError::TooLarge.error_response_page();
        return Ok(req.into_response(too_large));
    };
    let token = match kind {
        Body::Form => serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
            .ok()
            .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == FIELD).map(|(_, v)| v)),
        Body::Multipart => multipart_token(&req, &body).await,
    };
    let session = req.get_session();
    if !token.is_some_and(|t| session::csrf_matches(&session, &t)) {
        return Ok(refuse(req, "missing or wrong CSRF token"));
    }
    req.set_payload(Payload::from(body));
    Ok(next.call(req).await?.map_into_boxed_body())
}
