//! An open organisation ([`Org`]) and the bounded cache that keeps recently used ones
//! open ([`Tenants`]). Evicting an organisation only drops the cache's handle; requests
//! still holding one finish normally and the pools close after them.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

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
}

impl Org {
    pub fn conn(&self) -> Result<DbConn, DbError> {
        Ok(self.db.get()?)
    }
}

impl std::fmt::Debug for Org {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Org({}, {})", self.id, self.slug)
    }
}

pub struct Tenants {
    registry: Registry,
    open: Mutex<LruCache<OrgId, Arc<Org>>>,
}

impl Tenants {
    pub fn new(registry: Registry, capacity: NonZeroUsize) -> Tenants {
        Tenants {
            registry,
            open: Mutex::new(LruCache::new(capacity)),
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The organisation if it is open already: no I/O, so callers on an async thread
    /// can use it without moving to a blocking one.
    pub fn cached(&self, id: OrgId) -> Option<Arc<Org>> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(&id).cloned()
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
        // Opened outside the lock: one slow organisation must not stall the others.
        // Named in the log: a damaged file affects only its own organisation.
        let org = Arc::new(self.registry.open_org(record).inspect_err(|e| {
            log::error!("organisation {} could not be opened: {e}", record.slug);
        })?);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        Ok(open.get_or_insert(org.id, || org.clone()).clone())
    }

    /// Forgets an open organisation (e.g. before its files are replaced).
    pub fn evict(&self, id: OrgId) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.pop(&id);
    }

    pub fn open_count(&self) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}
