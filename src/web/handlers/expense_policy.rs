//! The admin's expense policy page: base currency, line age, the second-approval
//! threshold, mileage rates and each category's limit and receipt threshold. Checking
//! and saving (with its audit entry) are `expenses::policy`'s.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

use crate::expenses::claims::ClaimError;
use crate::expenses::policy::{self, CategoryInput, PolicyInput};
use crate::web::access::CurrentUser;
use crate::web::layout::{Chrome, html, see_other};
use crate::web::{AppError, session};

#[derive(Template)]
#[template(path = "admin_expense_policy.html")]
struct PolicyPage {
    chrome: Option<Chrome>,
    csrf: String,
    notice: Option<String>,
    error: Option<String>,
    input: PolicyInput,
    errors: Vec<(String, String)>,
}

impl PolicyPage {
    fn field_error(&self, field: &str) -> String {
        self.errors
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    fn limit_error(&self, code: &str) -> String {
        self.field_error(&format!("limit_{code}"))
    }

    fn receipt_error(&self, code: &str) -> String {
        self.field_error(&format!("receipt_{code}"))
    }
}

async fn current(user: &CurrentUser) -> Result<PolicyInput, AppError> {
    let org = user.org().clone();
    Ok(web::block(move || policy::current_input(&org)).await??)
}

pub async fn show(user: CurrentUser, session: Session) -> Result<HttpResponse, AppError> {
    let input = current(&user).await?;
    let page = PolicyPage {
        chrome: Some(user.chrome()),
        csrf: user.csrf().to_owned(),
        notice: session::take_notice(&session),
        error: None,
        input,
        errors: Vec::new(),
    };
    html(StatusCode::OK, &page)
}

pub async fn save(
    user: CurrentUser,
    session: Session,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let get = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.chars().take(100).collect::<String>())
            .unwrap_or_default()
    };
    // The categories come from the database; the form only supplies their amounts.
    let mut input = current(&user).await?;
    input.base_currency = get("base_currency");
    input.max_line_age_days = get("max_line_age_days");
    input.second_approval_above = get("second_approval_above");
    // Added after the rest: a form without it (an older page) keeps the current bound.
    if form.iter().any(|(k, _)| k == "max_line") {
        input.max_line = get("max_line");
    }
    input.mileage_first_rate = get("mileage_first_rate");
    input.mileage_after_rate = get("mileage_after_rate");
    input.mileage_band_miles = get("mileage_band_miles");
    input.categories = input
        .categories
        .into_iter()
        .map(|c| CategoryInput {
            limit: get(&format!("limit_{}", c.code)),
            receipt_above: get(&format!("receipt_{}", c.code)),
            ..c
        })
        .collect();
    let refused = |input, errors| {
        let page = PolicyPage {
            chrome: Some(user.chrome()),
            csrf: user.csrf().to_owned(),
            notice: None,
            error: Some("The policy was not saved: see the messages below.".into()),
            input,
            errors,
        };
        html(StatusCode::UNPROCESSABLE_ENTITY, &page)
    };
    let (policy, cats) = match policy::check(&input) {
        Ok(checked) => checked,
        Err(errors) => return refused(input, errors),
    };
    let (org, actor) = (user.org().clone(), user.id());
    let changed = match web::block(move || policy::save(&org, actor, &policy, &cats)).await? {
        // Only the base currency is refused at saving (open claims use the old one).
        Err(ClaimError::Invalid(why)) => {
            return refused(input, vec![("base_currency".into(), why)]);
        }
        other => other?,
    };
    session::set_notice(
        &session,
        if changed {
            "The expense policy was saved."
        } else {
            "Nothing had changed."
        },
    );
    Ok(see_other("/admin/expense-policy"))
}
