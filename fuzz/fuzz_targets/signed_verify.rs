//! Fuzzes `MessageSigner::verify`: arbitrary values never panic and never
//! verify; a value the signer made verifies, and any change to it does not.
#![no_main]

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use sigra_core::keys::{KeyRing, SecretKeyBase};
use sigra_core::signing::MessageSigner;

fn ring() -> KeyRing {
    let current = SecretKeyBase::new(vec![7; 64]).expect("a 64-byte key");
    let old = SecretKeyBase::new(vec![9; 64]).expect("a 64-byte key");
    KeyRing::new(current, Some(old))
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0)
        .single()
        .expect("a valid date")
}

fuzz_target!(|data: &[u8]| {
    let signer = MessageSigner::new(&ring(), "fuzz");
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        // Arbitrary text: refused without a panic (forging a tag is not feasible).
        if let Ok(text) = std::str::from_utf8(rest) {
            assert!(signer.verify(text, now()).is_err());
        }
        return;
    }
    // Sign the rest, then flip one byte of the signed value.
    let Some((&position, rest)) = rest.split_first() else {
        return;
    };
    let Some((&flip, payload)) = rest.split_first() else {
        return;
    };
    let signed = signer.sign(payload, now(), Duration::from_secs(3600));
    let verified = signer
        .verify(&signed, now())
        .expect("a fresh value verifies");
    assert_eq!(verified.data, payload);
    assert!(!verified.signed_with_old_key);
    let mut bytes = signed.into_bytes();
    let at = usize::from(position) * bytes.len() / 256;
    if flip == 0 || at >= bytes.len() {
        return;
    }
    bytes[at] ^= flip;
    if let Ok(tampered) = String::from_utf8(bytes) {
        assert!(
            signer.verify(&tampered, now()).is_err(),
            "a tampered value verified"
        );
    }
});
