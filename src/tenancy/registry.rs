//! `data/registry.sqlite`: which organisations exist and their keys wrapped by the
//! master key. Opening the registry checks the master key against it first.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;

use super::TenancyError;
use crate::crypto::master::{self, MasterKeyError};
use crate::crypto::{CryptoError, KeyRing, SecretKey, envelope};
use crate::db::schema::registry::{meta, organisations};
use crate::db::{self, DbPool, DbSpec, Journal};
use crate::ids::{OrgId, Slug};

const ORG_KEY_LABEL: &str = "org-key";
const MASTER_CHECK_LABEL: &str = "master-check";
const MASTER_CHECK_NAME: &str = "master_check";
const MASTER_CHECK_TEXT: &[u8] = b"expenseplus master key check";
pub const NAME_MAX: usize = 100;
const MASTER_LOCK_FILE: &str = "master.lock";

pub const REGISTRY_SPEC: DbSpec = DbSpec {
    schema: db::Schema::Registry,
    journal: Journal::Wal,
    max_connections: 4,
};
pub const ORG_SPEC: DbSpec = DbSpec {
    schema: db::Schema::Org,
    journal: Journal::Wal,
    max_connections: 8,
};
pub const KEYS_SPEC: DbSpec = DbSpec {
    schema: db::Schema::Keys,
    journal: Journal::Delete,
    max_connections: 2,
};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = organisations)]
pub struct OrgRecord {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub wrapped_key: Vec<u8>,
    pub created_at: i64,
}

impl OrgRecord {
    pub fn org_id(&self) -> OrgId {
        OrgId(self.id)
    }
}

/// How the process uses the data: a long-running server, or one short command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    Server,
    /// One connection per database: r2d2 opens extra connections on a background
    /// thread, and a command that exits while one is opening leaves it unclosed.
    Command,
}

impl Usage {
    fn spec(self, spec: DbSpec) -> DbSpec {
        match self {
            Usage::Server => spec,
            Usage::Command => DbSpec {
                max_connections: 1,
                ..spec
            },
        }
    }
}

pub struct Registry {
    usage: Usage,
    pool: DbPool,
    master: SecretKey,
    data_dir: PathBuf,
    master_file: Option<PathBuf>,
}

fn dir_err(path: &Path, what: &str, e: impl std::fmt::Display) -> TenancyError {
    TenancyError::DataDir(format!("the data directory {} {what}: {e}", path.display()))
}

/// An exclusive lock on `master.lock`, held while a process checks the master key, rotates
/// it, or wraps a new organisation key with it. Without it a check in another process can
/// delete a rotation's pending key between its writing and its promotion, and every
/// organisation key would end up wrapped under a key that exists nowhere. The kernel drops
/// it when the file closes, even on `kill -9`.
struct MasterLock(#[allow(dead_code)] File);

fn lock_master(data_dir: &Path) -> Result<MasterLock, TenancyError> {
    let path = data_dir.join(MASTER_LOCK_FILE);
    let lock_err = |e: std::io::Error| {
        TenancyError::DataDir(format!(
            "the master key lock {} could not be taken: {e}",
            path.display()
        ))
    };
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(lock_err)?;
    // Blocking: the others hold it for a moment only (a rotation is one transaction).
    file.lock().map_err(lock_err)?;
    Ok(MasterLock(file))
}

/// Trims an organisation's display name and checks it.
pub fn check_org_name(name: &str) -> Result<&str, TenancyError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > NAME_MAX || name.chars().any(char::is_control) {
        return Err(TenancyError::BadName);
    }
    Ok(name)
}

/// Makes `path` (mode 0700) if needed and checks it is a directory we can write.
pub fn ensure_dir(path: &Path) -> Result<(), TenancyError> {
    if path.exists() && !path.is_dir() {
        return Err(TenancyError::DataDir(format!(
            "{} is not a directory",
            path.display()
        )));
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| dir_err(path, "could not be created", e))?;
    let probe = path.join(".write-test");
    fs::write(&probe, b"")
        .and_then(|_| fs::remove_file(&probe))
        .map_err(|e| dir_err(path, "is not writable", e))
}

