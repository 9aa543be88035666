//! Checking a backup before trusting it: every file's size and SHA-256 against the
//! manifest, then each database opened read-only and `PRAGMA integrity_check`.

use std::path::{Path, PathBuf};

use diesel::prelude::*;
use diesel::sql_types::Text;

use super::manifest::{self, Manifest, SealState};
use super::{BackupError, KEYS_FILE, ORG_FILE, check_id, org_root, read_only_uri};
use crate::tenancy::Org;

#[derive(QueryableByName)]
struct Check {
    #[diesel(sql_type = Text)]
    integrity_check: String,
}

/// Opens `path` read-only and runs SQLite's full integrity check.
pub(crate) fn integrity(path: &Path) -> Result<(), String> {
    let mut conn = SqliteConnection::establish(&read_only_uri(path))
        .map_err(|e| format!("{} could not be opened: {e}", file_name(path)))?;
    let rows: Vec<Check> = diesel::sql_query("PRAGMA integrity_check")
        .load(&mut conn)
        .map_err(|e| format!("{} could not be checked: {e}", file_name(path)))?;
    match rows.first() {
        Some(r) if rows.len() == 1 && r.integrity_check == "ok" => Ok(()),
        _ => Err(format!(
            "{} fails SQLite's integrity check",
            file_name(path)
        )),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Checks one backup directory; the error says what is wrong in plain words.
pub(crate) fn verify_dir(dir: &Path, id: &str) -> Result<Manifest, String> {
    let manifest = Manifest::read(dir)?;
    if manifest.backup_id != id {
        return Err("its manifest names a different backup".into());
    }
    for name in [ORG_FILE, KEYS_FILE] {
        let expected = manifest
            .file(name)
            .ok_or_else(|| format!("its manifest does not list {name}"))?;
        let path = dir.join(name);
        let actual =
            manifest::file_entry(&path).map_err(|e| format!("{name} could not be read: {e}"))?;
        if actual.size != expected.size || actual.sha256 != expected.sha256 {
            return Err(format!("{name} does not match its checksum"));
        }
        integrity(&path)?;
    }
    Ok(manifest)
}

/// Verifies backup `id` of organisation `slug`.
pub fn verify(root: &Path, slug: &str, id: &str) -> Result<Manifest, BackupError> {
    check_id(id)?;
    let dir = org_root(root, slug).join(id);
    if !dir.is_dir() {
        return Err(BackupError::NotFound {
            slug: slug.to_owned(),
            id: id.to_owned(),
        });
    }
    let manifest = verify_dir(&dir, id).map_err(|reason| BackupError::Damaged {
        id: id.to_owned(),
        reason,
    })?;
    if manifest.org_slug != slug {
        return Err(BackupError::WrongOrg {
            id: id.to_owned(),
            reason: format!("its manifest names {}", manifest.org_slug),
        });
    }
    Ok(manifest)
}

/// [`verify`], and the manifest's seal checked with `org`'s key: a wrong seal is
/// refused; a missing one (a backup made before manifests were sealed) only when
/// `unsealed_ok` is false.
pub fn verify_sealed(
    root: &Path,
    org: &Org,
    id: &str,
    unsealed_ok: bool,
) -> Result<Manifest, BackupError> {
    let manifest = verify(root, org.slug.as_str(), id)?;
    match manifest.seal_state(&org.keys) {
        SealState::Sealed => Ok(manifest),
        SealState::Unsealed if unsealed_ok => Ok(manifest),
        SealState::Unsealed => Err(BackupError::Unsealed { id: id.to_owned() }),
        SealState::Wrong => Err(BackupError::BadSeal { id: id.to_owned() }),
    }
}

/// One complete backup on disk (its manifest read, not yet verified).
#[derive(Debug, Clone)]
pub struct BackupEntry {
    pub id: String,
    pub dir: PathBuf,
    /// The manifest, or why it could not be read.
    pub manifest: Result<Manifest, String>,
}

/// Complete backups of `slug`, oldest first. Temp directories of unfinished backups
/// are not listed.
pub fn list(root: &Path, slug: &str) -> Result<Vec<BackupEntry>, BackupError> {
    let dir = org_root(root, slug);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(super::io_err("could not read", &dir)(e)),
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let id = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if check_id(&id).is_err() || !path.is_dir() {
            continue;
        }
        let manifest = Manifest::read(&path);
        out.push(BackupEntry {
            id,
            dir: path,
            manifest,
        });
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}
