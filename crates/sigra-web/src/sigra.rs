//! [`Sigra`]: the [`Auth`] service plus the signers, rate limiter and origin
//! the HTTP layer needs, and how it is built.
//!
//! Its [`layer`](Sigra::layer) is defined with the layer (`layer/service.rs`)
//! and its [`routes`](Sigra::routes) with the routes, so that this module,
//! which they all use, uses none of them.

use std::fmt;
use std::sync::Arc;

use http::HeaderValue;
use sigra_core::auth::Auth;
use sigra_core::mail::DevMailbox;
use sigra_core::rate_limit::RateLimiter;
use sigra_core::signing::MessageSigner;

use crate::cookies;
use crate::memory_limiter::MemoryRateLimiter;
use crate::revocations;

/// Sigra for an axum app: the [`Auth`] service plus the keys and limiter the
/// HTTP layer needs. Cheap to clone.
#[derive(Clone)]
pub struct Sigra {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    auth: Auth,
    session_signer: MessageSigner,
    remember_signer: MessageSigner,
    limiter: Arc<dyn RateLimiter>,
    public_origin: String,
    /// The `Strict-Transport-Security` value every answer carries, if any.
    hsts: Option<HeaderValue>,
    dev_mailbox: Option<Arc<DevMailbox>>,
    /// Follows the revocation log while the session cache is on; stops with the last clone.
    _follower: Option<Arc<revocations::FollowerTasks>>,
}

impl fmt::Debug for Sigra {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sigra")
            .field("auth", &self.inner.auth)
            .field("limiter", &self.inner.limiter)
            .finish()
    }
}

impl Sigra {
    /// Sigra over `auth`, with the rate limiter its config calls for: the
    /// Redis one when `REDIS_URL` is set (feature `redis`, on by default;
    /// see [`redis_limiter`](crate::redis_limiter)), the in-memory one otherwise.
    pub fn new(auth: Auth) -> Self {
        let limiter = limiter_for(auth.config());
        Self::with_limiter(auth, limiter)
    }

    /// Sigra over `auth` with another rate-limit backend (e.g. Redis).
    ///
    /// When `auth` has the session cache on, this also starts the tasks that
    /// follow the revocation log (see the [session cache guide]); they stop
    /// when the last clone of this `Sigra` is dropped. Call it inside a tokio
    /// runtime: without one the cache stays suspended.
    ///
    /// [session cache guide]: https://github.com/sigra-rs/sigra/blob/main/docs/guides/session-cache.md
    pub fn with_limiter(auth: Auth, limiter: Arc<dyn RateLimiter>) -> Self {
        let keys = auth.config().key_ring();
        let url = &auth.config().endpoints.public_url;
        let public_origin = url.origin().ascii_serialization();
        let hsts = hsts_header(auth.config());
        let follower = revocations::spawn(&auth).map(Arc::new);
        Self {
            inner: Arc::new(Inner {
                session_signer: MessageSigner::new(&keys, cookies::SESSION_PURPOSE),
                remember_signer: MessageSigner::new(&keys, cookies::REMEMBER_PURPOSE),
                _follower: follower,
                auth,
                limiter,
                public_origin,
                hsts,
                dev_mailbox: None,
            }),
        }
    }

    /// Exposes `mailbox` (which must also be the `Auth`'s mailer) at
    /// `GET /dev/mailbox.json`, in dev mode only; elsewhere the route is 404.
    pub fn with_dev_mailbox(mut self, mailbox: Arc<DevMailbox>) -> Self {
        Arc::make_mut(&mut self.inner).dev_mailbox = Some(mailbox);
        self
    }

    /// The dev mailbox, when one is exposed and the environment is dev.
    pub fn dev_mailbox(&self) -> Option<&Arc<DevMailbox>> {
        let dev = self.inner.auth.config().env == sigra_core::config::Environment::Dev;
        self.inner.dev_mailbox.as_ref().filter(|_| dev)
    }

    /// The authentication service.
    pub fn auth(&self) -> &Auth {
        &self.inner.auth
    }

    /// The rate limiter.
    pub fn limiter(&self) -> &Arc<dyn RateLimiter> {
        &self.inner.limiter
    }

    /// Signs and verifies the `_sigra_session` cookie.
    pub(crate) fn session_signer(&self) -> &MessageSigner {
        &self.inner.session_signer
    }

    /// Signs and verifies the `_sigra_remember_me` cookie.
    pub(crate) fn remember_signer(&self) -> &MessageSigner {
        &self.inner.remember_signer
    }

    /// The `Strict-Transport-Security` header every answer carries: the
    /// configured `SIGRA_HSTS` in prod when `PUBLIC_URL` is https, else none
    /// (a browser must not pin a site that cannot answer on https).
    pub(crate) fn hsts(&self) -> Option<&HeaderValue> {
        self.inner.hsts.as_ref()
    }

    /// The origin of `PUBLIC_URL` (`scheme://host[:port]`).
    pub(crate) fn public_origin(&self) -> &str {
        &self.inner.public_origin
    }
}

/// The `Strict-Transport-Security` value for `config`: see [`Sigra::hsts`].
fn hsts_header(config: &sigra_core::config::Config) -> Option<HeaderValue> {
    if !config.env.is_prod() || config.endpoints.public_url.scheme() != "https" {
        return None;
    }
    HeaderValue::from_str(config.endpoints.hsts.as_deref()?).ok()
}

/// The limiter `config` calls for: Redis when `REDIS_URL` is set, in memory otherwise.
///
/// A `REDIS_URL` this build cannot use (`rediss://` without the `redis-tls`
/// feature, a `SIGRA_REDIS_CA_FILE` that cannot be read, or the `redis`
/// feature turned off) is logged as an error and the in-memory limiter is used: the
/// limits still hold on each node, they are just not shared.
fn limiter_for(config: &sigra_core::config::Config) -> Arc<dyn RateLimiter> {
    use secrecy::ExposeSecret as _;
    let Some(url) = config.endpoints.redis_url.as_ref() else {
        return Arc::new(MemoryRateLimiter::new());
    };
    #[cfg(feature = "redis")]
    match crate::redis_limiter::RedisRateLimiter::new_with_options(
        url.expose_secret(),
        crate::redis_limiter::RedisLimiterOptions {
            ca_file: config.endpoints.redis_ca_file.clone(),
            ..Default::default()
        },
    ) {
        Ok(limiter) => return Arc::new(limiter),
        Err(e) => tracing::error!(
            name: "sigra.rate_limit.redis",
            outcome = "unusable_url",
            error = %std::error::Error::source(&e).map_or_else(|| e.to_string(), |s| s.to_string()),
            "REDIS_URL cannot be used: rate limits are counted on each node separately"
        ),
    }
    #[cfg(not(feature = "redis"))]
    {
        let _ = url.expose_secret();
        tracing::error!(
            name: "sigra.rate_limit.redis",
            outcome = "feature_disabled",
            "REDIS_URL is set but sigra-web was built without its `redis` feature: \
             rate limits are counted on each node separately"
        );
    }
    Arc::new(MemoryRateLimiter::new())
}
