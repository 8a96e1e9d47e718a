//! What the table's entries are made of: the context defaults are resolved in, the defaults that depend on the environment, and each setting's own check.

use url::Url;

use super::environment::Environment;
use super::error::{ConfigError, ConfigWarning};
use crate::duration::DAY_SECS;
use crate::keys::{MIN_SECRET_KEY_BASE_LEN, SecretKeyBase};

/// The most backup codes [`MfaSettings::backup_code_count`](super::MfaSettings::backup_code_count) may ask for.
pub const MAX_BACKUP_CODES: usize = 100;

/// The shortest `max-age` `SIGRA_HSTS` accepts (180 days), except `0`,
/// which tells browsers to forget the policy.
pub const MIN_HSTS_MAX_AGE: u64 = 180 * DAY_SECS;

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
    pub(crate) fn unreported(&self, vars: &[&str]) -> bool {
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

    use super::super::variables::DEFAULT_HSTS;
    use super::{MAX_BACKUP_CODES, MIN_HSTS_MAX_AGE};

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

    /// A `SIGRA_HSTS` value (when not turned off): visible ASCII and spaces,
    /// `;`-separated directives, one `max-age` of at least
    /// [`MIN_HSTS_MAX_AGE`] seconds (or 0).
    pub(crate) fn hsts(value: &Option<String>) -> Result<(), String> {
        let Some(value) = value else {
            return Ok(());
        };
        if !value.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
            return Err("expected visible ASCII characters only".to_owned());
        }
        let mut max_age = None;
        for directive in value.split(';').map(str::trim) {
            let Some((name, age)) = directive.split_once('=') else {
                continue;
            };
            if name.trim().eq_ignore_ascii_case("max-age") {
                let age = age.trim().trim_matches('"');
                match (max_age, age.parse::<u64>()) {
                    (None, Ok(age)) => max_age = Some(age),
                    (Some(_), _) => {
                        return Err("expected one max-age directive, got several".to_owned());
                    }
                    (None, Err(_)) => {
                        return Err(format!(
                            "expected max-age in whole seconds, got {}",
                            quoted(age)
                        ));
                    }
                }
            }
        }
        match max_age {
            None => Err(format!(
                "expected a max-age directive, e.g. {DEFAULT_HSTS:?} (an empty value turns the header off)"
            )),
            Some(age) if age != 0 && age < MIN_HSTS_MAX_AGE => Err(format!(
                "expected max-age of at least {MIN_HSTS_MAX_AGE} seconds (180 days), got {age}; \
                 0 withdraws the policy, an empty value sends no header"
            )),
            Some(_) => Ok(()),
        }
    }
}
