//! Tests of the configuration: every variable is read and takes effect, every problem is reported at once and names its variable, nothing secret leaks, and durations parse and print canonically.

use std::collections::HashMap;
use std::time::Duration;

use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};

use super::env::{known_var, suggest};
use super::variables::*;
use super::*;
use crate::duration::{days, hours, minutes, quoted};
use crate::encryption::EncryptionKey;
use crate::keys::{KeyRing, SecretKeyBase};
use crate::rate_limit::{RateLimit, RateLimitAction, RateLimits};
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
    let from_config = config.key_ring().purpose("test");
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
    assert!(c.secrets.secret_key_base_old.is_none());
    assert_eq!(c.endpoints.public_url.as_str(), "http://localhost:4000/");
    assert_eq!(c.public_host(), "localhost");
    assert_eq!(c.endpoints.cookie_domain, None);
    assert!(c.secrets.encryption_key.is_none());
    assert!(c.secrets.encryption_keys_old.is_empty());
    assert!(c.endpoints.redis_url.is_none());
    assert_eq!(c.session.ttl, days(60));
    assert_eq!(c.session.idle_timeout, minutes(30));
    assert_eq!(c.session.absolute_timeout, hours(24));
    assert_eq!(c.mfa.pending_ttl, minutes(5));
    assert_eq!(c.session.touch_interval, minutes(5));
    assert_eq!(c.mfa.trust_ttl, days(30));
    assert_eq!(c.session.sudo_window, minutes(5));
    assert_eq!(c.rate_limits, RateLimits::default());
    assert!(c.endpoints.trusted_proxies.is_empty());
    assert!(c.session_cache.enabled);
    assert_eq!(c.session_cache.revocation_poll, Duration::from_millis(100));
    assert!(c.session_cache.revocation_listen);
    assert_eq!(c.password.min_length, 8);
    assert_eq!(c.password.max_length, 256);
    assert!(c.password.reject_common);
    assert_eq!(c.password.lockout_threshold, 5);
    assert_eq!(c.password.lockout_duration, minutes(15));
    assert_eq!(c.mfa.issuer, "Sigra");
    assert_eq!(c.mfa.backup_code_count, 8);
    assert_eq!(c.email_tokens.confirm_ttl, hours(48));
    assert_eq!(c.email_tokens.reset_password_ttl, hours(1));
    assert_eq!(c.email_tokens.change_email_ttl, hours(24));
    assert!(!c.accounts.require_confirmation);
    assert_eq!(c.retention.deletion_grace_period, days(14));
    assert_eq!(c.retention.audit_retention, None);
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
    // Except `SIGRA_HSTS`, where an empty value turns the header off (`hsts_rules`).
    let mut pairs: Vec<(&str, &str)> = ENV_VARS
        .iter()
        .filter(|v| v.name != HSTS)
        .map(|v| (v.name, ""))
        .collect();
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

#[test]
fn an_http_public_url_in_prod_does_not_hide_a_cookie_domain_mismatch() {
    let errors = err(&[
        (SIGRA_ENV, "prod"),
        (SECRET_KEY_BASE, SECRET),
        (PUBLIC_URL, "http://app.example.test"),
        (COOKIE_DOMAIN, ".other.test"),
    ]);
    assert_eq!(
        problem_vars(&errors),
        [PUBLIC_URL, COOKIE_DOMAIN],
        "{errors}"
    );
}

