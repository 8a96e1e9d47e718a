//! Passwords (being written: owned by the password/MFA helper).
use thiserror::Error;
/// Placeholder.
#[derive(Debug, Error)]
#[error("password")]
pub struct PasswordError;
