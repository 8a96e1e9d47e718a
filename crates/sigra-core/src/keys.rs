//! `SECRET_KEY_BASE` and the per-purpose keys derived from it with HKDF-SHA256.
//!
//! One secret feeds every signing purpose. Each purpose (`"sigra-session"`,
//! `"sigra-mfa-trust"`, …) gets its own HMAC-SHA256 key, derived once with
//! HKDF and cached, so a signature made for one purpose never verifies for
//! another. Rotation keeps the previous secret (`SECRET_KEY_BASE_OLD`) for
//! verification only.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};

use ring::{hkdf, hmac};
use secrecy::{ExposeSecret, SecretSlice};
use thiserror::Error;

use crate::random::{self, RandomError};

/// The minimum length of `SECRET_KEY_BASE`, in bytes.
pub const MIN_SECRET_KEY_BASE_LEN: usize = 64;

/// A fixed, public salt for HKDF: it separates Sigra's derivations from any
/// other use of the same secret. Per-purpose separation comes from the `info`.
const HKDF_SALT: &[u8] = b"sigra-rs/key-derivation/v1";

/// Why a key could not be built.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// The secret is shorter than [`MIN_SECRET_KEY_BASE_LEN`] bytes.
    #[error(
        "SECRET_KEY_BASE must be at least {MIN_SECRET_KEY_BASE_LEN} bytes, got {len}; generate one with `sigra gen-secret`"
    )]
    TooShort {
        /// The length that was given.
        len: usize,
    },
    /// Randomness was unavailable while generating a secret.
    #[error(transparent)]
    Random(#[from] RandomError),
}

/// The application's root secret. Zeroized on drop; `Debug` prints nothing of it.
#[derive(Clone)]
pub struct SecretKeyBase(SecretSlice<u8>);

impl SecretKeyBase {
    /// Wraps `bytes`, refusing anything shorter than 64 bytes.
    pub fn new(bytes: Vec<u8>) -> Result<Self, KeyError> {
        if bytes.len() < MIN_SECRET_KEY_BASE_LEN {
            // `bytes` is dropped here; wrap it first so it is zeroized.
            let len = bytes.len();
            drop(SecretSlice::from(bytes));
            return Err(KeyError::TooShort { len });
        }
        Ok(Self(SecretSlice::from(bytes)))
    }

    /// Generates a fresh random 64-byte secret, for dev and test setups where
    /// none is configured (sessions then do not survive a restart).
    pub fn generate() -> Result<Self, KeyError> {
        Ok(Self(SecretSlice::from(random::bytes::<64>()?.to_vec())))
    }

    /// Generates a new secret suitable for the `SECRET_KEY_BASE` variable:
    /// 64 random bytes as unpadded base64url (86 printable characters).
    pub fn generate_printable() -> Result<secrecy::SecretString, KeyError> {
        use base64::Engine as _;
        let raw = zeroize::Zeroizing::new(random::bytes::<64>()?);
        Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(raw.as_slice())
            .into())
    }

    fn expose(&self) -> &[u8] {
        self.0.expose_secret()
    }
}

impl fmt::Debug for SecretKeyBase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKeyBase([REDACTED])")
    }
}

/// The HMAC keys for one purpose: the current one, and the previous one during rotation.
#[derive(Clone)]
pub struct PurposeKeys {
    current: hmac::Key,
    old: Option<hmac::Key>,
}

impl PurposeKeys {
    /// The key new signatures are made with.
    pub fn current(&self) -> &hmac::Key {
        &self.current
    }

    /// Keys to try when verifying, current first.
    pub fn verification_keys(&self) -> impl Iterator<Item = &hmac::Key> {
        std::iter::once(&self.current).chain(self.old.as_ref())
    }
}

impl fmt::Debug for PurposeKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PurposeKeys")
            .field("current", &"[REDACTED]")
            .field("old", &self.old.as_ref().map(|_| "[REDACTED]"))
            .finish()
    }
}

/// Derives and caches per-purpose keys from the current and old secrets.
///
/// Cheap to clone (an `Arc` inside); share one per application.
#[derive(Clone)]
pub struct KeyRing {
    inner: Arc<KeyRingInner>,
}

struct KeyRingInner {
    current: SecretKeyBase,
    old: Option<SecretKeyBase>,
    cache: RwLock<HashMap<String, Arc<PurposeKeys>>>,
}

impl KeyRing {
    /// A key ring over `current` and, during rotation, `old`.
    pub fn new(current: SecretKeyBase, old: Option<SecretKeyBase>) -> Self {
        Self {
            inner: Arc::new(KeyRingInner {
                current,
                old,
                cache: RwLock::new(HashMap::new()),
            }),
        }
    }

