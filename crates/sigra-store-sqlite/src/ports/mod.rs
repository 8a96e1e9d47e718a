//! The [`sigra_core::store`] ports implemented for [`SqliteStore`], one file
//! per port, one SQL statement (or one transaction) per method; and what the
//! ports share.

mod audit;
mod email_tokens;
mod maintenance;
mod mfa;
mod sessions;
mod users;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use sigra_core::ids::UserId;
use sigra_core::store::{FailureCount, Store, StoreError, StoreResult};
use sigra_core::token::TokenHash;
use sqlx::Row;

use crate::SqliteStore;
use crate::error::{SqliteStoreError, backend};
use crate::rows::micros;

/// One `UPDATE … RETURNING` that counts a failure and locks at the threshold.
///
/// Every expression on the right sees the row as it was before the update,
/// so the new count is spelled out where the lock needs it; the statement
/// holds the database's one write lock while it runs, so concurrent
/// failures are all counted. Parameters: ?1 key, ?2 now, ?3 threshold, ?4 now + lock.
macro_rules! failure_sql {
    ($table:literal, $count:literal, $key:literal) => {
        concat!(
            "UPDATE ",
            $table,
            " SET ",
            $count,
            " = CASE WHEN locked_until IS NOT NULL AND locked_until <= ?2 THEN 1 ELSE ",
            $count,
            " + 1 END, ",
            "locked_until = CASE ",
            "WHEN (CASE WHEN locked_until IS NOT NULL AND locked_until <= ?2 THEN 1 ELSE ",
            $count,
            " + 1 END) >= ?3 ",
            "THEN CASE WHEN locked_until IS NOT NULL AND locked_until > ?2 THEN locked_until ELSE ?4 END ",
            "WHEN locked_until IS NOT NULL AND locked_until <= ?2 THEN NULL ",
            "ELSE locked_until END ",
            "WHERE ",
            $key,
            " = ?1 ",
            "RETURNING ",
            $count,
            " AS failures, locked_until"
        )
    };
}

use failure_sql;

impl SqliteStore {
    /// Runs a [`failure_sql!`] statement for the row of `id`; `what` names the
    /// row in [`StoreError::NotFound`] when there is none.
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
            .ok_or(SqliteStoreError::TimestampOutOfRange("locked_until"))?;
        let row = sqlx::query(sql)
            .bind(id.as_uuid())
            .bind(micros(now))
            .bind(threshold)
            .bind(micros(lock_until))
            .fetch_optional(self.pool())
            .await
            .map_err(backend)?
            .ok_or(StoreError::NotFound(what))?;
        let locked: Option<i64> = row.try_get("locked_until").map_err(backend)?;
        Ok(FailureCount {
            failed_login_count: row.try_get("failures").map_err(backend)?,
            locked_until: locked.and_then(DateTime::from_timestamp_micros),
        })
    }
}

/// The bytes bound for an optional "keep this session" hash.
fn keep_bytes(keep: Option<TokenHash>) -> Option<Vec<u8>> {
    keep.map(|h| h.as_bytes().to_vec())
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(self.pool())
            .await
            .map_err(backend)?;
        Ok(())
    }
}
