//! Opaque tokens: generation, strict decoding, hashing, and the contexts they serve.
//!
//! One rule everywhere: a token is 32 bytes from the system random generator;
//! users and cookies see it as unpadded base64url (43 characters); the
//! database stores only SHA-256 of the raw 32 bytes. Decoding is strict: any
//! other length, alphabet, padding or non-canonical final character is
//! refused *before* anything touches a store.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::digest;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use thiserror::Error;

use crate::random::{self, RandomError};

/// Raw token length in bytes.
pub const TOKEN_BYTES: usize = 32;
/// Encoded token length: 32 bytes as unpadded base64url.
pub const ENCODED_LEN: usize = 43;

/// Why a presented token was refused. Never contains the token itself.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenError {
    /// The value is not 43 characters long.
    #[error("a token must be {ENCODED_LEN} base64url characters, got {len}")]
    WrongLength {
        /// The length that was presented (in bytes).
        len: usize,
    },
    /// The value has characters outside the base64url alphabet, padding, or a
    /// non-canonical last character.
    #[error("a token must be canonical unpadded base64url")]
    NotCanonical,
}

/// A raw token as handed to a user once. Zeroized on drop; `Debug` is redacted.
pub struct RawToken(SecretBox<[u8; TOKEN_BYTES]>);

impl RawToken {
    /// A fresh token of 32 random bytes.
    pub fn generate() -> Result<Self, RandomError> {
        Ok(Self::from_bytes(random::bytes::<TOKEN_BYTES>()?))
    }

    /// Wraps 32 raw bytes (e.g. decoded from elsewhere).
    pub fn from_bytes(bytes: [u8; TOKEN_BYTES]) -> Self {
        Self(SecretBox::new(Box::new(bytes)))
    }

    /// Decodes a presented token strictly: exactly 43 characters of
    /// canonical, unpadded base64url. Anything else is refused without
    /// inspecting further.
    pub fn decode(encoded: &str) -> Result<Self, TokenError> {
        if encoded.len() != ENCODED_LEN {
            return Err(TokenError::WrongLength { len: encoded.len() });
        }
        let mut out = Box::new([0u8; TOKEN_BYTES]);
        // The engine refuses padding, foreign characters and non-zero
        // trailing bits, so exactly one string maps to each token.
        match URL_SAFE_NO_PAD.decode_slice(encoded.as_bytes(), out.as_mut_slice()) {
            Ok(TOKEN_BYTES) => Ok(Self(SecretBox::new(out))),
            _ => {
                zeroize::Zeroize::zeroize(out.as_mut_slice());
                Err(TokenError::NotCanonical)
            }
        }
    }

    /// The token as users and cookies see it: 43 base64url characters.
    pub fn encode(&self) -> SecretString {
        URL_SAFE_NO_PAD.encode(self.0.expose_secret()).into()
    }

    /// SHA-256 of the raw bytes: the only form that is ever stored.
    pub fn hash(&self) -> TokenHash {
        hash_bytes(self.0.expose_secret())
    }

    /// The raw bytes, for code that must sign or MAC them.
    pub fn expose_bytes(&self) -> &[u8; TOKEN_BYTES] {
        self.0.expose_secret()
    }
}

impl fmt::Debug for RawToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RawToken([REDACTED])")
    }
}

fn hash_bytes(bytes: &[u8]) -> TokenHash {
    let digest = digest::digest(&digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    TokenHash(out)
}

/// SHA-256 of a token's raw bytes, as stored in `token_hash` columns.
///
/// A hash cannot be turned back into a working token, so it may be stored and
/// compared freely; `Debug` still shows only a short prefix to keep logs tidy.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// Wraps 32 bytes read from storage.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Reads a hash from a slice; `None` unless it is exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// The 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Constant-time equality, for the rare place a hash is compared in memory.
    pub fn ct_eq(&self, other: &TokenHash) -> bool {
        crate::signing::constant_time_eq(&self.0, &other.0)
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TokenHash({:02x}{:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

/// What a token is for. Stored beside its hash; a token is only ever accepted
/// in the context it was issued for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenContext {
    /// A standard browser session.
    Session,
    /// A long-lived "remember me" session.
    RememberMe,
    /// A half-finished login waiting for the second factor.
    MfaPending,
    /// Email address confirmation.
    Confirm,
    /// Password reset.
    ResetPassword,
    /// Change of email address (sent to the new address).
    ChangeEmail,
    /// An API token; valid until revoked.
    Api,
    /// Cancels a scheduled account deletion (valid for the grace period).
    CancelDeletion,
}

impl TokenContext {
    /// Every context, for exhaustive tests and documentation.
    pub const ALL: [TokenContext; 8] = [
        Self::Session,
        Self::RememberMe,
        Self::MfaPending,
        Self::Confirm,
        Self::ResetPassword,
        Self::ChangeEmail,
        Self::Api,
        Self::CancelDeletion,
    ];

    /// The stored name of the context.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::RememberMe => "remember_me",
            Self::MfaPending => "mfa_pending",
            Self::Confirm => "confirm",
            Self::ResetPassword => "reset_password",
            Self::ChangeEmail => "change_email",
            Self::Api => "api",
            Self::CancelDeletion => "cancel_deletion",
        }
    }

    /// How long a token of this context stays valid after it was issued, or
    /// `None` for API tokens (valid until revoked). Standard sessions also
    /// expire after `idle_timeout` without use; that is checked separately.
    pub fn validity(self, config: &crate::config::Config) -> Option<Duration> {
        match self {
            Self::Session => Some(config.session.absolute_timeout),
            Self::RememberMe => Some(config.session.ttl),
            Self::MfaPending => Some(config.mfa.pending_ttl),
            Self::Confirm => Some(config.email_tokens.confirm_ttl),
            Self::ResetPassword => Some(config.email_tokens.reset_password_ttl),
            Self::ChangeEmail => Some(config.email_tokens.change_email_ttl),
            Self::Api => None,
            Self::CancelDeletion => Some(config.retention.deletion_grace_period),
        }
    }
}

impl fmt::Display for TokenContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown token context name.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("unknown token context {0:?}")]
pub struct UnknownContext(pub String);

