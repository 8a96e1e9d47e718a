//! Field encryption at rest: AES-256-GCM with random nonces and a key-id prefix.
//!
//! Columns such as TOTP secrets are stored as
//! `sigra1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`. The key id (eight
//! hex characters derived from the key) says which key sealed the value, so
//! values sealed with `ENCRYPTION_KEY_OLD` still open after a rotation, and
//! [`FieldCipher::is_current_key`] lets a re-encrypt task find stale rows
//! without decrypting anything.
//!
//! Every call takes associated data (`aad`), typically the table, column and
//! row owner, so a ciphertext copied into another user's row fails to open.
//!
//! ```
//! use sigra_core::encryption::{EncryptionKey, FieldCipher};
//!
//! let key = EncryptionKey::from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")?;
//! let cipher = FieldCipher::new(key, Vec::new());
//! let sealed = cipher.encrypt(b"JBSWY3DPEHPK3PXP", b"user_mfa_credentials.secret:42")?;
//! let opened = cipher.decrypt(&sealed, b"user_mfa_credentials.secret:42")?;
//! assert_eq!(&opened[..], b"JBSWY3DPEHPK3PXP");
//! assert!(cipher.decrypt(&sealed, b"user_mfa_credentials.secret:43").is_err());
//! # Ok::<(), sigra_core::encryption::EncryptionError>(())
//! ```

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::digest;
use secrecy::{ExposeSecret, SecretBox};
use thiserror::Error;
use zeroize::Zeroizing;

use crate::random::{self, RandomError};

/// The format marker at the start of every sealed value.
const PREFIX: &str = "sigra1";

/// Why a key could not be loaded or a value could not be sealed or opened.
///
/// Messages never contain key material or plaintext.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncryptionError {
    /// The key is not base64 of exactly 32 bytes.
    #[error(
        "an encryption key must be base64 of exactly 32 bytes; generate one with `sigra gen-key`"
    )]
    InvalidKey,
    /// The stored value is not in the `sigra1:<key id>:<data>` format.
    #[error("the encrypted value is malformed")]
    Malformed,
    /// No configured key (current or old) has the value's key id.
    #[error(
        "the value was encrypted with key id {key_id}, which is neither ENCRYPTION_KEY nor in ENCRYPTION_KEY_OLD"
    )]
    UnknownKey {
        /// The key id found in the value (not secret).
        key_id: String,
    },
    /// Authentication failed: wrong key, wrong associated data or tampering.
    #[error("the encrypted value failed authentication (tampered, or sealed for another record)")]
    Tampered,
    /// Randomness for the nonce was unavailable.
    #[error(transparent)]
    Random(#[from] RandomError),
}

/// One AES-256-GCM key and its public key id. `Debug` shows only the id.
///
/// Cheap to clone: the key material is shared, and zeroized when the last
/// clone is dropped.
#[derive(Clone)]
pub struct EncryptionKey {
    id: String,
    raw: Arc<SecretBox<[u8; 32]>>,
    key: Arc<LessSafeKey>,
}

impl EncryptionKey {
    /// Loads a key from base64 (standard or URL-safe, padded or not) of exactly 32 bytes.
    pub fn from_base64(encoded: &str) -> Result<Self, EncryptionError> {
        let encoded = encoded.trim();
        let decoded = Zeroizing::new(
            [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
                .iter()
                .find_map(|engine| engine.decode(encoded).ok())
                .ok_or(EncryptionError::InvalidKey)?,
        );
        let bytes: [u8; 32] = decoded
            .as_slice()
            .try_into()
            .map_err(|_| EncryptionError::InvalidKey)?;
        Self::from_bytes(bytes)
    }

    /// Builds a key from 32 raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, EncryptionError> {
        let raw = SecretBox::new(Box::new(bytes));
        let unbound = UnboundKey::new(&AES_256_GCM, raw.expose_secret())
            .map_err(|_| EncryptionError::InvalidKey)?;
        Ok(Self {
            id: key_id(raw.expose_secret()),
            raw: Arc::new(raw),
            key: Arc::new(LessSafeKey::new(unbound)),
        })
    }

