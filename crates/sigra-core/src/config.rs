//! Sigra's configuration: the [`Config`] struct, its builder, and parsing from the environment.
//!
//! Every setting has a default that is safe for development, and every
//! setting can come from an environment variable (see [`ENV_VARS`]). Both
//! ways of building a [`Config`] ([`Config::builder`] and
//! [`Config::from_env_map`]) end in the same validation, which reports
//! **every** problem at once in [`ConfigErrors`] rather than stopping at the
//! first, and collects non-fatal [`ConfigWarning`]s with their fix.
//!
//! Durations are written as a whole number and a unit, without spaces:
//! `250ms`, `90s`, `30m`, `24h`, `60d` ([`parse_duration`],
//! [`format_duration`]). Rate limits are `COUNT/PERIOD`, e.g. `10/1m`
//! ([`RateLimit`]).
//!
//! No error message, warning or `Debug` output contains a secret: for
//! `SECRET_KEY_BASE` only the length is reported, for keys and URLs with
//! credentials nothing of the value is.
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
//! assert_eq!(config.idle_timeout, Duration::from_secs(15 * 60));
//! assert_eq!(config.rate_limits.login.to_string(), "5/1m");
//! assert_eq!(config.public_url.as_str(), "http://localhost:4000/");
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

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use thiserror::Error;
use url::{Host, Url};

use crate::encryption::EncryptionKey;
use crate::keys::{KeyError, MIN_SECRET_KEY_BASE_LEN, SecretKeyBase};
use crate::rate_limit::{RateLimit, RateLimitAction, RateLimits};

// ---------------------------------------------------------------------------
// The variables
// ---------------------------------------------------------------------------

/// Every environment variable Sigra reads, with a one-line meaning, in the
/// order `sigra doctor` and the docs list them.
///
/// An empty value counts as unset. Surrounding whitespace is ignored, except
/// in `SECRET_KEY_BASE` and `SECRET_KEY_BASE_OLD`, whose bytes are used as
/// they are.
pub const ENV_VARS: &[(&str, &str)] = &[
    (
        "SIGRA_ENV",
        "dev (default), test or prod; prod makes SECRET_KEY_BASE and an https PUBLIC_URL required",
    ),
    (
        "DATABASE_URL",
        "database URL: postgres://, postgresql:// or sqlite:",
    ),
    (
        "SECRET_KEY_BASE",
        "root secret, at least 64 bytes; required in prod; `sigra gen-secret` prints one",
    ),
    (
        "SECRET_KEY_BASE_OLD",
        "previous SECRET_KEY_BASE, still accepted when verifying during a rotation",
    ),
    (
        "PUBLIC_URL",
        "canonical origin, e.g. https://myapp.com; required and https in prod (default http://localhost:PORT)",
    ),
    (
        "COOKIE_DOMAIN",
        "cookie Domain for subdomain auth, e.g. .myapp.com; must domain-match the PUBLIC_URL host",
    ),
    ("PORT", "HTTP port (default 4000)"),
    (
        "ENCRYPTION_KEY",
        "base64 of 32 bytes; encrypts TOTP secrets and OAuth tokens at rest",
    ),
    (
        "ENCRYPTION_KEY_OLD",
        "comma-separated previous ENCRYPTION_KEYs, used only to decrypt during a rotation",
    ),
    (
        "REDIS_URL",
        "redis:// URL; enables the Redis rate-limit backend (rediss:// parses, but the limiter has no TLS client yet and refuses it at start)",
    ),
    (
        "SMTP_URL",
        "smtp:// or smtps:// URL; enables SMTP mail delivery",
    ),
    (
        "SIGRA_SESSION_TTL",
        "absolute lifetime of remember-me sessions (default 60d)",
    ),
    (
        "SIGRA_IDLE_TIMEOUT",
        "a standard session ends after this long without a request (default 30m)",
    ),
    (
        "SIGRA_ABSOLUTE_TIMEOUT",
        "absolute lifetime of a standard session (default 24h)",
    ),
    (
        "SIGRA_MFA_PENDING_TTL",
        "time allowed to answer the MFA challenge after the password (default 5m)",
    ),
    (
        "SIGRA_TOUCH_INTERVAL",
        "a session's last_active_at is written at most once per this interval (default 5m)",
    ),
    (
        "SIGRA_TRUST_TTL",
        "lifetime of a \"trust this browser\" cookie (default 30d)",
    ),
    (
        "SIGRA_SUDO_WINDOW",
        "how long a re-authentication unlocks sensitive actions (default 5m)",
    ),
    (
        "SIGRA_RATE_LIMIT_LOGIN",
        "log-in attempts per client IP, COUNT/PERIOD (default 10/1m)",
    ),
    (
        "SIGRA_RATE_LIMIT_REGISTER",
        "registrations per client IP, COUNT/PERIOD (default 5/1h)",
    ),
    (
        "SIGRA_RATE_LIMIT_RESET_PASSWORD",
        "password-reset requests per email, COUNT/PERIOD (default 3/1m)",
    ),
    (
        "SIGRA_RATE_LIMIT_MFA",
        "MFA challenge attempts per user, COUNT/PERIOD (default 10/5m)",
    ),
    (
        "SIGRA_RATE_LIMIT_API_TOKEN_CREATE",
        "API token creations per user, COUNT/PERIOD (default 20/1h)",
    ),
    (
        "SIGRA_TRUSTED_PROXIES",
        "comma-separated proxy IPs or CIDRs whose X-Forwarded-For is believed (default none)",
    ),
    (
        "SIGRA_SESSION_CACHE",
        "cache session lookups in memory, following the revocation log: on/off, true/false, 1/0 (default on)",
    ),
    (
        "SIGRA_REVOCATION_POLL",
        "how often the session cache checks for revocations (default 100ms)",
    ),
    (
        "SIGRA_REVOCATION_LISTEN",
        "on PostgreSQL, also LISTEN for revocations (turn off behind a transaction-pooling proxy): on/off (default on)",
    ),
    (
        "SIGRA_PASSWORD_MIN_LENGTH",
        "minimum password length in characters (default 8)",
    ),
    (
        "SIGRA_PASSWORD_MAX_LENGTH",
        "maximum password length in characters (default 256)",
    ),
    (
        "SIGRA_PASSWORD_REJECT_COMMON",
        "refuse the 20,000 most common passwords at registration, change and reset: on/off (default on)",
    ),
    (
        "SIGRA_LOCKOUT_THRESHOLD",
        "failed log-ins before the account is locked (default 5)",
    ),
    (
        "SIGRA_LOCKOUT_DURATION",
        "how long a lockout lasts (default 15m)",
    ),
    (
        "SIGRA_MFA_ISSUER",
        "issuer shown in authenticator apps (default Sigra)",
    ),
    (
        "SIGRA_BACKUP_CODE_COUNT",
        "number of MFA backup codes issued (default 8)",
    ),
    (
        "SIGRA_CONFIRM_TTL",
        "validity of an email-confirmation link (default 48h)",
    ),
    (
        "SIGRA_RESET_PASSWORD_TTL",
        "validity of a password-reset link (default 1h)",
    ),
    (
        "SIGRA_CHANGE_EMAIL_TTL",
        "validity of a change-email link (default 24h)",
    ),
    (
        "SIGRA_DELETION_GRACE_PERIOD",
        "delay before a requested account deletion is carried out (default 14d)",
    ),
    (
        "SIGRA_AUDIT_RETENTION",
        "delete audit rows older than this duration, or `keep` (default keep)",
    ),
];

const SIGRA_ENV: &str = "SIGRA_ENV";
const DATABASE_URL: &str = "DATABASE_URL";
const SECRET_KEY_BASE: &str = "SECRET_KEY_BASE";
const SECRET_KEY_BASE_OLD: &str = "SECRET_KEY_BASE_OLD";
const PUBLIC_URL: &str = "PUBLIC_URL";
const COOKIE_DOMAIN: &str = "COOKIE_DOMAIN";
const PORT: &str = "PORT";
const ENCRYPTION_KEY: &str = "ENCRYPTION_KEY";
const ENCRYPTION_KEY_OLD: &str = "ENCRYPTION_KEY_OLD";
const REDIS_URL: &str = "REDIS_URL";
const SMTP_URL: &str = "SMTP_URL";
const SESSION_TTL: &str = "SIGRA_SESSION_TTL";
const IDLE_TIMEOUT: &str = "SIGRA_IDLE_TIMEOUT";
const ABSOLUTE_TIMEOUT: &str = "SIGRA_ABSOLUTE_TIMEOUT";
const MFA_PENDING_TTL: &str = "SIGRA_MFA_PENDING_TTL";
const TOUCH_INTERVAL: &str = "SIGRA_TOUCH_INTERVAL";
const TRUST_TTL: &str = "SIGRA_TRUST_TTL";
const SUDO_WINDOW: &str = "SIGRA_SUDO_WINDOW";
const TRUSTED_PROXIES: &str = "SIGRA_TRUSTED_PROXIES";
const SESSION_CACHE: &str = "SIGRA_SESSION_CACHE";
const REVOCATION_POLL: &str = "SIGRA_REVOCATION_POLL";
const REVOCATION_LISTEN: &str = "SIGRA_REVOCATION_LISTEN";
const PASSWORD_MIN_LENGTH: &str = "SIGRA_PASSWORD_MIN_LENGTH";
const PASSWORD_MAX_LENGTH: &str = "SIGRA_PASSWORD_MAX_LENGTH";
const PASSWORD_REJECT_COMMON: &str = "SIGRA_PASSWORD_REJECT_COMMON";
const LOCKOUT_THRESHOLD: &str = "SIGRA_LOCKOUT_THRESHOLD";
const LOCKOUT_DURATION: &str = "SIGRA_LOCKOUT_DURATION";
const MFA_ISSUER: &str = "SIGRA_MFA_ISSUER";
const BACKUP_CODE_COUNT: &str = "SIGRA_BACKUP_CODE_COUNT";
const CONFIRM_TTL: &str = "SIGRA_CONFIRM_TTL";
const RESET_PASSWORD_TTL: &str = "SIGRA_RESET_PASSWORD_TTL";
const CHANGE_EMAIL_TTL: &str = "SIGRA_CHANGE_EMAIL_TTL";
const DELETION_GRACE_PERIOD: &str = "SIGRA_DELETION_GRACE_PERIOD";
const AUDIT_RETENTION: &str = "SIGRA_AUDIT_RETENTION";

/// The guide an unset `COOKIE_DOMAIN` warning points to.
pub const SUBDOMAIN_GUIDE: &str = "docs/guides/subdomain-auth.md";

/// The longest duration any setting accepts: 36500 days (about 100 years).
///
/// Larger values would overflow timestamp arithmetic (`now + ttl`) in the
/// stores; "forever" is spelled `keep` where it makes sense.
pub const MAX_DURATION: Duration = Duration::from_secs(36_500 * DAY_SECS);

/// The most backup codes [`Config::backup_code_count`] may ask for.
pub const MAX_BACKUP_CODES: usize = 100;

const DAY_SECS: u64 = 86_400;
const DURATION_EXPECTED: &str = "expected a duration like 250ms, 90s, 30m, 24h or 60d";
const ENCRYPTION_KEY_EXPECTED: &str = "expected base64 of exactly 32 bytes, e.g. from `sigra gen-key` or \
     `openssl rand -base64 32`";

// ---------------------------------------------------------------------------
// Environment
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Durations
// ---------------------------------------------------------------------------

/// A duration string was refused by [`parse_duration`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ParseDurationError {
    /// Not a whole number followed by `ms`, `s`, `m`, `h` or `d`.
    #[error("expected a duration like 250ms, 90s, 30m, 24h or 60d, got {}", quoted(.input))]
    Malformed {
        /// The value that was given.
        input: String,
    },
    /// Well formed, but too large to represent.
    #[error("the duration {} is too large", quoted(.input))]
    Overflow {
        /// The value that was given.
        input: String,
    },
}

/// Parses a duration written as a whole number and a unit, without spaces:
/// `250ms`, `90s`, `30m`, `24h`, `60d`.
///
/// Only ASCII digits and the units `ms`, `s`, `m`, `h`, `d` are accepted; no
/// sign, fraction, whitespace or compound form (`1h30m`). `0s` is a valid
/// (zero) duration. Arithmetic is checked: a value too large to represent is
/// a [`ParseDurationError::Overflow`], never a panic.
///
/// ```
/// use std::time::Duration;
/// use sigra_core::config::parse_duration;
///
/// assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
/// assert_eq!(parse_duration("60d"), Ok(Duration::from_secs(60 * 86_400)));
/// assert!(parse_duration("1.5h").is_err());
/// ```
pub fn parse_duration(s: &str) -> Result<Duration, ParseDurationError> {
    let malformed = || ParseDurationError::Malformed {
        input: s.to_owned(),
    };
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    if digits.is_empty() {
        return Err(malformed());
    }
    let seconds_per_unit = match unit {
        "ms" => None,
        "s" => Some(1),
        "m" => Some(60),
        "h" => Some(3_600),
        "d" => Some(DAY_SECS),
        _ => return Err(malformed()),
    };
    let overflow = || ParseDurationError::Overflow {
        input: s.to_owned(),
    };
    // Only ASCII digits remain, so the one way `parse` can fail is overflow.
    let n: u64 = digits.parse().map_err(|_| overflow())?;
    match seconds_per_unit {
        None => Ok(Duration::from_millis(n)),
        Some(factor) => n
            .checked_mul(factor)
            .map(Duration::from_secs)
            .ok_or_else(overflow),
    }
}

