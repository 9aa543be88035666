-- Indexes for dashboards and filtered lists, sized for 100,000 claims per organisation.
-- Every index entry also carries the rowid (claims.id), so (owner_id, status) lists a
-- person's claims of one status newest first without sorting.
CREATE INDEX claims_owner_status ON claims(owner_id, status);
-- Totals by status for one person, read from the index alone.
CREATE INDEX claims_owner_totals ON claims(owner_id, status, total_minor);
-- Approved (to pay) count and total, read from the index alone.
CREATE INDEX claims_status_totals ON claims(status, total_minor);
-- Line filters on the claims list (one probe per claim) and team spend by month and
-- category, both read from the index alone instead of rows carrying sealed text.
CREATE INDEX claim_lines_report ON claim_lines(claim_id, category, spent_on, base_minor);
-- The payment queue, oldest approval first, a page at a time.
CREATE INDEX claims_status_decided ON claims(status, decided_at);
