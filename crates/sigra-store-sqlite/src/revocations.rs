//! The revocation log on SQLite: read and pruned here, written by the
//! triggers of `migrations/0004_session_revocations.sql`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sigra_core::ids::UserId;
use sigra_core::store::{Revocation, RevocationStore, StoreResult};
use sqlx::Row;

use crate::SqliteStore;
use crate::error::backend;
use crate::rows::micros;

#[async_trait]
impl RevocationStore for SqliteStore {
    async fn latest_revocation_id(&self) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM session_revocations")
            .fetch_one(self.pool())
            .await
            .map_err(backend)
    }

    async fn revocations_after(&self, after: i64, limit: u32) -> StoreResult<Vec<Revocation>> {
        let rows = sqlx::query(
            "SELECT id, user_id FROM session_revocations WHERE id > ?1 ORDER BY id LIMIT ?2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|row| {
                Ok(Revocation {
                    id: row.try_get("id").map_err(backend)?,
                    user_id: UserId::from_uuid(row.try_get("user_id").map_err(backend)?),
                })
            })
            .collect()
    }

    async fn prune_revocations(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM session_revocations WHERE created_at < ?1 \
             AND id < (SELECT MAX(id) FROM session_revocations)",
        )
        .bind(micros(before))
        .execute(self.pool())
        .await
        .map_err(backend)?;
        Ok(done.rows_affected())
    }
}
