//! Background work for Sigra: periodic cleanups, audit retention, scheduled
//! account deletion, and mail delivery — durable on the app's own database,
//! or inline when no queue is configured.
//!
//! # The jobs
//!
//! Each is a plain async function over the core ports (module [`jobs`]),
//! unit-tested without a queue:
//!
//! | job | what it does | default schedule (UTC) |
//! |---|---|---|
//! | [`cleanup_expired_tokens`](jobs::cleanup_expired_tokens) | deletes expired sessions (by kind and timeout) and expired email tokens | daily 03:00 |
//! | [`audit_retention`](jobs::audit_retention) | deletes audit rows older than `SIGRA_AUDIT_RETENTION` (default: keep all) | daily 04:00 |
//! | [`process_scheduled_deletions`](jobs::process_scheduled_deletions) | applies the [`DeletionStrategy`](sigra_core::model::DeletionStrategy) to accounts whose grace period ended; idempotent per user | every 15 min |
//! | [`deliver_email`](jobs::deliver_email) | sends one finished message through the `Mailer`; 5 attempts with exponential backoff | on demand |
//!
//! # The runners
//!
//! - [`Jobs::inline`]: no queue. A tokio scheduler runs the periodic jobs
//!   and mail goes out right away on a bounded set of tasks (the fallback, as
//!   the Elixir library does without Oban).
//! - `Jobs::durable_postgres` / `Jobs::durable_sqlite` (features `postgres`,
//!   `sqlite`, both on by default): an [apalis](https://docs.rs/apalis) queue
//!   in the app's own database, with apalis-cron schedulers. Jobs survive a
//!   crash (a dead worker's jobs go to another), and a cron tick runs once
//!   per cluster: each tick is claimed in `sigra_job_ticks`, whose primary
//!   key lets exactly one node win.
//!
//! Every run is a `tracing` span `sigra.job.<name>` with `attempt`,
//! `outcome` and `duration_ms`; [`JobsHandle::stats`] reports counters and
//! queue depths. See `docs/guides/jobs.md`.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use sigra_core::auth::Auth;
//! use sigra_core::config::Config;
//! use sigra_core::mail::DevMailbox;
//! use sigra_core::store::Store;
//! use sigra_jobs::Jobs;
//!
//! # async fn demo(store: Arc<dyn Store>, config: Config) -> Result<(), Box<dyn std::error::Error>> {
//! let mut jobs = Jobs::inline(store.clone(), config.clone()) // needs only the maintenance port
//!     .transport(Arc::new(DevMailbox::new()));     // how mail really leaves
//! let auth = Auth::builder(config, store)
//!     .mailer(jobs.mailer())                        // the app's mail goes through the runner
//!     .build()?;
//! let handle = jobs.start().await?;
//! // … serve requests with `auth` …
//! handle.shutdown().await;                          // lets running jobs finish
//! # drop(auth); Ok(()) }
//! ```

#[cfg(feature = "durable")]
mod durable;
mod error;
mod inline;
pub mod jobs;
mod runner;
mod schedule;
mod settings;
mod shared;
#[cfg(feature = "smtp")]
pub mod smtp;
mod telemetry;

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;

#[cfg(feature = "durable")]
pub use durable::{MAIL_QUEUE, PERIODIC_QUEUE, QueuedMailer, SQLITE_MIGRATIONS_TABLE};
pub use error::JobError;
pub use runner::{Jobs, JobsHandle};
pub use schedule::{
    DEFAULT_AUDIT_RETENTION_SCHEDULE, DEFAULT_CLEANUP_SCHEDULE, DEFAULT_DELETIONS_SCHEDULE,
    Schedule, ScheduleError, Schedules,
};
pub use settings::{JobsConfig, MailRetry};
pub use telemetry::{JobCounters, JobKind, JobRun, JobsStats, QueueDepth, RECENT_RUNS};
