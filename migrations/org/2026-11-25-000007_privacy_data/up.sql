-- Data-subject rights applied to one person: restriction (GDPR Art. 18) and erasure,
-- now or scheduled for the end of the retention period. One row per person touched.
CREATE TABLE privacy_flags (
    user_id INTEGER PRIMARY KEY NOT NULL REFERENCES users(id),
    -- set while the person's data is restricted; NULL when not (or lifted)
    restricted_at BIGINT,
    -- why, sealed under the person's key (it is about them)
    restriction_reason BLOB,
    -- YYYY-MM-DD: retention shreds the person on or after this day
    erase_due TEXT,
    -- when the person's key was destroyed; the row stays as a pseudonymous record
    erased_at BIGINT
);
CREATE INDEX privacy_flags_due ON privacy_flags(erase_due);

-- What retention did, for the DPO: counts and ids only, never personal data.
CREATE TABLE retention_log (
    id INTEGER PRIMARY KEY NOT NULL,
    at BIGINT NOT NULL,
    -- the day the run applied the periods as of (YYYY-MM-DD)
    run_date TEXT NOT NULL,
    kind TEXT NOT NULL,
    count BIGINT NOT NULL,
    detail TEXT NOT NULL
);
