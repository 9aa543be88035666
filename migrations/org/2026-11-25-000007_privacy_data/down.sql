DROP TABLE retention_log;
DROP TABLE privacy_flags;
