-- Expense categories of the organisation, with their policy limits (base currency).
CREATE TABLE categories (
    code TEXT PRIMARY KEY NOT NULL,
    label TEXT NOT NULL,
    -- largest amount one line may claim; NULL = no limit
    limit_minor BIGINT,
    -- a receipt is required above this amount; NULL = never required
    receipt_above_minor BIGINT,
    active BOOLEAN NOT NULL DEFAULT 1
);
INSERT INTO categories (code, label, limit_minor, receipt_above_minor) VALUES
    ('travel', 'Travel', NULL, 2500),
    ('mileage', 'Mileage', NULL, NULL),
    ('meals', 'Meals', 5000, 2500),
    ('accommodation', 'Accommodation', 25000, 0),
    ('subsistence', 'Subsistence', 2500, 2500),
    ('equipment', 'Equipment', 50000, 0),
    ('training', 'Training', NULL, 0),
    ('other', 'Other', NULL, 2500);

CREATE TABLE claims (
    id INTEGER PRIMARY KEY NOT NULL,
    owner_id INTEGER NOT NULL REFERENCES users(id),
    -- sealed under the owner's key
    title BLOB NOT NULL,
    status TEXT NOT NULL,
    -- the organisation's base currency when the claim was made
    currency TEXT NOT NULL,
    total_minor BIGINT NOT NULL DEFAULT 0,
    -- bumped on every change: two approvers acting at once, one wins
    version BIGINT NOT NULL DEFAULT 1,
    -- a random key carried by the form: posting it twice makes one claim
    form_key TEXT UNIQUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    submitted_at BIGINT,
    decided_at BIGINT,
    paid_at BIGINT
);
CREATE INDEX claims_owner ON claims(owner_id, id);
CREATE INDEX claims_status ON claims(status, id);

CREATE TABLE claim_lines (
    id INTEGER PRIMARY KEY NOT NULL,
    claim_id INTEGER NOT NULL REFERENCES claims(id),
    spent_on TEXT NOT NULL,
    category TEXT NOT NULL REFERENCES categories(code),
    -- sealed under the claim owner's key
    merchant BLOB NOT NULL,
    description BLOB NOT NULL,
    amount_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    -- units of base currency per unit of `currency`, in millionths
    rate_micros BIGINT NOT NULL,
    base_minor BIGINT NOT NULL,
    vat_minor BIGINT,
    miles_tenths BIGINT,
    form_key TEXT UNIQUE,
    created_at BIGINT NOT NULL
);
CREATE INDEX claim_lines_claim ON claim_lines(claim_id);

-- every transition of a claim: who, when, from, to, and their comment (sealed under
-- the author's key, since they wrote it)
CREATE TABLE claim_events (
    id INTEGER PRIMARY KEY NOT NULL,
    claim_id INTEGER NOT NULL REFERENCES claims(id),
    actor_id INTEGER NOT NULL REFERENCES users(id),
    at BIGINT NOT NULL,
    from_status TEXT NOT NULL,
    to_status TEXT NOT NULL,
    comment BLOB
);
CREATE INDEX claim_events_claim ON claim_events(claim_id, id);
