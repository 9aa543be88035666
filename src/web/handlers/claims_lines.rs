//! Changing and removing one line of one's own draft claim. The domain
//! (`expenses::line_edit`) checks ownership, the claim's version and the fields; a
//! line of another claim, or of someone else's claim, is a 404 like a missing one.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::claim_page::{form_key, page_for, refusal_status, refused};
use super::claims::{line_form, refused_line_notice};
use crate::expenses::claims::{
    self, AddLine, ClaimError, ClaimFields, FieldErrors, LineInput, LineRow,
};
use crate::expenses::finance::plain_amount;
use crate::expenses::line_edit;
use crate::expenses::money::{self, Currency};
use crate::web::access::CurrentUser;
use crate::web::layout::{Chrome, html, see_other, sentence};
use crate::web::{AppError, forms, session};

#[derive(Template)]
#[template(path = "claim_line.html")]
struct LinePage {
    chrome: Option<Chrome>,
    csrf: String,
    id: i64,
    line: i64,
    title: String,
    version: i64,
    base: String,
    categories: Vec<(String, String)>,
    input: LineInput,
    /// The line's receipt id, if it has one.
    receipt: Option<i64>,
    editable: bool,
    /// The claim changed after the form was opened: the form shows what was typed.
    changed: bool,
    errors: Vec<(&'static str, String)>,
    error: Option<String>,
}

impl LinePage {
    fn field_error(&self, field: &str) -> String {
        sentence(
            FieldErrors(self.errors.clone())
                .get(field)
                .unwrap_or_default(),
        )
    }
}

#[derive(Deserialize)]
pub struct LinePath {
    id: i64,
    line: i64,
}

/// The stored line as its form would have been typed.
fn as_typed(org: &crate::tenancy::Org, l: &LineRow, base: &str) -> Result<LineInput, AppError> {
    let cur = Currency::parse(&l.currency).unwrap_or(Currency::GBP);
    let mileage = l.miles_tenths;
    Ok(LineInput {
        date: l.spent_on.clone(),
        category: l.category.clone(),
        merchant: org.keys.open(&l.merchant)?.to_string(),
        description: org.keys.open(&l.description)?.to_string(),
        amount: match mileage {
            Some(_) => String::new(),
            None => plain_amount(l.amount_minor, cur),
        },
        currency: l.currency.clone(),
        rate: if l.currency == base {
            String::new()
        } else {
            money::format_rate(l.rate_e12)
        },
        vat: l
            .vat_minor
            .map(|v| plain_amount(v, cur))
            .unwrap_or_default(),
        miles: mileage
            .map(|t| format!("{}.{}", t / 10, t % 10))
            .unwrap_or_default(),
        form_key: form_key(),
    })
}

/// The edit page for the line as stored; `None` input means "as stored".
async fn line_page(
    user: &CurrentUser,
    id: i64,
    line: i64,
    typed: Option<LineInput>,
) -> Result<LinePage, AppError> {
    let (org, uid) = (user.org().clone(), user.id());
    let (claim, title, stored, receipt, cats) = web::block(move || -> Result<_, AppError> {
        let (claim, row, receipt) = line_edit::for_edit(&org, uid, id, line)?;
        let title = claims::title(&org, &claim)?.to_string();
        let stored = as_typed(&org, &row, &claim.currency)?;
        let cats: Vec<(String, String)> = claims::categories(&org)?
            .into_iter()
            .map(|c| (c.code, c.label))
            .collect();
        Ok((claim, title, stored, receipt.map(|r| r.id), cats))
    })
    .await??;
    let error = (!claim.status().editable())
        .then(|| "This claim is no longer a draft, so its lines cannot be changed.".to_owned());
    Ok(LinePage {
        chrome: Some(user.chrome()),
        csrf: user.csrf().to_owned(),
        id,
        line,
        title,
        version: claim.version,
        base: claim.currency.clone(),
        categories: cats,
        input: typed.unwrap_or(stored),
        receipt,
        editable: claim.status().editable(),
        changed: false,
        errors: Vec::new(),
        error,
    })
}

pub async fn edit_form(
    user: CurrentUser,
    path: web::Path<LinePath>,
) -> Result<HttpResponse, AppError> {
    let page = line_page(&user, path.id, path.line, None).await?;
    html(StatusCode::OK, &page)
}

pub async fn edit(
    user: CurrentUser,
    session: Session,
    path: web::Path<LinePath>,
    form: forms::MultipartForm,
) -> Result<HttpResponse, AppError> {
    let (id, line) = (path.id, path.line);
    // The page's form always carries its version. Without one the edit is taken as
    // made on an out-of-date page (refused as changed, what was typed kept); one that is
    // not a number was not sent by the page, and saying "changed" would mislead.
    let version = match form.text("version").trim() {
        "" => -1,
        v => v
            .parse::<i64>()
            .map_err(|_| AppError::BadRequest("The form could not be read.".into()))?,
    };
    let (input, upload) = line_form(form);
    let sent_file = !matches!(upload, crate::expenses::receipts::Upload::None);
    let (org, uid, typed) = (user.org().clone(), user.id(), input.clone());
    let outcome =
        web::block(move || line_edit::update(&org, uid, id, line, version, &typed, upload)).await?;
    match outcome {
        Ok(AddLine::Added) => {
            session::set_notice(&session, "The line was saved.");
            Ok(see_other(&format!("/claims/{id}")))
        }
        Ok(AddLine::Invalid(errors)) => {
            let mut page = line_page(&user, id, line, Some(input)).await?;
            // Keep the version the person started from: a change made meanwhile is
            // still noticed when they post again.
            page.version = version;
            page.error = Some(refused_line_notice("saved", sent_file, &errors));
            page.errors = errors.0;
            html(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        // Changed meanwhile: what they typed is kept, on a form of the claim as it is
        // now, with a link to the line as stored; saving again is their decision.
        Err(e @ ClaimError::Stale) => {
            let mut page = line_page(&user, id, line, Some(input)).await?;
            page.error = Some(sentence(&e.to_string()));
            page.changed = true;
            html(refusal_status(&e), &page)
        }
        // The line itself was removed (another tab): what they typed waits in the
        // claim's new-line form (under that form's own key).
        Err(e @ ClaimError::LineGone) => {
            let mut page = page_for(&user, id).await?;
            page.input = input;
            page.error = Some(format!(
                "{} What you typed is in the new line form below: add it if you still need it.",
                sentence(&e.to_string())
            ));
            html(refusal_status(&e), &page)
        }
        // Restricted meanwhile: the form as typed, with the reason.
        Err(e @ ClaimError::Restricted) => {
            let mut page = line_page(&user, id, line, Some(input)).await?;
            page.error = Some(sentence(&e.to_string()));
            html(refusal_status(&e), &page)
        }
        Err(e @ ClaimError::Invalid(_)) => {
            // No longer a draft, or this form was used already: the line as it is now.
            let mut page = line_page(&user, id, line, None).await?;
            page.error = Some(sentence(&e.to_string()));
            html(refusal_status(&e), &page)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct RemoveForm {
    version: i64,
    #[serde(default)]
    confirm: String,
}

pub async fn remove(
    user: CurrentUser,
    session: Session,
    path: web::Path<LinePath>,
    form: web::Form<RemoveForm>,
) -> Result<HttpResponse, AppError> {
    let (id, line) = (path.id, path.line);
    let form = form.into_inner();
    if form.confirm != "yes" {
        let mut page = line_page(&user, id, line, None).await?;
        page.version = form.version;
        page.errors = vec![("confirm", "tick the box to confirm the removal".to_owned())];
        page.error = Some("The line was not removed: confirm it first.".into());
        return html(StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    let (org, uid) = (user.org().clone(), user.id());
    match web::block(move || line_edit::remove(&org, uid, id, line, form.version)).await? {
        Ok(()) => {
            session::set_notice(&session, "The line was removed.");
            Ok(see_other(&format!("/claims/{id}")))
        }
        Err(e @ (ClaimError::Stale | ClaimError::Invalid(_))) => refused(&user, id, &e).await,
        Err(e) => Err(e.into()),
    }
}
