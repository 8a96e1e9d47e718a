//! The CSRF and origin checks on state-changing requests.

use axum::body::Body;
use http::header;
use http::{Method, Request};
use http_body_util::{BodyExt, Limited};
use sigra_core::signing::constant_time_eq;

use crate::csrf::{CSRF_HEADER, form_csrf_matches};
use crate::rejection::{CsrfRejection, Forbidden, PayloadTooLarge};
use crate::sigra::Sigra;
use crate::state::RequestState;

/// The largest form body the CSRF check will read (64 KiB).
const MAX_FORM_BYTES: usize = 64 * 1024;

/// Whether `method` may change state (and so must pass [`check`]).
pub(super) fn is_state_changing(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// Whether `origin` (an `Origin` header) is this site: the configured public
/// origin, or the origin the request was addressed to (its `Host`), which
/// covers subdomains sharing a cookie domain. The scheme of the latter is
/// the one a trusted proxy reports in `X-Forwarded-Proto` (`proto`), else
/// https when cookies are Secure, else either.
fn origin_allowed(sigra: &Sigra, origin: &str, host: Option<&str>, proto: Option<&str>) -> bool {
    if origin == sigra.public_origin() {
        return true;
    }
    let Some(host) = host else { return false };
    if let Some(scheme) = proto {
        return origin == format!("{scheme}://{host}");
    }
    let secure = sigra.auth().config().secure_cookies();
    let expected = if secure {
        format!("https://{host}")
    } else {
        format!("http://{host}")
    };
    origin == expected || (!secure && origin == format!("https://{host}"))
}

/// Refuses a state-changing request unless it comes from this site and
/// carries the session's CSRF token (form field `_csrf_token` or header
/// `x-csrf-token`). The body is read (up to 64 KiB) and put back. `proto`
/// is the scheme a trusted proxy reported.
pub(super) async fn check(
    sigra: &Sigra,
    state: &RequestState,
    request: Request<Body>,
    proto: Option<&str>,
) -> Result<Request<Body>, CsrfRejection> {
    let headers = request.headers();
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        let allowed = origin
            .to_str()
            .is_ok_and(|o| origin_allowed(sigra, o, host, proto));
        if !allowed {
            return Err(Forbidden::CrossSite.into());
        }
    }
    let expected = {
        let inner = state.lock();
        inner.persisted.then(|| inner.cookie.csrf.clone())
    };
    let Some(expected) = expected else {
        return Err(Forbidden::NoSession.into());
    };
    if let Some(given) = headers.get(CSRF_HEADER) {
        return if constant_time_eq(given.as_bytes(), expected.as_bytes()) {
            Ok(request)
        } else {
            Err(Forbidden::StaleForm.into())
        };
    }
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(Forbidden::StaleForm.into());
    }
    let (parts, body) = request.into_parts();
    let bytes = match Limited::new(body, MAX_FORM_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Err(PayloadTooLarge.into()),
    };
    if !form_csrf_matches(&bytes, &expected) {
        return Err(Forbidden::StaleForm.into());
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}
