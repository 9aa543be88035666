//! An open organisation ([`Org`]) and the bounded cache that keeps recently used ones
//! open ([`Tenants`]). Evicting an organisation only drops the cache's handle; requests
//! still holding one finish normally and the pools close after them.

use std::cell::RefCell;
use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, Weak};

use diesel::SqliteConnection;
use lru::LruCache;

use super::{Registry, TenancyError};
use crate::crypto::KeyRing;
use crate::db::{DbConn, DbError, DbPool};
use crate::ids::{OrgId, Slug};

/// One organisation's data: its database and its keys. Every domain function that
/// touches business data takes an `&Org`, so the organisation is always explicit.
pub struct Org {
    pub id: OrgId,
    pub slug: Slug,
    pub name: String,
    pub db: DbPool,
    pub keys: KeyRing,
    /// This process's writers of the organisation's database take turns here.
    writer: Mutex<()>,
}

impl Org {
    pub fn new(id: OrgId, slug: Slug, name: String, db: DbPool, keys: KeyRing) -> Org {
        Org {
            id,
            slug,
            name,
            db,
            keys,
            writer: Mutex::new(()),
        }
    }

    pub fn conn(&self) -> Result<DbConn, DbError> {
        Ok(self.db.get()?)
    }

    /// A connection without waiting for one to come back (see [`crate::db::get_now`]).
    pub fn try_conn(&self) -> Option<DbConn> {
        crate::db::get_now(&self.db)
    }

    /// Moves everything in the write-ahead log into the database and empties the log,
    /// so no old page image is left in it (after an erasure). Gives whether it was
    /// done: readers still on older pages past the busy timeout leave it undone, and
    /// SQLite says so in its answer, not as an error.
    pub fn checkpoint_truncate(&self) -> Result<bool, DbError> {
        #[derive(diesel::QueryableByName)]
        struct Checkpoint {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            busy: i32,
        }
        let mut c = self.conn()?;
        let rows: Vec<Checkpoint> = diesel::RunQueryDsl::load(
            diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)"),
            &mut c,
        )?;
        Ok(rows.first().is_some_and(|r| r.busy == 0))
    }

    /// Empties the write-ahead log after `what` (an erasure, a rectification, a restore)
    /// left old page images of personal data in it. Best effort: when readers hold it,
    /// or it fails, that is logged, and the daily retention run empties it again.
    pub fn empty_wal_after(&self, what: &str) {
        match self.checkpoint_truncate() {
            Ok(true) => {}
            Ok(false) => log::warn!(
                "after {what} in {}: readers held the write-ahead log, so it was not emptied; the daily retention run will",
                self.slug
            ),
            Err(e) => log::warn!(
                "after {what} in {}: the write-ahead log was not emptied ({e}); the daily retention run will",
                self.slug
            ),
        }
    }

    /// Runs `f` in an IMMEDIATE transaction, one writer of this organisation at a time.
    ///
    /// SQLite admits one writer per database. A writer that finds the write lock taken
    /// sleeps in its busy handler (1, 2, 5 ... 100 ms) before trying again, however soon
    /// the lock comes free: with dozens of writers at once that made a tail of hundreds
    /// of milliseconds. Here they queue on a mutex instead and the next one starts as
    /// the last commits; the busy timeout is left for writers in other processes (the
    /// command line). The turn is taken before the pooled connection, so writers
    /// waiting their turn hold no connection that readers need. `f` must not write to
    /// this organisation through another call of `write`: the turn is not re-entrant,
    /// and such a call fails at once with [`DbError::NestedWrite`] rather than wait
    /// for itself forever.
    pub fn write<T, E>(&self, f: impl FnOnce(&mut SqliteConnection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<DbError> + From<diesel::result::Error>,
    {
        let _held = HeldTurn::claim(self.id)?;
        let _turn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut conn = self.conn()?;
        crate::db::immediate(&mut conn, f)
    }
}

thread_local! {
    /// The organisations whose write turn this thread holds or is waiting for.
    static TURNS: RefCell<Vec<OrgId>> = const { RefCell::new(Vec::new()) };
}

/// This thread's claim on an organisation's write turn, given up when dropped.
struct HeldTurn(OrgId);

impl HeldTurn {
    fn claim(id: OrgId) -> Result<HeldTurn, DbError> {
        TURNS.with(|t| {
            let mut t = t.borrow_mut();
            if t.contains(&id) {
                return Err(DbError::NestedWrite);
            }
            t.push(id);
            Ok(HeldTurn(id))
        })
    }
}

impl Drop for HeldTurn {
    fn drop(&mut self) {
        TURNS.with(|t| t.borrow_mut().retain(|id| *id != self.0));
    }
}

impl std::fmt::Debug for Org {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Org({}, {})", self.id, self.slug)
    }
}

