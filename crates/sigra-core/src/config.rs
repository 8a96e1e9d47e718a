//! Configuration (being written: owned by the config helper).
use thiserror::Error;
/// Placeholder list of configuration problems.
#[derive(Debug, Error)]
#[error("config")]
pub struct ConfigErrors;
/// Placeholder.
#[derive(Debug)]
pub struct Config {
    /// current secret
    pub secret_key_base: crate::keys::SecretKeyBase,
    /// old secret
    pub secret_key_base_old: Option<crate::keys::SecretKeyBase>,
}
