//! My claims: the list of one's own claims, filtered by status, category and dates and
//! paged newest first (keyset on the claim id), and starting a new claim from it.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::claim_page::{form_key, page_for, refused};
use crate::auth::users;
use crate::expenses::claims::{self, Category, ClaimError, ClaimFields, ClaimSummary};
use crate::expenses::drafts;
use crate::expenses::money::format_minor;
use crate::expenses::status::Status;
use crate::ids::UserId;
use crate::tenancy::Org;
use crate::web::AppError;
use crate::web::access::CurrentUser;
use crate::web::layout::{Chrome, html, see_other, sentence};
use crate::web::session;
use actix_session::Session;

const PAGE: i64 = 50;

pub struct ClaimItem {
    pub id: i64,
    pub title: String,
    pub owner: String,
    pub status: &'static str,
    pub total: String,
}

/// A list row: the title opened, the total in the claim's currency.
pub(super) fn item(org: &Org, c: &ClaimSummary) -> Result<ClaimItem, AppError> {
    let mut total = format_minor(c.total_minor, c.currency());
    total.push(' ');
    total.push_str(&c.currency);
    Ok(ClaimItem {
        id: c.id,
        title: claims::title(org, c)?.into_display(),
        owner: String::new(),
        status: c.status().label(),
        total,
    })
}

/// Items naming their owners, whose names are read and opened once per page in one
/// query rather than once per row (an approver's queue is mostly a few people's claims).
pub(super) fn items_with_owners(
    org: &Org,
    rows: &[ClaimSummary],
) -> Result<Vec<ClaimItem>, AppError> {
    let names = users::names(org, rows.iter().map(|c| UserId(c.owner_id)))?;
    rows.iter()
        .map(|c| {
            let mut it = item(org, c)?;
            it.owner = match names.get(&UserId(c.owner_id)) {
                Some(name) => name.to_string(),
                None => "unknown".into(),
            };
            Ok(it)
        })
        .collect()
}

#[derive(Template)]
#[template(path = "claims.html")]
struct ListPage {
    chrome: Option<Chrome>,
    csrf: String,
    claims: Vec<ClaimItem>,
    /// The filters as typed, for the form.
    q: ListParams,
    statuses: Vec<(&'static str, String)>,
    categories: Vec<(String, String)>,
    filter_errors: Vec<String>,
    filtered: bool,
    /// The "Older claims" link, carrying every filter.
    older: Option<String>,
    form_key: String,
    /// The new claim's title as typed, and its message when it was refused.
    title: String,
    title_error: String,
    error: Option<String>,
    /// What the last action did (a draft discarded).
    notice: Option<String>,
}

#[derive(Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    before: Option<i64>,
}

/// The list's query string as typed: status, category, from, to (line dates,
/// YYYY-MM-DD) and `before` (the keyset page start).
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    pub status: String,
    pub category: String,
    pub from: String,
    pub to: String,
    pub before: String,
    /// The approvals queue's page start (that list runs oldest first).
    pub after: String,
}

impl From<ListQuery> for ListParams {
    fn from(q: ListQuery) -> Self {
        ListParams {
            status: q.status.unwrap_or_default(),
            before: q.before.map(|b| b.to_string()).unwrap_or_default(),
            ..Default::default()
        }
    }
}

impl ListParams {
    /// The first value of each known parameter; anything else is ignored.
    pub fn parse(raw: &str) -> ListParams {
        let pairs = serde_urlencoded::from_str::<Vec<(String, String)>>(raw).unwrap_or_default();
        let get = |name: &str| {
            let v = pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim());
            v.unwrap_or_default().chars().take(40).collect::<String>()
        };
        ListParams {
            status: get("status"),
            category: get("category"),
            from: get("from"),
            to: get("to"),
            before: get("before"),
            after: get("after"),
        }
    }

    /// The filter and the page start, or a message for each bad value.
    pub fn check(
        &self,
        cats: &[Category],
    ) -> Result<(claims::ListFilter, Option<i64>), Vec<String>> {
        let mut errors = Vec::new();
        let mut f = claims::ListFilter::default();
        if !self.status.is_empty() {
            f.status = Status::parse(&self.status);
            if f.status.is_none() {
                errors.push("Choose a status from the list.".to_owned());
            }
        }
        if !self.category.is_empty() {
            match cats.iter().find(|c| c.code == self.category) {
                Some(c) => f.category = Some(c.code.clone()),
                None => errors.push("Choose a category from the list.".to_owned()),
            }
        }
        let format = time::macros::format_description!("[year]-[month]-[day]");
        for (raw, slot, label) in [
            (&self.from, &mut f.from, "from"),
            (&self.to, &mut f.to, "to"),
        ] {
            if !raw.is_empty() {
                *slot = time::Date::parse(raw, &format).ok();
                if slot.is_none() {
                    errors.push(format!("The {label} date must be a date like 2026-01-31."));
                }
            }
        }
        if let (Some(a), Some(b)) = (f.from, f.to)
            && a > b
        {
            errors.push("The from date must not be after the to date.".to_owned());
        }
        let before = match self.before.parse::<i64>() {
            _ if self.before.is_empty() => None,
            Ok(b) if b > 0 => Some(b),
            _ => {
                errors.push(
                    "That page of claims does not exist: start again from the first page."
                        .to_owned(),
                );
                None
            }
        };
        if errors.is_empty() {
            Ok((f, before))
        } else {
            Err(errors)
        }
    }

    /// A category or date filter: a condition on the claims' lines.
    pub fn filters_lines(&self) -> bool {
        !(self.category.is_empty() && self.from.is_empty() && self.to.is_empty())
    }

    /// This list from `before` on, with the same filters.
    fn older(&self, before: i64) -> String {
        self.page_link("/claims", ("before", before))
    }

    /// `path` with the same filters and the page start `at` (e.g. `("before", 120)`).
    pub fn page_link(&self, path: &str, at: (&str, i64)) -> String {
        let start = at.1.to_string();
        let pairs: Vec<(&str, &str)> = [
            ("status", self.status.as_str()),
            ("category", &self.category),
            ("from", &self.from),
            ("to", &self.to),
            (at.0, &start),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect();
        format!(
            "{path}?{}",
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        )
    }

    /// Any filter set (the page start aside).
    pub fn filtered(&self) -> bool {
        [&self.status, &self.category, &self.from, &self.to]
            .iter()
            .any(|v| !v.is_empty())
    }
}

