//! token (being written).
/// Placeholder.
#[derive(Debug, thiserror::Error)]
#[error("token")]
pub struct TokenError;
