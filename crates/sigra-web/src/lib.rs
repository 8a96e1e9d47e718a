//! The axum/tower adapter for Sigra.
//!
//! [`Sigra`] wraps an [`Auth`] service. Its [`layer`](Sigra::layer) reads
//! Sigra's cookies on every request, looks the session up, enforces CSRF and
//! origin checks on state-changing requests and writes cookies and security
//! headers on the way out; its [`routes`](Sigra::routes) are the default
//! pages (register, log in, log out, settings, `/health`). Handlers use the
//! [`CurrentUser`], [`MaybeUser`] and [`AuthSession`] extractors.
//!
//! ```no_run
//! use std::sync::Arc;
//! use axum::{Router, routing::get};
//! use sigra_core::auth::Auth;
//! use sigra_core::config::Config;
//! use sigra_store_sqlite::SqliteStore;
//! use sigra_web::{CurrentUser, Sigra};
//!
//! async fn dashboard(current: CurrentUser) -> String {
//!     format!("Signed in as {}", current.user.email)
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store = SqliteStore::connect("sqlite://app.db").await?;
//! store.migrate().await?;
//! let sigra = Sigra::new(Auth::new(Config::from_env()?, Arc::new(store))?);
//! let app = Router::new()
//!     .route("/dashboard", get(dashboard))   // 303 to /users/log-in when signed out
//!     .merge(sigra.routes())                 // register, log in, log out, settings, /health
//!     .layer(sigra.layer());                 // sessions, remember-me, CSRF, security headers
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:4000").await?;
//! axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await?;
//! # Ok(()) }
//! ```
//!
//! **Architecture invariant:** this is the only Sigra crate that knows HTTP,
//! and every failure in it becomes a deliberate response (303, 401, 403,
//! 422, 429, 503), never a panic.

// Rejections are `Response`s by axum's convention; boxing them buys nothing here.
#![allow(clippy::result_large_err)]

mod cookies;
mod extract;
#[doc(hidden)]
pub mod fuzz;
mod layer;
pub mod mail;
mod pages;
pub mod rate_limit;
#[cfg(feature = "redis")]
pub mod redis_limiter;
mod revocations;
mod routes;
mod state;
#[cfg(feature = "testing")]
pub mod testing;

use std::fmt;
use std::sync::Arc;

use axum::Router;
use sigra_core::auth::Auth;
use sigra_core::keys::KeyRing;
use sigra_core::mail::DevMailbox;
use sigra_core::rate_limit::RateLimiter;
use sigra_core::signing::MessageSigner;

pub use cookies::{Flash, FlashKind};
pub use extract::{AuthSession, CurrentUser, LOG_IN_PATH, MaybeUser};
pub use layer::{CSRF_FIELD, CSRF_HEADER, SigraLayer, SigraService};
pub use state::CurrentScope;

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
    /// see [`redis_limiter`]), the in-memory one otherwise.
    pub fn new(auth: Auth) -> Self {
        let limiter = rate_limit::limiter_for(auth.config());
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
        let keys = KeyRing::from_config(auth.config());
        let url = &auth.config().public_url;
        let public_origin = url.origin().ascii_serialization();
        let follower = revocations::spawn(&auth).map(Arc::new);
        Self {
            inner: Arc::new(Inner {
                session_signer: MessageSigner::new(&keys, cookies::SESSION_PURPOSE),
                remember_signer: MessageSigner::new(&keys, cookies::REMEMBER_PURPOSE),
                _follower: follower,
                auth,
                limiter,
                public_origin,
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

    /// The layer that authenticates every request (wrap the whole app with it).
    pub fn layer(&self) -> SigraLayer {
        SigraLayer {
            sigra: self.clone(),
        }
    }

    /// The default pages: register, log in and its second factor
    /// (`/users/mfa`), log out, settings (sessions, MFA enrolment, backup
    /// codes, trusted browsers, password, email, account deletion), the sudo
    /// password check, the email-link flows (reset password, confirm email,
    /// change email, cancel deletion), `/dev/mailbox.json` (dev only),
    /// `/health` and `/sigra/style.css`. The table is in DESIGN.md.
    pub fn routes(&self) -> Router {
        routes::routes(self)
    }

    /// The demo app (`sigra serve`): the default pages plus a home page and a
    /// `/dashboard` only signed-in users see, wrapped in the layer.
    pub fn demo_app(&self) -> Router {
        routes::demo_routes()
            .merge(self.routes())
            .layer(self.layer())
    }
}
