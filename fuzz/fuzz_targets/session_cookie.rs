//! Fuzzes how a request's session and remember-me cookies are read and
//! decoded: arbitrary `Cookie` headers never panic and never decode; a
//! payload signed with the session key (so the JSON behind the signature is
//! what gets fuzzed) never panics either.
#![no_main]

use chrono::{DateTime, TimeZone, Utc};
use http::{HeaderMap, HeaderValue, header::COOKIE};
use libfuzzer_sys::fuzz_target;
use sigra_core::keys::{KeyRing, SecretKeyBase};
use sigra_web::fuzz::{decode_request_cookies, session_signer};

fn ring() -> KeyRing {
    KeyRing::new(
        SecretKeyBase::new(vec![7; 64]).expect("a 64-byte key"),
        None,
    )
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0)
        .single()
        .expect("a valid date")
}

fuzz_target!(|data: &[u8]| {
    let ring = ring();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut headers = HeaderMap::new();
    if mode % 2 == 0 {
        // A raw Cookie header (possibly several, split at NUL).
        for part in rest.split(|b| *b == 0) {
            if let Ok(value) = HeaderValue::from_bytes(part) {
                headers.append(COOKIE, value);
            }
        }
        let decoded = decode_request_cookies(&ring, &headers, now());
        assert!(
            !decoded.session && !decoded.remember,
            "an unsigned cookie decoded"
        );
        return;
    }
    // The rest is the JSON inside a genuinely signed session cookie.
    let signed = session_signer(&ring).sign(rest, now(), std::time::Duration::from_secs(3600));
    let Ok(value) = HeaderValue::from_str(&format!("_sigra_session={signed}")) else {
        return;
    };
    headers.append(COOKIE, value);
    let _ = decode_request_cookies(&ring, &headers, now());
});
