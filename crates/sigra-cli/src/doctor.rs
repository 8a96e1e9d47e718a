//! `sigra doctor`: checks an environment against the production checklist.
//!
//! Every check yields a row — ok, warn or fail — with what was found and how
//! to fix it. Configuration problems are all listed (not just the first), and
//! the live checks (database reachable and migrated, Redis and SMTP
//! reachable) run even when the configuration has problems, as far as the
//! variables they need allow. Any failure makes the exit status 1.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use sigra_core::config::ConfigWarning;
use sigra_store_postgres::PostgresStore;
use sigra_store_sqlite::SqliteStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::settings::Settings;

/// How long a live check may take before it counts as unreachable.
const TIMEOUT: Duration = Duration::from_secs(5);

/// A check's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Ok,
    Warn,
    Fail,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ok => "ok",
            Self::Warn => "warn",
            Self::Fail => "FAIL",
        })
    }
}

/// One row of the report.
#[derive(Debug, Clone)]
pub(crate) struct Check {
    pub(crate) name: String,
    pub(crate) status: Status,
    pub(crate) detail: String,
    pub(crate) fix: String,
}

fn row(
    name: impl Into<String>,
    status: Status,
    detail: impl Into<String>,
    fix: impl Into<String>,
) -> Check {
    Check {
        name: name.into(),
        status,
        detail: detail.into(),
        fix: fix.into(),
    }
}

fn var<'a>(vars: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

/// Runs every check on `vars` (the environment as a map).
pub(crate) async fn checks(vars: &HashMap<String, String>) -> Vec<Check> {
    let mut rows = Vec::new();
    let settings = match crate::settings::load(vars) {
        Ok(settings) => {
            rows.push(row(
                "configuration",
                Status::Ok,
                "every variable parses and validates",
                "",
            ));
            Some(settings)
        }
        Err(errors) => {
            for problem in errors.problems() {
                rows.push(row(
                    format!("config: {}", problem.variable()),
                    Status::Fail,
                    problem.message(),
                    "set the variable as described (see docs/guides/configuration.md)",
                ));
            }
            None
        }
    };
    if let Some(settings) = &settings {
        config_checks(settings, vars, &mut rows);
    }
    rows.push(database_check(var(vars, "DATABASE_URL")).await);
    rows.push(redis_check(var(vars, "REDIS_URL"), var(vars, "SIGRA_REDIS_CA_FILE")).await);
    rows.push(
        smtp_check(
            var(vars, "SMTP_URL"),
            settings.as_ref().is_some_and(|s| s.config.env.is_prod()),
        )
        .await,
    );
    rows
}

