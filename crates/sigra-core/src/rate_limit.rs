//! Rate-limit rules, their defaults, and the [`RateLimiter`] port that backends implement.
//!
//! This module holds only the pure parts: what a limit is ([`RateLimit`],
//! written `COUNT/PERIOD` such as `10/1m`), which action it guards and what
//! it is keyed on ([`RateLimitRule`]), the defaults ([`RateLimits`]), how a
//! counter key is built ([`rate_limit_key`]), and the contract every backend
//! (in-memory for one node, Redis for many) must honour ([`RateLimiter`]).
//!
//! | action | default | keyed on |
//! |---|---|---|
//! | `login` | `10/1m` | client IP |
//! | `register` | `5/1h` | client IP |
//! | `reset_password` | `3/1m` | email |
//! | `mfa` | `10/5m` | user |
//! | `api_token_create` | `20/1h` | user |

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use thiserror::Error;

use crate::duration::{format_duration, parse_duration, quoted};

/// How many hits are allowed per period, written `COUNT/PERIOD` (e.g. `10/1m`).
///
/// The period uses the duration syntax of [`parse_duration`]. A valid limit
/// has `count ≥ 1` and `period > 0`; [`FromStr`] enforces both, and
/// configuration validation re-checks limits set in code.
///
/// ```
/// use std::time::Duration;
/// use sigra_core::rate_limit::RateLimit;
///
/// let limit: RateLimit = "10/1m".parse()?;
/// assert_eq!(limit, RateLimit::new(10, Duration::from_secs(60)));
/// assert_eq!(limit.to_string(), "10/1m");
/// # Ok::<(), sigra_core::rate_limit::ParseRateLimitError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateLimit {
    /// The number of hits allowed within one period (at least 1).
    pub count: u32,
    /// The length of the window (greater than zero).
    pub period: Duration,
}

impl RateLimit {
    /// A limit of `count` hits per `period`. Not validated here; see [`RateLimit::is_valid`].
    pub const fn new(count: u32, period: Duration) -> Self {
        Self { count, period }
    }

    /// Whether `count ≥ 1` and `period > 0`.
    pub fn is_valid(&self) -> bool {
        self.count >= 1 && !self.period.is_zero()
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, format_duration(self.period))
    }
}

/// Why a `COUNT/PERIOD` string was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ParseRateLimitError {
    /// The value is not of the form `COUNT/PERIOD`.
    #[error("expected COUNT/PERIOD like 10/1m, 5/1h or 3/30s, got {}", quoted(.input))]
    Malformed {
        /// The value that was given.
        input: String,
    },
    /// The count is not a whole number from 1 to 4294967295.
    #[error(
        "expected COUNT/PERIOD like 10/1m where COUNT is a whole number from 1 to 4294967295, got {}",
        quoted(.input)
    )]
    Count {
        /// The value that was given.
        input: String,
    },
    /// The period is not a duration greater than zero.
    #[error(
        "expected COUNT/PERIOD like 10/1m where PERIOD is a duration greater than zero (250ms, 90s, 30m, 24h, 60d), got {}",
        quoted(.input)
    )]
    Period {
        /// The value that was given.
        input: String,
    },
}

impl FromStr for RateLimit {
    type Err = ParseRateLimitError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((count, period)) = s.split_once('/') else {
            return Err(ParseRateLimitError::Malformed {
                input: s.to_owned(),
            });
        };
        let count = match count.parse::<u32>() {
            // `u32::from_str` accepts a leading `+`; the syntax is digits only.
            Ok(n) if n >= 1 && count.bytes().all(|b| b.is_ascii_digit()) => n,
            _ => {
                return Err(ParseRateLimitError::Count {
                    input: s.to_owned(),
                });
            }
        };
        let period = match parse_duration(period) {
            Ok(p) if !p.is_zero() => p,
            _ => {
                return Err(ParseRateLimitError::Period {
                    input: s.to_owned(),
                });
            }
        };
        Ok(Self { count, period })
    }
}

