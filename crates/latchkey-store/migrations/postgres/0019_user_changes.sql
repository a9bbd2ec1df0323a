-- Change tracking for Graph's users/delta. Every user write (insert, a version bump, delete)
-- takes the next number of its tenant's counter: the row's change_seq, or a tombstone in
-- user_deletions for a row that is gone for good (hard delete, purge).
--
-- Racing writers must not let a reader skip a change: if numbers were handed out during the
-- transaction (a sequence, or the counter row early), a transaction holding 7 could commit
-- after one holding 8, and a reader who saw 8 and moved its token past it would never see 7.
-- So the number is taken by a deferred constraint trigger, at commit time, from the tenant's
-- counter row, whose lock is then held until the commit completes: the next writer of the
-- tenant gets its number only after the previous one has committed, and numbers are visible
-- in their order. The lock is taken last (the transaction's own rows are locked already and
-- the trigger touches nothing else), so it cannot close a deadlock with other locks. The cost
-- is that commits of user writes in one tenant are serial.

ALTER TABLE users ADD COLUMN change_seq BIGINT NOT NULL DEFAULT 0;
-- A delta page reads one tenant's changes in (change_seq, id) order.
CREATE INDEX users_by_change ON users (tenant_id, change_seq, id);

CREATE TABLE user_change_counters (
    tenant_id UUID PRIMARY KEY,
    seq       BIGINT NOT NULL
);
INSERT INTO user_change_counters (tenant_id, seq) SELECT id, 0 FROM tenants;

-- No foreign key: a tombstone outlives its user by design.
CREATE TABLE user_deletions (
    tenant_id UUID NOT NULL,
    seq       BIGINT NOT NULL,
    user_id   UUID NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);

CREATE FUNCTION next_user_change(t UUID) RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
    s BIGINT;
BEGIN
    INSERT INTO user_change_counters (tenant_id, seq) VALUES (t, 1)
    ON CONFLICT (tenant_id) DO UPDATE SET seq = user_change_counters.seq + 1
    RETURNING seq INTO s;
    RETURN s;
END
$$;

CREATE FUNCTION users_record_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO user_deletions (tenant_id, seq, user_id)
        VALUES (OLD.tenant_id, next_user_change(OLD.tenant_id), OLD.id);
    ELSE
        -- Sets no version, so it queues no event of its own.
        UPDATE users SET change_seq = next_user_change(NEW.tenant_id) WHERE id = NEW.id;
    END IF;
    RETURN NULL;
END
$$;

-- Every write of a user bumps its version; writes that do not (a rehash on sign-in) are no
-- change a sync tool could see.
CREATE CONSTRAINT TRIGGER users_change_on_write
    AFTER INSERT OR UPDATE OF version OR DELETE ON users
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION users_record_change();
