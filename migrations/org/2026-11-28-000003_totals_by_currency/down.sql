DROP INDEX claims_status_totals;
CREATE INDEX claims_status_totals ON claims(status, total_minor);
DROP INDEX claims_owner_totals;
CREATE INDEX claims_owner_totals ON claims(owner_id, status, total_minor);
