-- Self-service password reset: one row per attempt, bound to a browser (the digest of its
-- flow secret) and to the name typed, whether or not an account has it. Codes are stored as
-- keyed digests (HMAC under the master key), never in the clear.

CREATE TABLE reset_flows (
    id              UUID PRIMARY KEY,
    tenant_id       UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    digest          BYTEA NOT NULL UNIQUE,
    login_name      TEXT NOT NULL,
    user_id         UUID REFERENCES users(id) ON DELETE CASCADE,
    client_address  TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    verified        TEXT NOT NULL,
    code_digest     BYTEA,
    code_expires_at TIMESTAMPTZ,
    wrong_codes     BIGINT NOT NULL DEFAULT 0,
    completed_at    TIMESTAMPTZ
);
-- The per-name and per-address limits count recent attempts.
CREATE INDEX reset_flows_name ON reset_flows(tenant_id, login_name, created_at);
CREATE INDEX reset_flows_address ON reset_flows(client_address, created_at);
CREATE INDEX reset_flows_expiry ON reset_flows(expires_at);
