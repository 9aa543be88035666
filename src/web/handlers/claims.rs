//! Claim actions: adding a line, submitting, and the approvers' decisions. Each one
//! that is refused shows the claim page again with the reason (`claim_page`).

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::claim_page::{page_for, refusal_status};
use crate::expenses::claims::{self, AddLine, ClaimError, FieldErrors, LineInput};
use crate::expenses::receipts::{self, Upload};
use crate::expenses::status::{Transition, TransitionError};
use crate::web::access::CurrentUser;
use crate::web::layout::{html, see_other, sentence};
use crate::web::{AppError, forms, session};

pub async fn show(
    user: CurrentUser,
    session: Session,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let mut page = page_for(&user, id.into_inner()).await?;
    page.notice = session::take_notice(&session);
    html(StatusCode::OK, &page)
}

/// The notice over a refused line form ("The line was not added: ..."). A file that
/// passed its checks is not kept by the browser, so it must be chosen again; a refused
/// file has what to do in its own message.
pub(super) fn refused_line_notice(done: &str, sent_file: bool, errors: &FieldErrors) -> String {
    let choose_again = sent_file && errors.get("receipt").is_none();
    let again = if choose_again {
        ", and choose the receipt again"
    } else {
        ""
    };
    format!("The line was not {done}: see the messages below{again}.")
}

/// A line form as typed, and its receipt file.
pub(super) fn line_form(mut form: forms::MultipartForm) -> (LineInput, Upload) {
    let input = LineInput {
        date: form.text("date"),
        category: form.text("category"),
        merchant: form.text("merchant"),
        description: form.text("description"),
        amount: form.text("amount"),
        currency: form.text("currency"),
        rate: form.text("rate"),
        vat: form.text("vat"),
        miles: form.text("miles"),
        form_key: form.text("form_key"),
    };
    let upload = match form.take_file("receipt") {
        Some(file) if file.too_large => Upload::TooLarge,
        Some(file) => Upload::File(file.bytes),
        None if !form.text("receipt").is_empty() => Upload::NotAFile,
        None => Upload::None,
    };
    (input, upload)
}

