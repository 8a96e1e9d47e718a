//! The [`Auth`] service itself: its parts, its builder, and the helpers
//! every operation family uses.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::error::AuthError;
use super::gate::UserGate;
use crate::cache::{self, SessionCache};
use crate::caching_store::CachingStore;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::encryption::{EncryptionKey, FieldCipher};
use crate::hash_pool::HashPool;
use crate::ids::UserId;
use crate::keys::KeyRing;
use crate::mail::{LogMailer, Mailer};
use crate::model::{AuditEvent, User};
use crate::password::{Argon2Hasher, PasswordHasher, PasswordPolicy};
use crate::store::{SessionTimeouts, Store};

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
        let keys = self.config.key_ring();
        let cipher = match self.config.field_cipher() {
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
        let cache_on = self
            .session_cache
            .unwrap_or(self.config.session_cache.enabled);
        let cache = if !cache_on {
            None
        } else if self.config.session.touch_interval.is_zero() {
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
                self.config.session.touch_interval,
            )))
        };
        // With the cache on, every operation reads and writes through the
        // decorator: it serves session lookups and evicts on every write.
        let store: Arc<dyn Store> = match &cache {
            Some(cache) => Arc::new(CachingStore::new(
                self.store,
                Arc::clone(cache),
                Arc::clone(&self.clock),
                SessionTimeouts::from_config(&self.config),
                self.config.session.touch_interval,
            )),
            None => self.store,
        };
        Ok(Auth {
            inner: Arc::new(Inner {
                timeouts: SessionTimeouts::from_config(&self.config),
                cache,
                config: self.config,
                store,
                clock: self.clock,
                pool,
                policy,
                keys,
                cipher,
                mailer: self.mailer,
                gate: Arc::default(),
            }),
        })
    }
}

/// The authentication service. Cheap to clone; share one per application.
#[derive(Debug, Clone)]
pub struct Auth {
    pub(super) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(super) struct Inner {
    pub(super) config: Config,
    /// The backend, wrapped in a [`CachingStore`] when the session cache is on.
    pub(super) store: Arc<dyn Store>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) pool: HashPool,
    pub(super) policy: PasswordPolicy,
    pub(super) keys: KeyRing,
    pub(super) cipher: Option<FieldCipher>,
    pub(super) mailer: Arc<dyn Mailer>,
    pub(super) timeouts: SessionTimeouts,
    pub(super) cache: Option<Arc<SessionCache>>,
    /// One password check per user at a time on this node (see [`UserGate`]).
    pub(super) gate: Arc<UserGate>,
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

    /// The store, as every operation uses it: wrapped in a
    /// [`CachingStore`] when the session cache is on, so that writes made
    /// through it evict too.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The user with this id, or [`AuthError::UserNotFound`].
    pub(super) async fn load_user(&self, id: UserId) -> Result<User, AuthError> {
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

    /// Records an audit event.
    pub(super) async fn audit(&self, event: AuditEvent) -> Result<(), AuthError> {
        self.inner.store.record_audit(&event).await?;
        Ok(())
    }

    /// Milliseconds since `started`, by the service's clock.
    pub(super) fn elapsed_ms(&self, started: DateTime<Utc>) -> i64 {
        (self.now() - started).num_milliseconds()
    }
}

/// A `std` duration as a `chrono` one, saturating.
pub(super) fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}
