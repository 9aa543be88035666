//! Restoring an organisation from a backup while the server runs.
//!
//! A running server holds pooled connections to `org.sqlite`, so the file is never
//! renamed or overwritten underneath them. Instead the verified backup is copied
//! beside the live database, migrated to this version's schema, ATTACHed, and inside
//! ONE immediate transaction every table's rows are replaced by the backup's. Readers
//! in any process see the old data or the new, never a mix; other organisations are
//! separate files and never wait. The restore is recorded in the restored audit log.
//!
//! Keys: the backup's `keys.sqlite` is NOT restored. The organisation keeps its
//! current key store, so a person erased after the backup was taken stays erased.

use std::path::{Path, PathBuf};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::{BackupError, ORG_FILE, io_err, manifest, org_root, sql_ident, sql_literal, verify};
use crate::audit::{self, Action};
use crate::db::schema::org::{privacy_flags, users};
use crate::db::schema::registry::sessions;
use crate::db::{self, DbSpec, Journal, Schema};
use crate::ids::{PersonKeyId, Slug, UserId};
use crate::tenancy::{Org, Registry, TenancyError, Tenants};

/// The schema alias the backup is attached under.
const SOURCE: &str = "restore_src";

#[derive(Debug, Clone)]
pub struct RestoreReport {
    pub id: String,
    pub tables: usize,
    pub rows: i64,
    /// Sessions of the organisation that were ended (everyone signs in again).
    pub sessions_ended: usize,
    /// What was kept from the live data: the privacy registers, the audit entries.
    pub kept: super::Kept,
}

