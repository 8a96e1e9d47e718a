//! The durable runners: apalis queues in the app's own database (PostgreSQL
//! or SQLite), apalis-cron schedulers, and the [`QueuedMailer`].
//!
//! Per node, a durable runner starts:
//! - one `deliver_email` worker on the queue `sigra.deliver_email`, whose
//!   handler makes one delivery attempt through the transport and whose retry
//!   layer (apalis `retry`, tower `Retry`) tries again with exponential
//!   backoff up to `mail_retry.attempts`; after the last failure the row stays
//!   `Failed` with `attempts = max_attempts`. A permanent failure (an invalid
//!   address, an SMTP 5xx) is not retried: the row ends `Killed`;
//! - one worker on the queue `sigra.periodic`, which runs the periodic jobs;
//! - one apalis-cron scheduler per periodic job. On each tick it **claims**
//!   the tick in `sigra_job_ticks` (primary key `(job, tick)`): the first
//!   node's INSERT wins and enqueues one `sigra.periodic` job (idempotency key
//!   `job@tick`); every other node skips the tick. So a tick runs once per
//!   cluster, whichever node's worker picks the job up.
//!
//! Crash recovery is apalis's: workers record a heartbeat every
//! `heartbeat_interval`; a job held by a worker silent for
//! `heartbeat_interval × missed_heartbeats` is put back to `Pending` by the
//! next live worker of its queue and runs again (each job is idempotent).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use apalis::layers::retry::BackoffRetryPolicy;
use apalis::layers::retry::backoff::Backoff;
use apalis::prelude::{
    Attempt, BackendExt, BoxDynError, Data, Metrics, Task, TaskBuilder, TaskSink, TaskSinkError,
    WorkerBuilder, WorkerBuilderExt, WorkerError,
};
use apalis_cron::{CronScheduler, Tick, timezone::Utc as CronUtc};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sigra_core::clock::{Clock, SystemClock};
use sigra_core::config::Config;
use sigra_core::encryption::{EncryptionKey, FieldCipher};
use sigra_core::keys::KeyRing;
use sigra_core::mail::{Email, MailError, Mailer};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::JobError;
use crate::jobs::deliver_email;
use crate::schedule::Schedule;
use crate::shared::Shared;
use crate::telemetry::{JobKind, QueueDepth, instrumented};

/// The queue (apalis `job_type`) of `deliver_email` jobs.
pub const MAIL_QUEUE: &str = "sigra.deliver_email";
/// The queue (apalis `job_type`) of periodic jobs enqueued by the cron schedulers.
pub const PERIODIC_QUEUE: &str = "sigra.periodic";
/// The migrations table of apalis's SQLite tables (kept apart from the store's `_sqlx_migrations`).
pub const SQLITE_MIGRATIONS_TABLE: &str = "_apalis_migrations";

const SEAL_PURPOSE: &str = "sigra-jobs-mail-queue";

// ---------------------------------------------------------------------------
// Payloads
// ---------------------------------------------------------------------------

/// A `deliver_email` job: the finished message, sealed (AES-256-GCM) so the
/// queue table never holds a readable single-use link.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct MailJob {
    /// The message's idempotency key (derived from a token hash; not secret).
    key: String,
    /// The whole message, sealed with a key derived from `SECRET_KEY_BASE`.
    sealed: String,
}

impl fmt::Debug for MailJob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailJob")
            .field("key", &self.key)
            .field("sealed", &"[SEALED]")
            .finish()
    }
}

/// The message inside a [`MailJob`].
#[derive(Serialize, Deserialize)]
struct PlainEmail {
    to: String,
    subject: String,
    text: String,
    html: String,
    idempotency_key: String,
}

/// A run of a periodic job, for one cron tick.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct PeriodicJob {
    job: JobKind,
    /// The tick, unix seconds.
    tick: Option<i64>,
}

/// Seals and opens [`MailJob`]s with keys derived from `SECRET_KEY_BASE`
/// (and `SECRET_KEY_BASE_OLD`, so jobs queued before a rotation still open).
#[derive(Clone)]
pub(crate) struct Sealer(FieldCipher);

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealer([REDACTED])")
    }
}

