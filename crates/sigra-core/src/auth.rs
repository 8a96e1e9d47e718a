//! The `Auth` service: the operations an application calls.
//!
//! `Auth` ties the store ports, the password hasher (on a bounded
//! [`HashPool`]), the clock and the config together. It decides; the store
//! persists. Every security event writes an audit row and a `tracing` event
//! named like the Elixir library's (`sigra.auth.login`, `sigra.session.fetch`,
//! …) with its outcome and latency — never an email, token or password.
//!
//! ```no_run
//! # async fn demo(store: std::sync::Arc<dyn sigra_core::store::Store>) -> Result<(), sigra_core::auth::AuthError> {
//! use secrecy::SecretString;
//! use sigra_core::auth::Auth;
//! use sigra_core::config::{Config, Environment};
//! use sigra_core::model::{SessionKind, SessionMeta};
//!
//! let config = Config::builder(Environment::Dev).build()?;
//! let auth = Auth::new(config, store)?;
//! let password = SecretString::from("correct horse battery staple");
//! let user = auth.register(" Alice@Example.com ", &password).await?;
//! let user = auth.authenticate("alice@example.com", &password, &SessionMeta::default()).await?;
//! let (token, _session) = auth.create_session(&user, SessionKind::Standard, SessionMeta::default()).await?;
//! // On each request: the cookie's token → the session and its user, or None.
//! let current = auth.fetch_session(&token).await?;
//! assert_eq!(current.map(|(_, u)| u.id), Some(user.id));
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use secrecy::SecretString;
use thiserror::Error;

use crate::cache::{self, SessionCache};
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, ConfigErrors};
use crate::encryption::{EncryptionKey, FieldCipher};
use crate::hash_pool::{HashPool, PoolError};
use crate::ids::UserId;
use crate::keys::KeyRing;
use crate::mail::{LogMailer, Mailer};
use crate::model::{AuditAction, AuditEvent, Session, SessionKind, SessionMeta, User};
use crate::password::{Argon2Hasher, PasswordError, PasswordHash, PasswordHasher, PasswordPolicy};
use crate::random::RandomError;
use crate::store::{Store, StoreError};
use crate::token::RawToken;

