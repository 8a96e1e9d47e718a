//! Email-token flows: confirmation, password reset and email change. Every
//! token is single-use, stored only as its hash with its context, and
//! expires after its context's validity.

use secrecy::SecretString;

use super::address::{is_valid_email, normalize_email};
use super::error::AuthError;
use super::mail::{CHANGE_EMAIL, CONFIRM, EMAIL_CHANGED, PASSWORD_RESET, RESET_PASSWORD};
use super::service::Auth;
use crate::model::{AuditAction, AuditEvent, User};
use crate::store::StoreError;
use crate::token::TokenContext;

impl Auth {
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
        self.inner.store.confirm_email(user.id, now).await?;
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
    /// rejected password leaves the link usable), then uses the link once —
    /// before hashing, so an unknown token costs no Argon2 run; a hashing
    /// failure puts the link back — and ends every session and email token
    /// of the user.
    pub async fn reset_password(
        &self,
        presented: &str,
        new_password: &SecretString,
    ) -> Result<User, AuthError> {
        self.inner
            .policy
            .validate(new_password)
            .map_err(AuthError::WeakPassword)?;
        // The token first: a fake or dead one never reaches Argon2.
        let token = self
            .take_token(presented, TokenContext::ResetPassword)
            .await?;
        let hash = match self.hash_password(new_password).await {
            Ok(hash) => hash,
            Err(e) => {
                // Not the user's fault (the pool is busy): the link stays usable.
                if let Err(put_back) = self.inner.store.insert_email_token(&token).await {
                    tracing::warn!(name: "sigra.auth.reset_password", outcome = "error", error = %put_back);
                }
                return Err(e);
            }
        };
        let now = self.now();
        let changed = self
            .inner
            .store
            .change_password(token.user_id, &hash, None, now)
            .await;
        let ended = match changed {
            Ok(n) => n,
            Err(StoreError::NotFound(_)) => return Err(AuthError::InvalidToken),
            Err(e) => return Err(e.into()),
        };
        self.inner.store.clear_login_failures(token.user_id).await?;
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
    /// The password check counts toward the per-user lockout
    /// ([`AuthError::Locked`] while locked).
    pub async fn request_email_change(
        &self,
        user: &User,
        current_password: &SecretString,
        new_email: &str,
    ) -> Result<(), AuthError> {
        self.check_password_counted(user, current_password, None)
            .await?
            .into_result()?;
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
}
