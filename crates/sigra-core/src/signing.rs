//! Signed messages: HMAC-SHA256 over a payload with an embedded issued-at and max-age.
//!
//! A signed value reads `base64url(payload).base64url(tag)`, where the payload
//! is a version byte, the issue time and the maximum age (both big-endian),
//! then the caller's data. The key is the purpose key from the
//! [`KeyRing`], so a value signed for one purpose never
//! verifies for another. Verification tries the current secret, then the old
//! one, and says which matched so callers can re-sign after a rotation.
//! Signed values are tamper-proof, **not** secret: never sign anything that
//! must stay confidential.
//!
//! ```
//! use std::time::Duration;
//! use chrono::{TimeDelta, TimeZone, Utc};
//! use sigra_core::keys::{KeyRing, SecretKeyBase};
//! use sigra_core::signing::{MessageSigner, SignatureError};
//!
//! let ring = KeyRing::new(SecretKeyBase::new(vec![7; 64])?, None);
//! let signer = MessageSigner::new(&ring, "example");
//! let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
//! let value = signer.sign(b"hello", now, Duration::from_secs(60));
//! assert_eq!(signer.verify(&value, now)?.data, b"hello");
//! let later = now + TimeDelta::seconds(61);
//! assert_eq!(signer.verify(&value, later).unwrap_err(), SignatureError::Expired);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use ring::hmac;
use subtle::ConstantTimeEq;
use thiserror::Error;

use crate::keys::{KeyRing, PurposeKeys};

/// Format version of the payload.
const VERSION: u8 = 1;
/// Bytes before the caller's data: version, issued-at, max-age.
const HEADER_LEN: usize = 1 + 8 + 8;
/// Values longer than this are refused before decoding (a cookie is at most 4 KiB).
pub const MAX_SIGNED_LEN: usize = 4096;
/// How far in the future an issue time may lie (clock skew between nodes).
const MAX_FUTURE_SKEW: TimeDelta = TimeDelta::seconds(60);

/// Why a signed value was refused. Never contains the value.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureError {
    /// Not in the `payload.tag` shape, not base64url, too long, or an unknown version.
    #[error("the signed value is malformed")]
    Malformed,
    /// The tag matches neither the current nor the old key.
    #[error("the signature does not verify")]
    BadSignature,
    /// The value is older than its maximum age.
    #[error("the signed value has expired")]
    Expired,
    /// The value claims to be issued further in the future than clock skew allows.
    #[error("the signed value was issued in the future")]
    IssuedInFuture,
}

/// A verified message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The signed data.
    pub data: Vec<u8>,
    /// When it was signed.
    pub issued_at: DateTime<Utc>,
    /// True when only `SECRET_KEY_BASE_OLD` verified it: re-sign it with the current key.
    pub signed_with_old_key: bool,
}

/// Signs and verifies values for one purpose.
#[derive(Debug, Clone)]
pub struct MessageSigner {
    keys: Arc<PurposeKeys>,
}

impl MessageSigner {
    /// A signer for `purpose`, with the ring's cached keys.
    pub fn new(ring: &KeyRing, purpose: &str) -> Self {
        Self {
            keys: ring.purpose(purpose),
        }
    }

    /// Signs `data`, valid from `now` for `max_age`.
    pub fn sign(&self, data: &[u8], now: DateTime<Utc>, max_age: Duration) -> String {
        let mut payload = Vec::with_capacity(HEADER_LEN + data.len());
        payload.push(VERSION);
        payload.extend_from_slice(&now.timestamp().to_be_bytes());
        payload.extend_from_slice(&max_age.as_secs().to_be_bytes());
        payload.extend_from_slice(data);
        let tag = hmac::sign(self.keys.current(), &payload);
        let mut out = URL_SAFE_NO_PAD.encode(&payload);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(tag.as_ref(), &mut out);
        out
    }

    /// Verifies `signed` at `now`: shape, signature (current key, then old),
    /// then age. The signature is checked before anything in the payload is
    /// trusted.
    pub fn verify(&self, signed: &str, now: DateTime<Utc>) -> Result<Verified, SignatureError> {
        if signed.len() > MAX_SIGNED_LEN {
            return Err(SignatureError::Malformed);
        }
        let (payload_b64, tag_b64) = signed.split_once('.').ok_or(SignatureError::Malformed)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload_b64)
            .map_err(|_| SignatureError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag_b64)
            .map_err(|_| SignatureError::Malformed)?;

        let mut matched = None;
        for (index, key) in self.keys.verification_keys().enumerate() {
            // `hmac::verify` compares in constant time.
            if hmac::verify(key, &payload, &tag).is_ok() {
                matched = Some(index);
                break;
            }
        }
        let index = matched.ok_or(SignatureError::BadSignature)?;

