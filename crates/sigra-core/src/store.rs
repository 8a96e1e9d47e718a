//! The storage ports: what a backend must do, and what it must guarantee.
//!
//! `sigra-store-sqlite` and `sigra-store-postgres` implement these traits; the
//! conformance suite in `tests/` (crate `sigra-tests`, module `conformance`)
//! checks every guarantee below against every backend. A new backend is done
//! when that suite passes against it.
//!
//! Guarantees common to every port:
//! - **Only hashes are stored.** Methods receive [`TokenHash`]es and never a raw token.
//! - **"Not found" is not an error.** Lookups return `Ok(None)`; deletions
//!   return how many rows they removed. `Err` means the backend failed.
//! - **Timestamps round-trip** to at least microsecond precision.
//! - Methods documented as atomic must be a single statement or one
//!   transaction: concurrent callers never lose an update or both "win".

use std::fmt::Debug;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::ids::{SessionId, UserId};
use crate::model::{AuditEvent, EmailToken, MfaCredential, Session, User};
use crate::password::PasswordHash;
use crate::token::{TokenContext, TokenHash};

/// Errors a store reports.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The email is already taken by a non-deleted user (compared case-insensitively).
    #[error("an account with this email already exists")]
    DuplicateEmail,
    /// A token hash collided with an existing row (practically impossible with
    /// 256-bit tokens; reported rather than overwritten).
    #[error("a token with this hash already exists")]
    DuplicateToken,
    /// The row the operation needs does not exist (e.g. incrementing the trust
    /// epoch of a deleted user).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The backend failed (connection lost, timeout, constraint, …). The
    /// source is the backend's own error, kept whole.
    #[error("the database failed: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// Wraps a backend error without flattening it.
    pub fn backend(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Backend(Box::new(e))
    }
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// The outcome of recording a failed log-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureCount {
    /// Consecutive failures, including this one.
    pub failed_login_count: i32,
    /// Set when this failure reached the threshold (or an earlier lock still holds).
    pub locked_until: Option<DateTime<Utc>>,
}

/// Users.
#[async_trait]
pub trait UserStore: Send + Sync + Debug {
    /// Inserts a user. The email must already be normalised. A second
    /// non-deleted user with the same email, compared case-insensitively,
    /// is refused with [`StoreError::DuplicateEmail`] — also under concurrent inserts.
    async fn insert_user(&self, user: &User) -> StoreResult<()>;

    /// The user with this id, or `None`.
    async fn user_by_id(&self, id: UserId) -> StoreResult<Option<User>>;

    /// The non-deleted user with this email (case-insensitive), or `None`.
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>>;

