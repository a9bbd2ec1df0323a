-- Lifecycle workflows and their durable runs. A workflow's definition is JSON with a schema
-- version, validated in core before it is written; every save is a new version, and a run
-- keeps the version it started with (workflow_versions). A run exists once per
-- (workflow, user, occurrence): the unique key is what stops a trigger firing twice.

CREATE TABLE workflows (
    id          BLOB PRIMARY KEY,
    tenant_id   BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    enabled     INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    definition  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE workflow_versions (
    workflow_id BLOB NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
    version     INTEGER NOT NULL,
    definition  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (workflow_id, version)
);

CREATE TABLE workflow_runs (
    id               BLOB PRIMARY KEY,
    tenant_id        BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    workflow_id      BLOB NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
    workflow_version INTEGER NOT NULL,
    user_id          BLOB NOT NULL,
    occurrence       TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    -- The position of the step that runs next.
    current_step     INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL,
    finished_at      TEXT,
    UNIQUE (workflow_id, user_id, occurrence)
);
CREATE INDEX workflow_runs_tenant ON workflow_runs(tenant_id, created_at);

CREATE TABLE workflow_steps (
    run_id          BLOB NOT NULL REFERENCES workflow_runs(id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    -- The step as defined (JSON), copied from the version the run started with.
    step            TEXT NOT NULL,
    status          TEXT NOT NULL
        CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'skipped')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    -- The worker that claimed the step, and until when; only it may report the outcome.
    lease_id        BLOB,
    leased_until    TEXT,
    first_started_at TEXT,
    output          TEXT,
    error           TEXT,
    finished_at     TEXT,
    PRIMARY KEY (run_id, position)
);
CREATE INDEX workflow_steps_due ON workflow_steps(next_attempt_at)
    WHERE status IN ('pending', 'running');