fn config_checks(settings: &Settings, vars: &HashMap<String, String>, rows: &mut Vec<Check>) {
    let config = &settings.config;
    let prod = config.env.is_prod();
    rows.push(if prod {
        row("environment", Status::Ok, "prod", "")
    } else {
        row(
            "environment",
            Status::Warn,
            config.env.to_string(),
            "set SIGRA_ENV=prod on production machines",
        )
    });

    let origin = config.endpoints.public_url.origin().ascii_serialization();
    let host = config.public_host();
    let local = matches!(host, "localhost" | "127.0.0.1" | "[::1]" | "::1");
    rows.push(match (prod, local, config.endpoints.public_url.scheme()) {
        (true, true, _) => row(
            "public origin",
            Status::Fail,
            format!("PUBLIC_URL is {origin}, a local address"),
            "set PUBLIC_URL to the https origin users visit, e.g. https://myapp.com",
        ),
        (_, _, "https") => row("public origin", Status::Ok, origin, ""),
        (true, _, _) => row(
            "public origin",
            Status::Fail,
            format!("{origin} is not https"),
            "serve over https and set PUBLIC_URL to it",
        ),
        _ => row(
            "public origin",
            Status::Warn,
            format!("{origin} (plain http, fine for dev only)"),
            "use an https PUBLIC_URL in prod",
        ),
    });

    rows.push(match &config.endpoints.cookie_domain {
        Some(domain) => row("cookie domain", Status::Ok, format!("{domain} (covers {host} and its siblings)"), ""),
        None if prod => row(
            "cookie domain",
            Status::Warn,
            format!("unset: cookies are host-only for {host}"),
            "set COOKIE_DOMAIN (e.g. .myapp.com) if users sign in across subdomains; see docs/guides/subdomain-auth.md",
        ),
        None => row("cookie domain", Status::Ok, "unset (host-only cookies)", ""),
    });

    rows.push(match (config.secure_cookies(), prod) {
        (true, _) => row(
            "secure cookies",
            Status::Ok,
            "Secure, HttpOnly, SameSite=Lax",
            "",
        ),
        (false, true) => row(
            "secure cookies",
            Status::Fail,
            "cookies would not be Secure",
            "use an https PUBLIC_URL",
        ),
        (false, false) => row(
            "secure cookies",
            Status::Warn,
            "not Secure (http in dev)",
            "prod always sets Secure",
        ),
    });

    let secret_len = var(vars, "SECRET_KEY_BASE").map_or(0, str::len);
    rows.push(if secret_len == 0 {
        row(
            "SECRET_KEY_BASE",
            if prod { Status::Fail } else { Status::Warn },
            "unset: a random one is generated at each start, so sessions do not survive restarts",
            "run `sigra gen-secret` and set SECRET_KEY_BASE",
        )
    } else {
        row(
            "SECRET_KEY_BASE",
            Status::Ok,
            format!("{secret_len} bytes"),
            "",
        )
    });
    if config.secrets.secret_key_base_old.is_some() {
        rows.push(row(
            "SECRET_KEY_BASE_OLD",
            Status::Ok,
            "set: cookies signed with the old secret are still accepted and re-signed",
            "remove it once every session has been renewed (see docs/guides/rotation.md)",
        ));
    }

    rows.push(match (&config.secrets.encryption_key, prod) {
        (Some(key), _) => row(
            "ENCRYPTION_KEY",
            Status::Ok,
            format!(
                "key id {}{}",
                key.id(),
                if config.secrets.encryption_keys_old.is_empty() {
                    ""
                } else {
                    " (old keys present)"
                }
            ),
            "",
        ),
        (None, true) => row(
            "ENCRYPTION_KEY",
            Status::Fail,
            "unset: TOTP secrets cannot be stored, so MFA enrolment fails",
            "run `sigra gen-key` and set ENCRYPTION_KEY",
        ),
        (None, false) => row(
            "ENCRYPTION_KEY",
            Status::Warn,
            "unset: dev derives a key from SECRET_KEY_BASE",
            "run `sigra gen-key` and set ENCRYPTION_KEY before production",
        ),
    });

    let behind_proxy = config.endpoints.public_url.scheme() == "https" && settings.port != 443;
    rows.push(match (config.endpoints.trusted_proxies.is_empty(), behind_proxy) {
        (false, _) => row("trusted proxies", Status::Ok, format!("{} network(s)", config.endpoints.trusted_proxies.len()), ""),
        (true, true) => row(
            "trusted proxies",
            Status::Warn,
            format!("PUBLIC_URL is https but the app listens on port {}: a proxy terminates TLS, and every client looks like it", settings.port),
            "set SIGRA_TRUSTED_PROXIES to the proxy's addresses (CIDR) so rate limits key on real client IPs",
        ),
        (true, false) => row("trusted proxies", Status::Ok, "none (clients connect directly)", ""),
    });

    rows.push(match (config.accounts.require_confirmation, prod) {
        (true, _) => row("require confirmation", Status::Ok, "on", ""),
        (false, true) => row(
            "require confirmation",
            Status::Warn,
            "off: registration tells whether an address has an account, and unconfirmed accounts log in",
            "set SIGRA_REQUIRE_CONFIRMATION=on (docs/guides/production.md)",
        ),
        (false, false) => row("require confirmation", Status::Ok, "off (outside prod)", ""),
    });

    for warning in config.warnings() {
        if matches!(
            warning,
            ConfigWarning::CookieDomainUnset
                | ConfigWarning::GeneratedSecretKeyBase
                | ConfigWarning::NoEncryptionKey
        ) {
            continue; // already a row above
        }
        rows.push(row(
            format!("config: {}", warning.variable()),
            Status::Warn,
            warning.to_string(),
            "",
        ));
    }
}

