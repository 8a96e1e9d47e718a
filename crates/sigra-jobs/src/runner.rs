//! [`Jobs`]: choosing a runner (inline or durable), its settings, starting it,
//! and the [`JobsHandle`] that stops it gracefully.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sigra_core::clock::{Clock, SystemClock};
use sigra_core::config::Config;
use sigra_core::mail::{LogMailer, MailError, Mailer};
use sigra_core::model::DeletionStrategy;
use sigra_core::store::{MaintenanceStore, StoreError};
use thiserror::Error;
use tokio::sync::watch;

use crate::inline::InlineMailer;
use crate::jobs::{self, DELETION_BATCH};
use crate::schedule::{Schedule, Schedules};
use crate::telemetry::{JobKind, JobsStats, Stats, instrumented};

/// Why a job run, or starting a runner, failed. Never holds a secret.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum JobError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The mailer failed.
    #[error(transparent)]
    Mail(#[from] MailError),
    /// The durable queue failed (setting it up, pushing, or a worker).
    #[error("the job queue failed: {0}")]
    Queue(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A queued message could not be opened (wrong `SECRET_KEY_BASE`/`ENCRYPTION_KEY`, or tampering).
    #[error(
        "a queued message could not be decrypted; do the worker and the app share SECRET_KEY_BASE?"
    )]
    Sealed,
    /// The job cannot run here (e.g. `deliver_email` has no schedule).
    #[error("{0} is not a periodic job")]
    NotPeriodic(JobKind),
}

impl JobError {
    pub(crate) fn queue(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Queue(Box::new(e))
    }
}

/// Retries of `deliver_email`: `attempts` tries in all, waiting
/// `initial_backoff`, then twice as long each time, at most `max_backoff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailRetry {
    /// Tries in all, the first included (default 5).
    pub attempts: usize,
    /// The wait after the first failure (default 10 s).
    pub initial_backoff: Duration,
    /// The longest wait (default 10 min).
    pub max_backoff: Duration,
}

impl Default for MailRetry {
    fn default() -> Self {
        Self {
            attempts: 5,
            initial_backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(600),
        }
    }
}

impl MailRetry {
    /// The wait after failed attempt `attempt` (from 1): `initial × 2^(attempt−1)`, capped.
    pub fn backoff(&self, attempt: usize) -> Duration {
        let exp = u32::try_from(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX)
            .min(30);
        self.initial_backoff
            .saturating_mul(1 << exp)
            .min(self.max_backoff)
    }
}

/// Settings of the runners. [`Default`] gives the documented defaults; set
/// a few with `JobsConfig { deletion_strategy: …, ..JobsConfig::default() }`.
#[derive(Debug, Clone)]
pub struct JobsConfig {
    /// When the periodic jobs run.
    pub schedules: Schedules,
    /// What `process_scheduled_deletions` does (default soft delete).
    pub deletion_strategy: DeletionStrategy,
    /// Due accounts listed per store call (default 100).
    pub deletion_batch: u32,
    /// Retries of `deliver_email`.
    pub mail_retry: MailRetry,
    /// Inline runner: messages being delivered at once at most (default 32);
    /// beyond that `send` answers [`MailError::Busy`].
    pub mail_concurrency: usize,
    /// Durable runners: how often an idle worker looks for new jobs (default 1 s).
    pub poll_interval: Duration,
    /// Durable runners: how often a worker records that it is alive (default 30 s).
    pub heartbeat_interval: Duration,
    /// Durable runners: after this many missed heartbeats a worker counts as
    /// dead and its jobs are given to another (default 2, i.e. 60 s).
    pub missed_heartbeats: usize,
    /// Durable runners: tries of a periodic job (default 3).
    pub periodic_attempts: usize,
    /// How long claimed cron ticks are remembered (default 7 days).
    pub tick_retention: Duration,
    /// How long [`JobsHandle::shutdown`] waits for running jobs (default 30 s).
    pub shutdown_timeout: Duration,
    /// Durable runners: this node's name in worker names (default
    /// `sigra-<pid>-<8 random hex>`, new at each start); must differ between
    /// processes sharing a database (a pid alone does not: in containers
    /// every node is pid 1).
    pub node: String,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            schedules: Schedules::default(),
            deletion_strategy: DeletionStrategy::default(),
            deletion_batch: DELETION_BATCH,
            mail_retry: MailRetry::default(),
            mail_concurrency: 32,
            poll_interval: Duration::from_secs(1),
            heartbeat_interval: Duration::from_secs(30),
            missed_heartbeats: 2,
            periodic_attempts: 3,
            tick_retention: Duration::from_secs(7 * 86_400),
            shutdown_timeout: Duration::from_secs(30),
            node: default_node(),
        }
    }
}

