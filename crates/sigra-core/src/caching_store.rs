//! [`CachingStore`]: the session cache as a decorator of the store port.
//!
//! Like tower-sessions' `CachingSessionStore<Cache, Store>`, it wraps a
//! [`Store`] and implements the same traits. Session lookups
//! ([`SessionStore::session_with_user`]) are served from the node-local
//! [`SessionCache`] when it holds a fresh entry; every write that concerns a
//! user or a session goes to the wrapped store and then evicts, here and only
//! here, so that no write path (in [`Auth`](crate::auth::Auth), a job or a
//! new capability) can forget it. The eviction happens also when the write
//! fails: a write whose answer was lost may still have committed.
//!
//! What each write evicts (checked, method by method, by this module's tests,
//! which also fail when a port gains a method that is not listed there):
//! - **the user** — every write that names a user or returns one:
//!   users, email tokens, MFA, `delete_user_sessions`,
//!   `delete_session_by_hash` (with the token's entry),
//!   `apply_scheduled_deletion`. When in doubt, the user is evicted: it costs
//!   one database read per cached session of the users in that bucket.
//! - **the session** — `set_sudo`, which names only the session.
//! - **nothing** — `insert_session` (a new token hash, which no entry holds;
//!   misses are never cached), `touch_session` (written through to the
//!   entry, see below), `record_audit` (audit rows are not part of a session
//!   lookup), and the bulk maintenance deletions of expired sessions and
//!   tokens, old audit rows, job ticks and old revocation rows (an expired
//!   session is never served from the cache: expiry is checked on every hit).
//!
//! `touch_session` writes `last_active_at` through to the cached entry and,
//! when this node already wrote it for that session within the touch
//! interval, skips the write: one write per session, node and interval, even
//! for concurrent requests. A failed touch evicts the session.
//!
//! Other nodes' writes reach the cache through the revocation log
//! ([`crate::cache::RevocationFollower`]), which evicts from the same
//! [`SessionCache`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};

use crate::cache::SessionCache;
use crate::clock::Clock;
use crate::ids::{SessionId, UserId};
use crate::model::{AuditEvent, DeletionStrategy, EmailToken, MfaCredential, Session, User};
use crate::password::PasswordHash;
use crate::store::{
    AuditStore, EmailTokenStore, ExpiredSessions, FailureCount, MaintenanceStore, MfaStore,
    Revocation, RevocationListener, RevocationStore, SessionCutoffs, SessionStore, SessionTimeouts,
    Store, StoreResult, UserStore,
};
use crate::token::{TokenContext, TokenHash};

/// A [`Store`] whose session lookups go through a [`SessionCache`], and
/// whose writes evict from it. See the [module docs](self) for what each
/// write evicts.
pub struct CachingStore {
    inner: Arc<dyn Store>,
    cache: Arc<SessionCache>,
    clock: Arc<dyn Clock>,
    timeouts: SessionTimeouts,
    touch_interval: TimeDelta,
}

impl fmt::Debug for CachingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachingStore")
            .field("inner", &self.inner)
            .field("cache", &self.cache)
            .field("touch_interval", &self.touch_interval)
            .finish_non_exhaustive()
    }
}

impl CachingStore {
    /// Wraps `inner`. A cached session is served only while `timeouts` say
    /// it has not expired at `clock`'s time (an expired one is looked up
    /// again: another node may have kept it alive); `touch_interval` is how
    /// often `last_active_at` is written (see the module docs).
    pub fn new(
        inner: Arc<dyn Store>,
        cache: Arc<SessionCache>,
        clock: Arc<dyn Clock>,
        timeouts: SessionTimeouts,
        touch_interval: Duration,
    ) -> Self {
        Self {
            inner,
            cache,
            clock,
            timeouts,
            touch_interval: TimeDelta::from_std(touch_interval).unwrap_or(TimeDelta::MAX),
        }
    }

