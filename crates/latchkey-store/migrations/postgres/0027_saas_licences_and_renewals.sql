-- SaaS licences and renewals (issue 8): seats bought set on the app (else the current
-- contract's seats), the idle threshold per app (NULL: 60 days), the Latchkey SKU the app's
-- seats are, the seats a contract buys, the tenant's renewal alert offsets, and the renewal
-- alerts already sent: one row per (contract, cancellation deadline, offset), so several passes
-- or nodes send each once, and a contract whose dates change is alerted again for its new deadline.

ALTER TABLE saas_apps ADD COLUMN seats_bought INTEGER CHECK (seats_bought >= 0);
ALTER TABLE saas_apps ADD COLUMN idle_days INTEGER CHECK (idle_days > 0);
ALTER TABLE saas_apps ADD COLUMN license_sku_id UUID;
ALTER TABLE saas_contracts ADD COLUMN seats INTEGER CHECK (seats >= 0);
CREATE INDEX saas_contracts_by_end ON saas_contracts(tenant_id, end_date);

CREATE TABLE saas_settings (
    tenant_id       UUID PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    -- JSON list of days before a cancellation deadline at which to alert.
    renewal_offsets TEXT NOT NULL
);

CREATE TABLE saas_renewal_alerts (
    contract_id UUID NOT NULL REFERENCES saas_contracts(id) ON DELETE CASCADE,
    deadline    TEXT NOT NULL,
    offset_days INTEGER NOT NULL,
    sent_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (contract_id, deadline, offset_days)
);
