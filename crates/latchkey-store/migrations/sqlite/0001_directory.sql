-- The directory: tenants, their verified domains, users, role assignments, and the two
-- trails every change writes (audit events and the automation outbox).
-- Ids are UUIDs stored as 16-byte blobs; times are RFC 3339 text in UTC.

CREATE TABLE tenants (
    id              BLOB PRIMARY KEY,
    display_name    TEXT NOT NULL,
    password_policy TEXT NOT NULL,
    created_at      TEXT NOT NULL
);

CREATE TABLE tenant_domains (
    domain    TEXT PRIMARY KEY,
    tenant_id BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    position  INTEGER NOT NULL
);
CREATE INDEX tenant_domains_tenant ON tenant_domains(tenant_id, position);

CREATE TABLE users (
    id                          BLOB PRIMARY KEY,
    tenant_id                   BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_principal_name         TEXT NOT NULL,
    upn_normalized              TEXT NOT NULL,
    display_name                TEXT NOT NULL,
    display_name_normalized     TEXT NOT NULL,
    mail_nickname               TEXT NOT NULL,
    account_enabled             INTEGER NOT NULL,
    user_type                   TEXT NOT NULL,
    given_name                  TEXT,
    surname                     TEXT,
    mail                        TEXT,
    other_mails                 TEXT NOT NULL,
    mobile_phone                TEXT,
    business_phones             TEXT NOT NULL,
    job_title                   TEXT,
    department                  TEXT,
    company_name                TEXT,
    office_location             TEXT,
    preferred_language          TEXT,
    street_address              TEXT,
    city                        TEXT,
    state                       TEXT,
    postal_code                 TEXT,
    country                     TEXT,
    usage_location              TEXT,
    employee_id                 TEXT,
    employee_type               TEXT,
    employee_hire_date          TEXT,
    employee_leave_date_time    TEXT,
    password_policies           TEXT,
    password_hash               TEXT,
    force_change_password       INTEGER NOT NULL,
    force_change_password_mfa   INTEGER NOT NULL,
    last_password_change        TEXT,
    sign_in_sessions_valid_from TEXT NOT NULL,
    created_at                  TEXT NOT NULL,
    deleted_at                  TEXT,
    version                     INTEGER NOT NULL
);
-- A UPN is unique among a tenant's active users, whatever its case; deleted users keep
-- theirs so that a restore can detect a clash.
CREATE UNIQUE INDEX users_active_upn ON users(tenant_id, upn_normalized) WHERE deleted_at IS NULL;
CREATE INDEX users_listing ON users(tenant_id, upn_normalized, id);
CREATE INDEX users_display_name ON users(tenant_id, display_name_normalized);

CREATE TABLE user_roles (
    user_id   BLOB NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    tenant_id BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    role      TEXT NOT NULL,
    PRIMARY KEY (user_id, role)
);

-- seq orders events that share a timestamp, in commit order within one writer.
CREATE TABLE audit_events (
    seq                  INTEGER PRIMARY KEY,
    id                   BLOB NOT NULL UNIQUE,
    tenant_id            BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    activity_date_time   TEXT NOT NULL,
    category             TEXT NOT NULL,
    activity             TEXT NOT NULL,
    operation_type       TEXT NOT NULL,
    result               TEXT NOT NULL,
    initiated_by_kind    TEXT NOT NULL,
    initiated_by_id      TEXT,
    initiated_by_display TEXT NOT NULL,
    target_id            TEXT,
    target_display       TEXT,
    channel              TEXT NOT NULL,
    details              TEXT NOT NULL
);
CREATE INDEX audit_events_time ON audit_events(tenant_id, activity_date_time);

CREATE TABLE outbox_events (
    seq          INTEGER PRIMARY KEY,
    id           BLOB NOT NULL UNIQUE,
    tenant_id    BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    occurred_at  TEXT NOT NULL,
    kind         TEXT NOT NULL,
    subject      BLOB,
    payload      TEXT NOT NULL,
    processed_at TEXT
);
CREATE INDEX outbox_events_pending ON outbox_events(tenant_id, seq) WHERE processed_at IS NULL;
