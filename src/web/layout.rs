//! The parts of the page frame that depend on who is signed in.

pub struct NavLink {
    pub href: &'static str,
    pub label: &'static str,
}

/// Header content for a signed-in page: organisation, person, navigation, and the
/// CSRF token the sign-out form needs.
pub struct Chrome {
    pub org_name: String,
    pub user_name: String,
    pub csrf_token: String,
    pub links: Vec<NavLink>,
}

/// Renders a page with a status code. Rendering errors become the 500 page.
pub fn html(
    status: actix_web::http::StatusCode,
    page: &impl askama::Template,
) -> Result<actix_web::HttpResponse, super::AppError> {
    let body = page.render().map_err(super::AppError::internal)?;
    Ok(actix_web::HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body))
}

/// 303 to where a POST's result is shown.
pub fn see_other(to: &str) -> actix_web::HttpResponse {
    actix_web::HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, to))
        .finish()
}

/// A domain message as a sentence for a page: "the date is missing" -> "The date is
/// missing." (a full stop already there is not doubled).
pub fn sentence(text: &str) -> String {
    let text = text.trim_end_matches('.');
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}

/// A role as pages name it: "dpo" -> "data protection officer". Unknown codes are
/// shown as they are.
pub fn role_name(code: &str) -> &str {
    match code.trim() {
        "dpo" => "data protection officer",
        "admin" => "administrator",
        "employee" => "employee",
        "manager" => "manager",
        "finance" => "finance",
        other => other,
    }
}

/// "1 claim", "3 claims".
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A list of role codes ("employee,dpo" or "employee, dpo") in words, comma-separated.
pub fn role_names(list: &str) -> String {
    list.split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(role_name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_and_role_names() {
        assert_eq!(sentence("the date is missing"), "The date is missing.");
        assert_eq!(sentence("Done."), "Done.");
        assert_eq!(sentence(""), "");
        assert_eq!(
            role_names("employee,dpo"),
            "employee, data protection officer"
        );
        assert_eq!(role_names("admin, manager"), "administrator, manager");
    }
}
