//! Job names, the `tracing` span each run gets, and the counters behind [`JobsStats`].

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use chrono::{DateTime, Utc};
use tracing::Instrument;

/// The four jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "durable", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "durable", serde(rename_all = "snake_case"))]
pub enum JobKind {
    /// Deletes expired sessions and email tokens.
    CleanupExpiredTokens,
    /// Deletes audit rows past the retention.
    AuditRetention,
    /// Applies the deletion strategy to accounts whose grace period ended.
    ProcessScheduledDeletions,
    /// Sends one email.
    DeliverEmail,
}

impl JobKind {
    /// The periodic jobs, in the order `--once` runs them.
    pub const PERIODIC: [JobKind; 3] = [
        Self::CleanupExpiredTokens,
        Self::AuditRetention,
        Self::ProcessScheduledDeletions,
    ];

    /// The job's name, e.g. `cleanup_expired_tokens`; its span is `sigra.job.<name>`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::CleanupExpiredTokens => "cleanup_expired_tokens",
            Self::AuditRetention => "audit_retention",
            Self::ProcessScheduledDeletions => "process_scheduled_deletions",
            Self::DeliverEmail => "deliver_email",
        }
    }

    const fn index(self) -> usize {
        match self {
            Self::CleanupExpiredTokens => 0,
            Self::AuditRetention => 1,
            Self::ProcessScheduledDeletions => 2,
            Self::DeliverEmail => 3,
        }
    }

    /// The span a run of this job is recorded in. Fields: `attempt`, and,
    /// filled in when the run ends, `outcome` (`ok` / `error`) and `duration_ms`.
    fn span(self, attempt: usize) -> tracing::Span {
        let empty = tracing::field::Empty;
        match self {
            Self::CleanupExpiredTokens => tracing::info_span!(
                "sigra.job.cleanup_expired_tokens",
                attempt,
                outcome = empty,
                duration_ms = empty
            ),
            Self::AuditRetention => tracing::info_span!(
                "sigra.job.audit_retention",
                attempt,
                outcome = empty,
                duration_ms = empty
            ),
            Self::ProcessScheduledDeletions => tracing::info_span!(
                "sigra.job.process_scheduled_deletions",
                attempt,
                outcome = empty,
                duration_ms = empty
            ),
            Self::DeliverEmail => tracing::info_span!(
                "sigra.job.deliver_email",
                attempt,
                outcome = empty,
                duration_ms = empty
            ),
        }
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Self::CleanupExpiredTokens,
            Self::AuditRetention,
            Self::ProcessScheduledDeletions,
            Self::DeliverEmail,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| format!("unknown job {s:?}"))
    }
}

/// One finished run, as kept in [`JobsStats::recent`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRun {
    /// Which job.
    pub job: JobKind,
    /// The cron tick it ran for (periodic jobs started by the scheduler).
    pub tick: Option<DateTime<Utc>>,
    /// The attempt number, from 1.
    pub attempt: usize,
    /// Whether it succeeded.
    pub ok: bool,
}

/// Counters of one job on this node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobCounters {
    /// Runs that succeeded.
    pub succeeded: u64,
    /// Runs that failed (each failed attempt counts).
    pub failed: u64,
    /// Jobs abandoned after their last attempt failed.
    pub gave_up: u64,
    /// Cron ticks this node claimed (and so enqueued or ran).
    pub ticks_claimed: u64,
    /// Cron ticks another node had claimed first.
    pub ticks_skipped: u64,
}

/// Queue depth of one durable queue, as the queue's backend reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueDepth {
    /// The queue (apalis `job_type`), e.g. `sigra.deliver_email`.
    pub queue: String,
    /// Waiting to run.
    pub pending: u64,
    /// Being run by a worker.
    pub running: u64,
    /// Failed (some may still be retried).
    pub failed: u64,
}

/// What [`crate::JobsHandle::stats`] reports: this node's counters per job,
/// the last runs, in-flight inline deliveries, and (durable) the queue depths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobsStats {
    /// Counters per job, on this node.
    pub jobs: Vec<(JobKind, JobCounters)>,
    /// The most recent runs on this node (at most [`RECENT_RUNS`]), oldest first.
    pub recent: Vec<JobRun>,
    /// Inline mail deliveries in flight (inline runner only).
    pub mail_in_flight: u64,
    /// Depth of each durable queue (durable runners only).
    pub queues: Vec<QueueDepth>,
}

