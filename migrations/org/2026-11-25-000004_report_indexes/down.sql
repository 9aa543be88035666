DROP INDEX claims_status_decided;
DROP INDEX claim_lines_report;
DROP INDEX claims_status_totals;
DROP INDEX claims_owner_totals;
DROP INDEX claims_owner_status;
