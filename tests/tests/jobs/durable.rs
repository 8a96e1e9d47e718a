//! The durable runners on a real database: apalis queues in the test's own
//! database, each "node" with its own connection pool, as separate processes would have.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use sigra_core::config::Config;
use sigra_core::mail::{DevMailbox, Email, MailError, Mailer};
use sigra_jobs::{JobKind, Jobs, JobsConfig, MAIL_QUEUE, MailRetry, PERIODIC_QUEUE, Schedules};
use sigra_store_postgres::PostgresStore;
use sigra_store_sqlite::SqliteStore;
use sigra_tests::TestStore;

use super::{config_with_retention, eventually, message};

/// Settings for fast tests: heartbeats every second (a silent worker is dead
/// after 2 s), polling every 100 ms, mail retried after 50 ms, 100 ms, …
fn fast(node: &str) -> JobsConfig {
    JobsConfig {
        node: node.to_owned(),
        heartbeat_interval: Duration::from_secs(1),
        missed_heartbeats: 2,
        poll_interval: Duration::from_millis(100),
        mail_retry: MailRetry {
            attempts: 5,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(400),
        },
        shutdown_timeout: Duration::from_secs(10),
        ..JobsConfig::default()
    }
}

/// A durable runner for one node: its own pool on the test's database.
async fn node(
    store: &TestStore,
    config: &Config,
    settings: JobsConfig,
    transport: Arc<dyn Mailer>,
) -> Jobs {
    let url = store
        .database_url()
        .expect("a database another pool can reach");
    let jobs = if store.pg_pool().is_some() {
        let store = PostgresStore::connect_with_options(&url, 5).await.unwrap();
        let pool = store.pool().clone();
        Jobs::durable_postgres(Arc::new(store), config.clone(), pool)
    } else {
        let store = SqliteStore::connect(&url).await.unwrap();
        let pool = store.pool().clone();
        Jobs::durable_sqlite(Arc::new(store), config.clone(), pool)
    };
    let jobs = jobs.settings(settings).transport(transport);
    jobs.setup().await.unwrap();
    jobs
}

/// `(status, attempts)` of every job row of `queue`, read from apalis's table.
async fn job_rows(store: &TestStore, queue: &str) -> Vec<(String, i64)> {
    if let Some(pool) = store.pg_pool() {
        sqlx::query_as::<_, (String, i32)>(
            "SELECT status, attempts FROM apalis.jobs WHERE job_type = $1 ORDER BY id",
        )
        .bind(queue)
        .fetch_all(&pool)
        .await
        .unwrap()
        .into_iter()
        .map(|(s, a)| (s, i64::from(a)))
        .collect()
    } else {
        sqlx::query_as::<_, (String, i64)>(
            "SELECT status, attempts FROM Jobs WHERE job_type = ?1 ORDER BY id",
        )
        .bind(queue)
        .fetch_all(&store.sqlite_pool().unwrap())
        .await
        .unwrap()
    }
}

/// Every queued payload of `queue`, as text (to check what the table holds).
async fn job_payloads(store: &TestStore, queue: &str) -> Vec<String> {
    if let Some(pool) = store.pg_pool() {
        sqlx::query_scalar::<_, Vec<u8>>("SELECT job FROM apalis.jobs WHERE job_type = $1")
            .bind(queue)
            .fetch_all(&pool)
            .await
            .unwrap()
    } else {
        sqlx::query_scalar::<_, Vec<u8>>("SELECT job FROM Jobs WHERE job_type = ?1")
            .bind(queue)
            .fetch_all(&store.sqlite_pool().unwrap())
            .await
            .unwrap()
    }
    .into_iter()
    .map(|b| String::from_utf8_lossy(&b).into_owned())
    .collect()
}

pub(crate) async fn queued_mail_is_delivered_once_even_when_pushed_twice(store: &TestStore) {
    let config = config_with_retention(None);
    let mailbox = Arc::new(DevMailbox::new());
    let mut jobs = node(store, &config, fast("solo"), mailbox.clone()).await;
    let mailer = jobs.mailer();
    // Enqueued before any worker runs: the queue holds it durably.
    mailer.send(message("reset_password-0a0b")).await.unwrap();
    mailer.send(message("reset_password-0a0b")).await.unwrap();
    assert_eq!(
        job_rows(store, MAIL_QUEUE).await.len(),
        1,
        "same idempotency key, one job"
    );
    for payload in job_payloads(store, MAIL_QUEUE).await {
        assert!(
            !payload.contains("SECRET-LINK-TOKEN") && !payload.contains("reader@example.com"),
            "the queue must hold the message sealed: {payload}"
        );
    }
    let handle = jobs.start().await.unwrap();
    eventually(
        "the message is delivered",
        Duration::from_secs(20),
        || async { !mailbox.messages().is_empty() },
    )
    .await;
    eventually("the job is done", Duration::from_secs(10), || async {
        job_rows(store, MAIL_QUEUE).await == [("Done".to_owned(), 1)]
    })
    .await;
    assert_eq!(mailbox.messages(), [message("reset_password-0a0b")]);
    let stats = handle.stats().await;
    assert_eq!(stats.job(JobKind::DeliverEmail).succeeded, 1);
    assert!(stats.queues.iter().any(|q| q.queue == MAIL_QUEUE));
    handle.shutdown().await;
}

