-- Sign-in: smart-lockout state per user (kept apart from the user row so that sign-ins do
-- not bump the user's version), the sign-in log, and refresh tokens (digests only), grouped
-- in families so that reuse of a rotated token revokes the whole family.

CREATE TABLE sign_in_state (
    user_id         UUID PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    tenant_id       UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    failed_count    BIGINT NOT NULL,
    lockouts        BIGINT NOT NULL,
    locked_until    TIMESTAMPTZ,
    last_success    TIMESTAMPTZ
);

CREATE TABLE sign_in_events (
    seq                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                  UUID NOT NULL UNIQUE,
    tenant_id           UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    created_at          TIMESTAMPTZ NOT NULL,
    user_id             UUID,
    user_principal_name TEXT NOT NULL,
    app_id              TEXT,
    app_display_name    TEXT,
    error_code          BIGINT NOT NULL,
    failure_reason      TEXT
);
CREATE INDEX sign_in_events_time ON sign_in_events(tenant_id, created_at);
CREATE INDEX sign_in_events_user ON sign_in_events(tenant_id, user_id, created_at);

CREATE TABLE refresh_tokens (
    id         UUID PRIMARY KEY,
    family_id  UUID NOT NULL,
    tenant_id  UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id    UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL,
    scopes     TEXT NOT NULL,
    digest     BYTEA NOT NULL UNIQUE,
    issued_at  TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens(user_id);