/// `sigra-<pid>-<random>`: unique per process start.
fn default_node() -> String {
    let suffix: String = sigra_core::token::RawToken::generate()
        .map(|t| {
            t.expose_bytes()[..4]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        })
        .unwrap_or_default();
    format!("sigra-{}-{suffix}", std::process::id())
}

impl JobsConfig {
    /// The schedule of a periodic job.
    pub fn schedule(&self, job: JobKind) -> Option<&Schedule> {
        match job {
            JobKind::CleanupExpiredTokens => Some(&self.schedules.cleanup_expired_tokens),
            JobKind::AuditRetention => Some(&self.schedules.audit_retention),
            JobKind::ProcessScheduledDeletions => Some(&self.schedules.process_scheduled_deletions),
            JobKind::DeliverEmail => None,
        }
    }
}

/// Everything a runner's tasks share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) store: Arc<dyn MaintenanceStore>,
    pub(crate) config: Config,
    pub(crate) settings: JobsConfig,
    /// The real transport (SMTP, dev mailbox, …) that `deliver_email` uses.
    pub(crate) transport: Arc<dyn Mailer>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) stats: Stats,
    /// Inline mail: one permit per delivery in flight.
    pub(crate) mail_permits: Arc<tokio::sync::Semaphore>,
}

impl Shared {
    /// Runs one periodic job now, in its span; returns its one-line report.
    pub(crate) async fn run_periodic(
        &self,
        job: JobKind,
        tick: Option<DateTime<Utc>>,
        attempt: usize,
    ) -> Result<String, JobError> {
        let now = self.clock.now();
        let store = &*self.store;
        instrumented(&self.stats, job, tick, attempt, async {
            Ok(match job {
                JobKind::CleanupExpiredTokens => {
                    jobs::cleanup_expired_tokens(store, &self.config, now)
                        .await?
                        .to_string()
                }
                JobKind::AuditRetention => jobs::audit_retention(store, &self.config, now)
                    .await?
                    .to_string(),
                JobKind::ProcessScheduledDeletions => jobs::process_scheduled_deletions(
                    store,
                    self.settings.deletion_strategy,
                    now,
                    self.settings.deletion_batch,
                )
                .await?
                .to_string(),
                JobKind::DeliverEmail => return Err(JobError::NotPeriodic(job)),
            })
        })
        .await
    }

    /// Claims `tick` of `job` for this node (see
    /// [`sigra_core::store::MaintenanceStore::claim_job_tick`]); `false` when
    /// another node had it first.
    pub(crate) async fn claim(&self, job: JobKind, tick: DateTime<Utc>) -> Result<bool, JobError> {
        let now = self.clock.now();
        let keep = TimeDelta::from_std(self.settings.tick_retention).unwrap_or(TimeDelta::MAX);
        let prune_before = now
            .checked_sub_signed(keep)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let claimed = self
            .store
            .claim_job_tick(job.as_str(), tick, now, prune_before)
            .await?;
        self.stats.tick(job, claimed);
        if !claimed {
            tracing::debug!(name: "sigra.job.tick_skipped", job = job.as_str(), %tick);
        }
        Ok(claimed)
    }
}

#[derive(Debug, Clone)]
enum Queue {
    Inline,
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqlitePool),
}