/// A transport that always fails, counting its calls.
#[derive(Debug, Default)]
struct DownMailer {
    calls: AtomicUsize,
}

#[async_trait]
impl Mailer for DownMailer {
    async fn send(&self, _: Email) -> Result<(), MailError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Err(MailError::Transport("connection refused".into()))
    }
}

pub(crate) async fn a_failing_mailer_is_retried_then_the_job_is_marked_failed(store: &TestStore) {
    let config = config_with_retention(None);
    let down = Arc::new(DownMailer::default());
    let mut jobs = node(store, &config, fast("flaky"), down.clone()).await;
    let mailer = jobs.mailer();
    let handle = jobs.start().await.unwrap();
    mailer.send(message("confirm-77")).await.unwrap();
    eventually("the job gives up", Duration::from_secs(30), || async {
        handle.stats().await.job(JobKind::DeliverEmail).gave_up == 1
    })
    .await;
    eventually(
        "the row is marked failed",
        Duration::from_secs(10),
        || async { job_rows(store, MAIL_QUEUE).await == [("Failed".to_owned(), 5)] },
    )
    .await;
    // Five attempts, then never again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(down.calls.load(Ordering::SeqCst), 5);
    let stats = handle.stats().await;
    let mail = stats.job(JobKind::DeliverEmail);
    assert_eq!((mail.failed, mail.succeeded, mail.gave_up), (5, 0, 1));
    let attempts: Vec<usize> = stats.recent.iter().map(|r| r.attempt).collect();
    assert_eq!(attempts, [1, 2, 3, 4, 5]);
    let depth = stats.queues.iter().find(|q| q.queue == MAIL_QUEUE).unwrap();
    assert_eq!(depth.failed, 1);
    handle.shutdown().await;
}

/// A transport whose server refuses every message for good (an SMTP 5xx).
#[derive(Debug, Default)]
struct RejectingMailer {
    calls: AtomicUsize,
}

#[async_trait]
impl Mailer for RejectingMailer {
    async fn send(&self, _: Email) -> Result<(), MailError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Err(MailError::Rejected("550 5.1.1 no such user".into()))
    }
}

pub(crate) async fn a_permanent_refusal_is_tried_once_and_the_job_ends(store: &TestStore) {
    let config = config_with_retention(None);
    let rejecting = Arc::new(RejectingMailer::default());
    let mut jobs = node(store, &config, fast("rejected"), rejecting.clone()).await;
    let mailer = jobs.mailer();
    let handle = jobs.start().await.unwrap();
    mailer.send(message("confirm-5xx")).await.unwrap();
    eventually("the job gives up", Duration::from_secs(30), || async {
        handle.stats().await.job(JobKind::DeliverEmail).gave_up == 1
    })
    .await;
    eventually("the row is killed", Duration::from_secs(10), || async {
        job_rows(store, MAIL_QUEUE)
            .await
            .first()
            .map(|r| r.0.as_str())
            == Some("Killed")
    })
    .await;
    // Long past every backoff of `fast`: still one attempt.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(rejecting.calls.load(Ordering::SeqCst), 1);
    let mail = handle.stats().await.job(JobKind::DeliverEmail);
    assert_eq!((mail.failed, mail.succeeded, mail.gave_up), (1, 0, 1));
    handle.shutdown().await;
}

/// A transport that never finishes sending: the worker holding the job hangs.
#[derive(Debug)]
struct StuckMailer {
    started: Arc<AtomicBool>,
}

#[async_trait]
impl Mailer for StuckMailer {
    async fn send(&self, _: Email) -> Result<(), MailError> {
        self.started.store(true, Ordering::SeqCst);
        std::future::pending().await
    }
}

