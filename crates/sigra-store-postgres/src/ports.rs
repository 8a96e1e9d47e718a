//! The [`sigra_core::store`] ports implemented for [`PostgresStore`], one SQL
//! statement (or one transaction) per method, as the storage spec lays out.

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use sigra_core::ids::{SessionId, UserId};
use sigra_core::model::{
    AuditEvent, DeletionStrategy, EmailToken, MfaCredential, Session, User, tombstone_email,
};
use sigra_core::password::PasswordHash;
use sigra_core::store::{
    AuditStore, EmailTokenStore, ExpiredSessions, FailureCount, MaintenanceStore, MfaStore,
    SessionCutoffs, SessionStore, Store, StoreError, StoreResult, UserStore,
};
use sigra_core::token::{TokenContext, TokenHash};
use sqlx::Row;
use sqlx::types::Json;

use crate::error::{PostgresStoreError, backend};
use crate::rows::{
    audit_columns, audit_from_row, email_token_columns, email_token_from_row,
    mfa_credential_columns, mfa_credential_from_row, session_columns, session_from_row,
    user_columns, user_from_row,
};
use crate::store::PostgresStore;

/// The partial unique index on `lower(email)` of non-deleted users.
const USERS_EMAIL_ACTIVE: &str = "users_email_active";
/// The unique constraint on `user_sessions.token_hash`.
const SESSIONS_TOKEN_HASH: &str = "user_sessions_token_hash_key";
/// The primary key of `user_tokens` (the token hash).
const TOKENS_PKEY: &str = "user_tokens_pkey";

/// Whether `e` is a unique violation of the named constraint or index.
fn is_unique_violation_of(e: &sqlx::Error, constraint: &str) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.is_unique_violation() && db.constraint() == Some(constraint)
        }
        _ => false,
    }
}

/// One `UPDATE … RETURNING` that counts a failure and locks at the threshold.
///
/// Every expression reads the pre-update row, and PostgreSQL re-reads the
/// latest row version after waiting on a concurrent update, so concurrent
/// failures are all counted. The new count is written out twice (once per
/// SET target) so both see the same old row. Parameters: $1 key, $2 now,
/// $3 threshold, $4 now + lock.
macro_rules! failure_sql {
    ($table:literal, $count:literal, $key:literal) => {
        concat!(
            "UPDATE ",
            $table,
            " SET ",
            $count,
            " = CASE WHEN locked_until IS NOT NULL AND locked_until <= $2 THEN 1 ELSE ",
            $count,
            " + 1 END, ",
            "locked_until = CASE ",
            "WHEN (CASE WHEN locked_until IS NOT NULL AND locked_until <= $2 THEN 1 ELSE ",
            $count,
            " + 1 END) >= $3 ",
            "THEN COALESCE(CASE WHEN locked_until > $2 THEN locked_until END, $4) ",
            "WHEN locked_until IS NOT NULL AND locked_until <= $2 THEN NULL ",
            "ELSE locked_until END ",
            "WHERE ",
            $key,
            " = $1 ",
            "RETURNING ",
            $count,
            " AS failures, locked_until"
        )
    };
}

impl PostgresStore {
    async fn record_failure(
        &self,
        sql: &'static str,
        id: UserId,
        now: DateTime<Utc>,
        threshold: i32,
        lock_for: TimeDelta,
        what: &'static str,
    ) -> StoreResult<FailureCount> {
        let lock_until = now
            .checked_add_signed(lock_for)
            .ok_or(PostgresStoreError::TimestampOutOfRange("locked_until"))?;
        let row = sqlx::query(sql)
            .bind(id.as_uuid())
            .bind(now)
            .bind(threshold)
            .bind(lock_until)
            .fetch_optional(self.pool())
            .await
            .map_err(backend)?
            .ok_or(StoreError::NotFound(what))?;
        Ok(FailureCount {
            failed_login_count: row.try_get("failures").map_err(backend)?,
            locked_until: row.try_get("locked_until").map_err(backend)?,
        })
    }
}

