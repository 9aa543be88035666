CREATE TABLE organisations (
    id INTEGER PRIMARY KEY NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    -- the organisation key, sealed under the master key
    wrapped_key BLOB NOT NULL,
    created_at BIGINT NOT NULL
);

-- small facts about the data dir, e.g. a value sealed under the master key that
-- proves at start-up that the key on disk is the one this data belongs to
CREATE TABLE meta (
    name TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
);

-- server-side sessions (actix-session store). The cookie holds the session key; only
-- its SHA-256 is stored, so reading this table does not yield usable sessions. The
-- state holds ids, timestamps and the CSRF token: nothing personal.
CREATE TABLE sessions (
    key_hash BLOB PRIMARY KEY NOT NULL,
    state TEXT NOT NULL,
    org_id BIGINT,
    user_id BIGINT,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions(org_id, user_id);
CREATE INDEX sessions_expiry ON sessions(expires_at);
