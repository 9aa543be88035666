DROP INDEX receipts_claim_day;
