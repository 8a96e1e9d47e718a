//! MFA flows: TOTP enrolment, the second-factor check with lockout, backup
//! codes, "trust this browser" cookies (and revoking them all) and
//! disabling MFA.

use secrecy::SecretString;

use super::error::AuthError;
use super::mail::MFA_DISABLED;
use super::service::{Auth, delta};
use crate::encryption::FieldCipher;
use crate::ids::UserId;
use crate::mfa::{self, BackupCode, TotpSecret};
use crate::model::{AuditAction, AuditEvent, MfaCredential, User};
use crate::store::StoreError;
use crate::trust;

/// What a user needs to add Sigra to an authenticator app. Shown once.
#[derive(Debug)]
pub struct MfaEnrollment {
    /// The secret in base32, for typing into an app.
    pub secret_base32: SecretString,
    /// The `otpauth://` URI (it contains the secret), for a QR code.
    pub otpauth_uri: SecretString,
}

/// Which second factor was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactor {
    /// A TOTP code from an authenticator app.
    Totp,
    /// A single-use backup code (now consumed).
    BackupCode,
}

/// The associated data binding a sealed TOTP secret to its owner's row
/// (shared with the re-encryption task).
fn secret_aad(user: UserId) -> Vec<u8> {
    crate::reencrypt::mfa_secret_aad(user)
}

impl Auth {
    fn cipher(&self) -> Result<&FieldCipher, AuthError> {
        self.inner
            .cipher
            .as_ref()
            .ok_or(AuthError::EncryptionKeyMissing)
    }

    fn open_secret(&self, credential: &MfaCredential) -> Result<TotpSecret, AuthError> {
        let bytes = self
            .cipher()?
            .decrypt(
                &credential.secret_encrypted,
                &secret_aad(credential.user_id),
            )
            .map_err(AuthError::Encryption)?;
        TotpSecret::from_bytes(bytes.to_vec()).map_err(|_| AuthError::MfaNotEnabled)
    }

    /// Starts TOTP enrolment: a new secret, stored encrypted and pending until
    /// [`Auth::confirm_mfa_enrollment`]. Starting again replaces a pending secret.
    pub async fn begin_mfa_enrollment(&self, user: &User) -> Result<MfaEnrollment, AuthError> {
        if user.mfa_enabled {
            return Err(AuthError::MfaAlreadyEnabled);
        }
        let secret =
            TotpSecret::generate().map_err(|_| AuthError::Random(crate::random::RandomError))?;
        let sealed = self
            .cipher()?
            .encrypt(secret.expose_bytes(), &secret_aad(user.id))
            .map_err(AuthError::Encryption)?;
        self.inner
            .store
            .upsert_mfa_credential(&MfaCredential::new(user.id, sealed, self.now()))
            .await?;
        let otpauth_uri = mfa::otpauth_uri(&secret, &self.inner.config.mfa.issuer, &user.email)
            .map_err(|_| AuthError::InvalidEmail)?;
        Ok(MfaEnrollment {
            secret_base32: secret.to_base32(),
            otpauth_uri,
        })
    }

    /// Confirms enrolment with a code from the app: enables MFA and returns
    /// fresh backup codes (shown once; only their hashes are stored).
    pub async fn confirm_mfa_enrollment(
        &self,
        user: &User,
        code: &str,
    ) -> Result<Vec<BackupCode>, AuthError> {
        if user.mfa_enabled {
            return Err(AuthError::MfaAlreadyEnabled);
        }
        let credential = self
            .inner
            .store
            .mfa_credential(user.id)
            .await?
            .ok_or(AuthError::MfaNotEnabled)?;
        let secret = self.open_secret(&credential)?;
        let now = self.now();
        let step =
            mfa::verify_totp(&secret, code, now, None).map_err(|_| AuthError::InvalidCode)?;
        let step = i64::try_from(step).map_err(|_| AuthError::InvalidCode)?;
        let confirmed = self.inner.store.confirm_mfa(user.id, step, now).await;
        if !confirmed? {
            return Err(AuthError::MfaNotEnabled);
        }
        let codes = self.store_new_backup_codes(user.id).await?;
        let event = AuditEvent::new(AuditAction::MfaEnroll, Some(user.id), now);
        self.audit(event.clone()).await?;
        tracing::info!(name: "sigra.mfa.enroll", outcome = "ok");
        self.notify(&user.email, &super::mail::MFA_ENABLED, &event)
            .await;
        Ok(codes)
    }