    /// The cache it serves from and evicts.
    pub fn cache(&self) -> &Arc<SessionCache> {
        &self.cache
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<dyn Store> {
        &self.inner
    }

    /// Passes on `result` after evicting `user`: the one place a write of a user evicts.
    fn evict_user<T>(&self, user: UserId, result: StoreResult<T>) -> StoreResult<T> {
        self.cache.evict_user(user);
        result
    }
}

#[async_trait]
impl UserStore for CachingStore {
    async fn insert_user(&self, user: &User, audit: &AuditEvent) -> StoreResult<()> {
        let result = self.inner.insert_user(user, audit).await;
        self.evict_user(user.id, result)
    }

    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<User>> {
        self.inner.user_by_id(id).await
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        self.inner.user_by_email(email).await
    }

    async fn set_password_hash(
        &self,
        id: UserId,
        hash: &PasswordHash,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let result = self.inner.set_password_hash(id, hash, now).await;
        self.evict_user(id, result)
    }

    async fn change_password(
        &self,
        id: UserId,
        hash: &PasswordHash,
        keep: Option<TokenHash>,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let result = self.inner.change_password(id, hash, keep, now).await;
        self.evict_user(id, result)
    }

    async fn record_login_failure(
        &self,
        id: UserId,
        now: DateTime<Utc>,
        threshold: i32,
        lock_for: TimeDelta,
    ) -> StoreResult<FailureCount> {
        let result = self
            .inner
            .record_login_failure(id, now, threshold, lock_for)
            .await;
        self.evict_user(id, result)
    }

    async fn clear_login_failures(&self, id: UserId) -> StoreResult<()> {
        let result = self.inner.clear_login_failures(id).await;
        self.evict_user(id, result)
    }

    async fn increment_trust_epoch(&self, id: UserId) -> StoreResult<i64> {
        let result = self.inner.increment_trust_epoch(id).await;
        self.evict_user(id, result)
    }

    async fn confirm_email(&self, id: UserId, now: DateTime<Utc>) -> StoreResult<bool> {
        let result = self.inner.confirm_email(id, now).await;
        self.evict_user(id, result)
    }

    async fn change_email(&self, id: UserId, email: &str, now: DateTime<Utc>) -> StoreResult<u64> {
        let result = self.inner.change_email(id, email, now).await;
        self.evict_user(id, result)
    }

    async fn schedule_deletion(
        &self,
        id: UserId,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let result = self.inner.schedule_deletion(id, at, now).await;
        self.evict_user(id, result)
    }

    async fn cancel_deletion(&self, id: UserId, now: DateTime<Utc>) -> StoreResult<bool> {
        let result = self.inner.cancel_deletion(id, now).await;
        self.evict_user(id, result)
    }

    async fn delete_user(&self, id: UserId) -> StoreResult<bool> {
        let result = self.inner.delete_user(id).await;
        self.evict_user(id, result)
    }
}

#[async_trait]
impl SessionStore for CachingStore {
    async fn insert_session(&self, session: &Session, session_epoch: i64) -> StoreResult<bool> {
        // A new token hash: no entry holds it, and misses are never cached.
        self.inner.insert_session(session, session_epoch).await
    }

    async fn session_with_user(&self, hash: &TokenHash) -> StoreResult<Option<(Session, User)>> {
        if !self.cache.is_active() {
            return self.inner.session_with_user(hash).await;
        }
        let now = self.clock.now();
        if let Some(entry) = self.cache.get(hash, now) {
            let (session, user) = entry.view();
            if !self.timeouts.is_expired(&session, now) {
                tracing::debug!(name: "sigra.session.cache", outcome = "hit");
                return Ok(Some((session, user)));
            }
            // Expired by this node's view: another node may have kept it
            // alive, so the database decides.
            self.cache.evict_token(hash);
        }
        // Taken before the query: a revocation that commits while it runs
        // keeps the answer out of the cache.
        let ticket = self.cache.ticket();
        let found = self.inner.session_with_user(hash).await?;
        if let Some((session, user)) = &found {
            let now = self.clock.now();
            if !self.timeouts.is_expired(session, now) {
                self.cache.insert(*hash, session, user, ticket, now);
            }
        }
        Ok(found)
    }

