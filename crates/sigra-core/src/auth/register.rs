//! Registration: a new account from an email address and a password.

use secrecy::SecretString;

use super::address::{is_valid_email, normalize_email};
use super::error::AuthError;
use super::mail::ACCOUNT_EXISTS;
use super::service::Auth;
use crate::ids::UserId;
use crate::model::{AuditEvent, User};
use crate::store::StoreError;

/// A per-message idempotency suffix from the time (microseconds).
fn uuid_like(now: chrono::DateTime<chrono::Utc>) -> i64 {
    now.timestamp_micros()
}

impl Auth {
    /// Registers a user: normalises the email, checks it and the password
    /// policy, hashes the password on the pool and stores the user.
    pub async fn register(&self, email: &str, password: &SecretString) -> Result<User, AuthError> {
        let started = self.now();
        let result = self.register_inner(email, password).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(AuthError::EmailTaken) => "email_taken",
            Err(AuthError::InvalidEmail | AuthError::WeakPassword(_)) => "invalid",
            Err(_) => "error",
        };
        tracing::info!(name: "sigra.auth.register", outcome, latency_ms = self.elapsed_ms(started));
        result
    }

    /// Registration when `require_confirmation` is on: answers a taken
    /// address exactly as a new one, so the caller cannot tell them apart.
    ///
    /// A new address gets its account (which cannot log in until confirmed)
    /// and a confirmation link. A taken address costs the same password hash
    /// and one mail, a notice to the existing owner with links to log in or
    /// reset the password; no account changes.
    ///
    /// # Errors
    ///
    /// [`AuthError::InvalidEmail`] and [`AuthError::WeakPassword`] (they
    /// say nothing about other accounts), and failures that are not the
    /// caller's. A mail that cannot be sent is logged, not returned, on
    /// both paths.
    pub async fn register_unconfirmed(
        &self,
        email: &str,
        password: &SecretString,
    ) -> Result<(), AuthError> {
        match self.register(email, password).await {
            Ok(user) => {
                if let Err(e) = self.send_confirmation(&user).await {
                    tracing::warn!(name: "sigra.mail.confirmation", outcome = "error", error = %e);
                }
                Ok(())
            }
            Err(AuthError::EmailTaken) => {
                // The same Argon2 work a new account costs.
                let _unused = self.hash_password(password).await?;
                let to = normalize_email(email);
                if let Err(e) = self.mail_account_exists(&to).await {
                    tracing::warn!(name: "sigra.mail.account_exists", outcome = "error", error = %e);
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Mails a new confirmation link when `email` has a live account that is
    /// not confirmed yet; does nothing otherwise. Answers the same either
    /// way (callers limit it per address).
    ///
    /// # Errors
    ///
    /// Failures that are not the caller's (store, mailer).
    pub async fn resend_confirmation(&self, email: &str) -> Result<(), AuthError> {
        let email = normalize_email(email);
        match self.inner.store.user_by_email(&email).await? {
            Some(user) if user.confirmed_at.is_none() && user.deletion_scheduled_at.is_none() => {
                self.send_confirmation(&user).await
            }
            _ => Ok(()),
        }
    }

    /// Mails `to` (which has an account) the registration-attempt notice.
    async fn mail_account_exists(&self, to: &str) -> Result<(), AuthError> {
        let base = self
            .inner
            .config
            .endpoints
            .public_url
            .as_str()
            .trim_end_matches('/');
        let key = format!("{}-{}", ACCOUNT_EXISTS.0, uuid_like(self.now()));
        let email = crate::mail::link_email(
            to,
            ACCOUNT_EXISTS.1,
            &format!(
                "Someone tried to register a new Sigra account with this address, which \
                 already has one, so nothing was created. If it was you, log in instead; \
                 if you forgot the password, reset it at {base}/users/reset-password. \
                 If it was not you, you can ignore this message."
            ),
            "Log in",
            &format!("{base}/users/log-in"),
            key,
        );
        self.inner.mailer.send(email).await?;
        Ok(())
    }

    async fn register_inner(
        &self,
        email: &str,
        password: &SecretString,
    ) -> Result<User, AuthError> {
        let email = normalize_email(email);
        if !is_valid_email(&email) {
            return Err(AuthError::InvalidEmail);
        }
        self.inner
            .policy
            .validate(password)
            .map_err(AuthError::WeakPassword)?;
        // Cheap check first, so duplicates do not cost an Argon2 hash. The
        // unique index still decides under concurrency.
        if self.inner.store.user_by_email(&email).await?.is_some() {
            return Err(AuthError::EmailTaken);
        }
        let hash = self.hash_password(password).await?;
        let now = self.now();
        let user = User::new(UserId::new(now), email, Some(hash), now);
        // The user and its audit event are one transaction.
        match self
            .inner
            .store
            .insert_user(&user, &AuditEvent::register(&user))
            .await
        {
            Ok(()) => Ok(user),
            Err(StoreError::DuplicateEmail) => Err(AuthError::EmailTaken),
            Err(e) => Err(e.into()),
        }
    }
}
