//! The security headers on every response.

use axum::response::Response;
use http::header::{self, HeaderValue};

use crate::sigra::Sigra;

/// Security headers on every response; `no-store` when the page is
/// personal; `Strict-Transport-Security` when [`Sigra::hsts`] says so (in
/// prod with an https `PUBLIC_URL`, unless `SIGRA_HSTS` is empty).
pub(super) fn secure_headers(sigra: &Sigra, mut response: Response, private: bool) -> Response {
    let headers = response.headers_mut();
    if let Some(hsts) = sigra.hsts() {
        // An app that sets its own on a route keeps it, as with the defaults below.
        if !headers.contains_key(header::STRICT_TRANSPORT_SECURITY) {
            headers.insert(header::STRICT_TRANSPORT_SECURITY, hsts.clone());
        }
    }
    let defaults: [(header::HeaderName, &'static str); 5] = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "strict-origin-when-cross-origin"),
        (
            header::HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ];
    for (name, value) in defaults {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    if private {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