async fn database_check(url: Option<&str>) -> Check {
    let Some(url) = url else {
        return row(
            "database",
            Status::Fail,
            "DATABASE_URL is unset",
            "set DATABASE_URL to postgres://… or sqlite://…",
        );
    };
    let pending = async {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let store = PostgresStore::connect(url)
                .await
                .map_err(|e| e.to_string())?;
            store.pending_migrations().await.map_err(|e| e.to_string())
        } else {
            let store = SqliteStore::connect(url).await.map_err(|e| e.to_string())?;
            store.pending_migrations().await.map_err(|e| e.to_string())
        }
    };
    match tokio::time::timeout(TIMEOUT, pending).await {
        Ok(Ok(0)) => row("database", Status::Ok, "reachable and migrated", ""),
        Ok(Ok(n)) => row(
            "database",
            Status::Fail,
            format!("reachable, but {n} migration(s) not applied"),
            "run `sigra migrate`",
        ),
        Ok(Err(e)) => row(
            "database",
            Status::Fail,
            format!("unreachable: {e}"),
            "check DATABASE_URL and that the server is running",
        ),
        Err(_) => row(
            "database",
            Status::Fail,
            "no answer within 5 s",
            "check DATABASE_URL, firewalls and that the server is running",
        ),
    }
}

/// `host:port` of a URL, with a default port.
fn host_port(url: &str, default_port: u16) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let host = parsed.host_str()?;
    Some(format!("{host}:{}", parsed.port().unwrap_or(default_port)))
}

async fn redis_check(url: Option<&str>, ca_file: Option<&str>) -> Check {
    let Some(url) = url else {
        return row(
            "redis",
            Status::Ok,
            "not configured: rate limits are per node (fine for one node)",
            "",
        );
    };
    let Some(addr) = host_port(url, 6379) else {
        return row(
            "redis",
            Status::Fail,
            "REDIS_URL is not a valid URL",
            "use redis://host:6379",
        );
    };
    if url.to_ascii_lowercase().starts_with("rediss:") {
        return rediss_check(url, &addr, ca_file).await;
    }
    let ping = async {
        let mut stream = TcpStream::connect(&addr).await?;
        stream.write_all(b"*1\r\n$4\r\nPING\r\n").await?;
        let mut buf = [0u8; 64];
        let n = stream.read(&mut buf).await?;
        Ok::<_, std::io::Error>(buf[..n].to_vec())
    };
    match tokio::time::timeout(TIMEOUT, ping).await {
        Ok(Ok(reply)) if reply.starts_with(b"+PONG") => {
            row("redis", Status::Ok, format!("{addr} answers PING"), "")
        }
        // A server that wants AUTH still proves it is there.
        Ok(Ok(reply)) if reply.starts_with(b"-NOAUTH") => row(
            "redis",
            Status::Ok,
            format!("{addr} is up (requires auth)"),
            "",
        ),
        Ok(Ok(_)) => row(
            "redis",
            Status::Fail,
            format!("{addr} did not answer like Redis"),
            "check REDIS_URL",
        ),
        Ok(Err(e)) => row(
            "redis",
            Status::Fail,
            format!("{addr} unreachable: {e}"),
            "start Redis or fix REDIS_URL",
        ),
        Err(_) => row(
            "redis",
            Status::Fail,
            format!("{addr}: no answer within 5 s"),
            "start Redis or fix REDIS_URL",
        ),
    }
}

/// `redis_check` over TLS: the limiter's own client (rustls, the bundled
/// roots or SIGRA_REDIS_CA_FILE) connects and sends PING.
async fn rediss_check(url: &str, addr: &str, ca_file: Option<&str>) -> Check {
    use sigra_web::redis_limiter::{RedisLimiterOptions, RedisRateLimiter};
    let options = RedisLimiterOptions {
        connect_timeout: TIMEOUT,
        response_timeout: TIMEOUT,
        ca_file: ca_file.map(Into::into),
        ..RedisLimiterOptions::default()
    };
    let reason = match RedisRateLimiter::ping(url, options).await {
        Ok(()) => {
            return row(
                "redis",
                Status::Ok,
                format!("{addr} answers PING over TLS"),
                "",
            );
        }
        Err(e) => std::error::Error::source(&e).map_or_else(|| e.to_string(), ToString::to_string),
    };
    if reason.contains("NOAUTH") {
        // A server that wants AUTH still proves it is there, TLS and all.
        return row(
            "redis",
            Status::Ok,
            format!("{addr} is up over TLS (requires auth)"),
            "",
        );
    }
    row(
        "redis",
        Status::Fail,
        format!("{addr} over TLS: {reason}"),
        "start Redis or fix REDIS_URL; for a private CA set SIGRA_REDIS_CA_FILE to its PEM file",
    )
}

