//! [`Environment`]: dev, test or prod (`SIGRA_ENV`), which decides the defaults and how strict validation is.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use crate::duration::quoted;

/// Where the application runs. Prod turns on the strict checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Environment {
    /// Local development (the default): generated secret allowed, http allowed.
    #[default]
    Dev,
    /// Automated tests: as lenient as dev.
    Test,
    /// Production: `SECRET_KEY_BASE` and an https `PUBLIC_URL` are required, cookies are Secure.
    Prod,
}

impl Environment {
    /// The name used in `SIGRA_ENV`: `dev`, `test` or `prod`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Dev => "dev",
            Self::Test => "test",
            Self::Prod => "prod",
        }
    }

    /// Whether this is [`Environment::Prod`].
    pub const fn is_prod(self) -> bool {
        matches!(self, Self::Prod)
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `SIGRA_ENV` was not `dev`, `test` or `prod`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("expected dev, test or prod, got {}", quoted(.input))]
pub struct ParseEnvironmentError {
    /// The value that was given.
    pub input: String,
}

impl FromStr for Environment {
    type Err = ParseEnvironmentError;

    /// Accepts `dev`, `test` and `prod`, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::Dev, Self::Test, Self::Prod]
            .into_iter()
            .find(|env| env.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| ParseEnvironmentError {
                input: s.to_owned(),
            })
    }
}
