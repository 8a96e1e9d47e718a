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
use chrono::{DateTime, TimeDelta, Utc};
use thiserror::Error;

use crate::config::Config;
use crate::ids::{SessionId, UserId};
use crate::model::{
    AuditEvent, DeletionStrategy, EmailToken, MfaCredential, Session, SessionKind, User,
};
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
    /// Inserts a user and, in the same transaction, `audit` (its
    /// registration event): a crash never leaves an account without it. The
    /// email must already be normalised. A second non-deleted user with the
    /// same email, compared case-insensitively, is refused with
    /// [`StoreError::DuplicateEmail`] — also under concurrent inserts — and
    /// then `audit` is not written either.
    async fn insert_user(&self, user: &User, audit: &AuditEvent) -> StoreResult<()>;

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

    /// Atomically: sets the new password hash, increments `mfa_trust_epoch`
    /// (every "trust this browser" cookie dies) and `session_epoch` (a log-in
    /// in progress cannot insert its session), deletes every session of the
    /// user except `keep` (if given), and deletes every email token of the
    /// user. [`StoreError::NotFound`] for an unknown user. Returns the number
    /// of sessions deleted. Used for both a password change and a reset.
    async fn change_password(
        &self,
        id: UserId,
        hash: &PasswordHash,
        keep: Option<TokenHash>,
        now: DateTime<Utc>,
    ) -> StoreResult<u64>;

    /// Atomically counts one log-in attempt toward the lock: when a previous
    /// lock has expired the count restarts at 1; when the count reaches
    /// `threshold` the user is locked until `now + lock_for` (a lock that
    /// still holds is kept as it is). Concurrent attempts are all counted,
    /// each seeing its own count. The service counts an attempt **before**
    /// it checks the password (see `Auth::authenticate`), so this is also
    /// the atomic "may this attempt be checked at all" decision.
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
    /// `now`, increments `mfa_trust_epoch` and `session_epoch`, deletes every
    /// session and every email token of the user.
    /// [`StoreError::DuplicateEmail`] when another live account has it (and
    /// then nothing changes); [`StoreError::NotFound`] for an unknown user.
    /// Returns the number of sessions deleted.
    async fn change_email(&self, id: UserId, email: &str, now: DateTime<Utc>) -> StoreResult<u64>;

    /// Atomically: sets `deletion_scheduled_at = at`, increments
    /// `session_epoch`, deletes every session and every email token of the
    /// user. [`StoreError::NotFound`] for an unknown user. Returns the number
    /// of sessions deleted.
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
    /// Inserts a session row only if its user's `session_epoch` is still
    /// `session_epoch` (the value read when the password was checked), in
    /// one statement: returns `false` and inserts nothing when it changed
    /// or the user does not exist. A concurrent write that increments the
    /// epoch and deletes the user's sessions (password change or reset,
    /// email change, log-out-everywhere, scheduled deletion) either deletes
    /// this row or makes this insert fail: a log-in in progress never
    /// outlives it. A duplicate token hash is [`StoreError::DuplicateToken`].
    /// Checked by the conformance suite (`sessions::insert_session_*`).
    async fn insert_session(&self, session: &Session, session_epoch: i64) -> StoreResult<bool>;

    /// The session with this token hash and its user, in **one** indexed
    /// query (a join): this is the per-request hot path.
    async fn session_with_user(&self, hash: &TokenHash) -> StoreResult<Option<(Session, User)>>;

    /// Sets `last_active_at`, only moving it forward.
    async fn touch_session(&self, id: SessionId, now: DateTime<Utc>) -> StoreResult<()>;

    /// Records that the password was re-entered in this session.
    async fn set_sudo(&self, id: SessionId, now: DateTime<Utc>) -> StoreResult<()>;

    /// Deletes the session with this token hash, returning its owner if it existed.
    async fn delete_session_by_hash(&self, hash: &TokenHash) -> StoreResult<Option<UserId>>;

    /// Deletes every session of `user` except the one with hash `keep`, and
    /// increments the user's `session_epoch` first, in one transaction (see
    /// [`SessionStore::insert_session`]). Once it returns, no deleted session
    /// is returned by [`SessionStore::session_with_user`]. Returns the number deleted.
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

    /// Returns the token with this hash and context without removing it
    /// (`None` when there is none): the page an email link opens shows it
    /// is still valid; only [`take_email_token`](Self::take_email_token)
    /// uses it up.
    async fn email_token(
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

    /// How many MFA credentials (pending or confirmed) are stored: the
    /// length of a full [`MfaStore::mfa_secrets_page`] walk, for progress.
    async fn mfa_secret_count(&self) -> StoreResult<u64>;

    /// One page of the sealed TOTP secrets, for re-encryption after a key
    /// rotation (`sigra reencrypt`): `(user_id, secret_encrypted)` of every
    /// credential (pending or confirmed) whose `user_id` is strictly greater
    /// than `after` (all of them when `None`), in ascending `user_id` order —
    /// the byte order of the UUID, which is [`UserId`]'s `Ord` — at most
    /// `limit` rows.
    ///
    /// Keyset pagination: passing the last id of one page as `after` gives
    /// the next, so a walk can stop and resume anywhere, and a row that
    /// exists throughout the walk is seen exactly once however the table
    /// changes meanwhile. An empty page means the walk is over.
    async fn mfa_secrets_page(
        &self,
        after: Option<UserId>,
        limit: u32,
    ) -> StoreResult<Vec<(UserId, String)>>;

    /// Compare-and-swap of a sealed TOTP secret, in one statement: sets the
    /// credential's `secret_encrypted` to `new` only if it still holds exactly
    /// `old`, and changes nothing else (not the last used step, not the
    /// failure count). Returns whether the row changed; `false` when the
    /// credential is gone or holds another value (the user re-enrolled, or
    /// another re-encryption got there first), so a concurrent write is
    /// never overwritten. Checked by the conformance suite (`reencrypt`).
    async fn replace_mfa_secret(&self, user: UserId, old: &str, new: &str) -> StoreResult<bool>;
}

