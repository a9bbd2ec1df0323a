-- Lifecycle workflows and their durable runs. A workflow's definition is JSON with a schema
-- version, validated in core before it is written; every save is a new version, and a run
-- keeps the version it started with (workflow_versions). A run exists once per
-- (workflow, user, occurrence): the unique key is what stops a trigger firing twice.

CREATE TABLE workflows (
    id          UUID PRIMARY KEY,
    tenant_id   UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    enabled     BOOLEAN NOT NULL,
    version     BIGINT NOT NULL,
    definition  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE workflow_versions (
    workflow_id UUID NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
    version     BIGINT NOT NULL,
    definition  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workflow_id, version)
);

CREATE TABLE workflow_runs (
    id               UUID PRIMARY KEY,
    tenant_id        UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    workflow_id      UUID NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
    workflow_version BIGINT NOT NULL,
    user_id          UUID NOT NULL,
    occurrence       TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    -- The position of the step that runs next.
    current_step     INTEGER NOT NULL DEFAULT 0,
    created_at       TIMESTAMPTZ NOT NULL,
    finished_at      TIMESTAMPTZ,
    UNIQUE (workflow_id, user_id, occurrence)
);
CREATE INDEX workflow_runs_tenant ON workflow_runs(tenant_id, created_at);

CREATE TABLE workflow_steps (
    run_id          UUID NOT NULL REFERENCES workflow_runs(id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    -- The step as defined (JSON), copied from the version the run started with.
    step            TEXT NOT NULL,
    status          TEXT NOT NULL
        CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'skipped')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    -- The worker that claimed the step, and until when; only it may report the outcome.
    lease_id        UUID,
    leased_until    TIMESTAMPTZ,
    first_started_at TIMESTAMPTZ,
    output          TEXT,
    error           TEXT,
    finished_at     TIMESTAMPTZ,
    PRIMARY KEY (run_id, position)
);
CREATE INDEX workflow_steps_due ON workflow_steps(next_attempt_at)
    WHERE status IN ('pending', 'running');
