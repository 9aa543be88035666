//! Taking a backup while the server keeps serving. `VACUUM INTO` copies a consistent
//! snapshot (one read transaction; under WAL writers carry on meanwhile) into a hidden
//! temp directory; the copy is verified there and only then renamed into place.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};

use super::manifest::{self, FORMAT, Manifest};
use super::{
    BackupError, KEYS_FILE, ORG_FILE, TEMP_PREFIX, check_id, fsync, io_err, lock_org,
    make_private_dir, org_root, sql_literal, verify,
};
use crate::audit::{self, Action};
use crate::tenancy::{Org, Tenants};

/// What one backup wrote.
#[derive(Debug, Clone)]
pub struct BackupReport {
    pub slug: String,
    pub id: String,
    pub dir: PathBuf,
    /// Every file written, manifest last.
    pub files: Vec<PathBuf>,
    pub bytes: u64,
    pub took: Duration,
}

#[derive(QueryableByName)]
struct Version {
    #[diesel(sql_type = Nullable<Text>)]
    version: Option<String>,
}

#[derive(QueryableByName)]
struct Head {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
    #[diesel(sql_type = diesel::sql_types::Binary)]
    hash: Vec<u8>,
}

/// The newest audit entry of a copied database, read without changing it.
fn audit_head(path: &Path) -> Result<Option<manifest::AuditHead>, BackupError> {
    let mut conn = SqliteConnection::establish(&super::read_only_uri(path)).map_err(|e| {
        crate::db::DbError::Open {
            path: path.display().to_string(),
            reason: e.to_string(),
        }
    })?;
    let head: Option<Head> =
        diesel::sql_query("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1")
            .get_result(&mut conn)
            .optional()?;
    Ok(head.map(|h| manifest::AuditHead {
        id: h.id,
        hash: hex::encode(h.hash),
    }))
}

/// The newest migration applied to a database.
pub(crate) fn schema_version(conn: &mut SqliteConnection) -> Result<String, BackupError> {
    let row: Version =
        diesel::sql_query("SELECT MAX(version) AS version FROM __diesel_schema_migrations")
            .get_result(conn)?;
    Ok(row.version.unwrap_or_default())
}

/// A fresh id from the current UTC time, with `-N` if that second is taken.
pub(super) fn new_id(org_dir: &Path, now: time::OffsetDateTime) -> Result<String, BackupError> {
    let base = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let mut id = base.clone();
    let mut n = 1;
    while org_dir.join(&id).exists() || org_dir.join(format!("{TEMP_PREFIX}{id}")).exists() {
        n += 1;
        id = format!("{base}-{n}");
    }
    check_id(&id)?;
    Ok(id)
}

