//! trust (being written).
/// Placeholder.
#[derive(Debug, thiserror::Error)]
#[error("trust")]
pub struct TrustError;
