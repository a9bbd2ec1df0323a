-- Interactive sign-in: browser sessions (SSO across apps), authorization codes and users'
-- consent to apps. Sessions and codes are stored only as SHA-256 digests of the values the
-- browser or the client holds.

CREATE TABLE sign_in_sessions (
    id         UUID PRIMARY KEY,
    tenant_id  UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id    UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    digest     BYTEA NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX sign_in_sessions_user ON sign_in_sessions(user_id);

CREATE TABLE authorization_codes (
    id             UUID PRIMARY KEY,
    tenant_id      UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id        UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id      TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    nonce          TEXT,
    scopes         TEXT NOT NULL,
    -- The refresh-token family of the tokens issued for this code: a replayed code revokes it.
    family_id      UUID NOT NULL,
    auth_time      TIMESTAMPTZ NOT NULL,
    digest         BYTEA NOT NULL UNIQUE,
    issued_at      TIMESTAMPTZ NOT NULL,
    expires_at     TIMESTAMPTZ NOT NULL,
    redeemed_at    TIMESTAMPTZ
);
CREATE INDEX authorization_codes_expiry ON authorization_codes(expires_at);

CREATE TABLE user_consents (
    tenant_id  UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id    UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    app_id     UUID NOT NULL REFERENCES apps(app_id) ON DELETE CASCADE,
    scopes     TEXT NOT NULL,
    granted_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, app_id)
);

-- Certificate credentials of apps (public material only): the key that verifies client
-- assertions (RFC 7523), found by the thumbprint in the assertion's header.
CREATE TABLE app_certificates (
    key_id            UUID PRIMARY KEY,
    app_id            UUID NOT NULL REFERENCES apps(app_id) ON DELETE CASCADE,
    display_name      TEXT NOT NULL,
    thumbprint_sha1   BYTEA NOT NULL,
    thumbprint_sha256 BYTEA NOT NULL,
    public_key        BYTEA NOT NULL,
    start_at          TIMESTAMPTZ NOT NULL,
    end_at            TIMESTAMPTZ NOT NULL
);
CREATE INDEX app_certificates_app ON app_certificates(app_id);

-- Device authorizations (RFC 8628): the device code as a digest, the user code in the clear
-- (short-lived, typed by a person, useless without the user's own sign-in).
CREATE TABLE device_codes (
    id          UUID PRIMARY KEY,
    tenant_id   UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    client_id   TEXT NOT NULL,
    digest      BYTEA NOT NULL UNIQUE,
    user_code   TEXT NOT NULL,
    scopes      TEXT NOT NULL,
    issued_at   TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    user_id     UUID REFERENCES users(id) ON DELETE CASCADE,
    decided_at  TIMESTAMPTZ,
    auth_time   TIMESTAMPTZ,
    redeemed_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX device_codes_user_code ON device_codes(tenant_id, user_code);
