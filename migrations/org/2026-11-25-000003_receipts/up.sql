-- Receipts attached to claim lines. The file is sealed under the claim owner's key
-- (images re-encoded without their metadata, PDFs as uploaded); its kind and size stay
-- plain so pages can list receipts without opening them.
CREATE TABLE receipts (
    id INTEGER PRIMARY KEY NOT NULL,
    claim_id INTEGER NOT NULL REFERENCES claims(id),
    -- the line the receipt belongs to; NULL for a receipt of the claim as a whole
    line_id INTEGER REFERENCES claim_lines(id),
    -- as recognised from the content: image/jpeg, image/png or application/pdf
    content_type TEXT NOT NULL,
    -- bytes of the stored (plaintext) file
    size BIGINT NOT NULL,
    -- sealed under the claim owner's key
    data BLOB NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX receipts_claim ON receipts(claim_id, id);
-- at most one receipt per line
CREATE UNIQUE INDEX receipts_line ON receipts(line_id);
