//! Backups of one organisation: a consistent copy of `org.sqlite` and `keys.sqlite`
//! with a manifest of checksums, written to `<backup-dir>/<slug>/<backup-id>/` through
//! a hidden temp directory and a rename, so a half-written backup never looks complete.
//! Restore verifies first, then swaps the rows in inside one transaction. Nothing here
//! knows about HTTP.

pub mod anchor;
mod kept;
pub mod keys;
pub mod manifest;
pub mod registry_copy;
pub mod restore;
pub mod rotation;
pub mod status;
pub mod take;
pub mod verify;

pub use kept::Kept;

use std::fs::File;
use std::path::{Path, PathBuf};

pub use keys::{forget_destroyed_keys, forget_now, forget_person_key};
pub use manifest::Manifest;
pub use restore::{RestoreReport, Unsealed, restore, restore_tenant};
pub use rotation::Retention;
pub use take::{BackupReport, backup_all, backup_org};
pub use verify::{BackupEntry, list, verify, verify_sealed};

use crate::db::DbError;
use crate::tenancy::TenancyError;

/// File names inside one backup directory.
pub const ORG_FILE: &str = "org.sqlite";
pub const KEYS_FILE: &str = "keys.sqlite";
pub const MANIFEST_FILE: &str = "manifest.json";
/// Prefix of a backup still being written (never listed, removed by the next run).
const TEMP_PREFIX: &str = ".tmp-";
const LOCK_FILE: &str = ".lock";

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "the backup directory {backup} is inside the data directory {data}; put backups on a different disk or host (use --backup-dir)"
    )]
    InsideDataDir { backup: String, data: String },
    #[error(
        "the data directory {data} is inside the backup directory {backup}, so the master key would sit with the backups; keep the two apart (use --backup-dir)"
    )]
    DataInsideBackupDir { backup: String, data: String },
    #[error(
        "backup {id} is not sealed: it was made before backups were sealed, or its seal was taken away; restore it only if you know nobody has changed it since, with --accept-unsealed"
    )]
    Unsealed { id: String },
    #[error(
        "backup {id} does not carry this organisation's seal: it was changed outside ExpensePlus (or a rewrite of it after an erasure was cut short), or made by another installation; it is not restored"
    )]
    BadSeal { id: String },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("there is no backup {id} of organisation {slug}")]
    NotFound { slug: String, id: String },
    #[error("{0} is not a backup id (expected e.g. 20261125T020000Z)")]
    BadId(String),
    #[error(
        "backup {id} is damaged ({reason}); nothing was restored and the live data is unchanged"
    )]
    Damaged { id: String, reason: String },
    #[error("backup {id} belongs to another organisation ({reason}); nothing was restored")]
    WrongOrg { id: String, reason: String },
    #[error("the new backup {id} failed verification: {reason}")]
    Unverified { id: String, reason: String },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Tenancy(#[from] TenancyError),
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
}

impl From<diesel::result::Error> for BackupError {
    fn from(e: diesel::result::Error) -> Self {
        BackupError::Db(e.into())
    }
}

/// Flushes a written file to the disk.
pub(crate) fn fsync(path: &Path) -> Result<(), BackupError> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(io_err("could not sync", path))
}

pub(crate) fn io_err(
    what: &'static str,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> BackupError {
    let path = path.display().to_string();
    move |source| BackupError::Io { what, path, source }
}

/// Where backups go and how many are kept.
#[derive(Debug, Clone)]
pub struct BackupSettings {
    pub root: PathBuf,
    pub retention: Retention,
}

/// `path` made absolute without requiring it to exist: the longest existing ancestor
/// is resolved (symlinks included) and the rest appended.
fn resolve(path: &Path) -> PathBuf {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    };
    let mut rest = Vec::new();
    let mut cur = abs.as_path();
    loop {
        if let Ok(real) = cur.canonicalize() {
            return rest.iter().rev().fold(real, |p, c| p.join(c));
        }
        match (cur.parent(), cur.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                cur = parent;
            }
            _ => return abs,
        }
    }
}

/// Refuses a backup directory inside (or equal to) the data directory, and the other
/// way round: a backup on the same disk as the data dies with it, and backups beside
/// the master key are no longer kept apart from the means to read them.
pub fn check_location(data_dir: &Path, backup_root: &Path) -> Result<(), BackupError> {
    let (data, backup) = (resolve(data_dir), resolve(backup_root));
    let (b, d) = (
        backup_root.display().to_string(),
        data_dir.display().to_string(),
    );
    if backup.starts_with(&data) {
        return Err(BackupError::InsideDataDir { backup: b, data: d });
    }
    if data.starts_with(&backup) {
        return Err(BackupError::DataInsideBackupDir { backup: b, data: d });
    }
    Ok(())
}

/// The directory of one organisation's backups.
pub fn org_root(root: &Path, slug: &str) -> PathBuf {
    root.join(slug)
}

/// Holds an exclusive lock on an organisation's backup directory: taking a backup and
/// rewriting key stores after an erasure never interleave, in or across processes.
pub(crate) struct OrgLock(#[allow(dead_code)] File);

pub(crate) fn lock_org(root: &Path, slug: &str) -> Result<OrgLock, BackupError> {
    let dir = org_root(root, slug);
    make_private_dir(&dir)?;
    let path = dir.join(LOCK_FILE);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err("could not open the lock file", &path))?;
    file.lock()
        .map_err(io_err("could not lock the backup directory", &dir))?;
    Ok(OrgLock(file))
}

/// Makes `dir` and its parents, mode 0700 (backups hold sealed personal data).
pub(crate) fn make_private_dir(dir: &Path) -> Result<(), BackupError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_err("could not create the backup directory", dir))
}

/// A backup id is a UTC time stamp, optionally with `-N` for a second backup within
/// the same second: digits, `T`, `Z` and `-` only, so it is safe as a directory name.
pub fn check_id(id: &str) -> Result<(), BackupError> {
    let ok = id.len() >= 16
        && id.len() <= 24
        && id.starts_with(|c: char| c.is_ascii_digit())
        && id
            .chars()
            .all(|c| c.is_ascii_digit() || c == 'T' || c == 'Z' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(BackupError::BadId(id.to_owned()))
    }
}

/// SQLite string literal.
pub(crate) fn sql_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// SQLite identifier.
pub(crate) fn sql_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// A `file:` URI opening `path` read-only.
pub(crate) fn read_only_uri(path: &Path) -> String {
    let raw = path.display().to_string();
    let escaped = raw
        .replace('%', "%25")
        .replace('?', "%3f")
        .replace('#', "%23");
    format!("file:{escaped}?mode=ro")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn backup_dir_inside_the_data_dir_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        assert!(check_location(&data, &data.join("backups")).is_err());
        assert!(check_location(&data, &data).is_err());
        assert!(check_location(&data, &data.join("a/../b")).is_err());
        assert!(check_location(&data, &dir.path().join("backups")).is_ok());
        assert!(check_location(&data, &dir.path().join("data-backups")).is_ok());
    }

    #[test]
    fn ids() {
        assert!(check_id("20261125T020000Z").is_ok());
        assert!(check_id("20261125T020000Z-2").is_ok());
        for bad in ["", "../x", "20261125T02000/Z", ".tmp-20261125T020000Z", "x"] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
    }
}