pub(crate) async fn a_job_whose_worker_dies_mid_run_is_completed_by_a_new_worker(
    store: &TestStore,
) {
    let config = config_with_retention(None);
    let started = Arc::new(AtomicBool::new(false));
    // The first node runs on a runtime of its own, on its own thread, with its
    // own pool. Once its worker is inside the job, the runtime is shut down
    // without any graceful close: no acknowledgement, no heartbeat, no
    // re-enqueue — to the database it is a worker that died.
    {
        let store_url = store.database_url().unwrap();
        let pg = store.pg_pool().is_some();
        let started = Arc::clone(&started);
        let config = config.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let transport = Arc::new(StuckMailer {
                    started: Arc::clone(&started),
                });
                let jobs = if pg {
                    let store = PostgresStore::connect_with_options(&store_url, 3)
                        .await
                        .unwrap();
                    let pool = store.pool().clone();
                    Jobs::durable_postgres(Arc::new(store), config, pool)
                } else {
                    let store = SqliteStore::connect(&store_url).await.unwrap();
                    let pool = store.pool().clone();
                    Jobs::durable_sqlite(Arc::new(store), config, pool)
                };
                let mut jobs = jobs.settings(fast("doomed")).transport(transport);
                jobs.setup().await.unwrap();
                let mailer = jobs.mailer();
                let handle = jobs.start().await.unwrap();
                mailer.send(message("reset_password-dead")).await.unwrap();
                while !started.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                std::mem::forget(handle);
            });
            runtime.shutdown_background();
        })
        .join()
        .unwrap();
    }
    assert!(started.load(Ordering::SeqCst));
    let rows = job_rows(store, MAIL_QUEUE).await;
    assert_eq!(rows.len(), 1);
    assert_ne!(
        rows[0].0, "Done",
        "the dead worker never finished: {rows:?}"
    );

    // A new worker starts; once the dead one has missed its heartbeats, the
    // job is put back in the queue and completes here.
    let mailbox = Arc::new(DevMailbox::new());
    let jobs = node(store, &config, fast("rescuer"), mailbox.clone()).await;
    let handle = jobs.start().await.unwrap();
    eventually(
        "the orphaned job is delivered by the new worker",
        Duration::from_secs(30),
        || async { !mailbox.messages().is_empty() },
    )
    .await;
    eventually("the job is done", Duration::from_secs(10), || async {
        job_rows(store, MAIL_QUEUE)
            .await
            .first()
            .map(|r| r.0.as_str())
            == Some("Done")
    })
    .await;
    assert_eq!(mailbox.messages(), [message("reset_password-dead")]);
    handle.shutdown().await;
}

pub(crate) async fn two_nodes_never_run_the_same_cron_tick_twice(store: &TestStore) {
    let config = config_with_retention(None);
    let every_second: sigra_jobs::Schedule = "* * * * * *".parse().unwrap();
    let schedules = Schedules {
        cleanup_expired_tokens: every_second.clone(),
        audit_retention: every_second.clone(),
        process_scheduled_deletions: every_second,
    };
    let mut nodes = Vec::new();
    for name in ["node-a", "node-b"] {
        let settings = JobsConfig {
            schedules: schedules.clone(),
            ..fast(name)
        };
        let jobs = node(store, &config, settings, Arc::new(DevMailbox::new())).await;
        nodes.push(jobs.start().await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(4500)).await;
    // Stop both nodes: every tick a scheduler claimed is enqueued by then,
    // and every run a worker started has finished.
    let mut runs: HashMap<(JobKind, chrono::DateTime<chrono::Utc>), usize> = HashMap::new();
    let (mut claimed, mut skipped) = (0, 0);
    for handle in nodes {
        let stats = handle.shutdown().await;
        for job in JobKind::PERIODIC {
            claimed += stats.job(job).ticks_claimed;
            skipped += stats.job(job).ticks_skipped;
            assert_eq!(stats.job(job).failed, 0, "{job}");
        }
        for run in stats.recent {
            let tick = run.tick.expect("scheduled runs carry their tick");
            *runs.entry((run.job, tick)).or_insert(0) += 1;
        }
    }
    assert!(
        runs.len() >= 6,
        "at least two ticks of each job ran: {runs:?}"
    );
    for ((job, tick), count) in &runs {
        assert_eq!(*count, 1, "{job} tick {tick} ran {count} times");
    }
    // One claim per tick across both nodes, one queued job per claim, and
    // every job that ran is done (the rest wait in the queue for the next worker).
    let ticks = super::raw_count(store, "SELECT COUNT(*) FROM sigra_job_ticks").await as u64;
    assert_eq!(claimed, ticks);
    let rows = job_rows(store, PERIODIC_QUEUE).await;
    assert_eq!(rows.len() as u64, ticks, "one queued job per claimed tick");
    let done = rows.iter().filter(|(status, _)| status == "Done").count();
    assert_eq!(done, runs.len(), "{rows:?}");
    assert!(skipped > 0, "both nodes competed for the ticks");
}
