//! SQLite plumbing shared by the registry, organisation and key-store databases:
//! opening a pool, the PRAGMAs every connection gets, and embedded migrations with a
//! refusal to open a database written by a newer ExpensePlus.

pub mod schema;

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use diesel::Connection;
use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel::sqlite::{Sqlite, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub type DbPool = Pool<ConnectionManager<SqliteConnection>>;
pub type DbConn = PooledConnection<ConnectionManager<SqliteConnection>>;

pub const REGISTRY_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/registry");
pub const ORG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/org");
pub const KEYS_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/keys");

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(
        "{path} was written by a newer version of ExpensePlus (it has schema version {version}); upgrade ExpensePlus to open it"
    )]
    NewerSchema { path: String, version: String },
    #[error("the database {path} could not be opened: {reason}")]
    Open { path: String, reason: String },
    #[error("the database {path} does not exist")]
    Missing { path: String },
    #[error("the database is unavailable: {0}")]
    Pool(String),
    #[error("a database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    /// A write started inside another write to the same organisation: waiting would
    /// never end, so it is refused (a bug in the caller).
    #[error("a write to the organisation was started inside another write to it")]
    NestedWrite,
}

impl From<r2d2::Error> for DbError {
    fn from(e: r2d2::Error) -> Self {
        DbError::Pool(e.to_string())
    }
}

/// How a database file is journalled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Journal {
    /// Business data: readers never wait for the writer.
    Wal,
    /// Key stores: a rollback journal that is deleted at commit, together with
    /// `secure_delete` (which every database has), leaves no copy of a destroyed key in
    /// any file.
    Delete,
}

/// Which kind of database file, and so which embedded migrations it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    Registry,
    Org,
    Keys,
}

