//! [`AuthError`]: what an [`Auth`](super::Auth) operation can fail with.

use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::config::ConfigErrors;
use crate::hash_pool::PoolError;
use crate::password::PasswordError;
use crate::random::RandomError;
use crate::store::StoreError;

/// What an `Auth` operation can fail with. Messages are safe to show to the
/// user; none contains an email, token or password.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The email address is not acceptable.
    #[error("enter a valid email address")]
    InvalidEmail,
    /// Registration with an email that already has an account.
    #[error("an account with this email already exists")]
    EmailTaken,
    /// The new password breaks the policy (too short or too long).
    #[error(transparent)]
    WeakPassword(PasswordError),
    /// Unknown email or wrong password: deliberately the same error.
    #[error("invalid email or password")]
    InvalidCredentials,
    /// Too many failed log-ins; try again after `until`.
    #[error("too many failed attempts; try again later")]
    Locked {
        /// When log-in is possible again.
        until: DateTime<Utc>,
    },
    /// The user does not exist (any more).
    #[error("no such user")]
    UserNotFound,
    /// Password hashing is saturated; shed load (answer 503).
    #[error(transparent)]
    Busy(PoolError),
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigErrors),
    /// The storage backend failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The password hasher failed (e.g. a stored hash is malformed).
    #[error("password verification failed")]
    Hasher(#[source] PasswordError),
    /// The system random generator failed.
    #[error(transparent)]
    Random(#[from] RandomError),
    /// A link's token is malformed, unknown, already used, or expired.
    #[error("this link is invalid or has expired")]
    InvalidToken,
    /// The operation needs MFA, which is not enabled (or enrolment is not started).
    #[error("two-factor authentication is not enabled")]
    MfaNotEnabled,
    /// MFA is already enabled; disable it before enrolling again.
    #[error("two-factor authentication is already enabled")]
    MfaAlreadyEnabled,
    /// The TOTP or backup code is wrong, reused or expired.
    #[error("the code is not valid")]
    InvalidCode,
    /// Too many wrong codes; try again after `until`.
    #[error("too many wrong codes; try again later")]
    MfaLocked {
        /// When codes are accepted again.
        until: DateTime<Utc>,
    },
    /// MFA secrets cannot be stored without `ENCRYPTION_KEY` in prod.
    #[error("ENCRYPTION_KEY is required to store MFA secrets; generate one with `sigra gen-key`")]
    EncryptionKeyMissing,
    /// A stored secret could not be decrypted (wrong key or tampering).
    #[error("a stored secret could not be decrypted")]
    Encryption(#[source] crate::encryption::EncryptionError),
    /// The account is scheduled for deletion; log-in is refused until it is cancelled.
    #[error("this account is scheduled for deletion; use the link we emailed you to cancel it")]
    DeletionScheduled,
    /// The mailer refused the message.
    #[error(transparent)]
    Mail(#[from] crate::mail::MailError),
}

impl From<PoolError> for AuthError {
    fn from(e: PoolError) -> Self {
        Self::Busy(e)
    }
}