/// An action guarded by a rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RateLimitAction {
    /// `POST /users/log-in`, keyed on the client IP.
    Login,
    /// `POST /users/register`, keyed on the client IP.
    Register,
    /// `POST /users/reset-password`, keyed on the email address asked for.
    ResetPassword,
    /// `POST /users/confirm/resend`, keyed on the submitted email.
    ResendConfirmation,
    /// `POST /users/mfa` (TOTP or backup code), keyed on the user.
    Mfa,
    /// Creating an API token, keyed on the user.
    ApiTokenCreate,
}

impl RateLimitAction {
    /// Every action, in a fixed order (the order of [`RateLimits::rules`]).
    pub const ALL: [Self; 6] = [
        Self::Login,
        Self::Register,
        Self::ResetPassword,
        Self::ResendConfirmation,
        Self::Mfa,
        Self::ApiTokenCreate,
    ];

    /// The stable snake_case name: `login`, `register`, `reset_password`, `mfa`, `api_token_create`.
    ///
    /// Used in counter keys, telemetry and the `SIGRA_RATE_LIMIT_*` variable names.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Register => "register",
            Self::ResetPassword => "reset_password",
            Self::ResendConfirmation => "resend_confirmation",
            Self::Mfa => "mfa",
            Self::ApiTokenCreate => "api_token_create",
        }
    }

    /// The environment variable that configures this action's limit, e.g. `SIGRA_RATE_LIMIT_LOGIN`.
    pub const fn env_var(self) -> &'static str {
        match self {
            Self::Login => "SIGRA_RATE_LIMIT_LOGIN",
            Self::Register => "SIGRA_RATE_LIMIT_REGISTER",
            Self::ResetPassword => "SIGRA_RATE_LIMIT_RESET_PASSWORD",
            Self::ResendConfirmation => "SIGRA_RATE_LIMIT_RESEND_CONFIRMATION",
            Self::Mfa => "SIGRA_RATE_LIMIT_MFA",
            Self::ApiTokenCreate => "SIGRA_RATE_LIMIT_API_TOKEN_CREATE",
        }
    }

    /// What the action's counter is keyed on.
    pub const fn key_kind(self) -> KeyKind {
        match self {
            Self::Login | Self::Register => KeyKind::Ip,
            Self::ResetPassword | Self::ResendConfirmation => KeyKind::Email,
            Self::Mfa | Self::ApiTokenCreate => KeyKind::User,
        }
    }
}

impl fmt::Display for RateLimitAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a rate-limit counter is keyed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyKind {
    /// The client IP (from the socket, or `X-Forwarded-For` behind a trusted proxy).
    Ip,
    /// An email address as submitted (normalised and hashed by [`rate_limit_key`]).
    Email,
    /// The authenticated (or MFA-pending) user's id.
    User,
}

impl KeyKind {
    /// The stable name used in counter keys: `ip`, `email` or `user`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Ip => "ip",
            Self::Email => "email",
            Self::User => "user",
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One rule: which action, keyed on what, with which limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateLimitRule {
    /// The guarded action.
    pub action: RateLimitAction,
    /// What the counter is keyed on.
    pub key_kind: KeyKind,
    /// How many hits per period are allowed.
    pub limit: RateLimit,
}

/// The configured limit for every action (`SIGRA_RATE_LIMIT_*`).
///
/// [`Default`] gives login `10/1m` per IP, register `5/1h` per IP,
/// reset_password `3/1m` per email, resend_confirmation `3/15m` per
/// email, mfa `10/5m` per user and
/// api_token_create `20/1h` per user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateLimits {
    /// Log-in attempts per client IP (default `10/1m`).
    pub login: RateLimit,
    /// Registrations per client IP (default `5/1h`).
    pub register: RateLimit,
    /// Password-reset requests per email address (default `3/1m`).
    pub reset_password: RateLimit,
    /// Confirmation-mail resends per email address (default `3/15m`).
    pub resend_confirmation: RateLimit,
    /// MFA challenge attempts per user (default `10/5m`).
    pub mfa: RateLimit,
    /// API token creations per user (default `20/1h`).
    pub api_token_create: RateLimit,
}

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            login: RateLimit::new(10, MINUTE),
            register: RateLimit::new(5, HOUR),
            reset_password: RateLimit::new(3, MINUTE),
            resend_confirmation: RateLimit::new(3, 15 * MINUTE),
            mfa: RateLimit::new(10, Duration::from_secs(5 * 60)),
            api_token_create: RateLimit::new(20, HOUR),
        }
    }
}

