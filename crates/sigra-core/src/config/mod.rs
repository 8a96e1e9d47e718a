//! Sigra's configuration: the [`Config`] struct, its builder, and parsing from the environment.
//!
//! Every setting is declared once, in [`variables`]'s table, grouped by
//! section ([`SecretSettings`], [`EndpointSettings`], [`SessionSettings`],
//! …); the struct fields, the [`ConfigBuilder`] setters, the environment
//! reading, the defaults, the redacted `Debug` and the list [`ENV_VARS`]
//! follow from it. Every setting has a default that is safe for
//! development, and every setting can come from an environment variable.
//! Both ways of building a [`Config`] ([`Config::builder`] and
//! [`Config::from_env_map`]) end in the same validation, which reports
//! **every** problem at once in [`ConfigErrors`] rather than stopping at the
//! first, and collects non-fatal [`ConfigWarning`]s with their fix.
//!
//! Durations are written as a whole number and a unit, without spaces:
//! `250ms`, `90s`, `30m`, `24h`, `60d` ([`parse_duration`],
//! [`format_duration`]). Rate limits are `COUNT/PERIOD`, e.g. `10/1m`
//! ([`RateLimit`](crate::rate_limit::RateLimit)).
//!
//! No error message, warning or `Debug` output contains a secret: for
//! `SECRET_KEY_BASE` only the length is reported, for keys and URLs with
//! credentials nothing of the value is.
//!
//! Variables that only an application binary reads (the database URL, the
//! SMTP URL, the port it listens on) are not here: `sigra-cli` reads them
//! itself, with [`parse`]'s parsers and [`ConfigError`]s of the same form.
//!
//! # Example
//!
//! ```
//! use std::collections::HashMap;
//! use std::time::Duration;
//! use sigra_core::config::{Config, Environment};
//!
//! let vars = HashMap::from([
//!     ("SIGRA_ENV".to_owned(), "test".to_owned()),
//!     ("SIGRA_IDLE_TIMEOUT".to_owned(), "15m".to_owned()),
//!     ("SIGRA_RATE_LIMIT_LOGIN".to_owned(), "5/1m".to_owned()),
//! ]);
//! let config = Config::from_env_map(&vars)?;
//! assert_eq!(config.env, Environment::Test);
//! assert_eq!(config.session.idle_timeout, Duration::from_secs(15 * 60));
//! assert_eq!(config.rate_limits.login.to_string(), "5/1m");
//! assert_eq!(config.endpoints.public_url.as_str(), "http://localhost:4000/");
//!
//! // Every problem is reported, each naming its variable.
//! let bad = HashMap::from([
//!     ("SIGRA_ENV".to_owned(), "prod".to_owned()),
//!     ("SIGRA_IDLE_TIMEOUT".to_owned(), "abc".to_owned()),
//! ]);
//! let errors = Config::from_env_map(&bad).unwrap_err();
//! assert_eq!(errors.problems().len(), 3); // SECRET_KEY_BASE, PUBLIC_URL, SIGRA_IDLE_TIMEOUT
//! assert!(errors.to_string().contains(
//!     r#"SIGRA_IDLE_TIMEOUT: expected a duration like 250ms, 90s, 30m, 24h or 60d, got "abc""#
//! ));
//! # Ok::<(), sigra_core::config::ConfigErrors>(())
//! ```

mod builder;
mod env;
mod environment;
mod error;
pub mod parse;
mod redact;
mod rules;
mod table;
mod validate;
pub mod variables;

#[cfg(test)]
mod tests;

pub use env::EnvOptions;
pub use environment::{Environment, ParseEnvironmentError};
pub use error::{ConfigError, ConfigErrorKind, ConfigErrors, ConfigWarning, SUBDOMAIN_GUIDE};
pub use redact::redacted_url;
pub use rules::{MAX_BACKUP_CODES, MIN_HSTS_MAX_AGE};
pub use table::Variable;
pub use variables::{
    AccountSettings, Config, ConfigBuilder, DEFAULT_HSTS, ENV_VARS, EmailTokenSettings,
    EndpointSettings, MfaSettings, PasswordSettings, RetentionSettings, SecretSettings,
    SessionCacheSettings, SessionSettings,
};

pub use crate::duration::{MAX_DURATION, ParseDurationError, format_duration, parse_duration};

use crate::encryption::FieldCipher;
use crate::keys::KeyRing;

impl Config {
    /// A builder for `env` with every default; see [`ConfigBuilder`].
    pub fn builder(env: Environment) -> ConfigBuilder {
        ConfigBuilder::new(env)
    }

    /// Warnings found while building: settings that work but likely need attention.
    pub fn warnings(&self) -> &[ConfigWarning] {
        &self.warnings
    }

    /// Whether cookies get the `Secure` attribute: always in prod, and whenever `PUBLIC_URL` is https.
    pub fn secure_cookies(&self) -> bool {
        self.env.is_prod() || self.endpoints.public_url.scheme() == "https"
    }

    /// The host of `PUBLIC_URL`, e.g. `myapp.com` (IPv6 addresses in brackets).
    pub fn public_host(&self) -> &str {
        self.endpoints.public_url.host_str().unwrap_or_default()
    }

    /// The key ring over `SECRET_KEY_BASE` and `SECRET_KEY_BASE_OLD`.
    pub fn key_ring(&self) -> KeyRing {
        KeyRing::new(
            self.secrets.secret_key_base.clone(),
            self.secrets.secret_key_base_old.clone(),
        )
    }

    /// The cipher from `ENCRYPTION_KEY` and `ENCRYPTION_KEY_OLD`, or `None`
    /// when no `ENCRYPTION_KEY` is configured.
    pub fn field_cipher(&self) -> Option<FieldCipher> {
        self.secrets
            .encryption_key
            .clone()
            .map(|current| FieldCipher::new(current, self.secrets.encryption_keys_old.clone()))
    }
}
