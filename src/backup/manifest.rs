//! `manifest.json`: what a backup holds (organisation, id, time, schema version) and
//! the size and SHA-256 of each file, so damage is found before a restore. It holds no
//! personal data.
//!
//! The manifest is sealed: a MAC over it under a key derived from the organisation key
//! ([`KeyRing::integrity_mac`]). Backups sit in another place, often writable by other
//! hosts or people; a plain checksum can be recomputed by whoever edits a file (an
//! administrator's row with their own password hash, say), a seal cannot without the
//! organisation key. A restore refuses a wrong seal, and a missing one unless told.

use std::io::{Read, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{BackupError, MANIFEST_FILE, io_err};
use crate::crypto::keyring::KeyRing;

const SEAL_PURPOSE: &str = "backup manifest";

/// Bumped if the manifest's meaning changes.
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileEntry {
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub format: u32,
    pub org_slug: String,
    pub org_id: i64,
    pub backup_id: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// The newest migration applied to the organisation's database.
    pub schema_version: String,
    pub files: Vec<FileEntry>,
    /// The newest audit entry in the backup when it was taken: sealed with the rest, it
    /// lets `audit verify` tell whether the live log was rewritten up to that point
    /// (the chain alone can be recomputed by whoever can write the database).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_head: Option<AuditHead>,
    /// Hex MAC over the rest of the manifest (see the module docs); absent on backups
    /// made before manifests were sealed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal: Option<String>,
}

/// An audit entry's id and hash (hex), as the backup held it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditHead {
    pub id: i64,
    pub hash: String,
}

/// What a manifest's seal says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealState {
    /// Made by this organisation's key over exactly this manifest.
    Sealed,
    /// No seal: an older backup, or one whose seal was taken away.
    Unsealed,
    /// A seal that does not match: the manifest was changed outside ExpensePlus, or
    /// another organisation (or installation) made it.
    Wrong,
}

/// A seal over `value` (its JSON) for `purpose`, under the organisation key.
pub(super) fn seal_of(keys: &KeyRing, purpose: &str, value: &impl Serialize) -> String {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    hex::encode(keys.integrity_mac(purpose, &[&bytes]))
}

/// What `seal` says of `value`, compared in constant time.
pub(super) fn check_seal(
    keys: &KeyRing,
    purpose: &str,
    value: &impl Serialize,
    seal: Option<&str>,
) -> SealState {
    use subtle::ConstantTimeEq;
    match seal {
        None => SealState::Unsealed,
        Some(seal)
            if bool::from(
                seal.as_bytes()
                    .ct_eq(seal_of(keys, purpose, value).as_bytes()),
            ) =>
        {
            SealState::Sealed
        }
        Some(_) => SealState::Wrong,
    }
}

impl Manifest {
    /// Everything but the seal, which the seal covers.
    fn unsealed(&self) -> Manifest {
        Manifest {
            seal: None,
            ..self.clone()
        }
    }

    /// Seals the manifest as it is now, with the organisation's key.
    pub fn seal_with(&mut self, keys: &KeyRing) {
        self.seal = Some(seal_of(keys, SEAL_PURPOSE, &self.unsealed()));
    }

    pub fn seal_state(&self, keys: &KeyRing) -> SealState {
        check_seal(keys, SEAL_PURPOSE, &self.unsealed(), self.seal.as_deref())
    }

    pub fn file(&self, name: &str) -> Option<&FileEntry> {
        self.files.iter().find(|f| f.name == name)
    }

    /// Total bytes of the files.
    pub fn size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    pub fn created(&self) -> Option<time::OffsetDateTime> {
        time::OffsetDateTime::parse(
            &self.created_at,
            &time::format_description::well_known::Rfc3339,
        )
        .ok()
    }

    pub fn read(dir: &Path) -> Result<Manifest, String> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("its manifest could not be read: {e}"))?;
        serde_json::from_str(&text).map_err(|e| format!("its manifest is not valid: {e}"))
    }

    /// Writes the manifest beside the files: a temp file, fsync, rename.
    pub fn write(&self, dir: &Path) -> Result<(), BackupError> {
        write_json(dir, MANIFEST_FILE, self)
    }
}

/// Writes `value` as JSON to `dir/name` so that a crash leaves the old file or the new,
/// never half of one: a temp file, fsync, rename, then the directory synced.
pub(super) fn write_json(
    dir: &Path,
    name: &str,
    value: &impl Serialize,
) -> Result<(), BackupError> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let text = serde_json::to_string_pretty(value).map_err(|e| BackupError::Io {
        what: "could not write",
        path: path.display().to_string(),
        source: std::io::Error::other(e),
    })?;
    let mut f = std::fs::File::create(&tmp).map_err(io_err("could not write", &tmp))?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(io_err("could not write", &tmp))?;
    std::fs::rename(&tmp, &path).map_err(io_err("could not write", &path))?;
    sync_dir(dir)
}

/// Size and SHA-256 of a file, read in chunks.
pub fn file_entry(path: &Path) -> Result<FileEntry, std::io::Error> {
    let mut f = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(FileEntry {
        name,
        size,
        sha256: hex::encode(hasher.finalize()),
    })
}

/// Makes a rename or a new file in `dir` durable.
pub fn sync_dir(dir: &Path) -> Result<(), BackupError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("could not sync", dir))
}
