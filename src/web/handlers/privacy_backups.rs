//! The DPO's view of their organisation's backups (`/privacy/backups`): which are kept,
//! and a warning when the newest is more than a day old.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use time::OffsetDateTime;

use super::privacy::when;
use crate::backup::BackupError;
use crate::backup::manifest::SealState;
use crate::backup::status::{self, Freshness, Shown};
use crate::tenancy::{Org, TenancyError};
use crate::web::access::CurrentUser;
use crate::web::layout::{Chrome, html};
use crate::web::{AppError, AppState};

/// One backup as a row of the table.
struct Row {
    taken_at: String,
    size: String,
    state: &'static str,
}

#[derive(Template)]
#[template(path = "privacy_backups.html")]
struct BackupsPage {
    chrome: Option<Chrome>,
    /// Whether this server writes backups (every `serve` does; a bare test app not).
    configured: bool,
    /// The state of the backups in one sentence, and whether it is bad news.
    status: String,
    bad: bool,
    rows: Vec<Row>,
}

/// Bytes in the units a person reads.
fn size_words(bytes: u64) -> String {
    const MB: u64 = 1024 * 1024;
    if bytes >= MB {
        format!("{}.{} MB", bytes / MB, (bytes % MB) * 10 / MB)
    } else {
        format!("{} KB", bytes.div_ceil(1024))
    }
}

/// This server's look at `org`'s backups, or `None` if it writes none. Blocking.
pub fn look(state: &AppState, org: &Org) -> Option<Result<(Vec<Shown>, Freshness), BackupError>> {
    let root = state.backup_dir.get()?;
    let now = OffsetDateTime::now_utc();
    let found = org_created(state, org)
        .map_err(BackupError::from)
        .and_then(|created| status::of_org(root, org.slug.as_str(), Some(&org.keys), created, now));
    Some(found)
}

/// When `org` was created (from the registry; now if the record says nothing).
pub fn org_created(state: &AppState, org: &Org) -> Result<OffsetDateTime, TenancyError> {
    Ok(state
        .tenants
        .registry()
        .find(org.id)?
        .and_then(|r| OffsetDateTime::from_unix_timestamp(r.created_at).ok())
        .unwrap_or_else(OffsetDateTime::now_utc))
}

/// GET /privacy/backups
pub async fn page(user: CurrentUser, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let org = user.org().clone();
    let found = web::block(move || look(&state, &org)).await?;
    let page = |configured: bool, status: &str, bad: bool, rows: Vec<Row>| BackupsPage {
        chrome: Some(user.chrome()),
        configured,
        status: status.to_owned(),
        bad,
        rows,
    };
    let (shown, freshness) = match found {
        Some(Ok(found)) => found,
        None => {
            let none = page(
                false,
                "This server is not set up to write backups.",
                true,
                vec![],
            );
            return html(StatusCode::OK, &none);
        }
        Some(Err(e)) => {
            log::error!(
                "the backups of organisation {} could not be listed: {e}",
                user.org().slug
            );
            let said = "The backups could not be read. Tell whoever runs the server.";
            return html(StatusCode::OK, &page(true, said, true, vec![]));
        }
    };
    let (status, bad) = match freshness {
        Freshness::NotYet => (
            "There is no backup of this organisation yet: the first is taken at the next daily run."
                .to_owned(),
            false,
        ),
        Freshness::Missing => (
            "There is no backup of this organisation, though it is more than a day old: the \
             daily backups are failing. Tell whoever runs the server."
                .to_owned(),
            true,
        ),
        Freshness::Unreadable => (
            "None of the backups kept can be read. Tell whoever runs the server.".to_owned(),
            true,
        ),
        Freshness::Recent(at) => (
            format!("The newest backup was taken on {}.", when(at.unix_timestamp())),
            false,
        ),
        Freshness::Overdue(at) => (
            format!(
                "The newest backup was taken on {}, more than a day ago: the daily backups \
                 are failing. Tell whoever runs the server.",
                when(at.unix_timestamp())
            ),
            true,
        ),
    };
    let rows = shown
        .into_iter()
        .map(|s| Row {
            taken_at: s.taken_at.map_or_else(
                || format!("unknown (backup {})", s.id),
                |t| when(t.unix_timestamp()),
            ),
            size: size_words(s.bytes),
            state: match (s.taken_at, s.seal) {
                (None, _) => "damaged: its list of files cannot be read",
                (Some(_), Some(SealState::Wrong)) => {
                    "changed outside ExpensePlus: its seal does not match, so it cannot be restored"
                }
                (Some(_), Some(SealState::Unsealed)) => "complete, made before backups were sealed",
                (Some(_), _) => "complete and sealed",
            },
        })
        .collect();
    html(StatusCode::OK, &page(true, &status, bad, rows))
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_in_words() {
        assert_eq!(super::size_words(0), "0 KB");
        assert_eq!(super::size_words(1), "1 KB");
        assert_eq!(super::size_words(1536 * 1024), "1.5 MB");
    }
}