/// Prints a duration in the canonical form [`parse_duration`] reads: the
/// largest of `d`, `h`, `m`, `s`, `ms` that divides it exactly (`0s` for zero).
///
/// Sub-millisecond precision is truncated. For every duration `parse_duration`
/// returns, `parse_duration(&format_duration(d)) == Ok(d)`.
///
/// ```
/// use std::time::Duration;
/// use sigra_core::config::format_duration;
///
/// assert_eq!(format_duration(Duration::from_secs(90)), "90s");
/// assert_eq!(format_duration(Duration::from_secs(2 * 3600)), "2h");
/// assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
/// ```
pub fn format_duration(d: Duration) -> String {
    const UNITS: [(u128, &str); 4] = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
    ];
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".to_owned();
    }
    for (size, unit) in UNITS {
        if ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// Quotes a user-supplied, non-secret value for an error message: escaped,
/// and cut to 64 characters so a pasted blob cannot flood the log.
pub(crate) fn quoted(value: &str) -> String {
    const MAX: usize = 64;
    match value.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}…", &value[..cut]),
        None => format!("{value:?}"),
    }
}

// ---------------------------------------------------------------------------
// Errors and warnings
// ---------------------------------------------------------------------------

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
    fn new(variable: &'static str, kind: ConfigErrorKind, message: impl Into<String>) -> Self {
        Self {
            variable,
            kind,
            message: message.into(),
        }
    }

    fn missing(variable: &'static str, message: impl Into<String>) -> Self {
        Self::new(variable, ConfigErrorKind::Missing, message)
    }

    fn invalid(variable: &'static str, message: impl Into<String>) -> Self {
        Self::new(variable, ConfigErrorKind::Invalid, message)
    }

    fn conflict(variable: &'static str, message: impl Into<String>) -> Self {
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
/// as in [`ENV_VARS`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{}", render_problems(.problems))]
pub struct ConfigErrors {
    problems: Vec<ConfigError>,
}

impl ConfigErrors {
    /// Each problem, ordered as in [`ENV_VARS`]. Never empty.
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

impl ConfigWarning {
    /// The variable the warning is about.
    pub fn variable(&self) -> &str {
        match self {
            Self::CookieDomainUnset => COOKIE_DOMAIN,
            Self::GeneratedSecretKeyBase => SECRET_KEY_BASE,
            Self::NoEncryptionKey => ENCRYPTION_KEY,
            Self::TrustsEveryProxy { .. } => TRUSTED_PROXIES,
            Self::UnknownVariable { name, .. } => name,
        }
    }
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

// ---------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------

/// Sigra's validated configuration.
///
/// Build it with [`Config::from_env`], [`Config::from_env_map`] or
/// [`Config::builder`]; all three validate the same way. Fields are public
/// for reading. `Debug` never prints a secret: keys show as `[REDACTED]`,
/// URLs that may carry credentials show only their scheme and host.
#[derive(Clone)]
#[non_exhaustive]
pub struct Config {
    /// Dev, test or prod (`SIGRA_ENV`, default dev).
    pub env: Environment,
    /// `DATABASE_URL`: a `postgres://`, `postgresql://` or `sqlite:` URL, if set.
    pub database_url: Option<SecretString>,
    /// `SECRET_KEY_BASE`: the root secret every signing key is derived from.
    pub secret_key_base: SecretKeyBase,
    /// `SECRET_KEY_BASE_OLD`: the previous secret, accepted for verification during rotation.
    pub secret_key_base_old: Option<SecretKeyBase>,
    /// `PUBLIC_URL`: the canonical origin (default `http://localhost:<port>` outside prod).
    pub public_url: Url,
    /// `COOKIE_DOMAIN`: the cookie `Domain`, trimmed and lowercased; `None` means host-only cookies.
    pub cookie_domain: Option<String>,
    /// `PORT`: the HTTP port (default 4000).
    pub port: u16,
    /// `ENCRYPTION_KEY`: the key new field encryptions use.
    pub encryption_key: Option<EncryptionKey>,
    /// `ENCRYPTION_KEY_OLD`: previous keys, used only to decrypt.
    pub encryption_keys_old: Vec<EncryptionKey>,
    /// `REDIS_URL`: enables the Redis rate-limit backend.
    pub redis_url: Option<SecretString>,
    /// `SMTP_URL`: enables SMTP mail delivery.
    pub smtp_url: Option<SecretString>,
    /// Absolute lifetime of remember-me sessions (default 60 days).
    pub session_ttl: Duration,
    /// A standard session ends after this long without a request (default 30 minutes).
    pub idle_timeout: Duration,
    /// Absolute lifetime of a standard session (default 24 hours).
    pub absolute_timeout: Duration,
    /// Time allowed between the password and the MFA answer (default 5 minutes).
    pub mfa_pending_ttl: Duration,
    /// `last_active_at` is written at most once per this interval (default 5 minutes).
    pub touch_interval: Duration,
    /// Lifetime of a "trust this browser" cookie (default 30 days).
    pub trust_ttl: Duration,
    /// How long a re-authentication unlocks sensitive actions (default 5 minutes).
    pub sudo_window: Duration,
    /// The rate limit of every action.
    pub rate_limits: RateLimits,
    /// Proxies whose `X-Forwarded-For` is believed (default none: the socket address is used).
    pub trusted_proxies: Vec<IpNet>,
    /// Cache session lookups in memory, following the revocation log
    /// (default true; see `docs/guides/session-cache.md`).
    pub session_cache: bool,
    /// How often the session cache checks for revocations (default 100 ms).
    pub revocation_poll: Duration,
    /// Whether the session cache also listens for revocations where the
    /// store can push them (PostgreSQL `LISTEN`; default true).
    pub revocation_listen: bool,
    /// Minimum password length in characters (default 8).
    pub password_min_length: usize,
    /// Maximum password length in characters (default 256).
    pub password_max_length: usize,
    /// Refuse the 20,000 most common passwords (default true).
    pub password_reject_common: bool,
    /// Failed log-ins before the account is locked (default 5).
    pub lockout_threshold: u32,
    /// How long a lockout lasts (default 15 minutes).
    pub lockout_duration: Duration,
    /// Issuer shown in authenticator apps (default `Sigra`).
    pub mfa_issuer: String,
    /// Number of MFA backup codes issued (default 8).
    pub backup_code_count: usize,
    /// Validity of an email-confirmation link (default 48 hours).
    pub confirm_ttl: Duration,
    /// Validity of a password-reset link (default 1 hour).
    pub reset_password_ttl: Duration,
    /// Validity of a change-email link (default 24 hours).
    pub change_email_ttl: Duration,
    /// Delay before a requested account deletion is carried out (default 14 days).
    pub deletion_grace_period: Duration,
    /// Audit rows older than this are deleted; `None` keeps them forever (the default).
    pub audit_retention: Option<Duration>,
    warnings: Vec<ConfigWarning>,
}

impl Config {
    /// A builder for `env` with every default; see [`ConfigBuilder`].
    pub fn builder(env: Environment) -> ConfigBuilder {
        ConfigBuilder::new(env)
    }

    /// Reads the configuration from the process environment.
    ///
    /// **This is the one place in `sigra-core` that reads the environment**
    /// (`std::env::vars_os`); everything else takes values as parameters.
    /// It collects the variables into a map and calls
    /// [`Config::from_env_map`]. A Sigra variable whose value is not valid
    /// UTF-8 is reported as a problem; other variables are ignored.
    pub fn from_env() -> Result<Config, ConfigErrors> {
        let mut vars = HashMap::new();
        let mut not_utf8 = Vec::new();
        for (name, value) in std::env::vars_os() {
            match (name.into_string(), value.into_string()) {
                (Ok(name), Ok(value)) => {
                    vars.insert(name, value);
                }
                (Ok(name), Err(_)) => not_utf8.push(name),
                // A name that is not UTF-8 cannot be one of ours.
                (Err(_), _) => {}
            }
        }
        Self::from_vars(&vars, &not_utf8)
    }

    /// Builds the configuration from a map of environment variables (see
    /// [`ENV_VARS`]), without touching the process environment.
    ///
    /// An empty value counts as unset. `SIGRA_ENV` defaults to `dev`; when
    /// it is invalid, the rest is validated with the strict prod rules so
    /// that every problem shows. Parsing problems and validation problems
    /// (the same checks as [`ConfigBuilder::build`]) are returned together.
    /// Unknown `SIGRA_*` variables produce a [`ConfigWarning::UnknownVariable`].
    pub fn from_env_map(vars: &HashMap<String, String>) -> Result<Config, ConfigErrors> {
        Self::from_vars(vars, &[])
    }

    fn from_vars(
        vars: &HashMap<String, String>,
        not_utf8: &[String],
    ) -> Result<Config, ConfigErrors> {
        let mut r = EnvReader {
            vars,
            problems: Vec::new(),
        };
        for name in not_utf8 {
            if let Some(known) = known_var(name) {
                r.problems
                    .push(ConfigError::invalid(known, "the value is not valid UTF-8"));
            }
        }

        let env = match r.get(SIGRA_ENV).map(str::parse::<Environment>) {
            None => Environment::Dev,
            Some(Ok(env)) => env,
            Some(Err(e)) => {
                r.problems
                    .push(ConfigError::invalid(SIGRA_ENV, e.to_string()));
                Environment::Prod
            }
        };
        let mut b = ConfigBuilder::new(env);

        b.database_url = r.get(DATABASE_URL).map(SecretString::from);
        b.secret_key_base = r.secret_key_base(SECRET_KEY_BASE);
        b.secret_key_base_old = r.secret_key_base(SECRET_KEY_BASE_OLD);
        b.public_url = r.get(PUBLIC_URL).map(str::to_owned);
        b.cookie_domain = r.get(COOKIE_DOMAIN).map(str::to_owned);
        if let Some(port) = r.number::<u16>(PORT, "expected a port from 1 to 65535") {
            b.port = port;
        }
        b.encryption_key = r.encryption_key();
        b.encryption_keys_old = r.encryption_keys_old();
        b.redis_url = r.get(REDIS_URL).map(SecretString::from);
        b.smtp_url = r.get(SMTP_URL).map(SecretString::from);

        r.duration(SESSION_TTL, &mut b.session_ttl);
        r.duration(IDLE_TIMEOUT, &mut b.idle_timeout);
        r.duration(ABSOLUTE_TIMEOUT, &mut b.absolute_timeout);
        r.duration(MFA_PENDING_TTL, &mut b.mfa_pending_ttl);
        r.duration(TOUCH_INTERVAL, &mut b.touch_interval);
        r.duration(TRUST_TTL, &mut b.trust_ttl);
        r.duration(SUDO_WINDOW, &mut b.sudo_window);
        for action in RateLimitAction::ALL {
            if let Some(value) = r.get(action.env_var()) {
                match value.parse::<RateLimit>() {
                    Ok(limit) => b.rate_limits.set(action, limit),
                    Err(e) => r
                        .problems
                        .push(ConfigError::invalid(action.env_var(), e.to_string())),
                }
            }
        }
        if let Some(proxies) = r.trusted_proxies() {
            b.trusted_proxies = proxies;
        }
        if let Some(on) = r.switch(SESSION_CACHE) {
            b.session_cache = on;
        }
        r.duration(REVOCATION_POLL, &mut b.revocation_poll);
        if let Some(on) = r.switch(REVOCATION_LISTEN) {
            b.revocation_listen = on;
        }
        let length = "expected a whole number of characters, like 8";
        if let Some(n) = r.number(PASSWORD_MIN_LENGTH, length) {
            b.password_min_length = n;
        }
        if let Some(n) = r.number(PASSWORD_MAX_LENGTH, length) {
            b.password_max_length = n;
        }
        if let Some(on) = r.switch(PASSWORD_REJECT_COMMON) {
            b.password_reject_common = on;
        }
        if let Some(n) = r.number(
            LOCKOUT_THRESHOLD,
            "expected a whole number of attempts, like 5",
        ) {
            b.lockout_threshold = n;
        }
        r.duration(LOCKOUT_DURATION, &mut b.lockout_duration);
        if let Some(issuer) = r.get(MFA_ISSUER) {
            b.mfa_issuer = issuer.to_owned();
        }
        if let Some(n) = r.number(
            BACKUP_CODE_COUNT,
            "expected a whole number of codes, like 8",
        ) {
            b.backup_code_count = n;
        }
        r.duration(CONFIRM_TTL, &mut b.confirm_ttl);
        r.duration(RESET_PASSWORD_TTL, &mut b.reset_password_ttl);
        r.duration(CHANGE_EMAIL_TTL, &mut b.change_email_ttl);
        r.duration(DELETION_GRACE_PERIOD, &mut b.deletion_grace_period);
        if let Some(value) = r.get(AUDIT_RETENTION) {
            if value.eq_ignore_ascii_case("keep") {
                b.audit_retention = None;
            } else {
                match parse_duration(value) {
                    Ok(d) => b.audit_retention = Some(d),
                    Err(e) => r.problems.push(ConfigError::invalid(
                        AUDIT_RETENTION,
                        format!("{e}, or `keep` to keep audit rows forever"),
                    )),
                }
            }
        }

        let mut unknown: Vec<&String> = vars
            .keys()
            .filter(|name| name.starts_with("SIGRA_") && known_var(name).is_none())
            .collect();
        unknown.sort();
        b.warnings = unknown
            .into_iter()
            .map(|name| ConfigWarning::UnknownVariable {
                name: name.clone(),
                suggestion: suggest(name),
            })
            .collect();
        b.problems = r.problems;
        b.build()
    }

    /// Warnings found while building: settings that work but likely need attention.
    pub fn warnings(&self) -> &[ConfigWarning] {
        &self.warnings
    }

    /// Whether cookies get the `Secure` attribute: always in prod, and whenever `PUBLIC_URL` is https.
    pub fn secure_cookies(&self) -> bool {
        self.env.is_prod() || self.public_url.scheme() == "https"
    }

    /// The host of `PUBLIC_URL`, e.g. `myapp.com` (IPv6 addresses in brackets).
    pub fn public_host(&self) -> &str {
        self.public_url.host_str().unwrap_or_default()
    }
}

/// Shows the value's redacted form in `Debug` output.
struct Redacted<'a>(&'a str);

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// Shows a duration in canonical form in `Debug` output.
struct Canonical(Duration);

impl fmt::Debug for Canonical {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

/// `scheme://host:port/[REDACTED]` for a URL that may carry credentials.
///
/// When the value contains `@` anywhere, the host is not shown either: a
/// password containing `/` or `#` can make a URL parser take part of it for
/// the host.
fn redacted_url(url: &SecretString) -> String {
    let raw = url.expose_secret();
    match Url::parse(raw) {
        Ok(parsed) => match parsed.host_str() {
            Some(host) if !raw.contains('@') => {
                let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
                format!("{}://{host}{port}/[REDACTED]", parsed.scheme())
            }
            _ => format!("{}:[REDACTED]", parsed.scheme()),
        },
        Err(_) => "[REDACTED]".to_owned(),
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = |u: &Option<SecretString>| u.as_ref().map(redacted_url);
        let redacted_if = |present: bool| present.then_some(Redacted("[REDACTED]"));
        f.debug_struct("Config")
            .field("env", &self.env)
            .field(
                "database_url",
                &url(&self.database_url).as_deref().map(Redacted),
            )
            .field("secret_key_base", &Redacted("[REDACTED]"))
            .field(
                "secret_key_base_old",
                &redacted_if(self.secret_key_base_old.is_some()),
            )
            .field("public_url", &self.public_url.as_str())
            .field("cookie_domain", &self.cookie_domain)
            .field("port", &self.port)
            // `EncryptionKey`'s Debug shows only its public key id.
            .field("encryption_key", &self.encryption_key)
            .field("encryption_keys_old", &self.encryption_keys_old)
            .field("redis_url", &url(&self.redis_url).as_deref().map(Redacted))
            .field("smtp_url", &url(&self.smtp_url).as_deref().map(Redacted))
            .field("session_ttl", &Canonical(self.session_ttl))
            .field("idle_timeout", &Canonical(self.idle_timeout))
            .field("absolute_timeout", &Canonical(self.absolute_timeout))
            .field("mfa_pending_ttl", &Canonical(self.mfa_pending_ttl))
            .field("touch_interval", &Canonical(self.touch_interval))
            .field("trust_ttl", &Canonical(self.trust_ttl))
            .field("sudo_window", &Canonical(self.sudo_window))
            .field("rate_limits", &self.rate_limits)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("session_cache", &self.session_cache)
            .field("revocation_poll", &Canonical(self.revocation_poll))
            .field("revocation_listen", &self.revocation_listen)
            .field("password_min_length", &self.password_min_length)
            .field("password_max_length", &self.password_max_length)
            .field("password_reject_common", &self.password_reject_common)
            .field("lockout_threshold", &self.lockout_threshold)
            .field("lockout_duration", &Canonical(self.lockout_duration))
            .field("mfa_issuer", &self.mfa_issuer)
            .field("backup_code_count", &self.backup_code_count)
            .field("confirm_ttl", &Canonical(self.confirm_ttl))
            .field("reset_password_ttl", &Canonical(self.reset_password_ttl))
            .field("change_email_ttl", &Canonical(self.change_email_ttl))
            .field(
                "deletion_grace_period",
                &Canonical(self.deletion_grace_period),
            )
            .field("audit_retention", &self.audit_retention.map(Canonical))
            .field("warnings", &self.warnings)
            .finish()
    }
}

// ---------------------------------------------------------------------------
// Builder
// ---------------------------------------------------------------------------

/// Builds a [`Config`] in code, starting from the defaults of an [`Environment`].
///
/// Setters take plain values; [`build`](ConfigBuilder::build) validates
/// everything at once with the same rules as [`Config::from_env_map`] and
/// names each problem by its environment variable.
///
/// ```
/// use std::time::Duration;
/// use sigra_core::config::{Config, Environment};
/// use sigra_core::keys::SecretKeyBase;
///
/// let config = Config::builder(Environment::Prod)
///     .secret_key_base(SecretKeyBase::new(vec![7; 64])?)
///     .public_url("https://app.myapp.com")
///     .cookie_domain(".myapp.com")
///     .idle_timeout(Duration::from_secs(20 * 60))
///     .build()?;
/// assert!(config.secure_cookies());
/// assert_eq!(config.public_host(), "app.myapp.com");
/// # Ok::<(), sigra_core::Error>(())
/// ```
#[derive(Debug)]
pub struct ConfigBuilder {
    env: Environment,
    database_url: Option<SecretString>,
    secret_key_base: Option<SecretKeyBase>,
    secret_key_base_old: Option<SecretKeyBase>,
    public_url: Option<String>,
    cookie_domain: Option<String>,
    port: u16,
    encryption_key: Option<EncryptionKey>,
    encryption_keys_old: Vec<EncryptionKey>,
    redis_url: Option<SecretString>,
    smtp_url: Option<SecretString>,
    session_ttl: Duration,
    idle_timeout: Duration,
    absolute_timeout: Duration,
    mfa_pending_ttl: Duration,
    touch_interval: Duration,
    trust_ttl: Duration,
    sudo_window: Duration,
    rate_limits: RateLimits,
    trusted_proxies: Vec<IpNet>,
    session_cache: bool,
    revocation_poll: Duration,
    revocation_listen: bool,
    password_min_length: usize,
    password_max_length: usize,
    password_reject_common: bool,
    lockout_threshold: u32,
    lockout_duration: Duration,
    mfa_issuer: String,
    backup_code_count: usize,
    confirm_ttl: Duration,
    reset_password_ttl: Duration,
    change_email_ttl: Duration,
    deletion_grace_period: Duration,
    audit_retention: Option<Duration>,
    /// Problems found while parsing variables, before validation.
    problems: Vec<ConfigError>,
    /// Warnings found while parsing variables.
    warnings: Vec<ConfigWarning>,
}

const fn minutes(n: u64) -> Duration {
    Duration::from_secs(n * 60)
}

const fn hours(n: u64) -> Duration {
    Duration::from_secs(n * 3_600)
}

const fn days(n: u64) -> Duration {
    Duration::from_secs(n * DAY_SECS)
}

macro_rules! setters {
    ($($(#[$doc:meta])* $field:ident: $ty:ty;)*) => {
        $(
            $(#[$doc])*
            pub fn $field(mut self, value: $ty) -> Self {
                self.$field = value;
                self
            }
        )*
    };
}

impl ConfigBuilder {
    fn new(env: Environment) -> Self {
        Self {
            env,
            database_url: None,
            secret_key_base: None,
            secret_key_base_old: None,
            public_url: None,
            cookie_domain: None,
            port: 4000,
            encryption_key: None,
            encryption_keys_old: Vec::new(),
            redis_url: None,
            smtp_url: None,
            session_ttl: days(60),
            idle_timeout: minutes(30),
            absolute_timeout: hours(24),
            mfa_pending_ttl: minutes(5),
            touch_interval: minutes(5),
            trust_ttl: days(30),
            sudo_window: minutes(5),
            rate_limits: RateLimits::default(),
            trusted_proxies: Vec::new(),
            session_cache: true,
            revocation_poll: Duration::from_millis(100),
            revocation_listen: true,
            password_min_length: 8,
            password_max_length: 256,
            password_reject_common: true,
            lockout_threshold: 5,
            lockout_duration: minutes(15),
            mfa_issuer: "Sigra".to_owned(),
            backup_code_count: 8,
            confirm_ttl: hours(48),
            reset_password_ttl: hours(1),
            change_email_ttl: hours(24),
            deletion_grace_period: days(14),
            audit_retention: None,
            problems: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// `DATABASE_URL`: a `postgres://`, `postgresql://` or `sqlite:` URL (checked at build).
    pub fn database_url(mut self, url: impl Into<String>) -> Self {
        self.database_url = Some(SecretString::from(url.into()));
        self
    }

    /// `SECRET_KEY_BASE`. Required in prod; generated (with a warning) in dev and test.
    pub fn secret_key_base(mut self, key: SecretKeyBase) -> Self {
        self.secret_key_base = Some(key);
        self
    }

    /// `SECRET_KEY_BASE_OLD`: the previous secret, during rotation.
    pub fn secret_key_base_old(mut self, key: SecretKeyBase) -> Self {
        self.secret_key_base_old = Some(key);
        self
    }

    /// `PUBLIC_URL`: the canonical origin, e.g. `https://myapp.com` (checked at build).
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        self.public_url = Some(url.into());
        self
    }

    /// `COOKIE_DOMAIN`, e.g. `.myapp.com`; must domain-match the `PUBLIC_URL` host (checked at build).
    pub fn cookie_domain(mut self, domain: impl Into<String>) -> Self {
        self.cookie_domain = Some(domain.into());
        self
    }

    /// `ENCRYPTION_KEY`: the key new field encryptions use.
    pub fn encryption_key(mut self, key: EncryptionKey) -> Self {
        self.encryption_key = Some(key);
        self
    }

    /// `ENCRYPTION_KEY_OLD`: previous keys, used only to decrypt.
    pub fn encryption_keys_old(mut self, keys: impl IntoIterator<Item = EncryptionKey>) -> Self {
        self.encryption_keys_old = keys.into_iter().collect();
        self
    }

    /// `REDIS_URL`: a `redis://` or `rediss://` URL (checked at build).
    pub fn redis_url(mut self, url: impl Into<String>) -> Self {
        self.redis_url = Some(SecretString::from(url.into()));
        self
    }

    /// `SMTP_URL`: an `smtp://` or `smtps://` URL (checked at build).
    pub fn smtp_url(mut self, url: impl Into<String>) -> Self {
        self.smtp_url = Some(SecretString::from(url.into()));
        self
    }

    /// The limit for one action (`SIGRA_RATE_LIMIT_<ACTION>`).
    pub fn rate_limit(mut self, action: RateLimitAction, limit: RateLimit) -> Self {
        self.rate_limits.set(action, limit);
        self
    }

    /// `SIGRA_TRUSTED_PROXIES`: proxies whose `X-Forwarded-For` is believed.
    pub fn trusted_proxies(mut self, proxies: impl IntoIterator<Item = IpNet>) -> Self {
        self.trusted_proxies = proxies.into_iter().map(|net| net.trunc()).collect();
        self
    }

    /// `SIGRA_MFA_ISSUER`: the issuer shown in authenticator apps.
    pub fn mfa_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.mfa_issuer = issuer.into();
        self
    }

    setters! {
        /// `PORT`: the HTTP port (1 to 65535).
        port: u16;
        /// `SIGRA_SESSION_TTL`: absolute lifetime of remember-me sessions.
        session_ttl: Duration;
        /// `SIGRA_IDLE_TIMEOUT`: idle limit of a standard session (at most `absolute_timeout`).
        idle_timeout: Duration;
        /// `SIGRA_ABSOLUTE_TIMEOUT`: absolute lifetime of a standard session.
        absolute_timeout: Duration;
        /// `SIGRA_MFA_PENDING_TTL`: time allowed to answer the MFA challenge.
        mfa_pending_ttl: Duration;
        /// `SIGRA_TOUCH_INTERVAL`: minimum interval between `last_active_at` writes (less than `idle_timeout`).
        touch_interval: Duration;
        /// `SIGRA_TRUST_TTL`: lifetime of a "trust this browser" cookie.
        trust_ttl: Duration;
        /// `SIGRA_SUDO_WINDOW`: how long a re-authentication unlocks sensitive actions.
        sudo_window: Duration;
        /// All rate limits at once (`SIGRA_RATE_LIMIT_*`).
        rate_limits: RateLimits;
        /// `SIGRA_SESSION_CACHE`: cache session lookups in memory.
        session_cache: bool;
        /// `SIGRA_REVOCATION_POLL`: how often the session cache checks for revocations.
        revocation_poll: Duration;
        /// `SIGRA_REVOCATION_LISTEN`: also listen for pushed revocations (PostgreSQL).
        revocation_listen: bool;
        /// `SIGRA_PASSWORD_MIN_LENGTH`: minimum password length (at least 1).
        password_min_length: usize;
        /// `SIGRA_PASSWORD_MAX_LENGTH`: maximum password length (at least the minimum).
        password_max_length: usize;
        /// `SIGRA_PASSWORD_REJECT_COMMON`: refuse the 20,000 most common passwords.
        password_reject_common: bool;
        /// `SIGRA_LOCKOUT_THRESHOLD`: failed log-ins before lockout (at least 1).
        lockout_threshold: u32;
        /// `SIGRA_LOCKOUT_DURATION`: how long a lockout lasts.
        lockout_duration: Duration;
        /// `SIGRA_BACKUP_CODE_COUNT`: number of MFA backup codes (1 to 100).
        backup_code_count: usize;
        /// `SIGRA_CONFIRM_TTL`: validity of an email-confirmation link.
        confirm_ttl: Duration;
        /// `SIGRA_RESET_PASSWORD_TTL`: validity of a password-reset link.
        reset_password_ttl: Duration;
        /// `SIGRA_CHANGE_EMAIL_TTL`: validity of a change-email link.
        change_email_ttl: Duration;
        /// `SIGRA_DELETION_GRACE_PERIOD`: delay before a requested deletion is carried out (may be zero).
        deletion_grace_period: Duration;
        /// `SIGRA_AUDIT_RETENTION`: delete audit rows older than this; `None` keeps them forever.
        audit_retention: Option<Duration>;
    }

    /// Validates every setting and returns the [`Config`], or every problem at once.
    ///
    /// In dev and test a missing `SECRET_KEY_BASE` is generated (with a
    /// [`ConfigWarning::GeneratedSecretKeyBase`]); in prod it is an error,
    /// as is a missing or non-https `PUBLIC_URL`.
    pub fn build(self) -> Result<Config, ConfigErrors> {
        validate(self)
    }
}

// ---------------------------------------------------------------------------
// Reading variables
// ---------------------------------------------------------------------------

/// Reads and parses variables from a map, recording every problem.
struct EnvReader<'a> {
    vars: &'a HashMap<String, String>,
    problems: Vec<ConfigError>,
}

impl<'a> EnvReader<'a> {
    /// The trimmed value, or `None` when unset or blank.
    fn get(&self, name: &str) -> Option<&'a str> {
        self.vars
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    fn secret_key_base(&mut self, name: &'static str) -> Option<SecretKeyBase> {
        // Not trimmed: the bytes are the secret, exactly as given.
        let value = self.vars.get(name).filter(|v| !v.is_empty())?;
        match SecretKeyBase::new(value.as_bytes().to_vec()) {
            Ok(key) => Some(key),
            Err(KeyError::TooShort { len }) => {
                self.problems.push(ConfigError::invalid(
                    name,
                    format!(
                        "must be at least {MIN_SECRET_KEY_BASE_LEN} bytes, got {len} bytes; \
                         generate one with `sigra gen-secret`"
                    ),
                ));
                None
            }
            Err(e) => {
                self.problems
                    .push(ConfigError::invalid(name, e.to_string()));
                None
            }
        }
    }

    fn duration(&mut self, name: &'static str, slot: &mut Duration) {
        if let Some(value) = self.get(name) {
            match parse_duration(value) {
                Ok(d) => *slot = d,
                Err(e) => self
                    .problems
                    .push(ConfigError::invalid(name, e.to_string())),
            }
        }
    }

    fn number<T: FromStr>(&mut self, name: &'static str, expected: &str) -> Option<T> {
        let value = self.get(name)?;
        let parsed = if value.bytes().all(|b| b.is_ascii_digit()) {
            value.parse().ok()
        } else {
            None
        };
        if parsed.is_none() {
            self.problems.push(ConfigError::invalid(
                name,
                format!("{expected}, got {}", quoted(value)),
            ));
        }
        parsed
    }

    fn switch(&mut self, name: &'static str) -> Option<bool> {
        let value = self.get(name)?;
        let on = ["on", "true", "1"]
            .iter()
            .any(|w| w.eq_ignore_ascii_case(value));
        let off = ["off", "false", "0"]
            .iter()
            .any(|w| w.eq_ignore_ascii_case(value));
        match (on, off) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => {
                self.problems.push(ConfigError::invalid(
                    name,
                    format!("expected on/off, true/false or 1/0, got {}", quoted(value)),
                ));
                None
            }
        }
    }

    fn trusted_proxies(&mut self) -> Option<Vec<IpNet>> {
        let value = self.get(TRUSTED_PROXIES)?;
        let mut nets = Vec::new();
        let mut bad = Vec::new();
        for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            match parse_net(entry) {
                Some(net) => nets.push(net),
                None => bad.push(quoted(entry)),
            }
        }
        if bad.is_empty() {
            Some(nets)
        } else {
            self.problems.push(ConfigError::invalid(
                TRUSTED_PROXIES,
                format!(
                    "expected comma-separated IP addresses or CIDR blocks like 10.0.0.0/8, \
                     192.168.1.10 or fd00::/8, got {}",
                    bad.join(", ")
                ),
            ));
            None
        }
    }

    fn encryption_key(&mut self) -> Option<EncryptionKey> {
        let value = self.get(ENCRYPTION_KEY)?;
        match EncryptionKey::from_base64(value) {
            Ok(key) => Some(key),
            Err(_) => {
                // Never echo key material, not even a malformed one.
                self.problems.push(ConfigError::invalid(
                    ENCRYPTION_KEY,
                    format!(
                        "{ENCRYPTION_KEY_EXPECTED}; the value given ({} characters) is not",
                        value.chars().count()
                    ),
                ));
                None
            }
        }
    }

    fn encryption_keys_old(&mut self) -> Vec<EncryptionKey> {
        let Some(value) = self.get(ENCRYPTION_KEY_OLD) else {
            return Vec::new();
        };
        let entries: Vec<&str> = value
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect();
        let mut keys = Vec::new();
        let mut bad = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            match EncryptionKey::from_base64(entry) {
                Ok(key) => keys.push(key),
                Err(_) => bad.push((i + 1).to_string()),
            }
        }
        if !bad.is_empty() {
            self.problems.push(ConfigError::invalid(
                ENCRYPTION_KEY_OLD,
                format!(
                    "{ENCRYPTION_KEY_EXPECTED} per comma-separated entry; entry {} of {} is not",
                    bad.join(", "),
                    entries.len()
                ),
            ));
        }
        keys
    }
}

/// A CIDR block, or a bare address as a /32 or /128, with host bits cleared.
fn parse_net(entry: &str) -> Option<IpNet> {
    entry
        .parse::<IpNet>()
        .map(|net| net.trunc())
        .or_else(|_| entry.parse::<std::net::IpAddr>().map(IpNet::from))
        .ok()
}

/// The static name of a known variable.
fn known_var(name: &str) -> Option<&'static str> {
    ENV_VARS.iter().map(|(n, _)| *n).find(|n| *n == name)
}

/// The known variable an unknown `SIGRA_*` name most likely meant.
fn suggest(name: &str) -> Option<&'static str> {
    if let Some(known) = name.strip_prefix("SIGRA_").and_then(known_var) {
        // e.g. SIGRA_PORT for PORT
        return Some(known);
    }
    let upper = name.to_ascii_uppercase();
    if let Some(known) = known_var(&upper) {
        return Some(known);
    }
    ENV_VARS
        .iter()
        .map(|(known, _)| (edit_distance(&upper, known), *known))
        .filter(|(distance, _)| *distance <= 3)
        .min()
        .map(|(_, known)| known)
}