#[derive(QueryableByName)]
struct Named {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Trigger {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    sql: String,
}

#[derive(QueryableByName)]
pub(super) struct Count {
    #[diesel(sql_type = BigInt)]
    pub(super) n: i64,
}

/// Removes a staging database and its journal files.
fn remove_db_files(path: &Path) {
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// Removes staging copies left by a restore that was killed (its transaction never
/// committed, so the live data is whole), if they are at least `age` old: a restore
/// started meanwhile by another process (a command beside the server) keeps its own.
/// Returns how many files went.
fn remove_leftover_staging(live_dir: &Path, age: std::time::Duration) -> usize {
    let Ok(entries) = std::fs::read_dir(live_dir) else {
        return 0;
    };
    let old_enough = |entry: &std::fs::DirEntry| {
        // With no age asked, a time in the future (a clock set back) does not matter.
        let modified = entry.metadata().and_then(|m| m.modified());
        age.is_zero() || modified.is_ok_and(|t| t.elapsed().is_ok_and(|e| e >= age))
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(".restore-")
            && old_enough(&entry)
            && std::fs::remove_file(entry.path()).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

/// A restore's staging copy older than this was left by one that was killed: no
/// restore takes so long.
const STALE_STAGING: std::time::Duration = std::time::Duration::from_secs(60 * 60);

/// Removes what restores of `slug` killed before they finished left in its live
/// directory (at server start, and daily): a copy of the organisation's data outside
/// the files erasure scrubs. Says so in the log.
pub fn remove_abandoned_staging(live_dir: &Path, slug: &str) {
    let stale = remove_leftover_staging(live_dir, STALE_STAGING);
    if stale > 0 {
        log::warn!("removed {stale} file(s) left by an interrupted restore of {slug}");
    }
}

/// Whether a restore takes a backup whose manifest has no seal (one made before
/// manifests were sealed): only when the operator says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsealed {
    Refuse,
    Accept,
}

/// Verifies backup `id` of `org`, then replaces the organisation's data with it.
/// A damaged backup is refused before anything live is touched.
pub fn restore(
    registry: &Registry,
    org: &Org,
    root: &Path,
    id: &str,
    unsealed: Unsealed,
) -> Result<RestoreReport, BackupError> {
    let slug = org.slug.as_str();
    // Rotation or a key-store rewrite must not change the backup while it is read.
    let _lock = super::lock_org(root, slug)?;
    let manifest = verify::verify_sealed(root, org, id, unsealed == Unsealed::Accept)?;
    if manifest.org_id != org.id.0 {
        return Err(BackupError::WrongOrg {
            id: id.to_owned(),
            reason: "it was taken of an earlier organisation with the same name".into(),
        });
    }
    let live_dir = registry.org_dir(slug);
    // Under the backup lock: no other restore of this organisation is running.
    remove_leftover_staging(&live_dir, std::time::Duration::ZERO);
    let staging = staging_path(&live_dir, id);
    let result = stage_and_swap(registry, org, root, id, &manifest, &live_dir, &staging);
    remove_db_files(&staging);
    if result.is_ok()
        && let Err(e) = super::anchor::record_restore(root, org, id, crate::db::now_unix())
    {
        // The restore is done; only `audit verify` is the worse for it (it will compare
        // the log with backups taken before this restore and find it changed).
        log::error!("the restore of {slug} could not be recorded beside the backups: {e}");
    }
    result
}

fn stage_and_swap(
    registry: &Registry,
    org: &Org,
    root: &Path,
    id: &str,
    manifest: &manifest::Manifest,
    live_dir: &Path,
    staging: &Path,
) -> Result<RestoreReport, BackupError> {
    let source = org_root(root, org.slug.as_str()).join(id).join(ORG_FILE);
    std::fs::copy(&source, staging).map_err(io_err("could not copy the backup to", staging))?;
    // Checked again after the copy: the file restored is the file verified.
    let copied = manifest::file_entry(staging).map_err(io_err("could not read", staging))?;
    if manifest.file(ORG_FILE).map(|f| &f.sha256) != Some(&copied.sha256) {
        return Err(BackupError::Damaged {
            id: id.to_owned(),
            reason: "org.sqlite changed while it was being copied".into(),
        });
    }
    // Opening runs the migrations: a backup from an older version gets today's schema.
    let spec = DbSpec {
        schema: Schema::Org,
        journal: Journal::Delete,
        max_connections: 1,
    };
    let staged = db::open(staging, spec, false)?;
    let erased = erased_since(org, &staged)?;
    drop(staged);
    let (tables, rows, kept) = swap_in(&live_dir.join(ORG_FILE), staging, id, &erased)?;
    let sessions_ended = end_sessions(registry, org)?;
    // The log holds page images of the data replaced, comments sealed under live keys
    // among them: emptied as after an erasure.
    org.empty_wal_after("a restore");
    log::info!(
        "restored organisation {} from backup {id}: {tables} tables, {rows} rows",
        org.slug
    );
    Ok(RestoreReport {
        id: id.to_owned(),
        tables,
        rows,
        sessions_ended,
        kept,
    })
}

/// People in the backup whose key is destroyed now (erased since it was taken, or by
/// a rewrite of it that did not finish), each with a fresh random email index: what
/// erasure clears beyond the key is cleared again in the restored data.
fn erased_since(org: &Org, staged: &db::DbPool) -> Result<Vec<(UserId, [u8; 32])>, BackupError> {
    let mut conn = staged.get().map_err(db::DbError::from)?;
    let people: Vec<(i64, i64)> = users::table
        .left_join(privacy_flags::table)
        .filter(privacy_flags::erased_at.is_null())
        .select((users::id, users::person_key_id))
        .load(&mut conn)?;
    let mut erased = Vec::new();
    for (person, key) in people {
        // A key the live store never had is left alone: nothing says it was destroyed.
        if let Ok(false) = org.keys.is_alive(PersonKeyId(key)) {
            erased.push((UserId(person), crate::crypto::random_array::<32>()?));
        }
    }
    Ok(erased)
}

/// Everyone in the organisation signs in again: a user id in an old session might
/// otherwise name a different person in the restored data.
fn end_sessions(registry: &Registry, org: &Org) -> Result<usize, BackupError> {
    let mut conn = registry.pool().get().map_err(db::DbError::from)?;
    Ok(
        diesel::delete(sessions::table.filter(sessions::org_id.eq(Some(org.id.0))))
            .execute(&mut conn)?,
    )
}

/// Replaces every row of `live` with the rows of `staging` in one transaction.
fn swap_in(
    live: &Path,
    staging: &Path,
    id: &str,
    erased: &[(UserId, [u8; 32])],
) -> Result<(usize, i64, super::Kept), BackupError> {
    let url = live.display().to_string();
    let mut conn = SqliteConnection::establish(&url).map_err(|e| db::DbError::Open {
        path: url.clone(),
        reason: e.to_string(),
    })?;
    // A dedicated connection, not a pooled one: it carries the ATTACH and is closed
    // after. The long busy timeout lets in-flight writes finish first.
    conn.batch_execute(
        "PRAGMA busy_timeout = 30000; PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; \
         PRAGMA secure_delete = ON;",
    )?;
    let staged = staging.display().to_string();
    conn.batch_execute(&format!(
        "ATTACH DATABASE {} AS {SOURCE}",
        sql_literal(&staged)
    ))?;
    let result = crate::db::immediate(&mut conn, |c| copy_all(c, id, erased));
    // Closing the connection detaches as well; this just releases the file early.
    let _ = conn.batch_execute(&format!("DETACH DATABASE {SOURCE}"));
    result
}

fn copy_all(
    conn: &mut SqliteConnection,
    id: &str,
    erased: &[(UserId, [u8; 32])],
) -> Result<(usize, i64, super::Kept), BackupError> {
    let tables: Vec<Named> = diesel::sql_query(
        "SELECT name FROM main.sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name != '__diesel_schema_migrations' ORDER BY name",
    )
    .load(conn)?;
    let triggers: Vec<Trigger> = diesel::sql_query(
        "SELECT name, sql FROM main.sqlite_master WHERE type = 'trigger' AND sql IS NOT NULL",
    )
    .load(conn)?;
    // Foreign keys are checked once, at commit, against the complete new data.
    conn.batch_execute("PRAGMA defer_foreign_keys = ON;")?;
    // The audit log's append-only triggers (and any other trigger) would refuse or
    // act on a verbatim copy: they are dropped and re-created inside this transaction,
    // so no other connection ever sees the tables without them.
    for t in &triggers {
        conn.batch_execute(&format!("DROP TRIGGER main.{}", sql_ident(&t.name)))?;
    }
    let mut kept = super::Kept::default();
    super::kept::stash(conn, SOURCE, &mut kept);
    let mut rows = 0i64;
    for t in &tables {
        let cols: Vec<Named> = diesel::sql_query(format!(
            "SELECT name FROM pragma_table_info({}, 'main')",
            sql_literal(&t.name)
        ))
        .load(conn)?;
        let list = cols
            .iter()
            .map(|c| sql_ident(&c.name))
            .collect::<Vec<_>>()
            .join(", ");
        let table = sql_ident(&t.name);
        conn.batch_execute(&format!("DELETE FROM main.{table}"))?;
        conn.batch_execute(&format!(
            "INSERT INTO main.{table} ({list}) SELECT {list} FROM {SOURCE}.{table}"
        ))?;
        let n: Count = diesel::sql_query(format!("SELECT COUNT(*) AS n FROM main.{table}"))
            .get_result(conn)?;
        rows += n.n;
    }
    let has_sequence = |conn: &mut SqliteConnection, schema: &str| -> QueryResult<bool> {
        let n: Count = diesel::sql_query(format!(
            "SELECT COUNT(*) AS n FROM {schema}.sqlite_master WHERE name = 'sqlite_sequence'"
        ))
        .get_result(conn)?;
        Ok(n.n > 0)
    };
    if has_sequence(conn, "main")? {
        conn.batch_execute("DELETE FROM main.sqlite_sequence")?;
        if has_sequence(conn, SOURCE)? {
            conn.batch_execute(&format!(
                "INSERT INTO main.sqlite_sequence SELECT * FROM {SOURCE}.sqlite_sequence"
            ))?;
        }
    }
    super::kept::put_back(conn, &mut kept)?;
    for t in &triggers {
        conn.batch_execute(&t.sql)?;
    }
    let now = crate::db::now_unix();
    for (person, index) in erased {
        let why = "again after restoring an earlier backup";
        crate::privacy::erasure::scrub(conn, None, *person, index, now, why)?;
    }
    audit::append(
        conn,
        None,
        None,
        Action::BackupRestored,
        &format!(
            "backup {id}; kept since it: {} privacy register rows, {} audit entries, {} people's accounts",
            kept.register_rows, kept.audit_entries, kept.people
        ),
    )?;
    Ok((tables.len(), rows, kept))
}

/// Where a restore stages its copy (for tests that look for leftovers).
pub fn staging_path(org_data_dir: &Path, id: &str) -> PathBuf {
    org_data_dir.join(format!(".restore-{id}.sqlite"))
}

/// [`restore`] for an organisation served by `tenants` (the server, or a command):
/// afterwards its cached handle is dropped, so the next request opens it afresh.
pub fn restore_tenant(
    tenants: &Tenants,
    slug: &Slug,
    root: &Path,
    id: &str,
    unsealed: Unsealed,
) -> Result<RestoreReport, BackupError> {
    let org = tenants
        .by_slug(slug)?
        .ok_or_else(|| TenancyError::NotFound(slug.to_string()))?;
    let report = restore(tenants.registry(), &org, root, id, unsealed)?;
    tenants.evict(org.id);
    Ok(report)
}
