//! The port implementations: every query Sigra runs on SQLite.

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

use crate::rows::{self, micros, opt_micros, session_cols, user_cols};
use crate::{SqliteStore, SqliteStoreError};

fn db(e: sqlx::Error) -> StoreError {
    SqliteStoreError::from(e).into()
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

/// One `UPDATE … RETURNING` that counts a failure and locks at the threshold.
///
/// Every expression on the right sees the row as it was before the update,
/// so the new count is spelled out where the lock needs it. Parameters:
/// ?1 id, ?2 now, ?3 threshold, ?4 now + lock.
macro_rules! failure_sql {
    ($table:literal, $count:literal, $key:literal) => {
        concat!(
            "UPDATE ", $table, " SET ",
            $count, " = CASE WHEN locked_until IS NOT NULL AND locked_until <= ?2 THEN 1 ELSE ", $count, " + 1 END, ",
            "locked_until = CASE ",
            "WHEN (CASE WHEN locked_until IS NOT NULL AND locked_until <= ?2 THEN 1 ELSE ", $count, " + 1 END) >= ?3 ",
            "THEN CASE WHEN locked_until IS NOT NULL AND locked_until > ?2 THEN locked_until ELSE ?4 END ",
            "WHEN locked_until IS NOT NULL AND locked_until <= ?2 THEN NULL ",
            "ELSE locked_until END ",
            "WHERE ", $key, " = ?1 ",
            "RETURNING ", $count, " AS failures, locked_until"
        )
    };
}

impl SqliteStore {
    async fn record_failure(
        &self,
        sql: &'static str,
        id: UserId,
        now: DateTime<Utc>,
        threshold: i32,
        lock_for: TimeDelta,
        what: &'static str,
    ) -> StoreResult<FailureCount> {
        let row = sqlx::query(sql)
            .bind(id.as_uuid())
            .bind(micros(now))
            .bind(threshold)
            .bind(micros(now + lock_for))
            .fetch_optional(self.pool())
            .await
            .map_err(db)?
            .ok_or(StoreError::NotFound(what))?;
        let locked: Option<i64> = row.try_get("locked_until").map_err(db)?;
        Ok(FailureCount {
            failed_login_count: row.try_get("failures").map_err(db)?,
            locked_until: locked.and_then(DateTime::from_timestamp_micros),
        })
    }

    /// Starts a write transaction that holds the write lock from the start.
    async fn write_tx(&self) -> StoreResult<sqlx::Transaction<'static, sqlx::Sqlite>> {
        self.pool().begin_with("BEGIN IMMEDIATE").await.map_err(db)
    }

    /// Inside `tx`: deletes every session and email token of the user; returns the sessions deleted.
    async fn end_sessions_and_tokens(
        &self,
        tx: &mut sqlx::SqliteConnection,
        id: UserId,
    ) -> StoreResult<u64> {
        let sessions = sqlx::query("DELETE FROM user_sessions WHERE user_id = ?1")
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query("DELETE FROM user_tokens WHERE user_id = ?1")
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        Ok(sessions.rows_affected())
    }
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn insert_user(&self, user: &User, audit: &AuditEvent) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        let result = sqlx::query(
            "INSERT INTO users (id, email, password_hash, confirmed_at, mfa_enabled, mfa_trust_epoch, \
             failed_login_count, locked_until, created_at, updated_at, deletion_scheduled_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )
        .bind(user.id.as_uuid())
        .bind(&user.email)
        .bind(user.password_hash.as_ref().map(PasswordHash::as_str))
        .bind(opt_micros(user.confirmed_at))
        .bind(user.mfa_enabled)
        .bind(user.mfa_trust_epoch)
        .bind(user.failed_login_count)
        .bind(opt_micros(user.locked_until))
        .bind(micros(user.created_at))
        .bind(micros(user.updated_at))
        .bind(opt_micros(user.deletion_scheduled_at))
        .execute(&mut *tx)
        .await;
        match result {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => return Err(StoreError::DuplicateEmail),
            Err(e) => return Err(db(e)),
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)
    }

    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<User>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            " FROM users u WHERE u.id = ?1"
        ))
        .bind(id.as_uuid())
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        Ok(row.as_ref().map(rows::user).transpose()?)
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            " FROM users u WHERE lower(u.email) = lower(?1) AND u.deleted_at IS NULL"
        ))
        .bind(email)
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        Ok(row.as_ref().map(rows::user).transpose()?)
    }

    async fn set_password_hash(
        &self,
        id: UserId,
        hash: &PasswordHash,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done =
            sqlx::query("UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE id = ?1")
                .bind(id.as_uuid())
                .bind(hash.as_str())
                .bind(micros(now))
                .execute(self.pool())
                .await
                .map_err(db)?;
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
        let updated =
            sqlx::query("UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE id = ?1")
                .bind(id.as_uuid())
                .bind(hash.as_str())
                .bind(micros(now))
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound("user"));
        }
        let deleted = sqlx::query(
            "DELETE FROM user_sessions WHERE user_id = ?1 AND (?2 IS NULL OR token_hash <> ?2)",
        )
        .bind(id.as_uuid())
        .bind(keep.as_ref().map(|h| h.as_bytes().as_slice()))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query("DELETE FROM user_tokens WHERE user_id = ?1")
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(deleted.rows_affected())
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
        sqlx::query("UPDATE users SET failed_login_count = 0, locked_until = NULL WHERE id = ?1")
            .bind(id.as_uuid())
            .execute(self.pool())
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn increment_trust_epoch(&self, id: UserId) -> StoreResult<i64> {
        let row = sqlx::query("UPDATE users SET mfa_trust_epoch = mfa_trust_epoch + 1 WHERE id = ?1 RETURNING mfa_trust_epoch")
            .bind(id.as_uuid())
            .fetch_optional(self.pool())
            .await
            .map_err(db)?
            .ok_or(StoreError::NotFound("user"))?;
        row.try_get(0).map_err(db)
    }

    async fn confirm_email(&self, id: UserId, now: DateTime<Utc>) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE users SET confirmed_at = ?2, updated_at = ?2 WHERE id = ?1")
            .bind(id.as_uuid())
            .bind(micros(now))
            .execute(self.pool())
            .await
            .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn change_email(&self, id: UserId, email: &str, now: DateTime<Utc>) -> StoreResult<u64> {
        let mut tx = self.write_tx().await?;
        let updated = sqlx::query(
            "UPDATE users SET email = ?2, confirmed_at = ?3, updated_at = ?3 WHERE id = ?1",
        )
        .bind(id.as_uuid())
        .bind(email)
        .bind(micros(now))
        .execute(&mut *tx)
        .await;
        match updated {
            Ok(done) if done.rows_affected() == 0 => return Err(StoreError::NotFound("user")),
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => return Err(StoreError::DuplicateEmail),
            Err(e) => return Err(db(e)),
        }
        let deleted = self.end_sessions_and_tokens(&mut tx, id).await?;
        tx.commit().await.map_err(db)?;
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
            "UPDATE users SET deletion_scheduled_at = ?2, updated_at = ?3 WHERE id = ?1",
        )
        .bind(id.as_uuid())
        .bind(micros(at))
        .bind(micros(now))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound("user"));
        }
        let deleted = self.end_sessions_and_tokens(&mut tx, id).await?;
        tx.commit().await.map_err(db)?;
        Ok(deleted)
    }

    async fn cancel_deletion(&self, id: UserId, now: DateTime<Utc>) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE users SET deletion_scheduled_at = NULL, updated_at = ?2 \
             WHERE id = ?1 AND deletion_scheduled_at IS NOT NULL",
        )
        .bind(id.as_uuid())
        .bind(micros(now))
        .execute(self.pool())
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_user(&self, id: UserId) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM users WHERE id = ?1")
            .bind(id.as_uuid())
            .execute(self.pool())
            .await
            .map_err(db)?;
        Ok(done.rows_affected() > 0)
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn insert_session(&self, s: &Session) -> StoreResult<()> {
        let result = sqlx::query(
            "INSERT INTO user_sessions (id, user_id, token_hash, kind, created_at, last_active_at, sudo_at, ip, user_agent) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .bind(s.id.as_uuid())
        .bind(s.user_id.as_uuid())
        .bind(s.token_hash.as_bytes().as_slice())
        .bind(s.kind.as_str())
        .bind(micros(s.created_at))
        .bind(micros(s.last_active_at))
        .bind(opt_micros(s.sudo_at))
        .bind(s.ip.as_deref())
        .bind(s.user_agent.as_deref())
        .execute(self.pool())
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::DuplicateToken),
            Err(e) => Err(db(e)),
        }
    }

    async fn session_with_user(&self, hash: &TokenHash) -> StoreResult<Option<(Session, User)>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            session_cols!(),
            ", ",
            user_cols!(),
            " FROM user_sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = ?1 AND u.deleted_at IS NULL"
        ))
        .bind(hash.as_bytes().as_slice())
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        match row {
            Some(row) => Ok(Some((rows::session(&row)?, rows::user(&row)?))),
            None => Ok(None),
        }
    }

    async fn touch_session(&self, id: SessionId, now: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query(
            "UPDATE user_sessions SET last_active_at = ?2 WHERE id = ?1 AND last_active_at < ?2",
        )
        .bind(id.as_uuid())
        .bind(micros(now))
        .execute(self.pool())
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn set_sudo(&self, id: SessionId, now: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE user_sessions SET sudo_at = ?2 WHERE id = ?1")
            .bind(id.as_uuid())
            .bind(micros(now))
            .execute(self.pool())
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn delete_session_by_hash(&self, hash: &TokenHash) -> StoreResult<Option<UserId>> {
        let row = sqlx::query("DELETE FROM user_sessions WHERE token_hash = ?1 RETURNING user_id")
            .bind(hash.as_bytes().as_slice())
            .fetch_optional(self.pool())
            .await
            .map_err(db)?;
        row.map(|r| r.try_get(0).map(UserId::from_uuid))
            .transpose()
            .map_err(db)
    }

    async fn delete_user_sessions(
        &self,
        user: UserId,
        keep: Option<TokenHash>,
    ) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM user_sessions WHERE user_id = ?1 AND (?2 IS NULL OR token_hash <> ?2)",
        )
        .bind(user.as_uuid())
        .bind(keep.as_ref().map(|h| h.as_bytes().as_slice()))
        .execute(self.pool())
        .await
        .map_err(db)?;
        Ok(done.rows_affected())
    }

    async fn list_user_sessions(&self, user: UserId) -> StoreResult<Vec<Session>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            session_cols!(),
            " FROM user_sessions s WHERE s.user_id = ?1 ORDER BY s.created_at DESC, s.id DESC"
        ))
        .bind(user.as_uuid())
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        Ok(rows.iter().map(rows::session).collect::<Result<_, _>>()?)
    }
}

