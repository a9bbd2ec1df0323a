-- The normalised UPN and display name compare byte by byte ("C"), as they do on SQLite. A
-- `startswith` is then written as the range [prefix, prefix || U+10FFFF) on both backends,
-- and that range is exactly the strings with the prefix. The (tenant, name, id) index serves
-- the range and the page's order in one scan, even in the generic plan of a prepared
-- statement, where `LIKE $1` bounds nothing and PostgreSQL walked every user in name order
-- (100–145 ms at 100k users, benches/README.md). The order no longer depends on the
-- server's locale or its version of the locale's rules.
ALTER TABLE users ALTER COLUMN upn_normalized TYPE TEXT COLLATE "C";
ALTER TABLE users ALTER COLUMN display_name_normalized TYPE TEXT COLLATE "C";
-- Served LIKE with constant patterns under other locales; the plain indexes do that now.
DROP INDEX users_listing;
DROP INDEX users_display_name;

-- A department filter with an account status (the admin center's "disabled in Finance"):
-- both equalities and the UPN order in one index, so a page that matches nobody reads nobody
-- rather than the whole department.
CREATE INDEX users_department_status_listing ON users(tenant_id, lower(department), account_enabled, upn_normalized, id) WHERE deleted_at IS NULL;
