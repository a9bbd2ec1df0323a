-- A page of active users narrowed by department or job title, in the listing's default UPN
-- order: with only `users_listing` a filter that matches few users (the admin center's
-- "disabled in Finance") walked the whole tenant in UPN order to fill a page (120–280 ms at
-- 100k users, benches/README.md). These give the equality and the order in one index, so
-- such a page reads only that department's or title's users.
CREATE INDEX users_department_listing ON users(tenant_id, lower(department), upn_normalized, id) WHERE deleted_at IS NULL;
CREATE INDEX users_job_title_listing ON users(tenant_id, lower(job_title), upn_normalized, id) WHERE deleted_at IS NULL;
