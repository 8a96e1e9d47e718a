//! [`ConfigBuilder`]: a [`Config`] built in code, starting from the defaults of an [`Environment`].
//!
//! The builder and one setter per setting come from the table in
//! [`variables`](super::variables); this file holds what spans several
//! settings: the start, the rate-limit setters and `build`.

use super::environment::Environment;
use super::error::ConfigErrors;
use super::validate::validate;
use super::variables::{Config, ConfigBuilder, Draft};
use crate::rate_limit::{RateLimit, RateLimitAction, RateLimits};

/// The port the default `PUBLIC_URL` points at when nothing else is said.
pub(crate) const DEFAULT_LOCAL_PORT: u16 = 4000;

impl std::fmt::Debug for ConfigBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigBuilder")
            .field("env", &self.env)
            .field("local_port", &self.local_port)
            .field("draft", &self.draft)
            .field("problems", &self.problems)
            .finish()
    }
}

impl ConfigBuilder {
    pub(crate) fn new(env: Environment) -> Self {
        Self {
            env,
            local_port: DEFAULT_LOCAL_PORT,
            draft: Draft::default(),
            problems: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// The port the default `PUBLIC_URL` (`http://localhost:<port>`, outside
    /// prod) points at; 4000 unless told. Not a setting of its own: the
    /// application that listens (e.g. `sigra-cli` and its `PORT`) says it.
    pub fn local_port(mut self, port: u16) -> Self {
        self.local_port = port;
        self
    }

    /// The limit for one action (`SIGRA_RATE_LIMIT_<ACTION>`).
    pub fn rate_limit(self, action: RateLimitAction, limit: RateLimit) -> Self {
        match action {
            RateLimitAction::Login => self.rate_limit_login(limit),
            RateLimitAction::Register => self.rate_limit_register(limit),
            RateLimitAction::ResetPassword => self.rate_limit_reset_password(limit),
            RateLimitAction::ResendConfirmation => self.rate_limit_resend_confirmation(limit),
            RateLimitAction::Mfa => self.rate_limit_mfa(limit),
            RateLimitAction::ApiTokenCreate => self.rate_limit_api_token_create(limit),
        }
    }

    /// All rate limits at once (`SIGRA_RATE_LIMIT_*`).
    pub fn rate_limits(self, limits: RateLimits) -> Self {
        RateLimitAction::ALL
            .into_iter()
            .fold(self, |b, action| b.rate_limit(action, limits.get(action)))
    }

    /// Validates every setting and returns the [`Config`], or every problem at once.
    ///
    /// In dev and test a missing `SECRET_KEY_BASE` is generated (with a
    /// [`ConfigWarning::GeneratedSecretKeyBase`](super::ConfigWarning::GeneratedSecretKeyBase)); in prod it is an error,
    /// as is a missing or non-https `PUBLIC_URL`.
    pub fn build(self) -> Result<Config, ConfigErrors> {
        validate(self)
    }
}