    async fn touch_session(&self, id: SessionId, now: DateTime<Utc>) -> StoreResult<()> {
        if let Some(entry) = self.cache.session_entry(id)
            && !entry.claim_touch(now, self.touch_interval)
        {
            // This node wrote it within the interval (or a concurrent request
            // is writing it now): `last_active_at` is kept per interval only.
            return Ok(());
        }
        let result = self.inner.touch_session(id, now).await;
        if result.is_err() {
            self.cache.evict_session(id);
        }
        result
    }

    async fn set_sudo(&self, id: SessionId, now: DateTime<Utc>) -> StoreResult<()> {
        let result = self.inner.set_sudo(id, now).await;
        self.cache.evict_session(id);
        result
    }

    async fn delete_session_by_hash(&self, hash: &TokenHash) -> StoreResult<Option<UserId>> {
        let cached = self.cache.cached_user(hash);
        let result = self.inner.delete_session_by_hash(hash).await;
        self.cache.evict_token(hash);
        let deleted = result.as_ref().ok().copied().flatten();
        for user in cached.into_iter().chain(deleted) {
            self.cache.evict_user(user);
        }
        result
    }

    async fn delete_user_sessions(
        &self,
        user: UserId,
        keep: Option<TokenHash>,
    ) -> StoreResult<u64> {
        let result = self.inner.delete_user_sessions(user, keep).await;
        self.evict_user(user, result)
    }

    async fn list_user_sessions(&self, user: UserId) -> StoreResult<Vec<Session>> {
        self.inner.list_user_sessions(user).await
    }
}

#[async_trait]
impl EmailTokenStore for CachingStore {
    async fn insert_email_token(&self, token: &EmailToken) -> StoreResult<()> {
        let result = self.inner.insert_email_token(token).await;
        self.evict_user(token.user_id, result)
    }

    async fn take_email_token(
        &self,
        hash: &TokenHash,
        context: TokenContext,
    ) -> StoreResult<Option<EmailToken>> {
        let result = self.inner.take_email_token(hash, context).await;
        if let Ok(Some(token)) = &result {
            self.cache.evict_user(token.user_id);
        }
        result
    }

    async fn email_token(
        &self,
        hash: &TokenHash,
        context: TokenContext,
    ) -> StoreResult<Option<EmailToken>> {
        self.inner.email_token(hash, context).await
    }

    async fn delete_user_email_tokens(
        &self,
        user: UserId,
        context: Option<TokenContext>,
    ) -> StoreResult<u64> {
        let result = self.inner.delete_user_email_tokens(user, context).await;
        self.evict_user(user, result)
    }
}

#[async_trait]
impl MfaStore for CachingStore {
    async fn upsert_mfa_credential(&self, credential: &MfaCredential) -> StoreResult<()> {
        let result = self.inner.upsert_mfa_credential(credential).await;
        self.evict_user(credential.user_id, result)
    }

    async fn mfa_credential(&self, user: UserId) -> StoreResult<Option<MfaCredential>> {
        self.inner.mfa_credential(user).await
    }

    async fn confirm_mfa(&self, user: UserId, step: i64, now: DateTime<Utc>) -> StoreResult<bool> {
        let result = self.inner.confirm_mfa(user, step, now).await;
        self.evict_user(user, result)
    }

    async fn use_totp_step(&self, user: UserId, step: i64) -> StoreResult<bool> {
        let result = self.inner.use_totp_step(user, step).await;
        self.evict_user(user, result)
    }

    async fn record_mfa_failure(
        &self,
        user: UserId,
        now: DateTime<Utc>,
        threshold: i32,
        lock_for: TimeDelta,
    ) -> StoreResult<FailureCount> {
        let result = self
            .inner
            .record_mfa_failure(user, now, threshold, lock_for)
            .await;
        self.evict_user(user, result)
    }

