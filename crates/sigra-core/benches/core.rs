//! Criterion benchmarks for sigra-core's per-request primitives.
//!
//! Run with `cargo xtask bench` (results go to `docs/benchmarks.md`).
//! Targets on the 2-core CI machine: trust-cookie verify and token hash each
//! under 2 µs.

#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use secrecy::ExposeSecret;
use sigra_core::ids::UserId;
use sigra_core::keys::{KeyRing, SecretKeyBase};
use sigra_core::signing::MessageSigner;
use sigra_core::token::RawToken;
use sigra_core::trust;

fn benches(c: &mut Criterion) {
    let now = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap();
    let ring = KeyRing::new(SecretKeyBase::new(vec![1; 64]).unwrap(), None);
    let rotated = KeyRing::new(
        SecretKeyBase::new(vec![2; 64]).unwrap(),
        Some(SecretKeyBase::new(vec![1; 64]).unwrap()),
    );
    let user = UserId::new(now);
    let ttl = Duration::from_secs(30 * 24 * 3600);

    c.bench_function("token/generate+hash", |b| {
        b.iter(|| black_box(RawToken::generate().unwrap().hash()))
    });
    let encoded = RawToken::generate().unwrap().encode();
    c.bench_function("token/decode+hash", |b| {
        b.iter(|| {
            black_box(
                RawToken::decode(black_box(encoded.expose_secret()))
                    .unwrap()
                    .hash(),
            )
        })
    });

    c.bench_function("trust/sign", |b| {
        b.iter(|| black_box(trust::sign(&ring, user, 7, ttl, now)))
    });
    let cookie = trust::sign(&ring, user, 7, ttl, now);
    c.bench_function("trust/verify", |b| {
        b.iter(|| black_box(trust::verify(&ring, black_box(&cookie), user, 7, ttl, now).unwrap()))
    });

    let old_signed = MessageSigner::new(&ring, "sigra-session").sign(&[9u8; 64], now, ttl);
    let signer = MessageSigner::new(&rotated, "sigra-session");
    c.bench_function("message/verify_with_old_key", |b| {
        b.iter(|| {
            let v = signer.verify(black_box(&old_signed), now).unwrap();
            assert!(v.signed_with_old_key);
            black_box(v)
        })
    });
}

criterion_group!(core, benches);
criterion_main!(core);
