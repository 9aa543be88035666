-- Data-subject requests. Kind, dates and status stay plain: after the subject is
-- erased the row remains as proof the request was answered on time. Free text that
-- may hold personal data is sealed under the SUBJECT's key, so it is erased with them.
CREATE TABLE privacy_requests (
    id INTEGER PRIMARY KEY NOT NULL,
    subject_id INTEGER NOT NULL REFERENCES users(id),
    -- access, portability, rectification, restriction, erasure, objection
    kind TEXT NOT NULL,
    -- received, verified, in_progress, completed, refused
    status TEXT NOT NULL,
    -- dates are YYYY-MM-DD (UK calendar days)
    received_on TEXT NOT NULL,
    -- set when proof of identity was asked for: the deadline clock waits for it
    identity_requested_on TEXT,
    identity_verified_on TEXT,
    -- sealed: how identity was checked
    identity_method BLOB,
    extension_months INTEGER NOT NULL DEFAULT 0,
    extended_on TEXT,
    extension_reason BLOB,
    refusal_reason BLOB,
    closed_on TEXT,
    opened_by INTEGER NOT NULL REFERENCES users(id),
    -- the subject started it from their own "my privacy" page
    self_service BOOLEAN NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX privacy_requests_subject ON privacy_requests(subject_id);
CREATE INDEX privacy_requests_status ON privacy_requests(status);

CREATE TABLE privacy_request_notes (
    id INTEGER PRIMARY KEY NOT NULL,
    request_id INTEGER NOT NULL REFERENCES privacy_requests(id),
    author_id INTEGER NOT NULL REFERENCES users(id),
    at BIGINT NOT NULL,
    -- sealed under the subject's key
    body BLOB NOT NULL
);
CREATE INDEX privacy_request_notes_request ON privacy_request_notes(request_id);

-- The breach register (GDPR Art. 33(5)). Free text is sealed under the organisation's
-- register key (a key of no person, see src/privacy/breaches.rs); times are Unix seconds.
CREATE TABLE breaches (
    id INTEGER PRIMARY KEY NOT NULL,
    detected_at BIGINT NOT NULL,
    nature BLOB NOT NULL,
    categories BLOB NOT NULL,
    people_approx BIGINT NOT NULL,
    records_approx BIGINT NOT NULL,
    consequences BLOB NOT NULL,
    measures BLOB NOT NULL,
    authority_told_at BIGINT,
    -- why the authority was not told (no likely risk to people): stops the 72-hour clock
    no_report_reason BLOB,
    people_told_at BIGINT,
    recorded_by INTEGER NOT NULL REFERENCES users(id),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Breach notices from the service operator (the processor, Art. 33(2)).
CREATE TABLE processor_notices (
    id INTEGER PRIMARY KEY NOT NULL,
    received_at BIGINT NOT NULL,
    body BLOB NOT NULL,
    acknowledged_at BIGINT,
    acknowledged_by INTEGER REFERENCES users(id)
);