impl Registry {
    /// Opens the registry in `data_dir`, making the directory, the master key and the
    /// registry on first use when `create` is set.
    pub fn open(data_dir: &Path, create: bool, usage: Usage) -> Result<Registry, TenancyError> {
        let path = data_dir.join("registry.sqlite");
        if create {
            ensure_dir(data_dir)?;
        } else if !data_dir.is_dir() {
            return Err(TenancyError::DataDir(format!(
                "the data directory {} does not exist",
                data_dir.display()
            )));
        }
        let fresh = !path.exists();
        if fresh && !create {
            return Err(TenancyError::DataDir(format!(
                "{} holds no ExpensePlus data yet",
                data_dir.display()
            )));
        }
        // The key is read and checked under the lock, so a rotation is seen either not
        // yet started or finished, never half-way.
        let lock = lock_master(data_dir)?;
        // Check the key before creating anything, so a bad key changes no data.
        let keys = master::load(data_dir, fresh)?;
        let pool = db::open(&path, usage.spec(REGISTRY_SPEC), create)?;
        let master = Self::check_master(&pool, data_dir, keys)?;
        drop(lock);
        Ok(Registry {
            usage,
            pool,
            master: master.0,
            data_dir: data_dir.to_path_buf(),
            master_file: master.1,
        })
    }

    /// Proves the master key is the one this registry was written with; finishes an
    /// interrupted rotation; records the check value on first start. The caller holds
    /// the master lock: a pending key seen here is left by a crash, never by a rotation
    /// still running.
    fn check_master(
        pool: &DbPool,
        data_dir: &Path,
        keys: master::MasterKey,
    ) -> Result<(SecretKey, Option<PathBuf>), TenancyError> {
        let mut conn = pool.get().map_err(db::DbError::from)?;
        let check: Option<Vec<u8>> = meta::table
            .find(MASTER_CHECK_NAME)
            .select(meta::value)
            .first(&mut conn)
            .optional()
            .map_err(db::DbError::from)?;
        let opens = |key: &SecretKey, check: &[u8]| {
            envelope::open(key, MASTER_CHECK_LABEL, check).is_ok_and(|t| t == MASTER_CHECK_TEXT)
        };
        match check {
            None => {
                let value = envelope::seal(&keys.key, 0, MASTER_CHECK_LABEL, MASTER_CHECK_TEXT)
                    .map_err(|e| TenancyError::DataDir(e.to_string()))?;
                diesel::insert_into(meta::table)
                    .values((meta::name.eq(MASTER_CHECK_NAME), meta::value.eq(value)))
                    .execute(&mut conn)
                    .map_err(db::DbError::from)?;
                master::discard_pending(data_dir);
                Ok((keys.key, keys.file))
            }
            Some(check) if opens(&keys.key, &check) => {
                master::discard_pending(data_dir);
                Ok((keys.key, keys.file))
            }
            Some(check) => match keys.pending {
                // The rotation committed but the crash came before the rename.
                Some(next) if opens(&next, &check) => {
                    master::promote_pending(data_dir)?;
                    Ok((next, keys.file))
                }
                _ => Err(MasterKeyError::Mismatch.into()),
            },
        }
    }

    /// Fails if the registry's master key is no longer the one this handle holds: another
    /// process rotated it since this one opened. Call with the master lock held.
    fn ensure_master_current(&self, conn: &mut db::DbConn) -> Result<(), TenancyError> {
        let check: Option<Vec<u8>> = meta::table
            .find(MASTER_CHECK_NAME)
            .select(meta::value)
            .first(conn)
            .optional()
            .map_err(db::DbError::from)?;
        let current = check.is_some_and(|check| {
            envelope::open(&self.master, MASTER_CHECK_LABEL, &check)
                .is_ok_and(|t| t == MASTER_CHECK_TEXT)
        });
        if current {
            Ok(())
        } else {
            Err(TenancyError::DataDir(
                "the master key was rotated while this ran; nothing was changed, run it again"
                    .to_owned(),
            ))
        }
    }

    /// Fails if another process rotated the master key since this handle was opened
    /// (the server checks this once it holds `serve.lock`, after which no rotation can
    /// start).
    pub fn ensure_current(&self) -> Result<(), TenancyError> {
        let _lock = lock_master(&self.data_dir)?;
        self.ensure_master_current(&mut self.pool.get().map_err(db::DbError::from)?)
    }

