//! Conversions between SQLite rows and Sigra's models.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sigra_core::ids::{SessionId, UserId};
use sigra_core::model::{AuditEvent, EmailToken, MfaCredential, Session, User};
use sigra_core::password::PasswordHash;
use sigra_core::token::TokenHash;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

use crate::SqliteStoreError;

type Result<T> = std::result::Result<T, SqliteStoreError>;

/// The user columns, aliased with a `u_` prefix.
macro_rules! user_cols {
    () => {
        "u.id AS u_id, u.email AS u_email, u.password_hash AS u_password_hash, \
         u.confirmed_at AS u_confirmed_at, u.mfa_enabled AS u_mfa_enabled, \
         u.mfa_trust_epoch AS u_mfa_trust_epoch, u.failed_login_count AS u_failed_login_count, \
         u.locked_until AS u_locked_until, u.created_at AS u_created_at, u.updated_at AS u_updated_at, \
         u.deletion_scheduled_at AS u_deletion_scheduled_at"
    };
}

/// The session columns, aliased with an `s_` prefix.
macro_rules! session_cols {
    () => {
        "s.id AS s_id, s.user_id AS s_user_id, s.token_hash AS s_token_hash, s.kind AS s_kind, \
         s.created_at AS s_created_at, s.last_active_at AS s_last_active_at, s.sudo_at AS s_sudo_at, \
         s.ip AS s_ip, s.user_agent AS s_user_agent"
    };
}

pub(crate) use {session_cols, user_cols};

pub(crate) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(crate) fn opt_micros(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(micros)
}

fn time(row: &SqliteRow, col: &'static str) -> Result<DateTime<Utc>> {
    let v: i64 = row.try_get(col)?;
    DateTime::from_timestamp_micros(v).ok_or_else(|| SqliteStoreError::corrupt(col))
}

fn opt_time(row: &SqliteRow, col: &'static str) -> Result<Option<DateTime<Utc>>> {
    let v: Option<i64> = row.try_get(col)?;
    v.map(|v| DateTime::from_timestamp_micros(v).ok_or_else(|| SqliteStoreError::corrupt(col)))
        .transpose()
}

pub(crate) fn hash(row: &SqliteRow, col: &'static str) -> Result<TokenHash> {
    let bytes: Vec<u8> = row.try_get(col)?;
    TokenHash::from_slice(&bytes).ok_or_else(|| SqliteStoreError::corrupt(col))
}

pub(crate) fn user(row: &SqliteRow) -> Result<User> {
    Ok(User {
        id: UserId::from_uuid(row.try_get("u_id")?),
        email: row.try_get("u_email")?,
        password_hash: row
            .try_get::<Option<String>, _>("u_password_hash")?
            .map(PasswordHash::from_phc),
        confirmed_at: opt_time(row, "u_confirmed_at")?,
        mfa_enabled: row.try_get("u_mfa_enabled")?,
        mfa_trust_epoch: row.try_get("u_mfa_trust_epoch")?,
        failed_login_count: row.try_get("u_failed_login_count")?,
        locked_until: opt_time(row, "u_locked_until")?,
        created_at: time(row, "u_created_at")?,
        updated_at: time(row, "u_updated_at")?,
        deletion_scheduled_at: opt_time(row, "u_deletion_scheduled_at")?,
    })
}

pub(crate) fn session(row: &SqliteRow) -> Result<Session> {
    let kind: String = row.try_get("s_kind")?;
    Ok(Session {
        id: SessionId::from_uuid(row.try_get("s_id")?),
        user_id: UserId::from_uuid(row.try_get("s_user_id")?),
        token_hash: hash(row, "s_token_hash")?,
        kind: kind
            .parse()
            .map_err(|e| SqliteStoreError::corrupt_with("session kind", e))?,
        created_at: time(row, "s_created_at")?,
        last_active_at: time(row, "s_last_active_at")?,
        sudo_at: opt_time(row, "s_sudo_at")?,
        ip: row.try_get("s_ip")?,
        user_agent: row.try_get("s_user_agent")?,
    })
}

pub(crate) fn email_token(row: &SqliteRow) -> Result<EmailToken> {
    let context: String = row.try_get("context")?;
    let context = context
        .parse()
        .map_err(|e| SqliteStoreError::corrupt_with("token context", e))?;
    Ok(EmailToken::new(
        hash(row, "token_hash")?,
        UserId::from_uuid(row.try_get("user_id")?),
        context,
        row.try_get("sent_to")?,
        time(row, "created_at")?,
    ))
}

pub(crate) fn mfa_credential(row: &SqliteRow) -> Result<MfaCredential> {
    let mut credential = MfaCredential::new(
        UserId::from_uuid(row.try_get("user_id")?),
        row.try_get("secret_encrypted")?,
        time(row, "created_at")?,
    );
    credential.last_used_step = row.try_get("last_used_step")?;
    credential.confirmed_at = opt_time(row, "confirmed_at")?;
    credential.failed_attempts = row.try_get("failed_attempts")?;
    credential.locked_until = opt_time(row, "locked_until")?;
    Ok(credential)
}

pub(crate) fn audit_event(row: &SqliteRow) -> Result<AuditEvent> {
    let action: String = row.try_get("action")?;
    let action = action
        .parse()
        .map_err(|e| SqliteStoreError::corrupt_with("audit action", e))?;
    let metadata: String = row.try_get("metadata")?;
    let metadata: BTreeMap<String, String> = serde_json::from_str(&metadata)
        .map_err(|e| SqliteStoreError::corrupt_with("audit metadata", e))?;
    let user_id: Option<Uuid> = row.try_get("user_id")?;
    let mut event = AuditEvent::new(
        action,
        user_id.map(UserId::from_uuid),
        time(row, "created_at")?,
    );
    event.id = row.try_get("id")?;
    event.ip = row.try_get("ip")?;
    event.metadata = metadata;
    Ok(event)
}