/// The audit log (`audit_events`).
#[async_trait]
pub trait AuditStore: Send + Sync + Debug {
    /// Appends an event.
    async fn record_audit(&self, event: &AuditEvent) -> StoreResult<()>;

    /// The user's most recent events, newest first.
    async fn audit_for_user(&self, user: UserId, limit: u32) -> StoreResult<Vec<AuditEvent>>;
}

fn before(now: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    chrono::TimeDelta::from_std(d)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The instants that decide which sessions have expired at some `now`:
/// a session is expired exactly when [`Auth::is_expired`](crate::auth::Auth::is_expired)
/// says so, i.e. when its timestamp is **strictly** before the cutoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCutoffs {
    /// Standard sessions created before this are past `absolute_timeout`.
    pub standard_created_before: DateTime<Utc>,
    /// Standard sessions last active before this are past `idle_timeout`.
    pub standard_active_before: DateTime<Utc>,
    /// Remember-me sessions created before this are past `session_ttl`.
    pub remember_me_created_before: DateTime<Utc>,
    /// MFA-pending sessions created before this are past `mfa_pending_ttl`.
    pub mfa_pending_created_before: DateTime<Utc>,
}

impl SessionCutoffs {
    /// The cutoffs of `config`'s timeouts at `now`.
    pub fn at(config: &Config, now: DateTime<Utc>) -> Self {
        Self {
            standard_created_before: before(now, config.session.absolute_timeout),
            standard_active_before: before(now, config.session.idle_timeout),
            remember_me_created_before: before(now, config.session.ttl),
            mfa_pending_created_before: before(now, config.mfa.pending_ttl),
        }
    }
}

/// The timeouts that decide whether one session has expired, by its kind
/// (`absolute_timeout` and `idle_timeout` for standard sessions,
/// `session_ttl` for remember-me ones, `mfa_pending_ttl` for MFA-pending
/// ones). [`Auth::is_expired`](crate::auth::Auth::is_expired) and the
/// session cache's decorator ([`crate::caching_store::CachingStore`]) both
/// decide with it; [`SessionCutoffs`] is the same rule for bulk deletion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimeouts {
    absolute: TimeDelta,
    idle: TimeDelta,
    remember_me: TimeDelta,
    mfa_pending: TimeDelta,
}

