-- Change tracking for Graph's users/delta. Every user write (insert, a version bump, delete)
-- takes the next number of its tenant's counter in the write's own transaction: the row's
-- change_seq, or a tombstone in user_deletions for a row that is gone for good (hard delete,
-- purge). SQLite has one writer, so numbers are handed out in commit order and a reader that
-- sees number n sees every change numbered below it.

ALTER TABLE users ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;
-- A delta page reads one tenant's changes in (change_seq, id) order.
CREATE INDEX users_by_change ON users (tenant_id, change_seq, id);

CREATE TABLE user_change_counters (
    tenant_id BLOB PRIMARY KEY,
    seq       INTEGER NOT NULL
);
INSERT INTO user_change_counters (tenant_id, seq) SELECT id, 0 FROM tenants;

-- No foreign key: a tombstone outlives its user by design.
CREATE TABLE user_deletions (
    tenant_id BLOB NOT NULL,
    seq       INTEGER NOT NULL,
    user_id   BLOB NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);

CREATE TRIGGER users_change_on_insert AFTER INSERT ON users
BEGIN
    INSERT OR IGNORE INTO user_change_counters (tenant_id, seq) VALUES (NEW.tenant_id, 0);
    UPDATE user_change_counters SET seq = seq + 1 WHERE tenant_id = NEW.tenant_id;
    UPDATE users SET change_seq = (SELECT seq FROM user_change_counters WHERE tenant_id = NEW.tenant_id)
    WHERE id = NEW.id;
END;

-- Every write of a user bumps its version; writes that do not (a rehash on sign-in) are no
-- change a sync tool could see.
CREATE TRIGGER users_change_on_update AFTER UPDATE OF version ON users
WHEN NEW.version <> OLD.version
BEGIN
    INSERT OR IGNORE INTO user_change_counters (tenant_id, seq) VALUES (NEW.tenant_id, 0);
    UPDATE user_change_counters SET seq = seq + 1 WHERE tenant_id = NEW.tenant_id;
    UPDATE users SET change_seq = (SELECT seq FROM user_change_counters WHERE tenant_id = NEW.tenant_id)
    WHERE id = NEW.id;
END;

CREATE TRIGGER users_change_on_delete AFTER DELETE ON users
BEGIN
    INSERT OR IGNORE INTO user_change_counters (tenant_id, seq) VALUES (OLD.tenant_id, 0);
    UPDATE user_change_counters SET seq = seq + 1 WHERE tenant_id = OLD.tenant_id;
    INSERT INTO user_deletions (tenant_id, seq, user_id)
    VALUES (OLD.tenant_id, (SELECT seq FROM user_change_counters WHERE tenant_id = OLD.tenant_id), OLD.id);
END;
