//! Passwords: hashing and checking them on the pool, and changing one.

use secrecy::SecretString;

use super::error::AuthError;
use super::mail::PASSWORD_CHANGED;
use super::service::Auth;
use crate::ids::UserId;
use crate::model::{AuditAction, AuditEvent, User};
use crate::password::PasswordHash;
use crate::token::RawToken;

impl Auth {
    /// Hashes a password on the pool.
    pub async fn hash_password(&self, password: &SecretString) -> Result<PasswordHash, AuthError> {
        let password = password.clone();
        self.inner
            .pool
            .run(move |h| h.hash(&password))
            .await?
            .map_err(AuthError::Hasher)
    }

    /// Checks `password` against the user's hash on the pool; for users
    /// without a hash it spends the same time on a dummy verification.
    pub(super) async fn verify_password(
        &self,
        user: Option<&User>,
        password: &SecretString,
    ) -> Result<bool, AuthError> {
        let password = password.clone();
        let hash = user.and_then(|u| u.password_hash.clone());
        self.inner
            .pool
            .run(move |h| match hash {
                Some(hash) => h.verify(&password, &hash),
                None => {
                    h.dummy_verify(&password);
                    Ok(false)
                }
            })
            .await?
            .map_err(AuthError::Hasher)
    }

    /// Changes the password after checking the current one. Keeps the
    /// session whose token is `current`; deletes every other session and every
    /// email token of the user, atomically; trust cookies and log-ins in
    /// progress die with the old password. The check of the current password
    /// counts toward the per-user lockout ([`AuthError::Locked`] while
    /// locked). Returns how many sessions ended.
    pub async fn change_password(
        &self,
        user_id: UserId,
        current: &RawToken,
        current_password: &SecretString,
        new_password: &SecretString,
    ) -> Result<u64, AuthError> {
        let user = self.load_user(user_id).await?;
        self.check_password_counted(&user, current_password, None)
            .await?
            .into_result()?;
        self.inner
            .policy
            .validate(new_password)
            .map_err(AuthError::WeakPassword)?;
        let hash = self.hash_password(new_password).await?;
        let now = self.now();
        let deleted = self
            .inner
            .store
            .change_password(user_id, &hash, Some(current.hash()), now)
            .await?;
        let event = AuditEvent::new(AuditAction::PasswordChange, Some(user_id), now)
            .with("sessions_deleted", deleted.to_string());
        self.audit(event.clone()).await?;
        tracing::info!(name: "sigra.auth.password_change", outcome = "ok");
        self.notify(&user.email, &PASSWORD_CHANGED, &event).await;
        Ok(deleted)
    }
}