impl Sealer {
    pub(crate) fn from_config(config: &Config) -> Result<Self, JobError> {
        let derive = |secret: &sigra_core::keys::SecretKeyBase| {
            EncryptionKey::from_bytes(
                *KeyRing::new(secret.clone(), None).derive_bytes(SEAL_PURPOSE),
            )
            .map_err(|_| JobError::Sealed)
        };
        let current = derive(&config.secrets.secret_key_base)?;
        let old = match &config.secrets.secret_key_base_old {
            Some(old) => vec![derive(old)?],
            None => Vec::new(),
        };
        Ok(Self(FieldCipher::new(current, old)))
    }

    fn aad(key: &str) -> Vec<u8> {
        format!("sigra-jobs:deliver_email:{key}").into_bytes()
    }

    pub(crate) fn seal(&self, email: &Email) -> Result<MailJob, JobError> {
        let plain = PlainEmail {
            to: email.to.clone(),
            subject: email.subject.clone(),
            text: email.text.clone(),
            html: email.html.clone(),
            idempotency_key: email.idempotency_key.clone(),
        };
        let bytes = zeroize_vec(serde_json::to_vec(&plain).map_err(|_| JobError::Sealed)?);
        let sealed = self
            .0
            .encrypt(&bytes.0, &Self::aad(&email.idempotency_key))
            .map_err(|_| JobError::Sealed)?;
        Ok(MailJob {
            key: email.idempotency_key.clone(),
            sealed,
        })
    }

    pub(crate) fn open(&self, job: &MailJob) -> Result<Email, JobError> {
        let bytes = self
            .0
            .decrypt(&job.sealed, &Self::aad(&job.key))
            .map_err(|_| JobError::Sealed)?;
        let plain: PlainEmail = serde_json::from_slice(&bytes).map_err(|_| JobError::Sealed)?;
        Ok(Email {
            to: plain.to,
            subject: plain.subject,
            text: plain.text,
            html: plain.html,
            idempotency_key: plain.idempotency_key,
        })
    }
}

/// A byte buffer wiped on drop (the serialized message holds a link).
struct ZeroOnDrop(Vec<u8>);

impl Drop for ZeroOnDrop {
    fn drop(&mut self) {
        self.0.iter_mut().for_each(|b| *b = 0);
    }
}

fn zeroize_vec(v: Vec<u8>) -> ZeroOnDrop {
    ZeroOnDrop(v)
}

// ---------------------------------------------------------------------------
// Queues, as seen by producers
// ---------------------------------------------------------------------------

/// Whether a push created a job or met an existing one with the same idempotency key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    New,
    Duplicate,
}

/// One durable queue of `T`, for pushing jobs and reading its depth.
#[async_trait]
pub(crate) trait QueueHandle<T>: Send + Sync + fmt::Debug {
    async fn enqueue(&self, task: Task<T>) -> Result<Pushed, JobError>;
    async fn depth(&self) -> Result<QueueDepth, JobError>;
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

fn depth_from(queue: &str, stats: Vec<apalis::prelude::Statistic>) -> QueueDepth {
    let mut depth = QueueDepth {
        queue: queue.to_owned(),
        ..QueueDepth::default()
    };
    for s in stats {
        // Values are printed floats ("3"); anything else counts as 0.
        let value = s.value.parse::<f64>().map_or(0, |v| v.max(0.0) as u64);
        match s.title.as_str() {
            "PENDING_JOBS" => depth.pending = value,
            "RUNNING_JOBS" => depth.running = value,
            "FAILED_JOBS" => depth.failed = value,
            _ => {}
        }
    }
    depth
}

/// An apalis storage and the name of its queue.
#[derive(Clone)]
pub(crate) struct Apalis<S> {
    storage: S,
    queue: &'static str,
}

impl<S> fmt::Debug for Apalis<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Apalis")
            .field("queue", &self.queue)
            .finish()
    }
}

macro_rules! queue_handle {
    ($storage:ident, $error:path) => {
        #[async_trait]
        impl<T> QueueHandle<T> for Apalis<$storage<T>>
        where
            T: Serialize + for<'de> Deserialize<'de> + Send + Sync + Unpin + 'static,
        {
            async fn enqueue(&self, task: Task<T>) -> Result<Pushed, JobError> {
                let mut storage = self.storage.clone();
                match storage.push_task(task).await {
                    Ok(()) => Ok(Pushed::New),
                    Err(TaskSinkError::PushError($error(e))) if is_unique_violation(&e) => {
                        Ok(Pushed::Duplicate)
                    }
                    Err(e) => Err(JobError::Queue(e.to_string().into())),
                }
            }

            async fn depth(&self) -> Result<QueueDepth, JobError> {
                let stats = self
                    .storage
                    .fetch_by_queue()
                    .await
                    .map_err(|e| JobError::Queue(e.to_string().into()))?;
                Ok(depth_from(self.queue, stats))
            }
        }
    };
}

