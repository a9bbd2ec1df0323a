-- App registrations with their client secrets (digests only), and token-signing keys
-- (private halves sealed under the server's master key).

CREATE TABLE apps (
    app_id                   UUID PRIMARY KEY,
    object_id                UUID NOT NULL UNIQUE,
    tenant_id                UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    display_name             TEXT NOT NULL,
    redirect_uris            TEXT NOT NULL,
    public_client            BOOLEAN NOT NULL,
    application_permissions  TEXT NOT NULL,
    delegated_permissions    TEXT NOT NULL,
    admin_consent            BOOLEAN NOT NULL,
    created_at               TIMESTAMPTZ NOT NULL
);
CREATE INDEX apps_tenant ON apps(tenant_id, display_name);

CREATE TABLE app_secrets (
    key_id       UUID PRIMARY KEY,
    app_id       UUID NOT NULL REFERENCES apps(app_id) ON DELETE CASCADE,
    display_name TEXT NOT NULL,
    hint         TEXT NOT NULL,
    digest       BYTEA NOT NULL,
    start_at     TIMESTAMPTZ NOT NULL,
    end_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX app_secrets_app ON app_secrets(app_id);

CREATE TABLE signing_keys (
    kid                TEXT PRIMARY KEY,
    sealed_private_key BYTEA NOT NULL,
    public_key         BYTEA NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL,
    retire_after       TIMESTAMPTZ NOT NULL
);
