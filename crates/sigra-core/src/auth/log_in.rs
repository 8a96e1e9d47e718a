//! Log-in: checking an email and password, with lockout and rehashing.

use secrecy::SecretString;

use super::address::{is_valid_email, normalize_email};
use super::error::AuthError;
use super::lockout::Checked;
use super::service::Auth;
use crate::ids::UserId;
use crate::model::{AuditAction, AuditEvent, SessionMeta, User};

impl Auth {
    /// Checks an email and password.
    ///
    /// An unknown email and a wrong password give the same error,
    /// [`AuthError::InvalidCredentials`], after the same work (one lookup and
    /// one Argon2 verification). Every attempt on a known account counts
    /// toward its lock *before* the password is checked (see
    /// `check_password_counted` in `auth/lockout.rs` for why), so the limit
    /// holds under any concurrency: after `lockout_threshold` attempts the
    /// account is locked for `lockout_duration`, and until then
    /// [`AuthError::Locked`] is returned without checking the password — also
    /// for the right one. A correct password clears the count and rehashes
    /// the password when the hasher's parameters changed. The returned user
    /// carries the `session_epoch` read before the check, which
    /// [`Auth::create_session`] requires to be unchanged.
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
        match self
            .check_password_counted(&user, password, meta.ip.as_deref())
            .await?
        {
            Checked::Right => {}
            Checked::Wrong { count } => {
                self.audit(
                    failure(Some(user.id), "invalid_credentials").with("count", count.to_string()),
                )
                .await?;
                return Err(AuthError::InvalidCredentials);
            }
            Checked::Locked { until } => {
                self.audit(failure(Some(user.id), "locked")).await?;
                return Err(AuthError::Locked { until });
            }
        }

        if user.deletion_scheduled_at.is_some() {
            self.audit(failure(Some(user.id), "deletion_scheduled"))
                .await?;
            return Err(AuthError::DeletionScheduled);
        }
        // The check cleared the failure count.
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
