//! The fallback runner: a tokio scheduler for the periodic jobs and inline
//! mail delivery under a bounded task set — no queue, nothing durable.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sigra_core::mail::{Email, MailError, Mailer};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::jobs::deliver_email;
use crate::shared::Shared;
use crate::telemetry::{JobKind, instrumented};

/// Sends each message on its own task, at most `mail_concurrency` at once,
/// retrying temporary failures with exponential backoff up to
/// `mail_retry.attempts` tries; a permanent failure is not retried.
///
/// `send` returns as soon as the task is spawned (so a request's timing
/// does not tell whether mail was sent), or [`MailError::Busy`] when every
/// permit is taken. Outside a tokio runtime it delivers in place, once.
#[derive(Debug)]
pub(crate) struct InlineMailer {
    shared: Arc<Shared>,
}

impl InlineMailer {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

#[async_trait]
impl Mailer for InlineMailer {
    async fn send(&self, email: Email) -> Result<(), MailError> {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return deliver_once(&self.shared, email).await;
        };
        let permit = Arc::clone(&self.shared.mail_permits)
            .try_acquire_owned()
            .map_err(|_| MailError::Busy)?;
        let shared = Arc::clone(&self.shared);
        shared
            .stats
            .mail_in_flight
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        runtime.spawn(async move {
            deliver_with_retries(&shared, email).await;
            shared
                .stats
                .mail_in_flight
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            drop(permit);
        });
        Ok(())
    }
}

async fn deliver_once(shared: &Shared, email: Email) -> Result<(), MailError> {
    instrumented(
        &shared.stats,
        JobKind::DeliverEmail,
        None,
        1,
        deliver_email(&*shared.transport, email),
    )
    .await
}

/// Delivers `email`, retrying temporary failures with the `mail_retry`
/// backoff; `false` when it was given up (out of attempts, or refused for
/// good: then a `sigra.job.gave_up` error is logged).
pub(crate) async fn deliver_with_retries(shared: &Shared, email: Email) -> bool {
    let retry = shared.settings.mail_retry;
    let attempts = retry.attempts.max(1);
    let mut attempt = 1;
    let error = loop {
        let result = instrumented(
            &shared.stats,
            JobKind::DeliverEmail,
            None,
            attempt,
            deliver_email(&*shared.transport, email.clone()),
        )
        .await;
        match result {
            Ok(()) => return true,
            Err(e) if e.is_permanent() || attempt >= attempts => break e,
            Err(_) => tokio::time::sleep(retry.backoff(attempt)).await,
        }
        attempt += 1;
    };
    shared.give_up_mail(
        &email.idempotency_key,
        attempt,
        &error,
        "the message was dropped",
    );
    false
}

/// The running inline scheduler.
#[derive(Debug)]
pub(crate) struct InlineRunner {
    shared: Arc<Shared>,
    tasks: JoinSet<()>,
}

/// Spawns one scheduler task per periodic job on the current runtime.
pub(crate) fn start(shared: &Arc<Shared>, stopped: watch::Receiver<bool>) -> InlineRunner {
    let mut tasks = JoinSet::new();
    for job in JobKind::PERIODIC {
        let Some(schedule) = shared.settings.schedule(job).cloned() else {
            continue;
        };
        let shared = Arc::clone(shared);
        let mut stopped = stopped.clone();
        tasks.spawn(async move {
            let mut last: Option<DateTime<Utc>> = None;
            loop {
                let now = shared.clock.now();
                let from = last.map_or(now, |l| l.max(now));
                let Some(tick) = schedule.next_after(from) else {
                    return;
                };
                let wait = (tick - now).to_std().unwrap_or(Duration::ZERO);
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    _ = stopped.wait_for(|stop| *stop) => return,
                }
                last = Some(tick);
                match shared.claim(job, tick).await {
                    Ok(true) => {
                        // Errors are logged by the job's span; the next tick tries again.
                        let _ = shared.run_periodic(job, Some(tick), 1).await;
                    }
                    Ok(false) => {}
                    Err(e) => tracing::warn!(
                        name: "sigra.job.tick_failed",
                        job = job.as_str(),
                        error = %e,
                        "could not claim the cron tick; skipping it"
                    ),
                }
            }
        });
    }
    InlineRunner {
        shared: Arc::clone(shared),
        tasks,
    }
}

impl InlineRunner {
    /// Waits for the schedulers to notice the stop and for mail in flight,
    /// up to `timeout` in all.
    pub(crate) async fn shutdown(mut self, timeout: Duration) {
        let permits =
            u32::try_from(self.shared.settings.mail_concurrency.max(1)).unwrap_or(u32::MAX);
        let drain = async {
            while self.tasks.join_next().await.is_some() {}
            // Every permit back means no delivery is in flight.
            let _ = self.shared.mail_permits.acquire_many(permits).await;
        };
        if tokio::time::timeout(timeout, drain).await.is_err() {
            tracing::warn!(
                name: "sigra.jobs.shutdown_timeout",
                "jobs still running at shutdown were abandoned"
            );
            self.tasks.abort_all();
        }
    }
}
