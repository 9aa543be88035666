-- A person's claims list, newest first, read from the index alone: each entry carries
-- what a row of the list shows (status, currency, total and the sealed title, which
-- is ciphertext here as in the table), so a page of 50 claims costs no seek into the
-- table per claim. It replaces the (owner_id, id) index, of which it is an extension.
CREATE INDEX claims_owner_list ON claims(owner_id, id, status, currency, total_minor, title);
DROP INDEX claims_owner;
-- Categories come in label order on every claims page: read in that order from an
-- index instead of sorted into a temporary b-tree each time.
CREATE INDEX categories_listed ON categories(active, label);
