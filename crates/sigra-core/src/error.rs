//! The core error type: one enum that every module's error converts into.

use thiserror::Error as ThisError;

/// Everything that can go wrong in `sigra-core`.
///
/// Each variant keeps its module's error as its source, so nothing is
/// flattened to a string. No variant ever carries a secret, a raw token, a
/// password or a TOTP code.
#[derive(Debug, ThisError)]
#[non_exhaustive]
pub enum Error {
    /// A token was malformed (see [`crate::token::TokenError`]).
    #[error(transparent)]
    Token(#[from] crate::token::TokenError),
    /// A signed message did not verify.
    #[error(transparent)]
    Signature(#[from] crate::signing::SignatureError),
    /// A trust cookie did not verify.
    #[error(transparent)]
    Trust(#[from] crate::trust::TrustError),
    /// Field encryption or decryption failed.
    #[error(transparent)]
    Encryption(#[from] crate::encryption::EncryptionError),
    /// A key could not be built.
    #[error(transparent)]
    Key(#[from] crate::keys::KeyError),
    /// The configuration is invalid; every problem is listed.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigErrors),
    /// Password hashing, verification or policy failed.
    #[error(transparent)]
    Password(#[from] crate::password::PasswordError),
    /// A TOTP or backup-code operation failed.
    #[error(transparent)]
    Mfa(#[from] crate::mfa::MfaError),
    /// The operating system's random number generator failed.
    #[error(transparent)]
    Random(#[from] crate::random::RandomError),
}
