-- A department filter with an account status (the admin center's "disabled in Finance"):
-- both equalities and the UPN order in one index, so a page that matches nobody reads nobody
-- rather than the whole department (36 ms p50 / 56 ms p99 at 100k users with
-- `users_department_listing` alone, benches/README.md). PostgreSQL's half of this migration
-- also makes its name columns compare byte by byte, as SQLite's always have.
CREATE INDEX users_department_status_listing ON users(tenant_id, lower(department), account_enabled, upn_normalized, id) WHERE deleted_at IS NULL;
