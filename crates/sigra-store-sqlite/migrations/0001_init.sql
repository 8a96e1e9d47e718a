-- Sigra schema for SQLite. Timestamps are INTEGER unix microseconds; ids are
-- 16-byte UUID blobs; token and code hashes are 32-byte SHA-256 blobs.

CREATE TABLE users (
    id                    BLOB PRIMARY KEY NOT NULL,
    email                 TEXT NOT NULL,
    password_hash         TEXT,
    confirmed_at          INTEGER,
    mfa_enabled           INTEGER NOT NULL DEFAULT 0,
    mfa_trust_epoch       INTEGER NOT NULL DEFAULT 0,
    failed_login_count    INTEGER NOT NULL DEFAULT 0,
    locked_until          INTEGER,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL,
    deletion_scheduled_at INTEGER,
    deleted_at            INTEGER
) STRICT;

-- One live account per email, compared case-insensitively.
CREATE UNIQUE INDEX users_email_active ON users (lower(email)) WHERE deleted_at IS NULL;

CREATE TABLE user_sessions (
    id             BLOB PRIMARY KEY NOT NULL,
    user_id        BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash     BLOB NOT NULL UNIQUE,
    kind           TEXT NOT NULL CHECK (kind IN ('standard', 'remember_me', 'mfa_pending')),
    created_at     INTEGER NOT NULL,
    last_active_at INTEGER NOT NULL,
    sudo_at        INTEGER,
    ip             TEXT,
    user_agent     TEXT
) STRICT;

CREATE INDEX user_sessions_user_id ON user_sessions (user_id);

CREATE TABLE user_tokens (
    token_hash BLOB PRIMARY KEY NOT NULL,
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    context    TEXT NOT NULL,
    sent_to    TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE INDEX user_tokens_user_id ON user_tokens (user_id, context);

CREATE TABLE user_mfa_credentials (
    user_id          BLOB PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret_encrypted TEXT NOT NULL,
    last_used_step   INTEGER,
    confirmed_at     INTEGER,
    created_at       INTEGER NOT NULL
) STRICT;

CREATE TABLE user_backup_codes (
    id         INTEGER PRIMARY KEY,
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  BLOB NOT NULL,
    used_at    INTEGER,
    created_at INTEGER NOT NULL,
    UNIQUE (user_id, code_hash)
) STRICT;

-- No foreign key: audit rows outlive the users they mention.
CREATE TABLE audit_events (
    id         BLOB PRIMARY KEY NOT NULL,
    user_id    BLOB,
    action     TEXT NOT NULL,
    ip         TEXT,
    metadata   TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE INDEX audit_events_user ON audit_events (user_id, created_at);
CREATE INDEX audit_events_created ON audit_events (created_at);
