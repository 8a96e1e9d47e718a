//! The [`SessionStore`] port: log-in sessions, looked up by token hash together with their user.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sigra_core::ids::{SessionId, UserId};
use sigra_core::model::{Session, User};
use sigra_core::store::{SessionStore, StoreError, StoreResult};
use sigra_core::token::TokenHash;

use super::keep_bytes;
use crate::SqliteStore;
use crate::error::{SESSIONS_TOKEN_HASH, backend, is_unique_violation_of};
use crate::rows::{
    micros, opt_micros, session_columns, session_from_row, user_columns, user_from_row,
};

#[async_trait]
impl SessionStore for SqliteStore {
    async fn insert_session(&self, session: &Session, session_epoch: i64) -> StoreResult<bool> {
        // One statement under the database's single write lock: the epoch
        // check and the insert cannot be split by a revoking transaction.
        let done = sqlx::query(
            "INSERT INTO user_sessions (id, user_id, token_hash, kind, created_at, last_active_at, sudo_at, ip, user_agent) \
             SELECT ?1, u.id, ?3, ?4, ?5, ?6, ?7, ?8, ?9 FROM users u \
             WHERE u.id = ?2 AND u.session_epoch = ?10",
        )
        .bind(session.id.as_uuid())
        .bind(session.user_id.as_uuid())
        .bind(session.token_hash.as_bytes().as_slice())
        .bind(session.kind.as_str())
        .bind(micros(session.created_at))
        .bind(micros(session.last_active_at))
        .bind(opt_micros(session.sudo_at))
        .bind(session.ip.as_deref())
        .bind(session.user_agent.as_deref())
        .bind(session_epoch)
        .execute(self.pool())
        .await
        .map_err(|e| {
            if is_unique_violation_of(&e, SESSIONS_TOKEN_HASH) {
                StoreError::DuplicateToken
            } else {
                backend(e)
            }
        })?;
        Ok(done.rows_affected() == 1)
    }

    async fn session_with_user(&self, hash: &TokenHash) -> StoreResult<Option<(Session, User)>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            session_columns!(),
            ", ",
            user_columns!(),
            " FROM user_sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = ?1 AND u.deleted_at IS NULL"
        ))
        .bind(hash.as_bytes().as_slice())
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
            "UPDATE user_sessions SET last_active_at = ?2 WHERE id = ?1 AND last_active_at < ?2",
        )
        .bind(id.as_uuid())
        .bind(micros(now))
        .execute(self.pool())
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn set_sudo(&self, id: SessionId, now: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE user_sessions SET sudo_at = ?2 WHERE id = ?1")
            .bind(id.as_uuid())
            .bind(micros(now))
            .execute(self.pool())
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn delete_session_by_hash(&self, hash: &TokenHash) -> StoreResult<Option<UserId>> {
        let user: Option<uuid::Uuid> =
            sqlx::query_scalar("DELETE FROM user_sessions WHERE token_hash = ?1 RETURNING user_id")
                .bind(hash.as_bytes().as_slice())
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
        // The epoch first: it takes the user row's lock, so a log-in that
        // checked the old epoch has either inserted its session already (and
        // the DELETE below sees it) or will find the epoch changed.
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE users SET session_epoch = session_epoch + 1 WHERE id = ?1")
            .bind(user.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let done = sqlx::query(
            "DELETE FROM user_sessions WHERE user_id = ?1 AND (?2 IS NULL OR token_hash <> ?2)",
        )
        .bind(user.as_uuid())
        .bind(keep_bytes(keep))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(done.rows_affected())
    }

    async fn list_user_sessions(&self, user: UserId) -> StoreResult<Vec<Session>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            session_columns!(),
            " FROM user_sessions s WHERE s.user_id = ?1 ORDER BY s.created_at DESC, s.id DESC"
        ))
        .bind(user.as_uuid())
        .fetch_all(self.pool())
        .await
        .map_err(backend)?;
        rows.iter().map(session_from_row).collect()
    }
}
