//! The [`MaintenanceStore`] port: the periodic jobs' deletes and the job-tick claims.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sigra_core::ids::UserId;
use sigra_core::model::{AuditEvent, DeletionStrategy, tombstone_email};
use sigra_core::store::{ExpiredSessions, MaintenanceStore, SessionCutoffs, StoreResult};
use sigra_core::token::TokenContext;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::audit::insert_audit;
use crate::PostgresStore;
use crate::error::backend;

/// The condition under which a scheduled deletion may be carried out ($2 = now).
macro_rules! due_for_deletion {
    () => {
        "deleted_at IS NULL AND deletion_scheduled_at IS NOT NULL AND deletion_scheduled_at <= $2"
    };
}

/// A count read back from PostgreSQL (`bigint`) as the ports' `u64`.
fn count(row: &PgRow, column: &str) -> StoreResult<u64> {
    let n: i64 = row.try_get(column).map_err(backend)?;
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
        let mut tx = self.write_tx().await?;
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
        let mut tx = self.write_tx().await?;
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
