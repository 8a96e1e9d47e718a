//! [`Shared`]: what every task of a runner (inline or durable) shares, and
//! the periodic-job steps both runners take (run one job, claim a tick).

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use sigra_core::clock::Clock;
use sigra_core::config::Config;
use sigra_core::mail::{MailError, Mailer};
use sigra_core::store::MaintenanceStore;

use crate::error::JobError;
use crate::jobs;
use crate::settings::JobsConfig;
use crate::telemetry::{JobKind, Stats, instrumented};

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

    /// Counts a message as given up and logs it once, as `sigra.job.gave_up`:
    /// its idempotency key, the attempts made, whether the transport refused
    /// it for good, and the last error's `Display` (which names no address and
    /// holds no link). `fate` says what happens to it now.
    pub(crate) fn give_up_mail(
        &self,
        idempotency_key: &str,
        attempts: usize,
        error: &MailError,
        fate: &'static str,
    ) {
        self.stats.gave_up(JobKind::DeliverEmail);
        let permanent = error.is_permanent();
        let why = if permanent {
            "mail refused permanently, not retried"
        } else {
            "mail delivery failed on every attempt"
        };
        tracing::error!(
            name: "sigra.job.gave_up",
            job = "deliver_email",
            attempts,
            permanent,
            idempotency_key = %idempotency_key,
            error = %error,
            "{why}; {fate}"
        );
    }
}