pub async fn add_line(
    user: CurrentUser,
    id: web::Path<i64>,
    form: forms::MultipartForm,
) -> Result<HttpResponse, AppError> {
    let id = id.into_inner();
    let (input, upload) = line_form(form);
    // The file is checked (by content) before anything is written; line and receipt
    // are then written together or not at all.
    let sent_file = !matches!(upload, Upload::None);
    let (org, uid, line) = (user.org().clone(), user.id(), input.clone());
    let outcome =
        web::block(move || receipts::add_line_with_receipt(&org, uid, id, &line, upload)).await?;
    match outcome {
        Ok(AddLine::Added) => Ok(see_other(&format!("/claims/{id}"))),
        Ok(AddLine::Invalid(errors)) => {
            let mut page = page_for(&user, id).await?;
            page.input = input;
            page.error = Some(refused_line_notice("added", sent_file, &errors));
            page.errors = errors.0;
            html(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        // Submitted from another tab meanwhile, restricted, or repriced under a new
        // base currency: the claim as it is now, with what was typed kept in case it
        // can still be used.
        Err(e @ (ClaimError::Invalid(_) | ClaimError::Restricted | ClaimError::Stale)) => {
            let mut page = page_for(&user, id).await?;
            page.input = input;
            page.error = Some(sentence(&e.to_string()));
            html(refusal_status(&e), &page)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct Decision {
    /// The claim's version on the page decided from; a form without it (a script
    /// following CONTRACT.md) acts on the claim as it is now.
    version: Option<i64>,
    #[serde(default)]
    comment: String,
}

/// Where a decision's result is shown: a claim returned for changes is its owner's
/// again and no longer the approver's to see, so they go back to their queue.
fn after_decision(id: i64, t: Transition) -> String {
    match t {
        Transition::ReturnForChanges => "/approvals".to_owned(),
        _ => format!("/claims/{id}"),
    }
}

async fn decide(
    user: CurrentUser,
    session: Session,
    id: i64,
    form: Decision,
    t: Transition,
) -> Result<HttpResponse, AppError> {
    let (org, uid, roles) = (user.org().clone(), user.id(), user.roles());
    let version = form.version;
    let (comment, form_comment) = (form.comment.clone(), form.comment);
    match web::block(move || claims::transition(&org, uid, roles, id, version, t, &comment)).await?
    {
        Ok(to) => {
            let notice = match t {
                Transition::ReturnForChanges => {
                    "The claim went back to its owner for changes.".into()
                }
                _ => format!("The claim is now {to}."),
            };
            session::set_notice(&session, &notice);
            Ok(see_other(&after_decision(id, t)))
        }
        // Sent twice (a double click): the first did it; say so, not "someone else".
        Err(e @ ClaimError::AlreadyDone(_)) => {
            session::set_notice(&session, &sentence(&e.to_string()));
            Ok(see_other(&after_decision(id, t)))
        }
        Err(
            e @ (ClaimError::Conflict
            | ClaimError::Transition(_)
            | ClaimError::Invalid(_)
            | ClaimError::Field(..)
            | ClaimError::Restricted),
        ) => {
            let status = refusal_status(&e);
            let mut page = match page_for(&user, id).await {
                Ok(page) => page,
                // Someone else returned it to its owner: it is no longer theirs to see.
                Err(AppError::NotFound) if matches!(e, ClaimError::Conflict) => {
                    session::set_notice(
                        &session,
                        "Someone else decided that claim a moment ago and it went back to its owner, so nothing was changed.",
                    );
                    return Ok(see_other("/approvals"));
                }
                Err(other) => return Err(other),
            };
            // A refused comment is said on the field it was typed in (the approve
            // form's comment, or the reason of reject and return); the banner says
            // what was not done. Submitting and paying have no comment field.
            let not_done = match t {
                Transition::Approve => Some("The claim was not approved"),
                Transition::Reject => Some("The claim was not rejected"),
                Transition::ReturnForChanges => Some("The claim was not returned"),
                Transition::Submit | Transition::MarkPaid => None,
            };
            match (e.field(), not_done) {
                (Some("comment"), Some(not_done)) => {
                    let message = sentence(&e.to_string());
                    page.error = Some(
                        if matches!(e, ClaimError::Transition(TransitionError::ReasonRequired)) {
                            format!("{not_done}: give a reason below.")
                        } else if t == Transition::Approve {
                            format!("{not_done}: see the message on the comment below.")
                        } else {
                            format!("{not_done}: see the message on the reason below.")
                        },
                    );
                    if t == Transition::Approve {
                        page.approve_error = message;
                    } else {
                        page.reject_error = message;
                    }
                }
                _ => page.error = Some(sentence(&e.to_string())),
            }
            match t {
                Transition::Approve => page.approve_comment = form_comment,
                Transition::Reject | Transition::ReturnForChanges => {
                    page.reject_comment = form_comment
                }
                _ => {}
            }
            html(status, &page)
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn submit(
    u: CurrentUser,
    s: Session,
    id: web::Path<i64>,
    f: web::Form<Decision>,
) -> Result<HttpResponse, AppError> {
    decide(u, s, id.into_inner(), f.into_inner(), Transition::Submit).await
}

pub async fn approve(
    u: CurrentUser,
    s: Session,
    id: web::Path<i64>,
    f: web::Form<Decision>,
) -> Result<HttpResponse, AppError> {
    decide(u, s, id.into_inner(), f.into_inner(), Transition::Approve).await
}

pub async fn reject(
    u: CurrentUser,
    s: Session,
    id: web::Path<i64>,
    f: web::Form<Decision>,
) -> Result<HttpResponse, AppError> {
    decide(u, s, id.into_inner(), f.into_inner(), Transition::Reject).await
}

pub async fn send_back(
    u: CurrentUser,
    s: Session,
    id: web::Path<i64>,
    f: web::Form<Decision>,
) -> Result<HttpResponse, AppError> {
    decide(
        u,
        s,
        id.into_inner(),
        f.into_inner(),
        Transition::ReturnForChanges,
    )
    .await
}

pub async fn mark_paid(
    u: CurrentUser,
    s: Session,
    id: web::Path<i64>,
    f: web::Form<Decision>,
) -> Result<HttpResponse, AppError> {
    decide(u, s, id.into_inner(), f.into_inner(), Transition::MarkPaid).await
}