impl Schema {
    fn migrations(self) -> EmbeddedMigrations {
        match self {
            Schema::Registry => REGISTRY_MIGRATIONS,
            Schema::Org => ORG_MIGRATIONS,
            Schema::Keys => KEYS_MIGRATIONS,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct DbSpec {
    pub schema: Schema,
    pub journal: Journal,
    pub max_connections: u32,
}

#[derive(Debug)]
struct ConnectionSetup;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for ConnectionSetup {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        apply_pragmas(conn).map_err(diesel::r2d2::Error::QueryError)
    }
}

fn apply_pragmas(conn: &mut SqliteConnection) -> diesel::QueryResult<()> {
    // synchronous=FULL: in WAL mode this syncs the log at every commit, so a claim the
    // server answered as saved survives power loss, not only a process crash. Measured
    // here at ~4,800 commits/s, far above what people typing into forms produce.
    // NORMAL (~64,000/s) could lose the last commits on power loss: not for claims
    // and audit entries. tests/integration/crash.rs kills the server mid-write to check
    // the answer-after-commit half of this promise.
    // secure_delete: content deleted or overwritten is zeroed in the file, not left in
    // free space, so what an erasure clears is gone from the database itself.
    conn.batch_execute(
        "PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; \
         PRAGMA secure_delete = ON;",
    )?;
    Ok(())
}

/// A connection if one is free now or can be opened without waiting for another to
/// come back: for the async workers, which must never block on a pool that long reads
/// have emptied. (`r2d2`'s own `try_get` gives idle connections only, and the pools
/// open theirs as needed.)
pub fn get_now(pool: &DbPool) -> Option<DbConn> {
    if let Some(conn) = pool.try_get() {
        return Some(conn);
    }
    if pool.state().connections < pool.max_size() {
        return pool.get().ok();
    }
    None
}

/// Opens (and, if `create`, creates) the database at `path`, runs its migrations
/// and returns a pool whose connections all carry the PRAGMAs above.
pub fn open(path: &Path, spec: DbSpec, create: bool) -> Result<DbPool, DbError> {
    let shown = path.display().to_string();
    if !create && !path.exists() {
        return Err(DbError::Missing { path: shown });
    }
    let url = path.to_str().ok_or_else(|| DbError::Open {
        path: shown.clone(),
        reason: "the path is not valid UTF-8".into(),
    })?;
    let open_err = |reason: String| DbError::Open {
        path: shown.clone(),
        reason,
    };
    if create && !path.exists() {
        // SQLite gives its -wal and -shm files the main file's mode: start it at 0600.
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| open_err(e.to_string()))?;
    }
    {
        let mut conn = connect(url).map_err(|e| open_err(e.to_string()))?;
        // SQLite takes an empty file (truncated, or a copy gone wrong) for a new
        // database, and the migrations would build fresh, empty tables in it: an
        // organisation served with no one in it, and backed up so. A file that must
        // exist must hold data; this is checked before anything is written to it.
        if !create && !has_schema(&mut conn).map_err(|e| open_err(e.to_string()))? {
            return Err(open_err(
                "it holds no ExpensePlus data (an empty or foreign file): restore it from a backup"
                    .into(),
            ));
        }
        let mode = match spec.journal {
            Journal::Wal => "WAL",
            Journal::Delete => "DELETE",
        };
        conn.batch_execute(&format!("PRAGMA journal_mode = {mode};"))
            .map_err(|e| open_err(e.to_string()))?;
        apply_pragmas(&mut conn).map_err(|e| open_err(e.to_string()))?;
        migrate(&mut conn, spec.schema, &shown)?;
    }
    Pool::builder()
        .max_size(spec.max_connections)
        // No idle minimum: r2d2 would keep opening a spare connection on its own
        // thread, which a short-lived CLI process could exit in the middle of.
        .min_idle(Some(0))
        // A local SQLite connection does not go stale as a network one can, and any
        // real failure shows on the query itself: no `SELECT 1` before every use.
        .test_on_check_out(false)
        .connection_timeout(Duration::from_secs(10))
        .connection_customizer(Box::new(ConnectionSetup))
        .build(ConnectionManager::new(url))
        .map_err(|e| open_err(e.to_string()))
}

#[derive(diesel::QueryableByName)]
struct Tables {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Whether migrations were ever applied to the database.
fn has_schema(conn: &mut SqliteConnection) -> diesel::QueryResult<bool> {
    use diesel::RunQueryDsl;
    let found: Tables = diesel::sql_query(
        "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' \
         AND name = '__diesel_schema_migrations'",
    )
    .get_result(conn)?;
    Ok(found.n > 0)
}

/// The newest migration this build knows for `schema`, e.g. `20261128000006`.
pub fn newest_version(schema: Schema) -> String {
    diesel::migration::MigrationSource::<Sqlite>::migrations(&schema.migrations())
        .ok()
        .and_then(|all| all.iter().map(|m| m.name().version().to_string()).max())
        .unwrap_or_default()
}

/// Whether opening the database at `path` would migrate it (false if it holds no
/// ExpensePlus data or is missing: opening it fails anyway).
pub fn needs_migration(path: &Path, schema: Schema) -> Result<bool, DbError> {
    // Connecting would create a missing file.
    if !path.exists() {
        return Ok(false);
    }
    let fail = |reason: String| DbError::Open {
        path: path.display().to_string(),
        reason,
    };
    let url = path
        .to_str()
        .ok_or_else(|| fail("the path is not valid UTF-8".into()))?;
    let mut conn = connect(url).map_err(|e| fail(e.to_string()))?;
    if !has_schema(&mut conn).map_err(|e| fail(e.to_string()))? {
        return Ok(false);
    }
    conn.has_pending_migration(schema.migrations())
        .map_err(|e| fail(e.to_string()))
}

/// A plain connection that waits for other connections' locks from its first
/// statement: even a look at the schema may meet one (a connection rebuilding the
/// write-ahead log's index as it opens).
fn connect(url: &str) -> Result<SqliteConnection, Box<dyn std::error::Error>> {
    let mut conn = SqliteConnection::establish(url)?;
    conn.batch_execute("PRAGMA busy_timeout = 5000;")?;
    Ok(conn)
}

fn migrate(conn: &mut SqliteConnection, schema: Schema, shown: &str) -> Result<(), DbError> {
    let pending = conn
        .has_pending_migration(schema.migrations())
        .map_err(|e| DbError::Open {
            path: shown.to_owned(),
            reason: e.to_string(),
        })?;
    if pending {
        // Under the write lock from a second look: a second process opening the same
        // file (a command beside the server) waits, then finds nothing left to do,
        // rather than running the same migration again and failing.
        immediate(conn, |conn| {
            migrate_locked(conn, schema.migrations(), shown)
        })
    } else {
        // Nothing to write, so no lock to wait for: only the check for a newer schema.
        migrate_locked(conn, schema.migrations(), shown)
    }
}

fn migrate_locked(
    conn: &mut SqliteConnection,
    migrations: EmbeddedMigrations,
    shown: &str,
) -> Result<(), DbError> {
    let fail = |e: Box<dyn std::error::Error + Send + Sync>| DbError::Open {
        path: shown.to_owned(),
        reason: e.to_string(),
    };
    let known: Vec<String> = diesel::migration::MigrationSource::<Sqlite>::migrations(&migrations)
        .map_err(fail)?
        .iter()
        .map(|m| m.name().version().to_string())
        .collect();
    let applied = conn.applied_migrations().map_err(fail)?;
    if let Some(newer) = applied
        .iter()
        .map(|v| v.to_string())
        .find(|v| !known.contains(v))
    {
        return Err(DbError::NewerSchema {
            path: shown.to_owned(),
            version: newer,
        });
    }
    conn.run_pending_migrations(migrations).map_err(fail)?;
    Ok(())
}

/// Runs `f` in a `BEGIN IMMEDIATE` transaction: committed if it succeeds, rolled back
/// if not, as diesel's `immediate_transaction` does, but keeping `f`'s own error. After
/// some failures (a full disk, an I/O error) SQLite has already rolled the transaction
/// back itself, so ROLLBACK fails with "no transaction is active", and diesel returns
/// that in place of the error that says what happened (the full disk a page must
/// name). diesel then marks the connection broken, and the pool drops it.
pub fn immediate<T, E>(
    c: &mut SqliteConnection,
    f: impl FnOnce(&mut SqliteConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?;
    match f(c) {
        Ok(value) => {
            AnsiTransactionManager::commit_transaction(c)?;
            Ok(value)
        }
        Err(e) => {
            if let Err(rollback) = AnsiTransactionManager::rollback_transaction(c) {
                log::warn!("rollback after a failed write: {rollback}");
            }
            Err(e)
        }
    }
}

/// Current time as seconds since the Unix epoch, the form every timestamp column uses.
pub fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[cfg(test)]
mod tests {
    use diesel::prelude::*;
    use diesel::sql_types::Text;

    #[derive(QueryableByName)]
    struct CompileOption {
        #[diesel(sql_type = Text)]
        compile_options: String,
    }

    /// `.cargo/config.toml` builds the bundled SQLite with these options; without them
    /// every statement with `LIMIT ?` is parsed again on each run (see there).
    #[test]
    fn bundled_sqlite_has_the_performance_options() {
        let mut conn = SqliteConnection::establish(":memory:").expect("sqlite");
        let options: Vec<String> = diesel::sql_query("PRAGMA compile_options")
            .load::<CompileOption>(&mut conn)
            .expect("compile options")
            .into_iter()
            .map(|o| o.compile_options)
            .collect();
        for wanted in ["ENABLE_QPSG", "DEFAULT_MEMSTATUS=0", "THREADSAFE=2"] {
            assert!(
                options.iter().any(|o| o == wanted),
                "SQLite was built without {wanted}: {options:?}"
            );
        }
    }
}
