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