pub struct Tenants {
    registry: Registry,
    open: Mutex<Open>,
    /// One opener per organisation at a time: opening migrates, and two requests
    /// migrating the same file at once failed all but the first.
    opening: Mutex<HashMap<OrgId, Arc<Mutex<()>>>>,
}

/// The organisations open now, and those pushed out of the cache that a request still
/// holds. A handle caches its people's unwrapped keys: were a second handle opened
/// while the first is in use, an erasure through the first would clear only its own
/// cache, and the second would go on opening the erased person's data. So while any
/// handle of an organisation lives, it is the one handed out.
struct Open {
    cache: LruCache<OrgId, Arc<Org>>,
    evicted: HashMap<OrgId, Weak<Org>>,
}

impl Open {
    fn get(&mut self, id: OrgId) -> Option<Arc<Org>> {
        if let Some(org) = self.cache.get(&id) {
            return Some(org.clone());
        }
        let org = self.evicted.remove(&id)?.upgrade()?;
        self.insert(org.clone());
        Some(org)
    }

    fn insert(&mut self, org: Arc<Org>) {
        let id = org.id;
        if let Some((out_id, out)) = self.cache.push(id, org)
            && out_id != id
        {
            // Pushed out while perhaps still in use: found again until it is dropped.
            self.evicted.retain(|_, held| held.strong_count() > 0);
            self.evicted.insert(out_id, Arc::downgrade(&out));
        }
    }
}

impl Tenants {
    pub fn new(registry: Registry, capacity: NonZeroUsize) -> Tenants {
        Tenants {
            registry,
            open: Mutex::new(Open {
                cache: LruCache::new(capacity),
                evicted: HashMap::new(),
            }),
            opening: Mutex::new(HashMap::new()),
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The organisation if it is open already: no I/O, so callers on an async thread
    /// can use it without moving to a blocking one.
    pub fn cached(&self, id: OrgId) -> Option<Arc<Org>> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(id)
    }

    /// The open organisation with this id, opening it (blocking I/O) on a miss.
    pub fn get(&self, id: OrgId) -> Result<Arc<Org>, TenancyError> {
        if let Some(org) = self.cached(id) {
            return Ok(org);
        }
        let record = self
            .registry
            .find(id)?
            .ok_or_else(|| TenancyError::NotFound(id.to_string()))?;
        self.open_record(&record)
    }

    /// The open organisation with this slug, or `None` if there is none.
    pub fn by_slug(&self, slug: &Slug) -> Result<Option<Arc<Org>>, TenancyError> {
        match self.registry.find_by_slug(slug.as_str())? {
            Some(record) => match self.cached(record.org_id()) {
                Some(org) => Ok(Some(org)),
                None => self.open_record(&record).map(Some),
            },
            None => Ok(None),
        }
    }

    fn open_record(&self, record: &super::OrgRecord) -> Result<Arc<Org>, TenancyError> {
        let id = record.org_id();
        let turn = {
            let mut opening = self.opening.lock().unwrap_or_else(|p| p.into_inner());
            opening.entry(id).or_default().clone()
        };
        // Outside the cache's lock: one slow organisation must not stall the others.
        let _turn = turn.lock().unwrap_or_else(|p| p.into_inner());
        // Whoever had the turn before opened it: theirs is the one.
        if let Some(org) = self.cached(id) {
            return Ok(org);
        }
        // Named in the log: a damaged file affects only its own organisation.
        let org = Arc::new(self.registry.open_org(record).inspect_err(|e| {
            log::error!("organisation {} could not be opened: {e}", record.slug);
        })?);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.insert(org.clone());
        Ok(org)
    }

    /// Forgets an open organisation (e.g. after its data was replaced): the next
    /// request opens it afresh.
    pub fn evict(&self, id: OrgId) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.cache.pop(&id);
        open.evicted.remove(&id);
    }

    pub fn open_count(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .cache
            .len()
    }
}
