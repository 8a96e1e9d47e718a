//! [`JobsConfig`] and [`MailRetry`]: the runners' settings and their defaults.

use std::time::Duration;

use sigra_core::model::DeletionStrategy;

use crate::jobs::DELETION_BATCH;
use crate::schedule::{Schedule, Schedules};
use crate::telemetry::JobKind;

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
    /// beyond that `send` answers [`MailError::Busy`](sigra_core::mail::MailError::Busy).
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
    /// How long [`JobsHandle::shutdown`](crate::JobsHandle::shutdown) waits for running jobs (default 30 s).
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
