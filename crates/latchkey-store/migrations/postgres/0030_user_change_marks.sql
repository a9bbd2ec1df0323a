-- Pruning users/delta tombstones. Every hourly pass records each tenant's change counter with
-- the directory's clock; a tombstone numbered at or below a mark older than the retention
-- (30 days) was written before that mark's time, so no valid delta token can still need it:
-- a token's round started at most 21 days ago (7-day page tokens, 7-day delta tokens, 7-day
-- page tokens again). Marks older than the newest such mark go too.
CREATE TABLE user_change_marks (
    tenant_id UUID NOT NULL,
    at        TIMESTAMPTZ NOT NULL,
    seq       BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, at)
);
