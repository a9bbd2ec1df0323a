-- A tenant's workflow settings: the IANA time zone anniversaries and schedules fall due in,
-- and the share of its users a run start may touch at once without confirmation. No row
-- means the defaults (UTC, 50 %). Also each workflow's sealed webhook secret.

CREATE TABLE tenant_workflow_settings (
    tenant_id             BLOB PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    time_zone             TEXT NOT NULL,
    max_run_share_percent INTEGER NOT NULL CHECK (max_run_share_percent BETWEEN 1 AND 100)
);

-- Finding which users already have a run of a workflow (the tick's one query per page).
CREATE INDEX workflow_runs_user ON workflow_runs(workflow_id, user_id);

-- A workflow's webhook secret (HMAC key of its webhook steps), sealed under the master key.
CREATE TABLE workflow_secrets (
    workflow_id BLOB PRIMARY KEY REFERENCES workflows(id) ON DELETE CASCADE,
    sealed      BLOB NOT NULL,
    updated_at  TEXT NOT NULL
);

-- A run an operator cancelled: its status is 'failed', its unfinished steps 'skipped'.
ALTER TABLE workflow_runs ADD COLUMN cancelled_at TEXT;

-- How far an attribute-change (mover) workflow has read the outbox (its last seq).
CREATE TABLE workflow_cursors (
    workflow_id BLOB PRIMARY KEY REFERENCES workflows(id) ON DELETE CASCADE,
    outbox_seq  INTEGER NOT NULL
);
