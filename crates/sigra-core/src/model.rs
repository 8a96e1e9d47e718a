//! The records Sigra stores: users, sessions, email tokens, MFA credentials, audit events.
//!
//! These are plain data with public fields, so a store can build them from a
//! row without extra work on the hot path. Raw tokens never appear here:
//! sessions and email tokens carry only a [`TokenHash`].

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use thiserror::Error;
use uuid::Uuid;

use crate::ids::{SessionId, UserId};
use crate::password::PasswordHash;
use crate::token::{TokenContext, TokenHash};

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Stable id.
    pub id: UserId,
    /// Normalised (trimmed, lowercased) email; unique among non-deleted users.
    pub email: String,
    /// Argon2id PHC string, or `None` for accounts without a password.
    pub password_hash: Option<PasswordHash>,
    /// When the email address was confirmed.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// Whether TOTP MFA is enabled.
    pub mfa_enabled: bool,
    /// Incremented to revoke every "trust this browser" cookie at once (and
    /// with every password change, password reset and email change).
    pub mfa_trust_epoch: i64,
    /// Incremented, in the same transaction, by every write that ends the
    /// user's sessions wholesale (password change and reset, email change,
    /// log-out-everywhere, scheduled deletion). A session is inserted only
    /// while it still holds the value read when the password was checked
    /// (see [`crate::store::SessionStore::insert_session`]), so a log-in in
    /// progress cannot outlive such a write.
    pub session_epoch: i64,
    /// Consecutive failed log-ins since the last success or lock expiry.
    pub failed_login_count: i32,
    /// Log-ins are refused until then.
    pub locked_until: Option<DateTime<Utc>>,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
    /// When the account was last changed.
    pub updated_at: DateTime<Utc>,
    /// When a requested deletion takes effect (grace period running).
    pub deletion_scheduled_at: Option<DateTime<Utc>>,
}

impl User {
    /// A fresh user record, as [`crate::store::UserStore::insert_user`] expects it.
    pub fn new(
        id: UserId,
        email: String,
        password_hash: Option<PasswordHash>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            email,
            password_hash,
            confirmed_at: None,
            mfa_enabled: false,
            mfa_trust_epoch: 0,
            session_epoch: 0,
            failed_login_count: 0,
            locked_until: None,
            created_at: now,
            updated_at: now,
            deletion_scheduled_at: None,
        }
    }

    /// Whether log-in is locked at `now`.
    pub fn is_locked(&self, now: DateTime<Utc>) -> bool {
        self.locked_until.is_some_and(|until| until > now)
    }
}

/// The kind of a session, which decides its timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionKind {
    /// Idle timeout and absolute timeout apply.
    Standard,
    /// Lives for `session_ttl` from creation; no idle timeout.
    RememberMe,
    /// Password verified, second factor pending; lives for `mfa_pending_ttl`.
    MfaPending,
}

impl SessionKind {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::RememberMe => "remember_me",
            Self::MfaPending => "mfa_pending",
        }
    }

    /// The token context of a session of this kind.
    pub const fn token_context(self) -> TokenContext {
        match self {
            Self::Standard => TokenContext::Session,
            Self::RememberMe => TokenContext::RememberMe,
            Self::MfaPending => TokenContext::MfaPending,
        }
    }
}

impl fmt::Display for SessionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored value that is not one of the names Sigra writes.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("unknown {what} {value:?} in storage")]
pub struct UnknownName {
    /// What kind of name it was.
    pub what: &'static str,
    /// The value found.
    pub value: String,
}

impl FromStr for SessionKind {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "standard" => Ok(Self::Standard),
            "remember_me" => Ok(Self::RememberMe),
            "mfa_pending" => Ok(Self::MfaPending),
            _ => Err(UnknownName {
                what: "session kind",
                value: s.to_owned(),
            }),
        }
    }
}

/// Where a session was created from. Shown to the user in their session list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionMeta {
    /// Client IP address as text.
    pub ip: Option<String>,
    /// The `User-Agent` header, truncated to 512 characters.
    pub user_agent: Option<String>,
}

