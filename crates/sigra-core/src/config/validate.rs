//! Validation: the defaults that depend on the environment, each setting's own check, and one small check per section for the rules between settings.
//!
//! [`validate`] reports every problem at once (sorted as in
//! [`ENV_VARS`](super::ENV_VARS)) and keeps warnings as warnings.

use url::{Host, Url};

use super::error::{ConfigError, ConfigErrors, ConfigWarning};
use super::variables::{
    ABSOLUTE_TIMEOUT, COOKIE_DOMAIN, ENCRYPTION_KEY, ENCRYPTION_KEY_OLD, IDLE_TIMEOUT,
    PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, PUBLIC_URL, SECRET_KEY_BASE, TOUCH_INTERVAL,
};
use super::{Config, ConfigBuilder, ENV_VARS, Environment};
use crate::duration::quoted;
use crate::keys::{MIN_SECRET_KEY_BASE_LEN, SecretKeyBase};

/// What validation has found so far, and what the defaults depend on.
#[derive(Debug)]
pub(crate) struct Resolve {
    pub(crate) env: Environment,
    /// The port the default `PUBLIC_URL` points at.
    pub(crate) local_port: u16,
    pub(crate) problems: Vec<ConfigError>,
    pub(crate) warnings: Vec<ConfigWarning>,
}

impl Resolve {
    /// Whether a problem with `var` has been recorded.
    pub(crate) fn reported(&self, var: &str) -> bool {
        self.problems.iter().any(|p| p.variable() == var)
    }

    /// Whether none of `vars` has a problem recorded.
    fn unreported(&self, vars: &[&str]) -> bool {
        !vars.iter().any(|v| self.reported(v))
    }
}

/// A default that does not depend on the environment.
pub(crate) fn value<T>(value: T) -> impl FnOnce(&mut Resolve, &'static str) -> Option<T> {
    move |_, _| Some(value)
}

/// `SECRET_KEY_BASE` when unset: required in prod, generated with a warning elsewhere.
///
/// When the problem is already recorded, a generated key stands in so that
/// the other settings are still checked; the configuration is refused anyway.
pub(crate) fn secret_key_base_default(
    ctx: &mut Resolve,
    var: &'static str,
) -> Option<SecretKeyBase> {
    if ctx.reported(var) {
        return SecretKeyBase::generate().ok();
    }
    if ctx.env.is_prod() {
        ctx.problems.push(ConfigError::missing(
            var,
            format!(
                "required in prod: set it to at least {MIN_SECRET_KEY_BASE_LEN} bytes of \
                 random text; `sigra gen-secret` prints one"
            ),
        ));
        return SecretKeyBase::generate().ok();
    }
    match SecretKeyBase::generate() {
        Ok(key) => {
            ctx.warnings.push(ConfigWarning::GeneratedSecretKeyBase);
            Some(key)
        }
        Err(e) => {
            ctx.problems.push(ConfigError::missing(
                var,
                format!(
                    "not set, and a temporary one could not be generated ({e}); \
                     set it with `sigra gen-secret`"
                ),
            ));
            None
        }
    }
}

/// `PUBLIC_URL` when unset: required in prod, `http://localhost:<port>` elsewhere.
///
/// As for the secret, the local URL stands in when the problem is recorded.
pub(crate) fn public_url_default(ctx: &mut Resolve, var: &'static str) -> Option<Url> {
    let local = Url::parse(&format!("http://localhost:{}", ctx.local_port));
    if ctx.reported(var) {
        return local.ok();
    }
    if ctx.env.is_prod() {
        ctx.problems.push(ConfigError::missing(
            var,
            "required in prod: set it to the https origin users visit, e.g. https://myapp.com",
        ));
        return local.ok();
    }
    match local {
        Ok(url) => Some(url),
        Err(e) => {
            ctx.problems.push(ConfigError::invalid(
                var,
                format!(
                    "the default http://localhost:{} is not a URL ({e})",
                    ctx.local_port
                ),
            ));
            None
        }
    }
}

/// Each setting's own rule: `Err` is the problem's message.
pub(crate) mod check {
    use std::time::Duration;

    use crate::duration::{DURATION_EXPECTED, MAX_DURATION, format_duration, quoted};
    use crate::rate_limit::RateLimit;

    use super::super::MAX_BACKUP_CODES;

    /// No rule of its own.
    pub(crate) fn none<T>(_: &T) -> Result<(), String> {
        Ok(())
    }