    /// The keys for `purpose`, derived on first use and cached afterwards.
    pub fn purpose(&self, purpose: &str) -> Arc<PurposeKeys> {
        if let Ok(cache) = self.inner.cache.read()
            && let Some(keys) = cache.get(purpose)
        {
            return Arc::clone(keys);
        }
        let keys = Arc::new(PurposeKeys {
            current: derive_hmac_key(&self.inner.current, purpose),
            old: self
                .inner
                .old
                .as_ref()
                .map(|old| derive_hmac_key(old, purpose)),
        });
        // A poisoned lock only means another thread panicked mid-insert; the
        // derived keys are still correct, so we simply skip caching then.
        if let Ok(mut cache) = self.inner.cache.write() {
            cache
                .entry(purpose.to_owned())
                .or_insert_with(|| Arc::clone(&keys));
        }
        keys
    }

    /// 32 bytes derived for `purpose` from the current secret (HKDF-SHA256),
    /// for keys that are not HMAC keys (e.g. a dev-only encryption key).
    pub fn derive_bytes(&self, purpose: &str) -> zeroize::Zeroizing<[u8; 32]> {
        struct Len32;
        impl hkdf::KeyType for Len32 {
            fn len(&self) -> usize {
                32
            }
        }
        let mut out = zeroize::Zeroizing::new([0u8; 32]);
        let prk =
            hkdf::Salt::new(hkdf::HKDF_SHA256, HKDF_SALT).extract(self.inner.current.expose());
        let info = [purpose.as_bytes()];
        // Expanding 32 bytes from SHA-256 cannot fail (the limit is 255 × 32).
        if let Ok(okm) = prk.expand(&info, Len32) {
            let _ = okm.fill(out.as_mut_slice());
        }
        out
    }

    /// Whether an old secret is configured (rotation in progress).
    pub fn has_old(&self) -> bool {
        self.inner.old.is_some()
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("current", &"[REDACTED]")
            .field("old", &self.inner.old.as_ref().map(|_| "[REDACTED]"))
            .finish()
    }
}

/// HKDF-SHA256(salt = fixed, ikm = secret, info = purpose) → HMAC-SHA256 key.
fn derive_hmac_key(secret: &SecretKeyBase, purpose: &str) -> hmac::Key {
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, HKDF_SALT).extract(secret.expose());
    let info = [purpose.as_bytes()];
    match prk.expand(&info, hmac::HMAC_SHA256) {
        Ok(okm) => hmac::Key::from(okm),
        // `expand` fails only when the requested length exceeds 255 hash
        // lengths; HMAC_SHA256 asks for 32 bytes, so this arm is unreachable.
        // We still avoid a panic and fall back to a key over the PRK input.
        Err(_) => hmac::Key::new(hmac::HMAC_SHA256, secret.expose()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(byte: u8) -> SecretKeyBase {
        SecretKeyBase::new(vec![byte; 64]).unwrap()
    }

    #[test]
    fn short_secret_is_refused_with_its_length() {
        let err = SecretKeyBase::new(vec![1; 63]).unwrap_err();
        assert_eq!(err, KeyError::TooShort { len: 63 });
        assert!(err.to_string().contains("sigra gen-secret"));
    }

    #[test]
    fn purposes_get_different_keys_and_are_cached() {
        let ring = KeyRing::new(secret(7), None);
        let a = ring.purpose("a");
        let b = ring.purpose("b");
        let tag_a = hmac::sign(a.current(), b"msg");
        let tag_b = hmac::sign(b.current(), b"msg");
        assert_ne!(tag_a.as_ref(), tag_b.as_ref());
        assert!(
            Arc::ptr_eq(&a, &ring.purpose("a")),
            "second lookup hits the cache"
        );
    }

    #[test]
    fn derivation_is_deterministic_across_rings() {
        let one = KeyRing::new(secret(7), None).purpose("p");
        let two = KeyRing::new(secret(7), None).purpose("p");
        assert_eq!(
            hmac::sign(one.current(), b"x").as_ref(),
            hmac::sign(two.current(), b"x").as_ref()
        );
    }

    #[test]
    fn old_key_is_offered_for_verification_after_current() {
        let ring = KeyRing::new(secret(1), Some(secret(2)));
        assert!(ring.has_old());
        assert_eq!(ring.purpose("p").verification_keys().count(), 2);
        let plain = KeyRing::new(secret(1), None);
        assert_eq!(plain.purpose("p").verification_keys().count(), 1);
    }

    #[test]
    fn debug_never_prints_secret_material() {
        let ring = KeyRing::new(secret(0x41), Some(secret(0x42)));
        let printed = format!("{ring:?} {:?} {:?}", secret(0x41), ring.purpose("p"));
        assert!(!printed.contains("65"), "{printed}");
        assert!(!printed.contains("AAAA"), "{printed}");
        assert!(printed.contains("REDACTED"));
    }

    #[test]
    fn generated_secrets_are_long_enough_and_distinct() {
        let a = SecretKeyBase::generate_printable().unwrap();
        let b = SecretKeyBase::generate_printable().unwrap();
        assert_eq!(a.expose_secret().len(), 86);
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert!(SecretKeyBase::generate().is_ok());
    }
}