/// Levenshtein distance, bounded in cost by refusing long inputs.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len() > 64 || b.len() > 64 {
        return usize::MAX;
    }
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != cb);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

fn validate(b: ConfigBuilder) -> Result<Config, ConfigErrors> {
    let mut problems = b.problems;
    let mut warnings = b.warnings;
    let env = b.env;
    let prod = env.is_prod();
    let reported = |problems: &[ConfigError], var: &str| problems.iter().any(|p| p.variable == var);

    // SECRET_KEY_BASE: required in prod, generated with a warning elsewhere.
    let secret_key_base = match b.secret_key_base {
        Some(key) => Some(key),
        None if reported(&problems, SECRET_KEY_BASE) => None,
        None if prod => {
            problems.push(ConfigError::missing(
                SECRET_KEY_BASE,
                format!(
                    "required in prod: set it to at least {MIN_SECRET_KEY_BASE_LEN} bytes of \
                     random text; `sigra gen-secret` prints one"
                ),
            ));
            None
        }
        None => match SecretKeyBase::generate() {
            Ok(key) => {
                warnings.push(ConfigWarning::GeneratedSecretKeyBase);
                Some(key)
            }
            Err(e) => {
                problems.push(ConfigError::missing(
                    SECRET_KEY_BASE,
                    format!(
                        "not set, and a temporary one could not be generated ({e}); \
                         set it with `sigra gen-secret`"
                    ),
                ));
                None
            }
        },
    };

    // PORT
    if b.port == 0 {
        problems.push(ConfigError::invalid(
            PORT,
            "expected a port from 1 to 65535, got 0",
        ));
    }

    // PUBLIC_URL
    let public_url = match &b.public_url {
        Some(raw) => match parse_public_url(raw.trim(), prod) {
            Ok(url) => Some(url),
            Err(message) => {
                problems.push(ConfigError::invalid(PUBLIC_URL, message));
                None
            }
        },
        None if prod => {
            problems.push(ConfigError::missing(
                PUBLIC_URL,
                "required in prod: set it to the https origin users visit, e.g. https://myapp.com",
            ));
            None
        }
        None => match Url::parse(&format!("http://localhost:{}", b.port)) {
            Ok(url) => Some(url),
            Err(e) => {
                problems.push(ConfigError::invalid(
                    PUBLIC_URL,
                    format!("the default http://localhost:{} is not a URL ({e})", b.port),
                ));
                None
            }
        },
    };

    // COOKIE_DOMAIN
    let cookie_domain = b
        .cookie_domain
        .as_deref()
        .map(|d| d.trim().to_ascii_lowercase());
    match &cookie_domain {
        Some(domain) => {
            if let Err(message) = check_cookie_domain(domain, public_url.as_ref()) {
                problems.push(ConfigError::invalid(COOKIE_DOMAIN, message));
            }
        }
        None if prod => warnings.push(ConfigWarning::CookieDomainUnset),
        None => {}
    }

    // URLs that may carry credentials: check the scheme, never echo the value.
    let schemes: [(&'static str, &Option<SecretString>, &[&str]); 3] = [
        (
            DATABASE_URL,
            &b.database_url,
            &["postgres://", "postgresql://", "sqlite:"],
        ),
        (REDIS_URL, &b.redis_url, &["redis://", "rediss://"]),
        (SMTP_URL, &b.smtp_url, &["smtp://", "smtps://"]),
    ];
    for (var, url, allowed) in schemes {
        if let Some(Err(message)) = url
            .as_ref()
            .map(|u| check_scheme(u.expose_secret(), allowed))
        {
            problems.push(ConfigError::invalid(var, message));
        }
    }

    // ENCRYPTION_KEY
    if b.encryption_key.is_none() && !reported(&problems, ENCRYPTION_KEY) {
        if !b.encryption_keys_old.is_empty() {
            problems.push(ConfigError::conflict(
                ENCRYPTION_KEY_OLD,
                "is set but ENCRYPTION_KEY is not: old keys only decrypt; set ENCRYPTION_KEY to \
                 the new key",
            ));
        }
        if prod {
            warnings.push(ConfigWarning::NoEncryptionKey);
        }
    }

    // Durations: in range, and positive where zero makes no sense.
    let durations: [(&'static str, Option<Duration>, bool); 14] = [
        (SESSION_TTL, Some(b.session_ttl), false),
        (IDLE_TIMEOUT, Some(b.idle_timeout), false),
        (ABSOLUTE_TIMEOUT, Some(b.absolute_timeout), false),
        (MFA_PENDING_TTL, Some(b.mfa_pending_ttl), false),
        (TOUCH_INTERVAL, Some(b.touch_interval), true),
        (TRUST_TTL, Some(b.trust_ttl), false),
        (SUDO_WINDOW, Some(b.sudo_window), false),
        (REVOCATION_POLL, Some(b.revocation_poll), false),
        (LOCKOUT_DURATION, Some(b.lockout_duration), false),
        (CONFIRM_TTL, Some(b.confirm_ttl), false),
        (RESET_PASSWORD_TTL, Some(b.reset_password_ttl), false),
        (CHANGE_EMAIL_TTL, Some(b.change_email_ttl), false),
        (DELETION_GRACE_PERIOD, Some(b.deletion_grace_period), true),
        (AUDIT_RETENTION, b.audit_retention, false),
    ];
    for (var, duration, zero_ok) in durations {
        let Some(d) = duration else { continue };
        if d > MAX_DURATION {
            problems.push(ConfigError::invalid(
                var,
                format!(
                    "expected at most {}, got {}",
                    format_duration(MAX_DURATION),
                    format_duration(d)
                ),
            ));
        } else if d.is_zero() && !zero_ok {
            problems.push(ConfigError::invalid(
                var,
                format!("{DURATION_EXPECTED} greater than zero, got 0s"),
            ));
        }
    }

    let unreported =
        |problems: &[ConfigError], vars: &[&str]| !vars.iter().any(|v| reported(problems, v));
    if b.idle_timeout > b.absolute_timeout
        && unreported(&problems, &[IDLE_TIMEOUT, ABSOLUTE_TIMEOUT])
    {
        problems.push(ConfigError::conflict(
            IDLE_TIMEOUT,
            format!(
                "({}) must not exceed SIGRA_ABSOLUTE_TIMEOUT ({}): a session cannot idle longer \
                 than it may live",
                format_duration(b.idle_timeout),
                format_duration(b.absolute_timeout)
            ),
        ));
    }
    if b.touch_interval >= b.idle_timeout && unreported(&problems, &[TOUCH_INTERVAL, IDLE_TIMEOUT])
    {
        problems.push(ConfigError::conflict(
            TOUCH_INTERVAL,
            format!(
                "({}) must be shorter than SIGRA_IDLE_TIMEOUT ({}), or active sessions would \
                 expire between two writes of last_active_at",
                format_duration(b.touch_interval),
                format_duration(b.idle_timeout)
            ),
        ));
    }

    // Rate limits set in code are re-checked (parsing already refuses these).
    for action in RateLimitAction::ALL {
        let limit = b.rate_limits.get(action);
        if !limit.is_valid() && !reported(&problems, action.env_var()) {
            problems.push(ConfigError::invalid(
                action.env_var(),
                format!(
                    "expected COUNT/PERIOD with COUNT at least 1 and PERIOD greater than zero, \
                     like 10/1m, got {limit}"
                ),
            ));
        }
    }

    // Passwords and lockout.
    if b.password_min_length < 1 {
        problems.push(ConfigError::invalid(
            PASSWORD_MIN_LENGTH,
            "expected at least 1, got 0",
        ));
    } else if b.password_min_length > b.password_max_length
        && unreported(&problems, &[PASSWORD_MIN_LENGTH, PASSWORD_MAX_LENGTH])
    {
        problems.push(ConfigError::conflict(
            PASSWORD_MIN_LENGTH,
            format!(
                "({}) must not exceed SIGRA_PASSWORD_MAX_LENGTH ({})",
                b.password_min_length, b.password_max_length
            ),
        ));
    }
    if b.lockout_threshold == 0 {
        problems.push(ConfigError::invalid(
            LOCKOUT_THRESHOLD,
            "expected at least 1 failed attempt, got 0 (0 would lock every account at once)",
        ));
    }

    // MFA.
    let issuer = b.mfa_issuer.trim();
    if issuer.is_empty() || issuer.contains(':') || issuer.chars().any(char::is_control) {
        problems.push(ConfigError::invalid(
            MFA_ISSUER,
            format!(
                "expected a non-empty name without ':' or control characters (authenticator \
                 apps use ':' as a separator), got {}",
                quoted(&b.mfa_issuer)
            ),
        ));
    }
    if !(1..=MAX_BACKUP_CODES).contains(&b.backup_code_count) {
        problems.push(ConfigError::invalid(
            BACKUP_CODE_COUNT,
            format!(
                "expected a number from 1 to {MAX_BACKUP_CODES}, got {}",
                b.backup_code_count
            ),
        ));
    }

    // Trusted proxies.
    for net in &b.trusted_proxies {
        if net.prefix_len() == 0 {
            warnings.push(ConfigWarning::TrustsEveryProxy { network: *net });
        }
    }

    let (Some(secret_key_base), Some(public_url), true) =
        (secret_key_base, public_url, problems.is_empty())
    else {
        if problems.is_empty() {
            // Every path that leaves a required value unset records why; keep
            // the "never empty" promise of `ConfigErrors` even so.
            problems.push(ConfigError::missing(
                SECRET_KEY_BASE,
                "could not be determined",
            ));
        }
        problems.sort_by_key(|p| ENV_VARS.iter().position(|(n, _)| *n == p.variable));
        return Err(ConfigErrors { problems });
    };

    Ok(Config {
        env,
        database_url: b.database_url,
        secret_key_base,
        secret_key_base_old: b.secret_key_base_old,
        public_url,
        cookie_domain,
        port: b.port,
        encryption_key: b.encryption_key,
        encryption_keys_old: b.encryption_keys_old,
        redis_url: b.redis_url,
        smtp_url: b.smtp_url,
        session_ttl: b.session_ttl,
        idle_timeout: b.idle_timeout,
        absolute_timeout: b.absolute_timeout,
        mfa_pending_ttl: b.mfa_pending_ttl,
        touch_interval: b.touch_interval,
        trust_ttl: b.trust_ttl,
        sudo_window: b.sudo_window,
        rate_limits: b.rate_limits,
        trusted_proxies: b.trusted_proxies,
        session_cache: b.session_cache,
        revocation_poll: b.revocation_poll,
        revocation_listen: b.revocation_listen,
        password_min_length: b.password_min_length,
        password_max_length: b.password_max_length,
        password_reject_common: b.password_reject_common,
        lockout_threshold: b.lockout_threshold,
        lockout_duration: b.lockout_duration,
        mfa_issuer: b.mfa_issuer,
        backup_code_count: b.backup_code_count,
        confirm_ttl: b.confirm_ttl,
        reset_password_ttl: b.reset_password_ttl,
        change_email_ttl: b.change_email_ttl,
        deletion_grace_period: b.deletion_grace_period,
        audit_retention: b.audit_retention,
        warnings,
    })
}

/// Parses `PUBLIC_URL` as an http(s) origin. Messages never echo the value,
/// which could carry credentials.
fn parse_public_url(raw: &str, prod: bool) -> Result<Url, String> {
    const EXPECTED: &str = "expected an http(s) origin like https://myapp.com";
    let url =
        Url::parse(raw).map_err(|e| format!("{EXPECTED}, got a value that is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "{EXPECTED}, got the scheme {}",
            quoted(url.scheme())
        ));
    }
    if url.host().is_none() {
        return Err(format!("{EXPECTED}, got a URL without a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "{EXPECTED}, got a URL with a user name or password; remove the credentials"
        ));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{EXPECTED} (scheme, host and optional port), got a URL with a path, query or fragment"
        ));
    }
    if prod && url.scheme() != "https" {
        return Err(format!(
            "must use https in prod (cookies are Secure and browsers drop them over http), got {}",
            url.as_str().trim_end_matches('/')
        ));
    }
    Ok(url)
}