#[cfg(feature = "postgres")]
use apalis_postgres::PostgresStorage;
#[cfg(feature = "postgres")]
queue_handle!(PostgresStorage, apalis_postgres::Error::Database);

#[cfg(feature = "sqlite")]
use apalis_sqlite::SqliteStorage;
#[cfg(feature = "sqlite")]
queue_handle!(SqliteStorage, apalis_sqlite::Error::Database);

// ---------------------------------------------------------------------------
// The mailer producers use
// ---------------------------------------------------------------------------

/// A [`Mailer`] that enqueues a `deliver_email` job instead of sending.
///
/// One INSERT per message, so `send` returns quickly. The job carries the
/// finished message (sealed), so a retry resends the same message and never
/// mints a new token; its idempotency key is the queue row's idempotency
/// key too, so pushing the same message twice keeps one job.
pub struct QueuedMailer {
    sealer: Result<Sealer, String>,
    queue: Arc<dyn QueueHandle<MailJob>>,
    attempts: usize,
}

impl fmt::Debug for QueuedMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueuedMailer")
            .field("queue", &self.queue)
            .field("attempts", &self.attempts)
            .finish()
    }
}

#[async_trait]
impl Mailer for QueuedMailer {
    async fn send(&self, email: Email) -> Result<(), MailError> {
        let sealer = self
            .sealer
            .as_ref()
            .map_err(|e| MailError::Transport(e.clone().into()))?;
        let job = sealer
            .seal(&email)
            .map_err(|e| MailError::Transport(Box::new(e)))?;
        let key = job.key.clone();
        let task = TaskBuilder::new(job)
            .max_attempts(self.attempts)
            .idempotency_key(&key)
            .build();
        match self.queue.enqueue(task).await {
            Ok(Pushed::New) => {
                tracing::debug!(name: "sigra.mail.queued", idempotency_key = %key);
                Ok(())
            }
            Ok(Pushed::Duplicate) => {
                tracing::debug!(name: "sigra.mail.duplicate", idempotency_key = %key);
                Ok(())
            }
            Err(e) => Err(MailError::Transport(Box::new(e))),
        }
    }
}

fn queued_mailer(shared: &Arc<Shared>, queue: Arc<dyn QueueHandle<MailJob>>) -> Arc<dyn Mailer> {
    Arc::new(QueuedMailer {
        sealer: Sealer::from_config(&shared.config).map_err(|e| e.to_string()),
        queue,
        attempts: shared.settings.mail_retry.attempts.max(1),
    })
}

#[cfg(feature = "postgres")]
fn pg_config(shared: &Shared, queue: &str) -> apalis_postgres::Config {
    apalis_postgres::Config::default()
        .queue(queue)
        .heartbeat_interval(shared.settings.heartbeat_interval)
        .missed_heartbeats(shared.settings.missed_heartbeats)
        .batch_size(if queue == MAIL_QUEUE { 8 } else { 1 })
}

#[cfg(feature = "sqlite")]
fn sqlite_config(shared: &Shared, queue: &str) -> apalis_sqlite::Config {
    apalis_sqlite::Config::default()
        .queue(queue)
        .heartbeat_interval(shared.settings.heartbeat_interval)
        .missed_heartbeats(shared.settings.missed_heartbeats)
        .batch_size(if queue == MAIL_QUEUE { 8 } else { 1 })
}

#[cfg(feature = "postgres")]
pub(crate) fn postgres_mailer(shared: Arc<Shared>, pool: &sqlx::PgPool) -> Arc<dyn Mailer> {
    let storage = PostgresStorage::<MailJob>::new(pool).with_config(pg_config(&shared, MAIL_QUEUE));
    queued_mailer(
        &shared,
        Arc::new(Apalis {
            storage,
            queue: MAIL_QUEUE,
        }),
    )
}

#[cfg(feature = "sqlite")]
pub(crate) fn sqlite_mailer(shared: Arc<Shared>, pool: &sqlx::SqlitePool) -> Arc<dyn Mailer> {
    let storage =
        SqliteStorage::<MailJob>::new(pool).with_config(sqlite_config(&shared, MAIL_QUEUE));
    queued_mailer(
        &shared,
        Arc::new(Apalis {
            storage,
            queue: MAIL_QUEUE,
        }),
    )
}

