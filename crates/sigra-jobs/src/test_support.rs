//! A mockall mock of the maintenance port — all the jobs use — for
//! unit-testing them without a database.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mockall::mock;
use sigra_core::ids::UserId;
use sigra_core::model::{AuditEvent, DeletionStrategy};
use sigra_core::store::{ExpiredSessions, MaintenanceStore, SessionCutoffs, StoreResult};
use sigra_core::token::TokenContext;

mock! {
    #[derive(Debug)]
    pub Db {}
    #[async_trait]
    impl MaintenanceStore for Db {
        async fn delete_expired_sessions(&self, cutoffs: &SessionCutoffs) -> StoreResult<ExpiredSessions>;
        async fn delete_expired_email_tokens(&self, cutoffs: &[(TokenContext, DateTime<Utc>)]) -> StoreResult<u64>;
        async fn delete_audit_before(&self, before: DateTime<Utc>) -> StoreResult<u64>;
        async fn users_due_for_deletion(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<Vec<UserId>>;
        async fn apply_scheduled_deletion(&self, id: UserId, strategy: DeletionStrategy, audit: &AuditEvent, now: DateTime<Utc>) -> StoreResult<bool>;
        async fn claim_job_tick(&self, job: &str, tick: DateTime<Utc>, now: DateTime<Utc>, prune_before: DateTime<Utc>) -> StoreResult<bool>;
    }
}
