//! Entry points for the cargo-fuzz targets in `fuzz/`; not part of the API.
//!
//! The cookie and form parsers are private to this crate; these thin
//! wrappers let the fuzzers reach exactly the code a request runs, without
//! making the parsers public. Hidden from the docs and free to change.

use chrono::{DateTime, Utc};
use http::HeaderMap;
use sigra_core::keys::KeyRing;
use sigra_core::signing::MessageSigner;

use crate::cookies::{self, REMEMBER_PURPOSE, SESSION_PURPOSE, SessionCookie};
use crate::csrf;

/// What the session and remember-me cookies of a request decoded to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodedCookies {
    /// `_sigra_session` verified and decoded.
    pub session: bool,
    /// The decoded session cookie carried a session token.
    pub session_token: bool,
    /// `_sigra_remember_me` verified and decoded.
    pub remember: bool,
}

/// The session signer for `ring`, to sign fuzzer payloads as the server would.
pub fn session_signer(ring: &KeyRing) -> MessageSigner {
    MessageSigner::new(ring, SESSION_PURPOSE)
}

/// Reads and decodes `_sigra_session` and `_sigra_remember_me` from
/// `headers` exactly as the layer does at `now` (the first value of each
/// name that verifies; the plain names, as outside prod).
pub fn decode_request_cookies(
    ring: &KeyRing,
    headers: &HeaderMap,
    now: DateTime<Utc>,
) -> DecodedCookies {
    let session = cookies::cookie_values(headers, sigra_core::cookie::SESSION_COOKIE)
        .find_map(|value| SessionCookie::decode(&session_signer(ring), value, now));
    let remember = cookies::cookie_values(headers, sigra_core::cookie::REMEMBER_ME_COOKIE)
        .find_map(|value| {
            cookies::decode_remember(&MessageSigner::new(ring, REMEMBER_PURPOSE), value, now)
        });
    DecodedCookies {
        session_token: session.as_ref().is_some_and(|s| s.token.is_some()),
        session: session.is_some(),
        remember: remember.is_some(),
    }
}

/// Whether a form body passes the layer's CSRF check for `expected`.
pub fn form_csrf_matches(body: &[u8], expected: &str) -> bool {
    csrf::form_csrf_matches(body, expected)
}
