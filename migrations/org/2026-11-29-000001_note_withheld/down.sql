ALTER TABLE privacy_request_notes DROP COLUMN withheld;