/// Sigra's background work, configured: pick a runner, then [`Jobs::start`] it.
///
/// - [`Jobs::inline`]: no queue. An in-process tokio scheduler runs the
///   periodic jobs on their schedules, and mail is sent right away by a
///   bounded set of tasks, retried in memory. Nothing survives a restart:
///   a message being retried when the process stops is lost.
/// - [`Jobs::durable_postgres`] / [`Jobs::durable_sqlite`]: an apalis queue
///   in the app's own database. Mail and periodic runs are rows there, so a
///   job whose worker dies is picked up by another; cron ticks are claimed in
///   `sigra_job_ticks`, so a tick runs once per cluster, not once per node.
///
/// Either way, give [`Jobs::mailer`] to `Auth::builder(..).mailer(..)` so
/// the app's mail goes through the runner.
#[derive(Debug)]
pub struct Jobs {
    store: Arc<dyn MaintenanceStore>,
    config: Config,
    settings: JobsConfig,
    transport: Arc<dyn Mailer>,
    clock: Arc<dyn Clock>,
    queue: Queue,
    shared: Option<Arc<Shared>>,
    mailer: Option<Arc<dyn Mailer>>,
}

impl Jobs {
    fn new(store: Arc<dyn MaintenanceStore>, config: Config, queue: Queue) -> Self {
        Self {
            store,
            config,
            settings: JobsConfig::default(),
            transport: Arc::new(LogMailer),
            clock: Arc::new(SystemClock),
            queue,
            shared: None,
            mailer: None,
        }
    }

    /// The fallback without a queue: a tokio scheduler and inline mail.
    pub fn inline(store: Arc<dyn MaintenanceStore>, config: Config) -> Self {
        Self::new(store, config, Queue::Inline)
    }

    /// A durable queue in the PostgreSQL database behind `pool` (the app's
    /// own; its tables live in the `apalis` schema). Run [`Jobs::setup`] once.
    #[cfg(feature = "postgres")]
    pub fn durable_postgres(
        store: Arc<dyn MaintenanceStore>,
        config: Config,
        pool: sqlx::PgPool,
    ) -> Self {
        Self::new(store, config, Queue::Postgres(pool))
    }

    /// A durable queue in the SQLite database behind `pool` (the app's own
    /// file; tables `Jobs` and `Workers`). Run [`Jobs::setup`] once.
    #[cfg(feature = "sqlite")]
    pub fn durable_sqlite(
        store: Arc<dyn MaintenanceStore>,
        config: Config,
        pool: sqlx::SqlitePool,
    ) -> Self {
        Self::new(store, config, Queue::Sqlite(pool))
    }

    /// Delivers mail with `transport` (default [`LogMailer`], which sends nothing).
    pub fn transport(mut self, transport: Arc<dyn Mailer>) -> Self {
        self.transport = transport;
        self.reset();
        self
    }

    /// Uses these settings instead of the defaults.
    pub fn settings(mut self, settings: JobsConfig) -> Self {
        self.settings = settings;
        self.reset();
        self
    }