    /// Replaces the password hash (rehash on log-in). Returns whether a row changed.
    async fn set_password_hash(
        &self,
        id: UserId,
        hash: &PasswordHash,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Atomically: sets the new password hash, deletes every session of the
    /// user except `keep` (if given), and deletes every email token of the
    /// user. Returns the number of sessions deleted.
    async fn change_password(
        &self,
        id: UserId,
        hash: &PasswordHash,
        keep: Option<TokenHash>,
        now: DateTime<Utc>,
    ) -> StoreResult<u64>;

    /// Atomically records one failed log-in: when a previous lock has expired
    /// the count restarts at 1; when the count reaches `threshold` the user is
    /// locked until `now + lock_for`. Concurrent failures are all counted.
    async fn record_login_failure(
        &self,
        id: UserId,
        now: DateTime<Utc>,
        threshold: i32,
        lock_for: chrono::TimeDelta,
    ) -> StoreResult<FailureCount>;

    /// Clears the failure count and any lock (after a successful log-in).
    async fn clear_login_failures(&self, id: UserId) -> StoreResult<()>;

    /// Atomically increments `mfa_trust_epoch` in one statement and returns
    /// the new value; [`StoreError::NotFound`] when the user does not exist.
    /// N concurrent calls raise the epoch by exactly N.
    async fn increment_trust_epoch(&self, id: UserId) -> StoreResult<i64>;

    /// Marks the email address confirmed at `now`. Returns whether a row changed.
    async fn confirm_email(&self, id: UserId, now: DateTime<Utc>) -> StoreResult<bool>;

    /// Atomically: sets the (normalised) new email, marks it confirmed at
    /// `now`, deletes every session and every email token of the user.
    /// [`StoreError::DuplicateEmail`] when another live account has it (and
    /// then nothing changes); [`StoreError::NotFound`] for an unknown user.
    /// Returns the number of sessions deleted.
    async fn change_email(&self, id: UserId, email: &str, now: DateTime<Utc>) -> StoreResult<u64>;

    /// Atomically: sets `deletion_scheduled_at = at`, deletes every session
    /// and every email token of the user. [`StoreError::NotFound`] for an
    /// unknown user. Returns the number of sessions deleted.
    async fn schedule_deletion(
        &self,
        id: UserId,
        at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<u64>;

    /// Clears a scheduled deletion. Returns whether one was scheduled.
    async fn cancel_deletion(&self, id: UserId, now: DateTime<Utc>) -> StoreResult<bool>;

    /// Deletes the user; sessions, email tokens, MFA credentials and backup
    /// codes go with it (cascade). Audit rows stay, with their user id. Returns
    /// whether the user existed.
    async fn delete_user(&self, id: UserId) -> StoreResult<bool>;
}

/// Sessions (`user_sessions`).
#[async_trait]
pub trait SessionStore: Send + Sync + Debug {
    /// Inserts a session row; a duplicate token hash is [`StoreError::DuplicateToken`].
    async fn insert_session(&self, session: &Session) -> StoreResult<()>;

    /// The session with this token hash and its user, in **one** indexed
    /// query (a join): this is the per-request hot path.
    async fn session_with_user(&self, hash: &TokenHash) -> StoreResult<Option<(Session, User)>>;

    /// Sets `last_active_at`, only moving it forward.
    async fn touch_session(&self, id: SessionId, now: DateTime<Utc>) -> StoreResult<()>;

    /// Records that the password was re-entered in this session.
    async fn set_sudo(&self, id: SessionId, now: DateTime<Utc>) -> StoreResult<()>;

    /// Deletes the session with this token hash, returning its owner if it existed.
    async fn delete_session_by_hash(&self, hash: &TokenHash) -> StoreResult<Option<UserId>>;

    /// Deletes every session of `user` except the one with hash `keep`, in one
    /// statement. Once it returns, no deleted session is returned by
    /// [`SessionStore::session_with_user`]. Returns the number deleted.
    async fn delete_user_sessions(&self, user: UserId, keep: Option<TokenHash>)
    -> StoreResult<u64>;

    /// The user's sessions, newest first.
    async fn list_user_sessions(&self, user: UserId) -> StoreResult<Vec<Session>>;
}

/// Single-use email tokens (`user_tokens`).
#[async_trait]
pub trait EmailTokenStore: Send + Sync + Debug {
    /// Inserts a token row.
    async fn insert_email_token(&self, token: &EmailToken) -> StoreResult<()>;

    /// Atomically removes and returns the token with this hash and context:
    /// of two concurrent calls, at most one gets `Some`.
    async fn take_email_token(
        &self,
        hash: &TokenHash,
        context: TokenContext,
    ) -> StoreResult<Option<EmailToken>>;

    /// Deletes the user's tokens of `context`, or all of them when `None`.
    async fn delete_user_email_tokens(
        &self,
        user: UserId,
        context: Option<TokenContext>,
    ) -> StoreResult<u64>;
}

/// TOTP credentials and backup codes.
#[async_trait]
pub trait MfaStore: Send + Sync + Debug {
    /// Inserts or replaces the user's credential.
    async fn upsert_mfa_credential(&self, credential: &MfaCredential) -> StoreResult<()>;

    /// The user's credential, or `None`.
    async fn mfa_credential(&self, user: UserId) -> StoreResult<Option<MfaCredential>>;

    /// Marks the credential confirmed and the user's MFA enabled, atomically.
    async fn confirm_mfa(&self, user: UserId, step: i64, now: DateTime<Utc>) -> StoreResult<bool>;

    /// Atomically records `step` as used only if it is newer than the stored
    /// last used step. Returns `false` when it is not (a replay, or a
    /// concurrent use of the same code): of two concurrent calls with the same
    /// step, exactly one gets `true`.
    async fn use_totp_step(&self, user: UserId, step: i64) -> StoreResult<bool>;

    /// Atomically records one failed second-factor attempt, with the same
    /// arithmetic as [`UserStore::record_login_failure`] on the credential's
    /// `failed_attempts` and `locked_until`. [`StoreError::NotFound`] without a credential.
    async fn record_mfa_failure(
        &self,
        user: UserId,
        now: DateTime<Utc>,
        threshold: i32,
        lock_for: chrono::TimeDelta,
    ) -> StoreResult<FailureCount>;

    /// Clears the failed-attempt count and lock of the credential.
    async fn clear_mfa_failures(&self, user: UserId) -> StoreResult<()>;

    /// Deletes the credential and backup codes, sets MFA off and increments
    /// the trust epoch, atomically.
    async fn disable_mfa(&self, user: UserId) -> StoreResult<()>;

    /// Replaces all of the user's backup codes with these hashes, atomically.
    async fn replace_backup_codes(
        &self,
        user: UserId,
        hashes: &[[u8; 32]],
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// Atomically consumes the unused backup code with this hash: of two
    /// concurrent calls, exactly one gets `true`.
    async fn consume_backup_code(
        &self,
        user: UserId,
        hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// How many unused backup codes remain.
    async fn remaining_backup_codes(&self, user: UserId) -> StoreResult<u64>;
}

/// The audit log (`audit_events`).
#[async_trait]
pub trait AuditStore: Send + Sync + Debug {
    /// Appends an event.
    async fn record_audit(&self, event: &AuditEvent) -> StoreResult<()>;

    /// The user's most recent events, newest first.
    async fn audit_for_user(&self, user: UserId, limit: u32) -> StoreResult<Vec<AuditEvent>>;
}

/// Everything the [`Auth`](crate::auth::Auth) service needs from a backend.
#[async_trait]
pub trait Store: UserStore + SessionStore + EmailTokenStore + MfaStore + AuditStore {
    /// Checks that the database answers (for `/health`).
    async fn ping(&self) -> StoreResult<()>;
}