impl SessionTimeouts {
    /// The timeouts of `config`.
    pub fn from_config(config: &Config) -> Self {
        let delta = |d: std::time::Duration| TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX);
        Self {
            absolute: delta(config.session.absolute_timeout),
            idle: delta(config.session.idle_timeout),
            remember_me: delta(config.session.ttl),
            mfa_pending: delta(config.mfa.pending_ttl),
        }
    }

    /// Whether `session` has expired at `now`, by its kind's timeouts.
    pub fn is_expired(&self, session: &Session, now: DateTime<Utc>) -> bool {
        let age = now - session.created_at;
        match session.kind {
            SessionKind::Standard => {
                age > self.absolute || now - session.last_active_at > self.idle
            }
            SessionKind::RememberMe => age > self.remember_me,
            SessionKind::MfaPending => age > self.mfa_pending,
        }
    }
}

/// For each email-token context with a validity (see
/// [`TokenContext::validity`]), the instant before which its tokens have
/// expired at `now`. Contexts valid until revoked (API tokens) are absent.
pub fn email_token_cutoffs(
    config: &Config,
    now: DateTime<Utc>,
) -> Vec<(TokenContext, DateTime<Utc>)> {
    TokenContext::ALL
        .into_iter()
        .filter_map(|c| c.validity(config).map(|v| (c, before(now, v))))
        .collect()
}

/// How many expired sessions of each kind [`MaintenanceStore::delete_expired_sessions`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExpiredSessions {
    /// Standard sessions past their idle or absolute timeout.
    pub standard: u64,
    /// Remember-me sessions past `session_ttl`.
    pub remember_me: u64,
    /// MFA-pending sessions past `mfa_pending_ttl`.
    pub mfa_pending: u64,
}

impl ExpiredSessions {
    /// All kinds together.
    pub fn total(&self) -> u64 {
        self.standard + self.remember_me + self.mfa_pending
    }
}

/// Maintenance: the bulk operations of the background jobs (`sigra-jobs`).
///
/// Each method is one statement or one transaction, returns how many rows it
/// changed, and is safe to run concurrently with itself and with the other
/// ports (jobs may run on several nodes at once). Checked for every backend
/// by the `jobs` module of the test suite (crate `sigra-tests`).
#[async_trait]
pub trait MaintenanceStore: Send + Sync + Debug {
    /// Deletes every expired session, by kind: standard sessions created
    /// before `standard_created_before` **or** last active before
    /// `standard_active_before`; remember-me sessions created before
    /// `remember_me_created_before`; MFA-pending sessions created before
    /// `mfa_pending_created_before` (all strict). One statement or one
    /// transaction. Returns the counts by kind.
    async fn delete_expired_sessions(
        &self,
        cutoffs: &SessionCutoffs,
    ) -> StoreResult<ExpiredSessions>;

    /// Deletes every email token whose context is listed and whose
    /// `created_at` is strictly before that context's cutoff (build the list
    /// with [`email_token_cutoffs`]); tokens of contexts not listed are kept.
    /// One statement or one transaction. Returns how many were deleted.
    async fn delete_expired_email_tokens(
        &self,
        cutoffs: &[(TokenContext, DateTime<Utc>)],
    ) -> StoreResult<u64>;

    /// Deletes the audit rows created strictly before `before`, in one
    /// statement. Returns how many were deleted.
    async fn delete_audit_before(&self, before: DateTime<Utc>) -> StoreResult<u64>;

