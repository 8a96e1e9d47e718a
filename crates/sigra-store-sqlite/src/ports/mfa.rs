//! The [`MfaStore`] port: the TOTP credential, its failures and lock, backup codes, and re-encryption of secrets.

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use sigra_core::ids::UserId;
use sigra_core::model::MfaCredential;
use sigra_core::store::{FailureCount, MfaStore, StoreResult};

use super::failure_sql;
use crate::SqliteStore;
use crate::error::backend;
use crate::rows::{mfa_credential_columns, mfa_credential_from_row, micros, opt_micros};

#[async_trait]
impl MfaStore for SqliteStore {
    async fn upsert_mfa_credential(&self, credential: &MfaCredential) -> StoreResult<()> {
        sqlx::query(concat!(
            "INSERT INTO user_mfa_credentials (",
            mfa_credential_columns!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
             ON CONFLICT (user_id) DO UPDATE SET secret_encrypted = EXCLUDED.secret_encrypted, \
             last_used_step = EXCLUDED.last_used_step, confirmed_at = EXCLUDED.confirmed_at, \
             created_at = EXCLUDED.created_at, \
             failed_attempts = EXCLUDED.failed_attempts, locked_until = EXCLUDED.locked_until"
        ))
        .bind(credential.user_id.as_uuid())
        .bind(&credential.secret_encrypted)
        .bind(credential.last_used_step)
        .bind(opt_micros(credential.confirmed_at))
        .bind(micros(credential.created_at))
        .bind(credential.failed_attempts)
        .bind(opt_micros(credential.locked_until))
        .execute(self.pool())
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn mfa_credential(&self, user: UserId) -> StoreResult<Option<MfaCredential>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            mfa_credential_columns!(),
            " FROM user_mfa_credentials WHERE user_id = ?1"
        ))
        .bind(user.as_uuid())
        .fetch_optional(self.pool())
        .await
        .map_err(backend)?;
        row.as_ref().map(mfa_credential_from_row).transpose()
    }

    async fn confirm_mfa(&self, user: UserId, step: i64, now: DateTime<Utc>) -> StoreResult<bool> {
        let mut tx = self.write_tx().await?;
        let confirmed = sqlx::query("UPDATE user_mfa_credentials SET confirmed_at = ?3, last_used_step = ?2 WHERE user_id = ?1")
            .bind(user.as_uuid())
            .bind(step)
            .bind(micros(now))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        if confirmed.rows_affected() == 0 {
            tx.rollback().await.map_err(backend)?;
            return Ok(false);
        }
        sqlx::query("UPDATE users SET mfa_enabled = true, updated_at = ?2 WHERE id = ?1")
            .bind(user.as_uuid())
            .bind(micros(now))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(true)
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
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
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
            "UPDATE user_mfa_credentials SET failed_attempts = 0, locked_until = NULL WHERE user_id = ?1",
        )
        .bind(user.as_uuid())
        .execute(self.pool())
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn disable_mfa(&self, user: UserId) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        for statement in [
            "DELETE FROM user_mfa_credentials WHERE user_id = ?1",
            "DELETE FROM user_backup_codes WHERE user_id = ?1",
            "UPDATE users SET mfa_enabled = false, mfa_trust_epoch = mfa_trust_epoch + 1 WHERE id = ?1",
        ] {
            sqlx::query(statement)
                .bind(user.as_uuid())
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)?;
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
            .map_err(backend)?;
        // One INSERT per code, inside the transaction.
        for hash in hashes {
            sqlx::query("INSERT INTO user_backup_codes (user_id, code_hash, created_at) VALUES (?1, ?2, ?3)")
                .bind(user.as_uuid())
                .bind(hash.as_slice())
                .bind(micros(now))
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
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
            "UPDATE user_backup_codes SET used_at = ?3 \
             WHERE user_id = ?1 AND code_hash = ?2 AND used_at IS NULL",
        )
        .bind(user.as_uuid())
        .bind(hash.as_slice())
        .bind(micros(now))
        .execute(self.pool())
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn remaining_backup_codes(&self, user: UserId) -> StoreResult<u64> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM user_backup_codes WHERE user_id = ?1 AND used_at IS NULL",
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
        // Ids are 16-byte BLOBs, compared with memcmp: the order of `UserId`.
        let rows: Vec<(uuid::Uuid, String)> = sqlx::query_as(
            "SELECT user_id, secret_encrypted FROM user_mfa_credentials \
             WHERE ?1 IS NULL OR user_id > ?1 ORDER BY user_id LIMIT ?2",
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
            "UPDATE user_mfa_credentials SET secret_encrypted = ?3 \
             WHERE user_id = ?1 AND secret_encrypted = ?2",
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
