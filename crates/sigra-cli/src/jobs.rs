//! `sigra jobs run [--once]`: a worker on the durable queue, or every
//! periodic job once.

use std::time::Duration;

use sigra_core::model::DeletionStrategy;
use sigra_jobs::{Jobs, JobsConfig, JobsStats, Schedule};

use crate::boot::{
    JobsMode, Mail, USAGE, config, env_with_flags, init_tracing, job_runner, open_store, runtime,
    shutdown_signal,
};

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
                USAGE
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
            let mut jobs = Jobs::inline(store, config.config).settings(options.settings);
            let lines = jobs
                .run_once()
                .await
                .map_err(|e| format!("a job failed: {e}"))?;
            for line in lines {
                println!("{line}");
            }
            return Ok(());
        }
        // A worker process has no dev mailbox to show.
        let mail = Mail::from_settings(
            &config,
            false,
            "SMTP_URL is not set: queued mail is logged, not sent",
        )?;
        let jobs = job_runner(
            &config,
            store,
            JobsMode::Durable,
            mail.transport(),
            options.settings,
        )
        .await?;
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
