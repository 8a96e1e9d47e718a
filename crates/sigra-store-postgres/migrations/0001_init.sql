-- Sigra's PostgreSQL schema, version 1 (see the storage spec shared with sigra-store-sqlite).
--
-- Ids are uuid, timestamps timestamptz (microseconds), token and code hashes
-- bytea holding SHA-256 (32 bytes). Raw tokens, codes and passwords are never
-- stored. Enum-like columns hold the `as_str()` names of the Rust enums.

CREATE TABLE users (
    id                    uuid        PRIMARY KEY,
    email                 text        NOT NULL,
    password_hash         text        NULL,
    confirmed_at          timestamptz NULL,
    mfa_enabled           boolean     NOT NULL DEFAULT false,
    mfa_trust_epoch       bigint      NOT NULL DEFAULT 0,
    failed_login_count    integer     NOT NULL DEFAULT 0,
    locked_until          timestamptz NULL,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    deletion_scheduled_at timestamptz NULL,
    deleted_at            timestamptz NULL
);

-- One active account per email, compared case-insensitively. Also serves
-- `WHERE lower(email) = lower($1) AND deleted_at IS NULL` lookups.
CREATE UNIQUE INDEX users_email_active ON users (lower(email)) WHERE deleted_at IS NULL;

CREATE TABLE user_sessions (
    id             uuid        PRIMARY KEY,
    user_id        uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash     bytea       NOT NULL,
    kind           text        NOT NULL,
    created_at     timestamptz NOT NULL,
    last_active_at timestamptz NOT NULL,
    sudo_at        timestamptz NULL,
    ip             text        NULL,
    user_agent     text        NULL,
    CONSTRAINT user_sessions_token_hash_key UNIQUE (token_hash),
    CONSTRAINT user_sessions_token_hash_len CHECK (octet_length(token_hash) = 32),
    CONSTRAINT user_sessions_kind_check CHECK (kind IN ('standard', 'remember_me', 'mfa_pending'))
);

CREATE INDEX user_sessions_user_id ON user_sessions (user_id);

CREATE TABLE user_tokens (
    token_hash bytea       NOT NULL,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    context    text        NOT NULL,
    sent_to    text        NOT NULL,
    created_at timestamptz NOT NULL,
    CONSTRAINT user_tokens_pkey PRIMARY KEY (token_hash),
    CONSTRAINT user_tokens_token_hash_len CHECK (octet_length(token_hash) = 32)
);

CREATE INDEX user_tokens_user_id ON user_tokens (user_id, context);

CREATE TABLE user_mfa_credentials (
    user_id          uuid        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_encrypted text        NOT NULL,
    last_used_step   bigint      NULL,
    confirmed_at     timestamptz NULL,
    created_at       timestamptz NOT NULL
);

CREATE TABLE user_backup_codes (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  bytea       NOT NULL,
    used_at    timestamptz NULL,
    created_at timestamptz NOT NULL,
    CONSTRAINT user_backup_codes_user_code UNIQUE (user_id, code_hash),
    CONSTRAINT user_backup_codes_code_hash_len CHECK (octet_length(code_hash) = 32)
);

-- No foreign key on user_id: audit rows outlive the users they describe.
CREATE TABLE audit_events (
    id         uuid        PRIMARY KEY,
    user_id    uuid        NULL,
    action     text        NOT NULL,
    ip         text        NULL,
    metadata   jsonb       NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE INDEX audit_events_user ON audit_events (user_id, created_at);
CREATE INDEX audit_events_created ON audit_events (created_at);