async fn smtp_check(url: Option<&str>, prod: bool) -> Check {
    let Some(url) = url else {
        return row(
            "smtp",
            if prod { Status::Warn } else { Status::Ok },
            "SMTP_URL unset: confirmation and password-reset mails are not delivered",
            if prod {
                "set SMTP_URL (smtps://user:pass@host:465 or smtp://…:587)"
            } else {
                ""
            },
        );
    };
    let default_port = if url.starts_with("smtps://") {
        465
    } else {
        587
    };
    let Some(addr) = host_port(url, default_port) else {
        return row(
            "smtp",
            Status::Fail,
            "SMTP_URL is not a valid URL",
            "use smtps://user:pass@host:465",
        );
    };
    let greet = async {
        let mut stream = TcpStream::connect(&addr).await?;
        if default_port == 465 {
            return Ok(true); // implicit TLS: the greeting comes after the handshake
        }
        let mut buf = [0u8; 128];
        let n = stream.read(&mut buf).await?;
        Ok::<_, std::io::Error>(buf[..n].starts_with(b"220"))
    };
    match tokio::time::timeout(TIMEOUT, greet).await {
        Ok(Ok(true)) => row(
            "smtp",
            Status::Ok,
            format!("{addr} accepts connections"),
            "",
        ),
        Ok(Ok(false)) => row(
            "smtp",
            Status::Fail,
            format!("{addr} did not greet like an SMTP server"),
            "check SMTP_URL",
        ),
        Ok(Err(e)) => row(
            "smtp",
            Status::Fail,
            format!("{addr} unreachable: {e}"),
            "check SMTP_URL and the mail server",
        ),
        Err(_) => row(
            "smtp",
            Status::Fail,
            format!("{addr}: no answer within 5 s"),
            "check SMTP_URL and the mail server",
        ),
    }
}

