-- Temporary Access Passes: at most one per user (as Entra), stored as a SHA-256 digest only.

CREATE TABLE temporary_access_passes (
    id               BLOB PRIMARY KEY,
    tenant_id        BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id          BLOB NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
    digest           BLOB NOT NULL,
    created_at       TEXT NOT NULL,
    start_at         TEXT NOT NULL,
    lifetime_minutes INTEGER NOT NULL,
    usable_once      BOOLEAN NOT NULL,
    used_at          TEXT,
    created_by       TEXT NOT NULL
);
