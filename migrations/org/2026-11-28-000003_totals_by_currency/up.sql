-- Claims carry the base currency they were started in, and the base can change, so
-- totals are summed per currency. Each totals index gains the currency before the
-- amount, so sums grouped by currency are still read from the index alone, in order.
-- Both replace the index of the same name, of which they are an extension.
DROP INDEX claims_owner_totals;
CREATE INDEX claims_owner_totals ON claims(owner_id, status, currency, total_minor);
DROP INDEX claims_status_totals;
CREATE INDEX claims_status_totals ON claims(status, currency, total_minor);
