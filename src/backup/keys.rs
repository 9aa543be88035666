//! Erasure reaches backups: when a person's key is destroyed, every backup of the
//! organisation's key store is rewritten without it, so their sealed data in every
//! backed-up `org.sqlite` is unreadable too, and what erasure clears in the live data
//! that their key does not reach is cleared in every backup as well.

use std::path::Path;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use super::manifest::{self, FileEntry, Manifest, SealState};
use super::verify::BackupEntry;
use super::{BackupError, KEYS_FILE, ORG_FILE, fsync, io_err, list, lock_org};
use crate::crypto::keyring::KeyRing;
use crate::crypto::random_array;
use crate::db::now_unix;
use crate::db::schema::keys::person_keys;
use crate::db::schema::org::{privacy_flags, users};
use crate::ids::{PersonKeyId, UserId};
use crate::tenancy::Org;

/// Makes every backup of `org_slug` forget `key`: it is deleted from each backup's
/// `keys.sqlite` (with `secure_delete` on, then `VACUUM`, so no free page keeps the old
/// bytes), and in each backup's `org.sqlite` the person it belonged to is scrubbed as
/// the live data was ([`crate::privacy::erasure::scrub`]: the comments others wrote on
/// their claims, which their key does not reach, the email index, the login), with an
/// audit entry, so restoring that backup brings none of it back. Each manifest follows
/// its files. Returns how many backups were rewritten.
///
/// Call it after `KeyRing::destroy`; a backup being taken meanwhile is waited for (same
/// lock), so call it off the async workers (`web::block`). It is idempotent: after a
/// failure, calling it again finishes the job. A backup that fails does not stop the
/// others; the first failure is returned after all were tried.
pub fn forget_person_key(
    backup_root: &Path,
    org: &Org,
    key: PersonKeyId,
) -> Result<usize, BackupError> {
    let org_slug = org.slug.as_str();
    let _lock = lock_org(backup_root, org_slug)?;
    let mut rewritten = 0;
    let mut first_failure = None;
    for entry in list(backup_root, org_slug)? {
        match forget_in_backup(&entry, &org.keys, key) {
            Ok(true) => rewritten += 1,
            Ok(false) => {}
            Err(e) => {
                log::error!(
                    "backup {} of {org_slug}: the destroyed key could not be removed: {e}",
                    entry.id
                );
                first_failure.get_or_insert(e);
            }
        }
    }
    match first_failure {
        Some(e) => Err(e),
        None => Ok(rewritten),
    }
}

/// One backup: its organisation data, then its key store, then its manifest. The key
/// goes last: [`forget_destroyed_keys`] finds unfinished work by a dead key still in a
/// backup, so a scrub that failed leaves the key there to be found and tried again. The
/// manifest is brought up to date whenever a file no longer matches it, not only when
/// this call changed the file, so a run that died before writing the manifest is
/// finished too. It is sealed again only if it was sealed and its files matched it
/// before this call: a seal is never put on files changed by someone else. Nor is such
/// a backup's old seal taken away (it would pass for one made before sealing): it keeps
/// the seal that no longer matches, and a restore refuses it. A rewrite cut short (a
/// crash between the files and the manifest) leaves a backup refused the same way; the
/// other backups stand.
fn forget_in_backup(
    entry: &BackupEntry,
    keys: &KeyRing,
    key: PersonKeyId,
) -> Result<bool, BackupError> {
    let keys_path = entry.dir.join(KEYS_FILE);
    let org_path = entry.dir.join(ORG_FILE);
    let mut manifest: Manifest = match &entry.manifest {
        Ok(m) => m.clone(),
        Err(_) => Manifest::read(&entry.dir).map_err(|reason| BackupError::Damaged {
            id: entry.id.clone(),
            reason,
        })?,
    };
    let files = || -> Result<Vec<FileEntry>, BackupError> {
        let mut out = Vec::new();
        for path in [&org_path, &keys_path] {
            if path.exists() {
                out.push(manifest::file_entry(path).map_err(io_err("could not read", path))?);
            }
        }
        Ok(out)
    };
    let before = files()?;
    let matches = |found: &[FileEntry], manifest: &Manifest| {
        found.iter().all(|f| manifest.file(&f.name) == Some(f))
    };
    let trusted = manifest.seal_state(keys) == SealState::Sealed && matches(&before, &manifest);
    let mut changed = false;
    if org_path.exists() {
        changed |= scrub_in(&org_path, key)?;
    }
    if keys_path.exists() {
        changed |= forget_in(&keys_path, key)?;
    }
    let after = if changed { files()? } else { before };
    if matches(&after, &manifest) {
        return Ok(changed);
    }
    for fresh in after {
        for f in manifest.files.iter_mut().filter(|f| f.name == fresh.name) {
            *f = fresh.clone();
        }
    }
    if trusted {
        manifest.seal_with(keys);
    }
    manifest.write(&entry.dir)?;
    Ok(true)
}

