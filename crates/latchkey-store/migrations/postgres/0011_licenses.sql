-- Licences: the SKUs a tenant defines (Graph's subscribedSku) and the licences assigned to
-- users. A SKU's consumed seats are counted from user_licenses, never stored, so that no
-- counter can drift; an assignment locks its SKU row (assignments_version) before counting.

CREATE TABLE subscribed_skus (
    tenant_id              UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    sku_id                 UUID NOT NULL,
    sku_part_number        TEXT NOT NULL,
    part_number_normalized TEXT NOT NULL,
    prepaid_units          BIGINT NOT NULL CHECK (prepaid_units >= 0),
    service_plans          TEXT NOT NULL,
    created_at             TIMESTAMPTZ NOT NULL,
    assignments_version    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, sku_id)
);
CREATE UNIQUE INDEX subscribed_skus_part_number ON subscribed_skus (tenant_id, part_number_normalized);

-- Kept while the user is in the recycle bin; gone with the user's row on a hard delete.
CREATE TABLE user_licenses (
    user_id        UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    tenant_id      UUID NOT NULL,
    sku_id         UUID NOT NULL,
    disabled_plans TEXT NOT NULL,
    assigned_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, sku_id),
    FOREIGN KEY (tenant_id, sku_id) REFERENCES subscribed_skus (tenant_id, sku_id) ON DELETE CASCADE
);
-- Seat counts and $filter=assignedLicenses/any(x:x/skuId eq ...) start from the SKU.
CREATE INDEX user_licenses_by_sku ON user_licenses (tenant_id, sku_id, user_id);
