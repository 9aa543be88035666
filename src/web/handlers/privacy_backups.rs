//! The DPO's view of their organisation's backups (`/privacy/backups`): which are kept,
//! and a warning when the newest is more than a day old.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use time::OffsetDateTime;

use super::privacy::when;
use crate::backup::status::{self, Freshness};
use crate::web::access::CurrentUser;
use crate::web::layout::{Chrome, html};
use crate::web::{AppError, AppState};

/// One backup as a row of the table.
struct Row {
    taken_at: String,
    size: String,
    sound: bool,
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

/// GET /privacy/backups
pub async fn page(user: CurrentUser, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let Some(root) = state.backup_dir.get().cloned() else {
        let page = BackupsPage {
            chrome: Some(user.chrome()),
            configured: false,
            status: "This server is not set up to write backups.".into(),
            bad: true,
            rows: Vec::new(),
        };
        return html(StatusCode::OK, &page);
    };
    let slug = user.org().slug.to_string();
    let now = OffsetDateTime::now_utc();
    let found = web::block(move || status::of_org(&root, &slug, now)).await?;
    let (shown, freshness) = match found {
        Ok(found) => found,
        Err(e) => {
            log::error!(
                "the backups of organisation {} could not be listed: {e}",
                user.org().slug
            );
            let page = BackupsPage {
                chrome: Some(user.chrome()),
                configured: true,
                status: "The backups could not be read. Tell whoever runs the server.".into(),
                bad: true,
                rows: Vec::new(),
            };
            return html(StatusCode::OK, &page);
        }
    };
    let (status, bad) = match freshness {
        Freshness::Never => (
            "There is no backup of this organisation yet: the first is taken at the next daily run."
                .to_owned(),
            false,
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
            sound: s.taken_at.is_some(),
        })
        .collect();
    html(
        StatusCode::OK,
        &BackupsPage {
            chrome: Some(user.chrome()),
            configured: true,
            status,
            bad,
            rows,
        },
    )
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
