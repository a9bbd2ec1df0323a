-- Graph's user listings: ordering by display name or creation time pages on (key, id), and
-- the common filters (mail, employee id) look up through an index.
CREATE INDEX users_by_display_name ON users(tenant_id, display_name_normalized, id);
CREATE INDEX users_by_created ON users(tenant_id, created_at, id);
CREATE INDEX users_by_mail ON users(tenant_id, lower(mail));
CREATE INDEX users_by_employee_id ON users(tenant_id, lower(employee_id));