/// Removes temp directories left by a backup that was interrupted (crash, full disk).
pub(super) fn remove_leftovers(org_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(org_dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// `VACUUM INTO` from `conn` into `dest`, which ends up in rollback-journal mode so
/// it can be opened read-only on its own.
fn snapshot(conn: &mut SqliteConnection, dest: &Path) -> Result<(), BackupError> {
    snapshot_then(conn, dest, "")
}

/// [`snapshot`], then `sql` run on the copy before it is synced.
pub(super) fn snapshot_then(
    conn: &mut SqliteConnection,
    dest: &Path,
    sql: &str,
) -> Result<(), BackupError> {
    let target = dest.to_str().ok_or_else(|| BackupError::Io {
        what: "cannot use",
        path: dest.display().to_string(),
        source: std::io::Error::other("the path is not valid UTF-8"),
    })?;
    // Made empty at 0600 first (VACUUM INTO accepts an empty file): a copy of the
    // backup taken elsewhere keeps the mode, and it holds everyone's sealed data.
    {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(dest)
            .map_err(io_err("could not create", dest))?;
    }
    conn.batch_execute(&format!("VACUUM INTO {}", sql_literal(target)))?;
    let mut copy = SqliteConnection::establish(target).map_err(|e| BackupError::Io {
        what: "could not open the copy",
        path: target.to_owned(),
        source: std::io::Error::other(e.to_string()),
    })?;
    copy.batch_execute("PRAGMA journal_mode = DELETE;")?;
    copy.batch_execute(sql)?;
    drop(copy);
    fsync(dest)
}

/// Backs up one organisation into `<root>/<slug>/<id>/` and verifies the result.
pub fn backup_org(
    org: &Org,
    org_data_dir: &Path,
    root: &Path,
) -> Result<BackupReport, BackupError> {
    let started = Instant::now();
    let slug = org.slug.as_str();
    let _lock = lock_org(root, slug)?;
    let org_dir = org_root(root, slug);
    remove_leftovers(&org_dir);
    let now = time::OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    let id = new_id(&org_dir, now)?;
    let tmp = org_dir.join(format!("{TEMP_PREFIX}{id}"));
    make_private_dir(&tmp)?;
    let result = write_into(org, org_data_dir, &tmp, &id, now);
    let manifest = match result {
        Ok(m) => m,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    let dir = org_dir.join(&id);
    if let Err(e) = std::fs::rename(&tmp, &dir) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(io_err("could not move the backup into place at", &dir)(e));
    }
    manifest::sync_dir(&org_dir)?;
    // Visible to the DPO in the audit log. The backup is already safe on disk, so a
    // failure here (e.g. a full data disk) is logged rather than undoing it.
    if let Err(e) = audit::record(
        org,
        None,
        None,
        Action::BackupTaken,
        &format!("backup {id}"),
    ) {
        log::warn!("the backup {id} of organisation {slug} could not be audited: {e}");
    }
    let files = [ORG_FILE, KEYS_FILE, super::MANIFEST_FILE]
        .iter()
        .map(|f| dir.join(f))
        .collect();
    Ok(BackupReport {
        slug: slug.to_owned(),
        id,
        dir,
        files,
        bytes: manifest.size(),
        took: started.elapsed(),
    })
}

fn write_into(
    org: &Org,
    org_data_dir: &Path,
    tmp: &Path,
    id: &str,
    now: time::OffsetDateTime,
) -> Result<Manifest, BackupError> {
    // The business data first, then the keys: a person added in between has a key
    // in the copy and no rows, never rows without a key.
    let mut conn = org.conn()?;
    snapshot(&mut conn, &tmp.join(ORG_FILE))?;
    let schema_version = schema_version(&mut conn)?;
    drop(conn);
    let keys_path = org_data_dir.join(KEYS_FILE);
    let mut keys = SqliteConnection::establish(&keys_path.display().to_string()).map_err(|e| {
        BackupError::Io {
            what: "could not open",
            path: keys_path.display().to_string(),
            source: std::io::Error::other(e.to_string()),
        }
    })?;
    keys.batch_execute("PRAGMA busy_timeout = 10000;")?;
    snapshot(&mut keys, &tmp.join(KEYS_FILE))?;
    drop(keys);
    let audit_head = audit_head(&tmp.join(ORG_FILE))?;
    let mut files = Vec::new();
    for name in [ORG_FILE, KEYS_FILE] {
        let path = tmp.join(name);
        files.push(manifest::file_entry(&path).map_err(io_err("could not read", &path))?);
    }
    let mut manifest = Manifest {
        format: FORMAT,
        org_slug: org.slug.to_string(),
        org_id: org.id.0,
        backup_id: id.to_owned(),
        created_at: now
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        schema_version,
        files,
        audit_head,
        seal: None,
    };
    manifest.seal_with(&org.keys);
    manifest.write(tmp)?;
    verify::verify_dir(tmp, id).map_err(|reason| BackupError::Unverified {
        id: id.to_owned(),
        reason,
    })?;
    Ok(manifest)
}

/// One organisation's slug and how its backup went.
pub type OrgOutcome = (String, Result<BackupReport, BackupError>);

/// Backs up every organisation; one failing does not stop the others.
pub fn backup_all(tenants: &Tenants, root: &Path) -> Result<Vec<OrgOutcome>, BackupError> {
    let registry = tenants.registry();
    let mut out = Vec::new();
    for record in registry.list()? {
        let result = tenants
            .get(record.org_id())
            .map_err(BackupError::from)
            .and_then(|org| backup_org(&org, &registry.org_dir(&record.slug), root));
        out.push((record.slug, result));
    }
    Ok(out)
}

/// The scheduled job: back up every organisation, then rotate its backups. Logs each
/// organisation's outcome by slug (no personal data); fails if any one failed.
pub fn daily_run(tenants: &Tenants, settings: &super::BackupSettings) -> Result<String, String> {
    let root = settings.root.as_path();
    let results = backup_all(tenants, root).map_err(|e| e.to_string())?;
    let (mut ok, mut bytes, mut removed) = (0usize, 0u64, 0usize);
    let mut failed = Vec::new();
    for (slug, result) in results {
        match result {
            Ok(report) => {
                ok += 1;
                bytes += report.bytes;
                log::info!(
                    "backup of organisation {slug}: {} written and verified ({} bytes, {:.1}s)",
                    report.id,
                    report.bytes,
                    report.took.as_secs_f64()
                );
                match super::rotation::rotate(root, &slug, settings.retention) {
                    Ok(gone) => removed += gone.len(),
                    Err(e) => {
                        log::error!("rotating the backups of organisation {slug} failed: {e}")
                    }
                }
            }
            Err(e) => {
                log::error!("backup of organisation {slug} failed: {e}");
                failed.push(slug.clone());
            }
        }
        // A killed restore's staging copy holds the organisation's data outside the
        // files erasure scrubs: it goes once it is clearly abandoned.
        super::restore::remove_abandoned_staging(&tenants.registry().org_dir(&slug), &slug);
        // Erasures whose immediate rewrite of the backups failed are finished here,
        // whether or not today's backup could be taken.
        let forgotten = crate::ids::Slug::parse(&slug)
            .ok()
            .and_then(|s| tenants.by_slug(&s).ok().flatten())
            .map(|org| super::forget_destroyed_keys(root, &org));
        if let Some(Err(e)) = forgotten {
            log::error!("removing destroyed keys from the backups of {slug} failed: {e}");
        }
    }
    // The organisations' wrapped keys, without which none of the above can be opened.
    if let Err(e) = super::registry_copy::take(tenants.registry(), root) {
        log::error!("copying the registry beside the backups failed: {e}");
        failed.push("the registry".to_owned());
    }
    if failed.is_empty() {
        Ok(format!(
            "{ok} organisation(s) backed up ({bytes} bytes), {removed} old backup(s) removed"
        ))
    } else {
        Err(format!(
            "{ok} organisation(s) backed up, failed: {}",
            failed.join(", ")
        ))
    }
}
