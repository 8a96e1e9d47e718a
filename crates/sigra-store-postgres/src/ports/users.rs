//! The [`UserStore`] port: accounts, passwords, log-in failures, email confirmation and scheduled deletion.

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use sigra_core::ids::UserId;
use sigra_core::model::{AuditEvent, User};
use sigra_core::password::PasswordHash;
use sigra_core::store::{FailureCount, StoreError, StoreResult, UserStore};
use sigra_core::token::TokenHash;

use super::audit::insert_audit;
use super::{failure_sql, keep_bytes};
use crate::PostgresStore;
use crate::error::{USERS_EMAIL_ACTIVE, backend, is_unique_violation_of};
use crate::rows::{user_columns, user_from_row};

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

#[async_trait]
impl UserStore for PostgresStore {
    async fn insert_user(&self, user: &User, audit: &AuditEvent) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO users (id, email, password_hash, confirmed_at, mfa_enabled, mfa_trust_epoch, \
             failed_login_count, locked_until, created_at, updated_at, deletion_scheduled_at, session_epoch) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
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
        .bind(user.session_epoch)
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
        let mut tx = self.write_tx().await?;
        // Both epochs move with the password: trust cookies and log-ins in
        // progress die with it (see `User::session_epoch`).
        let updated = sqlx::query(
            "UPDATE users SET password_hash = $2, updated_at = $3, \
             mfa_trust_epoch = mfa_trust_epoch + 1, session_epoch = session_epoch + 1 WHERE id = $1",
        )
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
        let sessions = sqlx::query(
            "DELETE FROM user_sessions WHERE user_id = $1 AND ($2::bytea IS NULL OR token_hash <> $2)",
        )
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
        let mut tx = self.write_tx().await?;
        let updated = sqlx::query(
            "UPDATE users SET email = $2, confirmed_at = $3, updated_at = $3, \
             mfa_trust_epoch = mfa_trust_epoch + 1, session_epoch = session_epoch + 1 WHERE id = $1",
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
        let mut tx = self.write_tx().await?;
        let updated = sqlx::query(
            "UPDATE users SET deletion_scheduled_at = $2, updated_at = $3, \
             session_epoch = session_epoch + 1 WHERE id = $1",
        )
        .bind(id.as_uuid())
        .bind(at)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if updated.rows_affected() == 0 {
            tx.rollback().await.map_err(backend)?;
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

    async fn delete_user(&self, id: UserId) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id.as_uuid())
            .execute(self.pool())
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() > 0)
    }
}
