//! The contents of Sigra's signed cookies, and reading cookies from a request.
//!
//! `_sigra_session` carries the session token, the CSRF token, the return
//! path and a flash message, as JSON signed for the purpose
//! `"sigra-session"`. `_sigra_remember_me` carries the same session token,
//! signed for `"sigra-remember-me"`. Both are signed, not encrypted: they hold
//! nothing but an opaque token (useless once its row is deleted) and
//! non-secret data. Any value that fails to decode or verify — malformed,
//! oversized, tampered, expired, signed with another key — reads as absent;
//! when a name occurs more than once, the first value that verifies counts.
//! (In prod without `COOKIE_DOMAIN` the names carry the `__Host-` prefix:
//! [`sigra_core::cookie::cookie_name`].)

use chrono::{DateTime, Utc};
use http::HeaderMap;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sigra_core::signing::{MAX_SIGNED_LEN, MessageSigner};
use sigra_core::token::RawToken;

use crate::redact::{self, REDACTED};

/// Purpose of the session cookie's signing key.
pub(crate) const SESSION_PURPOSE: &str = "sigra-session";
/// Purpose of the remember-me cookie's signing key.
pub(crate) const REMEMBER_PURPOSE: &str = "sigra-remember-me";

/// A one-shot message shown on the next page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flash {
    /// `info` or `error`.
    pub kind: FlashKind,
    /// The text, shown HTML-escaped.
    pub message: String,
}

/// The kind of a flash message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlashKind {
    /// A confirmation.
    Info,
    /// A problem.
    Error,
}

/// What `_sigra_session` holds, decoded. Its `Debug` output hides the
/// token, the CSRF token and the return path.
#[derive(Default)]
pub(crate) struct SessionCookie {
    pub(crate) token: Option<RawToken>,
    pub(crate) csrf: String,
    pub(crate) return_to: Option<String>,
    pub(crate) flash: Option<Flash>,
    /// Set while a second factor is pending: keep the user logged in afterwards.
    pub(crate) remember_after_mfa: bool,
    /// Verified only with `SECRET_KEY_BASE_OLD`: re-sign it on the way out.
    pub(crate) signed_with_old_key: bool,
}

impl std::fmt::Debug for SessionCookie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionCookie")
            .field("token", &redact::presence(self.token.as_ref()))
            .field("csrf", &REDACTED)
            .field("return_to", &redact::presence(self.return_to.as_ref()))
            .field("flash", &self.flash)
            .field("remember_after_mfa", &self.remember_after_mfa)
            .field("signed_with_old_key", &self.signed_with_old_key)
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
struct Wire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    t: Option<String>,
    c: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    r: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    f: Option<Flash>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    m: bool,
}

/// A fresh CSRF token: 32 random bytes, base64url.
pub(crate) fn new_csrf() -> Option<String> {
    RawToken::generate()
        .ok()
        .map(|t| t.encode().expose_secret().to_owned())
}

/// Whether `path` is a safe place to send a user back to: a local absolute
/// path, never `//host` or a scheme (no open redirects).
pub(crate) fn is_local_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && !path.starts_with("/\\")
        && path.len() <= 512
        && !path.chars().any(|c| c.is_control())
}

impl SessionCookie {
    pub(crate) fn decode(signer: &MessageSigner, value: &str, now: DateTime<Utc>) -> Option<Self> {
        let verified = signer.verify(value, now).ok()?;
        let wire: Wire = serde_json::from_slice(&verified.data).ok()?;
        let token = match wire.t {
            Some(t) => Some(RawToken::decode(&t).ok()?),
            None => None,
        };
        // A CSRF token we did not mint has the wrong shape: treat the cookie as absent.
        if RawToken::decode(&wire.c).is_err() {
            return None;
        }
        Some(Self {
            token,
            csrf: wire.c,
            return_to: wire.r.filter(|r| is_local_path(r)),
            flash: wire.f,
            remember_after_mfa: wire.m,
            signed_with_old_key: verified.signed_with_old_key,
        })
    }

    pub(crate) fn encode(
        &self,
        signer: &MessageSigner,
        now: DateTime<Utc>,
        max_age: std::time::Duration,
    ) -> String {
        let wire = Wire {
            t: self
                .token
                .as_ref()
                .map(|t| t.encode().expose_secret().to_owned()),
            c: self.csrf.clone(),
            r: self.return_to.clone(),
            f: self.flash.clone(),
            m: self.remember_after_mfa,
        };
        // Serialising plain strings cannot fail; an empty payload would simply not verify later.
        let json = serde_json::to_vec(&wire).unwrap_or_default();
        signer.sign(&json, now, max_age)
    }
}

/// Decodes `_sigra_remember_me`: the session token, and whether only the old
/// secret verified it (then it is re-signed on the way out).
pub(crate) fn decode_remember(
    signer: &MessageSigner,
    value: &str,
    now: DateTime<Utc>,
) -> Option<(RawToken, bool)> {
    let verified = signer.verify(value, now).ok()?;
    let bytes: [u8; 32] = verified.data.as_slice().try_into().ok()?;
    Some((RawToken::from_bytes(bytes), verified.signed_with_old_key))
}