impl RateLimits {
    /// The limit configured for `action`.
    pub const fn get(&self, action: RateLimitAction) -> RateLimit {
        match action {
            RateLimitAction::Login => self.login,
            RateLimitAction::Register => self.register,
            RateLimitAction::ResetPassword => self.reset_password,
            RateLimitAction::ResendConfirmation => self.resend_confirmation,
            RateLimitAction::Mfa => self.mfa,
            RateLimitAction::ApiTokenCreate => self.api_token_create,
        }
    }

    /// Replaces the limit for `action`.
    pub fn set(&mut self, action: RateLimitAction, limit: RateLimit) {
        match action {
            RateLimitAction::Login => self.login = limit,
            RateLimitAction::Register => self.register = limit,
            RateLimitAction::ResetPassword => self.reset_password = limit,
            RateLimitAction::ResendConfirmation => self.resend_confirmation = limit,
            RateLimitAction::Mfa => self.mfa = limit,
            RateLimitAction::ApiTokenCreate => self.api_token_create = limit,
        }
    }

    /// The full rule for `action`, with its key kind (see [`RateLimitAction::key_kind`]).
    pub const fn rule(&self, action: RateLimitAction) -> RateLimitRule {
        RateLimitRule {
            action,
            key_kind: action.key_kind(),
            limit: self.get(action),
        }
    }

    /// Every rule, in the order of [`RateLimitAction::ALL`].
    pub fn rules(&self) -> [RateLimitRule; 6] {
        RateLimitAction::ALL.map(|action| self.rule(action))
    }
}

/// The outcome of one [`RateLimiter::hit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateDecision {
    /// The hit is within the limit and was counted.
    Allowed {
        /// How many more hits the current window allows (0 after the last allowed one).
        remaining: u32,
    },
    /// The limit is exhausted; answer 429 with `Retry-After`.
    Limited {
        /// How long until a hit would be allowed again (greater than zero, at most the period).
        retry_after: Duration,
    },
}

impl RateDecision {
    /// Whether the hit may proceed.
    pub const fn is_allowed(&self) -> bool {
        matches!(self, Self::Allowed { .. })
    }
}

/// A rate-limit backend failed (e.g. Redis unreachable).
///
/// It is never silently turned into "no limit": the caller decides whether
/// to fail closed (answer 503/429) or degrade to a local limiter.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RateLimitError {
    /// The backend could not count or check the hit; the source says why.
    #[error("the rate-limit backend failed; the hit was neither counted nor allowed")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl RateLimitError {
    /// Wraps a backend error, keeping it as the source.
    pub fn backend(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Backend(source.into())
    }
}

