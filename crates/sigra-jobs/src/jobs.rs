//! The jobs themselves: plain async functions over the core ports, with no
//! queue in sight, so each is unit-tested (and run by `sigra jobs run --once`)
//! without one. The runners in this crate only decide *when* they run.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sigra_core::config::{Config, format_duration};
use sigra_core::mail::{Email, MailError, Mailer};
use sigra_core::model::{AuditAction, AuditEvent, DeletionStrategy};
use sigra_core::store::{
    ExpiredSessions, MaintenanceStore, SessionCutoffs, StoreError, email_token_cutoffs,
};

/// What [`cleanup_expired_tokens`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CleanupReport {
    /// Expired sessions, by kind.
    pub sessions: ExpiredSessions,
    /// Expired email tokens (all contexts).
    pub email_tokens: u64,
}

impl fmt::Display for CleanupReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.sessions;
        write!(
            f,
            "cleanup_expired_tokens: deleted {} expired sessions (standard {}, remember_me {}, mfa_pending {}) and {} expired email tokens",
            s.total(),
            s.standard,
            s.remember_me,
            s.mfa_pending,
            self.email_tokens
        )
    }
}

/// Deletes expired sessions by kind and timeout — standard sessions past
/// `idle_timeout` or `absolute_timeout`, remember-me sessions past
/// `session_ttl`, MFA-pending sessions past `mfa_pending_ttl` — and email
/// tokens past their context's validity ([`sigra_core::token::TokenContext::validity`]).
///
/// Exactly the sessions [`sigra_core::auth::Auth::is_expired`] would refuse
/// at `now`, and the tokens a link would refuse, go; nothing else. Safe to
/// run anywhere, any number of times.
pub async fn cleanup_expired_tokens(
    store: &dyn MaintenanceStore,
    config: &Config,
    now: DateTime<Utc>,
) -> Result<CleanupReport, StoreError> {
    let sessions = store
        .delete_expired_sessions(&SessionCutoffs::at(config, now))
        .await?;
    let email_tokens = store
        .delete_expired_email_tokens(&email_token_cutoffs(config, now))
        .await?;
    Ok(CleanupReport {
        sessions,
        email_tokens,
    })
}

/// What [`audit_retention`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionReport {
    /// The retention applied; `None` when audit rows are kept forever.
    pub retention: Option<Duration>,
    /// Audit rows deleted.
    pub deleted: u64,
}

impl fmt::Display for RetentionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.retention {
            Some(retention) => write!(
                f,
                "audit_retention: deleted {} audit rows older than {}",
                self.deleted,
                format_duration(retention)
            ),
            None => f.write_str(
                "audit_retention: deleted 0 audit rows (retention is `keep`; set SIGRA_AUDIT_RETENTION to prune)",
            ),
        }
    }
}

/// Deletes the audit rows older than `config.retention.audit_retention`
/// (`SIGRA_AUDIT_RETENTION`); with `None` (the default, `keep`) it deletes
/// nothing and does not touch the database.
pub async fn audit_retention(
    store: &dyn MaintenanceStore,
    config: &Config,
    now: DateTime<Utc>,
) -> Result<RetentionReport, StoreError> {
    let Some(retention) = config.retention.audit_retention else {
        return Ok(RetentionReport {
            retention: None,
            deleted: 0,
        });
    };
    let cutoff = chrono::TimeDelta::from_std(retention)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let deleted = store.delete_audit_before(cutoff).await?;
    Ok(RetentionReport {
        retention: Some(retention),
        deleted,
    })
}

/// What [`process_scheduled_deletions`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeletionReport {
    /// The strategy applied.
    pub strategy: DeletionStrategy,
    /// Accounts deleted by this run.
    pub processed: u64,
    /// Accounts that were due when listed but changed before their turn
    /// (cancelled, or processed by another node): left untouched.
    pub skipped: u64,
}

impl fmt::Display for DeletionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "process_scheduled_deletions: processed {} accounts ({}), skipped {}",
            self.processed, self.strategy, self.skipped
        )
    }
}

/// How many due accounts one store call lists.
pub const DELETION_BATCH: u32 = 100;

/// Applies `strategy` to every live account whose `deletion_scheduled_at`
/// is at or before `now` (the grace period has ended), in batches of
/// `batch`. Each account is deleted atomically together with its
/// `account.deletion` audit row (`stage = completed`, `strategy = …`).
///
/// Idempotent per user: an account is only processed while it is still live
/// and due, so a second run (or a second node) skips it, and a cancellation
/// that lands first is respected.
pub async fn process_scheduled_deletions(
    store: &dyn MaintenanceStore,
    strategy: DeletionStrategy,
    now: DateTime<Utc>,
    batch: u32,
) -> Result<DeletionReport, StoreError> {
    let mut report = DeletionReport {
        strategy,
        processed: 0,
        skipped: 0,
    };
    loop {
        let due = store.users_due_for_deletion(now, batch.max(1)).await?;
        let listed = due.len();
        let mut progressed = false;
        for id in due {
            let audit = AuditEvent::new(AuditAction::AccountDeletion, Some(id), now)
                .with("stage", "completed")
                .with("strategy", strategy.as_str());
            if store
                .apply_scheduled_deletion(id, strategy, &audit, now)
                .await?
            {
                report.processed += 1;
                progressed = true;
                tracing::info!(name: "sigra.account.deleted", user_id = %id, strategy = strategy.as_str());
            } else {
                report.skipped += 1;
            }
        }
        // A short batch was the last one; a batch in which nothing could be
        // processed would only be listed again.
        if listed < batch.max(1) as usize || !progressed {
            return Ok(report);
        }
    }
}

/// Sends one message through the mailer: the whole `deliver_email` job.
///
/// The message is already built (link, token and idempotency key included),
/// so a retry sends the same message again and never mints a new token.
pub async fn deliver_email(mailer: &dyn Mailer, email: Email) -> Result<(), MailError> {
    mailer.send(email).await
}
