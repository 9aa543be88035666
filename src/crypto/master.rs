//! The master key: 32 random bytes in `data/master.key` (0600), or 64 hex digits in
//! `EXPENSEPLUS_MASTER_KEY`. It only wraps organisation keys. A rotation writes the new
//! key to `master.key.next` first, so a crash mid-rotation leaves a key that opens the data.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::{KEY_LEN, SecretKey};

pub const FILE_NAME: &str = "master.key";
pub const NEXT_FILE_NAME: &str = "master.key.next";
pub const ENV_VAR: &str = "EXPENSEPLUS_MASTER_KEY";

#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error(
        "the master key file {0} is missing but this data directory already holds data; restore the key from your key backup"
    )]
    Missing(String),
    #[error("the master key file {0} is corrupt: it must hold exactly 32 bytes")]
    Corrupt(String),
    /// Like ssh with a private key: a key others can read is not used, so the operator
    /// learns of it rather than running on with it.
    #[error(
        "the master key file {path} can be read by other users (mode {mode:o}): run chmod 600 {path}, or give the key in EXPENSEPLUS_MASTER_KEY instead"
    )]
    Exposed { path: String, mode: u32 },
    #[error("EXPENSEPLUS_MASTER_KEY must be exactly 64 hexadecimal characters")]
    BadEnv,
    #[error("the master key does not match the organisations in this data directory")]
    Mismatch,
    #[error("the master key comes from EXPENSEPLUS_MASTER_KEY, so it cannot be rotated on disk")]
    FromEnv,
    #[error("the master key file {path} could not be {action}: {reason}")]
    Io {
        path: String,
        action: &'static str,
        reason: String,
    },
}

/// Where the master key came from, and a rotation's pending key if one was interrupted.
#[derive(Debug)]
pub struct MasterKey {
    pub key: SecretKey,
    pub pending: Option<SecretKey>,
    pub file: Option<PathBuf>,
}

fn io_err(path: &Path, action: &'static str, e: std::io::Error) -> MasterKeyError {
    MasterKeyError::Io {
        path: path.display().to_string(),
        action,
        reason: e.to_string(),
    }
}

fn read_key_file(path: &Path) -> Result<Option<SecretKey>, MasterKeyError> {
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    let mut file = match fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path, "read", e)),
    };
    // The mode of the file opened, not of whatever the path names a moment later.
    let meta = file.metadata().map_err(|e| io_err(path, "read", e))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(MasterKeyError::Exposed {
            path: path.display().to_string(),
            mode,
        });
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| io_err(path, "read", e))?;
    SecretKey::from_slice(&bytes)
        .map(Some)
        .ok_or_else(|| MasterKeyError::Corrupt(path.display().to_string()))
}

/// Loads the master key. A new one is made only when `may_create` (no organisation
/// exists yet); otherwise a missing key is an error, never silently replaced.
pub fn load(data_dir: &Path, may_create: bool) -> Result<MasterKey, MasterKeyError> {
    if let Ok(hex_key) = std::env::var(ENV_VAR) {
        let bytes = hex::decode(hex_key.trim()).map_err(|_| MasterKeyError::BadEnv)?;
        let key = SecretKey::from_slice(&bytes).ok_or(MasterKeyError::BadEnv)?;
        return Ok(MasterKey {
            key,
            pending: None,
            file: None,
        });
    }
    let path = data_dir.join(FILE_NAME);
    let pending = read_key_file(&data_dir.join(NEXT_FILE_NAME))?;
    let key = match read_key_file(&path)? {
        Some(key) => key,
        None if may_create && pending.is_none() => {
            let key = SecretKey::generate().map_err(|e| MasterKeyError::Io {
                path: path.display().to_string(),
                action: "made",
                reason: e.to_string(),
            })?;
            write_key_file(&path, &key)?;
            key
        }
        None => return Err(MasterKeyError::Missing(path.display().to_string())),
    };
    Ok(MasterKey {
        key,
        pending,
        file: Some(path),
    })
}

/// Writes a key file with mode 0600 via a temporary file and an atomic rename.
pub fn write_key_file(path: &Path, key: &SecretKey) -> Result<(), MasterKeyError> {
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| io_err(&tmp, "written", e))?;
    file.write_all(key.expose())
        .and_then(|_| file.sync_all())
        .map_err(|e| io_err(&tmp, "written", e))?;
    fs::rename(&tmp, path).map_err(|e| io_err(path, "written", e))?;
    sync_dir(path)
}

fn sync_dir(path: &Path) -> Result<(), MasterKeyError> {
    if let Some(dir) = path.parent() {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_err(dir, "synced", e))?;
    }
    Ok(())
}

/// Makes the pending key current: the last step of a rotation.
pub fn promote_pending(data_dir: &Path) -> Result<(), MasterKeyError> {
    let next = data_dir.join(NEXT_FILE_NAME);
    let path = data_dir.join(FILE_NAME);
    fs::rename(&next, &path).map_err(|e| io_err(&path, "replaced", e))?;
    sync_dir(&path)
}

/// Drops a pending key that turned out not to be needed.
pub fn discard_pending(data_dir: &Path) {
    let _ = fs::remove_file(data_dir.join(NEXT_FILE_NAME));
}

/// The byte length a key file must have (for messages and tests).
pub const FILE_LEN: usize = KEY_LEN;