/// Creates apalis's PostgreSQL tables (schema `apalis`, its own migrations table).
#[cfg(feature = "postgres")]
pub(crate) async fn setup_postgres(pool: &sqlx::PgPool) -> Result<(), JobError> {
    PostgresStorage::setup(pool).await.map_err(JobError::queue)
}

/// Creates apalis's SQLite tables, recording its migrations in
/// [`SQLITE_MIGRATIONS_TABLE`] (not the store's `_sqlx_migrations`), and
/// without the PRAGMAs apalis's own `setup` would set on the app's database.
#[cfg(feature = "sqlite")]
pub(crate) async fn setup_sqlite(pool: &sqlx::SqlitePool) -> Result<(), JobError> {
    let mut migrator = SqliteStorage::migrations();
    migrator.dangerous_set_table_name(SQLITE_MIGRATIONS_TABLE);
    migrator.run(pool).await.map_err(JobError::queue)
}

// ---------------------------------------------------------------------------
// Workers
// ---------------------------------------------------------------------------

/// A [`Schedule`] as apalis-cron reads it: the next tick after the wall
/// clock, never the same tick twice (even if a timer fires a little early).
#[derive(Clone)]
struct CronSchedule {
    schedule: Schedule,
    last: Option<DateTime<Utc>>,
}

impl apalis_cron::Schedule<CronUtc> for CronSchedule {
    fn next_tick(&mut self, _: &CronUtc) -> Option<Tick<CronUtc>> {
        let now = SystemClock.now();
        let from = self.last.map_or(now, |last| last.max(now));
        let next = self.schedule.next_after(from)?;
        self.last = Some(next);
        Some(Tick::new(u64::try_from(next.timestamp()).ok()?))
    }
}

/// What a cron scheduler's handler needs.
#[derive(Clone)]
struct CronCtx {
    shared: Arc<Shared>,
    job: JobKind,
    queue: Arc<dyn QueueHandle<PeriodicJob>>,
}

/// On a cron tick: claim it; if this node won, enqueue the job.
async fn cron_tick(tick: Tick<CronUtc>, ctx: Data<CronCtx>) -> Result<(), BoxDynError> {
    let secs = i64::try_from(tick.get_timestamp()).unwrap_or(i64::MAX);
    let Some(at) = DateTime::<Utc>::from_timestamp(secs, 0) else {
        return Ok(());
    };
    let ctx = &ctx.0;
    if !ctx.shared.claim(ctx.job, at).await? {
        return Ok(());
    }
    let key = format!("{}@{}", ctx.job, at.to_rfc3339());
    let task = TaskBuilder::new(PeriodicJob {
        job: ctx.job,
        tick: Some(secs),
    })
    .max_attempts(ctx.shared.settings.periodic_attempts.max(1))
    .idempotency_key(&key)
    .build();
    ctx.queue.enqueue(task).await?;
    tracing::debug!(name: "sigra.job.enqueued", job = ctx.job.as_str(), %at);
    Ok(())
}

/// Runs a periodic job taken from the queue.
async fn periodic_handler(
    job: PeriodicJob,
    attempt: Attempt,
    shared: Data<Arc<Shared>>,
) -> Result<(), BoxDynError> {
    let tick = job.tick.and_then(|s| DateTime::<Utc>::from_timestamp(s, 0));
    shared
        .0
        .run_periodic(job.job, tick, attempt.current())
        .await?;
    Ok(())
}

/// What the mail worker's handler needs.
#[derive(Clone)]
struct MailCtx {
    shared: Arc<Shared>,
    sealer: Arc<Sealer>,
}