impl FromStr for TokenContext {
    type Err = UnknownContext;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownContext(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_tokens_round_trip_and_hash_the_raw_bytes() {
        let token = RawToken::generate().unwrap();
        let encoded = token.encode();
        assert_eq!(encoded.expose_secret().len(), ENCODED_LEN);
        let decoded = RawToken::decode(encoded.expose_secret()).unwrap();
        assert_eq!(decoded.hash(), token.hash());
        let expected = digest::digest(&digest::SHA256, token.expose_bytes());
        assert_eq!(token.hash().as_bytes().as_slice(), expected.as_ref());
        assert_ne!(RawToken::generate().unwrap().hash(), token.hash());
    }

    #[test]
    fn known_vector() {
        // 32 zero bytes encode to 43 'A's; their SHA-256 is well known.
        let zero = RawToken::decode(&"A".repeat(43)).unwrap();
        assert_eq!(zero.expose_bytes(), &[0u8; 32]);
        assert_eq!(
            format!("{:?}", zero.hash()),
            "TokenHash(66687aad…)",
            "SHA-256 of 32 zero bytes starts 66687aad"
        );
    }

    #[test]
    fn non_canonical_forms_are_refused() {
        let good = "A".repeat(43);
        assert!(RawToken::decode(&good).is_ok());
        // The last character carries two unused bits; only A, E, I, … are canonical.
        assert_eq!(
            RawToken::decode(&format!("{}B", "A".repeat(42))).unwrap_err(),
            TokenError::NotCanonical
        );
        assert_eq!(
            RawToken::decode(&format!("{}=", "A".repeat(42))).unwrap_err(),
            TokenError::NotCanonical
        );
        assert_eq!(
            RawToken::decode(&format!("{}+", "A".repeat(42))).unwrap_err(),
            TokenError::NotCanonical
        );
        assert_eq!(
            RawToken::decode(&format!("{good}=")).unwrap_err(),
            TokenError::WrongLength { len: 44 }
        );
        assert_eq!(
            RawToken::decode("").unwrap_err(),
            TokenError::WrongLength { len: 0 }
        );
    }

    #[test]
    fn debug_and_errors_never_show_the_token() {
        let token = RawToken::generate().unwrap();
        let encoded = token.encode();
        let printed = format!("{token:?} {:?}", token.hash());
        assert!(!printed.contains(encoded.expose_secret()));
        let err = RawToken::decode(&format!("{}!", &encoded.expose_secret()[..42])).unwrap_err();
        assert!(!err.to_string().contains(&encoded.expose_secret()[..10]));
    }

    #[test]
    fn contexts_round_trip_by_name() {
        for c in TokenContext::ALL {
            assert_eq!(c.as_str().parse::<TokenContext>().unwrap(), c);
        }
        assert!("sessions".parse::<TokenContext>().is_err());
    }

    proptest! {
        #[test]
        fn decode_never_panics(input in ".{0,100}") {
            let _ = RawToken::decode(&input);
        }

        #[test]
        fn only_canonical_43_char_values_are_accepted(input in "[A-Za-z0-9_-]{43}") {
            match RawToken::decode(&input) {
                Ok(token) => {
                    let encoded = token.encode();
                    prop_assert_eq!(encoded.expose_secret(), input.as_str());
                }
                Err(e) => prop_assert_eq!(e, TokenError::NotCanonical),
            }
        }

        #[test]
        fn every_token_round_trips(bytes in any::<[u8; 32]>()) {
            let token = RawToken::from_bytes(bytes);
            let again = RawToken::decode(token.encode().expose_secret()).unwrap();
            prop_assert_eq!(again.expose_bytes(), &bytes);
        }
    }
}
