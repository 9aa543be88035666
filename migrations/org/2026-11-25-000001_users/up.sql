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
    -- sealed TOTP secret; set at enrolment, confirmed when mfa_enabled becomes 1
    totp_secret BLOB,
    -- the last accepted TOTP time step: a code at or below it is a replay
    totp_last_step BIGINT,
    mfa_enabled BOOLEAN NOT NULL DEFAULT 0,
    active BOOLEAN NOT NULL DEFAULT 1,
    -- bumped on password, role or status change and "sign out everywhere":
    -- a session made under an older version is no longer valid
    session_version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX users_manager ON users(manager_id);

CREATE TABLE recovery_codes (
    id INTEGER PRIMARY KEY NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users(id),
    -- keyed hash of the code (codes are random, so no slow hash is needed)
    code_hash BLOB NOT NULL,
    used_at BIGINT
);
CREATE INDEX recovery_codes_user ON recovery_codes(user_id);

-- one-time password reset links issued by an admin; only the token's hash is kept
CREATE TABLE reset_tokens (
    token_hash BLOB PRIMARY KEY NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users(id),
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);

-- organisation policy, e.g. which roles must use MFA
CREATE TABLE settings (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

-- append-only, hash-chained: hash = SHA-256(prev_hash | this entry). Plain columns
-- hold ids and codes only, never personal data.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY NOT NULL,
    at BIGINT NOT NULL,
    actor_id BIGINT,
    subject_id BIGINT,
    action TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL
);
CREATE INDEX audit_log_at ON audit_log(at);
CREATE INDEX audit_log_subject ON audit_log(subject_id);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
