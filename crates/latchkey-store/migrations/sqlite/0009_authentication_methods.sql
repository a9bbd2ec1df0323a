-- Authentication methods beyond the password: authenticator apps (TOTP) and recovery e-mail
-- addresses. A TOTP secret is stored only sealed under the server's master key. A pending
-- registration (activated_at NULL) waits for the user's first code and signs nobody in.
-- last_used_step is the last TOTP time step accepted: a code of that step or an earlier one is
-- a replay.
CREATE TABLE auth_methods (
    id             BLOB PRIMARY KEY,
    tenant_id      BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id        BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind           TEXT NOT NULL,
    display        TEXT NOT NULL,
    sealed_secret  BLOB,
    created_at     TEXT NOT NULL,
    activated_at   TEXT,
    last_used_step INTEGER
);
CREATE INDEX auth_methods_user ON auth_methods(tenant_id, user_id);

-- Recovery codes, only as digests bound to their user; each is used once.
CREATE TABLE recovery_codes (
    tenant_id  BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id    BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    digest     BLOB NOT NULL,
    created_at TEXT NOT NULL,
    used_at    TEXT,
    PRIMARY KEY (user_id, digest)
);

-- Failed second-factor attempts, counted apart from password failures: a right password
-- clears the password count, and must not give a guesser of codes a fresh allowance.
CREATE TABLE second_factor_state (
    user_id      BLOB PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    tenant_id    BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    failed_count INTEGER NOT NULL,
    lockouts     INTEGER NOT NULL,
    locked_until TEXT,
    last_success TEXT
);