impl SessionMeta {
    /// Metadata with the user agent truncated to a sane length.
    pub fn new(ip: Option<String>, user_agent: Option<String>) -> Self {
        Self {
            ip: ip.map(|s| s.chars().take(64).collect()),
            user_agent: user_agent.map(|s| s.chars().take(512).collect()),
        }
    }
}

/// One row of `user_sessions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Stable id (safe to show and log).
    pub id: SessionId,
    /// Owner.
    pub user_id: UserId,
    /// SHA-256 of the raw token; the token itself is never stored.
    pub token_hash: TokenHash,
    /// Decides the timeouts.
    pub kind: SessionKind,
    /// Creation time (absolute timeout counts from here).
    pub created_at: DateTime<Utc>,
    /// Last recorded activity (written at most once per `touch_interval`).
    pub last_active_at: DateTime<Utc>,
    /// When the password was last re-entered in this session.
    pub sudo_at: Option<DateTime<Utc>>,
    /// Client IP at creation.
    pub ip: Option<String>,
    /// User agent at creation.
    pub user_agent: Option<String>,
}

impl Session {
    /// A new session row.
    pub fn new(
        user_id: UserId,
        token_hash: TokenHash,
        kind: SessionKind,
        meta: SessionMeta,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: SessionId::new(now),
            user_id,
            token_hash,
            kind,
            created_at: now,
            last_active_at: now,
            sudo_at: None,
            ip: meta.ip,
            user_agent: meta.user_agent,
        }
    }
}

/// One row of `user_tokens`: a single-use email token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailToken {
    /// SHA-256 of the raw token.
    pub token_hash: TokenHash,
    /// Owner.
    pub user_id: UserId,
    /// What the token may be used for.
    pub context: TokenContext,
    /// The address the token was mailed to (a change-email token carries the new address).
    pub sent_to: String,
    /// Issue time; validity counts from here.
    pub created_at: DateTime<Utc>,
}

impl EmailToken {
    /// A new email token row.
    pub fn new(
        token_hash: TokenHash,
        user_id: UserId,
        context: TokenContext,
        sent_to: String,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            token_hash,
            user_id,
            context,
            sent_to,
            created_at: now,
        }
    }
}

/// A user's TOTP credential.
#[derive(Clone, PartialEq, Eq)]
pub struct MfaCredential {
    /// Owner.
    pub user_id: UserId,
    /// The TOTP secret sealed by [`crate::encryption::FieldCipher`].
    pub secret_encrypted: String,
    /// The last TOTP time step accepted (replay protection).
    pub last_used_step: Option<i64>,
    /// When enrolment was confirmed; `None` while enrolment is pending.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// When the credential was created.
    pub created_at: DateTime<Utc>,
    /// Consecutive failed second-factor attempts.
    pub failed_attempts: i32,
    /// Second-factor attempts are refused until then.
    pub locked_until: Option<DateTime<Utc>>,
}

impl MfaCredential {
    /// A pending (unconfirmed) credential.
    pub fn new(user_id: UserId, secret_encrypted: String, now: DateTime<Utc>) -> Self {
        Self {
            user_id,
            secret_encrypted,
            last_used_step: None,
            confirmed_at: None,
            created_at: now,
            failed_attempts: 0,
            locked_until: None,
        }
    }
}

impl fmt::Debug for MfaCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MfaCredential")
            .field("user_id", &self.user_id)
            .field("secret_encrypted", &"[ENCRYPTED]")
            .field("last_used_step", &self.last_used_step)
            .field("confirmed_at", &self.confirmed_at)
            .field("failed_attempts", &self.failed_attempts)
            .field("locked_until", &self.locked_until)
            .finish()
    }
}