#[test]
fn a_bad_redis_ca_file_is_an_error_naming_the_variable() {
    let dir = std::env::temp_dir().join(format!("sigra-config-ca-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let absent = dir.join("absent.pem").display().to_string();
    let garbage = garbage.display().to_string();
    for (url, file, what) in [
        ("rediss://cache:6380", absent.as_str(), "cannot read"),
        (
            "rediss://cache:6380",
            garbage.as_str(),
            "no PEM certificate",
        ),
        ("redis://cache:6379", garbage.as_str(), "does not use TLS"),
    ] {
        let errors = err(&[(REDIS_URL, url), (REDIS_CA_FILE, file)]);
        assert_eq!(problem_vars(&errors), [REDIS_CA_FILE], "{errors}");
        assert!(errors.to_string().contains(what), "{errors}");
    }
    let _ = std::fs::remove_dir_all(&dir);
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
        SECRET_KEY_BASE => (one(SECRET_KEY_BASE, SECRET), |c| {
            c.warnings().is_empty() && signs_like(c, SECRET)
        }),
        SECRET_KEY_BASE_OLD => (one(SECRET_KEY_BASE_OLD, SECRET_OLD), |c| {
            c.key_ring().has_old()
        }),
        PUBLIC_URL => (one(PUBLIC_URL, "https://auth.example.org"), |c| {
            c.endpoints.public_url.as_str() == "https://auth.example.org/"
        }),
        COOKIE_DOMAIN => (
            vec![
                (PUBLIC_URL, "https://app.example.org".to_owned()),
                (COOKIE_DOMAIN, " .Example.ORG ".to_owned()),
            ],
            |c| c.endpoints.cookie_domain.as_deref() == Some(".example.org"),
        ),
        ENCRYPTION_KEY => (one(ENCRYPTION_KEY, &key_b64(1)), |c| {
            c.secrets.encryption_key.as_ref().map(|k| k.id().to_owned()) == Some(key_id(1))
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
                    .secrets
                    .encryption_keys_old
                    .iter()
                    .map(|k| k.id().to_owned())
                    .collect();
                ids == [key_id(2), key_id(3)]
            },
        ),
        REDIS_URL => (one(REDIS_URL, "rediss://:pw@cache:6380"), |c| {
            c.endpoints
                .redis_url
                .as_ref()
                .is_some_and(|u| u.expose_secret() == "rediss://:pw@cache:6380")
        }),
        REDIS_CA_FILE => {
            let path = std::env::temp_dir()
                .join(format!("sigra-config-redis-ca-{}.pem", std::process::id()));
            std::fs::write(
                &path,
                "-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n",
            )
            .unwrap();
            (
                vec![
                    (REDIS_URL, "rediss://cache:6380".to_owned()),
                    (REDIS_CA_FILE, path.display().to_string()),
                ],
                |c| {
                    c.endpoints.redis_ca_file.as_ref().is_some_and(|p| {
                        p.file_name().is_some_and(|n| {
                            n.to_string_lossy().starts_with("sigra-config-redis-ca-")
                        })
                    })
                },
            )
        }
        SESSION_TTL => (one(SESSION_TTL, "7d"), |c| c.session.ttl == days(7)),
        IDLE_TIMEOUT => (one(IDLE_TIMEOUT, "10m"), |c| {
            c.session.idle_timeout == minutes(10)
        }),
        ABSOLUTE_TIMEOUT => (one(ABSOLUTE_TIMEOUT, "12h"), |c| {
            c.session.absolute_timeout == hours(12)
        }),
        MFA_PENDING_TTL => (one(MFA_PENDING_TTL, "90s"), |c| {
            c.mfa.pending_ttl == Duration::from_secs(90)
        }),
        TOUCH_INTERVAL => (one(TOUCH_INTERVAL, "1m"), |c| {
            c.session.touch_interval == minutes(1)
        }),
        TRUST_TTL => (one(TRUST_TTL, "7d"), |c| c.mfa.trust_ttl == days(7)),
        SUDO_WINDOW => (one(SUDO_WINDOW, "10m"), |c| {
            c.session.sudo_window == minutes(10)
        }),
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
        "SIGRA_RATE_LIMIT_RESEND_CONFIRMATION" => {
            (one("SIGRA_RATE_LIMIT_RESEND_CONFIRMATION", "1/1h"), |c| {
                c.rate_limits.resend_confirmation == RateLimit::new(1, hours(1))
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
                let expected: Vec<IpNet> = ["10.0.0.0/8", "192.168.1.10/32", "::1/128", "fd00::/8"]
                    .iter()
                    .map(|s| s.parse().unwrap())
                    .collect();
                c.endpoints.trusted_proxies == expected && c.warnings().len() == 1
            },
        ),
        SESSION_CACHE => (one(SESSION_CACHE, "Off"), |c| !c.session_cache.enabled),
        REVOCATION_POLL => (one(REVOCATION_POLL, "250ms"), |c| {
            c.session_cache.revocation_poll == Duration::from_millis(250)
        }),
        REVOCATION_LISTEN => (one(REVOCATION_LISTEN, "off"), |c| {
            !c.session_cache.revocation_listen
        }),
        PASSWORD_MIN_LENGTH => (one(PASSWORD_MIN_LENGTH, "12"), |c| {
            c.password.min_length == 12
        }),
        PASSWORD_MAX_LENGTH => (one(PASSWORD_MAX_LENGTH, "128"), |c| {
            c.password.max_length == 128
        }),
        PASSWORD_REJECT_COMMON => (one(PASSWORD_REJECT_COMMON, "off"), |c| {
            !c.password.reject_common
        }),
        LOCKOUT_THRESHOLD => (one(LOCKOUT_THRESHOLD, "3"), |c| {
            c.password.lockout_threshold == 3
        }),
        LOCKOUT_DURATION => (one(LOCKOUT_DURATION, "1h"), |c| {
            c.password.lockout_duration == hours(1)
        }),
        MFA_ISSUER => (one(MFA_ISSUER, " My App "), |c| c.mfa.issuer == "My App"),
        BACKUP_CODE_COUNT => (one(BACKUP_CODE_COUNT, "10"), |c| {
            c.mfa.backup_code_count == 10
        }),
        CONFIRM_TTL => (one(CONFIRM_TTL, "1d"), |c| {
            c.email_tokens.confirm_ttl == days(1)
        }),
        RESET_PASSWORD_TTL => (one(RESET_PASSWORD_TTL, "30m"), |c| {
            c.email_tokens.reset_password_ttl == minutes(30)
        }),
        CHANGE_EMAIL_TTL => (one(CHANGE_EMAIL_TTL, "2h"), |c| {
            c.email_tokens.change_email_ttl == hours(2)
        }),
        REQUIRE_CONFIRMATION => (one(REQUIRE_CONFIRMATION, "on"), |c| {
            c.accounts.require_confirmation
        }),
        DELETION_GRACE_PERIOD => (one(DELETION_GRACE_PERIOD, "0s"), |c| {
            c.retention.deletion_grace_period.is_zero()
        }),
        AUDIT_RETENTION => (one(AUDIT_RETENTION, "365d"), |c| {
            c.retention.audit_retention == Some(days(365))
        }),
        HSTS => (one(HSTS, " max-age=31536000; preload "), |c| {
            c.endpoints.hsts.as_deref() == Some("max-age=31536000; preload")
        }),
        other => panic!("no sample for {other}: add one to `sample` in config.rs tests"),
    }
}

#[test]
fn every_variable_is_read_and_takes_effect() {
    let defaults = Config::builder(Environment::Dev).build().unwrap();
    for Variable {
        name, doc: meaning, ..
    } in ENV_VARS
    {
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
    let names: Vec<_> = ENV_VARS.iter().map(|v| v.name).collect();
    let unique: std::collections::HashSet<_> = names.iter().collect();
    assert_eq!(unique.len(), names.len());
    for action in RateLimitAction::ALL {
        assert!(names.contains(&action.env_var()), "{}", action.env_var());
    }
    for name in &names {
        assert!(
            name.starts_with("SIGRA_")
                || ["SECRET_KEY_BASE", "SECRET_KEY_BASE_OLD", "PUBLIC_URL"].contains(name)
                || ["COOKIE_DOMAIN", "ENCRYPTION_KEY", "ENCRYPTION_KEY_OLD"].contains(name)
                || ["REDIS_URL"].contains(name),
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
        (IDLE_TIMEOUT, "abc"),
        ("SIGRA_RATE_LIMIT_LOGIN", "0/1m"),
        (TRUSTED_PROXIES, "10.0.0.0/33, nope"),
        (SESSION_CACHE, "maybe"),
        (LOCKOUT_THRESHOLD, "0"),
        (ENCRYPTION_KEY, "NOTAKEYMARKER"),
        (AUDIT_RETENTION, "forever"),
    ]);
    let expected = [
        SECRET_KEY_BASE,
        PUBLIC_URL,
        ENCRYPTION_KEY,
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
    let position = |v: &&str| ENV_VARS.iter().position(|known| known.name == *v);
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
    assert!(shown.starts_with("invalid configuration (9 problems):"));
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
            config.endpoints.cookie_domain.as_deref(),
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
    let cases: [(&str, &[&str], &[&str]); 1] = [(
        REDIS_URL,
        &["redis://localhost:6379", "rediss://:p@cache:6380/0"],
        &[
            "redis:/x",
            "http://URLSECRET@cache",
            "memcached://cache",
            "URLSECRET:URLSECRET@cache",
        ],
    )];
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
    assert!(
        ok(&[(ENCRYPTION_KEY, url_safe)])
            .secrets
            .encryption_key
            .is_some()
    );

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
    for (value, on) in [
        ("on", true),
        ("TRUE", true),
        ("1", true),
        ("off", false),
        ("False", false),
        ("0", false),
    ] {
        assert_eq!(
            ok(&[(SESSION_CACHE, value)]).session_cache.enabled,
            on,
            "{value}"
        );
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
    assert!(
        ok(&[(TOUCH_INTERVAL, "0s")])
            .session
            .touch_interval
            .is_zero()
    );

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
    assert_eq!(
        ok(&[(AUDIT_RETENTION, "keep")]).retention.audit_retention,
        None
    );
    assert_eq!(
        ok(&[(AUDIT_RETENTION, "KEEP")]).retention.audit_retention,
        None
    );
    assert_eq!(
        ok(&[(AUDIT_RETENTION, "90d")]).retention.audit_retention,
        Some(days(90))
    );
}

#[test]
fn hsts_rules() {
    assert_eq!(
        Config::builder(Environment::Test)
            .build()
            .unwrap()
            .endpoints
            .hsts
            .as_deref(),
        Some(DEFAULT_HSTS)
    );
    assert_eq!(ok(&[(HSTS, "")]).endpoints.hsts, None, "empty turns it off");
    assert_eq!(ok(&[(HSTS, "  ")]).endpoints.hsts, None);
    assert_eq!(
        Config::builder(Environment::Test)
            .hsts(" ")
            .build()
            .unwrap()
            .endpoints
            .hsts,
        None,
        "a blank value given to the builder turns it off too"
    );
    for good in [
        "max-age=15552000",
        "max-age=0",
        "includeSubDomains; MAX-AGE=\"63072000\"; preload",
    ] {
        assert_eq!(ok(&[(HSTS, good)]).endpoints.hsts.as_deref(), Some(good));
    }
    for bad in [
        "max-age=15551999",
        "max-age=86400; includeSubDomains",
        "includeSubDomains",
        "max-age=soon",
        "max-age=63072000; max-age=1",
        "max-age=63072000\u{7}",
    ] {
        only_problem(&err(&[(HSTS, bad)]), HSTS);
    }
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
        .rate_limit(RateLimitAction::Mfa, RateLimit::new(0, minutes(1)))
        .idle_timeout(hours(2))
        .absolute_timeout(hours(1))
        .redis_url("http://x")
        .lockout_threshold(0)
        .build()
        .unwrap_err();
    let mut vars = problem_vars(&errors);
    vars.sort_unstable();
    let mut expected = vec![
        SECRET_KEY_BASE,
        PUBLIC_URL,
        REDIS_URL,
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
        config.endpoints.trusted_proxies,
        ["10.0.0.0/8".parse::<IpNet>().unwrap()]
    );
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
    // The application says which variables it reads itself (here `PORT`).
    let options = EnvOptions {
        host_vars: &[Variable {
            name: "PORT",
            default: "4000",
            doc: "HTTP port",
        }],
        ..EnvOptions::default()
    };
    let config = Config::from_env_map_with(
        &map(&[
            (SECRET_KEY_BASE, SECRET),
            ("SIGRA_IDLE_TIMOUT", "10m"),
            ("SIGRA_PORT", "80"),
            ("SIGRA_SESSION_CACHE_SIZE_LIMIT_THING", "1"),
            ("sigra_trust_ttl", "1d"),
            ("HOME", "/root"),
        ]),
        &options,
    )
    .unwrap();
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
            ("SIGRA_PORT", Some("PORT")),
            ("SIGRA_SESSION_CACHE_SIZE_LIMIT_THING", None),
        ]
    );
    assert!(
        config.warnings()[0]
            .to_string()
            .contains("did you mean SIGRA_IDLE_TIMEOUT?")
    );
    assert!(config.warnings()[2].to_string().contains("sigra doctor"));
    assert_eq!(suggest("SIGRA_TRUST_TTl", &[]), Some(TRUST_TTL));
    assert_eq!(suggest("sigra_trust_ttl", &[]), Some(TRUST_TTL));
    assert_eq!(suggest(&"X".repeat(1000), &[]), None);
    // The value is what ends up unused.
    assert_eq!(config.session.idle_timeout, minutes(30));
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
            REDIS_URL,
            "rediss://:REDISPASSWORD@cache.internal:6380/0".to_owned(),
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
    assert!(printed.contains("rediss:[REDACTED]"), "{printed}");
    assert!(
        printed.contains(&key_id(0x41)),
        "key ids are public: {printed}"
    );
    assert!(printed.contains("idle_timeout: 30m"), "{printed}");

    // The builder's Debug is safe too.
    let builder = Config::builder(Environment::Dev)
        .secret_key_base(SecretKeyBase::new(SECRET.as_bytes().to_vec()).unwrap())
        .redis_url("redis://a:DBPASSWORD@db/app");
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
                .map(|v| v.name.to_owned())
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
                prop_assert!(config.session.idle_timeout <= config.session.absolute_timeout);
                prop_assert!(config.password.min_length <= config.password.max_length);
            }
            Err(errors) => {
                prop_assert!(!errors.problems().is_empty());
                for problem in errors.problems() {
                    prop_assert!(known_var(problem.variable(), &[]).is_some());
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

mod guide_tests {
    /// The configuration guide is part of the product: it must list every variable.
    #[test]
    fn configuration_guide_lists_every_variable() {
        let guide = include_str!("../../../../docs/guides/configuration.md");
        for super::Variable { name, .. } in super::ENV_VARS {
            assert!(
                guide.contains(&format!("`{name}`")),
                "docs/guides/configuration.md does not list {name}"
            );
        }
    }
}

/// The default each variable's row shows is the default the code applies:
/// setting a variable to its shown default changes nothing. Defaults
/// described in words (none, generated, derived) are listed here.
#[test]
fn shown_defaults_are_the_defaults() {
    let in_words = [
        SECRET_KEY_BASE,
        SECRET_KEY_BASE_OLD,
        ENCRYPTION_KEY,
        ENCRYPTION_KEY_OLD,
        PUBLIC_URL,
        COOKIE_DOMAIN,
        REDIS_URL,
        REDIS_CA_FILE,
        TRUSTED_PROXIES,
    ];
    let defaults = format!("{:?}", ok::<&str, &str>(&[]));
    for Variable { name, default, .. } in ENV_VARS {
        if in_words.contains(name) {
            assert!(
                Config::from_env_map(&map(&[(*name, *default)])).is_err(),
                "{name}: {default} reads as a value; compare it like the others"
            );
            continue;
        }
        let config = ok(&[(*name, *default)]);
        assert_eq!(format!("{config:?}"), defaults, "{name} = {default}");
    }
}
