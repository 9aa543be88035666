//! Erasure reaches backups: when a person's key is destroyed, every backup of the
//! organisation's key store is rewritten without it, so their sealed data in every
//! backed-up `org.sqlite` is unreadable too.

use std::path::Path;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use super::manifest::{self, Manifest};
use super::{BackupError, KEYS_FILE, io_err, list, lock_org};
use crate::db::schema::keys::person_keys;
use crate::ids::PersonKeyId;
use crate::tenancy::Org;

/// Deletes `key` from the `keys.sqlite` of every backup of `org_slug` (with
/// `secure_delete` on, then `VACUUM`, so no free page keeps the old bytes) and updates
/// each manifest's checksum. Returns how many backups were rewritten. Call it after
/// `KeyRing::destroy`; a backup being taken meanwhile is waited for (same lock), so
/// call it off the async workers (`web::block`). It is idempotent: after a failure,
/// calling it again finishes the job.
pub fn forget_person_key(
    backup_root: &Path,
    org_slug: &str,
    key: PersonKeyId,
) -> Result<usize, BackupError> {
    let _lock = lock_org(backup_root, org_slug)?;
    let mut rewritten = 0;
    for entry in list(backup_root, org_slug)? {
        let path = entry.dir.join(KEYS_FILE);
        if !path.exists() {
            continue;
        }
        if forget_in(&path, key)? {
            // The manifest follows the new file, so the backup still verifies.
            let mut manifest: Manifest = match entry.manifest {
                Ok(m) => m,
                Err(_) => Manifest::read(&entry.dir).map_err(|reason| BackupError::Damaged {
                    id: entry.id.clone(),
                    reason,
                })?,
            };
            let fresh = manifest::file_entry(&path).map_err(io_err("could not read", &path))?;
            for f in manifest.files.iter_mut().filter(|f| f.name == KEYS_FILE) {
                *f = fresh.clone();
            }
            manifest.write(&entry.dir)?;
            rewritten += 1;
        }
    }
    Ok(rewritten)
}

/// Removes the key from one key store; false if it was not there.
fn forget_in(path: &Path, key: PersonKeyId) -> Result<bool, BackupError> {
    let url = path.display().to_string();
    let mut conn = SqliteConnection::establish(&url).map_err(|e| crate::db::DbError::Open {
        path: url.clone(),
        reason: e.to_string(),
    })?;
    conn.batch_execute(
        "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = DELETE; \
         PRAGMA secure_delete = ON; PRAGMA synchronous = FULL;",
    )?;
    let n = diesel::delete(person_keys::table.find(key.0)).execute(&mut conn)?;
    if n == 0 {
        return Ok(false);
    }
    conn.batch_execute("VACUUM;")?;
    drop(conn);
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(io_err("could not sync", path))?;
    Ok(true)
}

/// Makes every backup of `org` hold only keys that are still alive in its live key
/// store: any key destroyed since (by erasure or retention) is forgotten everywhere.
/// The live store never deletes a key except by destroying it, so a key that is in a
/// backup but dead now is exactly one that erasure must reach. Run daily after the
/// backup, it finishes an erasure whose immediate rewrite failed (disk away, say).
pub fn forget_destroyed_keys(backup_root: &Path, org: &Org) -> Result<usize, BackupError> {
    let mut dead = std::collections::BTreeSet::new();
    for entry in list(backup_root, org.slug.as_str())? {
        let path = entry.dir.join(KEYS_FILE);
        if !path.exists() {
            continue;
        }
        for id in key_ids(&path)? {
            if !org.keys.is_alive(PersonKeyId(id))? {
                dead.insert(id);
            }
        }
    }
    let mut rewritten = 0;
    for id in dead {
        rewritten += forget_person_key(backup_root, org.slug.as_str(), PersonKeyId(id))?;
    }
    Ok(rewritten)
}

/// The key ids one backed-up key store holds, read without changing the file.
fn key_ids(path: &Path) -> Result<Vec<i64>, BackupError> {
    let url = format!("file:{}?mode=ro", path.display());
    let mut conn = SqliteConnection::establish(&url).map_err(|e| crate::db::DbError::Open {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok(person_keys::table
        .select(person_keys::id)
        .load::<i64>(&mut conn)?)
}

/// Right after `key` was destroyed: rewrites the backups now, if their location is known
/// (the server knows it; tests without backups pass `None`). Gives a sentence for the
/// person who erased. A failure is logged and finished by the next daily backup run.
pub fn forget_now(backup_root: Option<&Path>, org: &Org, key: PersonKeyId) -> String {
    let Some(root) = backup_root else {
        return String::new();
    };
    match forget_person_key(root, org.slug.as_str(), key) {
        Ok(n) => format!(" {n} backup(s) were rewritten without their key."),
        Err(e) => {
            log::error!(
                "rewriting the backups of {} after an erasure failed: {e}",
                org.slug
            );
            " The backups could not be rewritten yet; the next daily backup run finishes it."
                .to_owned()
        }
    }
}
