//! The [`AuditStore`] port: the audit log, written alone or inside another port's transaction.

use async_trait::async_trait;
use sigra_core::ids::UserId;
use sigra_core::model::AuditEvent;
use sigra_core::store::{AuditStore, StoreResult};

use crate::SqliteStore;
use crate::error::{SqliteStoreError, backend};
use crate::rows::{audit_columns, audit_from_row, micros};

/// Inserts an audit row through `executor` (the pool, or a caller's transaction).
pub(super) async fn insert_audit<'e>(
    executor: impl sqlx::SqliteExecutor<'e>,
    e: &AuditEvent,
) -> StoreResult<()> {
    let metadata = serde_json::to_string(&e.metadata)
        .map_err(|err| SqliteStoreError::corrupt_with("audit metadata", err))?;
    sqlx::query(concat!(
        "INSERT INTO audit_events (",
        audit_columns!(),
        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
    ))
    .bind(e.id)
    .bind(e.user_id.as_ref().map(UserId::as_uuid))
    .bind(e.action.as_str())
    .bind(e.ip.as_deref())
    .bind(metadata)
    .bind(micros(e.created_at))
    .execute(executor)
    .await
    .map_err(backend)?;
    Ok(())
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn record_audit(&self, event: &AuditEvent) -> StoreResult<()> {
        insert_audit(self.pool(), event).await
    }

    async fn audit_for_user(&self, user: UserId, limit: u32) -> StoreResult<Vec<AuditEvent>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            audit_columns!(),
            " FROM audit_events WHERE user_id = ?1 ORDER BY created_at DESC, id DESC LIMIT ?2"
        ))
        .bind(user.as_uuid())
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .map_err(backend)?;
        rows.iter().map(audit_from_row).collect()
    }
}
