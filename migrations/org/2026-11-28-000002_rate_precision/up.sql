-- Exchange rates get twelve decimal places instead of six: a rate such as
-- 0.0000308 (Vietnamese dong to pounds) could only be typed as 0.000031, 0.6% off.
-- The stored integer becomes rate * 10^12; existing rates are exact in it.
ALTER TABLE claim_lines RENAME COLUMN rate_micros TO rate_e12;
UPDATE claim_lines SET rate_e12 = rate_e12 * 1000000;
