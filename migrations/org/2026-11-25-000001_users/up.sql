CREATE TABLE users (
    id INTEGER PRIMARY KEY NOT NULL,
    -- the data subject's key in keys.sqlite; all of this person's data is sealed with it
    person_key_id BIGINT NOT NULL UNIQUE,
    -- keyed HMAC of the normalised email: sign-in looks people up without plaintext
    email_index BLOB NOT NULL UNIQUE,
    email BLOB NOT NULL,
    name BLOB NOT NULL,
    -- comma-separated: employee, manager, finance, dpo, admin
    roles TEXT NOT NULL,
    manager_id INTEGER REFERENCES users(id),
    password_hash TEXT,
    totp_secret BLOB,
    totp_last_step BIGINT,
    active BOOLEAN NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX users_manager ON users(manager_id);