/// Inside a transaction: deletes every session and email token of the user;
/// returns how many sessions went.
async fn end_sessions_and_tokens(tx: &mut sqlx::PgConnection, id: UserId) -> StoreResult<u64> {
    let sessions = sqlx::query("DELETE FROM user_sessions WHERE user_id = $1")
        .bind(id.as_uuid())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    sqlx::query("DELETE FROM user_tokens WHERE user_id = $1")
        .bind(id.as_uuid())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    Ok(sessions.rows_affected())
}

/// The bytes bound for an optional "keep this session" hash.
fn keep_bytes(keep: Option<TokenHash>) -> Option<[u8; 32]> {
    keep.map(|h| *h.as_bytes())
}

/// Inserts an audit row through `executor` (the pool, or a caller's transaction).
async fn insert_audit<'e>(executor: impl sqlx::PgExecutor<'e>, e: &AuditEvent) -> StoreResult<()> {
    sqlx::query(concat!(
        "INSERT INTO audit_events (",
        audit_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6)"
    ))
    .bind(e.id)
    .bind(e.user_id.as_ref().map(UserId::as_uuid))
    .bind(e.action.as_str())
    .bind(e.ip.as_deref())
    .bind(Json(&e.metadata))
    .bind(e.created_at)
    .execute(executor)
    .await
    .map_err(backend)?;
    Ok(())
}

