//! [`JobError`]: why a job run, or starting a runner, failed.

use sigra_core::mail::MailError;
use sigra_core::store::StoreError;
use thiserror::Error;

use crate::telemetry::JobKind;

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