/// What happened, in an audit row. Names follow the Elixir library's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuditAction {
    /// A user registered.
    Register,
    /// Successful log-in.
    LoginSuccess,
    /// Failed log-in (wrong password or locked).
    LoginFailure,
    /// The account was locked after repeated failures.
    Lockout,
    /// A session was created.
    SessionCreate,
    /// A session was deleted (log-out or expiry).
    SessionDelete,
    /// All of a user's sessions were deleted.
    SessionRevokeAll,
    /// Sudo mode was confirmed by re-entering the password.
    SudoConfirm,
    /// The password was changed.
    PasswordChange,
    /// The password was reset by email token.
    PasswordReset,
    /// MFA enrolment completed.
    MfaEnroll,
    /// A second factor was verified.
    MfaVerify,
    /// A second factor was refused.
    MfaFailure,
    /// MFA was disabled.
    MfaDisable,
    /// "Trust this browser" was granted.
    MfaTrustGranted,
    /// Every trusted browser was revoked.
    MfaTrustRevoked,
    /// Deletion was requested or carried out.
    AccountDeletion,
    /// A scheduled deletion was cancelled.
    DeletionCancelled,
    /// The email address was confirmed.
    EmailConfirmed,
    /// The email address was changed.
    EmailChanged,
    /// A password reset was requested (only recorded for existing accounts).
    PasswordResetRequested,
    /// New backup codes replaced the old ones.
    BackupCodesRegenerated,
}

impl AuditAction {
    /// Every action.
    pub const ALL: [AuditAction; 22] = [
        Self::Register,
        Self::LoginSuccess,
        Self::LoginFailure,
        Self::Lockout,
        Self::SessionCreate,
        Self::SessionDelete,
        Self::SessionRevokeAll,
        Self::SudoConfirm,
        Self::PasswordChange,
        Self::PasswordReset,
        Self::MfaEnroll,
        Self::MfaVerify,
        Self::MfaFailure,
        Self::MfaDisable,
        Self::MfaTrustGranted,
        Self::MfaTrustRevoked,
        Self::AccountDeletion,
        Self::DeletionCancelled,
        Self::EmailConfirmed,
        Self::EmailChanged,
        Self::PasswordResetRequested,
        Self::BackupCodesRegenerated,
    ];

    /// The stored name, e.g. `"auth.login.success"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Register => "auth.register",
            Self::LoginSuccess => "auth.login.success",
            Self::LoginFailure => "auth.login.failure",
            Self::Lockout => "auth.lockout",
            Self::SessionCreate => "session.create",
            Self::SessionDelete => "session.delete",
            Self::SessionRevokeAll => "session.revoke_all",
            Self::SudoConfirm => "session.sudo",
            Self::PasswordChange => "password.change",
            Self::PasswordReset => "password.reset",
            Self::MfaEnroll => "mfa.enroll",
            Self::MfaVerify => "mfa.verify",
            Self::MfaFailure => "mfa.failure",
            Self::MfaDisable => "mfa.disable",
            Self::MfaTrustGranted => "mfa.trust.granted",
            Self::MfaTrustRevoked => "mfa.trust.revoked",
            Self::AccountDeletion => "account.deletion",
            Self::DeletionCancelled => "account.deletion_cancelled",
            Self::EmailConfirmed => "email.confirmed",
            Self::EmailChanged => "email.changed",
            Self::PasswordResetRequested => "password.reset_requested",
            Self::BackupCodesRegenerated => "mfa.backup_codes_regenerated",
        }
    }
}

impl FromStr for AuditAction {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| UnknownName {
                what: "audit action",
                value: s.to_owned(),
            })
    }
}

/// How an account is deleted once its grace period has ended (the
/// `process_scheduled_deletions` job of `sigra-jobs` applies it).
///
/// Every strategy is atomic per user and idempotent: a user is processed
/// only while it is live (`deleted_at` unset) and its `deletion_scheduled_at`
/// has passed, so a second run, or a run racing a cancellation, changes
/// nothing. Each records one [`AuditAction::AccountDeletion`] row with
/// `stage = completed` and `strategy = <name>` in the same transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum DeletionStrategy {
    /// The default. The `users` row stays as a tombstone (id, timestamps,
    /// `deleted_at`) without personal data: the email becomes
    /// [`tombstone_email`], the password hash, confirmation, lockout and MFA
    /// state are cleared, the trust epoch is raised (every trust cookie dies),
    /// and the user's sessions, email tokens, MFA credential and backup codes
    /// are deleted. Audit rows are kept unchanged, as the security trail. The
    /// address is free for a new account at once.
    #[default]
    SoftDelete,
    /// Everything [`DeletionStrategy::SoftDelete`] does, and the user's audit
    /// rows lose what could identify a person: their client `ip` is cleared
    /// and their `metadata` emptied. Each row keeps its action, time and
    /// `user_id` (which now points at a tombstone holding no personal data),
    /// so the trail still counts events without saying who or from where.
    Anonymize,
    /// The `users` row is deleted; sessions, email tokens, MFA credential
    /// and backup codes go with it (cascade). Audit rows stay, with their
    /// user id, like [`crate::store::UserStore::delete_user`].
    HardDelete,
}

