//! encryption (being written).
/// Placeholder.
#[derive(Debug, thiserror::Error)]
#[error("enc")]
pub struct EncryptionError;
