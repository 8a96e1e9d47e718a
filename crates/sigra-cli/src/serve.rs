//! `sigra serve` and `sigra migrate`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sigra_core::auth::Auth;
use sigra_core::config::{Config, Environment};
use sigra_core::mail::{DevMailbox, LogMailer, Mailer};
use sigra_core::store::Store;
use sigra_store_postgres::PostgresStore;
use sigra_store_sqlite::SqliteStore;
use sigra_web::Sigra;
use sigra_web::mail::SmtpMailer;

use crate::env_with_flags;

/// The SQLite file the demo uses when no `DATABASE_URL` is given.
const DEFAULT_DATABASE_URL: &str = "sqlite://sigra-dev.sqlite";

pub(crate) fn config(mut vars: HashMap<String, String>) -> Result<Config, String> {
    // `sigra serve` is the demo: dev unless told otherwise, and in dev the
    // public URL follows the port it listens on.
    vars.entry("SIGRA_ENV".to_owned())
        .or_insert_with(|| "dev".to_owned());
    let dev = vars
        .get("SIGRA_ENV")
        .is_some_and(|e| !e.eq_ignore_ascii_case("prod"));
    if dev {
        vars.entry("DATABASE_URL".to_owned())
            .or_insert_with(|| DEFAULT_DATABASE_URL.to_owned());
        let port = vars
            .get("PORT")
            .cloned()
            .unwrap_or_else(|| "4000".to_owned());
        vars.entry("PUBLIC_URL".to_owned())
            .or_insert_with(|| format!("http://127.0.0.1:{port}"));
    }
    let config =
        Config::from_env_map(&vars).map_err(|e| format!("the environment is not usable:\n{e}"))?;
    for warning in config.warnings() {
        eprintln!("warning: {warning}");
    }
    Ok(config)
}

pub(crate) async fn open_store(config: &Config) -> Result<Arc<dyn Store>, String> {
    use secrecy::ExposeSecret;
    let url = config
        .database_url
        .as_ref()
        .map(|u| u.expose_secret().to_owned())
        .ok_or("DATABASE_URL is not set (postgres://… or sqlite://…)")?;
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = PostgresStore::connect(&url)
            .await
            .map_err(|e| format!("cannot connect to PostgreSQL: {e}"))?;
        store
            .migrate()
            .await
            .map_err(|e| format!("PostgreSQL migration failed: {e}"))?;
        Ok(Arc::new(store))
    } else {
        let store = SqliteStore::connect(&url)
            .await
            .map_err(|e| format!("cannot open SQLite database: {e}"))?;
        store
            .migrate()
            .await
            .map_err(|e| format!("SQLite migration failed: {e}"))?;
        Ok(Arc::new(store))
    }
}

/// How the demo sends its links.
enum Mail {
    /// `SMTP_URL` is set: real delivery from a background queue.
    Smtp(Arc<SmtpMailer>),
    /// Dev without SMTP: kept in memory and shown at `/dev/mailbox.json`.
    Dev(Arc<DevMailbox>),
    /// Test or prod without SMTP: only logged (users receive nothing).
    Log,
}

impl Mail {
    /// SMTP when `SMTP_URL` is set (in any environment, so a local Mailpit
    /// works in dev too), else the dev mailbox in dev, else the log.
    /// Must run inside the runtime: the SMTP mailer spawns its delivery task.
    fn from_config(config: &Config) -> Result<Self, String> {
        if let Some(url) = &config.smtp_url {
            let from = format!("Sigra <no-reply@{}>", config.public_host());
            let mailer = SmtpMailer::from_url(url, &from)
                .map_err(|e| format!("SMTP_URL is not usable: {e}"))?;
            return Ok(Self::Smtp(Arc::new(mailer)));
        }
        if config.env == Environment::Dev {
            return Ok(Self::Dev(Arc::new(DevMailbox::new())));
        }
        eprintln!(
            "warning: SMTP_URL is not set: password-reset, confirmation and other links are not sent"
        );
        Ok(Self::Log)
    }

