//! `sigra jobs run [--once]`, and the job runner `sigra serve` starts.

use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use sigra_core::config::Config;
use sigra_core::mail::{LogMailer, Mailer};
use sigra_core::model::DeletionStrategy;
use sigra_core::store::Store;
use sigra_jobs::{Jobs, JobsConfig, JobsStats, Schedule};
use sigra_web::mail::SmtpMailer;

use crate::env_with_flags;
use crate::serve::{config, init_tracing, open_store, runtime, shutdown_signal};

/// How `sigra serve` runs background jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Mode {
    /// In-process scheduler, mail sent inline (the default).
    #[default]
    Inline,
    /// The apalis queue on `DATABASE_URL`.
    Durable,
}

/// Takes `--jobs inline|durable` out of `args`.
pub(crate) fn take_mode(args: &[String]) -> Result<(Mode, Vec<String>), String> {
    let mut mode = Mode::default();
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg == "--jobs" {
            mode = match it.next().map(String::as_str) {
                Some("inline") => Mode::Inline,
                Some("durable") => Mode::Durable,
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
pub(crate) async fn runner(
    config: &Config,
    store: Arc<dyn Store>,
    mode: Mode,
    transport: Arc<dyn Mailer>,
    settings: JobsConfig,
) -> Result<Jobs, String> {
    let jobs = match mode {
        Mode::Inline => Jobs::inline(store, config.clone()),
        Mode::Durable => {
            let url = config
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
                Jobs::durable_postgres(store, config.clone(), pool)
            } else {
                let pool = sigra_store_sqlite::SqliteStore::connect(&url)
                    .await
                    .map_err(|e| format!("cannot open SQLite for the job queue: {e}"))?
                    .pool()
                    .clone();
                Jobs::durable_sqlite(store, config.clone(), pool)
            }
        }
    };
    let jobs = jobs.settings(settings).transport(transport);
    jobs.setup()
        .await
        .map_err(|e| format!("cannot set up the job queue: {e}"))?;
    Ok(jobs)
}

/// `sigra jobs run` options beyond the environment.
struct RunOptions {
    once: bool,
    settings: JobsConfig,
    env_args: Vec<String>,
}

fn parse_run(args: &[String]) -> Result<RunOptions, String> {
    let mut options = RunOptions {
        once: false,
        settings: JobsConfig::default(),
        env_args: Vec::new(),
    };
    let mut it = args.iter();
    let schedule = |value: Option<&String>, flag: &str| -> Result<Schedule, String> {
        value
            .ok_or_else(|| format!("{flag} needs a cron expression"))?
            .parse()
            .map_err(|e: sigra_jobs::ScheduleError| format!("{flag}: {e}"))
    };
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--once" => options.once = true,
            "--deletion-strategy" => {
                let value = it.next().ok_or("--deletion-strategy needs a value")?;
                options.settings.deletion_strategy =
                    value.parse::<DeletionStrategy>().map_err(|_| {
                        format!(
                            "--deletion-strategy expects soft_delete, anonymize or hard_delete, got {value:?}"
                        )
                    })?;
            }
            "--cleanup-schedule" => {
                options.settings.schedules.cleanup_expired_tokens =
                    schedule(it.next(), "--cleanup-schedule")?;
            }
            "--audit-retention-schedule" => {
                options.settings.schedules.audit_retention =
                    schedule(it.next(), "--audit-retention-schedule")?;
            }
            "--deletions-schedule" => {
                options.settings.schedules.process_scheduled_deletions =
                    schedule(it.next(), "--deletions-schedule")?;
            }
            _ => {
                options.env_args.push(arg.clone());
                if let Some(value) = it.next() {
                    options.env_args.push(value.clone());
                }
            }
        }
    }
    Ok(options)
}

/// SMTP when `SMTP_URL` is set, else a log line per message (a worker
/// process has no dev mailbox to show).
fn transport(config: &Config) -> Result<Arc<dyn Mailer>, String> {
    if let Some(url) = &config.smtp_url {
        let from = format!("Sigra <no-reply@{}>", config.public_host());
        let mailer =
            SmtpMailer::from_url(url, &from).map_err(|e| format!("SMTP_URL is not usable: {e}"))?;
        return Ok(Arc::new(mailer));
    }
    eprintln!("warning: SMTP_URL is not set: queued mail is logged, not sent");
    Ok(Arc::new(LogMailer))
}

fn log_stats(stats: &JobsStats) {
    for q in &stats.queues {
        tracing::info!(
            name: "sigra.jobs.queue",
            queue = %q.queue,
            pending = q.pending,
            running = q.running,
            failed = q.failed
        );
    }
    for (job, c) in &stats.jobs {
        if c.failed > 0 || c.gave_up > 0 {
            tracing::warn!(
                name: "sigra.jobs.failures",
                job = job.as_str(),
                failed = c.failed,
                gave_up = c.gave_up
            );
        }
    }
}

/// `sigra jobs run [--once]`.
pub(crate) fn jobs(args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        Some("run") => {}
        _ => {
            return Err(format!(
                "usage: sigra jobs run [--once] [options]\n\n{}",
                crate::USAGE
            ));
        }
    }
    let options = parse_run(&args[1..])?;
    if !options.once {
        init_tracing();
    }
    let config = config(env_with_flags(&options.env_args)?)?;
    runtime()?.block_on(async move {
        let store = open_store(&config).await?;
        if options.once {
            let mut jobs = Jobs::inline(store, config).settings(options.settings);
            let lines = jobs
                .run_once()
                .await
                .map_err(|e| format!("a job failed: {e}"))?;
            for line in lines {
                println!("{line}");
            }
            return Ok(());
        }
        let transport = transport(&config)?;
        let jobs = runner(&config, store, Mode::Durable, transport, options.settings).await?;
        let handle = jobs
            .start()
            .await
            .map_err(|e| format!("cannot start the workers: {e}"))?;
        println!("Sigra jobs worker running (durable queue on DATABASE_URL); Ctrl-C to stop.");
        {
            // Queue depth and failures, logged every minute.
            let stats_every = async {
                loop {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    log_stats(&handle.stats().await);
                }
            };
            tokio::select! {
                () = shutdown_signal() => {}
                () = stats_every => {}
            }
        }
        handle.shutdown().await;
        println!("Sigra jobs worker stopped.");
        Ok(())
    })
}
