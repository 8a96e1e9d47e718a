//! Re-encrypting stored secrets after an `ENCRYPTION_KEY` rotation: the task behind `sigra reencrypt`.
//!
//! Rotation: put the new key in `ENCRYPTION_KEY` and the previous one in
//! `ENCRYPTION_KEY_OLD` (values sealed with either keep opening), deploy,
//! then run [`reencrypt_mfa_secrets`] (`sigra reencrypt`) until it reports
//! nothing left to do; after that the old key can be removed.
//!
//! The walk is built to run while the app serves traffic and to be stopped
//! and started at will:
//!
//! - **Batches, keyset-paginated by user id** ([`MfaStore::mfa_secrets_page`]):
//!   each page starts after the last id of the previous one, so memory stays
//!   flat, and a walk can resume from any id ([`ReencryptProgress::last`]).
//! - **Skips what is current** ([`FieldCipher::is_current_key`], no
//!   decryption needed), so a rerun only does what is left.
//! - **Compare-and-swap per row** ([`MfaStore::replace_mfa_secret`]): a row
//!   that changed between the read and the write (the user re-enrolled, or
//!   another run got there first) is never overwritten; it is read again and
//!   counted for what it now is.
//! - **A row that cannot be opened** (its key is in neither variable, or it
//!   was tampered with) is left untouched and counted as failed, and the
//!   walk goes on.
//!
//! Today the only encrypted column is `user_mfa_credentials.secret_encrypted`.

use crate::encryption::{EncryptionError, FieldCipher};
use crate::ids::UserId;
use crate::store::{MfaStore, StoreError};

/// Rows read per page by default.
pub const DEFAULT_BATCH_SIZE: u32 = 500;

/// How many failed rows a [`ReencryptProgress`] names (the count goes on).
pub const MAX_LISTED_FAILURES: usize = 20;

/// How often a row that keeps changing under the walk is tried.
const ATTEMPTS: usize = 3;

/// The associated data binding a sealed TOTP secret to its owner's row:
/// `user_mfa_credentials.secret_encrypted:<user id>`.
pub fn mfa_secret_aad(user: UserId) -> Vec<u8> {
    format!("user_mfa_credentials.secret_encrypted:{user}").into_bytes()
}

/// What a walk has done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReencryptProgress {
    /// Rows read.
    pub scanned: u64,
    /// Rows rewritten with the current key.
    pub reencrypted: u64,
    /// Rows that were already sealed with the current key (including rows
    /// the app rewrote with it while the walk ran).
    pub already_current: u64,
    /// Rows deleted while the walk ran (MFA disabled, account deleted).
    pub gone: u64,
    /// Rows that could not be opened, or kept changing; left as they were.
    pub failed: u64,
    /// The first [`MAX_LISTED_FAILURES`] failed rows and why (never a secret).
    pub failures: Vec<(UserId, ReencryptFailure)>,
    /// The last user id read: pass it as `after` to resume the walk there.
    pub last: Option<UserId>,
}

/// Why one row was not re-encrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReencryptFailure {
    /// The stored value does not open with `ENCRYPTION_KEY` or `ENCRYPTION_KEY_OLD`.
    Open(EncryptionError),
    /// Sealing with the current key failed (no randomness).
    Seal(EncryptionError),
    /// The row changed under the walk on every attempt.
    KeptChanging,
}

impl std::fmt::Display for ReencryptFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Open(e) => write!(f, "cannot open it: {e}"),
            Self::Seal(e) => write!(f, "cannot seal it: {e}"),
            Self::KeptChanging => f.write_str("it kept changing while the walk ran"),
        }
    }
}

impl ReencryptProgress {
    fn fail(&mut self, user: UserId, why: ReencryptFailure) {
        self.failed += 1;
        if self.failures.len() < MAX_LISTED_FAILURES {
            self.failures.push((user, why));
        }
    }
}

/// A store failure stopped the walk; what was done before it still stands.
#[derive(Debug, thiserror::Error)]
#[error("re-encryption stopped after {} rows: {source}", .progress.scanned)]
pub struct ReencryptError {
    /// The store's error.
    #[source]
    pub source: StoreError,
    /// What the walk had done; resume after [`ReencryptProgress::last`].
    pub progress: ReencryptProgress,
}

/// Re-encrypts every sealed TOTP secret not sealed with `cipher`'s current
/// key, `batch_size` rows per page, starting after `after` (from the start
/// when `None`). `on_page` is called after each page with the totals so far.
///
/// See the [module docs](self) for the guarantees.
pub async fn reencrypt_mfa_secrets(
    store: &dyn MfaStore,
    cipher: &FieldCipher,
    after: Option<UserId>,
    batch_size: u32,
    mut on_page: impl FnMut(&ReencryptProgress),
) -> Result<ReencryptProgress, ReencryptError> {
    let mut progress = ReencryptProgress {
        last: after,
        ..ReencryptProgress::default()
    };
    loop {
        let page = match store
            .mfa_secrets_page(progress.last, batch_size.max(1))
            .await
        {
            Ok(page) => page,
            Err(source) => return Err(ReencryptError { source, progress }),
        };
        let Some(&(last, _)) = page.last() else {
            return Ok(progress);
        };
        for (user, sealed) in page {
            progress.scanned += 1;
            if let Err(source) = reencrypt_row(store, cipher, user, sealed, &mut progress).await {
                return Err(ReencryptError { source, progress });
            }
        }
        progress.last = Some(last);
        on_page(&progress);
    }
}

/// One row: skip it if current, else open, seal and swap; on a lost swap,
/// read it again and decide anew.
async fn reencrypt_row(
    store: &dyn MfaStore,
    cipher: &FieldCipher,
    user: UserId,
    mut sealed: String,
    progress: &mut ReencryptProgress,
) -> Result<(), StoreError> {
    let aad = mfa_secret_aad(user);
    for _ in 0..ATTEMPTS {
        if cipher.is_current_key(&sealed) {
            progress.already_current += 1;
            return Ok(());
        }
        let plain = match cipher.decrypt(&sealed, &aad) {
            Ok(plain) => plain,
            Err(e) => {
                tracing::warn!(name: "sigra.reencrypt.row", outcome = "failed", user = %user, error = %e);
                progress.fail(user, ReencryptFailure::Open(e));
                return Ok(());
            }
        };
        let resealed = match cipher.encrypt(&plain, &aad) {
            Ok(resealed) => resealed,
            Err(e) => {
                progress.fail(user, ReencryptFailure::Seal(e));
                return Ok(());
            }
        };
        drop(plain);
        if store.replace_mfa_secret(user, &sealed, &resealed).await? {
            progress.reencrypted += 1;
            return Ok(());
        }
        // Lost the swap: someone wrote the row since we read it.
        match store.mfa_credential(user).await? {
            Some(credential) => sealed = credential.secret_encrypted,
            None => {
                progress.gone += 1;
                return Ok(());
            }
        }
    }
    progress.fail(user, ReencryptFailure::KeptChanging);
    Ok(())
}