impl DeletionStrategy {
    /// Every strategy.
    pub const ALL: [DeletionStrategy; 3] = [Self::SoftDelete, Self::Anonymize, Self::HardDelete];

    /// The name used in configuration and audit metadata: `soft_delete`, `anonymize`, `hard_delete`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SoftDelete => "soft_delete",
            Self::Anonymize => "anonymize",
            Self::HardDelete => "hard_delete",
        }
    }
}

impl fmt::Display for DeletionStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DeletionStrategy {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|d| d.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownName {
                what: "deletion strategy",
                value: s.to_owned(),
            })
    }
}

/// The email a soft-deleted or anonymized account keeps: `deleted-<id>@invalid`
/// (`.invalid` is reserved, RFC 2606, so no message can ever reach it).
pub fn tombstone_email(id: UserId) -> String {
    format!("deleted-{}@invalid", id.as_uuid().simple())
}

/// One row of `audit_events`. Metadata never holds secrets, tokens, passwords or codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Row id (UUIDv7, so rows sort by time).
    pub id: Uuid,
    /// The user concerned, when known.
    pub user_id: Option<UserId>,
    /// What happened.
    pub action: AuditAction,
    /// Client IP, when known.
    pub ip: Option<String>,
    /// Small, non-secret details (e.g. `"reason" => "locked"`, `"count" => "3"`).
    pub metadata: BTreeMap<String, String>,
    /// When it happened.
    pub created_at: DateTime<Utc>,
}

impl AuditEvent {
    /// A new event at `now`.
    pub fn new(action: AuditAction, user_id: Option<UserId>, now: DateTime<Utc>) -> Self {
        Self {
            id: *crate::ids::SessionId::new(now).as_uuid(),
            user_id,
            action,
            ip: None,
            metadata: BTreeMap::new(),
            created_at: now,
        }
    }

    /// The event of `user`'s registration, at its creation time: what
    /// [`UserStore::insert_user`](crate::store::UserStore::insert_user) is given.
    pub fn register(user: &User) -> Self {
        Self::new(AuditAction::Register, Some(user.id), user.created_at)
    }

    /// Adds one metadata entry.
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.metadata.insert(key.to_owned(), value.into());
        self
    }

    /// Sets the client IP.
    pub fn with_ip(mut self, ip: Option<String>) -> Self {
        self.ip = ip;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in AuditAction::ALL {
            assert_eq!(a.as_str().parse::<AuditAction>().unwrap(), a);
        }
        for k in [
            SessionKind::Standard,
            SessionKind::RememberMe,
            SessionKind::MfaPending,
        ] {
            assert_eq!(k.as_str().parse::<SessionKind>().unwrap(), k);
        }
        assert!("nope".parse::<SessionKind>().is_err());
    }

    #[test]
    fn deletion_strategies_round_trip_and_tombstones_are_unreachable() {
        for d in DeletionStrategy::ALL {
            assert_eq!(d.as_str().parse::<DeletionStrategy>().unwrap(), d);
        }
        assert_eq!(DeletionStrategy::default(), DeletionStrategy::SoftDelete);
        assert!("purge".parse::<DeletionStrategy>().is_err());
        let id = UserId::from_uuid(Uuid::nil());
        assert_eq!(
            tombstone_email(id),
            "deleted-00000000000000000000000000000000@invalid"
        );
    }

    #[test]
    fn meta_is_truncated() {
        let meta = SessionMeta::new(Some("1".repeat(100)), Some("a".repeat(1000)));
        assert_eq!(meta.ip.unwrap().len(), 64);
        assert_eq!(meta.user_agent.unwrap().len(), 512);
    }
}
