-- A directory role's members (Graph's /directoryRoles/{id}/members) are found from the role,
-- not by scanning users.
CREATE INDEX user_roles_by_role ON user_roles (tenant_id, role, user_id);
