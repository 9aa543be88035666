//! Receipt downloads. Only people with a part in the claim get a receipt of that claim
//! (`receipts::get_for` decides, through `claims::role_for`); anyone else, or a receipt
//! of another claim, gets the same 404 as a missing one. The file always comes as an
//! attachment with the type it was recognised as and `nosniff`, never cached.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};

use crate::audit::{self, Action};
use crate::web::AppError;
use crate::web::access::CurrentUser;
use crate::web::errors::error_page;

pub async fn download(
    user: CurrentUser,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, AppError> {
    let (claim_id, receipt_id) = path.into_inner();
    let (org, viewer, roles) = (user.org().clone(), user.id(), user.roles());
    let (meta, bytes) = web::block(move || -> Result<_, AppError> {
        let (meta, bytes, owner) =
            crate::expenses::receipts::get_for(&org, viewer, roles, claim_id, receipt_id)?;
        // Someone else's receipt is their personal data: its viewing is audited.
        if bytes.is_some() && owner != viewer {
            audit::record(
                &org,
                Some(viewer),
                Some(owner),
                Action::ViewedPerson,
                &format!("receipt {receipt_id} of claim {claim_id}"),
            )?;
        }
        Ok((meta, bytes))
    })
    .await??;
    let Some(bytes) = bytes else {
        return Ok(error_page(
            StatusCode::GONE,
            Some("This receipt was erased with the personal data of the person who claimed."),
        ));
    };
    let kind = meta
        .kind()
        .ok_or_else(|| AppError::internal(format!("receipt {receipt_id} has an unknown type")))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, kind.content_type()))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"receipt-{claim_id}-{receipt_id}.{}\"",
                kind.extension()
            ),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        // Should a browser render it anyway, it runs nothing and loads nothing.
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; sandbox",
        ))
        .body(bytes))
}
