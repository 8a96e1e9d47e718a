//! Registration: a new account from an email address and a password.

use secrecy::SecretString;

use super::address::{is_valid_email, normalize_email};
use super::error::AuthError;
use super::service::Auth;
use crate::ids::UserId;
use crate::model::{AuditEvent, User};
use crate::store::StoreError;

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
