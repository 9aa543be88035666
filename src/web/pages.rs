//! Small pages that belong to no feature: health check and the start page.

use actix_web::HttpResponse;

/// Liveness for load balancers: no login, no database.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("ok")
}

/// Placeholder for a page another issue delivers: an honest 404, not a stub.
pub async fn not_yet() -> Result<HttpResponse, super::AppError> {
    Err(super::AppError::NotFound)
}
