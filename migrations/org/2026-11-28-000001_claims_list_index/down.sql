DROP INDEX categories_listed;
CREATE INDEX claims_owner ON claims(owner_id, id);
DROP INDEX claims_owner_list;