/// Checks a (trimmed, lowercased) cookie domain's syntax and that it
/// domain-matches the public host (RFC 6265 §5.1.3).
fn check_cookie_domain(domain: &str, public_url: Option<&Url>) -> Result<(), String> {
    const EXPECTED: &str = "expected a domain name like .myapp.com";
    let bare = domain.strip_prefix('.').unwrap_or(domain);
    let labels: Vec<&str> = bare.split('.').collect();
    let label_ok = |label: &&str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    if bare.is_empty() || bare.len() > 253 || !labels.iter().all(label_ok) {
        return Err(format!(
            "{EXPECTED} (letters, digits, hyphens and dots; internationalised names in \
             punycode), got {}",
            quoted(domain)
        ));
    }
    if labels.len() < 2 {
        return Err(format!(
            "{EXPECTED}, got the bare top-level name {}; browsers refuse cookies for it",
            quoted(domain)
        ));
    }
    if labels.iter().all(|l| l.bytes().all(|b| b.is_ascii_digit())) {
        return Err(format!(
            "{EXPECTED}, got the IP address {}; leave COOKIE_DOMAIN unset to use host-only cookies",
            quoted(domain)
        ));
    }
    let Some(url) = public_url else {
        // PUBLIC_URL has its own problem; the match cannot be checked.
        return Ok(());
    };
    match url.host() {
        Some(Host::Domain(host)) => {
            let host = host.trim_end_matches('.');
            let matches = host == bare
                || host
                    .strip_suffix(bare)
                    .is_some_and(|prefix| prefix.ends_with('.'));
            if matches {
                Ok(())
            } else {
                Err(format!(
                    "{} does not domain-match the PUBLIC_URL host {}: it must be that host or a \
                     parent domain of it, e.g. .myapp.com for app.myapp.com",
                    quoted(domain),
                    quoted(host)
                ))
            }
        }
        Some(_) => Err(format!(
            "the PUBLIC_URL host {} is an IP address, for which cookies are always host-only; \
             leave COOKIE_DOMAIN unset",
            url.host_str().unwrap_or_default()
        )),
        None => Ok(()),
    }
}