    /// At most [`MAX_DURATION`]; zero allowed.
    pub(crate) fn at_most_max(d: &Duration) -> Result<(), String> {
        if *d > MAX_DURATION {
            return Err(format!(
                "expected at most {}, got {}",
                format_duration(MAX_DURATION),
                format_duration(*d)
            ));
        }
        Ok(())
    }

    /// Greater than zero and at most [`MAX_DURATION`].
    pub(crate) fn positive(d: &Duration) -> Result<(), String> {
        at_most_max(d)?;
        if d.is_zero() {
            return Err(format!("{DURATION_EXPECTED} greater than zero, got 0s"));
        }
        Ok(())
    }

    /// `keep`, or a positive duration.
    pub(crate) fn audit_retention(d: &Option<Duration>) -> Result<(), String> {
        d.as_ref().map_or(Ok(()), positive)
    }

    /// Limits set in code are re-checked (parsing already refuses these).
    pub(crate) fn rate_limit(limit: &RateLimit) -> Result<(), String> {
        if limit.is_valid() {
            return Ok(());
        }
        Err(format!(
            "expected COUNT/PERIOD with COUNT at least 1 and PERIOD greater than zero, \
             like 10/1m, got {limit}"
        ))
    }

    /// A minimum length of at least one character.
    pub(crate) fn at_least_one(n: &usize) -> Result<(), String> {
        if *n < 1 {
            return Err("expected at least 1, got 0".to_owned());
        }
        Ok(())
    }

    /// At least one failed attempt before a lockout.
    pub(crate) fn lockout_threshold(n: &u32) -> Result<(), String> {
        if *n == 0 {
            return Err(
                "expected at least 1 failed attempt, got 0 (0 would lock every account at once)"
                    .to_owned(),
            );
        }
        Ok(())
    }

    /// A name authenticator apps can show.
    #[allow(clippy::ptr_arg, reason = "the table's checks all take `&T`")]
    pub(crate) fn mfa_issuer(issuer: &String) -> Result<(), String> {
        let trimmed = issuer.trim();
        if trimmed.is_empty() || trimmed.contains(':') || trimmed.chars().any(char::is_control) {
            return Err(format!(
                "expected a non-empty name without ':' or control characters (authenticator \
                 apps use ':' as a separator), got {}",
                quoted(issuer)
            ));
        }
        Ok(())
    }

    /// From 1 to [`MAX_BACKUP_CODES`].
    pub(crate) fn backup_code_count(n: &usize) -> Result<(), String> {
        if !(1..=MAX_BACKUP_CODES).contains(n) {
            return Err(format!(
                "expected a number from 1 to {MAX_BACKUP_CODES}, got {n}"
            ));
        }
        Ok(())
    }
}

/// Validates what a builder holds: defaults, each setting's check, then the
/// checks between settings, section by section.
pub(crate) fn validate(b: ConfigBuilder) -> Result<Config, ConfigErrors> {
    let mut ctx = Resolve {
        env: b.env,
        local_port: b.local_port,
        problems: b.problems,
        warnings: b.warnings,
    };
    let config = b.draft.resolve(&mut ctx);
    if let Some(config) = &config {
        check_public_origin(config, &mut ctx);
        check_cookie_domain(config, &mut ctx);
        check_encryption_keys(config, &mut ctx);
        check_session_times(config, &mut ctx);
        check_password_lengths(config, &mut ctx);
        check_proxies(config, &mut ctx);
    }
    let Resolve {
        mut problems,
        warnings,
        ..
    } = ctx;
    match config {
        Some(mut config) if problems.is_empty() => {
            config.warnings = warnings;
            Ok(config)
        }
        _ => {
            if problems.is_empty() {
                // Every path that leaves a required value unset records why; keep
                // the "never empty" promise of `ConfigErrors` even so.
                problems.push(ConfigError::missing(
                    SECRET_KEY_BASE,
                    "could not be determined",
                ));
            }
            problems.sort_by_key(|p| ENV_VARS.iter().position(|v| v.name == p.variable()));
            Err(ConfigErrors { problems })
        }
    }
}

/// Endpoints: prod needs an https `PUBLIC_URL`.
fn check_public_origin(config: &Config, ctx: &mut Resolve) {
    let url = &config.endpoints.public_url;
    if ctx.env.is_prod() && url.scheme() != "https" && !ctx.reported(PUBLIC_URL) {
        ctx.problems.push(ConfigError::invalid(
            PUBLIC_URL,
            format!(
                "must use https in prod (cookies are Secure and browsers drop them over http), got {}",
                url.as_str().trim_end_matches('/')
            ),
        ));
    }
}

