//! Column lists and hand-written row mapping for the model types.
//!
//! Queries that return users select [`user_columns!`] from `users u`, and
//! queries that return sessions select [`session_columns!`] from
//! `user_sessions s`: every column is aliased with a table prefix (`u_id`,
//! `s_id`, …), so the session + user join yields both from one row and each
//! mapper reads one fixed set of names.

use std::collections::BTreeMap;

use sigra_core::ids::{SessionId, UserId};
use sigra_core::model::{
    AuditAction, AuditEvent, EmailToken, MfaCredential, Session, SessionKind, UnknownName, User,
};
use sigra_core::password::PasswordHash;
use sigra_core::store::{StoreError, StoreResult};
use sigra_core::token::{TokenContext, TokenHash};
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use uuid::Uuid;

use crate::error::backend;

/// The `users u` columns, aliased `u_*`, as a string literal (for `concat!`).
macro_rules! user_columns {
    () => {
        "u.id AS u_id, u.email AS u_email, u.password_hash AS u_password_hash, \
         u.confirmed_at AS u_confirmed_at, u.mfa_enabled AS u_mfa_enabled, \
         u.mfa_trust_epoch AS u_mfa_trust_epoch, u.session_epoch AS u_session_epoch, \
         u.failed_login_count AS u_failed_login_count, \
         u.locked_until AS u_locked_until, u.created_at AS u_created_at, \
         u.updated_at AS u_updated_at, u.deletion_scheduled_at AS u_deletion_scheduled_at"
    };
}

/// The `user_sessions s` columns, aliased `s_*`, as a string literal (for `concat!`).
macro_rules! session_columns {
    () => {
        "s.id AS s_id, s.user_id AS s_user_id, s.token_hash AS s_token_hash, s.kind AS s_kind, \
         s.created_at AS s_created_at, s.last_active_at AS s_last_active_at, s.sudo_at AS s_sudo_at, \
         s.ip AS s_ip, s.user_agent AS s_user_agent"
    };
}

/// The `user_tokens` columns, unaliased.
macro_rules! email_token_columns {
    () => {
        "token_hash, user_id, context, sent_to, created_at"
    };
}

/// The `user_mfa_credentials` columns, unaliased.
macro_rules! mfa_credential_columns {
    () => {
        "user_id, secret_encrypted, last_used_step, confirmed_at, created_at, failed_attempts, locked_until"
    };
}

/// The `audit_events` columns, unaliased.
macro_rules! audit_columns {
    () => {
        "id, user_id, action, ip, metadata, created_at"
    };
}

pub(crate) use {
    audit_columns, email_token_columns, mfa_credential_columns, session_columns, user_columns,
};

fn get<'r, T>(row: &'r PgRow, column: &str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(column).map_err(backend)
}

/// A user from the `u_*` columns of [`user_columns!`].
pub(crate) fn user_from_row(row: &PgRow) -> StoreResult<User> {
    let id: Uuid = get(row, "u_id")?;
    let password_hash: Option<String> = get(row, "u_password_hash")?;
    Ok(User {
        id: UserId::from_uuid(id),
        email: get(row, "u_email")?,
        password_hash: password_hash.map(PasswordHash::from_phc),
        confirmed_at: get(row, "u_confirmed_at")?,
        mfa_enabled: get(row, "u_mfa_enabled")?,
        mfa_trust_epoch: get(row, "u_mfa_trust_epoch")?,
        session_epoch: get(row, "u_session_epoch")?,
        failed_login_count: get(row, "u_failed_login_count")?,
        locked_until: get(row, "u_locked_until")?,
        created_at: get(row, "u_created_at")?,
        updated_at: get(row, "u_updated_at")?,
        deletion_scheduled_at: get(row, "u_deletion_scheduled_at")?,
    })
}

/// A session from the `s_*` columns of [`session_columns!`].
pub(crate) fn session_from_row(row: &PgRow) -> StoreResult<Session> {
    let id: Uuid = get(row, "s_id")?;
    let user_id: Uuid = get(row, "s_user_id")?;
    let token_hash: [u8; 32] = get(row, "s_token_hash")?;
    let kind: String = get(row, "s_kind")?;
    Ok(Session {
        id: SessionId::from_uuid(id),
        user_id: UserId::from_uuid(user_id),
        token_hash: TokenHash::from_bytes(token_hash),
        kind: kind.parse::<SessionKind>().map_err(StoreError::backend)?,
        created_at: get(row, "s_created_at")?,
        last_active_at: get(row, "s_last_active_at")?,
        sudo_at: get(row, "s_sudo_at")?,
        ip: get(row, "s_ip")?,
        user_agent: get(row, "s_user_agent")?,
    })
}

/// An email token from the columns of [`email_token_columns!`].
pub(crate) fn email_token_from_row(row: &PgRow) -> StoreResult<EmailToken> {
    let token_hash: [u8; 32] = get(row, "token_hash")?;
    let user_id: Uuid = get(row, "user_id")?;
    let context: String = get(row, "context")?;
    let context = parse_context(context)?;
    Ok(EmailToken::new(
        TokenHash::from_bytes(token_hash),
        UserId::from_uuid(user_id),
        context,
        get(row, "sent_to")?,
        get(row, "created_at")?,
    ))
}

/// A TOTP credential from the columns of [`mfa_credential_columns!`].
pub(crate) fn mfa_credential_from_row(row: &PgRow) -> StoreResult<MfaCredential> {
    let user_id: Uuid = get(row, "user_id")?;
    let mut credential = MfaCredential::new(
        UserId::from_uuid(user_id),
        get(row, "secret_encrypted")?,
        get(row, "created_at")?,
    );
    credential.last_used_step = get(row, "last_used_step")?;
    credential.confirmed_at = get(row, "confirmed_at")?;
    credential.failed_attempts = get(row, "failed_attempts")?;
    credential.locked_until = get(row, "locked_until")?;
    Ok(credential)
}

/// An audit event from the columns of [`audit_columns!`].
pub(crate) fn audit_from_row(row: &PgRow) -> StoreResult<AuditEvent> {
    let id: Uuid = get(row, "id")?;
    let user_id: Option<Uuid> = get(row, "user_id")?;
    let action: String = get(row, "action")?;
    let action: AuditAction = action.parse().map_err(StoreError::backend)?;
    let Json(metadata): Json<BTreeMap<String, String>> = get(row, "metadata")?;
    Ok(AuditEvent {
        id,
        user_id: user_id.map(UserId::from_uuid),
        action,
        ip: get(row, "ip")?,
        metadata,
        created_at: get(row, "created_at")?,
    })
}

/// Parses a stored token context; an unknown name is a backend error whose
/// source is an [`UnknownName`], as for every other stored enum.
fn parse_context(name: String) -> StoreResult<TokenContext> {
    name.parse().map_err(|_| {
        StoreError::backend(UnknownName {
            what: "token context",
            value: name,
        })
    })
}
