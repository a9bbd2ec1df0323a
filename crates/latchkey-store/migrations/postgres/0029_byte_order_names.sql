-- The normalised UPN and display name compare byte by byte ("C"), as they do on SQLite. A
-- `startswith` is then written as the range [prefix, its successor) on both backends,
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
-- The default listing's order (UPN, id) over active users, in one index: without table
-- statistics the planner took the unique partial `users_active_upn` (no id) for a filtered
-- page and sorted every match (60–160 ms for a `$search` or a `$skiptoken` page at 100k).
CREATE INDEX users_active_listing ON users(tenant_id, upn_normalized, id) WHERE deleted_at IS NULL;

-- SQLite's half also adds (tenant, lower(department), account_enabled, upn, id) for a
-- department filter with an account status. Not here: without table statistics (straight
-- after a bulk load) PostgreSQL took that index for any `account_enabled = $n` or count,
-- scanning it whole (60–190 ms at 100k users), and the department index of 0026 already
-- keeps such a page under 20 ms.
