//! Per-request authentication state, shared by the layer and the extractors.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use sigra_core::model::{Session, SessionMeta, User};
use sigra_core::token::RawToken;

use crate::cookies::SessionCookie;
use crate::redact::{self, REDACTED};
use crate::sigra::Sigra;

/// What the remember-me cookie should do when the response goes out.
#[derive(Debug, Default)]
pub(crate) enum RememberAction {
    /// Leave it alone.
    #[default]
    Keep,
    /// Write it with this token.
    Set(RawToken),
    /// Remove it.
    Clear,
}

/// The signed-in user and their session, or nobody.
///
/// The layer puts a `CurrentScope` into every request's extensions; apps can
/// read it directly or through the [`crate::CurrentUser`] and
/// [`crate::MaybeUser`] extractors. Its `Debug` output names the user and
/// the session by id only.
#[derive(Clone, Default)]
pub struct CurrentScope {
    /// The signed-in user.
    pub user: Option<User>,
    /// Their session.
    pub session: Option<Session>,
}

impl fmt::Debug for CurrentScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CurrentScope")
            .field("user", &redact::user(self.user.as_ref()))
            .field("session", &redact::session(self.session.as_ref()))
            .finish()
    }
}

/// What the trust cookie should do when the response goes out.
#[derive(Default)]
pub(crate) enum TrustAction {
    /// Leave it alone.
    #[default]
    Keep,
    /// Write this signed value.
    Set(String),
}

impl fmt::Debug for TrustAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Keep => f.write_str("Keep"),
            Self::Set(_) => f.debug_tuple("Set").field(&REDACTED).finish(),
        }
    }
}

pub(crate) struct Inner {
    pub(crate) cookie: SessionCookie,
    pub(crate) scope: CurrentScope,
    /// A password-verified log-in waiting for its second factor.
    pub(crate) pending: Option<(Session, User)>,
    pub(crate) trust: TrustAction,
    /// The session cookie must be written on the way out.
    pub(crate) dirty: bool,
    /// The request came with a valid session cookie (so its CSRF token is known to the browser).
    pub(crate) persisted: bool,
    pub(crate) remember: RememberAction,
    /// The CSRF token was handed to the page: the answer must not be cached.
    pub(crate) csrf_shown: bool,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inner")
            .field("cookie", &self.cookie)
            .field("scope", &self.scope)
            .field(
                "pending",
                &self
                    .pending
                    .as_ref()
                    .map(|(session, user)| (redact::SessionView(session), redact::UserView(user))),
            )
            .field("trust", &self.trust)
            .field("dirty", &self.dirty)
            .field("persisted", &self.persisted)
            .field("remember", &self.remember)
            .field("csrf_shown", &self.csrf_shown)
            .finish()
    }
}

/// Shared between the layer and the handler's extractors for one request.
/// Its `Debug` output shows no cookie value, CSRF token, email, address or
/// user agent.
pub(crate) struct RequestState {
    pub(crate) sigra: Sigra,
    pub(crate) meta: SessionMeta,
    /// The values of `_sigra_mfa_trust` the browser sent, in its order
    /// (verified on use; the first that verifies counts).
    pub(crate) trust_cookies: Vec<String>,
    /// A trusted proxy reported `X-Forwarded-Proto: https`: cookies get `Secure`.
    pub(crate) forwarded_https: bool,
    inner: Mutex<Inner>,
}

impl fmt::Debug for RequestState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("RequestState");
        out.field("sigra", &self.sigra)
            .field("meta", &REDACTED)
            .field("trust_cookies", &self.trust_cookies.len())
            .field("forwarded_https", &self.forwarded_https);
        // Never wait for the lock here: the caller may be holding it.
        match self.inner.try_lock() {
            Ok(inner) => out.field("inner", &*inner),
            Err(_) => out.field("inner", &"<locked>"),
        };
        out.finish()
    }
}

impl RequestState {
    pub(crate) fn new(
        sigra: Sigra,
        meta: SessionMeta,
        trust_cookies: Vec<String>,
        forwarded_https: bool,
        inner: Inner,
    ) -> Arc<Self> {
        Arc::new(Self {
            sigra,
            meta,
            trust_cookies,
            forwarded_https,
            inner: Mutex::new(inner),
        })
    }

    /// Locks the state. Never held across an `.await`.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock means a handler panicked mid-update; the state is
        // still structurally valid, and the response is an error anyway.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
