//! Email-token flows: confirmation, password reset, email change and the
//! cancellation of a scheduled deletion. Every token is single-use, stored
//! only as its hash with its context, and expires after its context's validity.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use super::{Auth, AuthError, delta, is_valid_email, normalize_email};
use crate::mail::{Email, link_email, notice_email};
use crate::model::{AuditAction, AuditEvent, EmailToken, User};
use crate::store::StoreError;
use crate::token::{RawToken, TokenContext};

/// The fixed parts of one kind of message.
struct Template {
    /// Link path; the token is appended.
    path: &'static str,
    subject: &'static str,
    intro: &'static str,
    action: &'static str,
}

const CONFIRM: Template = Template {
    path: "/users/confirm/",
    subject: "Confirm your email address",
    intro: "Please confirm your email address for your Sigra account.",
    action: "Confirm my email address",
};

const RESET_PASSWORD: Template = Template {
    path: "/users/reset-password/",
    subject: "Reset your password",
    intro: "Someone asked to reset the password of your Sigra account.",
    action: "Choose a new password",
};

const CHANGE_EMAIL: Template = Template {
    path: "/users/settings/confirm-email/",
    subject: "Confirm your new email address",
    intro: "Someone asked to move a Sigra account to this address.",
    action: "Use this email address",
};

const CANCEL_DELETION: Template = Template {
    path: "/users/cancel-deletion/",
    subject: "Your account is scheduled for deletion",
    intro: "Your Sigra account will be deleted at the end of the grace period. \
            If you did not ask for this, or changed your mind, cancel it.",
    action: "Cancel the deletion",
};

/// A notice to an account's owner about a change made to it (ASVS 6.3.7).
pub(super) struct Notice {
    /// For logs and metrics.
    kind: &'static str,
    subject: &'static str,
    what: &'static str,
}

pub(super) const PASSWORD_CHANGED: Notice = Notice {
    kind: "password_changed",
    subject: "Your password was changed",
    what: "The password of your Sigra account was changed, and every other session was signed out.",
};

const PASSWORD_RESET: Notice = Notice {
    kind: "password_reset",
    subject: "Your password was reset",
    what: "The password of your Sigra account was reset with a link sent to this address, \
           and every session was signed out.",
};

const EMAIL_CHANGED: Notice = Notice {
    kind: "email_changed",
    subject: "Your email address was changed",
    what: "Your Sigra account now uses another email address; this address no longer \
           receives its messages or signs in to it.",
};

pub(super) const MFA_DISABLED: Notice = Notice {
    kind: "mfa_disabled",
    subject: "Two-factor authentication was turned off",
    what: "Two-factor authentication was turned off for your Sigra account: signing in \
           now needs only the password.",
};

impl Auth {
    /// Tells `to` about `notice`, recorded as audit `event`. Never fails the
    /// change it reports (that change is already made): a delivery problem is
    /// logged, without the address.
    pub(super) async fn notify(&self, to: &str, notice: &Notice, event: &AuditEvent) {
        let email = notice_email(
            to,
            notice.subject,
            notice.what,
            format!("notice-{}", event.id.simple()),
        );
        match self.inner.mailer.send(email).await {
            Ok(()) => {
                tracing::info!(name: "sigra.mail.enqueued", context = "notice", notice = notice.kind)
            }
            Err(e) => tracing::warn!(
                name: "sigra.mail.notice",
                outcome = "error",
                notice = notice.kind,
                error = %e
            ),
        }
    }

    /// `PUBLIC_URL` + `path` + the token: the only secret a message carries.
    fn link(&self, path: &str, token: &RawToken) -> String {
        let base = self.inner.config.public_url.as_str().trim_end_matches('/');
        format!("{base}{path}{}", token.encode().expose_secret())
    }

