//! Validation: after the defaults and each setting's own check (see [`rules`](super::rules)), one small check per section for the rules between settings.
//!
//! [`validate`] reports every problem at once (sorted as in
//! [`ENV_VARS`]) and keeps warnings as warnings.

use secrecy::ExposeSecret as _;
use url::Host;

use super::error::{ConfigError, ConfigErrors, ConfigWarning};
use super::rules::Resolve;
use super::variables::{
    ABSOLUTE_TIMEOUT, COOKIE_DOMAIN, Config, ConfigBuilder, ENCRYPTION_KEY, ENCRYPTION_KEY_OLD,
    ENV_VARS, IDLE_TIMEOUT, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, PUBLIC_URL, REDIS_CA_FILE,
    SECRET_KEY_BASE, TOUCH_INTERVAL, TRUSTED_PROXIES,
};
use crate::duration::quoted;

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
        // COOKIE_DOMAIN first: an http PUBLIC_URL in prod still names the
        // host, so the match is checked (and both problems reported); only a
        // PUBLIC_URL that did not parse stops it.
        check_cookie_domain(config, &mut ctx);
        check_public_origin(config, &mut ctx);
        check_encryption_keys(config, &mut ctx);
        check_session_times(config, &mut ctx);
        check_password_lengths(config, &mut ctx);
        check_proxies(config, &mut ctx);
        check_redis_ca_file(config, &mut ctx);
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
        // PUBLIC_URL did not parse (the default stands in); the match cannot be checked.
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

/// Endpoints: `SIGRA_REDIS_CA_FILE` is readable and holds a PEM
/// certificate, and has a `rediss://` URL to serve (a CA file beside a plain
/// `redis://` URL means the operator expects TLS that is not there).
fn check_redis_ca_file(config: &Config, ctx: &mut Resolve) {
    let Some(path) = &config.endpoints.redis_ca_file else {
        return;
    };
    let shown = path.display();
    let tls = config.endpoints.redis_url.as_ref().is_none_or(|url| {
        url.expose_secret()
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("rediss:")
    });
    let message = if !tls {
        Some(format!(
            "is set ({shown}) but REDIS_URL does not use TLS; use a rediss:// REDIS_URL or \
             unset SIGRA_REDIS_CA_FILE"
        ))
    } else {
        match std::fs::read(path) {
            Err(e) => Some(format!(
                "cannot read {shown} ({e}); set it to a PEM file of the CA that signed the Redis \
                 server's certificate"
            )),
            Ok(pem)
                if !pem
                    .windows(CERTIFICATE_PEM.len())
                    .any(|w| w == CERTIFICATE_PEM.as_bytes()) =>
            {
                Some(format!(
                    "{shown} holds no PEM certificate (expected a {CERTIFICATE_PEM}----- block)"
                ))
            }
            Ok(_) => None,
        }
    };
    if let Some(message) = message {
        ctx.problems
            .push(ConfigError::invalid(REDIS_CA_FILE, message));
    }
}

/// The start of a PEM certificate block.
const CERTIFICATE_PEM: &str = "-----BEGIN CERTIFICATE";

/// The variable each warning is about (the warnings are raised here).
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
