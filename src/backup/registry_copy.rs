//! A copy of `registry.sqlite` beside the organisations' backups. It holds each
//! organisation's key, wrapped under the master key, without which an organisation's
//! backup cannot be opened: after losing the data disk, `master.key` (kept apart) and
//! the newest copy here bring every organisation back, including those created since
//! anyone last copied the registry by hand. Sessions are left out (they would outlive
//! their sign-out in the copy): the copy holds organisations' names, slugs and wrapped
//! keys, nothing about people.

use std::path::{Path, PathBuf};

use super::take::{new_id, remove_leftovers, snapshot_then};
use super::{BackupError, TEMP_PREFIX, io_err, make_private_dir};
use crate::tenancy::Registry;

/// The folder under the backup root; not a slug (slugs have no `_`), so no
/// organisation's backups can meet it.
pub const DIR: &str = "_registry";
pub const FILE: &str = "registry.sqlite";
/// Copies kept; older ones are removed as each new one is made.
pub const KEEP: usize = 14;

/// Copies the registry to `<root>/_registry/<id>/registry.sqlite`, without sessions,
/// and removes all but the newest [`KEEP`] copies. Returns the file written.
pub fn take(registry: &Registry, root: &Path) -> Result<PathBuf, BackupError> {
    let dir = root.join(DIR);
    make_private_dir(root)?;
    // A command's backup run and the server's daily one never interleave here: each
    // would take the other's temp folder for a leftover.
    let _lock = super::lock_org(root, DIR)?;
    remove_leftovers(&dir);
    let now = time::OffsetDateTime::now_utc();
    let id = new_id(&dir, now.replace_nanosecond(0).unwrap_or(now))?;
    let tmp = dir.join(format!("{TEMP_PREFIX}{id}"));
    make_private_dir(&tmp)?;
    if let Err(e) = write_into(registry, &tmp.join(FILE)) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    let done = dir.join(&id);
    if let Err(e) = std::fs::rename(&tmp, &done) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(io_err(
            "could not move the registry copy into place at",
            &done,
        )(e));
    }
    super::manifest::sync_dir(&dir)?;
    prune(&dir);
    Ok(done.join(FILE))
}

fn write_into(registry: &Registry, dest: &Path) -> Result<(), BackupError> {
    let mut conn = registry.pool().get().map_err(crate::db::DbError::from)?;
    // Zeroed as deleted, then the file rebuilt: no session survives in a free page.
    let without_sessions = "PRAGMA secure_delete = ON; DELETE FROM sessions; VACUUM;";
    snapshot_then(&mut conn, dest, without_sessions)
}

/// After a master-key rotation: a fresh copy (under the new key), and every older copy
/// removed, since each holds the organisation keys under the retired one (organisations
/// are never removed, so the newest copy lists every one the older did). Returns how
/// many copies were replaced, or `None` if there were none (no backups here yet).
pub fn replace_all(registry: &Registry, root: &Path) -> Result<Option<usize>, BackupError> {
    let dir = root.join(DIR);
    if !dir.is_dir() {
        return Ok(None);
    }
    let fresh = take(registry, root)?;
    let keep = fresh
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let _lock = super::lock_org(root, DIR)?;
    let mut removed = 0;
    for id in copies(&dir).into_iter().filter(|id| *id != keep) {
        std::fs::remove_dir_all(dir.join(&id)).map_err(io_err(
            "could not remove the old registry copy",
            &dir.join(&id),
        ))?;
        removed += 1;
    }
    super::manifest::sync_dir(&dir)?;
    Ok(Some(removed))
}

/// The ids of the finished copies in `dir`, oldest first.
fn copies(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut ids: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with(TEMP_PREFIX) && super::check_id(name).is_ok())
        .collect();
    ids.sort();
    ids
}

/// Removes the oldest copies beyond [`KEEP`]; ids sort by time.
fn prune(dir: &Path) {
    let ids = copies(dir);
    let extra = ids.len().saturating_sub(KEEP);
    for id in &ids[..extra] {
        let _ = std::fs::remove_dir_all(dir.join(id));
    }
}
