//! MFA primitives (being written: owned by the password/MFA helper).
use thiserror::Error;
/// Placeholder.
#[derive(Debug, Error)]
#[error("mfa")]
pub struct MfaError;
