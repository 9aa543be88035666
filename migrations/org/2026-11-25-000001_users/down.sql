DROP TABLE audit_log; DROP TABLE settings; DROP TABLE reset_tokens;
DROP TABLE recovery_codes; DROP TABLE users;
