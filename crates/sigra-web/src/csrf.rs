//! The CSRF token on the wire: the form field and header that carry it, and
//! how a form body's token is compared. Shared by the pages (which put the
//! field in every form) and the layer (which checks it).

use sigra_core::signing::constant_time_eq;

/// The form field and header that carry the CSRF token.
pub const CSRF_FIELD: &str = "_csrf_token";
/// Header alternative to the form field, for scripts.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Whether a form body carries `expected` in its `_csrf_token` field: at
/// least one such field, and every one of them equal to `expected`, so a
/// smuggled second field cannot help.
pub(crate) fn form_csrf_matches(body: &[u8], expected: &str) -> bool {
    let mut matched = false;
    for (key, value) in form_urlencoded::parse(body) {
        if key == CSRF_FIELD {
            matched = constant_time_eq(value.as_bytes(), expected.as_bytes());
            if !matched {
                break;
            }
        }
    }
    matched
}
