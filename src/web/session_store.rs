//! actix-session's store on `registry.sqlite`. The cookie carries a random 256-bit
//! session key; the table keeps only its SHA-256, so a copy of the database does not
//! yield sessions. The organisation and user ids are copied into columns so every
//! session of a person can be found.

use std::collections::HashMap;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration;
use actix_web::web;
use diesel::prelude::*;
use sha2::{Digest, Sha256};

use super::session::{ORG, UID};
use crate::crypto::random_array;
use crate::db::schema::registry::sessions;
use crate::db::{DbPool, now_unix};

type State = HashMap<String, String>;

#[derive(Clone)]
pub struct SqliteSessionStore {
    pool: DbPool,
}

impl SqliteSessionStore {
    pub fn new(pool: DbPool) -> Self {
        SqliteSessionStore { pool }
    }
}

fn key_hash(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

fn id_in(state: &State, name: &str) -> Option<i64> {
    state
        .get(name)
        .and_then(|v| serde_json::from_str::<i64>(v).ok())
}

fn new_key() -> anyhow::Result<SessionKey> {
    let key = hex::encode(random_array::<32>()?);
    Ok(SessionKey::try_from(key)?)
}

/// SQLite's words for a full disk or a read-only file.
fn is_storage_failure(e: &anyhow::Error) -> bool {
    let m = e.to_string();
    m.contains("database or disk is full") || m.contains("readonly database")
}

fn other(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("session store: {e}")
}

impl SqliteSessionStore {
    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut SqliteConnection) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let pool = self.pool.clone();
        web::block(move || {
            let mut conn = pool.get().map_err(other)?;
            f(&mut conn)
        })
        .await
        .map_err(other)?
    }

    /// Stores a new session's row.
    async fn insert(&self, key: &SessionKey, state: State, ttl: &Duration) -> anyhow::Result<()> {
        let hash = key_hash(key.as_ref());
        let json = serde_json::to_string(&state)?;
        let expires = now_unix() + ttl.whole_seconds();
        let (org, uid) = (id_in(&state, ORG), id_in(&state, UID));
        self.run(move |c| {
            diesel::insert_into(sessions::table)
                .values((
                    sessions::key_hash.eq(&hash),
                    sessions::state.eq(&json),
                    sessions::org_id.eq(org),
                    sessions::user_id.eq(uid),
                    sessions::expires_at.eq(expires),
                ))
                .execute(c)?;
            Ok(())
        })
        .await
    }

    /// Rewrites a live session's row; `false` if there is none (signed out, ended or
    /// expired meanwhile). Never creates one: a request in flight when its session was
    /// deleted must not write it back.
    async fn rewrite(
        &self,
        key: &SessionKey,
        state: State,
        ttl: &Duration,
    ) -> anyhow::Result<bool> {
        let hash = key_hash(key.as_ref());
        let json = serde_json::to_string(&state)?;
        let now = now_unix();
        let expires = now + ttl.whole_seconds();
        let (org, uid) = (id_in(&state, ORG), id_in(&state, UID));
        self.run(move |c| {
            let n = diesel::update(
                sessions::table
                    .find(&hash)
                    .filter(sessions::expires_at.gt(now)),
            )
            .set((
                sessions::state.eq(&json),
                sessions::org_id.eq(org),
                sessions::user_id.eq(uid),
                sessions::expires_at.eq(expires),
            ))
            .execute(c)?;
            Ok(n == 1)
        })
        .await
    }
}

impl SessionStore for SqliteSessionStore {
    async fn load(&self, session_key: &SessionKey) -> Result<Option<State>, LoadError> {
        let hash = key_hash(session_key.as_ref());
        let read = move |conn: &mut SqliteConnection| -> anyhow::Result<Option<String>> {
            Ok(sessions::table
                .find(&hash)
                .filter(sessions::expires_at.gt(now_unix()))
                .select(sessions::state)
                .first(conn)
                .optional()?)
        };
        // One primary-key read, on this thread when a connection is free: cheaper than
        // the hop to a blocking thread and back (WAL readers never wait for a writer).
        // Waiting for one goes to a blocking thread, as writes (which sync) always do.
        let json = match crate::db::get_now(&self.pool) {
            Some(mut conn) => read(&mut conn),
            None => self.run(read).await,
        }
        .map_err(LoadError::Other)?;
        json.map(|j| serde_json::from_str(&j))
            .transpose()
            .map_err(|e| LoadError::Deserialization(e.into()))
    }

    async fn save(&self, state: State, ttl: &Duration) -> Result<SessionKey, SaveError> {
        let key = new_key().map_err(SaveError::Other)?;
        self.insert(&key, state, ttl)
            .await
            .map_err(SaveError::Other)?;
        // Tidy expired rows now and then: a new session is a cheap moment to do it.
        let _ = self
            .run(|c| {
                diesel::delete(sessions::table.filter(sessions::expires_at.le(now_unix())))
                    .execute(c)?;
                Ok(())
            })
            .await;
        Ok(key)
    }

    async fn update(
        &self,
        session_key: SessionKey,
        state: State,
        ttl: &Duration,
    ) -> Result<SessionKey, UpdateError> {
        match self.rewrite(&session_key, state, ttl).await {
            Ok(true) => Ok(session_key),
            // The session was deleted while this request ran: it stays deleted. The
            // browser gets a new, empty session instead, carrying nothing of the old.
            Ok(false) => self.save(State::new(), ttl).await.map_err(|e| match e {
                SaveError::Serialization(e) => UpdateError::Serialization(e),
                SaveError::Other(e) => UpdateError::Other(e),
            }),
            // A full disk or read-only data dir: the page is still served (reads keep
            // working) and the session keeps its stored state, which fails closed.
            Err(e) if is_storage_failure(&e) => {
                log::warn!("a session was not updated: {e}");
                Ok(session_key)
            }
            Err(e) => Err(UpdateError::Other(e)),
        }
    }

    async fn update_ttl(&self, session_key: &SessionKey, ttl: &Duration) -> anyhow::Result<()> {
        let hash = key_hash(session_key.as_ref());
        let expires = now_unix() + ttl.whole_seconds();
        self.run(move |c| {
            diesel::update(sessions::table.find(&hash))
                .set(sessions::expires_at.eq(expires))
                .execute(c)?;
            Ok(())
        })
        .await
    }

    async fn delete(&self, session_key: &SessionKey) -> anyhow::Result<()> {
        let hash = key_hash(session_key.as_ref());
        self.run(move |c| {
            diesel::delete(sessions::table.find(&hash)).execute(c)?;
            Ok(())
        })
        .await
    }
}