/// Endpoints: `COOKIE_DOMAIN` domain-matches the public host (RFC 6265
/// §5.1.3); unset in prod is a warning.
fn check_cookie_domain(config: &Config, ctx: &mut Resolve) {
    let Some(domain) = &config.endpoints.cookie_domain else {
        if ctx.env.is_prod() {
            ctx.warnings.push(ConfigWarning::CookieDomainUnset);
        }
        return;
    };
    if ctx.reported(PUBLIC_URL) {
        // PUBLIC_URL has its own problem; the match cannot be checked.
        return;
    }
    let url = &config.endpoints.public_url;
    let bare = domain.strip_prefix('.').unwrap_or(domain);
    let message = match url.host() {
        Some(Host::Domain(host)) => {
            let host = host.trim_end_matches('.');
            let matches = host == bare
                || host
                    .strip_suffix(bare)
                    .is_some_and(|prefix| prefix.ends_with('.'));
            (!matches).then(|| {
                format!(
                    "{} does not domain-match the PUBLIC_URL host {}: it must be that host or a \
                     parent domain of it, e.g. .myapp.com for app.myapp.com",
                    quoted(domain),
                    quoted(host)
                )
            })
        }
        Some(_) => Some(format!(
            "the PUBLIC_URL host {} is an IP address, for which cookies are always host-only; \
             leave COOKIE_DOMAIN unset",
            url.host_str().unwrap_or_default()
        )),
        None => None,
    };
    if let Some(message) = message {
        ctx.problems
            .push(ConfigError::invalid(COOKIE_DOMAIN, message));
    }
}

/// Secrets: old encryption keys need a current one; prod without a key is a warning.
fn check_encryption_keys(config: &Config, ctx: &mut Resolve) {
    let secrets = &config.secrets;
    if secrets.encryption_key.is_some() || ctx.reported(ENCRYPTION_KEY) {
        return;
    }
    if !secrets.encryption_keys_old.is_empty() {
        ctx.problems.push(ConfigError::conflict(
            ENCRYPTION_KEY_OLD,
            "is set but ENCRYPTION_KEY is not: old keys only decrypt; set ENCRYPTION_KEY to \
             the new key",
        ));
    }
    if ctx.env.is_prod() {
        ctx.warnings.push(ConfigWarning::NoEncryptionKey);
    }
}

/// Session: a session cannot idle longer than it lives, and is touched
/// more often than it idles out.
fn check_session_times(config: &Config, ctx: &mut Resolve) {
    use crate::duration::format_duration;
    let s = &config.session;
    if s.idle_timeout > s.absolute_timeout && ctx.unreported(&[IDLE_TIMEOUT, ABSOLUTE_TIMEOUT]) {
        ctx.problems.push(ConfigError::conflict(
            IDLE_TIMEOUT,
            format!(
                "({}) must not exceed SIGRA_ABSOLUTE_TIMEOUT ({}): a session cannot idle longer \
                 than it may live",
                format_duration(s.idle_timeout),
                format_duration(s.absolute_timeout)
            ),
        ));
    }
    if s.touch_interval >= s.idle_timeout && ctx.unreported(&[TOUCH_INTERVAL, IDLE_TIMEOUT]) {
        ctx.problems.push(ConfigError::conflict(
            TOUCH_INTERVAL,
            format!(
                "({}) must be shorter than SIGRA_IDLE_TIMEOUT ({}), or active sessions would \
                 expire between two writes of last_active_at",
                format_duration(s.touch_interval),
                format_duration(s.idle_timeout)
            ),
        ));
    }
}

/// Password: the minimum length does not exceed the maximum.
fn check_password_lengths(config: &Config, ctx: &mut Resolve) {
    let p = &config.password;
    if p.min_length > p.max_length && ctx.unreported(&[PASSWORD_MIN_LENGTH, PASSWORD_MAX_LENGTH]) {
        ctx.problems.push(ConfigError::conflict(
            PASSWORD_MIN_LENGTH,
            format!(
                "({}) must not exceed SIGRA_PASSWORD_MAX_LENGTH ({})",
                p.min_length, p.max_length
            ),
        ));
    }
}

/// Endpoints: a trusted network that contains every address is a warning.
fn check_proxies(config: &Config, ctx: &mut Resolve) {
    for net in &config.endpoints.trusted_proxies {
        if net.prefix_len() == 0 {
            ctx.warnings
                .push(ConfigWarning::TrustsEveryProxy { network: *net });
        }
    }
}