#[async_trait]
impl EmailTokenStore for SqliteStore {
    async fn insert_email_token(&self, t: &EmailToken) -> StoreResult<()> {
        let result = sqlx::query(
            "INSERT INTO user_tokens (token_hash, user_id, context, sent_to, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .bind(t.token_hash.as_bytes().as_slice())
        .bind(t.user_id.as_uuid())
        .bind(t.context.as_str())
        .bind(&t.sent_to)
        .bind(micros(t.created_at))
        .execute(self.pool())
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::DuplicateToken),
            Err(e) => Err(db(e)),
        }
    }

    async fn take_email_token(
        &self,
        hash: &TokenHash,
        context: TokenContext,
    ) -> StoreResult<Option<EmailToken>> {
        let row = sqlx::query(
            "DELETE FROM user_tokens WHERE token_hash = ?1 AND context = ?2 \
             RETURNING token_hash, user_id, context, sent_to, created_at",
        )
        .bind(hash.as_bytes().as_slice())
        .bind(context.as_str())
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        Ok(row.as_ref().map(rows::email_token).transpose()?)
    }

    async fn delete_user_email_tokens(
        &self,
        user: UserId,
        context: Option<TokenContext>,
    ) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM user_tokens WHERE user_id = ?1 AND (?2 IS NULL OR context = ?2)",
        )
        .bind(user.as_uuid())
        .bind(context.map(TokenContext::as_str))
        .execute(self.pool())
        .await
        .map_err(db)?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl MfaStore for SqliteStore {
    async fn upsert_mfa_credential(&self, c: &MfaCredential) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO user_mfa_credentials \
             (user_id, secret_encrypted, last_used_step, confirmed_at, created_at, failed_attempts, locked_until) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
             ON CONFLICT (user_id) DO UPDATE SET secret_encrypted = excluded.secret_encrypted, \
               last_used_step = excluded.last_used_step, confirmed_at = excluded.confirmed_at, \
               created_at = excluded.created_at, failed_attempts = excluded.failed_attempts, \
               locked_until = excluded.locked_until",
        )
        .bind(c.user_id.as_uuid())
        .bind(&c.secret_encrypted)
        .bind(c.last_used_step)
        .bind(opt_micros(c.confirmed_at))
        .bind(micros(c.created_at))
        .bind(c.failed_attempts)
        .bind(opt_micros(c.locked_until))
        .execute(self.pool())
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn mfa_credential(&self, user: UserId) -> StoreResult<Option<MfaCredential>> {
        let row = sqlx::query(
            "SELECT user_id, secret_encrypted, last_used_step, confirmed_at, created_at, failed_attempts, locked_until \
             FROM user_mfa_credentials WHERE user_id = ?1",
        )
        .bind(user.as_uuid())
        .fetch_optional(self.pool())
        .await
        .map_err(db)?;
        Ok(row.as_ref().map(rows::mfa_credential).transpose()?)
    }

    async fn confirm_mfa(&self, user: UserId, step: i64, now: DateTime<Utc>) -> StoreResult<bool> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("UPDATE user_mfa_credentials SET confirmed_at = ?2, last_used_step = ?3 WHERE user_id = ?1")
            .bind(user.as_uuid())
            .bind(micros(now))
            .bind(step)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query("UPDATE users SET mfa_enabled = 1, updated_at = ?2 WHERE id = ?1")
            .bind(user.as_uuid())
            .bind(micros(now))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
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
        sqlx::query("UPDATE user_mfa_credentials SET failed_attempts = 0, locked_until = NULL WHERE user_id = ?1")
            .bind(user.as_uuid())
            .execute(self.pool())
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn use_totp_step(&self, user: UserId, step: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE user_mfa_credentials SET last_used_step = ?2 \
             WHERE user_id = ?1 AND (last_used_step IS NULL OR last_used_step < ?2)",
        )
        .bind(user.as_uuid())
        .bind(step)
        .execute(self.pool())
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn disable_mfa(&self, user: UserId) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        for statement in [
            "DELETE FROM user_mfa_credentials WHERE user_id = ?1",
            "DELETE FROM user_backup_codes WHERE user_id = ?1",
            "UPDATE users SET mfa_enabled = 0, mfa_trust_epoch = mfa_trust_epoch + 1 WHERE id = ?1",
        ] {
            sqlx::query(statement)
                .bind(user.as_uuid())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(())
    }

    async fn replace_backup_codes(
        &self,
        user: UserId,
        hashes: &[[u8; 32]],
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM user_backup_codes WHERE user_id = ?1")
            .bind(user.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        for hash in hashes {
            sqlx::query("INSERT INTO user_backup_codes (user_id, code_hash, created_at) VALUES (?1, ?2, ?3)")
                .bind(user.as_uuid())
                .bind(hash.as_slice())
                .bind(micros(now))
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(())
    }

    async fn consume_backup_code(
        &self,
        user: UserId,
        hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE user_backup_codes SET used_at = ?3 WHERE user_id = ?1 AND code_hash = ?2 AND used_at IS NULL",
        )
        .bind(user.as_uuid())
        .bind(hash.as_slice())
        .bind(micros(now))
        .execute(self.pool())
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn remaining_backup_codes(&self, user: UserId) -> StoreResult<u64> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM user_backup_codes WHERE user_id = ?1 AND used_at IS NULL",
        )
        .bind(user.as_uuid())
        .fetch_one(self.pool())
        .await
        .map_err(db)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn mfa_secret_count(&self) -> StoreResult<u64> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM user_mfa_credentials")
            .fetch_one(self.pool())
            .await
            .map_err(db)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn mfa_secrets_page(
        &self,
        after: Option<UserId>,
        limit: u32,
    ) -> StoreResult<Vec<(UserId, String)>> {
        // Ids are 16-byte BLOBs, compared with memcmp: the order of `UserId`.
        let rows: Vec<(uuid::Uuid, String)> = sqlx::query_as(
            "SELECT user_id, secret_encrypted FROM user_mfa_credentials \
             WHERE ?1 IS NULL OR user_id > ?1 ORDER BY user_id LIMIT ?2",
        )
        .bind(after.map(|id| *id.as_uuid()))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        Ok(rows
            .into_iter()
            .map(|(id, secret)| (UserId::from_uuid(id), secret))
            .collect())
    }

    async fn replace_mfa_secret(&self, user: UserId, old: &str, new: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE user_mfa_credentials SET secret_encrypted = ?3 \
             WHERE user_id = ?1 AND secret_encrypted = ?2",
        )
        .bind(user.as_uuid())
        .bind(old)
        .bind(new)
        .execute(self.pool())
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn record_audit(&self, e: &AuditEvent) -> StoreResult<()> {
        let mut conn = self.pool().acquire().await.map_err(db)?;
        insert_audit(&mut conn, e).await
    }

    async fn audit_for_user(&self, user: UserId, limit: u32) -> StoreResult<Vec<AuditEvent>> {
        let rows = sqlx::query(
            "SELECT id, user_id, action, ip, metadata, created_at FROM audit_events \
             WHERE user_id = ?1 ORDER BY created_at DESC, id DESC LIMIT ?2",
        )
        .bind(user.as_uuid())
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        Ok(rows
            .iter()
            .map(rows::audit_event)
            .collect::<Result<_, _>>()?)
    }
}