impl JobsStats {
    /// The counters of `job`.
    pub fn job(&self, job: JobKind) -> JobCounters {
        self.jobs
            .iter()
            .find(|(k, _)| *k == job)
            .map(|(_, c)| *c)
            .unwrap_or_default()
    }
}

/// How many finished runs [`JobsStats::recent`] keeps.
pub const RECENT_RUNS: usize = 512;

#[derive(Debug, Default)]
struct AtomicCounters {
    succeeded: AtomicU64,
    failed: AtomicU64,
    gave_up: AtomicU64,
    ticks_claimed: AtomicU64,
    ticks_skipped: AtomicU64,
}

/// The live counters shared by a runner's tasks.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    counters: [AtomicCounters; 4],
    recent: Mutex<VecDeque<JobRun>>,
    pub(crate) mail_in_flight: AtomicU64,
}

impl Stats {
    pub(crate) fn tick(&self, job: JobKind, claimed: bool) {
        let c = &self.counters[job.index()];
        if claimed {
            c.ticks_claimed.fetch_add(1, Ordering::Relaxed);
        } else {
            c.ticks_skipped.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn gave_up(&self, job: JobKind) {
        self.counters[job.index()]
            .gave_up
            .fetch_add(1, Ordering::Relaxed);
    }

    fn finished(&self, run: JobRun) {
        let c = &self.counters[run.job.index()];
        if run.ok {
            c.succeeded.fetch_add(1, Ordering::Relaxed);
        } else {
            c.failed.fetch_add(1, Ordering::Relaxed);
        }
        let mut recent = self
            .recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if recent.len() == RECENT_RUNS {
            recent.pop_front();
        }
        recent.push_back(run);
    }

    pub(crate) fn snapshot(&self) -> JobsStats {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let jobs = [
            JobKind::CleanupExpiredTokens,
            JobKind::AuditRetention,
            JobKind::ProcessScheduledDeletions,
            JobKind::DeliverEmail,
        ]
        .into_iter()
        .map(|k| {
            let c = &self.counters[k.index()];
            (
                k,
                JobCounters {
                    succeeded: load(&c.succeeded),
                    failed: load(&c.failed),
                    gave_up: load(&c.gave_up),
                    ticks_claimed: load(&c.ticks_claimed),
                    ticks_skipped: load(&c.ticks_skipped),
                },
            )
        })
        .collect();
        let recent = self
            .recent
            .lock()
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default();
        JobsStats {
            jobs,
            recent,
            mail_in_flight: load(&self.mail_in_flight),
            queues: Vec::new(),
        }
    }
}

/// Runs `fut` as one run of `job` inside its `sigra.job.<name>` span,
/// records outcome, attempt and duration, logs one `sigra.job` event and
/// updates `stats`. The error is logged by its `Display`, which for every
/// job error of this crate holds no secret.
pub(crate) async fn instrumented<T, E, F>(
    stats: &Stats,
    job: JobKind,
    tick: Option<DateTime<Utc>>,
    attempt: usize,
    fut: F,
) -> Result<T, E>
where
    F: Future<Output = Result<T, E>>,
    E: fmt::Display,
{
    let span = job.span(attempt);
    let started = Instant::now();
    let result = fut.instrument(span.clone()).await;
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let outcome = if result.is_ok() { "ok" } else { "error" };
    span.record("outcome", outcome);
    span.record("duration_ms", duration_ms);
    span.in_scope(|| match &result {
        Ok(_) => {
            tracing::info!(name: "sigra.job", job = job.as_str(), attempt, outcome, duration_ms)
        }
        Err(e) => tracing::warn!(
            name: "sigra.job",
            job = job.as_str(),
            attempt,
            outcome,
            duration_ms,
            error = %e
        ),
    });
    stats.finished(JobRun {
        job,
        tick,
        attempt,
        ok: result.is_ok(),
    });
    result
}