/// Prints the report as a table; returns whether anything failed.
pub(crate) fn print(rows: &[Check]) -> bool {
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(5).max(5);
    println!("{:<width$}  {:<6}  detail", "check", "status");
    for r in rows {
        println!(
            "{:<width$}  {:<6}  {}",
            r.name,
            r.status.to_string(),
            r.detail
        );
        if !r.fix.is_empty() && r.status != Status::Ok {
            println!("{:<width$}  {:<6}  fix: {}", "", "", r.fix);
        }
    }
    let failed = rows.iter().filter(|r| r.status == Status::Fail).count();
    let warned = rows.iter().filter(|r| r.status == Status::Warn).count();
    println!(
        "\n{failed} failed, {warned} warning(s), {} ok",
        rows.len() - failed - warned
    );
    failed > 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    const SECRET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn find<'a>(rows: &'a [Check], name: &str) -> &'a Check {
        rows.iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("no row {name}: {rows:#?}"))
    }

    async fn migrated_sqlite(dir: &tempfile::TempDir, migrate: bool) -> String {
        let url = format!("sqlite://{}", dir.path().join("doctor.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        if migrate {
            store.migrate().await.unwrap();
        }
        url
    }

    #[tokio::test]
    async fn a_good_prod_environment_passes() {
        let dir = tempfile::tempdir().unwrap();
        let db = migrated_sqlite(&dir, true).await;
        let key = sigra_core::encryption::EncryptionKey::generate()
            .unwrap()
            .to_base64();
        let rows = checks(&env(&[
            ("SIGRA_ENV", "prod"),
            ("SECRET_KEY_BASE", SECRET),
            ("PUBLIC_URL", "https://app.example.com"),
            ("PORT", "443"),
            ("COOKIE_DOMAIN", ".example.com"),
            ("ENCRYPTION_KEY", key.expose_secret()),
            ("DATABASE_URL", &db),
        ]))
        .await;
        let failures: Vec<_> = rows.iter().filter(|r| r.status == Status::Fail).collect();
        assert!(failures.is_empty(), "{failures:#?}");
        assert_eq!(find(&rows, "database").status, Status::Ok);
        assert_eq!(find(&rows, "secure cookies").status, Status::Ok);
    }

    #[tokio::test]
    async fn every_configuration_problem_is_a_failing_row() {
        let rows = checks(&env(&[
            ("SIGRA_ENV", "prod"),
            ("SECRET_KEY_BASE", "short"),
            ("SIGRA_IDLE_TIMEOUT", "soon"),
        ]))
        .await;
        for var in ["SECRET_KEY_BASE", "PUBLIC_URL", "SIGRA_IDLE_TIMEOUT"] {
            assert_eq!(find(&rows, &format!("config: {var}")).status, Status::Fail);
        }
        assert!(
            !rows.iter().any(|r| r.detail.contains("short")),
            "secrets are never echoed"
        );
        assert_eq!(
            find(&rows, "database").status,
            Status::Fail,
            "DATABASE_URL unset"
        );
    }

    #[tokio::test]
    async fn local_public_origin_in_prod_fails() {
        let rows = checks(&env(&[
            ("SIGRA_ENV", "prod"),
            ("SECRET_KEY_BASE", SECRET),
            ("PUBLIC_URL", "https://localhost"),
        ]))
        .await;
        assert_eq!(find(&rows, "public origin").status, Status::Fail);
    }

    #[tokio::test]
    async fn an_http_public_url_does_not_hide_a_cookie_domain_mismatch() {
        // Issue 13 item 15: both problems are named at once, whatever the scheme.
        let rows = checks(&env(&[
            ("SIGRA_ENV", "prod"),
            ("SECRET_KEY_BASE", SECRET),
            ("PUBLIC_URL", "http://app.example.test"),
            ("COOKIE_DOMAIN", ".other.test"),
        ]))
        .await;
        let public_url = find(&rows, "config: PUBLIC_URL");
        assert_eq!(public_url.status, Status::Fail);
        assert!(public_url.detail.contains("https"), "{public_url:?}");
        let domain = find(&rows, "config: COOKIE_DOMAIN");
        assert_eq!(domain.status, Status::Fail);
        assert!(
            domain.detail.contains("app.example.test"),
            "the mismatch names the host: {domain:?}"
        );
    }

    #[tokio::test]
    async fn missing_encryption_key_fails_in_prod_and_warns_in_dev() {
        let prod = checks(&env(&[
            ("SIGRA_ENV", "prod"),
            ("SECRET_KEY_BASE", SECRET),
            ("PUBLIC_URL", "https://app.example.com"),
        ]))
        .await;
        assert_eq!(find(&prod, "ENCRYPTION_KEY").status, Status::Fail);
        assert_eq!(
            find(&prod, "cookie domain").status,
            Status::Warn,
            "unset COOKIE_DOMAIN in prod"
        );
        assert_eq!(find(&prod, "smtp").status, Status::Warn, "no SMTP in prod");
        assert_eq!(
            find(&prod, "require confirmation").status,
            Status::Warn,
            "SIGRA_REQUIRE_CONFIRMATION off in prod"
        );
        let dev = checks(&env(&[("SIGRA_ENV", "dev")])).await;
        assert_eq!(find(&dev, "ENCRYPTION_KEY").status, Status::Warn);
        assert_eq!(find(&dev, "environment").status, Status::Warn);
        assert_eq!(find(&dev, "secure cookies").status, Status::Warn);
        assert_eq!(find(&dev, "SECRET_KEY_BASE").status, Status::Warn);
    }

    #[tokio::test]
    async fn require_confirmation_on_in_prod_is_ok() {
        let rows = checks(&env(&[
            ("SIGRA_ENV", "prod"),
            ("SECRET_KEY_BASE", SECRET),
            ("PUBLIC_URL", "https://app.example.com"),
            ("SIGRA_REQUIRE_CONFIRMATION", "on"),
        ]))
        .await;
        assert_eq!(find(&rows, "require confirmation").status, Status::Ok);
    }

    #[tokio::test]
    async fn https_behind_a_port_without_trusted_proxies_warns() {
        let rows = checks(&env(&[
            ("SIGRA_ENV", "prod"),
            ("SECRET_KEY_BASE", SECRET),
            ("PUBLIC_URL", "https://app.example.com"),
            ("PORT", "4000"),
        ]))
        .await;
        assert_eq!(find(&rows, "trusted proxies").status, Status::Warn);
        let rows = checks(&env(&[
            ("SIGRA_ENV", "prod"),
            ("SECRET_KEY_BASE", SECRET),
            ("PUBLIC_URL", "https://app.example.com"),
            ("PORT", "4000"),
            ("SIGRA_TRUSTED_PROXIES", "10.0.0.0/8"),
        ]))
        .await;
        assert_eq!(find(&rows, "trusted proxies").status, Status::Ok);
    }

    #[tokio::test]
    async fn unmigrated_and_unreachable_databases_fail() {
        let dir = tempfile::tempdir().unwrap();
        let db = migrated_sqlite(&dir, false).await;
        let rows = checks(&env(&[("DATABASE_URL", &db)])).await;
        let row = find(&rows, "database");
        assert_eq!(row.status, Status::Fail);
        assert!(
            row.detail.contains("not applied") && row.fix.contains("sigra migrate"),
            "{row:?}"
        );
        let rows = checks(&env(&[(
            "DATABASE_URL",
            "postgres://postgres@127.0.0.1:1/none",
        )]))
        .await;
        assert_eq!(find(&rows, "database").status, Status::Fail);
    }

    #[tokio::test]
    async fn redis_and_smtp_are_checked_when_configured() {
        // Nothing listens on port 1.
        let rows = checks(&env(&[
            ("REDIS_URL", "redis://127.0.0.1:1"),
            ("SMTP_URL", "smtp://127.0.0.1:1"),
        ]))
        .await;
        assert_eq!(find(&rows, "redis").status, Status::Fail);
        assert_eq!(find(&rows, "smtp").status, Status::Fail);
        // The Redis that `cargo xtask ci` provides.
        let redis = std::env::var("SIGRA_TEST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
        let rows = checks(&env(&[("REDIS_URL", &redis)])).await;
        assert_eq!(
            find(&rows, "redis").status,
            Status::Ok,
            "Redis must be running (cargo xtask services)"
        );
        // A listener that greets like SMTP.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            socket.write_all(b"220 test ESMTP\r\n").await.unwrap();
        });
        let rows = checks(&env(&[("SMTP_URL", &format!("smtp://127.0.0.1:{port}"))])).await;
        assert_eq!(find(&rows, "smtp").status, Status::Ok);
    }

    #[tokio::test]
    async fn a_rediss_url_is_checked_over_tls_with_the_private_ca() {
        let redis = sigra_tests::tls_redis::TlsRedis::start().await;
        let ca = redis.ca_file().display().to_string();
        let rows = checks(&env(&[
            ("REDIS_URL", &redis.url()),
            ("SIGRA_REDIS_CA_FILE", &ca),
        ]))
        .await;
        let row = find(&rows, "redis");
        assert_eq!(row.status, Status::Ok, "{row:?}");
        assert!(row.detail.contains("TLS"), "{row:?}");
        // Without the CA the certificate is refused, and doctor says so.
        let rows = checks(&env(&[("REDIS_URL", &redis.url())])).await;
        let row = find(&rows, "redis");
        assert_eq!(row.status, Status::Fail, "{row:?}");
        assert!(
            row.detail.to_ascii_lowercase().contains("certificate")
                && row.fix.contains("SIGRA_REDIS_CA_FILE"),
            "{row:?}"
        );
        // Nothing listens on port 1.
        let rows = checks(&env(&[("REDIS_URL", "rediss://127.0.0.1:1")])).await;
        assert_eq!(find(&rows, "redis").status, Status::Fail);
    }
}
