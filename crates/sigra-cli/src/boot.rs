//! What every `sigra` command starts from: the usage text, the environment
//! with its flags, the config, the store, tracing, the runtime, the shutdown
//! signal, and the background-job runner with its mail transport. The
//! commands (`serve`, `jobs`, `reencrypt`, `doctor`) build on this module and
//! never on each other.

use std::collections::HashMap;
use std::sync::Arc;

use secrecy::ExposeSecret;
use sigra_core::config::Environment;
use sigra_core::mail::{DevMailbox, LogMailer, Mailer};
use sigra_core::store::Store;
use sigra_jobs::smtp::SmtpTransport;
use sigra_jobs::{Jobs, JobsConfig};
use sigra_store_postgres::PostgresStore;
use sigra_store_sqlite::SqliteStore;

use crate::settings::{self, Settings};

pub(crate) const USAGE: &str = "\
usage: sigra <command> [options]

commands:
  serve [--port N] [--database-url URL] [--jobs inline|durable]
               run the demo app (default: SQLite file ./sigra-dev.sqlite, port 4000);
               background jobs run in-process (inline) or on the durable queue
  jobs run [--once] [--database-url URL] [--deletion-strategy soft_delete|anonymize|hard_delete]
           [--cleanup-schedule CRON] [--audit-retention-schedule CRON] [--deletions-schedule CRON]
               run a job worker on the durable queue in DATABASE_URL; with --once, run
               every periodic job once now and print one line per job
  migrate [--database-url URL]
               apply the database migrations and exit
  doctor [--database-url URL]
               check the environment against the production checklist (exit 1 on any failure)
  gen-secret   print a new SECRET_KEY_BASE (64 random bytes, base64url)
  gen-key      print a new ENCRYPTION_KEY (32 random bytes, base64)
  reencrypt [--database-url URL] [--batch-size N] [--after USER_ID]
               re-encrypt every encrypted column with ENCRYPTION_KEY (values sealed with
               ENCRYPTION_KEY_OLD); safe while the app runs, and to stop and rerun

Configuration comes from the environment (DATABASE_URL, SECRET_KEY_BASE,
PUBLIC_URL, PORT, SIGRA_ENV, …); the flags override it. See docs/guides/configuration.md.
";

/// The process environment as a map, with `--flag value` overrides applied.
pub(crate) fn env_with_flags(args: &[String]) -> Result<HashMap<String, String>, String> {
    let mut vars: HashMap<String, String> = std::env::vars().collect();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let var = match flag.as_str() {
            "--port" => "PORT",
            "--database-url" => "DATABASE_URL",
            other => return Err(format!("unknown option {other:?}\n\n{USAGE}")),
        };
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        vars.insert(var.to_owned(), value.clone());
    }
    Ok(vars)
}

/// The SQLite file the demo uses when no `DATABASE_URL` is given.
const DEFAULT_DATABASE_URL: &str = "sqlite://sigra-dev.sqlite";

pub(crate) fn config(mut vars: HashMap<String, String>) -> Result<Settings, String> {
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
    let settings =
        settings::load(&vars).map_err(|e| format!("the environment is not usable:\n{e}"))?;
    for warning in settings.config.warnings() {
        eprintln!("warning: {warning}");
    }
    Ok(settings)
}

pub(crate) async fn open_store(settings: &Settings) -> Result<Arc<dyn Store>, String> {
    use secrecy::ExposeSecret;
    let url = settings
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

/// How `sigra serve` runs background jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum JobsMode {
    /// In-process scheduler, mail sent inline (the default).
    #[default]
    Inline,
    /// The apalis queue on `DATABASE_URL`.
    Durable,
}

/// Takes `--jobs inline|durable` out of `args`.
pub(crate) fn take_jobs_mode(args: &[String]) -> Result<(JobsMode, Vec<String>), String> {
    let mut mode = JobsMode::default();
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg == "--jobs" {
            mode = match it.next().map(String::as_str) {
                Some("inline") => JobsMode::Inline,
                Some("durable") => JobsMode::Durable,
                other => {
                    return Err(format!(
                        "--jobs expects `inline` or `durable`, got {:?}",
                        other.unwrap_or("")
                    ));
                }
            };
        } else {
            rest.push(arg.clone());
        }
    }
    Ok((mode, rest))
}

/// The runner `sigra serve` uses: inline, or durable on its own small pool
/// to `DATABASE_URL` (so workers never take the request handlers' connections).
pub(crate) async fn job_runner(
    app: &Settings,
    store: Arc<dyn Store>,
    mode: JobsMode,
    transport: Arc<dyn Mailer>,
    settings: JobsConfig,
) -> Result<Jobs, String> {
    let jobs = match mode {
        JobsMode::Inline => Jobs::inline(store, app.config.clone()),
        JobsMode::Durable => {
            let url = app
                .database_url
                .as_ref()
                .map(|u| u.expose_secret().to_owned())
                .ok_or("DATABASE_URL is not set (postgres://… or sqlite://…)")?;
            if url.starts_with("postgres://") || url.starts_with("postgresql://") {
                let pool = sigra_store_postgres::PostgresStore::connect_with_options(&url, 4)
                    .await
                    .map_err(|e| format!("cannot connect to PostgreSQL for the job queue: {e}"))?
                    .pool()
                    .clone();
                Jobs::durable_postgres(store, app.config.clone(), pool)
            } else {
                let pool = sigra_store_sqlite::SqliteStore::connect(&url)
                    .await
                    .map_err(|e| format!("cannot open SQLite for the job queue: {e}"))?
                    .pool()
                    .clone();
                Jobs::durable_sqlite(store, app.config.clone(), pool)
            }
        }
    };
    let jobs = jobs.settings(settings).transport(transport);
    jobs.setup()
        .await
        .map_err(|e| format!("cannot set up the job queue: {e}"))?;
    Ok(jobs)
}

/// How mail leaves: the transport behind the job runner.
pub(crate) enum Mail {
    /// `SMTP_URL` is set: one SMTP attempt per delivery; the runner retries.
    Smtp(Arc<SmtpTransport>),
    /// Dev without SMTP: kept in memory and shown at `/dev/mailbox.json`.
    Dev(Arc<DevMailbox>),
    /// Without SMTP elsewhere (and in a worker process): only logged
    /// (users receive nothing).
    Log,
}

impl Mail {
    /// SMTP when `SMTP_URL` is set (in any environment, so a local Mailpit
    /// works in dev too), else the dev mailbox when `dev_mailbox` is allowed
    /// and the environment is dev, else the log (with `warning` printed).
    pub(crate) fn from_settings(
        settings: &Settings,
        dev_mailbox: bool,
        warning: &str,
    ) -> Result<Self, String> {
        let config = &settings.config;
        if let Some(url) = &settings.smtp_url {
            let from = format!("Sigra <no-reply@{}>", config.public_host());
            let smtp = SmtpTransport::from_url(url, &from)
                .map_err(|e| format!("SMTP_URL is not usable: {e}"))?;
            return Ok(Self::Smtp(Arc::new(smtp)));
        }
        if dev_mailbox && config.env == Environment::Dev {
            return Ok(Self::Dev(Arc::new(DevMailbox::new())));
        }
        eprintln!("warning: {warning}");
        Ok(Self::Log)
    }

    /// The transport to give the runner.
    pub(crate) fn transport(&self) -> Arc<dyn Mailer> {
        match self {
            Self::Smtp(smtp) => smtp.clone(),
            Self::Dev(mailbox) => mailbox.clone(),
            Self::Log => Arc::new(LogMailer),
        }
    }
}