/// Checks that `url` starts with one of `allowed` (case-insensitively).
/// The message names at most the scheme, never the rest of the value.
fn check_scheme(url: &str, allowed: &[&str]) -> Result<(), String> {
    let ok = allowed.iter().any(|prefix| {
        url.get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
    });
    if ok {
        return Ok(());
    }
    let expected = match allowed {
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
        [] => String::new(),
    };
    // Echo a scheme only in the unambiguous `scheme://` form: in
    // `user:password@host` the part before ':' is a user name, not a scheme.
    let scheme = url.split_once("://").map(|(s, _)| s).filter(|s| {
        !s.is_empty()
            && s.len() <= 16
            && s.starts_with(|c: char| c.is_ascii_alphabetic())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    });
    Err(match scheme {
        Some(scheme) => format!(
            "expected a URL starting with {expected}, got one with the scheme {}",
            quoted(scheme)
        ),
        None => {
            format!("expected a URL starting with {expected}, got a value without a URL scheme")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyRing;
    use base64::Engine as _;
    use proptest::prelude::*;

    /// 80 bytes; the marker must never show up in Debug output or errors.
    const SECRET: &str =
        "TOPSECRET-TOPSECRET-TOPSECRET-TOPSECRET-TOPSECRET-TOPSECRET-TOPSECRET-TOPSECRET-";
    const SECRET_OLD: &str =
        "OLDSECRET-OLDSECRET-OLDSECRET-OLDSECRET-OLDSECRET-OLDSECRET-OLDSECRET-OLDSECRET-";

    fn map<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.as_ref().to_owned(), v.as_ref().to_owned()))
            .collect()
    }

    fn ok<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> Config {
        Config::from_env_map(&map(pairs)).unwrap_or_else(|e| panic!("{e}"))
    }

    fn err<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> ConfigErrors {
        match Config::from_env_map(&map(pairs)) {
            Ok(config) => panic!("expected errors, got {config:?}"),
            Err(e) => e,
        }
    }

    fn problem_vars(errors: &ConfigErrors) -> Vec<&'static str> {
        errors
            .problems()
            .iter()
            .map(ConfigError::variable)
            .collect()
    }

    /// The one problem of `errors`, which must be about `var`.
    fn only_problem(errors: &ConfigErrors, var: &str) -> ConfigError {
        assert_eq!(problem_vars(errors), [var], "{errors}");
        errors.problems()[0].clone()
    }

    fn key_b64(byte: u8) -> String {
        base64::engine::general_purpose::STANDARD.encode([byte; 32])
    }

    fn key_id(byte: u8) -> String {
        EncryptionKey::from_bytes([byte; 32])
            .unwrap()
            .id()
            .to_owned()
    }

    fn prod() -> Vec<(&'static str, String)> {
        vec![
            (SIGRA_ENV, "prod".to_owned()),
            (SECRET_KEY_BASE, SECRET.to_owned()),
            (PUBLIC_URL, "https://app.myapp.com".to_owned()),
        ]
    }

    fn with(
        mut base: Vec<(&'static str, String)>,
        name: &'static str,
        value: &str,
    ) -> Vec<(&'static str, String)> {
        base.retain(|(n, _)| *n != name);
        base.push((name, value.to_owned()));
        base
    }

    fn signs_like(config: &Config, secret: &str) -> bool {
        let from_config = KeyRing::from_config(config).purpose("test");
        let expected = KeyRing::new(
            SecretKeyBase::new(secret.as_bytes().to_vec()).unwrap(),
            None,
        )
        .purpose("test");
        ring::hmac::sign(from_config.current(), b"m").as_ref()
            == ring::hmac::sign(expected.current(), b"m").as_ref()
    }

    // --- defaults -----------------------------------------------------------

    #[test]
    fn defaults_match_the_design() {
        let c = Config::builder(Environment::Dev).build().unwrap();
        assert_eq!(c.env, Environment::Dev);
        assert!(c.database_url.is_none());
        assert!(c.secret_key_base_old.is_none());
        assert_eq!(c.public_url.as_str(), "http://localhost:4000/");
        assert_eq!(c.public_host(), "localhost");
        assert_eq!(c.cookie_domain, None);
        assert_eq!(c.port, 4000);
        assert!(c.encryption_key.is_none());
        assert!(c.encryption_keys_old.is_empty());
        assert!(c.redis_url.is_none());
        assert!(c.smtp_url.is_none());
        assert_eq!(c.session_ttl, days(60));
        assert_eq!(c.idle_timeout, minutes(30));
        assert_eq!(c.absolute_timeout, hours(24));
        assert_eq!(c.mfa_pending_ttl, minutes(5));
        assert_eq!(c.touch_interval, minutes(5));
        assert_eq!(c.trust_ttl, days(30));
        assert_eq!(c.sudo_window, minutes(5));
        assert_eq!(c.rate_limits, RateLimits::default());
        assert!(c.trusted_proxies.is_empty());
        assert!(c.session_cache);
        assert_eq!(c.revocation_poll, Duration::from_millis(100));
        assert!(c.revocation_listen);
        assert_eq!(c.password_min_length, 8);
        assert_eq!(c.password_max_length, 256);
        assert!(c.password_reject_common);
        assert_eq!(c.lockout_threshold, 5);
        assert_eq!(c.lockout_duration, minutes(15));
        assert_eq!(c.mfa_issuer, "Sigra");
        assert_eq!(c.backup_code_count, 8);
        assert_eq!(c.confirm_ttl, hours(48));
        assert_eq!(c.reset_password_ttl, hours(1));
        assert_eq!(c.change_email_ttl, hours(24));
        assert_eq!(c.deletion_grace_period, days(14));
        assert_eq!(c.audit_retention, None);
        assert_eq!(c.warnings(), [ConfigWarning::GeneratedSecretKeyBase]);
        assert!(!c.secure_cookies());
    }

    #[test]
    fn an_empty_environment_gives_the_builder_defaults() {
        let from_env = Config::from_env_map(&HashMap::new()).unwrap();
        let built = Config::builder(Environment::Dev).build().unwrap();
        // Secrets are redacted, so the Debug output compares every other field.
        assert_eq!(format!("{from_env:?}"), format!("{built:?}"));
    }

    #[test]
    fn empty_and_blank_values_count_as_unset() {
        let mut pairs: Vec<(&str, &str)> = ENV_VARS.iter().map(|(n, _)| (*n, "")).collect();
        let empty = ok(&pairs);
        let defaults = Config::builder(Environment::Dev).build().unwrap();
        assert_eq!(format!("{empty:?}"), format!("{defaults:?}"));

        for pair in &mut pairs {
            if !pair.0.starts_with("SECRET_KEY_BASE") {
                pair.1 = "  \t";
            }
        }
        assert_eq!(format!("{:?}", ok(&pairs)), format!("{defaults:?}"));

        // In prod the required ones are then missing.
        let errors = err(&[
            (SIGRA_ENV, "prod"),
            (SECRET_KEY_BASE, ""),
            (PUBLIC_URL, " "),
        ]);
        assert_eq!(problem_vars(&errors), [SECRET_KEY_BASE, PUBLIC_URL]);
        assert!(
            errors
                .problems()
                .iter()
                .all(|p| p.kind() == ConfigErrorKind::Missing)
        );
    }

    // --- every variable -------------------------------------------------------

    type Check = fn(&Config) -> bool;

    /// A non-default value for `name` (plus any variables it needs) and how to
    /// see that it took effect. A new entry in ENV_VARS without a sample fails.
    fn sample(name: &str) -> (Vec<(&'static str, String)>, Check) {
        let one = |n: &'static str, v: &str| vec![(n, v.to_owned())];
        match name {
            SIGRA_ENV => (with(prod(), SIGRA_ENV, "PROD"), |c| {
                c.env == Environment::Prod
            }),
            DATABASE_URL => (one(DATABASE_URL, "postgres://u:pw@db.internal/app"), |c| {
                c.database_url
                    .as_ref()
                    .is_some_and(|u| u.expose_secret() == "postgres://u:pw@db.internal/app")
            }),
            SECRET_KEY_BASE => (one(SECRET_KEY_BASE, SECRET), |c| {
                c.warnings().is_empty() && signs_like(c, SECRET)
            }),
            SECRET_KEY_BASE_OLD => (one(SECRET_KEY_BASE_OLD, SECRET_OLD), |c| {
                KeyRing::from_config(c).has_old()
            }),
            PUBLIC_URL => (one(PUBLIC_URL, "https://auth.example.org"), |c| {
                c.public_url.as_str() == "https://auth.example.org/"
            }),
            COOKIE_DOMAIN => (
                vec![
                    (PUBLIC_URL, "https://app.example.org".to_owned()),
                    (COOKIE_DOMAIN, " .Example.ORG ".to_owned()),
                ],
                |c| c.cookie_domain.as_deref() == Some(".example.org"),
            ),
            PORT => (one(PORT, "8080"), |c| {
                c.port == 8080 && c.public_url.as_str() == "http://localhost:8080/"
            }),
            ENCRYPTION_KEY => (one(ENCRYPTION_KEY, &key_b64(1)), |c| {
                c.encryption_key.as_ref().map(|k| k.id().to_owned()) == Some(key_id(1))
            }),
            ENCRYPTION_KEY_OLD => (
                vec![
                    (ENCRYPTION_KEY, key_b64(1)),
                    (
                        ENCRYPTION_KEY_OLD,
                        format!("{}, {},", key_b64(2), key_b64(3)),
                    ),
                ],
                |c| {
                    let ids: Vec<_> = c
                        .encryption_keys_old
                        .iter()
                        .map(|k| k.id().to_owned())
                        .collect();
                    ids == [key_id(2), key_id(3)]
                },
            ),
            REDIS_URL => (one(REDIS_URL, "rediss://:pw@cache:6380"), |c| {
                c.redis_url
                    .as_ref()
                    .is_some_and(|u| u.expose_secret() == "rediss://:pw@cache:6380")
            }),
            SMTP_URL => (one(SMTP_URL, "smtps://u:pw@mail:465"), |c| {
                c.smtp_url
                    .as_ref()
                    .is_some_and(|u| u.expose_secret() == "smtps://u:pw@mail:465")
            }),
            SESSION_TTL => (one(SESSION_TTL, "7d"), |c| c.session_ttl == days(7)),
            IDLE_TIMEOUT => (one(IDLE_TIMEOUT, "10m"), |c| c.idle_timeout == minutes(10)),
            ABSOLUTE_TIMEOUT => (one(ABSOLUTE_TIMEOUT, "12h"), |c| {
                c.absolute_timeout == hours(12)
            }),
            MFA_PENDING_TTL => (one(MFA_PENDING_TTL, "90s"), |c| {
                c.mfa_pending_ttl == Duration::from_secs(90)
            }),
            TOUCH_INTERVAL => (one(TOUCH_INTERVAL, "1m"), |c| {
                c.touch_interval == minutes(1)
            }),
            TRUST_TTL => (one(TRUST_TTL, "7d"), |c| c.trust_ttl == days(7)),
            SUDO_WINDOW => (one(SUDO_WINDOW, "10m"), |c| c.sudo_window == minutes(10)),
            "SIGRA_RATE_LIMIT_LOGIN" => (one("SIGRA_RATE_LIMIT_LOGIN", "2/1s"), |c| {
                c.rate_limits.login == RateLimit::new(2, Duration::from_secs(1))
            }),
            "SIGRA_RATE_LIMIT_REGISTER" => (one("SIGRA_RATE_LIMIT_REGISTER", "3/1d"), |c| {
                c.rate_limits.register == RateLimit::new(3, days(1))
            }),
            "SIGRA_RATE_LIMIT_RESET_PASSWORD" => {
                (one("SIGRA_RATE_LIMIT_RESET_PASSWORD", "1/5m"), |c| {
                    c.rate_limits.reset_password == RateLimit::new(1, minutes(5))
                })
            }
            "SIGRA_RATE_LIMIT_MFA" => (one("SIGRA_RATE_LIMIT_MFA", "4/500ms"), |c| {
                c.rate_limits.mfa == RateLimit::new(4, Duration::from_millis(500))
            }),
            "SIGRA_RATE_LIMIT_API_TOKEN_CREATE" => {
                (one("SIGRA_RATE_LIMIT_API_TOKEN_CREATE", "100/2h"), |c| {
                    c.rate_limits.api_token_create == RateLimit::new(100, hours(2))
                })
            }
            TRUSTED_PROXIES => (
                one(TRUSTED_PROXIES, "10.1.2.3/8, 192.168.1.10 ,::1,,fd00::1/8"),
                |c| {
                    let expected: Vec<IpNet> =
                        ["10.0.0.0/8", "192.168.1.10/32", "::1/128", "fd00::/8"]
                            .iter()
                            .map(|s| s.parse().unwrap())
                            .collect();
                    c.trusted_proxies == expected && c.warnings().len() == 1
                },
            ),
            SESSION_CACHE => (one(SESSION_CACHE, "Off"), |c| !c.session_cache),
            REVOCATION_POLL => (one(REVOCATION_POLL, "250ms"), |c| {
                c.revocation_poll == Duration::from_millis(250)
            }),
            REVOCATION_LISTEN => (one(REVOCATION_LISTEN, "off"), |c| !c.revocation_listen),
            PASSWORD_MIN_LENGTH => (one(PASSWORD_MIN_LENGTH, "12"), |c| {
                c.password_min_length == 12
            }),
            PASSWORD_MAX_LENGTH => (one(PASSWORD_MAX_LENGTH, "128"), |c| {
                c.password_max_length == 128
            }),
            PASSWORD_REJECT_COMMON => (one(PASSWORD_REJECT_COMMON, "off"), |c| {
                !c.password_reject_common
            }),
            LOCKOUT_THRESHOLD => (one(LOCKOUT_THRESHOLD, "3"), |c| c.lockout_threshold == 3),
            LOCKOUT_DURATION => (one(LOCKOUT_DURATION, "1h"), |c| {
                c.lockout_duration == hours(1)
            }),
            MFA_ISSUER => (one(MFA_ISSUER, " My App "), |c| c.mfa_issuer == "My App"),
            BACKUP_CODE_COUNT => (one(BACKUP_CODE_COUNT, "10"), |c| c.backup_code_count == 10),
            CONFIRM_TTL => (one(CONFIRM_TTL, "1d"), |c| c.confirm_ttl == days(1)),
            RESET_PASSWORD_TTL => (one(RESET_PASSWORD_TTL, "30m"), |c| {
                c.reset_password_ttl == minutes(30)
            }),
            CHANGE_EMAIL_TTL => (one(CHANGE_EMAIL_TTL, "2h"), |c| {
                c.change_email_ttl == hours(2)
            }),
            DELETION_GRACE_PERIOD => (one(DELETION_GRACE_PERIOD, "0s"), |c| {
                c.deletion_grace_period.is_zero()
            }),
            AUDIT_RETENTION => (one(AUDIT_RETENTION, "365d"), |c| {
                c.audit_retention == Some(days(365))
            }),
            other => panic!("no sample for {other}: add one to `sample` in config.rs tests"),
        }
    }

    #[test]
    fn every_variable_is_read_and_takes_effect() {
        let defaults = Config::builder(Environment::Dev).build().unwrap();
        for (name, meaning) in ENV_VARS {
            assert!(!meaning.is_empty(), "{name} needs a meaning");
            let (pairs, took_effect) = sample(name);
            assert!(
                !took_effect(&defaults),
                "{name}: the sample must differ from the default"
            );
            let config = ok(&pairs);
            assert!(took_effect(&config), "{name} was not applied: {config:?}");
            assert!(
                !config
                    .warnings()
                    .iter()
                    .any(|w| matches!(w, ConfigWarning::UnknownVariable { .. })),
                "{name}"
            );
        }
    }

    #[test]
    fn the_table_is_complete_and_unique() {
        let names: Vec<_> = ENV_VARS.iter().map(|(n, _)| *n).collect();
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
        for action in RateLimitAction::ALL {
            assert!(names.contains(&action.env_var()), "{}", action.env_var());
        }
        for name in &names {
            assert!(
                name.starts_with("SIGRA_")
                    || [
                        "DATABASE_URL",
                        "SECRET_KEY_BASE",
                        "SECRET_KEY_BASE_OLD",
                        "PUBLIC_URL"
                    ]
                    .contains(name)
                    || [
                        "COOKIE_DOMAIN",
                        "PORT",
                        "ENCRYPTION_KEY",
                        "ENCRYPTION_KEY_OLD"
                    ]
                    .contains(name)
                    || ["REDIS_URL", "SMTP_URL"].contains(name),
                "{name}"
            );
        }
    }

    // --- errors -------------------------------------------------------------

    #[test]
    fn a_bad_duration_names_the_variable_and_the_expected_form() {
        let errors = err(&[(IDLE_TIMEOUT, "abc")]);
        let problem = only_problem(&errors, IDLE_TIMEOUT);
        assert_eq!(problem.kind(), ConfigErrorKind::Invalid);
        assert_eq!(
            problem.to_string(),
            r#"SIGRA_IDLE_TIMEOUT: expected a duration like 250ms, 90s, 30m, 24h or 60d, got "abc""#
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let errors = err(&[
            (SIGRA_ENV, "prod"),
            (SECRET_KEY_BASE, "TOPSHORT"),
            (PUBLIC_URL, "http://app.myapp.com"),
            (PORT, "http"),
            (IDLE_TIMEOUT, "abc"),
            ("SIGRA_RATE_LIMIT_LOGIN", "0/1m"),
            (TRUSTED_PROXIES, "10.0.0.0/33, nope"),
            (SESSION_CACHE, "maybe"),
            (LOCKOUT_THRESHOLD, "0"),
            (DATABASE_URL, "mysql://root:DBPASSWORD@db/app"),
            (ENCRYPTION_KEY, "NOTAKEYMARKER"),
            (AUDIT_RETENTION, "forever"),
        ]);
        let expected = [
            SECRET_KEY_BASE,
            PUBLIC_URL,
            PORT,
            ENCRYPTION_KEY,
            DATABASE_URL,
            IDLE_TIMEOUT,
            "SIGRA_RATE_LIMIT_LOGIN",
            TRUSTED_PROXIES,
            SESSION_CACHE,
            LOCKOUT_THRESHOLD,
            AUDIT_RETENTION,
        ];
        let mut got = problem_vars(&errors);
        assert_eq!(got.len(), expected.len(), "{errors}");
        // Ordered as in ENV_VARS.
        let position = |v: &&str| ENV_VARS.iter().position(|(n, _)| n == v);
        assert!(
            got.windows(2).all(|w| position(&w[0]) <= position(&w[1])),
            "{got:?}"
        );
        got.sort_unstable();
        let mut expected = expected.to_vec();
        expected.sort_unstable();
        assert_eq!(got, expected);

        let shown = errors.to_string();
        assert_eq!(shown.lines().count(), expected.len() + 1, "{shown}");
        assert!(shown.starts_with("invalid configuration (11 problems):"));
        for var in expected {
            assert!(
                shown
                    .lines()
                    .any(|l| l.trim_start().starts_with(&format!("{var}: "))),
                "{var}"
            );
        }
        for secret in ["TOPSHORT", "DBPASSWORD", "root", "NOTAKEYMARKER"] {
            assert!(!shown.contains(secret), "{secret} leaked: {shown}");
        }
        assert!(shown.contains("got 8 bytes"), "{shown}");
        assert!(shown.contains(r#""mysql""#), "{shown}");
        assert!(shown.contains(r#""10.0.0.0/33", "nope""#), "{shown}");
        assert!(shown.contains("`keep`"), "{shown}");
    }

    #[test]
    fn an_unknown_environment_is_an_error_and_the_rest_is_checked_as_prod() {
        let errors = err(&[(SIGRA_ENV, "production")]);
        assert_eq!(
            problem_vars(&errors),
            [SIGRA_ENV, SECRET_KEY_BASE, PUBLIC_URL]
        );
        assert!(
            errors
                .to_string()
                .contains(r#"expected dev, test or prod, got "production""#)
        );
    }

    #[test]
    fn environment_parses_case_insensitively_and_displays() {
        for (input, env) in [
            ("dev", Environment::Dev),
            ("TEST", Environment::Test),
            ("Prod", Environment::Prod),
        ] {
            assert_eq!(input.parse::<Environment>(), Ok(env));
            assert_eq!(env.to_string(), input.to_lowercase());
        }
        assert!("staging".parse::<Environment>().is_err());
        assert!(" dev".parse::<Environment>().is_err());
        assert_eq!(Environment::default(), Environment::Dev);
        assert!(Environment::Prod.is_prod() && !Environment::Test.is_prod());
        assert_eq!(ok(&[(SIGRA_ENV, " test ")]).env, Environment::Test);
    }

    #[test]
    fn secret_key_base_rules() {
        let errors = err(&[(SECRET_KEY_BASE, &SECRET[..63])]);
        let problem = only_problem(&errors, SECRET_KEY_BASE);
        assert!(
            problem
                .message()
                .contains("at least 64 bytes, got 63 bytes"),
            "{problem}"
        );
        assert!(problem.message().contains("sigra gen-secret"));
        assert!(!problem.to_string().contains("TOPSECRET"));

        let errors = err(&[(SECRET_KEY_BASE, SECRET), (SECRET_KEY_BASE_OLD, "OLDSHORT")]);
        let problem = only_problem(&errors, SECRET_KEY_BASE_OLD);
        assert!(problem.message().contains("got 8 bytes"));
        assert!(!errors.to_string().contains("OLDSHORT"));

        // Not trimmed: the bytes are the secret, exactly 64 of them here.
        let padded = format!(" {} ", &SECRET[..62]);
        let config = ok(&[(SECRET_KEY_BASE, padded.as_str())]);
        assert!(signs_like(&config, &padded));

        // In dev a bad secret is an error, not replaced by a generated one.
        assert!(Config::from_env_map(&map(&[(SECRET_KEY_BASE, "x")])).is_err());
    }

    #[test]
    fn prod_requires_a_secret_and_an_https_public_url() {
        let errors = err(&[(SIGRA_ENV, "prod")]);
        assert_eq!(problem_vars(&errors), [SECRET_KEY_BASE, PUBLIC_URL]);
        assert!(
            errors
                .problems()
                .iter()
                .all(|p| p.kind() == ConfigErrorKind::Missing)
        );
        assert!(errors.to_string().contains("sigra gen-secret"));

        let errors = err(&with(prod(), PUBLIC_URL, "http://app.myapp.com"));
        let problem = only_problem(&errors, PUBLIC_URL);
        assert!(
            problem.message().contains("must use https in prod"),
            "{problem}"
        );

        let config = ok(&prod());
        assert_eq!(config.env, Environment::Prod);
        assert!(config.secure_cookies());
        assert!(signs_like(&config, SECRET));
        assert_eq!(
            config.warnings(),
            [
                ConfigWarning::CookieDomainUnset,
                ConfigWarning::NoEncryptionKey
            ]
        );

        let mut full = with(prod(), COOKIE_DOMAIN, ".myapp.com");
        full.push((ENCRYPTION_KEY, key_b64(9)));
        assert!(ok(&full).warnings().is_empty());
    }

    #[test]
    fn dev_and_test_accept_http_and_secure_cookies_follow_the_scheme() {
        let http = ok(&[(SIGRA_ENV, "test"), (PUBLIC_URL, "http://127.0.0.1:3000")]);
        assert!(!http.secure_cookies());
        assert_eq!(http.public_host(), "127.0.0.1");
        let https = ok(&[(PUBLIC_URL, "https://dev.myapp.test/")]);
        assert!(https.secure_cookies());
        assert_eq!(https.public_host(), "dev.myapp.test");
        let v6 = ok(&[(PUBLIC_URL, "http://[::1]:4000")]);
        assert_eq!(v6.public_host(), "[::1]");
    }

    #[test]
    fn public_url_must_be_an_http_origin() {
        for good in [
            "https://myapp.com",
            "https://myapp.com/",
            "http://localhost:3000",
            "HTTPS://MyApp.com",
        ] {
            ok(&[(PUBLIC_URL, good)]);
        }
        let bad = [
            ("ftp://myapp.com", "scheme \"ftp\""),
            ("myapp.com", "not a URL"),
            ("https://user:PWMARKER@myapp.com", "user name or password"),
            ("https://myapp.com/app", "path, query or fragment"),
            ("https://myapp.com?x=1", "path, query or fragment"),
            ("https://myapp.com/#top", "path, query or fragment"),
            ("mailto:a@b.c", "scheme \"mailto\""),
        ];
        for (input, why) in bad {
            let errors = err(&[(PUBLIC_URL, input)]);
            let problem = only_problem(&errors, PUBLIC_URL);
            assert!(problem.message().contains(why), "{input}: {problem}");
            assert!(
                problem.message().contains("https://myapp.com"),
                "{input}: {problem}"
            );
            assert!(!problem.message().contains("PWMARKER"));
        }
        // The builder validates the same way.
        let errors = Config::builder(Environment::Test)
            .public_url("nope")
            .build()
            .unwrap_err();
        only_problem(&errors, PUBLIC_URL);
    }

    #[test]
    fn cookie_domain_must_domain_match_the_public_host() {
        let host = "https://app.myapp.com";
        for good in [
            ".myapp.com",
            "myapp.com",
            "app.myapp.com",
            ".app.myapp.com",
            ".MyApp.COM",
        ] {
            let config = ok(&[(PUBLIC_URL, host), (COOKIE_DOMAIN, good)]);
            assert_eq!(
                config.cookie_domain.as_deref(),
                Some(good.to_lowercase().as_str())
            );
        }
        let bad = [
            ("evilmyapp.com", "does not domain-match"),
            (".evilmyapp.com", "does not domain-match"),
            ("other.com", "does not domain-match"),
            ("sub.app.myapp.com", "does not domain-match"),
            ("com", "bare top-level"),
            (".com", "bare top-level"),
            ("my_app.com", "letters, digits"),
            ("myapp..com", "letters, digits"),
            ("-myapp.com", "letters, digits"),
            ("myapp.com.", "letters, digits"),
            ("my app.com", "letters, digits"),
            (".", "letters, digits"),
            ("..myapp.com", "letters, digits"),
            ("bücher.myapp.com", "letters, digits"),
            ("1.2.3.4", "IP address"),
        ];
        for (domain, why) in bad {
            let errors = err(&[(PUBLIC_URL, host), (COOKIE_DOMAIN, domain)]);
            let problem = only_problem(&errors, COOKIE_DOMAIN);
            assert!(problem.message().contains(why), "{domain}: {problem}");
        }
        let errors = err(&[
            (PUBLIC_URL, "http://127.0.0.1:4000"),
            (COOKIE_DOMAIN, "myapp.com"),
        ]);
        assert!(
            only_problem(&errors, COOKIE_DOMAIN)
                .message()
                .contains("IP address")
        );

        // Unset PUBLIC_URL in dev means localhost, a bare name.
        let errors = err(&[(COOKIE_DOMAIN, ".myapp.com")]);
        only_problem(&errors, COOKIE_DOMAIN);

        // Through the builder, an empty domain is a problem, not "unset".
        let errors = Config::builder(Environment::Test)
            .cookie_domain("")
            .build()
            .unwrap_err();
        only_problem(&errors, COOKIE_DOMAIN);
    }

    #[test]
    fn service_urls_need_the_right_scheme_and_are_never_echoed() {
        let cases: [(&str, &[&str], &[&str]); 3] = [
            (
                DATABASE_URL,
                &[
                    "postgres://u:p@db/app",
                    "postgresql://db/app",
                    "POSTGRES://db",
                    "sqlite://data.db",
                    "sqlite::memory:",
                    "sqlite:data.db?mode=rwc",
                ],
                &[
                    "mysql://root:URLSECRET@db",
                    "postgres:/db",
                    "http://db",
                    "URLSECRET",
                    "sqlit:x",
                    "://URLSECRET",
                ],
            ),
            (
                REDIS_URL,
                &["redis://localhost:6379", "rediss://:p@cache:6380/0"],
                &[
                    "redis:/x",
                    "http://URLSECRET@cache",
                    "memcached://cache",
                    "URLSECRET:URLSECRET@cache",
                ],
            ),
            (
                SMTP_URL,
                &["smtp://mail:25", "smtps://u:p@mail:465"],
                &["smtp:mail", "https://mail", "URLSECRET"],
            ),
        ];
        for (var, good, bad) in cases {
            for url in good {
                ok(&[(var, *url)]);
            }
            for url in bad {
                let errors = err(&[(var, *url)]);
                let problem = only_problem(&errors, var);
                assert!(
                    problem
                        .message()
                        .starts_with("expected a URL starting with"),
                    "{problem}"
                );
                assert!(!problem.to_string().contains("URLSECRET"), "{problem}");
            }
        }
        let errors = err(&[(DATABASE_URL, "mysql://db")]);
        assert_eq!(
            errors.problems()[0].to_string(),
            r#"DATABASE_URL: expected a URL starting with postgres://, postgresql:// or sqlite:, got one with the scheme "mysql""#
        );
    }

    #[test]
    fn encryption_keys_are_checked_without_echoing_them() {
        let short = base64::engine::general_purpose::STANDARD.encode([0x5a; 31]);
        let errors = err(&[(ENCRYPTION_KEY, short.as_str())]);
        let problem = only_problem(&errors, ENCRYPTION_KEY);
        assert!(problem.message().contains("exactly 32 bytes"));
        assert!(!problem.to_string().contains(&short));

        let old = format!("{},KEYMARKER,{}", key_b64(2), short);
        let errors = err(&[(ENCRYPTION_KEY, key_b64(1)), (ENCRYPTION_KEY_OLD, old)]);
        let problem = only_problem(&errors, ENCRYPTION_KEY_OLD);
        assert!(problem.message().contains("entry 2, 3 of 3"), "{problem}");
        assert!(!problem.to_string().contains("KEYMARKER"));
        assert!(!problem.to_string().contains(&short));

        // URL-safe base64 without padding is accepted too.
        let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0xfb; 32]);
        assert!(ok(&[(ENCRYPTION_KEY, url_safe)]).encryption_key.is_some());

        // Old keys without a current key is a half-done rotation.
        let errors = err(&[(ENCRYPTION_KEY_OLD, key_b64(2))]);
        assert_eq!(
            only_problem(&errors, ENCRYPTION_KEY_OLD).kind(),
            ConfigErrorKind::Conflict
        );
        // ...but not reported twice when the current key is merely malformed.
        let errors = err(&[
            (ENCRYPTION_KEY, "bad".to_owned()),
            (ENCRYPTION_KEY_OLD, key_b64(2)),
        ]);
        only_problem(&errors, ENCRYPTION_KEY);
    }

    #[test]
    fn numbers_and_switches() {
        for bad in ["0", "65536", "+80", "-1", "80x", "8 0"] {
            only_problem(&err(&[(PORT, bad)]), PORT);
        }
        assert_eq!(ok(&[(PORT, "65535")]).port, 65535);
        for (value, on) in [
            ("on", true),
            ("TRUE", true),
            ("1", true),
            ("off", false),
            ("False", false),
            ("0", false),
        ] {
            assert_eq!(ok(&[(SESSION_CACHE, value)]).session_cache, on, "{value}");
        }
        for bad in ["yes", "2", "enabled"] {
            let errors = err(&[(SESSION_CACHE, bad)]);
            assert!(
                only_problem(&errors, SESSION_CACHE)
                    .message()
                    .contains("on/off")
            );
        }
        only_problem(&err(&[(BACKUP_CODE_COUNT, "0")]), BACKUP_CODE_COUNT);
        only_problem(&err(&[(BACKUP_CODE_COUNT, "101")]), BACKUP_CODE_COUNT);
        only_problem(
            &err(&[(BACKUP_CODE_COUNT, "99999999999999999999999")]),
            BACKUP_CODE_COUNT,
        );
        only_problem(&err(&[(LOCKOUT_THRESHOLD, "-5")]), LOCKOUT_THRESHOLD);
    }

    #[test]
    fn cross_field_rules() {
        let errors = err(&[(IDLE_TIMEOUT, "2h"), (ABSOLUTE_TIMEOUT, "1h")]);
        let problem = only_problem(&errors, IDLE_TIMEOUT);
        assert_eq!(problem.kind(), ConfigErrorKind::Conflict);
        assert!(
            problem.message().contains("SIGRA_ABSOLUTE_TIMEOUT (1h)"),
            "{problem}"
        );
        // Equal is fine.
        ok(&[(IDLE_TIMEOUT, "1h"), (ABSOLUTE_TIMEOUT, "60m")]);
        // A malformed value is not also reported as a conflict.
        let errors = err(&[(IDLE_TIMEOUT, "abc"), (ABSOLUTE_TIMEOUT, "1m")]);
        assert_eq!(problem_vars(&errors), [IDLE_TIMEOUT]);

        let errors = err(&[(TOUCH_INTERVAL, "30m")]);
        assert!(
            only_problem(&errors, TOUCH_INTERVAL)
                .message()
                .contains("SIGRA_IDLE_TIMEOUT")
        );
        assert!(ok(&[(TOUCH_INTERVAL, "0s")]).touch_interval.is_zero());

        let errors = err(&[(PASSWORD_MIN_LENGTH, "20"), (PASSWORD_MAX_LENGTH, "10")]);
        assert_eq!(
            only_problem(&errors, PASSWORD_MIN_LENGTH).kind(),
            ConfigErrorKind::Conflict
        );
        only_problem(&err(&[(PASSWORD_MIN_LENGTH, "0")]), PASSWORD_MIN_LENGTH);
        ok(&[(PASSWORD_MIN_LENGTH, "1"), (PASSWORD_MAX_LENGTH, "1")]);

        let errors = err(&[(LOCKOUT_THRESHOLD, "0")]);
        assert!(
            only_problem(&errors, LOCKOUT_THRESHOLD)
                .message()
                .contains("at least 1")
        );
    }

    #[test]
    fn durations_must_be_in_range() {
        for var in [
            SESSION_TTL,
            IDLE_TIMEOUT,
            ABSOLUTE_TIMEOUT,
            MFA_PENDING_TTL,
            TRUST_TTL,
            SUDO_WINDOW,
            REVOCATION_POLL,
            LOCKOUT_DURATION,
            CONFIRM_TTL,
            RESET_PASSWORD_TTL,
            CHANGE_EMAIL_TTL,
            AUDIT_RETENTION,
        ] {
            let errors = Config::from_env_map(&map(&[(var, "0ms")])).unwrap_err();
            assert!(problem_vars(&errors).contains(&var), "{var}: {errors}");
            assert!(errors.to_string().contains("greater than zero"), "{var}");
        }
        let errors = err(&[(TRUST_TTL, "36501d")]);
        assert!(
            only_problem(&errors, TRUST_TTL)
                .message()
                .contains("at most 36500d")
        );
        ok(&[(TRUST_TTL, "36500d")]);
        let errors = err(&[(SESSION_TTL, "99999999999999999999d")]);
        assert!(
            only_problem(&errors, SESSION_TTL)
                .message()
                .contains("too large")
        );
        let errors = err(&[(SESSION_TTL, "999999999999999999d")]);
        assert!(
            only_problem(&errors, SESSION_TTL)
                .message()
                .contains("too large")
        );
    }

    #[test]
    fn audit_retention_accepts_keep() {
        assert_eq!(ok(&[(AUDIT_RETENTION, "keep")]).audit_retention, None);
        assert_eq!(ok(&[(AUDIT_RETENTION, "KEEP")]).audit_retention, None);
        assert_eq!(
            ok(&[(AUDIT_RETENTION, "90d")]).audit_retention,
            Some(days(90))
        );
    }

    #[test]
    fn mfa_issuer_rules() {
        for bad in ["Acme:Corp", "   ", "a\u{7}b"] {
            let errors = Config::builder(Environment::Test)
                .mfa_issuer(bad)
                .build()
                .unwrap_err();
            only_problem(&errors, MFA_ISSUER);
        }
    }

    #[test]
    fn the_builder_validates_like_the_environment() {
        let errors = Config::builder(Environment::Prod)
            .port(0)
            .rate_limit(RateLimitAction::Mfa, RateLimit::new(0, minutes(1)))
            .idle_timeout(hours(2))
            .absolute_timeout(hours(1))
            .database_url("mysql://x")
            .redis_url("http://x")
            .smtp_url("ftp://x")
            .lockout_threshold(0)
            .build()
            .unwrap_err();
        let mut vars = problem_vars(&errors);
        vars.sort_unstable();
        let mut expected = vec![
            SECRET_KEY_BASE,
            PUBLIC_URL,
            PORT,
            DATABASE_URL,
            REDIS_URL,
            SMTP_URL,
            IDLE_TIMEOUT,
            "SIGRA_RATE_LIMIT_MFA",
            LOCKOUT_THRESHOLD,
        ];
        expected.sort_unstable();
        assert_eq!(vars, expected, "{errors}");

        let config = Config::builder(Environment::Prod)
            .secret_key_base(SecretKeyBase::new(SECRET.as_bytes().to_vec()).unwrap())
            .secret_key_base_old(SecretKeyBase::new(SECRET_OLD.as_bytes().to_vec()).unwrap())
            .public_url("https://app.myapp.com")
            .cookie_domain(".myapp.com")
            .encryption_key(EncryptionKey::from_bytes([1; 32]).unwrap())
            .encryption_keys_old([EncryptionKey::from_bytes([2; 32]).unwrap()])
            .trusted_proxies(["10.9.8.7/8".parse().unwrap()])
            .session_cache(true)
            .audit_retention(Some(days(400)))
            .deletion_grace_period(Duration::ZERO)
            .build()
            .unwrap();
        assert!(config.warnings().is_empty());
        assert!(signs_like(&config, SECRET));
        assert_eq!(
            config.trusted_proxies,
            ["10.0.0.0/8".parse::<IpNet>().unwrap()]
        );
        assert_eq!(config.port, 4000);
        assert_eq!(config.public_host(), "app.myapp.com");
    }

    // --- warnings -------------------------------------------------------------

    #[test]
    fn warnings_say_how_to_fix() {
        for env in ["dev", "test"] {
            let config = ok(&[(SIGRA_ENV, env)]);
            assert_eq!(config.warnings(), [ConfigWarning::GeneratedSecretKeyBase]);
            let text = config.warnings()[0].to_string();
            assert!(
                text.contains("restart") && text.contains("sigra gen-secret"),
                "{text}"
            );
            assert_eq!(config.warnings()[0].variable(), SECRET_KEY_BASE);
        }

        let text = ConfigWarning::CookieDomainUnset.to_string();
        assert!(text.contains("docs/guides/subdomain-auth.md"), "{text}");
        assert!(ConfigWarning::NoEncryptionKey.to_string().contains("MFA"));

        let config = ok(&[
            (SECRET_KEY_BASE, SECRET),
            (TRUSTED_PROXIES, "10.0.0.1, 0.0.0.0/0, ::/0"),
        ]);
        assert_eq!(config.warnings().len(), 2);
        assert!(config.warnings()[0].to_string().contains("0.0.0.0/0"));
        assert_eq!(config.warnings()[1].variable(), TRUSTED_PROXIES);
    }

    #[test]
    fn unknown_sigra_variables_are_warned_about_with_a_suggestion() {
        let config = ok(&[
            (SECRET_KEY_BASE, SECRET),
            ("SIGRA_IDLE_TIMOUT", "10m"),
            ("SIGRA_PORT", "80"),
            ("SIGRA_SESSION_CACHE_SIZE_LIMIT_THING", "1"),
            ("sigra_trust_ttl", "1d"),
            ("HOME", "/root"),
        ]);
        let warnings: Vec<_> = config
            .warnings()
            .iter()
            .map(|w| match w {
                ConfigWarning::UnknownVariable { name, suggestion } => (name.as_str(), *suggestion),
                other => panic!("unexpected {other}"),
            })
            .collect();
        assert_eq!(
            warnings,
            [
                ("SIGRA_IDLE_TIMOUT", Some(IDLE_TIMEOUT)),
                ("SIGRA_PORT", Some(PORT)),
                ("SIGRA_SESSION_CACHE_SIZE_LIMIT_THING", None),
            ]
        );
        assert!(
            config.warnings()[0]
                .to_string()
                .contains("did you mean SIGRA_IDLE_TIMEOUT?")
        );
        assert!(config.warnings()[2].to_string().contains("sigra doctor"));
        assert_eq!(suggest("SIGRA_TRUST_TTl"), Some(TRUST_TTL));
        assert_eq!(suggest("sigra_trust_ttl"), Some(TRUST_TTL));
        assert_eq!(suggest(&"X".repeat(1000)), None);
        // The value is what ends up unused.
        assert_eq!(config.idle_timeout, minutes(30));
    }

    // --- redaction --------------------------------------------------------------

    #[test]
    fn debug_never_prints_a_secret() {
        let key = key_b64(0x41);
        let old_key = key_b64(0x42);
        let config = ok(&[
            (SECRET_KEY_BASE, SECRET.to_owned()),
            (SECRET_KEY_BASE_OLD, SECRET_OLD.to_owned()),
            (
                DATABASE_URL,
                "postgres://admin:DBPASSWORD@db.internal:5432/app?sslpassword=QUERYSECRET"
                    .to_owned(),
            ),
            (
                REDIS_URL,
                "rediss://:REDISPASSWORD@cache.internal:6380/0".to_owned(),
            ),
            (
                SMTP_URL,
                "smtp://mailer:SMTPPASSWORD@mail.internal:587".to_owned(),
            ),
            (ENCRYPTION_KEY, key.clone()),
            (ENCRYPTION_KEY_OLD, old_key.clone()),
        ]);
        let printed = format!("{config:?} {config:#?}");
        for secret in [
            "TOPSECRET",
            "OLDSECRET",
            "DBPASSWORD",
            "QUERYSECRET",
            "REDISPASSWORD",
            "SMTPPASSWORD",
            "admin",
            "mailer",
            key.as_str(),
            old_key.as_str(),
            &key[..12],
        ] {
            assert!(!printed.contains(secret), "{secret} leaked: {printed}");
        }
        assert!(printed.contains("REDACTED"));
        assert!(printed.contains("postgres:[REDACTED]"), "{printed}");
        assert!(
            printed.contains(&key_id(0x41)),
            "key ids are public: {printed}"
        );
        assert!(printed.contains("idle_timeout: 30m"), "{printed}");

        // The builder's Debug is safe too.
        let builder = Config::builder(Environment::Dev)
            .secret_key_base(SecretKeyBase::new(SECRET.as_bytes().to_vec()).unwrap())
            .database_url("postgres://a:DBPASSWORD@db/app");
        let printed = format!("{builder:?}");
        assert!(
            !printed.contains("TOPSECRET") && !printed.contains("DBPASSWORD"),
            "{printed}"
        );
    }

    #[test]
    fn urls_without_credentials_show_scheme_and_host() {
        let shown = |s: &str| redacted_url(&SecretString::from(s));
        assert_eq!(
            shown("postgres://db.internal:5432/app"),
            "postgres://db.internal:5432/[REDACTED]"
        );
        assert_eq!(
            shown("redis://cache/0?password=X"),
            "redis://cache/[REDACTED]"
        );
        assert_eq!(shown("postgres://u:12/ss@host/db"), "postgres:[REDACTED]");
        assert_eq!(shown("sqlite::memory:"), "sqlite:[REDACTED]");
        assert_eq!(shown("not a url"), "[REDACTED]");
    }

    // --- durations --------------------------------------------------------------

    #[test]
    fn parses_durations() {
        let cases = [
            ("250ms", Duration::from_millis(250)),
            ("90s", Duration::from_secs(90)),
            ("30m", minutes(30)),
            ("24h", hours(24)),
            ("60d", days(60)),
            ("0s", Duration::ZERO),
            ("007m", minutes(7)),
            ("18446744073709551615ms", Duration::from_millis(u64::MAX)),
            ("18446744073709551615s", Duration::from_secs(u64::MAX)),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_duration(input), Ok(expected), "{input}");
        }
    }

    #[test]
    fn rejects_malformed_and_overflowing_durations() {
        for input in [
            "", "abc", "10", "m", "1.5h", "-1s", "+1s", "1 s", " 1s", "1s ", "1S", "1w", "1h30m",
            "1μs", "١s",
        ] {
            assert!(
                matches!(
                    parse_duration(input),
                    Err(ParseDurationError::Malformed { .. })
                ),
                "{input}"
            );
        }
        for input in [
            "18446744073709551616ms",
            "18446744073709551615m",
            "213503982334602d",
            "99999999999999999999999999s",
        ] {
            assert!(
                matches!(
                    parse_duration(input),
                    Err(ParseDurationError::Overflow { .. })
                ),
                "{input}"
            );
        }
        let long = "x".repeat(500);
        let message = parse_duration(&long).unwrap_err().to_string();
        assert!(message.len() < 200, "long inputs are cut: {message}");
    }

    #[test]
    fn formats_durations_canonically() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_millis(250), "250ms"),
            (Duration::from_millis(1500), "1500ms"),
            (Duration::from_secs(90), "90s"),
            (minutes(30), "30m"),
            (minutes(90), "90m"),
            (hours(24), "1d"),
            (hours(36), "36h"),
            (days(60), "60d"),
            (Duration::from_nanos(1_500_000), "1ms"),
        ];
        for (duration, expected) in cases {
            assert_eq!(format_duration(duration), expected);
        }
    }

    #[test]
    fn from_env_reads_the_process_environment_without_panicking() {
        // The result depends on the machine; it must simply not panic.
        let _ = Config::from_env();
    }

    fn var_name() -> impl Strategy<Value = String> {
        prop_oneof![
            proptest::sample::select(
                ENV_VARS
                    .iter()
                    .map(|(n, _)| (*n).to_owned())
                    .collect::<Vec<_>>()
            ),
            "SIGRA_[A-Z_]{0,20}",
            ".*",
        ]
    }

    fn var_value() -> impl Strategy<Value = String> {
        prop_oneof![
            ".*",
            "[0-9]{0,25}(ms|s|m|h|d|)",
            "[0-9]{0,12}/[0-9]{0,12}(ms|s|m|h|d)",
            "(https?|postgres|sqlite|redis|smtp)://[a-zA-Z0-9.:@/%_-]{0,40}",
            "\\.?[a-z0-9.-]{0,20}",
            "[A-Za-z0-9+/=_-]{0,90}",
            "(dev|test|prod|on|off|keep|0|1)",
        ]
    }

    proptest! {
        #[test]
        fn from_env_map_never_panics(vars in proptest::collection::hash_map(var_name(), var_value(), 0..12)) {
            match Config::from_env_map(&vars) {
                Ok(config) => {
                    let _ = format!("{config:?}");
                    prop_assert!(config.idle_timeout <= config.absolute_timeout);
                    prop_assert!(config.password_min_length <= config.password_max_length);
                }
                Err(errors) => {
                    prop_assert!(!errors.problems().is_empty());
                    for problem in errors.problems() {
                        prop_assert!(known_var(problem.variable()).is_some());
                    }
                    let _ = errors.to_string();
                }
            }
        }

        #[test]
        fn parse_duration_never_panics(input in ".*") {
            let _ = parse_duration(&input);
        }

        #[test]
        fn parse_duration_never_panics_on_near_misses(input in "[-+ 0-9]{0,30}(ms|s|m|h|d|us|)") {
            if let Ok(d) = parse_duration(&input) {
                prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
            }
        }

        #[test]
        fn parsed_durations_round_trip(n in any::<u64>(), unit in proptest::sample::select(vec!["ms", "s", "m", "h", "d"])) {
            if let Ok(d) = parse_duration(&format!("{n}{unit}")) {
                prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
            }
        }

        #[test]
        fn millisecond_durations_round_trip(ms in any::<u64>()) {
            let d = Duration::from_millis(ms);
            prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }

        #[test]
        fn quoting_never_panics_and_stays_short(input in ".*") {
            prop_assert!(quoted(&input).chars().count() <= 64 * 10 + 3);
        }
    }
}

#[cfg(test)]
mod guide_tests {
    /// The configuration guide is part of the product: it must list every variable.
    #[test]
    fn configuration_guide_lists_every_variable() {
        let guide = include_str!("../../../docs/guides/configuration.md");
        for (name, _) in super::ENV_VARS {
            assert!(
                guide.contains(&format!("`{name}`")),
                "docs/guides/configuration.md does not list {name}"
            );
        }
    }
}
