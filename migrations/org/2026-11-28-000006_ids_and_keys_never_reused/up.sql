-- The highest id each table has given. SQLite gives the highest rowid again once its
-- row is deleted, and these tables have no AUTOINCREMENT (adding it means rebuilding
-- tables others reference). A discarded claim's id must never come back as someone
-- else's claim: in a page still open, a form posted again, or the audit log.
CREATE TABLE id_high_water (
    tbl TEXT PRIMARY KEY NOT NULL,
    last BIGINT NOT NULL
) WITHOUT ROWID;
INSERT INTO id_high_water (tbl, last) VALUES
    ('claims', COALESCE((SELECT MAX(id) FROM claims), 0)),
    ('claim_lines', MAX(COALESCE((SELECT MAX(id) FROM claim_lines), 0),
                        COALESCE((SELECT MAX(line_id) FROM removed_lines), 0))),
    ('receipts', COALESCE((SELECT MAX(id) FROM receipts), 0)),
    ('delegations', COALESCE((SELECT MAX(id) FROM delegations), 0));

-- Form keys no longer on their row: the claim was discarded, the line removed, or the
-- line edited since (an edit puts its own key on the line). Posting such a form again
-- is still a repeat, never a second claim or line.
CREATE TABLE spent_form_keys (
    form_key TEXT PRIMARY KEY NOT NULL,
    claim_id BIGINT NOT NULL
) WITHOUT ROWID;
