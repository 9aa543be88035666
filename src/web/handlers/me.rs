//! Self-service for the signed-in person: their own data as a ZIP (access and
//! portability), downloadable at any time and audited.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use super::privacy_people::fault;
use crate::audit::{self, Action};
use crate::privacy::export;
use crate::web::AppError;
use crate::web::access::CurrentUser;

/// GET /me/data: `my-data.zip` as an attachment, never cached.
pub async fn data(user: CurrentUser) -> Result<HttpResponse, AppError> {
    let (org, me) = (user.org().clone(), user.id());
    let bytes = web::block(move || -> Result<Vec<u8>, AppError> {
        let zip = export::subject_zip(&org, me).map_err(fault)?;
        audit::record(
            &org,
            Some(me),
            Some(me),
            Action::ExportedOwnData,
            "self-service",
        )?;
        Ok(zip)
    })
    .await??;
    Ok(zip_response(bytes, "my-data.zip"))
}

/// A ZIP as an attachment named `name`, never cached or sniffed.
pub fn zip_response(bytes: Vec<u8>, name: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/zip")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(bytes)
}