/// Opens one backed-up database for a rewrite that leaves no old bytes behind.
fn open_for_rewrite(path: &Path) -> Result<SqliteConnection, BackupError> {
    let url = path.display().to_string();
    let mut conn = SqliteConnection::establish(&url).map_err(|e| crate::db::DbError::Open {
        path: url.clone(),
        reason: e.to_string(),
    })?;
    conn.batch_execute(
        "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = DELETE; \
         PRAGMA secure_delete = ON; PRAGMA synchronous = FULL;",
    )?;
    Ok(conn)
}

/// Removes the key from one key store; false if it was not there.
fn forget_in(path: &Path, key: PersonKeyId) -> Result<bool, BackupError> {
    let mut conn = open_for_rewrite(path)?;
    let n = diesel::delete(person_keys::table.find(key.0)).execute(&mut conn)?;
    if n == 0 {
        return Ok(false);
    }
    conn.batch_execute("VACUUM;")?;
    drop(conn);
    fsync(path)?;
    Ok(true)
}

/// Scrubs, in one backed-up `org.sqlite`, the person whose key is `key`, unless that
/// copy already marks them erased; false if there was nothing to do.
fn scrub_in(path: &Path, key: PersonKeyId) -> Result<bool, BackupError> {
    let mut conn = open_for_rewrite(path)?;
    let people: Vec<i64> = users::table
        .left_join(privacy_flags::table)
        .filter(users::person_key_id.eq(key.0))
        .filter(privacy_flags::erased_at.is_null())
        .select(users::id)
        .load(&mut conn)?;
    if people.is_empty() {
        return Ok(false);
    }
    let now = now_unix();
    let mut indexes = Vec::new();
    for _ in &people {
        indexes.push(random_array::<32>()?);
    }
    crate::db::immediate(&mut conn, |c| -> QueryResult<()> {
        for (person, index) in people.iter().zip(&indexes) {
            let why = "in this backup, after the erasure";
            crate::privacy::erasure::scrub(c, None, UserId(*person), index, now, why)?;
        }
        Ok(())
    })?;
    drop(conn);
    fsync(path)?;
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
        // One unreadable backup must not keep the others holding a destroyed key.
        let ids = match key_ids(&path) {
            Ok(ids) => ids,
            Err(e) => {
                log::error!("backup {} of {}: {e}", entry.id, org.slug);
                continue;
            }
        };
        for id in ids {
            match org.keys.is_alive(PersonKeyId(id)) {
                Ok(false) => {
                    dead.insert(id);
                }
                Ok(true) => {}
                // Unknown to the live store (an older key store copied back, say): the
                // backup may hold its only copy, so it is left alone.
                Err(crate::crypto::CryptoError::UnknownKey) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    let mut rewritten = 0;
    let mut first_failure = None;
    for id in dead {
        match forget_person_key(backup_root, org, PersonKeyId(id)) {
            Ok(n) => rewritten += n,
            Err(e) => {
                first_failure.get_or_insert(e);
            }
        }
    }
    match first_failure {
        Some(e) => Err(e),
        None => Ok(rewritten),
    }
}

/// The key ids one backed-up key store holds, read without changing the file.
fn key_ids(path: &Path) -> Result<Vec<i64>, BackupError> {
    let url = super::read_only_uri(path);
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
    match forget_person_key(root, org, key) {
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
