//! Extractors: `CurrentUser`, `MaybeUser` and the `AuthSession` handle.

use std::fmt;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use http::Method;
use http::request::Parts;
use sigra_core::auth::AuthError;
use sigra_core::model::{Session, SessionKind, User};
use sigra_core::token::RawToken;

use crate::cookies::{self, Flash, FlashKind, SessionCookie};
use crate::redact;
use crate::rejection::{CurrentUserRejection, MissingLayer, Unauthenticated};
use crate::state::{CurrentScope, RememberAction, RequestState};

fn state(parts: &Parts) -> Result<Arc<RequestState>, MissingLayer> {
    parts
        .extensions
        .get::<Arc<RequestState>>()
        .cloned()
        .ok_or_else(|| {
            tracing::error!("a Sigra extractor was used on a route without SigraLayer");
            MissingLayer
        })
}

/// The signed-in user. Signed-out requests are redirected (303) to the log-in
/// page; for `GET` requests the path is remembered and the user returns to it
/// after logging in. Its `Debug` output names the user and session by id only.
#[derive(Clone)]
pub struct CurrentUser {
    /// The user.
    pub user: User,
    /// Their current session.
    pub session: Session,
}

impl fmt::Debug for CurrentUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CurrentUser")
            .field("user", &redact::UserView(&self.user))
            .field("session", &redact::SessionView(&self.session))
            .finish()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = CurrentUserRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let state = state(parts)?;
        let mut inner = state.lock();
        if let (Some(user), Some(session)) = (inner.scope.user.clone(), inner.scope.session.clone())
        {
            return Ok(Self { user, session });
        }
        if parts.method == Method::GET {
            let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            if cookies::is_local_path(path) {
                inner.cookie.return_to = Some(path.to_owned());
                inner.dirty = true;
            }
        }
        Err(Unauthenticated.into())
    }
}

/// The signed-in user, if any. Never rejects (except without the layer).
/// Its `Debug` output names the user by id only.
#[derive(Clone)]
pub struct MaybeUser(pub Option<User>);

impl fmt::Debug for MaybeUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MaybeUser")
            .field(&redact::user(self.0.as_ref()))
            .finish()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for MaybeUser {
    type Rejection = MissingLayer;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(state(parts)?.lock().scope.user.clone()))
    }
}

/// The handle for changing who is signed in: log in, log out, log out
/// everywhere, renew, flash messages, the CSRF token for forms. Its `Debug`
/// output shows no cookie value, CSRF token, email, address or user agent.
#[derive(Clone)]
pub struct AuthSession {
    state: Arc<RequestState>,
}

impl fmt::Debug for AuthSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthSession")
            .field("state", &self.state)
            .finish()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AuthSession {
    type Rejection = MissingLayer;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self {
            state: state(parts)?,
        })
    }
}

fn copy(token: &RawToken) -> RawToken {
    RawToken::from_bytes(*token.expose_bytes())
}

impl AuthSession {
    /// The signed-in user and session.
    pub fn scope(&self) -> CurrentScope {
        self.state.lock().scope.clone()
    }

    /// The signed-in user.
    pub fn user(&self) -> Option<User> {
        self.state.lock().scope.user.clone()
    }

    /// The CSRF token to put in a form's `_csrf_token` field. Makes sure the
    /// session cookie that carries it is written, and that the answer is
    /// `Cache-Control: no-store` (a cached page would hand the token on).
    pub fn csrf_token(&self) -> String {
        let mut inner = self.state.lock();
        if !inner.persisted {
            inner.dirty = true;
        }
        inner.csrf_shown = true;
        inner.cookie.csrf.clone()
    }

    /// Logs `user` in: creates a session row, then renews the session
    /// cookie completely (new token, new CSRF token) so no value an attacker
    /// planted before log-in survives it. With `remember_me` the remember-me
    /// cookie is set (max-age = `session_ttl`); otherwise it is cleared.
    pub async fn log_in(&self, user: &User, remember_me: bool) -> Result<(), AuthError> {
        let auth = self.state.sigra.auth();
        let previous = self.state.lock().cookie.token.as_ref().map(copy);
        if let Some(previous) = previous {
            auth.delete_session(&previous).await?;
        }
        let kind = if remember_me {
            SessionKind::RememberMe
        } else {
            SessionKind::Standard
        };
        let (token, session) = auth
            .create_session(user, kind, self.state.meta.clone())
            .await?;
        let csrf = cookies::new_csrf().ok_or(AuthError::Random(sigra_core::random::RandomError))?;
        let mut inner = self.state.lock();
        let return_to = inner.cookie.return_to.take();
        inner.remember = if remember_me {
            RememberAction::Set(copy(&token))
        } else {
            RememberAction::Clear
        };
        inner.cookie = SessionCookie {
            token: Some(token),
            csrf,
            return_to,
            ..SessionCookie::default()
        };
        inner.scope = CurrentScope {
            user: Some(user.clone()),
            session: Some(session),
        };
        inner.dirty = true;
        Ok(())
    }

    /// The user who passed the password step and owes a second factor, if any.
    pub fn pending_user(&self) -> Option<User> {
        self.state
            .lock()
            .pending
            .as_ref()
            .map(|(_, user)| user.clone())
    }

