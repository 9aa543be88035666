-- A person's receipt bytes of the last day (the daily allowance, checked before each
-- upload) read from the index alone: created_at and size sit after the file in the
-- row, so reading them from the table would read every file of the day.
CREATE INDEX receipts_claim_day ON receipts(claim_id, created_at, size);
