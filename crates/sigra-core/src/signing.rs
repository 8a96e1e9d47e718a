//! signing (being written).
/// Placeholder.
#[derive(Debug, thiserror::Error)]
#[error("sig")]
pub struct SignatureError;
