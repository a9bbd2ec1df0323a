-- View-once deliveries of a temporary password: the link's token is stored only as its
-- SHA-256 digest; the password sealed under the server's master key (purpose "view-once")
-- is wiped when it is revealed or when the link expires.

CREATE TABLE view_once_deliveries (
    id            UUID PRIMARY KEY,
    tenant_id     UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id       UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    digest        BYTEA NOT NULL UNIQUE,
    sealed_secret BYTEA,
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    opened_at     TIMESTAMPTZ,
    created_by    TEXT NOT NULL
);
CREATE INDEX view_once_deliveries_expiry ON view_once_deliveries(expires_at);
