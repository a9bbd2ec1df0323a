-- The e-mail send queue. A message is inserted in the same transaction as the change that
-- causes it. Its content is sealed under the server's master key (purpose "mail") and wiped
-- once the message is sent or has failed; the clear columns say only what kind of message
-- it is, to whom, and how its delivery goes.

CREATE TABLE mail_outbox (
    id              BLOB PRIMARY KEY,
    tenant_id       BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    -- JSON array of addresses.
    recipients      TEXT NOT NULL,
    sealed_content  BLOB,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    -- The sender that claimed the message, and until when; only it may report the outcome.
    lease_id        BLOB,
    leased_until    TEXT,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    sent_at         TEXT
);
CREATE INDEX mail_outbox_due ON mail_outbox(next_attempt_at) WHERE status = 'pending';
CREATE INDEX mail_outbox_tenant ON mail_outbox(tenant_id, status, created_at);