    /// Creates a token for `user` in `context`, addressed to `sent_to`, and
    /// mails `sent_to` the template's link.
    async fn mail_token(
        &self,
        user: &User,
        context: TokenContext,
        sent_to: &str,
        t: &Template,
    ) -> Result<(), AuthError> {
        let token = RawToken::generate()?;
        let now = self.now();
        self.inner
            .store
            .insert_email_token(&EmailToken::new(
                token.hash(),
                user.id,
                context,
                sent_to.to_owned(),
                now,
            ))
            .await?;
        // The idempotency key comes from the hash, never from the token itself.
        let key: String = token.hash().as_bytes()[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let link = self.link(t.path, &token);
        let email: Email = link_email(
            sent_to,
            t.subject,
            t.intro,
            t.action,
            &link,
            format!("{}-{key}", context.as_str()),
        );
        self.inner.mailer.send(email).await?;
        tracing::info!(name: "sigra.mail.enqueued", context = context.as_str());
        Ok(())
    }

    /// Takes a presented token of `context` (single use) if it is well-formed,
    /// known and still valid.
    async fn take_token(
        &self,
        presented: &str,
        context: TokenContext,
    ) -> Result<EmailToken, AuthError> {
        let raw = RawToken::decode(presented).map_err(|_| AuthError::InvalidToken)?;
        let token = self
            .inner
            .store
            .take_email_token(&raw.hash(), context)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        let valid_until = context
            .validity(&self.inner.config)
            .map(|v| token.created_at + delta(v));
        if valid_until.is_some_and(|until| until < self.now()) {
            return Err(AuthError::InvalidToken);
        }
        Ok(token)
    }

    /// Mails a confirmation link (valid `confirm_ttl`, 48 h by default).
    pub async fn send_confirmation(&self, user: &User) -> Result<(), AuthError> {
        self.mail_token(user, TokenContext::Confirm, &user.email, &CONFIRM)
            .await
    }

    /// Confirms the address a confirmation link was sent to.
    pub async fn confirm_email(&self, presented: &str) -> Result<User, AuthError> {
        let token = self.take_token(presented, TokenContext::Confirm).await?;
        let user = self
            .inner
            .store
            .user_by_id(token.user_id)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        // A link mailed to an address the account no longer has confirms nothing.
        if user.email != token.sent_to {
            return Err(AuthError::InvalidToken);
        }
        let now = self.now();
        let confirmed = self.inner.store.confirm_email(user.id, now).await;
        self.evict_user(user.id);
        confirmed?;
        self.audit(AuditEvent::new(
            AuditAction::EmailConfirmed,
            Some(user.id),
            now,
        ))
        .await?;
        self.load_user(user.id).await
    }

    /// Mails a password-reset link (valid `reset_password_ttl`, 1 h) when the
    /// address has a live account. Answers the same either way.
    pub async fn request_password_reset(&self, email: &str) -> Result<(), AuthError> {
        let email = normalize_email(email);
        if !is_valid_email(&email) {
            return Ok(());
        }
        let Some(user) = self.inner.store.user_by_email(&email).await? else {
            tracing::info!(name: "sigra.auth.reset_password.request", outcome = "unknown");
            return Ok(());
        };
        if user.deletion_scheduled_at.is_some() {
            return Ok(());
        }
        self.mail_token(
            &user,
            TokenContext::ResetPassword,
            &user.email,
            &RESET_PASSWORD,
        )
        .await?;
        self.audit(AuditEvent::new(
            AuditAction::PasswordResetRequested,
            Some(user.id),
            self.now(),
        ))
        .await?;
        tracing::info!(name: "sigra.auth.reset_password.request", outcome = "sent");
        Ok(())
    }

    /// Sets a new password with a reset link: checks the policy first (a
    /// rejected password leaves the link usable), then uses the link once and
    /// ends every session and email token of the user.
    pub async fn reset_password(
        &self,
        presented: &str,
        new_password: &SecretString,
    ) -> Result<User, AuthError> {
        self.inner
            .policy
            .validate(new_password)
            .map_err(AuthError::WeakPassword)?;
        RawToken::decode(presented).map_err(|_| AuthError::InvalidToken)?;
        let hash = self.hash_password(new_password).await?;
        let token = self
            .take_token(presented, TokenContext::ResetPassword)
            .await?;
        let now = self.now();
        let changed = self
            .inner
            .store
            .change_password(token.user_id, &hash, None, now)
            .await;
        self.evict_user(token.user_id);
        let ended = match changed {
            Ok(n) => n,
            Err(StoreError::NotFound(_)) => return Err(AuthError::InvalidToken),
            Err(e) => return Err(e.into()),
        };
        let cleared = self.inner.store.clear_login_failures(token.user_id).await;
        self.evict_user(token.user_id);
        cleared?;
        let event = AuditEvent::new(AuditAction::PasswordReset, Some(token.user_id), now)
            .with("sessions_deleted", ended.to_string());
        self.audit(event.clone()).await?;
        tracing::info!(name: "sigra.auth.reset_password", outcome = "ok");
        let user = self.load_user(token.user_id).await?;
        self.notify(&user.email, &PASSWORD_RESET, &event).await;
        Ok(user)
    }

    /// Asks to move the account to `new_email`: checks the current password,
    /// then mails a link (valid `change_email_ttl`, 24 h) to the NEW address.
    pub async fn request_email_change(
        &self,
        user: &User,
        current_password: &SecretString,
        new_email: &str,
    ) -> Result<(), AuthError> {
        if !self.verify_password(Some(user), current_password).await? {
            return Err(AuthError::InvalidCredentials);
        }
        let new_email = normalize_email(new_email);
        if !is_valid_email(&new_email) || new_email == user.email {
            return Err(AuthError::InvalidEmail);
        }
        if self.inner.store.user_by_email(&new_email).await?.is_some() {
            return Err(AuthError::EmailTaken);
        }
        self.mail_token(user, TokenContext::ChangeEmail, &new_email, &CHANGE_EMAIL)
            .await
    }

    /// Applies an email change from its link: the address becomes the one
    /// the link was sent to, and every session ends.
    pub async fn confirm_email_change(&self, presented: &str) -> Result<User, AuthError> {
        let token = self
            .take_token(presented, TokenContext::ChangeEmail)
            .await?;
        let before = self.load_user(token.user_id).await.map_err(|e| match e {
            AuthError::UserNotFound => AuthError::InvalidToken,
            e => e,
        })?;
        let now = self.now();
        let changed = self
            .inner
            .store
            .change_email(token.user_id, &token.sent_to, now)
            .await;
        self.evict_user(token.user_id);
        match changed {
            Ok(_) => {}
            Err(StoreError::DuplicateEmail) => return Err(AuthError::EmailTaken),
            Err(StoreError::NotFound(_)) => return Err(AuthError::InvalidToken),
            Err(e) => return Err(e.into()),
        }
        let event = AuditEvent::new(AuditAction::EmailChanged, Some(token.user_id), now);
        self.audit(event.clone()).await?;
        // The old address hears of it: if the change was not the owner's,
        // that is where the owner still reads mail.
        self.notify(&before.email, &EMAIL_CHANGED, &event).await;
        self.load_user(token.user_id).await
    }

    /// Schedules the account's deletion after `deletion_grace_period` (14 d):
    /// logs out everywhere, deletes email tokens, and mails a cancel link.
    /// Callers require sudo mode. Returns when the deletion takes effect.
    pub async fn schedule_account_deletion(&self, user: &User) -> Result<DateTime<Utc>, AuthError> {
        let now = self.now();
        let at = now + delta(self.inner.config.deletion_grace_period);
        let ended = self.inner.store.schedule_deletion(user.id, at, now).await;
        self.evict_user(user.id);
        let ended = ended?;
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
        self.evict_user(token.user_id);
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
