-- A SCIM 2.0 app that workflows provision users in (scimProvision / scimDeprovision): its
-- base URL, the bearer token sealed under the master key, and the attribute mapping (JSON:
-- SCIM attribute -> user property). Named per tenant; the name is stored lower-cased so
-- that look-ups ignore case.

CREATE TABLE workflow_scim_connections (
    tenant_id      BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    display_name   TEXT NOT NULL,
    base_url       TEXT NOT NULL,
    mapping        TEXT NOT NULL,
    sealed_token   BLOB NOT NULL,
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