/// Sends one queued message (one attempt; the retry layer repeats it).
async fn mail_handler(
    job: MailJob,
    attempt: Attempt,
    ctx: Data<MailCtx>,
) -> Result<(), BoxDynError> {
    let ctx = &ctx.0;
    let shared = &ctx.shared;
    let attempt = attempt.current();
    let email = match ctx.sealer.open(&job) {
        Ok(email) => email,
        Err(e) => {
            shared.stats.gave_up(JobKind::DeliverEmail);
            tracing::error!(name: "sigra.job.gave_up", job = "deliver_email", idempotency_key = %job.key, error = %e);
            // Not retried: no attempt can open it.
            return Err(Box::new(apalis::prelude::AbortError::new(e)));
        }
    };
    let result = instrumented(
        &shared.stats,
        JobKind::DeliverEmail,
        None,
        attempt,
        deliver_email(&*shared.transport, email),
    )
    .await;
    match result {
        Ok(()) => Ok(()),
        Err(e) if e.is_permanent() => {
            shared.give_up_mail(&job.key, attempt, &e, "the job is ended");
            // No retry can fix it: stop now (the row ends `Killed`).
            Err(Box::new(apalis::prelude::AbortError::new(e)))
        }
        Err(e) => {
            if attempt >= shared.settings.mail_retry.attempts.max(1) {
                shared.give_up_mail(&job.key, attempt, &e, "the job is marked failed");
            }
            // After the last attempt the retry layer stops and the row ends
            // `Failed` with attempts = max_attempts, so no worker fetches it again.
            Err(Box::new(e))
        }
    }
}

/// tower's `Backoff` for the mail retry layer: `initial × 2^(n−1)`, capped.
#[derive(Clone, Debug)]
struct MailBackoff {
    retry: crate::settings::MailRetry,
    failures: usize,
}

impl Backoff for MailBackoff {
    type Future = tokio::time::Sleep;
    fn next_backoff(&mut self) -> Self::Future {
        self.failures += 1;
        tokio::time::sleep(self.retry.backoff(self.failures))
    }
}

/// A started durable runner: its worker tasks and its queues (for depth).
pub(crate) struct DurableRunner {
    tasks: Vec<JoinHandle<()>>,
    queues: Vec<Arc<dyn QueueHandle<MailJob>>>,
    periodic: Arc<dyn QueueHandle<PeriodicJob>>,
}

impl fmt::Debug for DurableRunner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DurableRunner")
            .field("workers", &self.tasks.len())
            .finish()
    }
}

impl DurableRunner {
    pub(crate) async fn queue_depths(&self) -> Vec<QueueDepth> {
        let mut out = Vec::new();
        for q in &self.queues {
            if let Ok(d) = q.depth().await {
                out.push(d);
            }
        }
        if let Ok(d) = self.periodic.depth().await {
            out.push(d);
        }
        out
    }

    /// Waits until every worker has stopped (after finishing its running
    /// jobs), up to `timeout`; then abandons the rest (their jobs go back to
    /// the queue when their heartbeat times out).
    pub(crate) async fn shutdown(self, timeout: Duration) {
        let mut tasks = self.tasks;
        let all = async {
            for task in &mut tasks {
                let _ = task.await;
            }
        };
        if tokio::time::timeout(timeout, all).await.is_err() {
            tracing::warn!(
                name: "sigra.jobs.shutdown_timeout",
                "workers still busy at shutdown were abandoned; their jobs will be re-run"
            );
            for task in &tasks {
                task.abort();
            }
        }
    }
}

/// Resolves when the runner is told to stop.
async fn stop_signal(mut stopped: watch::Receiver<bool>) -> Result<(), WorkerError> {
    let _ = stopped.wait_for(|stop| *stop).await;
    Ok(())
}

fn spawn_worker<F>(name: String, run: F) -> JoinHandle<()>
where
    F: Future<Output = Result<(), WorkerError>> + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(e) = run.await {
            tracing::error!(name: "sigra.jobs.worker_failed", worker = %name, error = %e);
        }
    })
}

