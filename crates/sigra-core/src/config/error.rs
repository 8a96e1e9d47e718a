//! What can be wrong with a configuration: [`ConfigError`] (one problem, naming its variable), [`ConfigErrors`] (all of them) and [`ConfigWarning`] (works, but probably is not what you want).

use std::fmt;

use ipnet::IpNet;
use thiserror::Error;

/// The guide an unset `COOKIE_DOMAIN` warning points to.
pub const SUBDOMAIN_GUIDE: &str = "docs/guides/subdomain-auth.md";

/// What kind of problem a [`ConfigError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// A required variable is not set.
    Missing,
    /// A variable's value is malformed or out of range.
    Invalid,
    /// Two settings contradict each other.
    Conflict,
}

/// One configuration problem: which variable, and what was expected.
///
/// Displays as `VARIABLE: what is wrong and what to do`. The message never
/// contains a secret value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{variable}: {message}")]
pub struct ConfigError {
    variable: &'static str,
    kind: ConfigErrorKind,
    message: String,
}

impl ConfigError {
    /// A problem of `kind` with `variable`. Applications that read variables
    /// of their own (as `sigra-cli` reads `DATABASE_URL`) report them with
    /// this, so that every problem reads the same.
    pub fn new(variable: &'static str, kind: ConfigErrorKind, message: impl Into<String>) -> Self {
        Self {
            variable,
            kind,
            message: message.into(),
        }
    }

    /// A required variable is not set.
    pub fn missing(variable: &'static str, message: impl Into<String>) -> Self {
        Self::new(variable, ConfigErrorKind::Missing, message)
    }

    /// A value is malformed or out of range.
    pub fn invalid(variable: &'static str, message: impl Into<String>) -> Self {
        Self::new(variable, ConfigErrorKind::Invalid, message)
    }

    /// Two settings contradict each other.
    pub fn conflict(variable: &'static str, message: impl Into<String>) -> Self {
        Self::new(variable, ConfigErrorKind::Conflict, message)
    }

    /// The environment variable the problem is about (also for values set through the builder).
    pub fn variable(&self) -> &'static str {
        self.variable
    }

    /// What kind of problem this is.
    pub fn kind(&self) -> ConfigErrorKind {
        self.kind
    }

    /// What is wrong and what was expected, without the variable name.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Every problem found in a configuration, reported together.
///
/// Displays a summary line and then each problem on its own line, ordered
/// as in [`ENV_VARS`](super::ENV_VARS).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{}", render_problems(.problems))]
pub struct ConfigErrors {
    pub(super) problems: Vec<ConfigError>,
}

impl ConfigErrors {
    /// The problems, in the order given; `None` when there are none.
    pub fn from_problems(problems: Vec<ConfigError>) -> Option<Self> {
        (!problems.is_empty()).then_some(Self { problems })
    }

    /// Each problem, ordered as in [`ENV_VARS`](super::ENV_VARS). Never empty.
    pub fn problems(&self) -> &[ConfigError] {
        &self.problems
    }

    /// Takes the problems out.
    pub fn into_problems(self) -> Vec<ConfigError> {
        self.problems
    }
}

fn render_problems(problems: &[ConfigError]) -> String {
    let noun = if problems.len() == 1 {
        "problem"
    } else {
        "problems"
    };
    let mut out = format!("invalid configuration ({} {noun}):", problems.len());
    for problem in problems {
        out.push_str("\n  ");
        out.push_str(&problem.to_string());
    }
    out
}

/// A setting that works but probably is not what you want; each says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigWarning {
    /// Prod without `COOKIE_DOMAIN`: cookies are host-only.
    CookieDomainUnset,
    /// Dev/test without `SECRET_KEY_BASE`: a random one was generated for this run.
    GeneratedSecretKeyBase,
    /// Prod without `ENCRYPTION_KEY`: MFA secrets cannot be encrypted at rest.
    NoEncryptionKey,
    /// `SIGRA_TRUSTED_PROXIES` trusts every address, so client IPs can be forged.
    TrustsEveryProxy {
        /// The catch-all network (`0.0.0.0/0` or `::/0`).
        network: IpNet,
    },
    /// A `SIGRA_`-prefixed variable that Sigra does not know (probably a typo); it is ignored.
    UnknownVariable {
        /// The variable's name.
        name: String,
        /// The known variable it most resembles, if any.
        suggestion: Option<&'static str>,
    },
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CookieDomainUnset => write!(
                f,
                "COOKIE_DOMAIN is not set, so cookies are host-only and a login does not reach other \
                 subdomains; if you serve auth on one subdomain and the app on another, set \
                 COOKIE_DOMAIN (e.g. .myapp.com) as described in {SUBDOMAIN_GUIDE}"
            ),
            Self::GeneratedSecretKeyBase => f.write_str(
                "SECRET_KEY_BASE is not set, so a random one was generated for this run: sessions, \
                 remember-me and trust cookies won't survive a restart; run `sigra gen-secret` and \
                 set SECRET_KEY_BASE to its output",
            ),
            Self::NoEncryptionKey => f.write_str(
                "ENCRYPTION_KEY is not set, so MFA (TOTP) secrets and OAuth tokens cannot be \
                 encrypted at rest; set ENCRYPTION_KEY to base64 of 32 random bytes, e.g. from \
                 `sigra gen-key` or `openssl rand -base64 32`",
            ),
            Self::TrustsEveryProxy { network } => write!(
                f,
                "SIGRA_TRUSTED_PROXIES contains {network}, which trusts every address: any client \
                 can forge X-Forwarded-For and escape IP rate limits; list only your load \
                 balancers' addresses"
            ),
            Self::UnknownVariable {
                name,
                suggestion: Some(known),
            } => write!(
                f,
                "{name} is not a Sigra variable and is ignored; did you mean {known}?"
            ),
            Self::UnknownVariable {
                name,
                suggestion: None,
            } => write!(
                f,
                "{name} is not a Sigra variable and is ignored; `sigra doctor` lists the known ones"
            ),
        }
    }
}
