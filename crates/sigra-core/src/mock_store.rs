//! A mockall mock of every store port, for the unit tests of `auth` and
//! `caching_store` (test builds only).

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use mockall::mock;

use crate::ids::{SessionId, UserId};
use crate::model::{AuditEvent, DeletionStrategy, EmailToken, MfaCredential, Session, User};
use crate::password::PasswordHash;
use crate::store::{
    AuditStore, EmailTokenStore, ExpiredSessions, FailureCount, MaintenanceStore, MfaStore,
    Revocation, RevocationListener, RevocationStore, SessionCutoffs, SessionStore, Store,
    StoreResult, UserStore,
};
use crate::token::{TokenContext, TokenHash};

mock! {
    #[derive(Debug)]
    pub Db {}
    #[async_trait]
    impl UserStore for Db {
        async fn insert_user(&self, user: &User, audit: &AuditEvent) -> StoreResult<()>;
        async fn user_by_id(&self, id: UserId) -> StoreResult<Option<User>>;
        async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
        async fn set_password_hash(&self, id: UserId, hash: &PasswordHash, now: DateTime<Utc>) -> StoreResult<bool>;
        async fn change_password(&self, id: UserId, hash: &PasswordHash, keep: Option<TokenHash>, now: DateTime<Utc>) -> StoreResult<u64>;
        async fn record_login_failure(&self, id: UserId, now: DateTime<Utc>, threshold: i32, lock_for: TimeDelta) -> StoreResult<FailureCount>;
        async fn clear_login_failures(&self, id: UserId) -> StoreResult<()>;
        async fn increment_trust_epoch(&self, id: UserId) -> StoreResult<i64>;
        async fn confirm_email(&self, id: UserId, now: DateTime<Utc>) -> StoreResult<bool>;
        async fn change_email(&self, id: UserId, email: &str, now: DateTime<Utc>) -> StoreResult<u64>;
        async fn schedule_deletion(&self, id: UserId, at: DateTime<Utc>, now: DateTime<Utc>) -> StoreResult<u64>;
        async fn cancel_deletion(&self, id: UserId, now: DateTime<Utc>) -> StoreResult<bool>;
        async fn delete_user(&self, id: UserId) -> StoreResult<bool>;
    }
    #[async_trait]
    impl SessionStore for Db {
        async fn insert_session(&self, session: &Session, session_epoch: i64) -> StoreResult<bool>;
        async fn session_with_user(&self, hash: &TokenHash) -> StoreResult<Option<(Session, User)>>;
        async fn touch_session(&self, id: SessionId, now: DateTime<Utc>) -> StoreResult<()>;
        async fn set_sudo(&self, id: SessionId, now: DateTime<Utc>) -> StoreResult<()>;
        async fn delete_session_by_hash(&self, hash: &TokenHash) -> StoreResult<Option<UserId>>;
        async fn delete_user_sessions(&self, user: UserId, keep: Option<TokenHash>) -> StoreResult<u64>;
        async fn list_user_sessions(&self, user: UserId) -> StoreResult<Vec<Session>>;
    }
    #[async_trait]
    impl EmailTokenStore for Db {
        async fn insert_email_token(&self, token: &EmailToken) -> StoreResult<()>;
        async fn take_email_token(&self, hash: &TokenHash, context: TokenContext) -> StoreResult<Option<EmailToken>>;
        async fn email_token(&self, hash: &TokenHash, context: TokenContext) -> StoreResult<Option<EmailToken>>;
        async fn delete_user_email_tokens(&self, user: UserId, context: Option<TokenContext>) -> StoreResult<u64>;
    }
    #[async_trait]
    impl MfaStore for Db {
        async fn upsert_mfa_credential(&self, credential: &MfaCredential) -> StoreResult<()>;
        async fn mfa_credential(&self, user: UserId) -> StoreResult<Option<MfaCredential>>;
        async fn confirm_mfa(&self, user: UserId, step: i64, now: DateTime<Utc>) -> StoreResult<bool>;
        async fn record_mfa_failure(&self, user: UserId, now: DateTime<Utc>, threshold: i32, lock_for: TimeDelta) -> StoreResult<FailureCount>;
        async fn clear_mfa_failures(&self, user: UserId) -> StoreResult<()>;
        async fn use_totp_step(&self, user: UserId, step: i64) -> StoreResult<bool>;
        async fn disable_mfa(&self, user: UserId) -> StoreResult<()>;
        async fn replace_backup_codes(&self, user: UserId, hashes: &[[u8; 32]], now: DateTime<Utc>) -> StoreResult<()>;
        async fn consume_backup_code(&self, user: UserId, hash: &[u8; 32], now: DateTime<Utc>) -> StoreResult<bool>;
        async fn remaining_backup_codes(&self, user: UserId) -> StoreResult<u64>;
        async fn mfa_secret_count(&self) -> StoreResult<u64>;
        async fn mfa_secrets_page(&self, after: Option<UserId>, limit: u32) -> StoreResult<Vec<(UserId, String)>>;
        async fn replace_mfa_secret(&self, user: UserId, old: &str, new: &str) -> StoreResult<bool>;
    }
    #[async_trait]
    impl AuditStore for Db {
        async fn record_audit(&self, event: &AuditEvent) -> StoreResult<()>;
        async fn audit_for_user(&self, user: UserId, limit: u32) -> StoreResult<Vec<AuditEvent>>;
    }
    #[async_trait]
    impl MaintenanceStore for Db {
        async fn delete_expired_sessions(&self, cutoffs: &SessionCutoffs) -> StoreResult<ExpiredSessions>;
        async fn delete_expired_email_tokens(&self, cutoffs: &[(TokenContext, DateTime<Utc>)]) -> StoreResult<u64>;
        async fn delete_audit_before(&self, before: DateTime<Utc>) -> StoreResult<u64>;
        async fn users_due_for_deletion(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<Vec<UserId>>;
        async fn apply_scheduled_deletion(&self, id: UserId, strategy: DeletionStrategy, audit: &AuditEvent, now: DateTime<Utc>) -> StoreResult<bool>;
        async fn claim_job_tick(&self, job: &str, tick: DateTime<Utc>, now: DateTime<Utc>, prune_before: DateTime<Utc>) -> StoreResult<bool>;
    }
    #[async_trait]
    impl RevocationStore for Db {
        async fn latest_revocation_id(&self) -> StoreResult<i64>;
        async fn revocations_after(&self, after: i64, limit: u32) -> StoreResult<Vec<Revocation>>;
        async fn prune_revocations(&self, before: DateTime<Utc>) -> StoreResult<u64>;
        async fn revocation_listener(&self) -> StoreResult<Option<Box<dyn RevocationListener>>>;
    }
    #[async_trait]
    impl Store for Db {
        async fn ping(&self) -> StoreResult<()>;
    }
}
