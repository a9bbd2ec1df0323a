-- App registrations with their client secrets (digests only), and token-signing keys
-- (private halves sealed under the server's master key).

CREATE TABLE apps (
    app_id                   BLOB PRIMARY KEY,
    object_id                BLOB NOT NULL UNIQUE,
    tenant_id                BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    display_name             TEXT NOT NULL,
    redirect_uris            TEXT NOT NULL,
    public_client            INTEGER NOT NULL,
    application_permissions  TEXT NOT NULL,
    delegated_permissions    TEXT NOT NULL,
    admin_consent            INTEGER NOT NULL,
    created_at               TEXT NOT NULL
);
CREATE INDEX apps_tenant ON apps(tenant_id, display_name);

CREATE TABLE app_secrets (
    key_id       BLOB PRIMARY KEY,
    app_id       BLOB NOT NULL REFERENCES apps(app_id) ON DELETE CASCADE,
    display_name TEXT NOT NULL,
    hint         TEXT NOT NULL,
    digest       BLOB NOT NULL,
    start_at     TEXT NOT NULL,
    end_at       TEXT NOT NULL
);
CREATE INDEX app_secrets_app ON app_secrets(app_id);

CREATE TABLE signing_keys (
    kid                TEXT PRIMARY KEY,
    sealed_private_key BLOB NOT NULL,
    public_key         BLOB NOT NULL,
    created_at         TEXT NOT NULL,
    retire_after       TEXT NOT NULL
);