    /// Reads the time from `clock` (the jobs' `now`; schedules follow the wall clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self.reset();
        self
    }

    fn reset(&mut self) {
        self.shared = None;
        self.mailer = None;
    }

    /// Whether this runner keeps jobs in a durable queue.
    pub fn is_durable(&self) -> bool {
        !matches!(self.queue, Queue::Inline)
    }

    fn shared(&mut self) -> Arc<Shared> {
        let shared = self.shared.get_or_insert_with(|| {
            Arc::new(Shared {
                store: Arc::clone(&self.store),
                config: self.config.clone(),
                settings: self.settings.clone(),
                transport: Arc::clone(&self.transport),
                clock: Arc::clone(&self.clock),
                stats: Stats::default(),
                mail_permits: Arc::new(tokio::sync::Semaphore::new(
                    self.settings.mail_concurrency.max(1),
                )),
            })
        });
        Arc::clone(shared)
    }

    /// Creates the queue's tables (durable runners; idempotent, safe from
    /// several processes). The inline runner needs nothing.
    pub async fn setup(&self) -> Result<(), JobError> {
        match &self.queue {
            Queue::Inline => Ok(()),
            #[cfg(feature = "postgres")]
            Queue::Postgres(pool) => crate::durable::setup_postgres(pool).await,
            #[cfg(feature = "sqlite")]
            Queue::Sqlite(pool) => crate::durable::setup_sqlite(pool).await,
        }
    }

    /// The mailer the app should use (`Auth::builder(..).mailer(jobs.mailer())`):
    /// inline, it delivers through the transport on a bounded task set with
    /// retries; durable, it enqueues a `deliver_email` job (one INSERT) whose
    /// payload is the finished message, sealed with a key derived from
    /// `SECRET_KEY_BASE` so the queue table never holds a usable link.
    pub fn mailer(&mut self) -> Arc<dyn Mailer> {
        if let Some(mailer) = &self.mailer {
            return Arc::clone(mailer);
        }
        let shared = self.shared();
        let mailer: Arc<dyn Mailer> = match &self.queue {
            Queue::Inline => Arc::new(InlineMailer::new(shared)),
            #[cfg(feature = "postgres")]
            Queue::Postgres(pool) => crate::durable::postgres_mailer(shared, pool),
            #[cfg(feature = "sqlite")]
            Queue::Sqlite(pool) => crate::durable::sqlite_mailer(shared, pool),
        };
        self.mailer = Some(Arc::clone(&mailer));
        mailer
    }

    /// Runs every periodic job once, now, in order, and returns one line per
    /// job (`sigra jobs run --once`). Does not claim ticks: an explicit run
    /// always runs.
    pub async fn run_once(&mut self) -> Result<Vec<String>, JobError> {
        let shared = self.shared();
        let mut lines = Vec::new();
        for job in JobKind::PERIODIC {
            lines.push(shared.run_periodic(job, None, 1).await?);
        }
        Ok(lines)
    }

    /// Starts the runner in the background (on the current tokio runtime)
    /// and returns its handle.
    pub async fn start(mut self) -> Result<JobsHandle, JobError> {
        let shared = self.shared();
        let (stop, stopped) = watch::channel(false);
        let inner = match &self.queue {
            Queue::Inline => RunnerInner::Inline(crate::inline::start(&shared, stopped)),
            #[cfg(feature = "postgres")]
            Queue::Postgres(pool) => {
                RunnerInner::Durable(crate::durable::start_postgres(&shared, pool, stopped).await?)
            }
            #[cfg(feature = "sqlite")]
            Queue::Sqlite(pool) => {
                RunnerInner::Durable(crate::durable::start_sqlite(&shared, pool, stopped).await?)
            }
        };
        tracing::info!(
            name: "sigra.jobs.start",
            durable = self.is_durable(),
            cleanup = %self.settings.schedules.cleanup_expired_tokens,
            audit_retention = %self.settings.schedules.audit_retention,
            deletions = %self.settings.schedules.process_scheduled_deletions
        );
        Ok(JobsHandle {
            shared,
            stop,
            inner,
        })
    }
}

#[derive(Debug)]
enum RunnerInner {
    Inline(crate::inline::InlineRunner),
    #[cfg(feature = "durable")]
    Durable(crate::durable::DurableRunner),
}

/// A started runner. Dropping it does not stop the runner; call
/// [`JobsHandle::shutdown`].
#[derive(Debug)]
pub struct JobsHandle {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    inner: RunnerInner,
}

impl JobsHandle {
    /// This node's counters, recent runs, in-flight mail and (durable) queue depths.
    pub async fn stats(&self) -> JobsStats {
        let mut stats = self.shared.stats.snapshot();
        #[cfg(feature = "durable")]
        if let RunnerInner::Durable(runner) = &self.inner {
            stats.queues = runner.queue_depths().await;
        }
        stats
    }

    /// Stops scheduling, lets running jobs finish (up to the configured
    /// `shutdown_timeout`), and returns this node's final counters and runs
    /// (without queue depths). Inline mail still being retried is abandoned
    /// at the timeout; durable jobs not yet taken stay in the queue.
    pub async fn shutdown(self) -> JobsStats {
        let _ = self.stop.send(true);
        let timeout = self.shared.settings.shutdown_timeout;
        match self.inner {
            RunnerInner::Inline(runner) => runner.shutdown(timeout).await,
            #[cfg(feature = "durable")]
            RunnerInner::Durable(runner) => runner.shutdown(timeout).await,
        }
        tracing::info!(name: "sigra.jobs.stop", "background jobs stopped");
        self.shared.stats.snapshot()
    }
}