    async fn store_new_backup_codes(&self, user: UserId) -> Result<Vec<BackupCode>, AuthError> {
        let codes = mfa::generate_backup_codes(self.inner.config.mfa.backup_code_count)
            .map_err(|_| AuthError::Random(crate::random::RandomError))?;
        let keys = self.inner.keys.purpose(mfa::BACKUP_CODE_KEY_PURPOSE);
        let hashes: Vec<[u8; 32]> = codes.iter().map(|c| c.keyed_hash(keys.current())).collect();
        self.inner
            .store
            .replace_backup_codes(user, &hashes, self.now())
            .await?;
        Ok(codes)
    }

    /// Replaces the user's backup codes; the old ones stop working at once.
    pub async fn regenerate_backup_codes(&self, user: &User) -> Result<Vec<BackupCode>, AuthError> {
        if !user.mfa_enabled {
            return Err(AuthError::MfaNotEnabled);
        }
        let codes = self.store_new_backup_codes(user.id).await?;
        self.audit(AuditEvent::new(
            AuditAction::BackupCodesRegenerated,
            Some(user.id),
            self.now(),
        ))
        .await?;
        Ok(codes)
    }

    /// How many unused backup codes the user has left.
    pub async fn remaining_backup_codes(&self, user: UserId) -> Result<u64, AuthError> {
        Ok(self.inner.store.remaining_backup_codes(user).await?)
    }

    /// Checks a second factor: a TOTP code (±1 step, never a step already
    /// used) or an unused backup code (consumed atomically). After
    /// `lockout_threshold` wrong codes, codes are refused for
    /// `lockout_duration` ([`AuthError::MfaLocked`]).
    pub async fn verify_second_factor(
        &self,
        user: &User,
        code: &str,
    ) -> Result<SecondFactor, AuthError> {
        let started = self.now();
        let result = self.verify_second_factor_inner(user, code).await;
        let outcome = match &result {
            Ok(SecondFactor::Totp) => "ok_totp",
            Ok(SecondFactor::BackupCode) => "ok_backup_code",
            Err(AuthError::InvalidCode) => "invalid_code",
            Err(AuthError::MfaLocked { .. }) => "locked",
            Err(_) => "error",
        };
        tracing::info!(name: "sigra.mfa.challenge", outcome, latency_ms = self.elapsed_ms(started));
        crate::telemetry::mfa_challenge(outcome);
        result
    }

    async fn verify_second_factor_inner(
        &self,
        user: &User,
        code: &str,
    ) -> Result<SecondFactor, AuthError> {
        let store = &self.inner.store;
        let credential = store.mfa_credential(user.id).await?;
        let credential = credential
            .filter(|c| c.confirmed_at.is_some() && user.mfa_enabled)
            .ok_or(AuthError::MfaNotEnabled)?;
        let now = self.now();
        if let Some(until) = credential.locked_until.filter(|until| *until > now) {
            return Err(AuthError::MfaLocked { until });
        }
        let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        let accepted =
            if digits.len() == mfa::TOTP_DIGITS && digits.bytes().all(|b| b.is_ascii_digit()) {
                let secret = self.open_secret(&credential)?;
                let last = credential
                    .last_used_step
                    .and_then(|s| u64::try_from(s).ok());
                match mfa::verify_totp(&secret, &digits, now, last) {
                    // The store has the last word: of two concurrent uses of one step, one wins.
                    Ok(step) => match i64::try_from(step) {
                        Ok(step) if store.use_totp_step(user.id, step).await? => {
                            Some(SecondFactor::Totp)
                        }
                        _ => None,
                    },
                    Err(_) => None,
                }
            } else {
                self.consume_backup_code(user.id, code, now).await?
            };
        let Some(factor) = accepted else {
            let cfg = &self.inner.config;
            let threshold = i32::try_from(cfg.password.lockout_threshold).unwrap_or(i32::MAX);
            let count = store
                .record_mfa_failure(
                    user.id,
                    now,
                    threshold,
                    delta(cfg.password.lockout_duration),
                )
                .await?;
            self.audit(
                AuditEvent::new(AuditAction::MfaFailure, Some(user.id), now)
                    .with("count", count.failed_login_count.to_string()),
            )
            .await?;
            if count.failed_login_count == threshold {
                self.audit(
                    AuditEvent::new(AuditAction::Lockout, Some(user.id), now).with("factor", "mfa"),
                )
                .await?;
            }
            return Err(AuthError::InvalidCode);
        };
        if credential.failed_attempts != 0 || credential.locked_until.is_some() {
            store.clear_mfa_failures(user.id).await?;
        }
        let method = match factor {
            SecondFactor::Totp => "totp",
            SecondFactor::BackupCode => "backup_code",
        };
        self.audit(
            AuditEvent::new(AuditAction::MfaVerify, Some(user.id), now).with("method", method),
        )
        .await?;
        Ok(factor)
    }