    fn mailer(&self) -> Arc<dyn Mailer> {
        match self {
            Self::Smtp(smtp) => smtp.clone(),
            Self::Dev(mailbox) => mailbox.clone(),
            Self::Log => Arc::new(LogMailer),
        }
    }
}

pub(crate) fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

/// `sigra migrate`: applies the migrations and exits.
pub(crate) fn migrate(args: &[String]) -> Result<(), String> {
    let config = config(env_with_flags(args)?)?;
    runtime()?.block_on(async {
        open_store(&config).await?;
        println!("migrations applied");
        Ok(())
    })
}

/// `sigra serve`: the demo app.
pub(crate) fn serve(args: &[String]) -> Result<(), String> {
    init_tracing();
    let (jobs_mode, args) = crate::jobs::take_mode(args)?;
    let config = config(env_with_flags(&args)?)?;
    runtime()?.block_on(async move {
        let store = open_store(&config).await?;
        let addr = SocketAddr::from(([127, 0, 0, 1], config.port));
        let url = config.public_url.to_string();
        let env = config.env;
        let mail = Mail::from_config(&config)?;
        // Background jobs: inline by default, `--jobs durable` for the queue;
        // the app's mail goes through them to the transport chosen above.
        let mut jobs = crate::jobs::runner(
            &config,
            Arc::clone(&store),
            jobs_mode,
            mail.mailer(),
            sigra_jobs::JobsConfig::default(),
        )
        .await?;
        let auth = Auth::builder(config, store)
            .mailer(jobs.mailer())
            .build()
            .map_err(|e| format!("cannot start authentication: {e}"))?;
        let mut sigra = with_rate_limiter(auth).await?;
        if let Mail::Dev(mailbox) = &mail {
            sigra = sigra.with_dev_mailbox(mailbox.clone());
        }
        let app = sigra.demo_app();
        let jobs = jobs
            .start()
            .await
            .map_err(|e| format!("cannot start background jobs: {e}"))?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        println!("Sigra demo ({env}) listening on http://{addr}");
        println!("Open {url} and register an account.");
        match sigra.auth().session_cache() {
            Some(_) => println!(
                "Session cache on (SIGRA_SESSION_CACHE): following revocations every {}",
                sigra_core::config::format_duration(sigra.auth().config().revocation_poll)
            ),
            None => println!(
                "Session cache off (SIGRA_SESSION_CACHE=off): every request reads the database"
            ),
        }
        if matches!(mail, Mail::Dev(_)) {
            println!("Mail is not sent in dev: read it at {url}dev/mailbox.json");
        }
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| format!("server error: {e}"))?;
        jobs.shutdown().await;
        if let Mail::Smtp(smtp) = &mail
            && tokio::time::timeout(Duration::from_secs(10), smtp.flush())
                .await
                .is_err()
        {
            eprintln!("warning: some queued mail was not delivered before shutdown");
        }
        println!("Sigra demo stopped.");
        Ok(())
    })
}

/// Sigra with the rate limiter the config calls for: with `REDIS_URL`, the
/// Redis limiter, connected before the first request (an unreachable Redis
/// is logged once and the limits are counted on this node until it answers);
/// otherwise the in-memory one.
async fn with_rate_limiter(auth: Auth) -> Result<Sigra, String> {
    use secrecy::ExposeSecret;
    let Some(url) = auth.config().redis_url.clone() else {
        return Ok(Sigra::new(auth));
    };
    let limiter = sigra_web::redis_limiter::RedisRateLimiter::connect(url.expose_secret())
        .await
        .map_err(|e| match std::error::Error::source(&e) {
            Some(source) => source.to_string(),
            None => e.to_string(),
        })?;
    Ok(Sigra::with_limiter(auth, Arc::new(limiter)))
}

/// Resolves on Ctrl-C or SIGTERM, so in-flight requests finish before exit.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