#[async_trait]
impl UserStore for PostgresStore {
    async fn insert_user(&self, user: &User, audit: &AuditEvent) -> StoreResult<()> {
        let mut tx = self.pool().begin().await.map_err(backend)?;
        sqlx::query(
            "INSERT INTO users (id, email, password_hash, confirmed_at, mfa_enabled, mfa_trust_epoch, \
             failed_login_count, locked_until, created_at, updated_at, deletion_scheduled_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(user.id.as_uuid())
        .bind(&user.email)
        .bind(user.password_hash.as_ref().map(PasswordHash::as_str))
        .bind(user.confirmed_at)
        .bind(user.mfa_enabled)
        .bind(user.mfa_trust_epoch)
        .bind(user.failed_login_count)
        .bind(user.locked_until)
        .bind(user.created_at)
        .bind(user.updated_at)
        .bind(user.deletion_scheduled_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            if is_unique_violation_of(&e, USERS_EMAIL_ACTIVE) {
                StoreError::DuplicateEmail
            } else {
                backend(e)
            }
        })?;
        insert_audit(&mut *tx, audit).await?;
        tx.commit().await.map_err(backend)
    }

    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<User>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users u WHERE u.id = $1"
        ))
        .bind(id.as_uuid())
        .fetch_optional(self.pool())
        .await
        .map_err(backend)?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users u WHERE lower(u.email) = lower($1) AND u.deleted_at IS NULL"
        ))
        .bind(email)
        .fetch_optional(self.pool())
        .await
        .map_err(backend)?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn set_password_hash(
        &self,
        id: UserId,
        hash: &PasswordHash,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done =
            sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
                .bind(id.as_uuid())
                .bind(hash.as_str())
                .bind(now)
                .execute(self.pool())
                .await
                .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn change_password(
        &self,
        id: UserId,
        hash: &PasswordHash,
        keep: Option<TokenHash>,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let mut tx = self.pool().begin().await.map_err(backend)?;
        let updated =
            sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
                .bind(id.as_uuid())
                .bind(hash.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        if updated.rows_affected() == 0 {
            tx.rollback().await.map_err(backend)?;
            return Err(StoreError::NotFound("user"));
        }
        let sessions = sqlx::query("DELETE FROM user_sessions WHERE user_id = $1 AND ($2::bytea IS NULL OR token_hash <> $2)")
            .bind(id.as_uuid())
            .bind(keep_bytes(keep))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query("DELETE FROM user_tokens WHERE user_id = $1")
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(sessions.rows_affected())
    }

    async fn record_login_failure(
        &self,
        id: UserId,
        now: DateTime<Utc>,
        threshold: i32,
        lock_for: TimeDelta,
    ) -> StoreResult<FailureCount> {
        self.record_failure(
            failure_sql!("users", "failed_login_count", "id"),
            id,
            now,
            threshold,
            lock_for,
            "user",
        )
        .await
    }

    async fn confirm_email(&self, id: UserId, now: DateTime<Utc>) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE users SET confirmed_at = $2, updated_at = $2 WHERE id = $1")
            .bind(id.as_uuid())
            .bind(now)
            .execute(self.pool())
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn change_email(&self, id: UserId, email: &str, now: DateTime<Utc>) -> StoreResult<u64> {
        let mut tx = self.pool().begin().await.map_err(backend)?;
        let updated = sqlx::query(
            "UPDATE users SET email = $2, confirmed_at = $3, updated_at = $3 WHERE id = $1",
        )
        .bind(id.as_uuid())
        .bind(email)
        .bind(now)
        .execute(&mut *tx)
        .await;
        match updated {
            Ok(done) if done.rows_affected() == 0 => return Err(StoreError::NotFound("user")),
            Ok(_) => {}
            Err(e) if is_unique_violation_of(&e, USERS_EMAIL_ACTIVE) => {
                return Err(StoreError::DuplicateEmail);
            }
            Err(e) => return Err(backend(e)),
        }
        let deleted = end_sessions_and_tokens(&mut tx, id).await?;
        tx.commit().await.map_err(backend)?;
        Ok(deleted)
    }

    async fn schedule_deletion(
        &self,
        id: UserId,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let mut tx = self.pool().begin().await.map_err(backend)?;
        let updated = sqlx::query(
            "UPDATE users SET deletion_scheduled_at = $2, updated_at = $3 WHERE id = $1",
        )
        .bind(id.as_uuid())
        .bind(at)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound("user"));
        }
        let deleted = end_sessions_and_tokens(&mut tx, id).await?;
        tx.commit().await.map_err(backend)?;
        Ok(deleted)
    }

    async fn cancel_deletion(&self, id: UserId, now: DateTime<Utc>) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE users SET deletion_scheduled_at = NULL, updated_at = $2 \
             WHERE id = $1 AND deletion_scheduled_at IS NOT NULL",
        )
        .bind(id.as_uuid())
        .bind(now)
        .execute(self.pool())
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn clear_login_failures(&self, id: UserId) -> StoreResult<()> {
        sqlx::query("UPDATE users SET failed_login_count = 0, locked_until = NULL WHERE id = $1")
            .bind(id.as_uuid())
            .execute(self.pool())
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn increment_trust_epoch(&self, id: UserId) -> StoreResult<i64> {
        sqlx::query_scalar(
            "UPDATE users SET mfa_trust_epoch = mfa_trust_epoch + 1, updated_at = updated_at \
             WHERE id = $1 RETURNING mfa_trust_epoch",
        )
        .bind(id.as_uuid())
        .fetch_optional(self.pool())
        .await
        .map_err(backend)?
        .ok_or(StoreError::NotFound("user"))
    }

    async fn delete_user(&self, id: UserId) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id.as_uuid())
            .execute(self.pool())
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() > 0)
    }
}

