//! Account deletion by the user: scheduling it after a grace period, and
//! cancelling it with the link from its email. (The deletion itself is
//! carried out by a background job, `sigra-jobs`.)

use chrono::{DateTime, Utc};

use super::error::AuthError;
use super::mail::CANCEL_DELETION;
use super::service::{Auth, delta};
use crate::model::{AuditAction, AuditEvent, User};
use crate::token::TokenContext;

impl Auth {
    /// Schedules the account's deletion after `deletion_grace_period` (14 d):
    /// logs out everywhere, deletes email tokens, and mails a cancel link.
    /// Callers require sudo mode. Returns when the deletion takes effect.
    pub async fn schedule_account_deletion(&self, user: &User) -> Result<DateTime<Utc>, AuthError> {
        let now = self.now();
        let at = now + delta(self.inner.config.retention.deletion_grace_period);
        let ended = self.inner.store.schedule_deletion(user.id, at, now).await?;
        self.audit(
            AuditEvent::new(AuditAction::AccountDeletion, Some(user.id), now)
                .with("stage", "scheduled")
                .with("sessions_deleted", ended.to_string()),
        )
        .await?;
        self.mail_token(
            user,
            TokenContext::CancelDeletion,
            &user.email,
            &CANCEL_DELETION,
        )
        .await
        // The deletion is scheduled either way; a lost cancel mail must not
        // turn into an error page that suggests nothing happened.
        .unwrap_or_else(
            |e| tracing::error!(name: "sigra.mail.error", context = "cancel_deletion", error = %e),
        );
        Ok(at)
    }

    /// Cancels a scheduled deletion with the link from its email.
    pub async fn cancel_account_deletion(&self, presented: &str) -> Result<User, AuthError> {
        let token = self
            .take_token(presented, TokenContext::CancelDeletion)
            .await?;
        let now = self.now();
        let cancelled = self.inner.store.cancel_deletion(token.user_id, now).await;
        if !cancelled? {
            return Err(AuthError::InvalidToken);
        }
        self.audit(AuditEvent::new(
            AuditAction::DeletionCancelled,
            Some(token.user_id),
            now,
        ))
        .await?;
        self.load_user(token.user_id).await
    }
}
