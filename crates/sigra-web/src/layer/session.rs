//! Loading the request's session: from `_sigra_session`, or — when that
//! carries no session — by rehydrating it from `_sigra_remember_me` (names
//! from [`cookie_name`]: `__Host-` prefixed in prod without `COOKIE_DOMAIN`).
//! Of several values under one name, the first that verifies counts.

use http::HeaderMap;
use sigra_core::auth::Auth;
use sigra_core::cookie::{CookieKind, cookie_name};
use sigra_core::model::{Session, SessionKind, User};
use sigra_core::token::RawToken;

use crate::cookies::{self, SessionCookie};
use crate::rejection::Unavailable;
use crate::sigra::Sigra;
use crate::state::{CurrentScope, Inner, RememberAction, TrustAction};

/// The request's authentication state as its cookies and the store say.
///
/// Fails closed with [`Unavailable::Session`] when the store cannot answer
/// (or no CSRF token can be drawn).
pub(super) async fn load(sigra: &Sigra, headers: &HeaderMap) -> Result<Inner, Unavailable> {
    let auth = sigra.auth();
    let now = auth.now();
    let name = |kind| cookie_name(auth.config(), kind);
    let decoded = cookies::cookie_values(headers, name(CookieKind::Session))
        .find_map(|value| SessionCookie::decode(sigra.session_signer(), value, now));
    let mut inner = Inner {
        persisted: decoded.is_some(),
        dirty: decoded.as_ref().is_some_and(|c| c.signed_with_old_key),
        cookie: match decoded {
            Some(cookie) => cookie,
            None => fresh_cookie(None, None)?,
        },
        scope: CurrentScope::default(),
        pending: None,
        trust: TrustAction::Keep,
        remember: RememberAction::Keep,
        csrf_shown: false,
    };

    if let Some(token) = inner.cookie.token.take() {
        match fetch(auth, &token).await? {
            Some((session, user)) => {
                // A half-finished MFA log-in is not a signed-in user.
                if session.kind == SessionKind::MfaPending {
                    inner.pending = Some((session, user));
                } else {
                    inner.scope = signed_in(session, user);
                }
                inner.cookie.token = Some(token);
            }
            None => {
                // Logged out, expired or revoked: drop the token and its remember-me twin.
                inner.dirty = true;
                inner.remember = RememberAction::Clear;
            }
        }
    } else {
        let mut values = cookies::cookie_values(headers, name(CookieKind::RememberMe)).peekable();
        if values.peek().is_none() {
            return Ok(inner);
        }
        let decoded =
            values.find_map(|value| cookies::decode_remember(sigra.remember_signer(), value, now));
        let Some((token, old_key)) = decoded else {
            inner.remember = RememberAction::Clear;
            return Ok(inner);
        };
        match fetch(auth, &token).await? {
            Some((session, user)) if session.kind == SessionKind::RememberMe => {
                // Rehydrate: a new session cookie, with a new CSRF token.
                inner.cookie =
                    fresh_cookie(inner.cookie.return_to.take(), inner.cookie.flash.take())?;
                if old_key {
                    // Re-sign the remember-me cookie with the current key.
                    inner.remember =
                        RememberAction::Set(RawToken::from_bytes(*token.expose_bytes()));
                }
                inner.cookie.token = Some(token);
                inner.scope = signed_in(session, user);
                inner.dirty = true;
            }
            _ => inner.remember = RememberAction::Clear,
        }
    }
    Ok(inner)
}

/// A session cookie without a session, with a new CSRF token.
fn fresh_cookie(
    return_to: Option<String>,
    flash: Option<cookies::Flash>,
) -> Result<SessionCookie, Unavailable> {
    Ok(SessionCookie {
        csrf: cookies::new_csrf().ok_or(Unavailable::Session)?,
        return_to,
        flash,
        ..SessionCookie::default()
    })
}

fn signed_in(session: Session, user: User) -> CurrentScope {
    CurrentScope {
        user: Some(user),
        session: Some(session),
    }
}

/// Looks `token` up; a store error is logged and fails closed.
async fn fetch(auth: &Auth, token: &RawToken) -> Result<Option<(Session, User)>, Unavailable> {
    auth.fetch_session(token).await.map_err(|e| {
        tracing::error!(name: "sigra.session.fetch", outcome = "store_error", error = %e);
        Unavailable::Session
    })
}