/// The condition under which a scheduled deletion may be carried out (?2 = now).
macro_rules! due_for_deletion {
    () => {
        "deleted_at IS NULL AND deletion_scheduled_at IS NOT NULL AND deletion_scheduled_at <= ?2"
    };
}

/// Inserts an audit row on `conn` (inside a caller's transaction).
async fn insert_audit(conn: &mut sqlx::SqliteConnection, e: &AuditEvent) -> StoreResult<()> {
    let metadata = serde_json::to_string(&e.metadata)
        .map_err(|err| StoreError::from(SqliteStoreError::corrupt_with("audit metadata", err)))?;
    sqlx::query("INSERT INTO audit_events (id, user_id, action, ip, metadata, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
        .bind(e.id)
        .bind(e.user_id.map(|u| *u.as_uuid()))
        .bind(e.action.as_str())
        .bind(e.ip.as_deref())
        .bind(metadata)
        .bind(micros(e.created_at))
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    Ok(())
}

#[async_trait]
impl MaintenanceStore for SqliteStore {
    async fn delete_expired_sessions(&self, c: &SessionCutoffs) -> StoreResult<ExpiredSessions> {
        // SQLite has no DELETE in a CTE, so one transaction of three deletes
        // gives the counts by kind.
        let mut tx = self.write_tx().await?;
        let standard = sqlx::query(
            "DELETE FROM user_sessions WHERE kind = 'standard' AND (created_at < ?1 OR last_active_at < ?2)",
        )
        .bind(micros(c.standard_created_before))
        .bind(micros(c.standard_active_before))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let mut by_kind = [0_u64; 2];
        for (i, (kind, cutoff)) in [
            ("remember_me", c.remember_me_created_before),
            ("mfa_pending", c.mfa_pending_created_before),
        ]
        .into_iter()
        .enumerate()
        {
            by_kind[i] =
                sqlx::query("DELETE FROM user_sessions WHERE kind = ?1 AND created_at < ?2")
                    .bind(kind)
                    .bind(micros(cutoff))
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?
                    .rows_affected();
        }
        tx.commit().await.map_err(db)?;
        Ok(ExpiredSessions {
            standard: standard.rows_affected(),
            remember_me: by_kind[0],
            mfa_pending: by_kind[1],
        })
    }

    async fn delete_expired_email_tokens(
        &self,
        cutoffs: &[(TokenContext, DateTime<Utc>)],
    ) -> StoreResult<u64> {
        let mut tx = self.write_tx().await?;
        let mut deleted = 0;
        for (context, cutoff) in cutoffs {
            deleted +=
                sqlx::query("DELETE FROM user_tokens WHERE context = ?1 AND created_at < ?2")
                    .bind(context.as_str())
                    .bind(micros(*cutoff))
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?
                    .rows_affected();
        }
        tx.commit().await.map_err(db)?;
        Ok(deleted)
    }

    async fn delete_audit_before(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM audit_events WHERE created_at < ?1")
            .bind(micros(before))
            .execute(self.pool())
            .await
            .map_err(db)?;
        Ok(done.rows_affected())
    }

    async fn users_due_for_deletion(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<UserId>> {
        let ids: Vec<uuid::Uuid> = sqlx::query_scalar(
            "SELECT id FROM users WHERE deletion_scheduled_at IS NOT NULL AND deletion_scheduled_at <= ?1 \
             AND deleted_at IS NULL ORDER BY deletion_scheduled_at, id LIMIT ?2",
        )
        .bind(micros(now))
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .map_err(db)?;
        Ok(ids.into_iter().map(UserId::from_uuid).collect())
    }

    async fn apply_scheduled_deletion(
        &self,
        id: UserId,
        strategy: DeletionStrategy,
        audit: &AuditEvent,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut tx = self.write_tx().await?;
        let changed = if strategy == DeletionStrategy::HardDelete {
            sqlx::query(concat!(
                "DELETE FROM users WHERE id = ?1 AND ",
                due_for_deletion!()
            ))
            .bind(id.as_uuid())
            .bind(micros(now))
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected()
        } else {
            sqlx::query(concat!(
                "UPDATE users SET email = ?3, password_hash = NULL, confirmed_at = NULL, mfa_enabled = 0, \
                 mfa_trust_epoch = mfa_trust_epoch + 1, failed_login_count = 0, locked_until = NULL, \
                 deleted_at = ?2, updated_at = ?2 WHERE id = ?1 AND ",
                due_for_deletion!()
            ))
            .bind(id.as_uuid())
            .bind(micros(now))
            .bind(tombstone_email(id))
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected()
        };
        if changed == 0 {
            return Ok(false);
        }
        if strategy != DeletionStrategy::HardDelete {
            for statement in [
                "DELETE FROM user_sessions WHERE user_id = ?1",
                "DELETE FROM user_tokens WHERE user_id = ?1",
                "DELETE FROM user_mfa_credentials WHERE user_id = ?1",
                "DELETE FROM user_backup_codes WHERE user_id = ?1",
            ] {
                sqlx::query(statement)
                    .bind(id.as_uuid())
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
            }
        }
        if strategy == DeletionStrategy::Anonymize {
            sqlx::query("UPDATE audit_events SET ip = NULL, metadata = '{}' WHERE user_id = ?1")
                .bind(id.as_uuid())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        insert_audit(&mut tx, audit).await?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    async fn claim_job_tick(
        &self,
        job: &str,
        tick: DateTime<Utc>,
        now: DateTime<Utc>,
        prune_before: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM sigra_job_ticks WHERE tick < ?1")
            .bind(micros(prune_before))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let claimed = sqlx::query(
            "INSERT INTO sigra_job_ticks (job, tick, claimed_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        )
        .bind(job)
        .bind(micros(tick))
        .bind(micros(now))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(claimed.rows_affected() == 1)
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(self.pool())
            .await
            .map_err(db)?;
        Ok(())
    }
}
