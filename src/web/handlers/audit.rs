//! The audit log viewer for the DPO and administrators: newest first, filtered by
//! action, person and date, 50 entries a page, with the state of the hash chain.
//! Opening it is itself an audit entry.
//!
//! The privacy register is the DPO's alone, so for anyone else (an administrator)
//! entries of privacy actions (`audit::is_privacy_entry`) name no one and keep their
//! detail back, and filtering by a person leaves them out.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use time::macros::format_description;
use time::{Date, OffsetDateTime, Time};

use crate::audit::{self, Action, AuditRow, Filter, VerifyError};
use crate::auth::{Role, users};
use crate::ids::UserId;
use crate::web::AppError;
use crate::web::access::CurrentUser;
use crate::web::layout::{Chrome, html};

pub const PAGE_SIZE: i64 = 50;

/// Who a privacy entry is about, and its detail, as shown to a viewer who is not a DPO.
const PRIVACY_SUBJECT: &str = "a person";
const PRIVACY_DETAIL: &str = "withheld: privacy (the DPO sees this entry in full)";

pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

pub struct Entry {
    pub id: i64,
    pub time: String,
    pub action: String,
    pub actor: String,
    pub subject: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    chrome: Option<Chrome>,
    actions: Vec<Choice>,
    people: Vec<Choice>,
    from: String,
    to: String,
    errors: Vec<String>,
    entries: Vec<Entry>,
    older: Option<String>,
    newest: Option<String>,
    chain: Result<usize, String>,
    page_size: i64,
}

/// The query as typed, kept for the form, and what it means once checked.
#[derive(Default)]
struct Query {
    action: String,
    person: String,
    from: String,
    to: String,
    before: String,
}

impl Query {
    /// The first value of each known parameter; anything else is ignored.
    fn parse(raw: &str) -> Result<Query, String> {
        let pairs = serde_urlencoded::from_str::<Vec<(String, String)>>(raw)
            .map_err(|_| "The address of this page could not be read.".to_owned())?;
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.trim().to_owned())
                .unwrap_or_default()
        };
        Ok(Query {
            action: get("action"),
            person: get("person"),
            from: get("from"),
            to: get("to"),
            before: get("before"),
        })
    }

    /// The filter and the page start, or one message per bad value.
    fn check(&self) -> Result<(Filter, Option<i64>), Vec<String>> {
        let mut errors = Vec::new();
        let mut filter = Filter::default();
        if !self.action.is_empty() {
            match Action::from_code(&self.action) {
                Some(a) => filter.action = Some(a),
                None => errors.push("Choose an action from the list.".to_owned()),
            }
        }
        if !self.person.is_empty() {
            match self.person.parse::<i64>() {
                Ok(id) if id > 0 => filter.person = Some(UserId(id)),
                _ => errors.push("Choose a person from the list.".to_owned()),
            }
        }
        let date = |raw: &str, label: &str, errors: &mut Vec<String>| {
            if raw.is_empty() {
                return None;
            }
            match Date::parse(raw, format_description!("[year]-[month]-[day]")) {
                Ok(d) => Some(d),
                Err(_) => {
                    errors.push(format!("The {label} date must be a date like 2026-01-31."));
                    None
                }
            }
        };
        let from = date(&self.from, "from", &mut errors);
        let to = date(&self.to, "to", &mut errors);
        if let (Some(f), Some(t)) = (from, to)
            && f > t
        {
            errors.push("The from date must not be after the to date.".to_owned());
        }
        filter.from = from.map(|d| d.with_time(Time::MIDNIGHT).assume_utc().unix_timestamp());
        filter.to = to.map(|d| d.with_time(Time::MIDNIGHT).assume_utc().unix_timestamp() + 86_399);
        let before = if self.before.is_empty() {
            None
        } else {
            match self.before.parse::<i64>() {
                Ok(id) if id > 0 => Some(id),
                _ => {
                    errors.push("That page of the log does not exist.".to_owned());
                    None
                }
            }
        };
        if errors.is_empty() {
            Ok((filter, before))
        } else {
            Err(errors)
        }
    }

    /// This query's link with another page start (`None`: the newest entries).
    fn link(&self, before: Option<i64>) -> String {
        let mut pairs: Vec<(&str, String)> = [
            ("action", &self.action),
            ("person", &self.person),
            ("from", &self.from),
            ("to", &self.to),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k, v.clone()))
        .collect();
        if let Some(b) = before {
            pairs.push(("before", b.to_string()));
        }
        match serde_urlencoded::to_string(&pairs) {
            Ok(q) if !q.is_empty() => format!("/audit?{q}"),
            _ => "/audit".to_owned(),
        }
    }

    /// What the viewing entry records: checked codes, ids and dates only, never what
    /// was typed into a bad filter.
    fn summary(&self, checked: bool) -> String {
        if !checked {
            return "invalid filter".to_owned();
        }
        [
            ("action", &self.action),
            ("person", &self.person),
            ("from", &self.from),
            ("to", &self.to),
            ("before", &self.before),
        ]
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
    }
}

