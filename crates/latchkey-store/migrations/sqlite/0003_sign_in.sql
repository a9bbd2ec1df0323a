-- Sign-in: smart-lockout state per user (kept apart from the user row so that sign-ins do
-- not bump the user's version), the sign-in log, and refresh tokens (digests only), grouped
-- in families so that reuse of a rotated token revokes the whole family.

CREATE TABLE sign_in_state (
    user_id         BLOB PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    tenant_id       BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    failed_count    INTEGER NOT NULL,
    lockouts        INTEGER NOT NULL,
    locked_until    TEXT,
    last_success    TEXT
);

CREATE TABLE sign_in_events (
    seq                 INTEGER PRIMARY KEY,
    id                  BLOB NOT NULL UNIQUE,
    tenant_id           BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    created_at          TEXT NOT NULL,
    user_id             BLOB,
    user_principal_name TEXT NOT NULL,
    app_id              TEXT,
    app_display_name    TEXT,
    error_code          INTEGER NOT NULL,
    failure_reason      TEXT
);
CREATE INDEX sign_in_events_time ON sign_in_events(tenant_id, created_at);
CREATE INDEX sign_in_events_user ON sign_in_events(tenant_id, user_id, created_at);

CREATE TABLE refresh_tokens (
    id         BLOB PRIMARY KEY,
    family_id  BLOB NOT NULL,
    tenant_id  BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id    BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL,
    scopes     TEXT NOT NULL,
    digest     BLOB NOT NULL UNIQUE,
    issued_at  TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT,
    revoked_at TEXT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens(user_id);
