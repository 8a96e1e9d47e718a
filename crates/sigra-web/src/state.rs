//! Per-request authentication state, shared by the layer and the extractors.

use std::sync::{Arc, Mutex, MutexGuard};

use sigra_core::model::{Session, SessionMeta, User};
use sigra_core::token::RawToken;

use crate::cookies::SessionCookie;
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
/// [`crate::MaybeUser`] extractors.
#[derive(Debug, Clone, Default)]
pub struct CurrentScope {
    /// The signed-in user.
    pub user: Option<User>,
    /// Their session.
    pub session: Option<Session>,
}

/// What the trust cookie should do when the response goes out.
#[derive(Debug, Default)]
pub(crate) enum TrustAction {
    /// Leave it alone.
    #[default]
    Keep,
    /// Write this signed value.
    Set(String),
}

#[derive(Debug)]
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

/// Shared between the layer and the handler's extractors for one request.
#[derive(Debug)]
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