/// Builds and spawns every worker of one backend.
macro_rules! start_durable {
    ($shared:expr, $pool:expr, $stopped:expr, $storage:ident, $config:ident) => {{
        let shared: &Arc<Shared> = $shared;
        let settings = &shared.settings;
        let node = settings.node.clone();
        let sealer = Arc::new(Sealer::from_config(&shared.config)?);
        let mail = $storage::<MailJob>::new($pool).with_config($config(shared, MAIL_QUEUE));
        let periodic =
            $storage::<PeriodicJob>::new($pool).with_config($config(shared, PERIODIC_QUEUE));
        let mut tasks = Vec::new();

        let retries = settings.mail_retry.attempts.max(1) - 1;
        let backoff = MailBackoff {
            retry: settings.mail_retry,
            failures: 0,
        };
        let name = format!("{node}-mail");
        let worker = WorkerBuilder::new(name.as_str())
            .backend(mail.clone().poll_with_interval(settings.poll_interval))
            .data(MailCtx {
                shared: Arc::clone(shared),
                sealer,
            })
            .retry(BackoffRetryPolicy::new(retries, backoff))
            .build(mail_handler);
        tasks.push(spawn_worker(
            name,
            worker.run_until(stop_signal($stopped.clone())),
        ));

        let name = format!("{node}-periodic");
        let worker = WorkerBuilder::new(name.as_str())
            .backend(periodic.clone().poll_with_interval(settings.poll_interval))
            .data(Arc::clone(shared))
            .build(periodic_handler);
        tasks.push(spawn_worker(
            name,
            worker.run_until(stop_signal($stopped.clone())),
        ));

        let periodic_queue: Arc<dyn QueueHandle<PeriodicJob>> = Arc::new(Apalis {
            storage: periodic,
            queue: PERIODIC_QUEUE,
        });
        for job in JobKind::PERIODIC {
            let Some(schedule) = settings.schedule(job).cloned() else {
                continue;
            };
            let name = format!("{node}-cron-{job}");
            let worker = WorkerBuilder::new(name.as_str())
                .backend(CronScheduler::new(CronSchedule {
                    schedule,
                    last: None,
                }))
                .data(CronCtx {
                    shared: Arc::clone(shared),
                    job,
                    queue: Arc::clone(&periodic_queue),
                })
                .build(cron_tick);
            tasks.push(spawn_worker(
                name,
                worker.run_until(stop_signal($stopped.clone())),
            ));
        }
        Ok(DurableRunner {
            tasks,
            queues: vec![Arc::new(Apalis {
                storage: mail,
                queue: MAIL_QUEUE,
            })],
            periodic: periodic_queue,
        })
    }};
}

#[cfg(feature = "postgres")]
pub(crate) async fn start_postgres(
    shared: &Arc<Shared>,
    pool: &sqlx::PgPool,
    stopped: watch::Receiver<bool>,
) -> Result<DurableRunner, JobError> {
    start_durable!(shared, pool, stopped, PostgresStorage, pg_config)
}

#[cfg(feature = "sqlite")]
pub(crate) async fn start_sqlite(
    shared: &Arc<Shared>,
    pool: &sqlx::SqlitePool,
    stopped: watch::Receiver<bool>,
) -> Result<DurableRunner, JobError> {
    start_durable!(shared, pool, stopped, SqliteStorage, sqlite_config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigra_core::config::Environment;
    use sigra_core::mail::link_email;

    #[test]
    fn mail_jobs_are_sealed_and_open_only_with_the_same_secret() {
        let config = Config::builder(Environment::Test).build().unwrap();
        let sealer = Sealer::from_config(&config).unwrap();
        let email = link_email(
            "a@example.com",
            "Reset",
            "Hi",
            "Reset",
            "https://x/reset/SECRETTOKEN",
            "reset_password-abc".into(),
        );
        let job = sealer.seal(&email).unwrap();
        let stored = serde_json::to_string(&job).unwrap();
        assert!(!stored.contains("SECRETTOKEN") && !stored.contains("a@example.com"));
        assert!(!format!("{job:?}").contains(&job.sealed));
        assert_eq!(sealer.open(&job).unwrap(), email);
        // Another SECRET_KEY_BASE (a fresh dev config generates one) cannot open it.
        let other =
            Sealer::from_config(&Config::builder(Environment::Test).build().unwrap()).unwrap();
        assert!(matches!(other.open(&job), Err(JobError::Sealed)));
        // Nor can the key be swapped onto another message.
        let mut moved = job.clone();
        moved.key = "confirm-xyz".into();
        assert!(matches!(sealer.open(&moved), Err(JobError::Sealed)));
    }

    #[test]
    fn queue_depth_reads_the_backend_statistics() {
        let stat = |title: &str, value: &str| apalis::prelude::Statistic {
            priority: None,
            stat_type: apalis::prelude::StatType::Number,
            title: title.to_owned(),
            value: value.to_owned(),
        };
        let depth = depth_from(
            MAIL_QUEUE,
            vec![
                stat("PENDING_JOBS", "3"),
                stat("RUNNING_JOBS", "1"),
                stat("FAILED_JOBS", "2"),
                stat("KILL_RATE", "0.5"),
            ],
        );
        assert_eq!((depth.pending, depth.running, depth.failed), (3, 1, 2));
    }
}
