-- Approval requests of workflows' requestApproval steps: one per run step (the id is
-- derived from the run and the step, so a step taken over after a crash creates none
-- again). The e-mailed link's token is stored only as its SHA-256 digest. A request is
-- decided once, by its approver, before it expires.

CREATE TABLE workflow_approvals (
    id            BLOB PRIMARY KEY,
    tenant_id     BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    token_digest  BLOB NOT NULL UNIQUE,
    run_id        BLOB NOT NULL REFERENCES workflow_runs(id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    workflow_name TEXT NOT NULL,
    subject_id    BLOB NOT NULL,
    approver_id   BLOB NOT NULL,
    message       TEXT NOT NULL,
    step_label    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    decided_at    TEXT,
    decided_by    BLOB,
    UNIQUE (run_id, position)
);