#[async_trait]
impl SessionStore for PostgresStore {
    async fn insert_session(&self, session: &Session) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO user_sessions (id, user_id, token_hash, kind, created_at, last_active_at, sudo_at, ip, user_agent) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(session.id.as_uuid())
        .bind(session.user_id.as_uuid())
        .bind(session.token_hash.as_bytes())
        .bind(session.kind.as_str())
        .bind(session.created_at)
        .bind(session.last_active_at)
        .bind(session.sudo_at)
        .bind(session.ip.as_deref())
        .bind(session.user_agent.as_deref())
        .execute(self.pool())
        .await
        .map_err(|e| {
            if is_unique_violation_of(&e, SESSIONS_TOKEN_HASH) {
                StoreError::DuplicateToken
            } else {
                backend(e)
            }
        })?;
        Ok(())
    }

    async fn session_with_user(&self, hash: &TokenHash) -> StoreResult<Option<(Session, User)>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            session_columns!(),
            ", ",
            user_columns!(),
            " FROM user_sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND u.deleted_at IS NULL"
        ))
        .bind(hash.as_bytes())
        .fetch_optional(self.pool())
        .await
        .map_err(backend)?;
        match row {
            Some(row) => Ok(Some((session_from_row(&row)?, user_from_row(&row)?))),
            None => Ok(None),
        }
    }

    async fn touch_session(&self, id: SessionId, now: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query(
            "UPDATE user_sessions SET last_active_at = $2 WHERE id = $1 AND last_active_at < $2",
        )
        .bind(id.as_uuid())
        .bind(now)
        .execute(self.pool())
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn set_sudo(&self, id: SessionId, now: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE user_sessions SET sudo_at = $2 WHERE id = $1")
            .bind(id.as_uuid())
            .bind(now)
            .execute(self.pool())
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn delete_session_by_hash(&self, hash: &TokenHash) -> StoreResult<Option<UserId>> {
        let user: Option<uuid::Uuid> =
            sqlx::query_scalar("DELETE FROM user_sessions WHERE token_hash = $1 RETURNING user_id")
                .bind(hash.as_bytes())
                .fetch_optional(self.pool())
                .await
                .map_err(backend)?;
        Ok(user.map(UserId::from_uuid))
    }

    async fn delete_user_sessions(
        &self,
        user: UserId,
        keep: Option<TokenHash>,
    ) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM user_sessions WHERE user_id = $1 AND ($2::bytea IS NULL OR token_hash <> $2)")
            .bind(user.as_uuid())
            .bind(keep_bytes(keep))
            .execute(self.pool())
            .await
            .map_err(backend)?;
        Ok(done.rows_affected())
    }

    async fn list_user_sessions(&self, user: UserId) -> StoreResult<Vec<Session>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            session_columns!(),
            " FROM user_sessions s WHERE s.user_id = $1 ORDER BY s.created_at DESC, s.id DESC"
        ))
        .bind(user.as_uuid())
        .fetch_all(self.pool())
        .await
        .map_err(backend)?;
        rows.iter().map(session_from_row).collect()
    }
}

#[async_trait]
impl EmailTokenStore for PostgresStore {
    async fn insert_email_token(&self, token: &EmailToken) -> StoreResult<()> {
        sqlx::query(concat!(
            "INSERT INTO user_tokens (",
            email_token_columns!(),
            ") VALUES ($1, $2, $3, $4, $5)"
        ))
        .bind(token.token_hash.as_bytes())
        .bind(token.user_id.as_uuid())
        .bind(token.context.as_str())
        .bind(&token.sent_to)
        .bind(token.created_at)
        .execute(self.pool())
        .await
        .map_err(|e| {
            if is_unique_violation_of(&e, TOKENS_PKEY) {
                StoreError::DuplicateToken
            } else {
                backend(e)
            }
        })?;
        Ok(())
    }

    async fn take_email_token(
        &self,
        hash: &TokenHash,
        context: TokenContext,
    ) -> StoreResult<Option<EmailToken>> {
        let row = sqlx::query(concat!(
            "DELETE FROM user_tokens WHERE token_hash = $1 AND context = $2 RETURNING ",
            email_token_columns!()
        ))
        .bind(hash.as_bytes())
        .bind(context.as_str())
        .fetch_optional(self.pool())
        .await
        .map_err(backend)?;
        row.as_ref().map(email_token_from_row).transpose()
    }

