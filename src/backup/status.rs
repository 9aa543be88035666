//! What the DPO sees of their organisation's backups: each kept backup's time and size,
//! and whether the newest is recent enough for the daily run to be working.

use std::path::Path;

use time::{Duration, OffsetDateTime};

use super::BackupError;

/// A day plus the longest a run and a restart may take: a newest backup older than
/// this means a daily run was missed or failed.
pub const OVERDUE_AFTER: Duration = Duration::hours(26);

/// One kept backup as the page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    pub id: String,
    /// From its manifest; `None` if the manifest cannot be read (the backup is
    /// damaged and a restore would refuse it).
    pub taken_at: Option<OffsetDateTime>,
    pub bytes: u64,
}

/// Whether the backups are up to date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// No complete backup yet.
    Never,
    /// Backups are there, but none says when it was taken: all are damaged.
    Unreadable,
    Recent(OffsetDateTime),
    Overdue(OffsetDateTime),
}

/// `slug`'s backups under `root`, newest first, and how fresh the newest is at `now`.
pub fn of_org(
    root: &Path,
    slug: &str,
    now: OffsetDateTime,
) -> Result<(Vec<Shown>, Freshness), BackupError> {
    let mut shown: Vec<Shown> = super::list(root, slug)?
        .into_iter()
        .map(|e| Shown {
            id: e.id,
            taken_at: e.manifest.as_ref().ok().and_then(|m| m.created()),
            bytes: e.manifest.as_ref().map_or(0, |m| m.size()),
        })
        .collect();
    shown.reverse();
    let newest = shown.iter().filter_map(|s| s.taken_at).max();
    let freshness = match newest {
        None if shown.is_empty() => Freshness::Never,
        None => Freshness::Unreadable,
        Some(at) if now - at > OVERDUE_AFTER => Freshness::Overdue(at),
        Some(at) => Freshness::Recent(at),
    };
    Ok((shown, freshness))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_or_missing_backup_dir_has_no_backup_yet() {
        let dir = tempfile::tempdir().unwrap();
        let (shown, fresh) = of_org(dir.path(), "acme", OffsetDateTime::now_utc()).unwrap();
        assert!(shown.is_empty());
        assert_eq!(fresh, Freshness::Never);
    }
}
