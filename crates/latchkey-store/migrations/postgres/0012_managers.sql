-- The manager relationship (Graph's user.manager and directReports): at most one manager per
-- user. Gone with either user's row on a hard delete. tenants.manager_writes is bumped by
-- every change so that changes in one tenant are serial and a cycle check inside the
-- transaction sees every committed edge.

CREATE TABLE user_managers (
    user_id    UUID PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    tenant_id  UUID NOT NULL,
    manager_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    set_at     TIMESTAMPTZ NOT NULL,
    CHECK (user_id <> manager_id)
);
-- directReports start from the manager.
CREATE INDEX user_managers_by_manager ON user_managers (tenant_id, manager_id, user_id);

ALTER TABLE tenants ADD COLUMN manager_writes BIGINT NOT NULL DEFAULT 0;