    async fn clear_mfa_failures(&self, user: UserId) -> StoreResult<()> {
        let result = self.inner.clear_mfa_failures(user).await;
        self.evict_user(user, result)
    }

    async fn disable_mfa(&self, user: UserId) -> StoreResult<()> {
        let result = self.inner.disable_mfa(user).await;
        self.evict_user(user, result)
    }

    async fn replace_backup_codes(
        &self,
        user: UserId,
        hashes: &[[u8; 32]],
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let result = self.inner.replace_backup_codes(user, hashes, now).await;
        self.evict_user(user, result)
    }

    async fn consume_backup_code(
        &self,
        user: UserId,
        hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let result = self.inner.consume_backup_code(user, hash, now).await;
        self.evict_user(user, result)
    }

    async fn remaining_backup_codes(&self, user: UserId) -> StoreResult<u64> {
        self.inner.remaining_backup_codes(user).await
    }

    async fn mfa_secret_count(&self) -> StoreResult<u64> {
        self.inner.mfa_secret_count().await
    }

    async fn mfa_secrets_page(
        &self,
        after: Option<UserId>,
        limit: u32,
    ) -> StoreResult<Vec<(UserId, String)>> {
        self.inner.mfa_secrets_page(after, limit).await
    }

    async fn replace_mfa_secret(&self, user: UserId, old: &str, new: &str) -> StoreResult<bool> {
        let result = self.inner.replace_mfa_secret(user, old, new).await;
        self.evict_user(user, result)
    }
}

#[async_trait]
impl AuditStore for CachingStore {
    async fn record_audit(&self, event: &AuditEvent) -> StoreResult<()> {
        // Audit rows are not part of a session lookup.
        self.inner.record_audit(event).await
    }

    async fn audit_for_user(&self, user: UserId, limit: u32) -> StoreResult<Vec<AuditEvent>> {
        self.inner.audit_for_user(user, limit).await
    }
}

#[async_trait]
impl MaintenanceStore for CachingStore {
    async fn delete_expired_sessions(
        &self,
        cutoffs: &SessionCutoffs,
    ) -> StoreResult<ExpiredSessions> {
        // Only expired sessions go, and a hit is never served once expired.
        self.inner.delete_expired_sessions(cutoffs).await
    }

    async fn delete_expired_email_tokens(
        &self,
        cutoffs: &[(TokenContext, DateTime<Utc>)],
    ) -> StoreResult<u64> {
        self.inner.delete_expired_email_tokens(cutoffs).await
    }

    async fn delete_audit_before(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.inner.delete_audit_before(before).await
    }

    async fn users_due_for_deletion(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<UserId>> {
        self.inner.users_due_for_deletion(now, limit).await
    }

    async fn apply_scheduled_deletion(
        &self,
        id: UserId,
        strategy: DeletionStrategy,
        audit: &AuditEvent,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let result = self
            .inner
            .apply_scheduled_deletion(id, strategy, audit, now)
            .await;
        self.evict_user(id, result)
    }

    async fn claim_job_tick(
        &self,
        job: &str,
        tick: DateTime<Utc>,
        now: DateTime<Utc>,
        prune_before: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.inner
            .claim_job_tick(job, tick, now, prune_before)
            .await
    }
}

#[async_trait]
impl RevocationStore for CachingStore {
    async fn latest_revocation_id(&self) -> StoreResult<i64> {
        self.inner.latest_revocation_id().await
    }

    async fn revocations_after(&self, after: i64, limit: u32) -> StoreResult<Vec<Revocation>> {
        self.inner.revocations_after(after, limit).await
    }

    async fn prune_revocations(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.inner.prune_revocations(before).await
    }

    async fn revocation_listener(&self) -> StoreResult<Option<Box<dyn RevocationListener>>> {
        self.inner.revocation_listener().await
    }
}

#[async_trait]
impl Store for CachingStore {
    async fn ping(&self) -> StoreResult<()> {
        self.inner.ping().await
    }
}

#[cfg(test)]
mod tests;
