-- The SaaS inventory (issue 8): apps the organisation uses, who uses them, the evidence of
-- each sighting, and imported expense lines. An app is unique per tenant by normalised name,
-- and by the Latchkey app registration it signs in through; an expense line by its
-- fingerprint, so that importing a file again adds nothing.

CREATE TABLE saas_apps (
    id              UUID PRIMARY KEY,
    tenant_id       UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    name_normalized TEXT NOT NULL,
    vendor          TEXT,
    category        TEXT,
    catalogue_key   TEXT,
    owner_id        UUID,
    state           TEXT NOT NULL
        CHECK (state IN ('discovered', 'underReview', 'sanctioned', 'unsanctioned', 'retired')),
    latchkey_app_id UUID,
    -- JSON list of every permission granted through Latchkey.
    permissions     TEXT NOT NULL DEFAULT '[]',
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    version         BIGINT NOT NULL,
    UNIQUE (tenant_id, name_normalized)
);
CREATE UNIQUE INDEX saas_apps_by_registration ON saas_apps(tenant_id, latchkey_app_id)
    WHERE latchkey_app_id IS NOT NULL;
CREATE UNIQUE INDEX saas_apps_by_catalogue ON saas_apps(tenant_id, catalogue_key)
    WHERE catalogue_key IS NOT NULL;

CREATE TABLE saas_app_users (
    app_id        UUID NOT NULL REFERENCES saas_apps(id) ON DELETE CASCADE,
    user_id       UUID NOT NULL,
    first_seen_at TIMESTAMPTZ NOT NULL,
    last_used_at  TIMESTAMPTZ NOT NULL,
    permissions   TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (app_id, user_id)
);

CREATE TABLE saas_evidence (
    seq         BIGSERIAL PRIMARY KEY,
    app_id      UUID NOT NULL REFERENCES saas_apps(id) ON DELETE CASCADE,
    source      TEXT NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    user_id     UUID,
    detail      TEXT NOT NULL
);
CREATE INDEX saas_evidence_by_app ON saas_evidence(app_id, seq);

CREATE TABLE saas_expenses (
    id                UUID PRIMARY KEY,
    tenant_id         UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    fingerprint       TEXT NOT NULL,
    line              INTEGER NOT NULL,
    vendor            TEXT NOT NULL,
    amount_minor      BIGINT NOT NULL CHECK (amount_minor >= 0),
    currency          TEXT NOT NULL,
    currency_exponent INTEGER NOT NULL,
    spent_on          TEXT NOT NULL,
    employee          TEXT,
    app_id            UUID REFERENCES saas_apps(id) ON DELETE SET NULL,
    imported_at       TIMESTAMPTZ NOT NULL,
    UNIQUE (tenant_id, fingerprint)
);
CREATE INDEX saas_expenses_unmatched ON saas_expenses(tenant_id, imported_at)
    WHERE app_id IS NULL;

-- Contracts: the cancellation deadline (end less notice) is computed, never stored.
CREATE TABLE saas_contracts (
    id                UUID PRIMARY KEY,
    tenant_id         UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    app_id            UUID NOT NULL REFERENCES saas_apps(id) ON DELETE CASCADE,
    start_date        TEXT NOT NULL,
    end_date          TEXT NOT NULL,
    notice_days       INTEGER NOT NULL CHECK (notice_days >= 0),
    auto_renew        BOOLEAN NOT NULL,
    cost_minor        BIGINT NOT NULL CHECK (cost_minor >= 0),
    currency          TEXT NOT NULL,
    currency_exponent INTEGER NOT NULL,
    billing_period    TEXT NOT NULL CHECK (billing_period IN ('monthly', 'quarterly', 'annual')),
    created_at        TIMESTAMPTZ NOT NULL,
    CHECK (end_date > start_date)
);
CREATE INDEX saas_contracts_by_app ON saas_contracts(app_id, start_date);
