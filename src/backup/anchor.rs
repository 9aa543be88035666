//! The audit log's hash chain shows an entry changed in place, but not a log rewritten
//! from some entry on: whoever can write the database can recompute the rest of the
//! chain. Each backup's sealed manifest records the newest entry it held (its id and
//! hash); comparing the live log with the newest such record tells whether anything up
//! to it was rewritten since. Only the organisation key makes a seal, so the record
//! cannot be rewritten to match.
//!
//! After a restore the live log rightly holds other entries under the ids that newer
//! backups recorded. When restores happened is kept beside the backups, sealed too
//! (`restores.json`): the live log cannot say, since whoever rewrites it could add a
//! restore entry to it.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::manifest::{SealState, check_seal, seal_of};
use super::{BackupError, org_root};
use crate::tenancy::Org;

const RESTORES_FILE: &str = "restores.json";
const SEAL_PURPOSE: &str = "backup restores";

/// The restores of one organisation, sealed like a manifest.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Restores {
    /// (Unix seconds, backup id), oldest first.
    restores: Vec<(i64, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seal: Option<String>,
}

impl Restores {
    /// The record under `root`, if it is there and its seal is the organisation's.
    fn read(root: &Path, org: &Org) -> Option<Restores> {
        let path = org_root(root, org.slug.as_str()).join(RESTORES_FILE);
        let text = std::fs::read_to_string(path).ok()?;
        let record: Restores = serde_json::from_str(&text).ok()?;
        let state = check_seal(
            &org.keys,
            SEAL_PURPOSE,
            &record.restores,
            record.seal.as_deref(),
        );
        let sealed = state == SealState::Sealed;
        if !sealed {
            log::warn!(
                "the restore record of {} does not carry its seal: it is not believed",
                org.slug
            );
        }
        sealed.then_some(record)
    }
}

/// Records, beside the backups, that `org` was restored from backup `id` at `at`.
/// Called by the restore, under the organisation's backup lock.
pub(super) fn record_restore(root: &Path, org: &Org, id: &str, at: i64) -> Result<(), BackupError> {
    let dir = org_root(root, org.slug.as_str());
    let mut record = Restores::read(root, org).unwrap_or_default();
    record.restores.push((at, id.to_owned()));
    record.seal = Some(seal_of(&org.keys, SEAL_PURPOSE, &record.restores));
    super::manifest::write_json(&dir, RESTORES_FILE, &record)
}

/// What the newest sealed backup says about the live audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anchor {
    /// No sealed backup records an audit entry (none yet, or all made before sealing).
    Missing,
    /// The newest backup that records an entry does not carry the organisation's seal.
    BadSeal { backup: String },
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
    let restored_at = Restores::read(root, org).and_then(|r| r.restores.last().map(|r| r.0));
    for entry in super::list(root, org.slug.as_str())?.into_iter().rev() {
        let Ok(manifest) = entry.manifest else {
            continue;
        };
        let Some(head) = manifest.audit_head.clone() else {
            continue;
        };
        match manifest.seal_state(&org.keys) {
            SealState::Sealed => {}
            SealState::Unsealed => continue,
            SealState::Wrong => return Ok(Anchor::BadSeal { backup: entry.id }),
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
