//! Log-in: checking an email and password, with lockout and rehashing.

use secrecy::SecretString;

use super::address::{is_valid_email, normalize_email};
use super::error::AuthError;
use super::service::{Auth, delta};
use crate::ids::UserId;
use crate::model::{AuditAction, AuditEvent, SessionMeta, User};

impl Auth {
    /// Checks an email and password.
    ///
    /// An unknown email and a wrong password give the same error,
    /// [`AuthError::InvalidCredentials`], after the same work (one lookup and
    /// one Argon2 verification). After `lockout_threshold` consecutive
    /// failures the account is locked for `lockout_duration`; while locked,
    /// [`AuthError::Locked`] is returned without checking the password. A
    /// correct password clears the failure count and rehashes the password
    /// when the hasher's parameters changed.
    pub async fn authenticate(
        &self,
        email: &str,
        password: &SecretString,
        meta: &SessionMeta,
    ) -> Result<User, AuthError> {
        let started = self.now();
        let result = self.authenticate_inner(email, password, meta).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(AuthError::InvalidCredentials) => "invalid_credentials",
            Err(AuthError::Locked { .. }) => "locked",
            Err(AuthError::Busy(_)) => "busy",
            Err(_) => "error",
        };
        tracing::info!(name: "sigra.auth.login", outcome, latency_ms = self.elapsed_ms(started));
        crate::telemetry::login(outcome, self.now() - started);
        result
    }

    async fn authenticate_inner(
        &self,
        email: &str,
        password: &SecretString,
        meta: &SessionMeta,
    ) -> Result<User, AuthError> {
        let email = normalize_email(email);
        let user = if is_valid_email(&email) {
            self.inner.store.user_by_email(&email).await?
        } else {
            None
        };
        let now = self.now();
        let failure = |user_id: Option<UserId>, reason: &str| {
            AuditEvent::new(AuditAction::LoginFailure, user_id, now)
                .with("reason", reason)
                .with_ip(meta.ip.clone())
        };

        let Some(user) = user else {
            self.verify_password(None, password).await?;
            self.audit(failure(None, "invalid_credentials")).await?;
            return Err(AuthError::InvalidCredentials);
        };
        if let Some(until) = user.locked_until.filter(|until| *until > now) {
            // Same cost as a real attempt, so a lock is not a timing oracle for existence.
            self.verify_password(None, password).await?;
            self.audit(failure(Some(user.id), "locked")).await?;
            return Err(AuthError::Locked { until });
        }
        if !self.verify_password(Some(&user), password).await? {
            let cfg = &self.inner.config;
            let threshold = i32::try_from(cfg.password.lockout_threshold).unwrap_or(i32::MAX);
            let count = self
                .inner
                .store
                .record_login_failure(
                    user.id,
                    now,
                    threshold,
                    delta(cfg.password.lockout_duration),
                )
                .await?;
            self.audit(
                failure(Some(user.id), "invalid_credentials")
                    .with("count", count.failed_login_count.to_string()),
            )
            .await?;
            if count.failed_login_count == threshold {
                self.audit(
                    AuditEvent::new(AuditAction::Lockout, Some(user.id), now)
                        .with_ip(meta.ip.clone()),
                )
                .await?;
                tracing::warn!(name: "sigra.auth.lockout", user_id = %user.id);
            }
            return Err(AuthError::InvalidCredentials);
        }

        if user.deletion_scheduled_at.is_some() {
            self.audit(failure(Some(user.id), "deletion_scheduled"))
                .await?;
            return Err(AuthError::DeletionScheduled);
        }
        if user.failed_login_count != 0 || user.locked_until.is_some() {
            self.inner.store.clear_login_failures(user.id).await?;
        }
        let mut user = user;
        if let Some(old) = &user.password_hash
            && self.inner.pool.hasher().needs_rehash(old)
        {
            let fresh = self.hash_password(password).await?;
            self.inner
                .store
                .set_password_hash(user.id, &fresh, now)
                .await?;
            user.password_hash = Some(fresh);
        }
        user.failed_login_count = 0;
        user.locked_until = None;
        self.audit(
            AuditEvent::new(AuditAction::LoginSuccess, Some(user.id), now).with_ip(meta.ip.clone()),
        )
        .await?;
        Ok(user)
    }
}
