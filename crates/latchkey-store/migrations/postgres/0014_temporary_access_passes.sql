-- Temporary Access Passes: at most one per user (as Entra), stored as a SHA-256 digest only.

CREATE TABLE temporary_access_passes (
    id               UUID PRIMARY KEY,
    tenant_id        UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id          UUID NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
    digest           BYTEA NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL,
    start_at         TIMESTAMPTZ NOT NULL,
    lifetime_minutes BIGINT NOT NULL,
    usable_once      BOOLEAN NOT NULL,
    used_at          TIMESTAMPTZ,
    created_by       TEXT NOT NULL
);
