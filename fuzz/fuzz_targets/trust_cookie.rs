//! Fuzzes trust-cookie verification: arbitrary cookies never panic and
//! never verify; a real cookie verifies only for its user and epoch, and not
//! after any change.
#![no_main]

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use sigra_core::ids::UserId;
use sigra_core::keys::{KeyRing, SecretKeyBase};
use sigra_core::trust;

const TTL: Duration = Duration::from_secs(30 * 24 * 3600);

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
    let user = UserId::new(now());
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        if let Ok(text) = std::str::from_utf8(rest) {
            assert!(trust::verify(&ring, text, user, 0, TTL, now()).is_err());
        }
        return;
    }
    let [position, flip, epoch @ ..] = rest else {
        return;
    };
    let epoch = i64::from(epoch.first().copied().unwrap_or(0));
    let cookie = trust::sign(&ring, user, epoch, TTL, now());
    assert_eq!(
        trust::verify(&ring, &cookie, user, epoch, TTL, now()),
        Ok(user)
    );
    assert!(trust::verify(&ring, &cookie, user, epoch + 1, TTL, now()).is_err());
    assert!(trust::verify(&ring, &cookie, UserId::new(now()), epoch, TTL, now()).is_err());
    let mut bytes = cookie.into_bytes();
    let at = usize::from(*position) * bytes.len() / 256;
    if *flip == 0 || at >= bytes.len() {
        return;
    }
    bytes[at] ^= flip;
    if let Ok(tampered) = String::from_utf8(bytes) {
        assert!(trust::verify(&ring, &tampered, user, epoch, TTL, now()).is_err());
    }
});
