//! The audit log's hash chain shows an entry changed in place, but not a log rewritten
//! from some entry on: whoever can write the database can recompute the rest of the
//! chain. Each backup's sealed manifest records the newest entry it held (its id and
//! hash); comparing the live log with the newest such record tells whether anything up
//! to it was rewritten since. Only the organisation key makes a seal, so the record
//! cannot be rewritten to match.

use std::path::Path;

use super::BackupError;
use super::manifest::SealState;
use crate::tenancy::Org;

/// What the newest sealed backup says about the live audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anchor {
    /// No sealed backup records an audit entry (none yet, or all made before sealing).
    Missing,
    /// The organisation was restored after the newest such backup was taken, so the
    /// live log may rightly hold other entries under the ids it recorded.
    BeforeRestore { backup: String },
    /// The live log holds the entry the backup recorded, unchanged.
    Holds { backup: String, entry: i64 },
    /// The live log's entry differs from the backup's record, or is gone.
    Differs { backup: String, entry: i64 },
}

/// Compares the live audit log of `org` with the newest sealed backup under `root`.
pub fn check(root: &Path, org: &Org) -> Result<Anchor, BackupError> {
    let restored_at = crate::audit::last_restored_at(org)?;
    for entry in super::list(root, org.slug.as_str())?.into_iter().rev() {
        let Ok(manifest) = entry.manifest else {
            continue;
        };
        let Some(head) = manifest.audit_head.clone() else {
            continue;
        };
        if manifest.seal_state(&org.keys) != SealState::Sealed {
            continue;
        }
        let taken = manifest.created().map(|t| t.unix_timestamp());
        if restored_at.is_some_and(|r| taken.is_none_or(|t| r >= t)) {
            return Ok(Anchor::BeforeRestore { backup: entry.id });
        }
        let live = crate::audit::hash_of(org, head.id)?;
        return Ok(match live {
            Some(hash) if hex::encode(&hash) == head.hash => Anchor::Holds {
                backup: entry.id,
                entry: head.id,
            },
            _ => Anchor::Differs {
                backup: entry.id,
                entry: head.id,
            },
        });
    }
    Ok(Anchor::Missing)
}