    /// A key for one purpose derived from the master key (e.g. session cookies).
    pub fn derive_key(&self, purpose: &[u8]) -> [u8; 32] {
        crate::crypto::hmac_sha256(self.master.expose(), &[b"derive", purpose])
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn org_dir(&self, slug: &str) -> PathBuf {
        self.data_dir.join("orgs").join(slug)
    }

    pub fn pool(&self) -> &DbPool {
        &self.pool
    }

    pub fn list(&self) -> Result<Vec<OrgRecord>, TenancyError> {
        let mut conn = self.pool.get().map_err(db::DbError::from)?;
        Ok(organisations::table
            .order(organisations::slug)
            .select(OrgRecord::as_select())
            .load(&mut conn)
            .map_err(db::DbError::from)?)
    }

    pub fn is_empty(&self) -> Result<bool, TenancyError> {
        Ok(self.list()?.is_empty())
    }

    pub fn find_by_slug(&self, slug: &str) -> Result<Option<OrgRecord>, TenancyError> {
        let mut conn = self.pool.get().map_err(db::DbError::from)?;
        Ok(organisations::table
            .filter(organisations::slug.eq(slug))
            .select(OrgRecord::as_select())
            .first(&mut conn)
            .optional()
            .map_err(db::DbError::from)?)
    }

    pub fn find(&self, id: OrgId) -> Result<Option<OrgRecord>, TenancyError> {
        let mut conn = self.pool.get().map_err(db::DbError::from)?;
        Ok(organisations::table
            .find(id.0)
            .select(OrgRecord::as_select())
            .first(&mut conn)
            .optional()
            .map_err(db::DbError::from)?)
    }

    /// Creates an organisation: its key, its directory and databases, its registry row.
    /// The files are built in a hidden directory and renamed into place only inside the
    /// registry transaction, so a failure leaves neither a row nor a directory behind.
    pub fn create_org(&self, slug: &Slug, name: &str) -> Result<OrgRecord, TenancyError> {
        let name = check_org_name(name)?;
        // Held throughout: two creations of one slug at once (the setup form sent twice,
        // a command beside it) shared the staging directory, each removing the other's
        // files. The second now finds the first's organisation. And a key wrapped under
        // a master key that a rotation just replaced would open nothing.
        let _lock = lock_master(&self.data_dir)?;
        if self.find_by_slug(slug.as_str())?.is_some() {
            return Err(TenancyError::Duplicate(slug.to_string()));
        }
        let final_dir = self.org_dir(slug.as_str());
        if final_dir.exists() {
            return Err(TenancyError::DataDir(format!(
                "{} already exists but is not a registered organisation; move it away first",
                final_dir.display()
            )));
        }
        let staging = self.data_dir.join("orgs").join(format!(".new-{slug}"));
        let _ = fs::remove_dir_all(&staging);
        ensure_dir(&staging)?;
        let result = self.create_org_in(&staging, &final_dir, slug, name);
        if result.is_err() {
            let _ = fs::remove_dir_all(&staging);
        }
        result
    }

    fn create_org_in(
        &self,
        staging: &Path,
        final_dir: &Path,
        slug: &Slug,
        name: &str,
    ) -> Result<OrgRecord, TenancyError> {
        let keys_err = |source| TenancyError::Keys {
            slug: slug.to_string(),
            source,
        };
        let (org_spec, keys_spec) = (
            Usage::Command.spec(ORG_SPEC),
            Usage::Command.spec(KEYS_SPEC),
        );
        drop(db::open(&staging.join("org.sqlite"), org_spec, true)?);
        drop(db::open(&staging.join("keys.sqlite"), keys_spec, true)?);
        let org_key = SecretKey::generate().map_err(keys_err)?;
        let mut conn = self.pool.get().map_err(db::DbError::from)?;
        self.ensure_master_current(&mut conn)?;
        conn.transaction(|conn| {
            let id: i64 = diesel::insert_into(organisations::table)
                .values((
                    organisations::slug.eq(slug.as_str()),
                    organisations::name.eq(name),
                    organisations::wrapped_key.eq(Vec::<u8>::new()),
                    organisations::created_at.eq(db::now_unix()),
                ))
                .returning(organisations::id)
                .get_result(conn)
                .map_err(|e| match e {
                    diesel::result::Error::DatabaseError(
                        diesel::result::DatabaseErrorKind::UniqueViolation,
                        _,
                    ) => TenancyError::Duplicate(slug.to_string()),
                    e => db::DbError::from(e).into(),
                })?;
            let wrapped = envelope::seal(&self.master, id as u64, ORG_KEY_LABEL, org_key.expose())
                .map_err(keys_err)?;
            let record = diesel::update(organisations::table.find(id))
                .set(organisations::wrapped_key.eq(wrapped))
                .returning(OrgRecord::as_returning())
                .get_result(conn)
                .map_err(db::DbError::from)?;
            fs::rename(staging, final_dir)
                .map_err(|e| dir_err(final_dir, "could not be made", e))?;
            Ok(record)
        })
    }

    /// Unwraps the organisation key and opens its databases.
    pub fn open_org(&self, record: &OrgRecord) -> Result<super::Org, TenancyError> {
        let keys_err = |source| TenancyError::Keys {
            slug: record.slug.clone(),
            source,
        };
        let org_key = self.unwrap_org_key(record).map_err(keys_err)?;
        let dir = self.org_dir(&record.slug);
        if self.usage == Usage::Command {
            self.refuse_upgrade_under_older_server(&dir)?;
        }
        let db = db::open(&dir.join("org.sqlite"), self.usage.spec(ORG_SPEC), false)?;
        let store = db::open(&dir.join("keys.sqlite"), self.usage.spec(KEYS_SPEC), false)?;
        Ok(super::Org::new(
            record.org_id(),
            Slug::parse(&record.slug)?,
            record.name.clone(),
            db,
            KeyRing::new(org_key, store),
        ))
    }

    /// A command from a newer build would migrate the organisation's databases under a
    /// server of an older one, whose queries then fail: refused while one runs.
    fn refuse_upgrade_under_older_server(&self, dir: &Path) -> Result<(), TenancyError> {
        let pending = db::needs_migration(&dir.join("org.sqlite"), db::Schema::Org)?
            || db::needs_migration(&dir.join("keys.sqlite"), db::Schema::Keys)?;
        if !pending {
            return Ok(());
        }
        match super::serving::server_schema(&self.data_dir)? {
            Some(theirs) if theirs < db::newest_version(db::Schema::Org) => {
                Err(TenancyError::OlderServer)
            }
            _ => Ok(()),
        }
    }

    fn unwrap_org_key(&self, record: &OrgRecord) -> Result<SecretKey, CryptoError> {
        if envelope::key_id(&record.wrapped_key)? != record.id as u64 {
            return Err(CryptoError::Tampered);
        }
        let bytes = zeroize::Zeroizing::new(envelope::open(
            &self.master,
            ORG_KEY_LABEL,
            &record.wrapped_key,
        )?);
        SecretKey::from_slice(&bytes).ok_or(CryptoError::Malformed)
    }

    /// Replaces the master key: re-wraps every organisation key under a new one without
    /// touching any organisation's data. Returns how many keys were re-wrapped. Refused
    /// while a server runs on the data dir: it would go on with the old key in memory.
    pub fn rotate_master(&mut self) -> Result<usize, TenancyError> {
        let Some(file) = self.master_file.clone() else {
            return Err(MasterKeyError::FromEnv.into());
        };
        // Held to the end: no other process checks, promotes or discards the pending key,
        // or wraps a new organisation key, until the rotation is done.
        let _lock = lock_master(&self.data_dir)?;
        let _not_serving = super::serving::ensure_not_serving(&self.data_dir)?;
        self.ensure_master_current(&mut self.pool.get().map_err(db::DbError::from)?)?;
        let next = SecretKey::generate().map_err(|e| TenancyError::DataDir(e.to_string()))?;
        let records = self.list()?;
        let mut rewrapped = Vec::with_capacity(records.len());
        for record in &records {
            let org_key = self
                .unwrap_org_key(record)
                .map_err(|source| TenancyError::Keys {
                    slug: record.slug.clone(),
                    source,
                })?;
            let wrapped = envelope::seal(&next, record.id as u64, ORG_KEY_LABEL, org_key.expose())
                .map_err(|e| TenancyError::DataDir(e.to_string()))?;
            rewrapped.push((record.id, wrapped));
        }
        let check = envelope::seal(&next, 0, MASTER_CHECK_LABEL, MASTER_CHECK_TEXT)
            .map_err(|e| TenancyError::DataDir(e.to_string()))?;
        // 1. the new key on disk beside the old; 2. the registry switches in one
        // transaction; 3. the new key replaces the old. A crash anywhere leaves a key
        // that opens the registry (see `check_master`).
        master::write_key_file(&self.data_dir.join(master::NEXT_FILE_NAME), &next)?;
        let mut conn = self.pool.get().map_err(db::DbError::from)?;
        // The keys wrapped under the old master key leave no copy in a free page.
        conn.batch_execute("PRAGMA secure_delete = ON;")
            .map_err(db::DbError::from)?;
        conn.transaction::<_, diesel::result::Error, _>(|conn| {
            for (id, wrapped) in &rewrapped {
                diesel::update(organisations::table.find(id))
                    .set(organisations::wrapped_key.eq(wrapped))
                    .execute(conn)?;
            }
            diesel::update(meta::table.find(MASTER_CHECK_NAME))
                .set(meta::value.eq(&check))
                .execute(conn)?;
            Ok(())
        })
        .map_err(db::DbError::from)?;
        // Nor in the write-ahead log, which keeps the old pages until a checkpoint.
        if let Err(e) = conn.batch_execute("PRAGMA wal_checkpoint(TRUNCATE);") {
            log::warn!("after rotating the master key, the registry log was not emptied: {e}");
        }
        drop(conn);
        master::promote_pending(&self.data_dir)?;
        debug_assert_eq!(file, self.data_dir.join(master::FILE_NAME));
        self.master = next;
        Ok(rewrapped.len())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    fn data_dir_with_org() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::open(dir.path(), true, Usage::Command).unwrap();
        registry
            .create_org(&Slug::parse("acme").unwrap(), "Acme Ltd")
            .unwrap();
        dir
    }

    /// The interleaving that lost every key: a rotation has written `master.key.next` and
    /// not yet committed; another process opening the registry must wait, not discard it.
    #[test]
    fn registry_open_waits_for_a_rotation_holding_the_lock() {
        let dir = data_dir_with_org();
        let data = dir.path().to_path_buf();
        let lock = lock_master(&data).unwrap();
        let pending = data.join(master::NEXT_FILE_NAME);
        master::write_key_file(&pending, &SecretKey::generate().unwrap()).unwrap();

        let (tx, rx) = mpsc::channel();
        let opener = {
            let data = data.clone();
            std::thread::spawn(move || {
                let opened = Registry::open(&data, false, Usage::Command).map(drop);
                let _ = tx.send(opened.is_ok());
            })
        };
        assert!(
            rx.recv_timeout(Duration::from_millis(500)).is_err(),
            "the registry opened while the rotation lock was held"
        );
        assert!(
            pending.exists(),
            "the pending key was discarded mid-rotation"
        );

        // The rotation gave up before its commit: the old key still opens the registry
        // and the pending key is now rightly dropped.
        drop(lock);
        assert!(rx.recv_timeout(Duration::from_secs(30)).unwrap());
        opener.join().unwrap();
        assert!(!pending.exists());
    }

    /// A handle opened before another process rotated holds a stale key: wrapping a new
    /// organisation key with it, or rotating again from it, would lose data.
    #[test]
    fn a_stale_master_key_wraps_nothing() {
        let dir = data_dir_with_org();
        let stale = Registry::open(dir.path(), false, Usage::Command).unwrap();
        let mut rotating = Registry::open(dir.path(), false, Usage::Command).unwrap();
        assert!(stale.ensure_current().is_ok());
        assert_eq!(rotating.rotate_master().unwrap(), 1);
        // What a server that opened just before the rotation finds once it holds its lock.
        assert!(stale.ensure_current().is_err());
        assert!(rotating.ensure_current().is_ok());

        let err = stale
            .create_org(&Slug::parse("globex").unwrap(), "Globex plc")
            .unwrap_err();
        assert!(err.to_string().contains("rotated while this ran"), "{err}");
        assert!(stale.find_by_slug("globex").unwrap().is_none());
        assert!(!dir.path().join("orgs/globex").exists());
        assert!(!dir.path().join("orgs/.new-globex").exists());

        let mut stale = stale;
        assert!(stale.rotate_master().is_err());
        let reopened = Registry::open(dir.path(), false, Usage::Command).unwrap();
        let record = reopened.find_by_slug("acme").unwrap().unwrap();
        assert!(reopened.open_org(&record).is_ok());
    }

    #[test]
    fn rotation_is_refused_beside_a_running_server() {
        let dir = data_dir_with_org();
        let key_before = fs::read(dir.path().join(master::FILE_NAME)).unwrap();
        let serving = super::super::serving::claim(dir.path()).unwrap();
        let mut registry = Registry::open(dir.path(), false, Usage::Command).unwrap();
        assert!(matches!(
            registry.rotate_master(),
            Err(TenancyError::Serving)
        ));
        assert_eq!(
            fs::read(dir.path().join(master::FILE_NAME)).unwrap(),
            key_before
        );
        assert!(!dir.path().join(master::NEXT_FILE_NAME).exists());
        drop(serving);
        assert_eq!(registry.rotate_master().unwrap(), 1);
    }
}
