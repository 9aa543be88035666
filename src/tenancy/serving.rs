//! One server per data dir: `serve` holds an exclusive lock on `serve.lock` while it
//! runs (the kernel drops it when the process ends, even on `kill -9`). Commands that
//! destroy person keys refuse to run beside it: a running server keeps unwrapped keys
//! in memory and would go on showing data that another process shredded. The lock
//! file names the newest organisation schema of the server's build, so a newer command
//! does not upgrade the data under an older server (which would then fail on it).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

use super::TenancyError;

const LOCK_FILE: &str = "serve.lock";

/// Held for as long as the server runs.
#[derive(Debug)]
pub struct ServingLock(#[allow(dead_code)] File);

fn open(data_dir: &Path) -> Result<File, TenancyError> {
    let path = data_dir.join(LOCK_FILE);
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| TenancyError::Lock(format!("{}: {e}", path.display())))
}

/// Takes the lock for `serve`; refused if another server already holds it.
pub fn claim(data_dir: &Path) -> Result<ServingLock, TenancyError> {
    let mut file = open(data_dir)?;
    match file.try_lock() {
        Ok(()) => {
            let schema = crate::db::newest_version(crate::db::Schema::Org);
            let written = file
                .set_len(0)
                .and_then(|()| file.rewind())
                .and_then(|()| writeln!(file, "org {schema}"));
            written.map_err(|e| TenancyError::Lock(e.to_string()))?;
            Ok(ServingLock(file))
        }
        Err(TryLockError::WouldBlock) => Err(TenancyError::AlreadyServing),
        Err(TryLockError::Error(e)) => Err(TenancyError::Lock(e.to_string())),
    }
}

/// The newest organisation schema of the server running on `data_dir`, or `None` if
/// none runs. A server from before the lock file named it gives an empty string, which
/// is older than every schema.
pub fn server_schema(data_dir: &Path) -> Result<Option<String>, TenancyError> {
    let mut file = open(data_dir)?;
    match file.try_lock() {
        // Nobody serves. (Held for a moment only: a server starting in this instant
        // is refused and says another one runs.)
        Ok(()) => Ok(None),
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            file.read_to_string(&mut text)
                .map_err(|e| TenancyError::Lock(e.to_string()))?;
            let schema = text
                .lines()
                .find_map(|l| l.strip_prefix("org "))
                .unwrap_or_default();
            Ok(Some(schema.trim().to_owned()))
        }
        Err(TryLockError::Error(e)) => Err(TenancyError::Lock(e.to_string())),
    }
}

/// Fails if a server is running on `data_dir`; the lock returned keeps one from
/// starting until it is dropped (a server started in the middle of a command would
/// cache keys the command is about to destroy).
pub fn ensure_not_serving(data_dir: &Path) -> Result<ServingLock, TenancyError> {
    claim(data_dir).map_err(|e| match e {
        TenancyError::AlreadyServing => TenancyError::Serving,
        e => e,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_names_the_servers_schema_while_it_runs() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(server_schema(dir.path()).unwrap(), None);
        let server = claim(dir.path()).unwrap();
        let newest = crate::db::newest_version(crate::db::Schema::Org);
        assert!(!newest.is_empty());
        assert_eq!(server_schema(dir.path()).unwrap(), Some(newest));
        drop(server);
        assert_eq!(server_schema(dir.path()).unwrap(), None);
    }

    #[test]
    fn a_command_that_checked_keeps_a_server_from_starting_until_it_ends() {
        let dir = tempfile::tempdir().unwrap();
        let held = ensure_not_serving(dir.path()).unwrap();
        assert!(matches!(
            claim(dir.path()),
            Err(TenancyError::AlreadyServing)
        ));
        drop(held);
        let server = claim(dir.path()).unwrap();
        assert!(matches!(
            ensure_not_serving(dir.path()),
            Err(TenancyError::Serving)
        ));
        drop(server);
    }
}