fn format_time(at: i64) -> String {
    OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|t| {
            t.format(format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
            ))
            .ok()
        })
        .unwrap_or_else(|| at.to_string())
}

/// What the page needs from the organisation's data.
struct Loaded {
    names: HashMap<i64, String>,
    rows: Vec<AuditRow>,
    chain: Result<usize, String>,
    unknown_person: bool,
}

fn load(
    user: &CurrentUser,
    mut query: Option<(Filter, Option<i64>)>,
    summary: &str,
) -> Result<Loaded, AppError> {
    let org = user.org();
    let names: HashMap<i64, String> = users::list(org)?
        .into_iter()
        .map(|u| (u.id.0, u.name.to_string()))
        .collect();
    let unknown_person = query
        .as_ref()
        .and_then(|(f, _)| f.person)
        .is_some_and(|p| !names.contains_key(&p.0));
    if unknown_person {
        query = None;
    }
    let subject = query.as_ref().and_then(|(f, _)| f.person);
    audit::record(
        org,
        Some(user.id()),
        subject,
        Action::ViewedAuditLog,
        summary,
    )?;
    let rows = match &query {
        Some((filter, before)) => audit::page(org, filter, *before, PAGE_SIZE + 1)?,
        None => Vec::new(),
    };
    let chain = match audit::verify(org) {
        Ok(n) => Ok(n),
        Err(VerifyError::Db(e)) => return Err(e.into()),
        Err(e) => Err(e.to_string()),
    };
    Ok(Loaded {
        names,
        rows,
        chain,
        unknown_person,
    })
}

pub async fn page(user: CurrentUser, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let (query, mut errors) = match Query::parse(req.query_string()) {
        Ok(q) => (q, Vec::new()),
        Err(e) => (Query::default(), vec![e]),
    };
    let checked = match query.check() {
        Ok(c) if errors.is_empty() => Some(c),
        Ok(_) => None,
        Err(mut e) => {
            errors.append(&mut e);
            None
        }
    };
    let dpo = user.has(Role::Dpo);
    let checked = checked.map(|(mut filter, before)| {
        // Otherwise the entries left after filtering by a person would tell that
        // they are the subject of the hidden ones.
        filter.without_privacy = filter.person.is_some() && !dpo;
        (filter, before)
    });
    let summary = query.summary(checked.is_some());
    let viewer = user.clone();
    let mut loaded = web::block(move || load(&viewer, checked, &summary)).await??;
    if loaded.unknown_person {
        errors.push("Choose a person from the list.".to_owned());
    }
    let older = if loaded.rows.len() as i64 > PAGE_SIZE {
        loaded.rows.truncate(PAGE_SIZE as usize);
        loaded.rows.last().map(|r| query.link(Some(r.id)))
    } else {
        None
    };
    let name = |id: Option<i64>| match id {
        None => "—".to_owned(),
        Some(id) => loaded
            .names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("unknown person #{id}")),
    };
    let entries = loaded
        .rows
        .iter()
        .map(|r| {
            let (actor, subject, detail) = if !dpo && r.is_privacy() {
                // The actor is named unless it is the person themselves (their own
                // request or download); the DPO acting stays accountable by name.
                let someone = |id: Option<i64>| match id {
                    None => "—".to_owned(),
                    Some(_) => PRIVACY_SUBJECT.to_owned(),
                };
                let actor = if r.actor_id.is_some() && r.actor_id == r.subject_id {
                    someone(r.actor_id)
                } else {
                    name(r.actor_id)
                };
                (actor, someone(r.subject_id), PRIVACY_DETAIL.to_owned())
            } else {
                (name(r.actor_id), name(r.subject_id), r.detail.clone())
            };
            Entry {
                id: r.id,
                time: format_time(r.at),
                action: r.action.replace('_', " "),
                actor,
                subject,
                detail,
            }
        })
        .collect();
    let actions = Action::ALL
        .iter()
        .map(|a| Choice {
            value: a.code().to_owned(),
            label: a.code().replace('_', " "),
            selected: a.code() == query.action,
        })
        .collect();
    let mut people: Vec<Choice> = loaded
        .names
        .iter()
        .map(|(id, n)| Choice {
            value: id.to_string(),
            label: format!("{n} (#{id})"),
            selected: id.to_string() == query.person,
        })
        .collect();
    people.sort_by_key(|a| a.label.to_lowercase());
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let newest = (!query.before.is_empty()).then(|| query.link(None));
    let page = AuditPage {
        chrome: Some(user.chrome()),
        actions,
        people,
        newest,
        from: query.from,
        to: query.to,
        errors,
        entries,
        older,
        chain: loaded.chain,
        page_size: PAGE_SIZE,
    };
    html(status, &page)
}