    /// The ids of live users (`deleted_at` unset) whose
    /// `deletion_scheduled_at <= now`, earliest schedule first, at most `limit`.
    async fn users_due_for_deletion(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<UserId>>;

    /// Atomically carries out the scheduled deletion of `id` with `strategy`
    /// (see [`DeletionStrategy`] for exactly what each one changes) and
    /// inserts `audit` — only when the user is live and its
    /// `deletion_scheduled_at` is set and `<= now`. Otherwise nothing changes
    /// and it returns `false`: a second call is a no-op, and a cancellation
    /// that commits first wins. One transaction.
    async fn apply_scheduled_deletion(
        &self,
        id: UserId,
        strategy: DeletionStrategy,
        audit: &AuditEvent,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Claims one tick of a periodic job, for running it once in a cluster:
    /// inserts `(job, tick)` into `sigra_job_ticks` (primary key on both)
    /// unless it is there, with `claimed_at = now`. Of any number of
    /// concurrent callers, in any number of processes sharing the database,
    /// exactly one gets `true`. Also deletes the ticks (of every job) older
    /// than `prune_before`, in the same transaction.
    async fn claim_job_tick(
        &self,
        job: &str,
        tick: DateTime<Utc>,
        now: DateTime<Utc>,
        prune_before: DateTime<Utc>,
    ) -> StoreResult<bool>;
}

/// One row of the revocation log (`session_revocations`): something that
/// changes what [`SessionStore::session_with_user`] returns for `user`
/// happened in a committed transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revocation {
    /// The row's id: assigned in increasing order as rows are inserted.
    pub id: i64,
    /// Whose sessions or user row changed.
    pub user_id: UserId,
}

/// What a [`RevocationListener`] heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RevocationNotice {
    /// A transaction that revoked something of this user committed.
    Revoked(UserId),
    /// The listening connection was lost: notifications may have been
    /// missed. The next call reconnects.
    Lost,
}

/// A push channel of revocations (PostgreSQL's `LISTEN sigra_revocations`),
/// which lets other nodes evict within milliseconds instead of one poll
/// interval. Best effort: the log ([`RevocationStore::revocations_after`])
/// stays the source of truth.
#[async_trait]
pub trait RevocationListener: Send + Debug {
    /// Waits for the next notice. `Err` means the listener could not
    /// (re)connect; the caller treats it like [`RevocationNotice::Lost`] and
    /// tries again later.
    async fn next(&mut self) -> StoreResult<RevocationNotice>;
}

/// The revocation log that lets a node-local session cache
/// ([`crate::cache::SessionCache`]) learn what other nodes changed.
///
/// Guarantees, checked by the `revocations` module of the conformance suite:
/// - **Written by the database, in the writing transaction.** Deleting a
///   session (`user_sessions`), changing a session's `sudo_at`, changing a
///   user's `email`, `password_hash`, `confirmed_at`, `mfa_enabled`,
///   `mfa_trust_epoch`, `locked_until`, `deletion_scheduled_at` or
///   `deleted_at`, and deleting a user each append at least one row for that
///   user, by triggers, so no write path (including jobs and hand-written SQL)
///   can forget it. Updates that leave those columns unchanged append nothing.
/// - **Ids increase** in insertion order. A row may become visible after a
///   row with a higher id (a transaction that commits later), and an id may
///   never appear (a rolled-back transaction); readers must allow for both.
#[async_trait]
pub trait RevocationStore: Send + Sync + Debug {
    /// The highest id in the log, or 0 when it is empty.
    async fn latest_revocation_id(&self) -> StoreResult<i64>;

    /// The visible rows with `id > after`, in id order, at most `limit`.
    async fn revocations_after(&self, after: i64, limit: u32) -> StoreResult<Vec<Revocation>>;

    /// Deletes rows created strictly before `before`, except the newest row
    /// (so [`RevocationStore::latest_revocation_id`] never goes backwards).
    /// Returns how many were deleted.
    async fn prune_revocations(&self, before: DateTime<Utc>) -> StoreResult<u64>;

    /// A push listener of revocations, when the backend has one (PostgreSQL
    /// does; the default is `None`, and followers poll).
    async fn revocation_listener(&self) -> StoreResult<Option<Box<dyn RevocationListener>>> {
        Ok(None)
    }
}

/// Everything the [`Auth`](crate::auth::Auth) service and the background jobs need from a backend.
#[async_trait]
pub trait Store:
    UserStore
    + SessionStore
    + EmailTokenStore
    + MfaStore
    + AuditStore
    + MaintenanceStore
    + RevocationStore
{
    /// Checks that the database answers (for `/health`).
    async fn ping(&self) -> StoreResult<()>;
}