/// The rate-limit port: counts a hit and decides, atomically.
///
/// Sigra ships an in-memory implementation (one node) and a Redis one (many
/// nodes); both pass the rate-limiter conformance suite in `sigra-tests`,
/// and so must any other implementation.
///
/// # What an implementation must guarantee
///
/// - **One atomic step per hit.** `hit` counts the hit and compares the
///   count with `rule.limit` as one atomic operation (a mutex held across
///   both, a Redis `INCR`+`PEXPIRE` in a `MULTI` or a Lua script, …). Two
///   concurrent hits can never both see the last free slot: within a window
///   at most `rule.limit.count` hits are ever [`RateDecision::Allowed`].
/// - **Window semantics.** The default is a *fixed window* that opens at the
///   first hit for a key and lasts `rule.limit.period`; when it has elapsed
///   the next hit opens a new window with a fresh count. A sliding window
///   (sliding log or GCRA) is also acceptable if the implementation's docs
///   say so; it must never allow more than `count` hits in any interval of
///   length `period`. A fixed window may allow up to `2 × count` hits
///   across a window boundary; that is the documented trade-off.
/// - **Time is a parameter.** Windows are measured against `now`, never
///   against the wall clock, so tests can drive time. A `now` earlier than
///   the window start is treated as being inside the window.
/// - **Remaining and retry-after.** `Allowed { remaining }` is the number of
///   further hits the current window allows (`count - hits so far`, so the
///   last allowed hit reports 0). `Limited { retry_after }` is greater than
///   zero, at most `period`, and is the time from `now` until a hit would be
///   allowed again; it becomes the `Retry-After` header.
/// - **Keys are namespaced by action.** The counter for a hit is
///   [`rate_limit_key`]`(rule, key)`: implementations must derive their
///   storage key from it (they may add a backend prefix such as
///   `sigra:rl:`) and never share a counter between two actions or two key
///   kinds. `key` is the raw subject (an IP, an email, a user id);
///   `rate_limit_key` normalises and, for emails, hashes it, so the same
///   person hits the same counter on every backend and no email address is
///   stored or logged.
/// - **Errors are errors.** When the backend cannot count (connection lost,
///   timeout), `hit` returns `Err(`[`RateLimitError`]`)`. It never returns
///   `Allowed` for a hit it could not count. The caller decides whether to
///   fail closed or degrade to a local limiter.
/// - **Bounded memory.** Expired windows are dropped (a TTL in Redis, pruning
///   in memory), so a flood of distinct keys cannot grow storage forever.
///
/// # Example
///
/// ```
/// use sigra_core::rate_limit::{RateDecision, RateLimitAction, RateLimits, RateLimiter};
///
/// async fn check(limiter: &dyn RateLimiter, ip: &str, now: chrono::DateTime<chrono::Utc>)
///     -> Result<bool, sigra_core::rate_limit::RateLimitError>
/// {
///     let rule = RateLimits::default().rule(RateLimitAction::Login);
///     Ok(match limiter.hit(&rule, ip, now).await? {
///         RateDecision::Allowed { .. } => true,
///         RateDecision::Limited { retry_after } => {
///             // answer 429 with `Retry-After: retry_after.as_secs().max(1)`
///             let _ = retry_after;
///             false
///         }
///     })
/// }
/// ```
#[async_trait::async_trait]
pub trait RateLimiter: Send + Sync + fmt::Debug {
    /// Counts one hit of `rule.action` by `key` at `now` and decides whether it is allowed.
    ///
    /// `key` is the raw subject of the rule's [`KeyKind`]; see the trait docs
    /// for how it is namespaced and what must hold.
    async fn hit(
        &self,
        rule: &RateLimitRule,
        key: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<RateDecision, RateLimitError>;
}

/// The counter key for `raw_key` under `rule`: `<action>:<key kind>:<normalised key>`.
///
/// Normalisation, so that trivial variations share one counter:
///
/// - IP keys ([`KeyKind::Ip`]): surrounding whitespace is trimmed. An IPv4 address (or
///   IPv4-mapped IPv6) is used as is; an IPv6 address is reduced to its `/64`
///   network, since one client usually controls a whole `/64` and could
///   otherwise rotate addresses to escape the limit. Anything else is
///   lowercased.
/// - Email keys ([`KeyKind::Email`]): trimmed and lowercased, then replaced by its
///   SHA-256 in hex, so the key never contains the address (it is safe to
///   store and to log).
/// - User keys ([`KeyKind::User`]): trimmed.
///
/// ```
/// use sigra_core::rate_limit::{rate_limit_key, RateLimitAction, RateLimits};
///
/// let rules = RateLimits::default();
/// let login = rules.rule(RateLimitAction::Login);
/// assert_eq!(rate_limit_key(&login, " 203.0.113.7 "), "login:ip:203.0.113.7");
/// assert_eq!(rate_limit_key(&login, "2001:db8::1"), "login:ip:2001:db8::/64");
///
/// let reset = rules.rule(RateLimitAction::ResetPassword);
/// let key = rate_limit_key(&reset, " Alice@Example.COM ");
/// assert_eq!(key, rate_limit_key(&reset, "alice@example.com"));
/// assert!(!key.contains("alice"));
/// ```
pub fn rate_limit_key(rule: &RateLimitRule, raw_key: &str) -> String {
    let raw = raw_key.trim();
    let subject = match rule.key_kind {
        KeyKind::Ip => normalise_ip(raw),
        KeyKind::Email => sha256_hex(raw.to_lowercase().as_bytes()),
        KeyKind::User => raw.to_owned(),
    };
    format!("{}:{}:{subject}", rule.action.name(), rule.key_kind.name())
}

fn normalise_ip(raw: &str) -> String {
    match raw.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                format!("{}/64", std::net::Ipv6Addr::from(segments))
            }
        },
        Err(_) => raw.to_lowercase(),
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = String::with_capacity(64);
    for byte in digest.as_ref() {
        // Writing to a String cannot fail.
        let _ = write!(out, "{byte:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn defaults_match_the_design() {
        let limits = RateLimits::default();
        let expected = [
            (RateLimitAction::Login, "10/1m", KeyKind::Ip),
            (RateLimitAction::Register, "5/1h", KeyKind::Ip),
            (RateLimitAction::ResetPassword, "3/1m", KeyKind::Email),
            (RateLimitAction::ResendConfirmation, "3/15m", KeyKind::Email),
            (RateLimitAction::Mfa, "10/5m", KeyKind::User),
            (RateLimitAction::ApiTokenCreate, "20/1h", KeyKind::User),
        ];
        for ((action, limit, kind), rule) in expected.into_iter().zip(limits.rules()) {
            assert_eq!(rule.action, action);
            assert_eq!(rule.key_kind, kind, "{action}");
            assert_eq!(rule.limit.to_string(), limit, "{action}");
            assert_eq!(limits.rule(action), rule);
            assert!(rule.limit.is_valid());
        }
    }

    #[test]
    fn action_names_and_variables() {
        let names: Vec<_> = RateLimitAction::ALL.iter().map(|a| a.name()).collect();
        assert_eq!(
            names,
            [
                "login",
                "register",
                "reset_password",
                "resend_confirmation",
                "mfa",
                "api_token_create"
            ]
        );
        for action in RateLimitAction::ALL {
            assert_eq!(
                action.env_var(),
                format!("SIGRA_RATE_LIMIT_{}", action.name().to_uppercase())
            );
            assert_eq!(action.to_string(), action.name());
        }
        assert_eq!(KeyKind::Email.to_string(), "email");
    }

    #[test]
    fn set_replaces_one_limit() {
        let mut limits = RateLimits::default();
        let new = RateLimit::new(1, Duration::from_secs(1));
        limits.set(RateLimitAction::Mfa, new);
        assert_eq!(limits.mfa, new);
        assert_eq!(limits.get(RateLimitAction::Mfa), new);
        assert_eq!(limits.login, RateLimits::default().login);
    }

    #[test]
    fn parses_and_prints_rate_limits() {
        let cases = [
            ("10/1m", 10, 60_000),
            ("1/250ms", 1, 250),
            ("5/1h", 5, 3_600_000),
            ("4294967295/60d", u32::MAX, 60 * 86_400_000),
            ("3/60s", 3, 60_000),
        ];
        for (input, count, millis) in cases {
            let limit: RateLimit = input.parse().unwrap();
            assert_eq!(limit.count, count, "{input}");
            assert_eq!(limit.period, Duration::from_millis(millis), "{input}");
        }
        assert_eq!("3/60s".parse::<RateLimit>().unwrap().to_string(), "3/1m");
    }

    #[test]
    fn rejects_bad_rate_limits() {
        let malformed = ["", "10", "10m", "abc"];
        for input in malformed {
            assert!(
                matches!(
                    input.parse::<RateLimit>(),
                    Err(ParseRateLimitError::Malformed { .. })
                ),
                "{input}"
            );
        }
        for input in [
            "0/1m",
            "-1/1m",
            "+1/1m",
            "x/1m",
            "/1m",
            "4294967296/1m",
            " 1/1m",
        ] {
            assert!(
                matches!(
                    input.parse::<RateLimit>(),
                    Err(ParseRateLimitError::Count { .. })
                ),
                "{input}"
            );
        }
        for input in ["1/0s", "1/", "1/1", "1/m", "1/1m/2", "1/1 m", "1/1w"] {
            assert!(
                matches!(
                    input.parse::<RateLimit>(),
                    Err(ParseRateLimitError::Period { .. })
                ),
                "{input}"
            );
        }
        let message = "0/1m".parse::<RateLimit>().unwrap_err().to_string();
        assert!(message.contains("\"0/1m\""), "{message}");
        assert!(message.contains("10/1m"), "{message}");
    }

    #[test]
    fn keys_are_namespaced_by_action_and_kind() {
        let limits = RateLimits::default();
        let keys: Vec<_> = limits
            .rules()
            .iter()
            .map(|rule| rate_limit_key(rule, "x"))
            .collect();
        let unique: std::collections::HashSet<_> = keys.iter().collect();
        assert_eq!(unique.len(), keys.len(), "{keys:?}");
        assert_eq!(
            rate_limit_key(&limits.rule(RateLimitAction::Mfa), " 0192-user "),
            "mfa:user:0192-user"
        );
    }

    #[test]
    fn ip_keys_are_normalised() {
        let rule = RateLimits::default().rule(RateLimitAction::Register);
        assert_eq!(rate_limit_key(&rule, "10.0.0.1"), "register:ip:10.0.0.1");
        assert_eq!(
            rate_limit_key(&rule, "::ffff:10.0.0.1"),
            "register:ip:10.0.0.1"
        );
        assert_eq!(
            rate_limit_key(&rule, "2001:DB8:0:0:aaaa::1"),
            rate_limit_key(&rule, "2001:db8::bbbb:2"),
            "one /64 shares a counter"
        );
        assert_ne!(
            rate_limit_key(&rule, "2001:db8:0:1::1"),
            rate_limit_key(&rule, "2001:db8:0:2::1")
        );
        assert_eq!(rate_limit_key(&rule, "UNKNOWN"), "register:ip:unknown");
    }

    #[test]
    fn email_keys_are_normalised_and_hashed() {
        let rule = RateLimits::default().rule(RateLimitAction::ResetPassword);
        let key = rate_limit_key(&rule, "  Bob@Example.org\n");
        assert_eq!(key, rate_limit_key(&rule, "bob@example.org"));
        assert!(!key.to_lowercase().contains("bob"), "{key}");
        assert!(!key.contains("example"), "{key}");
        let hash = key.strip_prefix("reset_password:email:").unwrap();
        assert_eq!(hash.len(), 64);
        assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(key, rate_limit_key(&rule, "bob2@example.org"));
    }

    #[test]
    fn decisions_and_errors() {
        assert!(RateDecision::Allowed { remaining: 0 }.is_allowed());
        assert!(
            !RateDecision::Limited {
                retry_after: Duration::from_secs(1)
            }
            .is_allowed()
        );
        let err = RateLimitError::backend("connection refused");
        assert!(std::error::Error::source(&err).is_some());
        assert!(err.to_string().contains("rate-limit backend"));
    }

    proptest! {
        #[test]
        fn rate_limit_parser_never_panics(input in ".*") {
            if let Ok(limit) = input.parse::<RateLimit>() {
                prop_assert!(limit.is_valid());
            }
        }

        #[test]
        fn rate_limit_parser_never_panics_on_near_misses(
            input in "[-+0-9]{0,12}/[-+0-9]{0,24}(ms|s|m|h|d|w|)"
        ) {
            if let Ok(limit) = input.parse::<RateLimit>() {
                prop_assert!(limit.is_valid());
                prop_assert_eq!(limit.to_string().parse::<RateLimit>(), Ok(limit));
            }
        }

        #[test]
        fn rate_limit_round_trips(count in 1u32.., millis in 1u64..=u64::MAX / 1000) {
            let limit = RateLimit::new(count, Duration::from_millis(millis));
            prop_assert_eq!(limit.to_string().parse::<RateLimit>(), Ok(limit));
        }

        #[test]
        fn keys_never_panic(raw in ".*", which in 0usize..5) {
            let rule = RateLimits::default().rule(RateLimitAction::ALL[which]);
            let key = rate_limit_key(&rule, &raw);
            let prefix = format!("{}:", rule.action.name());
            prop_assert!(key.starts_with(&prefix));
        }
    }
}
