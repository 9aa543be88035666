-- Mileage lines keep how their amount was worked out: the tenths of a mile paid at
-- the first rate, and both rates (minor units of the base currency per mile) in force.
ALTER TABLE claim_lines ADD COLUMN mileage_first_tenths BIGINT;
ALTER TABLE claim_lines ADD COLUMN mileage_first_rate BIGINT;
ALTER TABLE claim_lines ADD COLUMN mileage_after_rate BIGINT;

-- A decision taken by a delegate names the manager it was taken for.
ALTER TABLE claim_events ADD COLUMN on_behalf_of BIGINT REFERENCES users(id);

-- A manager's approvals handed to a delegate for a range of days (inclusive).
CREATE TABLE delegations (
    id INTEGER PRIMARY KEY NOT NULL,
    delegator_id INTEGER NOT NULL REFERENCES users(id),
    delegate_id INTEGER NOT NULL REFERENCES users(id),
    starts_on TEXT NOT NULL,
    ends_on TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX delegations_delegate ON delegations(delegate_id, ends_on);
CREATE INDEX delegations_delegator ON delegations(delegator_id, ends_on);

-- Lines removed from a claim: a remove posted twice is recognised, not a 404.
CREATE TABLE removed_lines (
    line_id INTEGER PRIMARY KEY NOT NULL,
    claim_id BIGINT NOT NULL
);
