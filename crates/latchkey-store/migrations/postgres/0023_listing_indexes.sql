-- Indexes the 100k-user benchmark (crates/latchkey/benches/directory_scale.rs) showed
-- missing: each listing below read the whole table to answer one page.

-- The audit log and the sign-in log, newest first within a tenant (ORDER BY seq DESC):
-- without these the time indexes found every row of the tenant and sorted them.
CREATE INDEX audit_events_tenant_seq ON audit_events(tenant_id, seq);
CREATE INDEX sign_in_events_tenant_seq ON sign_in_events(tenant_id, seq);

-- Deleted users (the recycle bin), in UPN order: only the deleted rows are in it, so an
-- empty or small recycle bin is read without touching the active users.
CREATE INDEX users_deleted_listing ON users(tenant_id, upn_normalized, id) WHERE deleted_at IS NOT NULL;

-- The equality filters admins use most (admin center's department filter, Graph's
-- department eq / jobTitle eq), compared through lower() as the store writes them.
CREATE INDEX users_by_department ON users(tenant_id, lower(department));
CREATE INDEX users_by_job_title ON users(tenant_id, lower(job_title));
