-- A TOTP secret offered at enrolment now lives in the enrolling session only, and the
-- column holds a secret only once it is confirmed (mfa_enabled = 1). Secrets offered
-- before that change and never confirmed are authentication data with no use: gone.
UPDATE users SET totp_secret = NULL WHERE mfa_enabled = 0;
