-- A connected Microsoft 365 tenant that workflows can target: where its Graph and token
-- endpoints are, which remote tenant and application to act as, the client secret sealed
-- under the master key, and an extra CA (PEM) to trust. Named per local tenant; the name is
-- stored lower-cased so that look-ups ignore case.

CREATE TABLE workflow_tenant_connections (
    tenant_id      UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    display_name   TEXT NOT NULL,
    remote_tenant  TEXT NOT NULL,
    client_id      TEXT NOT NULL,
    authority_url  TEXT NOT NULL,
    graph_url      TEXT NOT NULL,
    ca_pem         TEXT,
    sealed_secret  BYTEA NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
