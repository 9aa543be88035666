DROP TABLE processor_notices;
DROP TABLE breaches;
DROP TABLE privacy_request_notes;
DROP TABLE privacy_requests;