    /// Whether the browser carries a valid "trust this browser" cookie for
    /// `user` (of several under that name, any one that verifies). A cookie that verified only with `SECRET_KEY_BASE_OLD` is
    /// replaced by one signed with the current key on the way out.
    pub fn is_trusted_browser(&self, user: &User) -> bool {
        let auth = self.state.sigra.auth();
        for cookie in &self.state.trust_cookies {
            match auth.check_trusted_browser(user, cookie) {
                Ok(None) => return true,
                Ok(Some(resigned)) => {
                    self.state.lock().trust = crate::state::TrustAction::Set(resigned);
                    return true;
                }
                Err(_) => {}
            }
        }
        false
    }

    /// Starts a log-in that still needs the second factor: an `mfa_pending`
    /// session (5 minutes) replaces any previous one, with a new cookie and
    /// CSRF token. The user is not signed in until [`AuthSession::complete_mfa`].
    pub async fn begin_mfa(&self, user: &User, remember_me: bool) -> Result<(), AuthError> {
        let auth = self.state.sigra.auth();
        let previous = self.state.lock().cookie.token.as_ref().map(copy);
        if let Some(previous) = previous {
            auth.delete_session(&previous).await?;
        }
        let (token, session) = auth
            .create_session(user, SessionKind::MfaPending, self.state.meta.clone())
            .await?;
        let csrf = cookies::new_csrf().ok_or(AuthError::Random(sigra_core::random::RandomError))?;
        let mut inner = self.state.lock();
        let return_to = inner.cookie.return_to.take();
        inner.cookie = SessionCookie {
            token: Some(token),
            csrf,
            return_to,
            remember_after_mfa: remember_me,
            ..SessionCookie::default()
        };
        inner.scope = CurrentScope::default();
        inner.pending = Some((session, user.clone()));
        inner.dirty = true;
        Ok(())
    }

    /// Finishes a log-in after the second factor was verified: the pending
    /// session is rotated into a standard or remember-me session (as chosen
    /// at the password step), and with `trust_browser` the trust cookie is set.
    /// Returns the signed-in user, or `None` when no log-in was pending.
    pub async fn complete_mfa(&self, trust_browser: bool) -> Result<Option<User>, AuthError> {
        let (user, remember) = {
            let inner = self.state.lock();
            match &inner.pending {
                Some((_, user)) => (user.clone(), inner.cookie.remember_after_mfa),
                None => return Ok(None),
            }
        };
        self.log_in(&user, remember).await?;
        if trust_browser {
            let value = self.state.sigra.auth().grant_trusted_browser(&user).await?;
            self.state.lock().trust = crate::state::TrustAction::Set(value);
        }
        self.state.lock().pending = None;
        Ok(Some(user))
    }

    /// Logs out here: deletes this session's row, renews the cookie and
    /// clears remember-me. A captured copy of the old cookie is useless afterwards.
    pub async fn log_out(&self) -> Result<(), AuthError> {
        let token = self.state.lock().cookie.token.as_ref().map(copy);
        if let Some(token) = token {
            self.state.sigra.auth().delete_session(&token).await?;
        }
        self.reset()
    }

    /// Logs out everywhere: deletes every session of the user in one
    /// statement, then logs out here.
    pub async fn log_out_everywhere(&self) -> Result<u64, AuthError> {
        let user = self.state.lock().scope.user.as_ref().map(|u| u.id);
        let count = match user {
            Some(id) => {
                self.state
                    .sigra
                    .auth()
                    .delete_all_sessions(id, None)
                    .await?
            }
            None => 0,
        };
        self.reset()?;
        Ok(count)
    }

    fn reset(&self) -> Result<(), AuthError> {
        let csrf = cookies::new_csrf().ok_or(AuthError::Random(sigra_core::random::RandomError))?;
        let mut inner = self.state.lock();
        let flash = inner.cookie.flash.take();
        inner.cookie = SessionCookie {
            csrf,
            flash,
            ..SessionCookie::default()
        };
        inner.scope = CurrentScope::default();
        inner.remember = RememberAction::Clear;
        inner.dirty = true;
        Ok(())
    }

    /// Renews the cookie's contents with a new CSRF token (the session
    /// itself is unchanged). Forms rendered before the renewal stop working.
    pub fn renew(&self) -> Result<(), AuthError> {
        let csrf = cookies::new_csrf().ok_or(AuthError::Random(sigra_core::random::RandomError))?;
        let mut inner = self.state.lock();
        inner.cookie.csrf = csrf;
        inner.dirty = true;
        Ok(())
    }

    /// Sets a message for the next page.
    pub fn flash(&self, kind: FlashKind, message: impl Into<String>) {
        let mut inner = self.state.lock();
        inner.cookie.flash = Some(Flash {
            kind,
            message: message.into(),
        });
        inner.dirty = true;
    }

    /// Takes the pending flash message, if any.
    pub fn take_flash(&self) -> Option<Flash> {
        let mut inner = self.state.lock();
        let flash = inner.cookie.flash.take();
        if flash.is_some() {
            inner.dirty = true;
        }
        flash
    }

    /// Takes the remembered return path (a local path), if any.
    pub fn take_return_to(&self) -> Option<String> {
        let mut inner = self.state.lock();
        let path = inner.cookie.return_to.take();
        if path.is_some() {
            inner.dirty = true;
        }
        path
    }

    /// Where the request came from (client IP, user agent).
    pub fn meta(&self) -> &sigra_core::model::SessionMeta {
        &self.state.meta
    }

    /// The raw token of this session (for `Auth` calls that keep the current session).
    pub fn token(&self) -> Option<RawToken> {
        self.state.lock().cookie.token.as_ref().map(copy)
    }
}
