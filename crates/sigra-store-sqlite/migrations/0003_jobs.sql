-- Background jobs (sigra-jobs): indexes for the periodic cleanups and the
-- table that makes a cron tick run once in a cluster.

-- process_scheduled_deletions: live users whose grace period has ended.
CREATE INDEX users_deletion_due ON users (deletion_scheduled_at)
    WHERE deletion_scheduled_at IS NOT NULL AND deleted_at IS NULL;

-- cleanup_expired_tokens: sessions by kind and age, email tokens by context and age.
CREATE INDEX user_sessions_kind_created ON user_sessions (kind, created_at);
CREATE INDEX user_tokens_context_created ON user_tokens (context, created_at);

-- One row per (job, tick) ever claimed: the primary key lets exactly one
-- node's INSERT win, so every other node skips that tick.
CREATE TABLE sigra_job_ticks (
    job        TEXT    NOT NULL,
    tick       INTEGER NOT NULL,
    claimed_at INTEGER NOT NULL,
    PRIMARY KEY (job, tick)
) STRICT;

CREATE INDEX sigra_job_ticks_tick ON sigra_job_ticks (tick);