        let (header, data) = payload
            .split_at_checked(HEADER_LEN)
            .ok_or(SignatureError::Malformed)?;
        let (version, rest) = header.split_first().ok_or(SignatureError::Malformed)?;
        if *version != VERSION {
            return Err(SignatureError::Malformed);
        }
        let (issued, max_age) = rest.split_at(8);
        let issued = i64::from_be_bytes(issued.try_into().map_err(|_| SignatureError::Malformed)?);
        let max_age =
            u64::from_be_bytes(max_age.try_into().map_err(|_| SignatureError::Malformed)?);
        let issued_at = DateTime::from_timestamp(issued, 0).ok_or(SignatureError::Malformed)?;
        check_age(issued_at, max_age, now)?;
        Ok(Verified {
            data: data.to_vec(),
            issued_at,
            signed_with_old_key: index > 0,
        })
    }
}

/// Refuses a value issued more than `max_age_secs` before `now`, or too far after it.
pub(crate) fn check_age(
    issued_at: DateTime<Utc>,
    max_age_secs: u64,
    now: DateTime<Utc>,
) -> Result<(), SignatureError> {
    if issued_at > now + MAX_FUTURE_SKEW {
        return Err(SignatureError::IssuedInFuture);
    }
    let age = now.signed_duration_since(issued_at).num_seconds();
    // A negative age (small skew) is fine; an age beyond max-age is not.
    if u64::try_from(age).is_ok_and(|age| age > max_age_secs) {
        return Err(SignatureError::Expired);
    }
    Ok(())
}

/// Compares two byte strings in constant time (for equal lengths).
///
/// The length is not secret: unequal lengths return `false` at once.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SecretKeyBase;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn ring(byte: u8, old: Option<u8>) -> KeyRing {
        KeyRing::new(
            SecretKeyBase::new(vec![byte; 64]).unwrap(),
            old.map(|b| SecretKeyBase::new(vec![b; 64]).unwrap()),
        )
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
    }

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn round_trip_and_expiry_boundary() {
        let s = MessageSigner::new(&ring(1, None), "p");
        let v = s.sign(b"data", t0(), HOUR);
        let ok = s.verify(&v, t0() + TimeDelta::seconds(3600)).unwrap();
        assert_eq!(ok.data, b"data");
        assert_eq!(ok.issued_at, t0());
        assert!(!ok.signed_with_old_key);
        assert_eq!(
            s.verify(&v, t0() + TimeDelta::seconds(3601)),
            Err(SignatureError::Expired)
        );
    }

    #[test]
    fn future_issue_times_are_refused_beyond_skew() {
        let s = MessageSigner::new(&ring(1, None), "p");
        let v = s.sign(b"d", t0() + TimeDelta::seconds(61), HOUR);
        assert_eq!(s.verify(&v, t0()), Err(SignatureError::IssuedInFuture));
        let v = s.sign(b"d", t0() + TimeDelta::seconds(59), HOUR);
        assert!(s.verify(&v, t0()).is_ok());
    }

    #[test]
    fn purposes_do_not_cross() {
        let r = ring(1, None);
        let v = MessageSigner::new(&r, "a").sign(b"d", t0(), HOUR);
        assert_eq!(
            MessageSigner::new(&r, "b").verify(&v, t0()),
            Err(SignatureError::BadSignature)
        );
    }

    #[test]
    fn rotation_verifies_old_values_and_flags_them() {
        let before = MessageSigner::new(&ring(1, None), "p");
        let old_value = before.sign(b"d", t0(), HOUR);
        let rotated = MessageSigner::new(&ring(2, Some(1)), "p");
        let verified = rotated.verify(&old_value, t0()).unwrap();
        assert!(verified.signed_with_old_key);
        let new_value = rotated.sign(b"d", t0(), HOUR);
        assert!(
            !rotated
                .verify(&new_value, t0())
                .unwrap()
                .signed_with_old_key
        );
        let old_removed = MessageSigner::new(&ring(2, None), "p");
        assert_eq!(
            old_removed.verify(&old_value, t0()),
            Err(SignatureError::BadSignature)
        );
    }

    #[test]
    fn malformed_shapes_are_refused() {
        let s = MessageSigner::new(&ring(1, None), "p");
        for bad in ["", ".", "abc", "a.b.c", "!!!.???"] {
            assert!(s.verify(bad, t0()).is_err(), "{bad}");
        }
        assert_eq!(
            s.verify(&"a".repeat(MAX_SIGNED_LEN + 1), t0()),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn constant_time_eq_matches_plain_eq() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    proptest! {
        #[test]
        fn any_single_byte_mutation_is_rejected(pos in 0usize..512, flip in 1u8..=255, data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let s = MessageSigner::new(&ring(1, Some(9)), "p");
            let v = s.sign(&data, t0(), HOUR);
            let mut bytes = v.clone().into_bytes();
            let pos = pos % bytes.len();
            bytes[pos] ^= flip;
            if let Ok(mutated) = String::from_utf8(bytes) {
                prop_assert!(s.verify(&mutated, t0()).is_err());
            }
        }

        #[test]
        fn any_truncation_is_rejected(cut in 0usize..512) {
            let s = MessageSigner::new(&ring(1, None), "p");
            let v = s.sign(b"some data", t0(), HOUR);
            let cut = cut % v.len();
            prop_assert!(s.verify(&v[..cut], t0()).is_err());
        }

        #[test]
        fn verify_never_panics(input in ".{0,300}") {
            let s = MessageSigner::new(&ring(1, None), "p");
            let _ = s.verify(&input, t0());
        }
    }
}