async fn list_page(
    user: &CurrentUser,
    q: impl Into<ListParams>,
    title: String,
) -> Result<ListPage, AppError> {
    let q: ListParams = q.into();
    let (org, id, params) = (user.org().clone(), user.id(), q.clone());
    let read = move || -> Result<_, AppError> {
        let cats = claims::categories(&org)?;
        let (items, errors) = match params.check(&cats) {
            Ok((filter, before)) => {
                let rows = claims::list_own(&org, id, &filter, before, PAGE)?;
                let items = rows.iter().map(|c| item(&org, c));
                (items.collect::<Result<Vec<_>, _>>()?, Vec::new())
            }
            Err(errors) => (Vec::new(), errors),
        };
        let cats = cats.into_iter().map(|c| (c.code, c.label)).collect();
        Ok((items, cats, errors))
    };
    // Without line filters the page is at most 50 index entries and 50 openings, done
    // on the request's thread like the session and user reads (WAL readers never wait,
    // and the hop to a blocking thread and back cost more than the work). Line filters
    // probe every claim of the person until 50 match: that may be long, so it goes to
    // a blocking thread and never holds up the other requests of this worker.
    let (items, categories, filter_errors) = if q.filters_lines() {
        web::block(read).await??
    } else {
        read()?
    };
    let older = (items.len() as i64 == PAGE)
        .then(|| items.last().map(|c| q.older(c.id)))
        .flatten();
    Ok(ListPage {
        chrome: Some(user.chrome()),
        csrf: user.csrf().to_owned(),
        claims: items,
        filtered: q.filtered(),
        q,
        statuses: Status::ALL
            .iter()
            .map(|s| (s.code(), s.to_string()))
            .collect(),
        categories,
        filter_errors,
        older,
        form_key: form_key(),
        title,
        title_error: String::new(),
        error: None,
        notice: None,
    })
}

/// GET /claims: one's own claims, filtered; bad filter values are a 400 with messages.
pub async fn list(
    user: CurrentUser,
    session: Session,
    req: actix_web::HttpRequest,
) -> Result<HttpResponse, AppError> {
    let mut page = list_page(&user, ListParams::parse(req.query_string()), String::new()).await?;
    page.notice = session::take_notice(&session);
    let status = if page.filter_errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    html(status, &page)
}

#[derive(Deserialize)]
pub struct NewClaim {
    title: String,
    /// From the page's form; a post without one (CONTRACT.md's `title` alone) is
    /// simply not guarded against being sent twice.
    #[serde(default)]
    form_key: String,
}

pub async fn create(
    user: CurrentUser,
    form: web::Form<NewClaim>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let (org, id) = (user.org().clone(), user.id());
    let title = form.title.clone();
    match web::block(move || claims::create(&org, id, &form.title, &form.form_key)).await? {
        Ok(claim) => Ok(see_other(&format!("/claims/{claim}"))),
        Err(e @ (ClaimError::Field(..) | ClaimError::Invalid(_))) => {
            let no_filter = ListQuery {
                status: None,
                before: None,
            };
            let mut page = list_page(&user, no_filter, title).await?;
            // The title's own message goes on its field; anything else in the banner.
            if e.field() == Some("title") {
                page.title_error = sentence(&e.to_string());
                page.error = Some("The claim was not created: see the message below.".into());
            } else {
                page.error = Some(sentence(&e.to_string()));
            }
            html(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct DiscardForm {
    version: Option<i64>,
    #[serde(default)]
    confirm: String,
}

/// POST /claims/{id}/discard: the owner throws a draft away, once they tick the box.
pub async fn discard(
    user: CurrentUser,
    session: Session,
    path: web::Path<i64>,
    form: web::Form<DiscardForm>,
) -> Result<HttpResponse, AppError> {
    let (id, form) = (path.into_inner(), form.into_inner());
    if form.confirm != "yes" {
        let mut page = page_for(&user, id).await?;
        page.error = Some("The draft was not discarded: tick the box to confirm it first.".into());
        return html(StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    let (org, uid) = (user.org().clone(), user.id());
    match web::block(move || drafts::discard(&org, uid, id, form.version)).await? {
        Ok(()) => {
            session::set_notice(&session, "The draft was discarded.");
            Ok(see_other("/claims"))
        }
        // Discarded already (a second click), or never theirs: nothing to show.
        Err(ClaimError::NotFound) => Ok(see_other("/claims")),
        Err(e @ (ClaimError::Stale | ClaimError::Invalid(_) | ClaimError::Restricted)) => {
            refused(&user, id, &e).await
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::ListParams;

    #[test]
    fn a_page_link_keeps_the_filters_and_escapes_them() {
        let q = ListParams {
            category: "meals".into(),
            from: "2026-01-01".into(),
            status: "a&b".into(),
            ..Default::default()
        };
        assert_eq!(
            q.page_link("/approvals", ("after", 7)),
            "/approvals?status=a%26b&category=meals&from=2026-01-01&after=7"
        );
        assert!(q.filtered());
        assert!(!ListParams::default().filtered());
    }
}
