-- The revocation log (sigra-core::store::RevocationStore): one row per change
-- that alters what a session lookup returns for a user. Triggers write it in
-- the writing transaction, so no write path (Auth, jobs, hand-written SQL)
-- can forget it, and NOTIFY `sigra_revocations` (delivered at commit) so
-- listening nodes evict at once. Nodes with a session cache follow it; the
-- cleanup job prunes it.
--
-- Ids come from a sequence at insert time; transactions commit later, so a
-- row can become visible after one with a higher id, and a rolled-back
-- transaction leaves an id that never appears. Readers allow for both.

CREATE TABLE session_revocations (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    uuid        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX session_revocations_created ON session_revocations (created_at);

-- Deleted rows (sessions, or users): one log row and one notification per
-- distinct user of the statement, however many rows it deleted.
CREATE FUNCTION sigra_revocations_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    uid uuid;
BEGIN
    -- PL/pgSQL plans each branch for the table it runs on.
    IF TG_TABLE_NAME = 'users' THEN
        FOR uid IN SELECT DISTINCT id FROM old_rows LOOP
            INSERT INTO session_revocations (user_id) VALUES (uid);
            PERFORM pg_notify('sigra_revocations', uid::text);
        END LOOP;
    ELSE
        FOR uid IN SELECT DISTINCT user_id FROM old_rows LOOP
            INSERT INTO session_revocations (user_id) VALUES (uid);
            PERFORM pg_notify('sigra_revocations', uid::text);
        END LOOP;
    END IF;
    RETURN NULL;
END;
$$;

-- An updated row (a session's sudo_at, or a user's visible columns).
CREATE FUNCTION sigra_revocations_updated() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    uid uuid;
BEGIN
    IF TG_TABLE_NAME = 'users' THEN
        uid := NEW.id;
    ELSE
        uid := NEW.user_id;
    END IF;
    INSERT INTO session_revocations (user_id) VALUES (uid);
    PERFORM pg_notify('sigra_revocations', uid::text);
    RETURN NULL;
END;
$$;

CREATE TRIGGER session_revocations_session_delete
    AFTER DELETE ON user_sessions REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sigra_revocations_deleted();

CREATE TRIGGER session_revocations_user_delete
    AFTER DELETE ON users REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION sigra_revocations_deleted();

CREATE TRIGGER session_revocations_session_sudo
    AFTER UPDATE OF sudo_at ON user_sessions
    FOR EACH ROW WHEN (OLD.sudo_at IS DISTINCT FROM NEW.sudo_at)
    EXECUTE FUNCTION sigra_revocations_updated();

CREATE TRIGGER session_revocations_user_update
    AFTER UPDATE OF email, password_hash, confirmed_at, mfa_enabled, mfa_trust_epoch, locked_until,
                    deletion_scheduled_at, deleted_at ON users
    FOR EACH ROW WHEN (
           OLD.email IS DISTINCT FROM NEW.email
        OR OLD.password_hash IS DISTINCT FROM NEW.password_hash
        OR OLD.confirmed_at IS DISTINCT FROM NEW.confirmed_at
        OR OLD.mfa_enabled IS DISTINCT FROM NEW.mfa_enabled
        OR OLD.mfa_trust_epoch IS DISTINCT FROM NEW.mfa_trust_epoch
        OR OLD.locked_until IS DISTINCT FROM NEW.locked_until
        OR OLD.deletion_scheduled_at IS DISTINCT FROM NEW.deletion_scheduled_at
        OR OLD.deleted_at IS DISTINCT FROM NEW.deleted_at)
    EXECUTE FUNCTION sigra_revocations_updated();
