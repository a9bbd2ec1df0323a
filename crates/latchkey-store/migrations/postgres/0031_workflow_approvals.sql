-- Approval requests of workflows' requestApproval steps: one per run step (the id is
-- derived from the run and the step, so a step taken over after a crash creates none
-- again). The e-mailed link's token is stored only as its SHA-256 digest. A request is
-- decided once, by its approver, before it expires.

CREATE TABLE workflow_approvals (
    id            UUID PRIMARY KEY,
    tenant_id     UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    token_digest  BYTEA NOT NULL UNIQUE,
    run_id        UUID NOT NULL REFERENCES workflow_runs(id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    workflow_name TEXT NOT NULL,
    subject_id    UUID NOT NULL,
    approver_id   UUID NOT NULL,
    message       TEXT NOT NULL,
    step_label    TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    decided_at    TIMESTAMPTZ,
    decided_by    UUID,
    UNIQUE (run_id, position)
);
