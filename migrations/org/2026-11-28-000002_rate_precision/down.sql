UPDATE claim_lines SET rate_e12 = (rate_e12 + 500000) / 1000000;
ALTER TABLE claim_lines RENAME COLUMN rate_e12 TO rate_micros;