    /// Consumes the backup code `code` of `user` if it is unused: its keyed
    /// hash under the current key, then (during a rotation) under
    /// `SECRET_KEY_BASE_OLD`'s. Each try is one atomic consumption in the
    /// store, and a stored code matches under one key only, so of two
    /// concurrent uses exactly one wins.
    async fn consume_backup_code(
        &self,
        user: UserId,
        code: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<SecondFactor>, AuthError> {
        let keys = self.inner.keys.purpose(mfa::BACKUP_CODE_KEY_PURPOSE);
        for key in keys.verification_keys() {
            let Some(hash) = mfa::hash_backup_code_input(code, key) else {
                return Ok(None);
            };
            if self
                .inner
                .store
                .consume_backup_code(user, &hash, now)
                .await?
            {
                return Ok(Some(SecondFactor::BackupCode));
            }
        }
        Ok(None)
    }

    /// A "trust this browser" cookie value for `user` at their current epoch.
    pub async fn grant_trusted_browser(&self, user: &User) -> Result<String, AuthError> {
        let now = self.now();
        let cookie = trust::sign(
            &self.inner.keys,
            user.id,
            user.mfa_trust_epoch,
            self.inner.config.mfa.trust_ttl,
            now,
        );
        self.audit(AuditEvent::new(
            AuditAction::MfaTrustGranted,
            Some(user.id),
            now,
        ))
        .await?;
        Ok(cookie)
    }

    /// Whether `cookie` lets `user` skip the second factor now: signature,
    /// TTL, user and current trust epoch must all match.
    pub fn is_trusted_browser(&self, user: &User, cookie: &str) -> bool {
        trust::verify(
            &self.inner.keys,
            cookie,
            user.id,
            user.mfa_trust_epoch,
            self.inner.config.mfa.trust_ttl,
            self.now(),
        )
        .is_ok()
    }

    /// [`Auth::is_trusted_browser`] with the reason and the rotation step:
    /// `Err` says why `cookie` does not let `user` skip the second factor;
    /// `Ok(None)` means it does; `Ok(Some(value))` means it does but verified
    /// only with `SECRET_KEY_BASE_OLD`, and `value` is the same trust (same
    /// user, epoch and issue time, so re-signing never extends it) signed
    /// with the current key, to send back as the new cookie.
    pub fn check_trusted_browser(
        &self,
        user: &User,
        cookie: &str,
    ) -> Result<Option<String>, trust::TrustError> {
        let ttl = self.inner.config.mfa.trust_ttl;
        let verified = trust::verify_detailed(
            &self.inner.keys,
            cookie,
            user.id,
            user.mfa_trust_epoch,
            ttl,
            self.now(),
        )?;
        Ok(verified.signed_with_old_key.then(|| {
            trust::sign(
                &self.inner.keys,
                user.id,
                user.mfa_trust_epoch,
                ttl,
                verified.issued_at,
            )
        }))
    }

    /// Turns MFA off: deletes the secret and backup codes and revokes every
    /// trusted browser (epoch + 1), atomically. Callers require sudo mode.
    pub async fn disable_mfa(&self, user: &User) -> Result<(), AuthError> {
        self.inner.store.disable_mfa(user.id).await?;
        let event = AuditEvent::new(AuditAction::MfaDisable, Some(user.id), self.now());
        self.audit(event.clone()).await?;
        tracing::info!(name: "sigra.mfa.disable", outcome = "ok");
        self.notify(&user.email, &MFA_DISABLED, &event).await;
        Ok(())
    }

    /// Revokes every "trust this browser" cookie of the user: one atomic
    /// increment of the trust epoch. Returns the new epoch.
    pub async fn revoke_all_trusted_browsers(&self, user_id: UserId) -> Result<i64, AuthError> {
        let now = self.now();
        let epoch = self.inner.store.increment_trust_epoch(user_id).await;
        let epoch = match epoch {
            Ok(epoch) => epoch,
            Err(StoreError::NotFound(_)) => return Err(AuthError::UserNotFound),
            Err(e) => return Err(e.into()),
        };
        self.audit(AuditEvent::new(
            AuditAction::MfaTrustRevoked,
            Some(user_id),
            now,
        ))
        .await?;
        tracing::info!(name: "sigra.mfa.trust.revoke_all", outcome = "ok");
        Ok(epoch)
    }

    /// The user's current trust epoch.
    pub async fn current_trust_epoch(&self, user_id: UserId) -> Result<i64, AuthError> {
        let user = self.load_user(user_id).await?;
        Ok(user.mfa_trust_epoch)
    }
}
