//! The cookies a response carries: the session cookie when it changed,
//! the remember-me cookie set or removed, the MFA trust cookie when granted.

use axum::response::Response;
use http::header::{self, HeaderValue};
use sigra_core::cookie::{CookieKind, CookieOptions, cookie_opts};

use crate::cookies;
use crate::state::{RememberAction, RequestState, TrustAction};

/// Appends the `Set-Cookie` headers the request's changes call for.
/// Returns whether the response is personal (someone is signed in or
/// half-way through MFA, the page carries the CSRF token, or a cookie was
/// written), so that it must not be cached.
pub(super) fn write(state: &RequestState, response: &mut Response) -> bool {
    let sigra = &state.sigra;
    let config = sigra.auth().config();
    let now = sigra.auth().now();
    // Behind a TLS-terminating trusted proxy the browser is on https even
    // when the configuration alone would not make cookies Secure.
    let opts = |kind| -> CookieOptions {
        let mut opts = cookie_opts(config, kind);
        opts.secure |= state.forwarded_https;
        opts
    };
    let mut inner = state.lock();
    let personal = inner.scope.user.is_some() || inner.pending.is_some() || inner.csrf_shown;
    let mut set = Vec::new();
    if inner.dirty {
        let value = inner
            .cookie
            .encode(sigra.session_signer(), now, config.session.ttl);
        set.push(opts(CookieKind::Session).set_cookie_header(&value));
        inner.dirty = false;
    }
    match std::mem::take(&mut inner.remember) {
        RememberAction::Keep => {}
        RememberAction::Set(token) => {
            set.push(
                opts(CookieKind::RememberMe).set_cookie_header(&cookies::encode_remember(
                    sigra.remember_signer(),
                    &token,
                    now,
                    config.session.ttl,
                )),
            );
        }
        RememberAction::Clear => set.push(opts(CookieKind::RememberMe).removal_header()),
    }
    if let TrustAction::Set(value) = std::mem::take(&mut inner.trust) {
        set.push(opts(CookieKind::MfaTrust).set_cookie_header(&value));
    }
    drop(inner);
    let touched_cookies = !set.is_empty();
    for value in set {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    personal || touched_cookies
}