    async fn delete_user_email_tokens(
        &self,
        user: UserId,
        context: Option<TokenContext>,
    ) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM user_tokens WHERE user_id = $1 AND ($2::text IS NULL OR context = $2)",
        )
        .bind(user.as_uuid())
        .bind(context.map(TokenContext::as_str))
        .execute(self.pool())
        .await
        .map_err(backend)?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl MfaStore for PostgresStore {
    async fn upsert_mfa_credential(&self, credential: &MfaCredential) -> StoreResult<()> {
        sqlx::query(concat!(
            "INSERT INTO user_mfa_credentials (",
            mfa_credential_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (user_id) DO UPDATE SET secret_encrypted = EXCLUDED.secret_encrypted, \
             last_used_step = EXCLUDED.last_used_step, confirmed_at = EXCLUDED.confirmed_at, \
             created_at = EXCLUDED.created_at, \
             failed_attempts = EXCLUDED.failed_attempts, locked_until = EXCLUDED.locked_until"
        ))
        .bind(credential.user_id.as_uuid())
        .bind(&credential.secret_encrypted)
        .bind(credential.last_used_step)
        .bind(credential.confirmed_at)
        .bind(credential.created_at)
        .bind(credential.failed_attempts)
        .bind(credential.locked_until)
        .execute(self.pool())
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn mfa_credential(&self, user: UserId) -> StoreResult<Option<MfaCredential>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            mfa_credential_columns!(),
            " FROM user_mfa_credentials WHERE user_id = $1"
        ))
        .bind(user.as_uuid())
        .fetch_optional(self.pool())
        .await
        .map_err(backend)?;
        row.as_ref().map(mfa_credential_from_row).transpose()
    }

    async fn confirm_mfa(&self, user: UserId, step: i64, now: DateTime<Utc>) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await.map_err(backend)?;
        let confirmed = sqlx::query("UPDATE user_mfa_credentials SET confirmed_at = $3, last_used_step = $2 WHERE user_id = $1")
            .bind(user.as_uuid())
            .bind(step)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        if confirmed.rows_affected() == 0 {
            tx.rollback().await.map_err(backend)?;
            return Ok(false);
        }
        sqlx::query("UPDATE users SET mfa_enabled = true, updated_at = $2 WHERE id = $1")
            .bind(user.as_uuid())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(true)
    }

    async fn record_mfa_failure(
        &self,
        user: UserId,
        now: DateTime<Utc>,
        threshold: i32,
        lock_for: TimeDelta,
    ) -> StoreResult<FailureCount> {
        self.record_failure(
            failure_sql!("user_mfa_credentials", "failed_attempts", "user_id"),
            user,
            now,
            threshold,
            lock_for,
            "mfa credential",
        )
        .await
    }

    async fn clear_mfa_failures(&self, user: UserId) -> StoreResult<()> {
        sqlx::query(
            "UPDATE user_mfa_credentials SET failed_attempts = 0, locked_until = NULL WHERE user_id = $1",
        )
        .bind(user.as_uuid())
        .execute(self.pool())
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn use_totp_step(&self, user: UserId, step: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE user_mfa_credentials SET last_used_step = $2 \
             WHERE user_id = $1 AND (last_used_step IS NULL OR last_used_step < $2)",
        )
        .bind(user.as_uuid())
        .bind(step)
        .execute(self.pool())
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn disable_mfa(&self, user: UserId) -> StoreResult<()> {
        let mut tx = self.pool().begin().await.map_err(backend)?;
        sqlx::query("DELETE FROM user_mfa_credentials WHERE user_id = $1")
            .bind(user.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query("DELETE FROM user_backup_codes WHERE user_id = $1")
            .bind(user.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query("UPDATE users SET mfa_enabled = false, mfa_trust_epoch = mfa_trust_epoch + 1 WHERE id = $1")
            .bind(user.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(())
    }

    async fn replace_backup_codes(
        &self,
        user: UserId,
        hashes: &[[u8; 32]],
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = self.pool().begin().await.map_err(backend)?;
        sqlx::query("DELETE FROM user_backup_codes WHERE user_id = $1")
            .bind(user.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        // One INSERT for all codes: the array is expanded server-side.
        sqlx::query(
            "INSERT INTO user_backup_codes (user_id, code_hash, created_at) \
             SELECT $1, code_hash, $3 FROM unnest($2::bytea[]) AS code_hash",
        )
        .bind(user.as_uuid())
        .bind(hashes)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(())
    }

    async fn consume_backup_code(
        &self,
        user: UserId,
        hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE user_backup_codes SET used_at = $3 \
             WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
        )
        .bind(user.as_uuid())
        .bind(hash)
        .bind(now)
        .execute(self.pool())
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn remaining_backup_codes(&self, user: UserId) -> StoreResult<u64> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM user_backup_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user.as_uuid())
        .fetch_one(self.pool())
        .await
        .map_err(backend)?;
        // COUNT(*) is never negative.
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn mfa_secret_count(&self) -> StoreResult<u64> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM user_mfa_credentials")
            .fetch_one(self.pool())
            .await
            .map_err(backend)?;
        // COUNT(*) is never negative.
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn mfa_secrets_page(
        &self,
        after: Option<UserId>,
        limit: u32,
    ) -> StoreResult<Vec<(UserId, String)>> {
        // `uuid` compares byte by byte, the order of `UserId`.
        let rows: Vec<(uuid::Uuid, String)> = sqlx::query_as(
            "SELECT user_id, secret_encrypted FROM user_mfa_credentials \
             WHERE $1::uuid IS NULL OR user_id > $1 ORDER BY user_id LIMIT $2",
        )
        .bind(after.map(|id| *id.as_uuid()))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .map_err(backend)?;
        Ok(rows
            .into_iter()
            .map(|(id, secret)| (UserId::from_uuid(id), secret))
            .collect())
    }

    async fn replace_mfa_secret(&self, user: UserId, old: &str, new: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE user_mfa_credentials SET secret_encrypted = $3 \
             WHERE user_id = $1 AND secret_encrypted = $2",
        )
        .bind(user.as_uuid())
        .bind(old)
        .bind(new)
        .execute(self.pool())
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }
}

#[async_trait]
impl AuditStore for PostgresStore {
    async fn record_audit(&self, event: &AuditEvent) -> StoreResult<()> {
        insert_audit(self.pool(), event).await
    }

    async fn audit_for_user(&self, user: UserId, limit: u32) -> StoreResult<Vec<AuditEvent>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            audit_columns!(),
            " FROM audit_events WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
        ))
        .bind(user.as_uuid())
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .map_err(backend)?;
        rows.iter().map(audit_from_row).collect()
    }
}

