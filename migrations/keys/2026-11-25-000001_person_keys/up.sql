CREATE TABLE person_keys (
    -- random, so ids say nothing about how many people exist
    id INTEGER PRIMARY KEY NOT NULL,
    -- the person's key sealed under the organisation key; NULL once destroyed
    wrapped BLOB,
    created_at BIGINT NOT NULL,
    destroyed_at BIGINT
);