    /// Generates a random key (for `sigra gen-key` and tests).
    pub fn generate() -> Result<Self, EncryptionError> {
        Self::from_bytes(random::bytes::<32>()?)
    }

    /// The key as base64 (standard, padded), the format `ENCRYPTION_KEY` expects.
    pub fn to_base64(&self) -> secrecy::SecretString {
        STANDARD.encode(self.raw.expose_secret()).into()
    }

    /// The public key id: eight hex characters of a hash of the key.
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionKey")
            .field("id", &self.id)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

/// The public id of a key: hex of the first four bytes of SHA-256 over a
/// domain-separation label and the key. It reveals nothing usable about the key.
fn key_id(raw: &[u8; 32]) -> String {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(b"sigra-rs/encryption-key-id/v1\0");
    ctx.update(raw);
    let digest = ctx.finish();
    digest.as_ref()[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Seals and opens encrypted fields with the current key, and opens values
/// sealed with any old key.
#[derive(Clone, Debug)]
pub struct FieldCipher {
    current: EncryptionKey,
    old: Vec<EncryptionKey>,
}

impl FieldCipher {
    /// A cipher that seals with `current` and also opens values sealed with `old`.
    pub fn new(current: EncryptionKey, old: Vec<EncryptionKey>) -> Self {
        Self { current, old }
    }

    /// The id of the key new values are sealed with.
    pub fn current_key_id(&self) -> &str {
        self.current.id()
    }

    /// Seals `plaintext`, binding it to `aad` (e.g. `b"table.column:row-owner"`).
    pub fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> Result<String, EncryptionError> {
        let nonce = random::bytes::<NONCE_LEN>()?;
        // Reserve room for the tag up front so the plaintext is never copied
        // into a reallocation that would escape zeroization.
        let mut in_out =
            Zeroizing::new(Vec::with_capacity(plaintext.len() + AES_256_GCM.tag_len()));
        in_out.extend_from_slice(plaintext);
        self.current
            .key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut *in_out,
            )
            .map_err(|_| EncryptionError::Tampered)?;
        let mut sealed = Vec::with_capacity(NONCE_LEN + in_out.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&in_out);
        Ok(format!(
            "{PREFIX}:{}:{}",
            self.current.id(),
            URL_SAFE_NO_PAD.encode(sealed)
        ))
    }

    /// Opens a value sealed by [`FieldCipher::encrypt`] with the current or an old key.
    ///
    /// The plaintext is zeroized when dropped.
    pub fn decrypt(&self, stored: &str, aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, EncryptionError> {
        let (key_id, data) = parse(stored)?;
        let key = std::iter::once(&self.current)
            .chain(&self.old)
            .find(|k| k.id() == key_id)
            .ok_or_else(|| EncryptionError::UnknownKey {
                key_id: key_id.to_owned(),
            })?;
        let mut sealed = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(data)
                .map_err(|_| EncryptionError::Malformed)?,
        );
        if sealed.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(EncryptionError::Malformed);
        }
        let (nonce, body) = sealed.split_at_mut(NONCE_LEN);
        let nonce =
            Nonce::try_assume_unique_for_key(nonce).map_err(|_| EncryptionError::Malformed)?;
        let plain = key
            .key
            .open_in_place(nonce, Aad::from(aad), body)
            .map_err(|_| EncryptionError::Tampered)?;
        Ok(Zeroizing::new(plain.to_vec()))
    }

    /// Whether `stored` was sealed with the current key. A re-encrypt task
    /// rewrites the rows for which this is `false`. Malformed values are
    /// reported as not current, so the task surfaces them.
    pub fn is_current_key(&self, stored: &str) -> bool {
        parse(stored).is_ok_and(|(key_id, _)| key_id == self.current.id())
    }
}

/// Splits `sigra1:<key id>:<data>` into its key id and data.
fn parse(stored: &str) -> Result<(&str, &str), EncryptionError> {
    let mut parts = stored.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(PREFIX), Some(key_id), Some(data))
            if key_id.len() == 8 && key_id.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            Ok((key_id, data))
        }
        _ => Err(EncryptionError::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(byte: u8) -> EncryptionKey {
        EncryptionKey::from_bytes([byte; 32]).unwrap()
    }

    #[test]
    fn round_trip_binds_associated_data() {
        let cipher = FieldCipher::new(key(1), vec![]);
        let sealed = cipher.encrypt(b"secret", b"aad-1").unwrap();
        assert!(sealed.starts_with(&format!("sigra1:{}:", cipher.current_key_id())));
        assert_eq!(&cipher.decrypt(&sealed, b"aad-1").unwrap()[..], b"secret");
        assert_eq!(
            cipher.decrypt(&sealed, b"aad-2"),
            Err(EncryptionError::Tampered)
        );
    }

    #[test]
    fn nonces_are_random() {
        let cipher = FieldCipher::new(key(1), vec![]);
        assert_ne!(
            cipher.encrypt(b"x", b"").unwrap(),
            cipher.encrypt(b"x", b"").unwrap()
        );
    }

    #[test]
    fn old_keys_decrypt_and_are_reported_stale() {
        let old = FieldCipher::new(key(1), vec![]);
        let sealed = old.encrypt(b"secret", b"a").unwrap();
        let rotated = FieldCipher::new(key(2), vec![key(1)]);
        assert_eq!(&rotated.decrypt(&sealed, b"a").unwrap()[..], b"secret");
        assert!(!rotated.is_current_key(&sealed));
        let resealed = rotated.encrypt(b"secret", b"a").unwrap();
        assert!(rotated.is_current_key(&resealed));
        let without_old = FieldCipher::new(key(2), vec![]);
        assert!(matches!(
            without_old.decrypt(&sealed, b"a"),
            Err(EncryptionError::UnknownKey { .. })
        ));
    }

    #[test]
    fn keys_load_from_base64_of_32_bytes_only() {
        let k = EncryptionKey::generate().unwrap();
        let again = EncryptionKey::from_base64(k.to_base64().expose_secret()).unwrap();
        assert_eq!(k.id(), again.id());
        assert_eq!(
            EncryptionKey::from_base64("AAAA").unwrap_err(),
            EncryptionError::InvalidKey
        );
        assert_eq!(
            EncryptionKey::from_base64("not base64!").unwrap_err(),
            EncryptionError::InvalidKey
        );
        assert!(EncryptionKey::from_base64(&URL_SAFE_NO_PAD.encode([9u8; 32])).is_ok());
    }

    #[test]
    fn debug_shows_only_the_key_id() {
        let k = key(0xAB);
        let printed = format!("{k:?} {:?}", FieldCipher::new(k.clone(), vec![key(0xCD)]));
        assert!(printed.contains(k.id()));
        assert!(!printed.contains("171") && !printed.contains("AB, ") && !printed.contains("q6ur"));
    }

    #[test]
    fn malformed_values_are_refused() {
        let cipher = FieldCipher::new(key(1), vec![]);
        for bad in [
            "",
            "sigra1",
            "sigra1:zz:abc",
            "other:00000000:abc",
            "sigra1:00000000:!!",
        ] {
            assert!(cipher.decrypt(bad, b"").is_err(), "{bad}");
            assert!(!cipher.is_current_key(bad));
        }
        let id = cipher.current_key_id().to_owned();
        assert_eq!(
            cipher.decrypt(&format!("sigra1:{id}:AAAA"), b""),
            Err(EncryptionError::Malformed)
        );
    }

    proptest! {
        #[test]
        fn any_single_byte_mutation_is_refused(pos in 0usize..200, flip in 1u8..=255) {
            let cipher = FieldCipher::new(key(3), vec![]);
            let sealed = cipher.encrypt(b"0123456789abcdef", b"aad").unwrap();
            let mut bytes = sealed.into_bytes();
            let pos = pos % bytes.len();
            bytes[pos] ^= flip;
            if let Ok(mutated) = String::from_utf8(bytes) {
                prop_assert!(cipher.decrypt(&mutated, b"aad").is_err());
            }
        }

        #[test]
        fn decrypt_never_panics(input in ".*") {
            let cipher = FieldCipher::new(key(3), vec![]);
            let _ = cipher.decrypt(&input, b"");
            let _ = cipher.is_current_key(&input);
        }
    }
}
