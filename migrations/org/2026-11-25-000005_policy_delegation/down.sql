DROP TABLE removed_lines;
DROP TABLE delegations;
ALTER TABLE claim_events DROP COLUMN on_behalf_of;
ALTER TABLE claim_lines DROP COLUMN mileage_after_rate;
ALTER TABLE claim_lines DROP COLUMN mileage_first_rate;
ALTER TABLE claim_lines DROP COLUMN mileage_first_tenths;