/// Encodes `_sigra_remember_me`.
pub(crate) fn encode_remember(
    signer: &MessageSigner,
    token: &RawToken,
    now: DateTime<Utc>,
    max_age: std::time::Duration,
) -> String {
    signer.sign(token.expose_bytes(), now, max_age)
}

/// At most this many values of one cookie name are tried, so a request
/// cannot make the server verify signatures without bound.
const MAX_VALUES_PER_NAME: usize = 8;

/// The values of cookie `name` in the request, in the order the browser sent
/// them, across every `Cookie` header.
///
/// Each `name=value` pair is read on its own: a pair that is malformed (no
/// `=`, a byte outside visible ASCII, an oversized value) is skipped without
/// affecting the others, so a stray non-ASCII cookie of another app on the
/// same domain cannot sign anyone out. A name may occur more than once (a
/// sibling subdomain can plant a second value on the parent domain):
/// callers take the first value that verifies.
pub(crate) fn cookie_values<'h>(
    headers: &'h HeaderMap,
    name: &'h str,
) -> impl Iterator<Item = &'h str> + 'h {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .flat_map(|header| header.as_bytes().split(|&b| b == b';'))
        .filter_map(move |pair| {
            let eq = pair.iter().position(|&b| b == b'=')?;
            let (key, value) = (trim(&pair[..eq]), trim(&pair[eq + 1..]));
            if key != name.as_bytes() || value.len() > MAX_SIGNED_LEN {
                return None;
            }
            // Visible ASCII only: anything else is not a value Sigra wrote.
            if !value.iter().all(|b| (0x21..=0x7e).contains(b)) {
                return None;
            }
            let value = std::str::from_utf8(value).ok()?;
            Some(value.trim_matches('"'))
        })
        .take(MAX_VALUES_PER_NAME)
}

/// `bytes` without leading and trailing spaces and tabs.
fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use sigra_core::keys::{KeyRing, SecretKeyBase};
    use std::time::Duration;

    fn signer(byte: u8) -> MessageSigner {
        MessageSigner::new(
            &KeyRing::new(SecretKeyBase::new(vec![byte; 64]).unwrap(), None),
            SESSION_PURPOSE,
        )
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
    }

    #[test]
    fn round_trip_and_foreign_key_refused() {
        let token = RawToken::generate().unwrap();
        let cookie = SessionCookie {
            token: Some(RawToken::from_bytes(*token.expose_bytes())),
            csrf: new_csrf().unwrap(),
            return_to: Some("/dashboard".into()),
            flash: Some(Flash {
                kind: FlashKind::Info,
                message: "hi".into(),
            }),
            remember_after_mfa: true,
            signed_with_old_key: false,
        };
        let value = cookie.encode(&signer(1), now(), Duration::from_secs(60));
        let back = SessionCookie::decode(&signer(1), &value, now()).unwrap();
        assert_eq!(back.token.unwrap().hash(), token.hash());
        assert_eq!(back.csrf, cookie.csrf);
        assert_eq!(back.return_to.as_deref(), Some("/dashboard"));
        assert!(back.remember_after_mfa);
        assert!(SessionCookie::decode(&signer(2), &value, now()).is_none());
    }

    #[test]
    fn open_redirect_paths_are_dropped() {
        for bad in [
            "//evil.com",
            "https://evil.com",
            "/\\evil.com",
            "evil",
            "/a\nb",
        ] {
            assert!(!is_local_path(bad), "{bad}");
        }
        assert!(is_local_path("/dashboard?x=1"));
    }

    #[test]
    fn every_value_of_a_name_in_order_and_malformed_pairs_skipped() {
        let mut headers = HeaderMap::new();
        headers.append(
            http::header::COOKIE,
            "a=1; _sigra_session=x".parse().unwrap(),
        );
        let values = |headers: &HeaderMap, name: &'static str| -> Vec<String> {
            cookie_values(headers, name).map(str::to_owned).collect()
        };
        assert_eq!(values(&headers, "_sigra_session"), ["x"]);
        headers.append(http::header::COOKIE, "_sigra_session=y".parse().unwrap());
        assert_eq!(values(&headers, "_sigra_session"), ["x", "y"]);
        assert_eq!(values(&headers, "a"), ["1"]);

        // Non-ASCII bytes, a pair without `=`, an empty name: only that pair goes.
        let raw = b"junk=\xff\xfe; noequals; =v; \t_sigra_session = \"z\" ;b=caf\xc3\xa9; c=2";
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::COOKIE,
            http::HeaderValue::from_bytes(raw).unwrap(),
        );
        assert_eq!(values(&headers, "_sigra_session"), ["z"]);
        assert_eq!(values(&headers, "c"), ["2"]);
        assert!(values(&headers, "junk").is_empty());
        assert!(values(&headers, "b").is_empty());

        let many = vec!["_sigra_session=v"; 50].join("; ");
        let mut headers = HeaderMap::new();
        headers.insert(http::header::COOKIE, many.parse().unwrap());
        assert_eq!(
            values(&headers, "_sigra_session").len(),
            MAX_VALUES_PER_NAME
        );
    }
}
