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
