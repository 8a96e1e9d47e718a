//! [`Jobs`]: choosing a runner (inline or durable), starting it, and the
//! [`JobsHandle`] that stops it gracefully. The runners themselves live in
//! `inline` and `durable`; what they share lives below them in `shared`.

use std::sync::Arc;

use sigra_core::clock::{Clock, SystemClock};
use sigra_core::config::Config;
use sigra_core::mail::{LogMailer, Mailer};
use sigra_core::store::MaintenanceStore;
use tokio::sync::watch;

use crate::error::JobError;
use crate::inline::InlineMailer;
use crate::settings::JobsConfig;
use crate::shared::Shared;
use crate::telemetry::{JobKind, JobsStats, Stats};

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
