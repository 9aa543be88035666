//! What the DPO sees of their organisation's backups: each kept backup's time and size,
//! and whether the newest is recent enough for the daily run to be working.

use std::path::Path;

use time::OffsetDateTime;

use super::BackupError;
use super::manifest::SealState;
use crate::crypto::keyring::KeyRing;
use crate::jobs::late;

/// One kept backup as the page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    pub id: String,
    /// From its manifest; `None` if the manifest cannot be read (the backup is
    /// damaged and a restore would refuse it).
    pub taken_at: Option<OffsetDateTime>,
    pub bytes: u64,
    /// Its manifest's seal under the organisation key given, if any was.
    pub seal: Option<SealState>,
}

/// Whether the backups are up to date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// No backup yet, and the organisation is too new to have had its first.
    NotYet,
    /// No backup, though the organisation is old enough to have one: the daily run
    /// has failed for it every time.
    Missing,
    /// Backups are there, but none says when it was taken: all are damaged.
    Unreadable,
    Recent(OffsetDateTime),
    Overdue(OffsetDateTime),
}

impl Freshness {
    /// Whether the daily backups are failing, as far as one can tell from here.
    pub fn is_bad(self) -> bool {
        !matches!(self, Freshness::NotYet | Freshness::Recent(_))
    }
}

/// The backups under `root` of the organisation `slug`, created at `created`, newest
/// first, and how fresh the newest is at `now`; each manifest's seal is checked with
/// `keys` when given.
pub fn of_org(
    root: &Path,
    slug: &str,
    keys: Option<&KeyRing>,
    created: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(Vec<Shown>, Freshness), BackupError> {
    let mut shown: Vec<Shown> = super::list(root, slug)?
        .into_iter()
        .map(|e| Shown {
            id: e.id,
            taken_at: e.manifest.as_ref().ok().and_then(|m| m.created()),
            bytes: e.manifest.as_ref().map_or(0, |m| m.size()),
            seal: keys.and_then(|k| e.manifest.as_ref().ok().map(|m| m.seal_state(k))),
        })
        .collect();
    shown.reverse();
    let newest = shown.iter().filter_map(|s| s.taken_at).max();
    let freshness = match newest {
        None if shown.is_empty() && !late(None, created, now) => Freshness::NotYet,
        None if shown.is_empty() => Freshness::Missing,
        None => Freshness::Unreadable,
        Some(at) if late(Some(at), created, now) => Freshness::Overdue(at),
        Some(at) => Freshness::Recent(at),
    };
    Ok((shown, freshness))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use time::Duration;

    #[test]
    fn no_backup_is_bad_news_only_once_the_first_is_overdue() {
        let dir = tempfile::tempdir().unwrap();
        let now = OffsetDateTime::now_utc();
        let (shown, fresh) =
            of_org(dir.path(), "acme", None, now - Duration::hours(25), now).unwrap();
        assert!(shown.is_empty());
        assert_eq!(fresh, Freshness::NotYet);
        assert!(!fresh.is_bad());
        let (_, fresh) = of_org(dir.path(), "acme", None, now - Duration::hours(27), now).unwrap();
        assert_eq!(fresh, Freshness::Missing);
        assert!(fresh.is_bad());
    }
}
