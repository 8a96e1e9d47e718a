-- The revocation log (sigra-core::store::RevocationStore): one row per change
-- that alters what a session lookup returns for a user. Triggers write it in
-- the writing transaction, so no write path (Auth, jobs, hand-written SQL)
-- can forget it. Nodes with a session cache follow it; the cleanup job prunes
-- it. Writers are serialized on SQLite and AUTOINCREMENT never reuses an id,
-- so ids become visible in order.

CREATE TABLE session_revocations (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    BLOB    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE INDEX session_revocations_created ON session_revocations (created_at);

-- A session ends: log-out, log-out everywhere, expiry, cascades from users.
CREATE TRIGGER session_revocations_session_delete AFTER DELETE ON user_sessions
BEGIN
    INSERT INTO session_revocations (user_id, created_at)
    VALUES (OLD.user_id, CAST(unixepoch('subsec') * 1000000 AS INTEGER));
END;

-- The sudo window opens (cached sessions carry sudo_at).
CREATE TRIGGER session_revocations_session_sudo AFTER UPDATE OF sudo_at ON user_sessions
WHEN OLD.sudo_at IS NOT NEW.sudo_at
BEGIN
    INSERT INTO session_revocations (user_id, created_at)
    VALUES (NEW.user_id, CAST(unixepoch('subsec') * 1000000 AS INTEGER));
END;

-- The user changes in a way a session lookup shows.
CREATE TRIGGER session_revocations_user_update
AFTER UPDATE OF email, password_hash, confirmed_at, mfa_enabled, mfa_trust_epoch, locked_until,
                deletion_scheduled_at, deleted_at ON users
WHEN OLD.email IS NOT NEW.email
  OR OLD.password_hash IS NOT NEW.password_hash
  OR OLD.confirmed_at IS NOT NEW.confirmed_at
  OR OLD.mfa_enabled IS NOT NEW.mfa_enabled
  OR OLD.mfa_trust_epoch IS NOT NEW.mfa_trust_epoch
  OR OLD.locked_until IS NOT NEW.locked_until
  OR OLD.deletion_scheduled_at IS NOT NEW.deletion_scheduled_at
  OR OLD.deleted_at IS NOT NEW.deleted_at
BEGIN
    INSERT INTO session_revocations (user_id, created_at)
    VALUES (NEW.id, CAST(unixepoch('subsec') * 1000000 AS INTEGER));
END;

CREATE TRIGGER session_revocations_user_delete AFTER DELETE ON users
BEGIN
    INSERT INTO session_revocations (user_id, created_at)
    VALUES (OLD.id, CAST(unixepoch('subsec') * 1000000 AS INTEGER));
END;
