//! Every setting of `sigra-core`, declared once, section by section: its variable, meaning, default, parser, builder setter and own check.
//!
//! A new capability adds its settings here as one new section (and, when
//! settings depend on each other, one small check in
//! `validate`). Everything else (the [`Config`] field,
//! the [`ConfigBuilder`] setter, the environment
//! reading, the default, the redacted `Debug` and the row in [`ENV_VARS`])
//! follows from the entry; see `table` for the form.

use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use secrecy::SecretString;
use url::Url;

use super::environment::Environment;
use super::error::{ConfigError, ConfigWarning};
use super::parse;
use super::rules::{Resolve, check, public_url_default, secret_key_base_default, value};
use super::table::{Variable, settings};
use crate::duration::{days, hours, minutes};
use crate::encryption::EncryptionKey;
use crate::keys::SecretKeyBase;
use crate::rate_limit::{RateLimit, RateLimits};

/// The default `SIGRA_HSTS`: two years, subdomains included.
pub const DEFAULT_HSTS: &str = "max-age=63072000; includeSubDomains";

/// `SIGRA_ENV`, read before every other variable (it decides the defaults).
pub(crate) const SIGRA_ENV: &str = "SIGRA_ENV";

settings! {
    first: Variable {
        name: SIGRA_ENV,
        default: "dev",
        doc: "dev, test or prod; prod makes SECRET_KEY_BASE and an https PUBLIC_URL required",
    };

    /// The root secret and the field-encryption keys.
    secrets: SecretSettings {
        /// `SECRET_KEY_BASE`: the root secret every signing key is derived from.
        secret_key_base as secret_key_base: SecretKeyBase {
            var: SECRET_KEY_BASE = "SECRET_KEY_BASE",
            doc: "root secret, at least 64 bytes; required in prod; `sigra gen-secret` prints one",
            default: secret_key_base_default, shown: "random per run outside prod",
            read: parse::secret_key_base,
            set: |key: SecretKeyBase| Ok(key),
            check: check::none,
        }
        /// `SECRET_KEY_BASE_OLD`: the previous secret, accepted for verification during rotation.
        secret_key_base_old as secret_key_base_old: Option<SecretKeyBase> {
            var: SECRET_KEY_BASE_OLD = "SECRET_KEY_BASE_OLD",
            doc: "previous SECRET_KEY_BASE, still accepted when verifying during a rotation",
            default: value(None), shown: "none",
            read: |v| parse::secret_key_base(v).map(Some),
            set: |key: SecretKeyBase| Ok(Some(key)),
            check: check::none,
        }
        /// `ENCRYPTION_KEY`: the key new field encryptions use.
        encryption_key as encryption_key: Option<EncryptionKey> {
            var: ENCRYPTION_KEY = "ENCRYPTION_KEY",
            doc: "base64 of 32 bytes; encrypts TOTP secrets and OAuth tokens at rest",
            default: value(None), shown: "none",
            read: |v| parse::encryption_key(v).map(Some),
            set: |key: EncryptionKey| Ok(Some(key)),
            check: check::none,
        }
        /// `ENCRYPTION_KEY_OLD`: previous keys, used only to decrypt.
        encryption_keys_old as encryption_keys_old: Vec<EncryptionKey> {
            var: ENCRYPTION_KEY_OLD = "ENCRYPTION_KEY_OLD",
            doc: "comma-separated previous ENCRYPTION_KEYs, used only to decrypt during a rotation",
            default: value(Vec::new()), shown: "none",
            read: parse::encryption_keys_old,
            set: |keys: impl IntoIterator<Item = EncryptionKey>| Ok(keys.into_iter().collect()),
            check: check::none,
        }
    }

    /// Where the application is reached, and what is in front of it.
    endpoints: EndpointSettings {
        /// `PUBLIC_URL`: the canonical origin (default `http://localhost:<port>` outside prod).
        public_url as public_url: Url {
            var: PUBLIC_URL = "PUBLIC_URL",
            doc: "canonical origin, e.g. https://myapp.com; required and https in prod",
            default: public_url_default, shown: "http://localhost:PORT",
            read: parse::public_url,
            set: |url: impl Into<String>| parse::public_url(url.into().trim()),
            check: check::none,
        }
        /// `COOKIE_DOMAIN`: the cookie `Domain`, trimmed and lowercased; `None` means host-only cookies.
        cookie_domain as cookie_domain: Option<String> {
            var: COOKIE_DOMAIN = "COOKIE_DOMAIN",
            doc: "cookie Domain for subdomain auth, e.g. .myapp.com; must domain-match the PUBLIC_URL host",
            default: value(None), shown: "none (host-only cookies)",
            read: |v| parse::cookie_domain(v).map(Some),
            set: |domain: impl Into<String>| parse::cookie_domain(&domain.into()).map(Some),
            check: check::none,
        }
        /// `REDIS_URL`: enables the Redis rate-limit backend.
        redis_url as redis_url: Option<SecretString> {
            var: REDIS_URL = "REDIS_URL",
            doc: "redis:// or rediss:// (TLS) URL; enables the Redis rate-limit backend",
            default: value(None), shown: "none",
            read: |v| parse::redis_url(v).map(Some),
            set: |url: impl Into<String>| parse::redis_url(&url.into()).map(Some),
            check: check::none,
        }
        /// `SIGRA_REDIS_CA_FILE`: a PEM file of the CA that signed a `rediss://`
        /// server's certificate, trusted instead of the bundled roots.
        redis_ca_file as redis_ca_file: Option<PathBuf> {
            var: REDIS_CA_FILE = "SIGRA_REDIS_CA_FILE",
            doc: "PEM file of the private CA that signed a rediss:// server's certificate (replaces the bundled roots)",
            default: value(None), shown: "none",
            read: |v: &str| Ok::<_, String>(Some(PathBuf::from(v))),
            set: |path: impl Into<PathBuf>| Ok(Some(path.into())),
            check: check::none,
        }
        /// `SIGRA_TRUSTED_PROXIES`: proxies whose `X-Forwarded-For` is believed
        /// (default none: the socket address is used).
        trusted_proxies as trusted_proxies: Vec<IpNet> {
            var: TRUSTED_PROXIES = "SIGRA_TRUSTED_PROXIES",
            doc: "comma-separated proxy IPs or CIDRs whose X-Forwarded-For is believed",
            default: value(Vec::new()), shown: "none",
            read: parse::trusted_proxies,
            set: |proxies: impl IntoIterator<Item = IpNet>| {
                Ok(proxies.into_iter().map(|net| net.trunc()).collect())
            },
            check: check::none,
        }
        /// `SIGRA_HSTS`: the `Strict-Transport-Security` value, sent in prod
        /// when `PUBLIC_URL` is https (default [`DEFAULT_HSTS`]); `None` when
        /// turned off with an empty value.
        hsts as hsts: Option<String> {
            var: HSTS = "SIGRA_HSTS",
            doc: "the `Strict-Transport-Security` header sent on every answer in prod when PUBLIC_URL is https; `max-age` at least 180 days (15552000), or `0` to make browsers forget the policy; an empty value sends no header",
            default: value(Some(DEFAULT_HSTS.to_owned())), shown: "max-age=63072000; includeSubDomains",
            read: |v: &str| Ok::<_, String>(parse::hsts(v)),
            set: |value: impl Into<String>| Ok(parse::hsts(&value.into())),
            check: check::hsts,
        }
    }

    /// How long sessions live, and how often they are written.
    session: SessionSettings {
        /// Absolute lifetime of remember-me sessions (default 60 days).
        ttl as session_ttl: Duration {
            var: SESSION_TTL = "SIGRA_SESSION_TTL",
            doc: "absolute lifetime of remember-me sessions",
            default: value(days(60)), shown: "60d",
            read: parse::duration,
            set: |ttl: Duration| Ok(ttl),
            check: check::positive,
        }
        /// A standard session ends after this long without a request (default 30 minutes).
        idle_timeout as idle_timeout: Duration {
            var: IDLE_TIMEOUT = "SIGRA_IDLE_TIMEOUT",
            doc: "a standard session ends after this long without a request",
            default: value(minutes(30)), shown: "30m",
            read: parse::duration,
            set: |timeout: Duration| Ok(timeout),
            check: check::positive,
        }
        /// Absolute lifetime of a standard session (default 24 hours).
        absolute_timeout as absolute_timeout: Duration {
            var: ABSOLUTE_TIMEOUT = "SIGRA_ABSOLUTE_TIMEOUT",
            doc: "absolute lifetime of a standard session",
            default: value(hours(24)), shown: "24h",
            read: parse::duration,
            set: |timeout: Duration| Ok(timeout),
            check: check::positive,
        }
        /// `last_active_at` is written at most once per this interval (default 5 minutes).
        touch_interval as touch_interval: Duration {
            var: TOUCH_INTERVAL = "SIGRA_TOUCH_INTERVAL",
            doc: "a session's last_active_at is written at most once per this interval",
            default: value(minutes(5)), shown: "5m",
            read: parse::duration,
            set: |interval: Duration| Ok(interval),
            check: check::at_most_max,
        }
        /// How long a re-authentication unlocks sensitive actions (default 5 minutes).
        sudo_window as sudo_window: Duration {
            var: SUDO_WINDOW = "SIGRA_SUDO_WINDOW",
            doc: "how long a re-authentication unlocks sensitive actions",
            default: value(minutes(5)), shown: "5m",
            read: parse::duration,
            set: |window: Duration| Ok(window),
            check: check::positive,
        }
    }

    /// The in-memory session cache and how it follows revocations
    /// (see `docs/guides/session-cache.md`).
    session_cache: SessionCacheSettings {
        /// Cache session lookups in memory, following the revocation log (default true).
        enabled as session_cache: bool {
            var: SESSION_CACHE = "SIGRA_SESSION_CACHE",
            doc: "cache session lookups in memory, following the revocation log: on/off, true/false, 1/0",
            default: value(true), shown: "on",
            read: parse::switch,
            set: |on: bool| Ok(on),
            check: check::none,
        }
        /// How often the session cache checks for revocations (default 100 ms).
        revocation_poll as revocation_poll: Duration {
            var: REVOCATION_POLL = "SIGRA_REVOCATION_POLL",
            doc: "how often the session cache checks for revocations",
            default: value(Duration::from_millis(100)), shown: "100ms",
            read: parse::duration,
            set: |poll: Duration| Ok(poll),
            check: check::positive,
        }
        /// Whether the session cache also listens for revocations where the
        /// store can push them (PostgreSQL `LISTEN`; default true).
        revocation_listen as revocation_listen: bool {
            var: REVOCATION_LISTEN = "SIGRA_REVOCATION_LISTEN",
            doc: "on PostgreSQL, also LISTEN for revocations (turn off behind a transaction-pooling proxy): on/off",
            default: value(true), shown: "on",
            read: parse::switch,
            set: |on: bool| Ok(on),
            check: check::none,
        }
    }

    /// The rate limit of every action, `COUNT/PERIOD`
    /// ([`RateLimits`] is the section's type).
    rate_limits: RateLimits [external] {
        /// Log-in attempts per client IP.
        login as rate_limit_login: RateLimit {
            var: RATE_LIMIT_LOGIN = "SIGRA_RATE_LIMIT_LOGIN",
            doc: "log-in attempts per client IP, COUNT/PERIOD",
            default: value(RateLimits::default().login), shown: "10/1m",
            read: parse::rate_limit,
            set: |limit: RateLimit| Ok(limit),
            check: check::rate_limit,
        }
        /// Registrations per client IP.
        register as rate_limit_register: RateLimit {
            var: RATE_LIMIT_REGISTER = "SIGRA_RATE_LIMIT_REGISTER",
            doc: "registrations per client IP, COUNT/PERIOD",
            default: value(RateLimits::default().register), shown: "5/1h",
            read: parse::rate_limit,
            set: |limit: RateLimit| Ok(limit),
            check: check::rate_limit,
        }
        /// Password-reset requests per email.
        reset_password as rate_limit_reset_password: RateLimit {
            var: RATE_LIMIT_RESET_PASSWORD = "SIGRA_RATE_LIMIT_RESET_PASSWORD",
            doc: "password-reset requests per email, COUNT/PERIOD",
            default: value(RateLimits::default().reset_password), shown: "3/1m",
            read: parse::rate_limit,
            set: |limit: RateLimit| Ok(limit),
            check: check::rate_limit,
        }
        /// Confirmation-mail resends per email.
        resend_confirmation as rate_limit_resend_confirmation: RateLimit {
            var: RATE_LIMIT_RESEND_CONFIRMATION = "SIGRA_RATE_LIMIT_RESEND_CONFIRMATION",
            doc: "confirmation-mail resends per email, COUNT/PERIOD",
            default: value(RateLimits::default().resend_confirmation), shown: "3/15m",
            read: parse::rate_limit,
            set: |limit: RateLimit| Ok(limit),
            check: check::rate_limit,
        }
        /// MFA challenge attempts per user.
        mfa as rate_limit_mfa: RateLimit {
            var: RATE_LIMIT_MFA = "SIGRA_RATE_LIMIT_MFA",
            doc: "MFA challenge attempts per user, COUNT/PERIOD",
            default: value(RateLimits::default().mfa), shown: "10/5m",
            read: parse::rate_limit,
            set: |limit: RateLimit| Ok(limit),
            check: check::rate_limit,
        }
        /// API token creations per user.
        api_token_create as rate_limit_api_token_create: RateLimit {
            var: RATE_LIMIT_API_TOKEN_CREATE = "SIGRA_RATE_LIMIT_API_TOKEN_CREATE",
            doc: "API token creations per user, COUNT/PERIOD",
            default: value(RateLimits::default().api_token_create), shown: "20/1h",
            read: parse::rate_limit,
            set: |limit: RateLimit| Ok(limit),
            check: check::rate_limit,
        }
    }

    /// Password rules and the lockout after failed log-ins.
    password: PasswordSettings {
        /// Minimum password length in characters (default 8).
        min_length as password_min_length: usize {
            var: PASSWORD_MIN_LENGTH = "SIGRA_PASSWORD_MIN_LENGTH",
            doc: "minimum password length in characters",
            default: value(8), shown: "8",
            read: parse::number("expected a whole number of characters, like 8"),
            set: |length: usize| Ok(length),
            check: check::at_least_one,
        }
        /// Maximum password length in characters (default 256).
        max_length as password_max_length: usize {
            var: PASSWORD_MAX_LENGTH = "SIGRA_PASSWORD_MAX_LENGTH",
            doc: "maximum password length in characters",
            default: value(256), shown: "256",
            read: parse::number("expected a whole number of characters, like 8"),
            set: |length: usize| Ok(length),
            check: check::none,
        }
        /// Refuse the 20,000 most common passwords (default true).
        reject_common as password_reject_common: bool {
            var: PASSWORD_REJECT_COMMON = "SIGRA_PASSWORD_REJECT_COMMON",
            doc: "refuse the 20,000 most common passwords at registration, change and reset: on/off",
            default: value(true), shown: "on",
            read: parse::switch,
            set: |on: bool| Ok(on),
            check: check::none,
        }
        /// Failed log-ins before the account is locked (default 5).
        lockout_threshold as lockout_threshold: u32 {
            var: LOCKOUT_THRESHOLD = "SIGRA_LOCKOUT_THRESHOLD",
            doc: "failed log-ins before the account is locked",
            default: value(5), shown: "5",
            read: parse::number("expected a whole number of attempts, like 5"),
            set: |threshold: u32| Ok(threshold),
            check: check::lockout_threshold,
        }
        /// How long a lockout lasts (default 15 minutes).
        lockout_duration as lockout_duration: Duration {
            var: LOCKOUT_DURATION = "SIGRA_LOCKOUT_DURATION",
            doc: "how long a lockout lasts",
            default: value(minutes(15)), shown: "15m",
            read: parse::duration,
            set: |duration: Duration| Ok(duration),
            check: check::positive,
        }
    }

    /// Multi-factor authentication.
    mfa: MfaSettings {
        /// Time allowed between the password and the MFA answer (default 5 minutes).
        pending_ttl as mfa_pending_ttl: Duration {
            var: MFA_PENDING_TTL = "SIGRA_MFA_PENDING_TTL",
            doc: "time allowed to answer the MFA challenge after the password",
            default: value(minutes(5)), shown: "5m",
            read: parse::duration,
            set: |ttl: Duration| Ok(ttl),
            check: check::positive,
        }
        /// Lifetime of a "trust this browser" cookie (default 30 days).
        trust_ttl as trust_ttl: Duration {
            var: TRUST_TTL = "SIGRA_TRUST_TTL",
            doc: "lifetime of a \"trust this browser\" cookie",
            default: value(days(30)), shown: "30d",
            read: parse::duration,
            set: |ttl: Duration| Ok(ttl),
            check: check::positive,
        }
        /// Issuer shown in authenticator apps (default `Sigra`).
        issuer as mfa_issuer: String {
            var: MFA_ISSUER = "SIGRA_MFA_ISSUER",
            doc: "issuer shown in authenticator apps",
            default: value("Sigra".to_owned()), shown: "Sigra",
            read: |v: &str| Ok::<_, String>(v.to_owned()),
            set: |issuer: impl Into<String>| Ok(issuer.into()),
            check: check::mfa_issuer,
        }
        /// Number of MFA backup codes issued (default 8).
        backup_code_count as backup_code_count: usize {
            var: BACKUP_CODE_COUNT = "SIGRA_BACKUP_CODE_COUNT",
            doc: "number of MFA backup codes issued",
            default: value(8), shown: "8",
            read: parse::number("expected a whole number of codes, like 8"),
            set: |count: usize| Ok(count),
            check: check::backup_code_count,
        }
    }

    /// Lifetimes of the links sent by email.
    email_tokens: EmailTokenSettings {
        /// Validity of an email-confirmation link (default 48 hours).
        confirm_ttl as confirm_ttl: Duration {
            var: CONFIRM_TTL = "SIGRA_CONFIRM_TTL",
            doc: "validity of an email-confirmation link",
            default: value(hours(48)), shown: "48h",
            read: parse::duration,
            set: |ttl: Duration| Ok(ttl),
            check: check::positive,
        }
        /// Validity of a password-reset link (default 1 hour).
        reset_password_ttl as reset_password_ttl: Duration {
            var: RESET_PASSWORD_TTL = "SIGRA_RESET_PASSWORD_TTL",
            doc: "validity of a password-reset link",
            default: value(hours(1)), shown: "1h",
            read: parse::duration,
            set: |ttl: Duration| Ok(ttl),
            check: check::positive,
        }
        /// Validity of a change-email link (default 24 hours).
        change_email_ttl as change_email_ttl: Duration {
            var: CHANGE_EMAIL_TTL = "SIGRA_CHANGE_EMAIL_TTL",
            doc: "validity of a change-email link",
            default: value(hours(24)), shown: "24h",
            read: parse::duration,
            set: |ttl: Duration| Ok(ttl),
            check: check::positive,
        }
    }

    /// Who may log in, and what registration reveals.
    accounts: AccountSettings {
        /// A new account cannot log in until its address is confirmed, and
        /// registration answers a taken address exactly as a new one (default
        /// false; recommended in prod, see `docs/guides/production.md`).
        require_confirmation as require_confirmation: bool {
            var: REQUIRE_CONFIRMATION = "SIGRA_REQUIRE_CONFIRMATION",
            doc: "a new account logs in only after confirming its address, and registration answers a taken address as a new one: on/off, true/false, 1/0",
            default: value(false), shown: "off",
            read: parse::switch,
            set: |on: bool| Ok(on),
            check: check::none,
        }
    }

    /// What is kept, and for how long.
    retention: RetentionSettings {
        /// Delay before a requested account deletion is carried out (default 14 days).
        deletion_grace_period as deletion_grace_period: Duration {
            var: DELETION_GRACE_PERIOD = "SIGRA_DELETION_GRACE_PERIOD",
            doc: "delay before a requested account deletion is carried out",
            default: value(days(14)), shown: "14d",
            read: parse::duration,
            set: |period: Duration| Ok(period),
            check: check::at_most_max,
        }
        /// Audit rows older than this are deleted; `None` keeps them forever (the default).
        audit_retention as audit_retention: Option<Duration> {
            var: AUDIT_RETENTION = "SIGRA_AUDIT_RETENTION",
            doc: "delete audit rows older than this duration, or `keep`",
            default: value(None), shown: "keep",
            read: parse::audit_retention,
            set: |retention: Option<Duration>| Ok(retention),
            check: check::audit_retention,
        }
    }
}
