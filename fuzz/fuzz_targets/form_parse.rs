//! Fuzzes the CSRF check on form bodies: arbitrary bodies never panic, and
//! a body passes only when every `_csrf_token` field equals the session's
//! token (checked against an independent reading of the body).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigra_web::CSRF_FIELD;
use sigra_web::fuzz::form_csrf_matches;

const EXPECTED: &str = "q1Xr0sCqnIh0JYqk3gNlE9jVxXUOiq3Y4pGJm2gkmLo";

fuzz_target!(|data: &[u8]| {
    let matched = form_csrf_matches(data, EXPECTED);
    let values: Vec<String> = form_urlencoded::parse(data)
        .filter(|(key, _)| key == CSRF_FIELD)
        .map(|(_, value)| value.into_owned())
        .collect();
    let first_bad = values.iter().position(|v| v != EXPECTED);
    // Values after the first mismatch are never looked at; up to it all must match.
    let model = !values.is_empty() && first_bad.is_none();
    assert_eq!(matched, model);
});