/// The condition under which a scheduled deletion may be carried out ($2 = now).
macro_rules! due_for_deletion {
    () => {
        "deleted_at IS NULL AND deletion_scheduled_at IS NOT NULL AND deletion_scheduled_at <= $2"
    };
}

/// A count read back from PostgreSQL (`bigint`) as the ports' `u64`.
fn count(row: &sqlx::postgres::PgRow, col: &str) -> StoreResult<u64> {
    let n: i64 = row.try_get(col).map_err(backend)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

#[async_trait]
impl MaintenanceStore for PostgresStore {
    async fn delete_expired_sessions(&self, c: &SessionCutoffs) -> StoreResult<ExpiredSessions> {
        let row = sqlx::query(
            "WITH gone AS ( \
               DELETE FROM user_sessions WHERE \
                 (kind = 'standard' AND (created_at < $1 OR last_active_at < $2)) \
                 OR (kind = 'remember_me' AND created_at < $3) \
                 OR (kind = 'mfa_pending' AND created_at < $4) \
               RETURNING kind) \
             SELECT count(*) FILTER (WHERE kind = 'standard') AS standard, \
                    count(*) FILTER (WHERE kind = 'remember_me') AS remember_me, \
                    count(*) FILTER (WHERE kind = 'mfa_pending') AS mfa_pending \
             FROM gone",
        )
        .bind(c.standard_created_before)
        .bind(c.standard_active_before)
        .bind(c.remember_me_created_before)
        .bind(c.mfa_pending_created_before)
        .fetch_one(self.pool())
        .await
        .map_err(backend)?;
        Ok(ExpiredSessions {
            standard: count(&row, "standard")?,
            remember_me: count(&row, "remember_me")?,
            mfa_pending: count(&row, "mfa_pending")?,
        })
    }

    async fn delete_expired_email_tokens(
        &self,
        cutoffs: &[(TokenContext, DateTime<Utc>)],
    ) -> StoreResult<u64> {
        let contexts: Vec<&str> = cutoffs.iter().map(|(c, _)| c.as_str()).collect();
        let before: Vec<DateTime<Utc>> = cutoffs.iter().map(|(_, t)| *t).collect();
        let done = sqlx::query(
            "DELETE FROM user_tokens t USING unnest($1::text[], $2::timestamptz[]) AS c(context, cutoff) \
             WHERE t.context = c.context AND t.created_at < c.cutoff",
        )
        .bind(contexts)
        .bind(before)
        .execute(self.pool())
        .await
        .map_err(backend)?;
        Ok(done.rows_affected())
    }

    async fn delete_audit_before(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM audit_events WHERE created_at < $1")
            .bind(before)
            .execute(self.pool())
            .await
            .map_err(backend)?;
        Ok(done.rows_affected())
    }

    async fn users_due_for_deletion(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<UserId>> {
        let ids: Vec<uuid::Uuid> = sqlx::query_scalar(
            "SELECT id FROM users WHERE deletion_scheduled_at IS NOT NULL AND deletion_scheduled_at <= $1 \
             AND deleted_at IS NULL ORDER BY deletion_scheduled_at, id LIMIT $2",
        )
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .map_err(backend)?;
        Ok(ids.into_iter().map(UserId::from_uuid).collect())
    }

    async fn apply_scheduled_deletion(
        &self,
        id: UserId,
        strategy: DeletionStrategy,
        audit: &AuditEvent,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await.map_err(backend)?;
        let changed = if strategy == DeletionStrategy::HardDelete {
            sqlx::query(concat!(
                "DELETE FROM users WHERE id = $1 AND ",
                due_for_deletion!()
            ))
            .bind(id.as_uuid())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(backend)?
            .rows_affected()
        } else {
            sqlx::query(concat!(
                "UPDATE users SET email = $3, password_hash = NULL, confirmed_at = NULL, mfa_enabled = false, \
                 mfa_trust_epoch = mfa_trust_epoch + 1, failed_login_count = 0, locked_until = NULL, \
                 deleted_at = $2, updated_at = $2 WHERE id = $1 AND ",
                due_for_deletion!()
            ))
            .bind(id.as_uuid())
            .bind(now)
            .bind(tombstone_email(id))
            .execute(&mut *tx)
            .await
            .map_err(backend)?
            .rows_affected()
        };
        if changed == 0 {
            tx.rollback().await.map_err(backend)?;
            return Ok(false);
        }
        if strategy != DeletionStrategy::HardDelete {
            for statement in [
                "DELETE FROM user_sessions WHERE user_id = $1",
                "DELETE FROM user_tokens WHERE user_id = $1",
                "DELETE FROM user_mfa_credentials WHERE user_id = $1",
                "DELETE FROM user_backup_codes WHERE user_id = $1",
            ] {
                sqlx::query(statement)
                    .bind(id.as_uuid())
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
            }
        }
        if strategy == DeletionStrategy::Anonymize {
            sqlx::query(
                "UPDATE audit_events SET ip = NULL, metadata = '{}'::jsonb WHERE user_id = $1",
            )
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        insert_audit(&mut *tx, audit).await?;
        tx.commit().await.map_err(backend)?;
        Ok(true)
    }

    async fn claim_job_tick(
        &self,
        job: &str,
        tick: DateTime<Utc>,
        now: DateTime<Utc>,
        prune_before: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await.map_err(backend)?;
        sqlx::query("DELETE FROM sigra_job_ticks WHERE tick < $1")
            .bind(prune_before)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let claimed = sqlx::query(
            "INSERT INTO sigra_job_ticks (job, tick, claimed_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(job)
        .bind(tick)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(claimed.rows_affected() == 1)
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(self.pool())
            .await
            .map_err(backend)?;
        Ok(())
    }
}
