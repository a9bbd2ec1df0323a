-- Discovery from connected Microsoft 365 tenants (issue 8, source b): each source's status
-- (keyed by the connection's lower-cased name), the link from a remote app (`appId`) to the
-- inventory app it was matched to, and the observations already recorded as evidence (a
-- grant with its scopes, a sign-in), so that a pass run again adds nothing.

CREATE TABLE saas_discovery_sources (
    tenant_id       UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    connection      TEXT NOT NULL,
    last_attempt_at TIMESTAMPTZ NOT NULL,
    last_success_at TIMESTAMPTZ,
    last_error_at   TIMESTAMPTZ,
    last_error      TEXT,
    sign_in_cursor  TIMESTAMPTZ,
    PRIMARY KEY (tenant_id, connection)
);

CREATE TABLE saas_remote_apps (
    tenant_id     UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    connection    TEXT NOT NULL,
    remote_app_id TEXT NOT NULL,
    app_id        UUID NOT NULL REFERENCES saas_apps(id) ON DELETE CASCADE,
    PRIMARY KEY (tenant_id, connection, remote_app_id)
);

CREATE TABLE saas_remote_observations (
    tenant_id   UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    connection  TEXT NOT NULL,
    observation TEXT NOT NULL,
    app_id      UUID NOT NULL REFERENCES saas_apps(id) ON DELETE CASCADE,
    seen_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, connection, observation)
);