/// What an `Auth` operation can fail with. Messages are safe to show to the
/// user; none contains an email, token or password.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The email address is not acceptable.
    #[error("enter a valid email address")]
    InvalidEmail,
    /// Registration with an email that already has an account.
    #[error("an account with this email already exists")]
    EmailTaken,
    /// The new password breaks the policy (too short or too long).
    #[error(transparent)]
    WeakPassword(PasswordError),
    /// Unknown email or wrong password: deliberately the same error.
    #[error("invalid email or password")]
    InvalidCredentials,
    /// Too many failed log-ins; try again after `until`.
    #[error("too many failed attempts; try again later")]
    Locked {
        /// When log-in is possible again.
        until: DateTime<Utc>,
    },
    /// The user does not exist (any more).
    #[error("no such user")]
    UserNotFound,
    /// Password hashing is saturated; shed load (answer 503).
    #[error(transparent)]
    Busy(PoolError),
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigErrors),
    /// The storage backend failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The password hasher failed (e.g. a stored hash is malformed).
    #[error("password verification failed")]
    Hasher(#[source] PasswordError),
    /// The system random generator failed.
    #[error(transparent)]
    Random(#[from] RandomError),
    /// A link's token is malformed, unknown, already used, or expired.
    #[error("this link is invalid or has expired")]
    InvalidToken,
    /// The operation needs MFA, which is not enabled (or enrolment is not started).
    #[error("two-factor authentication is not enabled")]
    MfaNotEnabled,
    /// MFA is already enabled; disable it before enrolling again.
    #[error("two-factor authentication is already enabled")]
    MfaAlreadyEnabled,
    /// The TOTP or backup code is wrong, reused or expired.
    #[error("the code is not valid")]
    InvalidCode,
    /// Too many wrong codes; try again after `until`.
    #[error("too many wrong codes; try again later")]
    MfaLocked {
        /// When codes are accepted again.
        until: DateTime<Utc>,
    },
    /// MFA secrets cannot be stored without `ENCRYPTION_KEY` in prod.
    #[error("ENCRYPTION_KEY is required to store MFA secrets; generate one with `sigra gen-key`")]
    EncryptionKeyMissing,
    /// A stored secret could not be decrypted (wrong key or tampering).
    #[error("a stored secret could not be decrypted")]
    Encryption(#[source] crate::encryption::EncryptionError),
    /// The account is scheduled for deletion; log-in is refused until it is cancelled.
    #[error("this account is scheduled for deletion; use the link we emailed you to cancel it")]
    DeletionScheduled,
    /// The mailer refused the message.
    #[error(transparent)]
    Mail(#[from] crate::mail::MailError),
}

impl From<PoolError> for AuthError {
    fn from(e: PoolError) -> Self {
        Self::Busy(e)
    }
}

/// Builds an [`Auth`] with non-default parts.
#[derive(Debug)]
pub struct AuthBuilder {
    config: Config,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    hasher: Option<Arc<dyn PasswordHasher>>,
    pool: Option<(usize, usize)>,
    mailer: Arc<dyn Mailer>,
    session_cache: Option<bool>,
    cache_capacity: u64,
}

impl AuthBuilder {
    /// Turns the node-local session cache on or off, overriding the
    /// config's `session_cache` (`SIGRA_SESSION_CACHE`). See [`crate::cache`]:
    /// on several nodes, something must follow the revocation log
    /// (`sigra-web` does when the cache is on).
    pub fn session_cache(mut self, on: bool) -> Self {
        self.session_cache = Some(on);
        self
    }

    /// The most sessions the cache holds (default [`cache::DEFAULT_CAPACITY`]).
    pub fn session_cache_capacity(mut self, entries: u64) -> Self {
        self.cache_capacity = entries;
        self
    }

    /// Uses `mailer` to send links (default: [`LogMailer`], which sends nothing).
    pub fn mailer(mut self, mailer: Arc<dyn Mailer>) -> Self {
        self.mailer = mailer;
        self
    }

    /// Uses `clock` instead of the system clock (tests use [`crate::clock::TestClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Uses `hasher` instead of Argon2id with OWASP parameters.
    pub fn hasher(mut self, hasher: Arc<dyn PasswordHasher>) -> Self {
        self.hasher = Some(hasher);
        self
    }

    /// Sizes the hashing pool: `threads` dedicated threads, `queue` waiting jobs.
    pub fn hash_pool(mut self, threads: usize, queue: usize) -> Self {
        self.pool = Some((threads, queue));
        self
    }

    /// Builds the service.
    pub fn build(self) -> Result<Auth, AuthError> {
        let hasher = match self.hasher {
            Some(h) => h,
            None => Arc::new(Argon2Hasher::owasp()),
        };
        let pool = match self.pool {
            Some((threads, queue)) => HashPool::new(hasher, threads, queue),
            None => HashPool::with_defaults(hasher),
        };
        let policy = PasswordPolicy::from_config(&self.config);
        let keys = KeyRing::from_config(&self.config);
        let cipher = match FieldCipher::from_config(&self.config) {
            Some(cipher) => Some(cipher),
            None if self.config.env.is_prod() => None,
            None => {
                tracing::warn!(
                    name: "sigra.config.dev_encryption_key",
                    "ENCRYPTION_KEY is not set: MFA secrets are encrypted with a key derived from SECRET_KEY_BASE (dev and test only)"
                );
                let derived = keys.derive_bytes("sigra-dev-field-encryption");
                Some(FieldCipher::new(
                    EncryptionKey::from_bytes(*derived).map_err(AuthError::Encryption)?,
                    Vec::new(),
                ))
            }
        };
        let cache_on = self.session_cache.unwrap_or(self.config.session_cache);
        let cache = if !cache_on {
            None
        } else if self.config.touch_interval.is_zero() {
            // Every request writes `last_active_at` anyway: nothing to save.
            tracing::warn!(
                name: "sigra.config.session_cache_ignored",
                "the session cache is off because SIGRA_TOUCH_INTERVAL is 0"
            );
            None
        } else {
            // Entries live at most one touch interval: a bound on how stale
            // anything can get even if a revocation were missed.
            Some(Arc::new(SessionCache::new(
                self.cache_capacity,
                self.config.touch_interval,
            )))
        };
        Ok(Auth {
            inner: Arc::new(Inner {
                cache,
                config: self.config,
                store: self.store,
                clock: self.clock,
                pool,
                policy,
                keys,
                cipher,
                mailer: self.mailer,
            }),
        })
    }
}

/// The authentication service. Cheap to clone; share one per application.
#[derive(Debug, Clone)]
pub struct Auth {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    pool: HashPool,
    policy: PasswordPolicy,
    keys: KeyRing,
    cipher: Option<FieldCipher>,
    mailer: Arc<dyn Mailer>,
    cache: Option<Arc<SessionCache>>,
}

#[cfg(test)]
mod cache_tests;
mod email;
mod mfa;

pub use mfa::{MfaEnrollment, SecondFactor};

/// Normalises an email for storage and lookup: trimmed and lowercased.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A deliberately simple, strict check of a normalised email address: one
/// `@`, a non-empty local part, a dotted domain, no spaces or control
/// characters, at most 254 characters. Deliverability is proven by the
/// confirmation mail, not by a regex.
pub fn is_valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    email.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

impl Auth {
    /// A service with the system clock, Argon2id (OWASP parameters) and a
    /// hashing pool of one thread per core.
    pub fn new(config: Config, store: Arc<dyn Store>) -> Result<Self, AuthError> {
        Self::builder(config, store).build()
    }

    /// A builder, to swap the clock, hasher, pool size or mailer.
    pub fn builder(config: Config, store: Arc<dyn Store>) -> AuthBuilder {
        AuthBuilder {
            config,
            store,
            clock: Arc::new(SystemClock),
            hasher: None,
            pool: None,
            mailer: Arc::new(LogMailer),
            session_cache: None,
            cache_capacity: cache::DEFAULT_CAPACITY,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The user with this id, or [`AuthError::UserNotFound`].
    async fn load_user(&self, id: UserId) -> Result<User, AuthError> {
        self.inner
            .store
            .user_by_id(id)
            .await?
            .ok_or(AuthError::UserNotFound)
    }

    /// The current time from the service's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// The node-local session cache, when it is on.
    pub fn session_cache(&self) -> Option<&Arc<SessionCache>> {
        self.inner.cache.as_ref()
    }

    /// After a write that changes what `fetch_session` returns for `user`:
    /// drops their cached sessions on this node, before the caller answers.
    fn evict_user(&self, user: UserId) {
        if let Some(cache) = &self.inner.cache {
            cache.evict_user(user);
        }
    }

    /// Drops the cached entry of one token (and, with it, its user's).
    fn evict_token(&self, hash: &crate::token::TokenHash, user: Option<UserId>) {
        if let Some(cache) = &self.inner.cache {
            cache.evict_token(hash);
            if let Some(user) = user {
                cache.evict_user(user);
            }
        }
    }

    async fn audit(&self, event: AuditEvent) -> Result<(), AuthError> {
        self.inner.store.record_audit(&event).await?;
        Ok(())
    }

    fn elapsed_ms(&self, started: DateTime<Utc>) -> i64 {
        (self.now() - started).num_milliseconds()
    }

    /// Registers a user: normalises the email, checks it and the password
    /// policy, hashes the password on the pool and stores the user.
    pub async fn register(&self, email: &str, password: &SecretString) -> Result<User, AuthError> {
        let started = self.now();
        let result = self.register_inner(email, password).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(AuthError::EmailTaken) => "email_taken",
            Err(AuthError::InvalidEmail | AuthError::WeakPassword(_)) => "invalid",
            Err(_) => "error",
        };
        tracing::info!(name: "sigra.auth.register", outcome, latency_ms = self.elapsed_ms(started));
        result
    }

    async fn register_inner(
        &self,
        email: &str,
        password: &SecretString,
    ) -> Result<User, AuthError> {
        let email = normalize_email(email);
        if !is_valid_email(&email) {
            return Err(AuthError::InvalidEmail);
        }
        self.inner
            .policy
            .validate(password)
            .map_err(AuthError::WeakPassword)?;
        // Cheap check first, so duplicates do not cost an Argon2 hash. The
        // unique index still decides under concurrency.
        if self.inner.store.user_by_email(&email).await?.is_some() {
            return Err(AuthError::EmailTaken);
        }
        let hash = self.hash_password(password).await?;
        let now = self.now();
        let user = User::new(UserId::new(now), email, Some(hash), now);
        // The user and its audit event are one transaction.
        match self
            .inner
            .store
            .insert_user(&user, &AuditEvent::register(&user))
            .await
        {
            Ok(()) => Ok(user),
            Err(StoreError::DuplicateEmail) => Err(AuthError::EmailTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// Hashes a password on the pool.
    pub async fn hash_password(&self, password: &SecretString) -> Result<PasswordHash, AuthError> {
        let password = password.clone();
        self.inner
            .pool
            .run(move |h| h.hash(&password))
            .await?
            .map_err(AuthError::Hasher)
    }

    /// Checks `password` against the user's hash on the pool; for users
    /// without a hash it spends the same time on a dummy verification.
    async fn verify_password(
        &self,
        user: Option<&User>,
        password: &SecretString,
    ) -> Result<bool, AuthError> {
        let password = password.clone();
        let hash = user.and_then(|u| u.password_hash.clone());
        self.inner
            .pool
            .run(move |h| match hash {
                Some(hash) => h.verify(&password, &hash),
                None => {
                    h.dummy_verify(&password);
                    Ok(false)
                }
            })
            .await?
            .map_err(AuthError::Hasher)
    }

    /// Checks an email and password.
    ///
    /// An unknown email and a wrong password give the same error,
    /// [`AuthError::InvalidCredentials`], after the same work (one lookup and
    /// one Argon2 verification). After `lockout_threshold` consecutive
    /// failures the account is locked for `lockout_duration`; while locked,
    /// [`AuthError::Locked`] is returned without checking the password. A
    /// correct password clears the failure count and rehashes the password
    /// when the hasher's parameters changed.
    pub async fn authenticate(
        &self,
        email: &str,
        password: &SecretString,
        meta: &SessionMeta,
    ) -> Result<User, AuthError> {
        let started = self.now();
        let result = self.authenticate_inner(email, password, meta).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(AuthError::InvalidCredentials) => "invalid_credentials",
            Err(AuthError::Locked { .. }) => "locked",
            Err(AuthError::Busy(_)) => "busy",
            Err(_) => "error",
        };
        tracing::info!(name: "sigra.auth.login", outcome, latency_ms = self.elapsed_ms(started));
        crate::telemetry::login(outcome, self.now() - started);
        result
    }

    async fn authenticate_inner(
        &self,
        email: &str,
        password: &SecretString,
        meta: &SessionMeta,
    ) -> Result<User, AuthError> {
        let email = normalize_email(email);
        let user = if is_valid_email(&email) {
            self.inner.store.user_by_email(&email).await?
        } else {
            None
        };
        let now = self.now();
        let failure = |user_id: Option<UserId>, reason: &str| {
            AuditEvent::new(AuditAction::LoginFailure, user_id, now)
                .with("reason", reason)
                .with_ip(meta.ip.clone())
        };

        let Some(user) = user else {
            self.verify_password(None, password).await?;
            self.audit(failure(None, "invalid_credentials")).await?;
            return Err(AuthError::InvalidCredentials);
        };
        if let Some(until) = user.locked_until.filter(|until| *until > now) {
            // Same cost as a real attempt, so a lock is not a timing oracle for existence.
            self.verify_password(None, password).await?;
            self.audit(failure(Some(user.id), "locked")).await?;
            return Err(AuthError::Locked { until });
        }
        if !self.verify_password(Some(&user), password).await? {
            let cfg = &self.inner.config;
            let threshold = i32::try_from(cfg.lockout_threshold).unwrap_or(i32::MAX);
            let count = self
                .inner
                .store
                .record_login_failure(user.id, now, threshold, delta(cfg.lockout_duration))
                .await?;
            if count.locked_until.is_some() {
                self.evict_user(user.id);
            }
            self.audit(
                failure(Some(user.id), "invalid_credentials")
                    .with("count", count.failed_login_count.to_string()),
            )
            .await?;
            if count.failed_login_count == threshold {
                self.audit(
                    AuditEvent::new(AuditAction::Lockout, Some(user.id), now)
                        .with_ip(meta.ip.clone()),
                )
                .await?;
                tracing::warn!(name: "sigra.auth.lockout", user_id = %user.id);
            }
            return Err(AuthError::InvalidCredentials);
        }

        if user.deletion_scheduled_at.is_some() {
            self.audit(failure(Some(user.id), "deletion_scheduled"))
                .await?;
            return Err(AuthError::DeletionScheduled);
        }
        if user.failed_login_count != 0 || user.locked_until.is_some() {
            let cleared = self.inner.store.clear_login_failures(user.id).await;
            self.evict_user(user.id);
            cleared?;
        }
        let mut user = user;
        if let Some(old) = &user.password_hash
            && self.inner.pool.hasher().needs_rehash(old)
        {
            let fresh = self.hash_password(password).await?;
            let set = self
                .inner
                .store
                .set_password_hash(user.id, &fresh, now)
                .await;
            self.evict_user(user.id);
            set?;
            user.password_hash = Some(fresh);
        }
        user.failed_login_count = 0;
        user.locked_until = None;
        self.audit(
            AuditEvent::new(AuditAction::LoginSuccess, Some(user.id), now).with_ip(meta.ip.clone()),
        )
        .await?;
        Ok(user)
    }

    /// Creates a session of `kind` for `user` and returns its raw token —
    /// the only time the token exists outside the user's cookie.
    pub async fn create_session(
        &self,
        user: &User,
        kind: SessionKind,
        meta: SessionMeta,
    ) -> Result<(RawToken, Session), AuthError> {
        let now = self.now();
        let token = RawToken::generate()?;
        let ip = meta.ip.clone();
        let session = Session::new(user.id, token.hash(), kind, meta, now);
        self.inner.store.insert_session(&session).await?;
        self.audit(
            AuditEvent::new(AuditAction::SessionCreate, Some(user.id), now)
                .with("kind", kind.as_str())
                .with_ip(ip),
        )
        .await?;
        tracing::info!(name: "sigra.session.create", kind = kind.as_str(), session_id = %session.id);
        Ok((token, session))
    }

    /// Whether `session` has expired at `now`, by its kind's timeouts.
    pub fn is_expired(&self, session: &Session, now: DateTime<Utc>) -> bool {
        let cfg = &self.inner.config;
        let age = now - session.created_at;
        match session.kind {
            SessionKind::Standard => {
                age > delta(cfg.absolute_timeout)
                    || now - session.last_active_at > delta(cfg.idle_timeout)
            }
            SessionKind::RememberMe => age > delta(cfg.session_ttl),
            SessionKind::MfaPending => age > delta(cfg.mfa_pending_ttl),
        }
    }

    /// The session for a raw token and its user, or `None`.
    ///
    /// Strict mode (the default): one store query on the hot path. An
    /// expired session is deleted when seen. `last_active_at` is written only
    /// when it is older than `touch_interval`, never on every request.
    ///
    /// With the session cache on ([`Auth::session_cache`]), a cached answer
    /// is served without a query: the timeouts are re-applied to its
    /// timestamps (an expired one is dropped and looked up again, which
    /// deletes it), and the throttled `last_active_at` write still happens
    /// when it is due — awaited here, at most once per `touch_interval` per
    /// session and node. Only sessions that exist are cached, never a miss.
    pub async fn fetch_session(
        &self,
        token: &RawToken,
    ) -> Result<Option<(Session, User)>, AuthError> {
        let started = self.now();
        let hash = token.hash();
        let cache = self.inner.cache.as_ref().filter(|c| c.is_active());
        if let Some(cache) = cache {
            let now = self.now();
            if let Some(entry) = cache.get(&hash, now) {
                let (mut session, user) = entry.view();
                if !self.is_expired(&session, now) {
                    if entry.claim_touch(now, delta(self.inner.config.touch_interval)) {
                        if let Err(e) = self.inner.store.touch_session(session.id, now).await {
                            cache.evict_token(&hash);
                            return Err(e.into());
                        }
                        session.last_active_at = now;
                    }
                    tracing::debug!(name: "sigra.session.fetch", outcome = "ok", cached = true);
                    crate::telemetry::session_fetch("ok", self.now() - started);
                    return Ok(Some((session, user)));
                }
                cache.evict_token(&hash);
            }
        }
        // Taken before the query: a revocation that commits while it runs
        // keeps the answer out of the cache.
        let ticket = cache.map(|c| c.ticket());
        let Some((mut session, user)) = self.inner.store.session_with_user(&hash).await? else {
            tracing::debug!(name: "sigra.session.fetch", outcome = "not_found");
            crate::telemetry::session_fetch("not_found", self.now() - started);
            return Ok(None);
        };
        let now = self.now();
        if self.is_expired(&session, now) {
            let deleted = self.inner.store.delete_session_by_hash(&hash).await;
            self.evict_token(&hash, Some(user.id));
            if deleted?.is_some() {
                self.audit(
                    AuditEvent::new(AuditAction::SessionDelete, Some(user.id), now)
                        .with("reason", "expired")
                        .with("kind", session.kind.as_str()),
                )
                .await?;
            }
            tracing::debug!(name: "sigra.session.fetch", outcome = "expired");
            crate::telemetry::session_fetch("expired", self.now() - started);
            return Ok(None);
        }
        if now - session.last_active_at >= delta(self.inner.config.touch_interval) {
            self.inner.store.touch_session(session.id, now).await?;
            session.last_active_at = now;
        }
        if let (Some(cache), Some(ticket)) = (cache, ticket) {
            cache.insert(hash, &session, &user, ticket, now);
        }
        tracing::debug!(name: "sigra.session.fetch", outcome = "ok");
        crate::telemetry::session_fetch("ok", self.now() - started);
        Ok(Some((session, user)))
    }

    /// Deletes the session with this token (log-out). Returns whether it existed.
    pub async fn delete_session(&self, token: &RawToken) -> Result<bool, AuthError> {
        let now = self.now();
        let hash = token.hash();
        let deleted = self.inner.store.delete_session_by_hash(&hash).await;
        self.evict_token(&hash, deleted.as_ref().ok().copied().flatten());
        let Some(user_id) = deleted? else {
            return Ok(false);
        };
        self.audit(
            AuditEvent::new(AuditAction::SessionDelete, Some(user_id), now)
                .with("reason", "log_out"),
        )
        .await?;
        tracing::info!(name: "sigra.auth.logout", outcome = "ok");
        Ok(true)
    }

    /// Deletes every session of the user ("log out everywhere"), optionally
    /// keeping the one with token `except`. One statement: once this returns,
    /// no deleted session's token works. Returns how many were deleted.
    pub async fn delete_all_sessions(
        &self,
        user_id: UserId,
        except: Option<&RawToken>,
    ) -> Result<u64, AuthError> {
        let now = self.now();
        let keep = except.map(RawToken::hash);
        let count = self.inner.store.delete_user_sessions(user_id, keep).await;
        self.evict_user(user_id);
        let count = count?;
        self.audit(
            AuditEvent::new(AuditAction::SessionRevokeAll, Some(user_id), now)
                .with("count", count.to_string())
                .with("kept_current", keep.is_some().to_string()),
        )
        .await?;
        tracing::info!(name: "sigra.session.revoke_all", count);
        Ok(count)
    }

    /// The user's sessions (with ip, user agent, created and last-active
    /// times), newest first. Expired ones are left out.
    pub async fn list_sessions(&self, user_id: UserId) -> Result<Vec<Session>, AuthError> {
        let now = self.now();
        let sessions = self.inner.store.list_user_sessions(user_id).await?;
        Ok(sessions
            .into_iter()
            .filter(|s| !self.is_expired(s, now))
            .collect())
    }

    /// Re-checks the password in `session` and opens the sudo window.
    pub async fn confirm_sudo(
        &self,
        session: &Session,
        password: &SecretString,
    ) -> Result<(), AuthError> {
        let user = self.load_user(session.user_id).await?;
        if !self.verify_password(Some(&user), password).await? {
            return Err(AuthError::InvalidCredentials);
        }
        let now = self.now();
        let set = self.inner.store.set_sudo(session.id, now).await;
        self.evict_user(session.user_id);
        set?;
        self.audit(AuditEvent::new(
            AuditAction::SudoConfirm,
            Some(user.id),
            now,
        ))
        .await?;
        Ok(())
    }

    /// Whether the password was re-entered in `session` within `sudo_window`.
    pub fn in_sudo(&self, session: &Session) -> bool {
        let now = self.now();
        session
            .sudo_at
            .is_some_and(|at| at <= now && now - at <= delta(self.inner.config.sudo_window))
    }

    /// Revokes every "trust this browser" cookie of the user: one atomic
    /// increment of the trust epoch. Returns the new epoch.
    pub async fn revoke_all_trusted_browsers(&self, user_id: UserId) -> Result<i64, AuthError> {
        let now = self.now();
        let epoch = self.inner.store.increment_trust_epoch(user_id).await;
        self.evict_user(user_id);
        let epoch = match epoch {
            Ok(epoch) => epoch,
            Err(StoreError::NotFound(_)) => return Err(AuthError::UserNotFound),
            Err(e) => return Err(e.into()),
        };
        self.audit(AuditEvent::new(
            AuditAction::MfaTrustRevoked,
            Some(user_id),
            now,
        ))
        .await?;
        tracing::info!(name: "sigra.mfa.trust.revoke_all", outcome = "ok");
        Ok(epoch)
    }

    /// The user's current trust epoch.
    pub async fn current_trust_epoch(&self, user_id: UserId) -> Result<i64, AuthError> {
        let user = self.load_user(user_id).await?;
        Ok(user.mfa_trust_epoch)
    }

    /// Changes the password after checking the current one. Keeps the
    /// session whose token is `current`; deletes every other session and every
    /// email token of the user, atomically. Returns how many sessions ended.
    pub async fn change_password(
        &self,
        user_id: UserId,
        current: &RawToken,
        current_password: &SecretString,
        new_password: &SecretString,
    ) -> Result<u64, AuthError> {
        let user = self.load_user(user_id).await?;
        if !self.verify_password(Some(&user), current_password).await? {
            return Err(AuthError::InvalidCredentials);
        }
        self.inner
            .policy
            .validate(new_password)
            .map_err(AuthError::WeakPassword)?;
        let hash = self.hash_password(new_password).await?;
        let now = self.now();
        let deleted = self
            .inner
            .store
            .change_password(user_id, &hash, Some(current.hash()), now)
            .await;
        self.evict_user(user_id);
        let deleted = deleted?;
        let event = AuditEvent::new(AuditAction::PasswordChange, Some(user_id), now)
            .with("sessions_deleted", deleted.to_string());
        self.audit(event.clone()).await?;
        tracing::info!(name: "sigra.auth.password_change", outcome = "ok");
        self.notify(&user.email, &email::PASSWORD_CHANGED, &event)
            .await;
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    //! Unit tests of the service's decisions, with mockall mocks of the ports.
    //! The real backends are covered by the conformance suite in `tests/`.

    use super::*;
    use crate::clock::TestClock;
    use crate::config::Environment;
    use crate::ids::SessionId;
    use crate::model::{AuditEvent, DeletionStrategy, EmailToken, MfaCredential};
    use crate::password::Argon2Hasher;
    use crate::store::{
        AuditStore, EmailTokenStore, ExpiredSessions, FailureCount, MaintenanceStore, MfaStore,
        SessionCutoffs, SessionStore, StoreResult, UserStore,
    };
    use crate::store::{Revocation, RevocationListener, RevocationStore};
    use crate::token::{TokenContext, TokenHash};
    use async_trait::async_trait;
    use chrono::TimeZone;
    use mockall::{Sequence, mock, predicate::*};
    use secrecy::ExposeSecret;

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
            async fn insert_session(&self, session: &Session) -> StoreResult<()>;
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

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
    }

    fn service(db: MockDb) -> (Auth, Arc<TestClock>) {
        let clock = Arc::new(TestClock::new(t0()));
        let config = Config::builder(Environment::Test).build().unwrap();
        let auth = Auth::builder(config, Arc::new(db))
            .clock(clock.clone())
            .hasher(Arc::new(Argon2Hasher::for_tests()))
            .hash_pool(1, 16)
            .build()
            .unwrap();
        (auth, clock)
    }

    fn pw(s: &str) -> SecretString {
        SecretString::from(s)
    }

    fn user_with_password(password: &str) -> User {
        let hash = Argon2Hasher::for_tests().hash(&pw(password)).unwrap();
        User::new(
            UserId::new(t0()),
            "alice@example.com".into(),
            Some(hash),
            t0(),
        )
    }

    fn audits(db: &mut MockDb, action: AuditAction, times: usize) {
        db.expect_record_audit()
            .withf(move |e| e.action == action)
            .times(times)
            .returning(|_| Ok(()));
    }

    #[tokio::test]
    async fn register_normalises_checks_and_hashes() {
        let mut db = MockDb::new();
        db.expect_user_by_email()
            .with(eq("alice@example.com"))
            .times(1)
            .returning(|_| Ok(None));
        db.expect_insert_user()
            .withf(|u, audit| {
                u.email == "alice@example.com"
                    && u.password_hash
                        .as_ref()
                        .is_some_and(|h| h.as_str().starts_with("$argon2id$"))
                    && audit.action == AuditAction::Register
                    && audit.user_id == Some(u.id)
            })
            .times(1)
            .returning(|_, _| Ok(()));
        // The audit event goes with the user, not in a second write.
        db.expect_record_audit().never();
        let (auth, _) = service(db);
        let user = auth
            .register("  Alice@Example.COM ", &pw("long enough password"))
            .await
            .unwrap();
        assert_eq!(user.email, "alice@example.com");
    }

    #[tokio::test]
    async fn register_refuses_bad_input_before_touching_the_store() {
        let (auth, _) = service(MockDb::new());
        assert!(matches!(
            auth.register("not-an-email", &pw("long enough password"))
                .await,
            Err(AuthError::InvalidEmail)
        ));
        assert!(matches!(
            auth.register("a@b.co", &pw("short")).await,
            Err(AuthError::WeakPassword(_))
        ));
    }

    #[tokio::test]
    async fn register_reports_duplicates_found_late_by_the_unique_index() {
        let mut db = MockDb::new();
        db.expect_user_by_email().returning(|_| Ok(None));
        db.expect_insert_user()
            .returning(|_, _| Err(StoreError::DuplicateEmail));
        let (auth, _) = service(db);
        assert!(matches!(
            auth.register("a@b.co", &pw("long enough password")).await,
            Err(AuthError::EmailTaken)
        ));
    }

    #[tokio::test]
    async fn unknown_email_and_wrong_password_are_indistinguishable() {
        let user = user_with_password("right password");
        let id = user.id;
        let mut db = MockDb::new();
        db.expect_user_by_email()
            .with(eq("nobody@example.com"))
            .returning(|_| Ok(None));
        let found = user.clone();
        db.expect_user_by_email()
            .with(eq("alice@example.com"))
            .returning(move |_| Ok(Some(found.clone())));
        db.expect_record_login_failure()
            .with(eq(id), always(), eq(5), eq(TimeDelta::minutes(15)))
            .times(1)
            .returning(|_, _, _, _| {
                Ok(FailureCount {
                    failed_login_count: 1,
                    locked_until: None,
                })
            });
        audits(&mut db, AuditAction::LoginFailure, 2);
        let (auth, _) = service(db);
        let meta = SessionMeta::default();
        let unknown = auth
            .authenticate("nobody@example.com", &pw("whatever pw"), &meta)
            .await
            .unwrap_err();
        let wrong = auth
            .authenticate("alice@example.com", &pw("wrong password"), &meta)
            .await
            .unwrap_err();
        assert!(matches!(unknown, AuthError::InvalidCredentials));
        assert!(matches!(wrong, AuthError::InvalidCredentials));
        assert_eq!(unknown.to_string(), wrong.to_string());
    }

    #[tokio::test]
    async fn the_fifth_failure_locks_and_a_locked_account_is_refused_without_verifying() {
        let user = user_with_password("right password");
        let mut db = MockDb::new();
        let found = user.clone();
        db.expect_user_by_email()
            .times(1)
            .returning(move |_| Ok(Some(found.clone())));
        db.expect_record_login_failure()
            .times(1)
            .returning(|_, now, threshold, lock_for| {
                Ok(FailureCount {
                    failed_login_count: threshold,
                    locked_until: Some(now + lock_for),
                })
            });
        audits(&mut db, AuditAction::LoginFailure, 2);
        audits(&mut db, AuditAction::Lockout, 1);
        let mut locked = user.clone();
        locked.failed_login_count = 5;
        locked.locked_until = Some(t0() + TimeDelta::minutes(15));
        db.expect_user_by_email()
            .times(1)
            .returning(move |_| Ok(Some(locked.clone())));
        let (auth, _) = service(db);
        let meta = SessionMeta::default();
        assert!(matches!(
            auth.authenticate("alice@example.com", &pw("wrong password"), &meta)
                .await,
            Err(AuthError::InvalidCredentials)
        ));
        // Even the right password is refused while locked.
        match auth
            .authenticate("alice@example.com", &pw("right password"), &meta)
            .await
        {
            Err(AuthError::Locked { until }) => assert_eq!(until, t0() + TimeDelta::minutes(15)),
            other => panic!("expected Locked, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn an_expired_lock_lets_the_right_password_in_and_clears_the_count() {
        let mut user = user_with_password("right password");
        user.failed_login_count = 5;
        user.locked_until = Some(t0() - TimeDelta::seconds(1));
        let id = user.id;
        let mut db = MockDb::new();
        db.expect_user_by_email()
            .returning(move |_| Ok(Some(user.clone())));
        db.expect_clear_login_failures()
            .with(eq(id))
            .times(1)
            .returning(|_| Ok(()));
        audits(&mut db, AuditAction::LoginSuccess, 1);
        let (auth, _) = service(db);
        let user = auth
            .authenticate(
                "alice@example.com",
                &pw("right password"),
                &SessionMeta::default(),
            )
            .await
            .unwrap();
        assert_eq!(user.failed_login_count, 0);
    }

    #[tokio::test]
    async fn login_rehashes_when_parameters_changed() {
        // Hashed with cheaper parameters than the service's hasher uses.
        let cheap = Argon2Hasher::new(crate::password::Argon2Params {
            memory_kib: 8,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap();
        let mut user = user_with_password("x");
        user.password_hash = Some(cheap.hash(&pw("right password")).unwrap());
        let mut db = MockDb::new();
        db.expect_user_by_email()
            .returning(move |_| Ok(Some(user.clone())));
        db.expect_set_password_hash()
            .times(1)
            .returning(|_, _, _| Ok(true));
        audits(&mut db, AuditAction::LoginSuccess, 1);
        let clock = Arc::new(TestClock::new(t0()));
        let auth = Auth::builder(
            Config::builder(Environment::Test).build().unwrap(),
            Arc::new(db),
        )
        .clock(clock)
        .hasher(Arc::new(
            Argon2Hasher::new(crate::password::Argon2Params {
                memory_kib: 16,
                iterations: 1,
                parallelism: 1,
            })
            .unwrap(),
        ))
        .build()
        .unwrap();
        auth.authenticate(
            "alice@example.com",
            &pw("right password"),
            &SessionMeta::default(),
        )
        .await
        .unwrap();
    }

    fn session_for(user: &User, kind: SessionKind, at: DateTime<Utc>) -> (RawToken, Session) {
        let token = RawToken::generate().unwrap();
        let session = Session::new(user.id, token.hash(), kind, SessionMeta::default(), at);
        (token, session)
    }

    #[tokio::test]
    async fn fetch_does_not_write_on_every_request_but_touches_after_the_interval() {
        let user = user_with_password("x");
        let (token, session) = session_for(&user, SessionKind::Standard, t0());
        let mut db = MockDb::new();
        let row = (session.clone(), user.clone());
        db.expect_session_with_user()
            .with(eq(token.hash()))
            .times(3)
            .returning(move |_| Ok(Some(row.clone())));
        // Exactly one touch, on the third fetch (5 minutes later).
        db.expect_touch_session()
            .with(eq(session.id), always())
            .times(1)
            .returning(|_, _| Ok(()));
        let (auth, clock) = service(db);
        assert!(auth.fetch_session(&token).await.unwrap().is_some());
        clock.advance(TimeDelta::minutes(4));
        assert!(auth.fetch_session(&token).await.unwrap().is_some());
        clock.advance(TimeDelta::minutes(1));
        let (fresh, _) = auth.fetch_session(&token).await.unwrap().unwrap();
        assert_eq!(fresh.last_active_at, t0() + TimeDelta::minutes(5));
    }

    #[tokio::test]
    async fn an_idle_standard_session_is_deleted_when_seen() {
        let user = user_with_password("x");
        let (token, session) = session_for(&user, SessionKind::Standard, t0());
        let mut db = MockDb::new();
        let mut seq = Sequence::new();
        let row = (session.clone(), user.clone());
        let uid = user.id;
        db.expect_session_with_user()
            .times(1)
            .in_sequence(&mut seq)
            .returning(move |_| Ok(Some(row.clone())));
        db.expect_delete_session_by_hash()
            .with(eq(token.hash()))
            .times(1)
            .in_sequence(&mut seq)
            .returning(move |_| Ok(Some(uid)));
        db.expect_record_audit()
            .withf(|e| {
                e.action == AuditAction::SessionDelete
                    && e.metadata.get("reason").map(String::as_str) == Some("expired")
            })
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Ok(()));
        let (auth, clock) = service(db);
        clock.advance(TimeDelta::minutes(30) + TimeDelta::seconds(1));
        assert!(auth.fetch_session(&token).await.unwrap().is_none());
    }

    #[test]
    fn timeouts_by_kind() {
        let (auth, _) = service(MockDb::new());
        let user = user_with_password("x");
        let (_, mut standard) = session_for(&user, SessionKind::Standard, t0());
        // Active every few minutes, but past the 24 h absolute timeout.
        standard.last_active_at = t0() + TimeDelta::hours(24);
        assert!(!auth.is_expired(&standard, t0() + TimeDelta::hours(24)));
        assert!(auth.is_expired(
            &standard,
            t0() + TimeDelta::hours(24) + TimeDelta::seconds(1)
        ));
        let (_, remember) = session_for(&user, SessionKind::RememberMe, t0());
        assert!(!auth.is_expired(&remember, t0() + TimeDelta::days(59)));
        assert!(auth.is_expired(
            &remember,
            t0() + TimeDelta::days(60) + TimeDelta::seconds(1)
        ));
        let (_, pending) = session_for(&user, SessionKind::MfaPending, t0());
        assert!(!auth.is_expired(&pending, t0() + TimeDelta::minutes(5)));
        assert!(auth.is_expired(
            &pending,
            t0() + TimeDelta::minutes(5) + TimeDelta::seconds(1)
        ));
    }

    #[tokio::test]
    async fn create_session_stores_only_the_hash_then_audits() {
        let user = user_with_password("x");
        let stored: Arc<std::sync::Mutex<Option<Session>>> = Arc::default();
        let sink = Arc::clone(&stored);
        let mut db = MockDb::new();
        let mut seq = Sequence::new();
        db.expect_insert_session()
            .times(1)
            .in_sequence(&mut seq)
            .returning(move |s| {
                *sink.lock().unwrap() = Some(s.clone());
                Ok(())
            });
        db.expect_record_audit()
            .withf(|e| e.action == AuditAction::SessionCreate)
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Ok(()));
        let (auth, _) = service(db);
        let (token, session) = auth
            .create_session(&user, SessionKind::RememberMe, SessionMeta::default())
            .await
            .unwrap();
        let row = stored.lock().unwrap().clone().unwrap();
        assert_eq!(row.token_hash, token.hash());
        assert_eq!(row, session);
        assert_eq!(row.kind, SessionKind::RememberMe);
    }

    #[tokio::test]
    async fn change_password_keeps_the_current_session_only() {
        let user = user_with_password("old password!");
        let id = user.id;
        let current = RawToken::generate().unwrap();
        let keep = current.hash();
        let mut db = MockDb::new();
        db.expect_user_by_id()
            .returning(move |_| Ok(Some(user.clone())));
        db.expect_change_password()
            .withf(move |uid, _, k, _| *uid == id && *k == Some(keep))
            .times(1)
            .returning(|_, _, _, _| Ok(3));
        audits(&mut db, AuditAction::PasswordChange, 1);
        let (auth, _) = service(db);
        assert!(matches!(
            auth.change_password(id, &current, &pw("wrong"), &pw("new password!!"))
                .await,
            Err(AuthError::InvalidCredentials)
        ));
        assert_eq!(
            auth.change_password(id, &current, &pw("old password!"), &pw("new password!!"))
                .await
                .unwrap(),
            3
        );
    }

    #[tokio::test]
    async fn sudo_window_is_five_minutes() {
        let user = user_with_password("pw pw pw pw");
        let (_, mut session) = session_for(&user, SessionKind::Standard, t0());
        let mut db = MockDb::new();
        db.expect_user_by_id()
            .returning(move |_| Ok(Some(user.clone())));
        db.expect_set_sudo().times(1).returning(|_, _| Ok(()));
        audits(&mut db, AuditAction::SudoConfirm, 1);
        let (auth, clock) = service(db);
        assert!(!auth.in_sudo(&session));
        assert!(matches!(
            auth.confirm_sudo(&session, &pw("nope")).await,
            Err(AuthError::InvalidCredentials)
        ));
        auth.confirm_sudo(&session, &pw("pw pw pw pw"))
            .await
            .unwrap();
        session.sudo_at = Some(t0());
        clock.advance(TimeDelta::minutes(5));
        assert!(auth.in_sudo(&session));
        clock.advance(TimeDelta::seconds(1));
        assert!(!auth.in_sudo(&session));
    }

    #[tokio::test]
    async fn trust_revocation_is_one_increment() {
        let id = UserId::new(t0());
        let mut db = MockDb::new();
        db.expect_increment_trust_epoch()
            .with(eq(id))
            .times(1)
            .returning(|_| Ok(4));
        db.expect_increment_trust_epoch()
            .returning(|_| Err(StoreError::NotFound("user")));
        audits(&mut db, AuditAction::MfaTrustRevoked, 1);
        let (auth, _) = service(db);
        assert_eq!(auth.revoke_all_trusted_browsers(id).await.unwrap(), 4);
        assert!(matches!(
            auth.revoke_all_trusted_browsers(id).await,
            Err(AuthError::UserNotFound)
        ));
    }

    #[tokio::test]
    async fn a_weak_new_password_leaves_the_reset_link_unused() {
        // No store call is expected: the policy is checked before the token is taken.
        let (auth, _) = service(MockDb::new());
        let token = RawToken::generate().unwrap().encode();
        assert!(matches!(
            auth.reset_password(token.expose_secret(), &pw("short"))
                .await,
            Err(AuthError::WeakPassword(_))
        ));
        assert!(matches!(
            auth.reset_password("not-a-token", &pw("long enough password"))
                .await,
            Err(AuthError::InvalidToken)
        ));
    }

    #[tokio::test]
    async fn a_deletion_scheduled_account_cannot_log_in_even_with_the_right_password() {
        let mut user = user_with_password("right password");
        user.deletion_scheduled_at = Some(t0() + TimeDelta::days(14));
        let mut db = MockDb::new();
        db.expect_user_by_email()
            .returning(move |_| Ok(Some(user.clone())));
        db.expect_record_audit()
            .withf(|e| {
                e.action == AuditAction::LoginFailure
                    && e.metadata.get("reason").map(String::as_str) == Some("deletion_scheduled")
            })
            .times(1)
            .returning(|_| Ok(()));
        let (auth, _) = service(db);
        assert!(matches!(
            auth.authenticate(
                "alice@example.com",
                &pw("right password"),
                &SessionMeta::default()
            )
            .await,
            Err(AuthError::DeletionScheduled)
        ));
    }

    #[cfg(feature = "metrics")]
    #[test]
    fn login_outcomes_are_counted_without_user_data() {
        use metrics_util::debugging::{DebugValue, DebuggingRecorder};
        let user = user_with_password("right password");
        let mut db = MockDb::new();
        db.expect_user_by_email()
            .returning(move |_| Ok(Some(user.clone())));
        db.expect_record_login_failure().returning(|_, _, _, _| {
            Ok(FailureCount {
                failed_login_count: 1,
                locked_until: None,
            })
        });
        db.expect_record_audit().returning(|_| Ok(()));
        let (auth, _) = service(db);
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || {
            futures_executor::block_on(async {
                let meta = SessionMeta::default();
                let _ = auth
                    .authenticate("alice@example.com", &pw("right password"), &meta)
                    .await;
                let _ = auth
                    .authenticate("alice@example.com", &pw("wrong password"), &meta)
                    .await;
                let _ = auth
                    .authenticate("alice@example.com", &pw("wrong password"), &meta)
                    .await;
            });
        });
        let mut logins = std::collections::BTreeMap::new();
        let mut histogram_samples = 0;
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            let key = key.key();
            for label in key.labels() {
                assert!(!label.value().contains('@'), "no email in labels");
            }
            match (key.name(), value) {
                ("sigra_logins_total", DebugValue::Counter(n)) => {
                    let outcome = key
                        .labels()
                        .find(|l| l.key() == "outcome")
                        .unwrap()
                        .value()
                        .to_owned();
                    logins.insert(outcome, n);
                }
                ("sigra_login_duration_seconds", DebugValue::Histogram(samples)) => {
                    histogram_samples += samples.len()
                }
                _ => {}
            }
        }
        assert_eq!(logins.get("ok"), Some(&1));
        assert_eq!(logins.get("invalid_credentials"), Some(&2));
        assert_eq!(histogram_samples, 3);
    }

    #[test]
    fn email_checks() {
        for ok in ["a@b.co", "first.last+tag@sub.example.org"] {
            assert!(is_valid_email(ok), "{ok}");
        }
        for bad in [
            "", "a", "a@b", "@b.co", "a@.co", "a@b.co.", "a b@c.de", "a@b..co", "a@b@c.de",
        ] {
            assert!(!is_valid_email(bad), "{bad}");
        }
        assert_eq!(
            normalize_email("  MiXeD@Example.COM\n"),
            "mixed@example.com"
        );
    }
}
