//! Sessions: creating, looking up (the per-request hot path), expiring and
//! ending them, and the sudo window.

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use super::error::AuthError;
use super::service::{Auth, delta};
use crate::ids::UserId;
use crate::model::{AuditAction, AuditEvent, Session, SessionKind, SessionMeta, User};
use crate::token::RawToken;

impl Auth {
    /// Creates a session of `kind` for `user` and returns its raw token —
    /// the only time the token exists outside the user's cookie.
    ///
    /// `user` must be as read when its password (or second factor) was
    /// checked: when its `session_epoch` has moved since (the password
    /// changed, the address changed, every session was ended), nothing is
    /// created and the answer is [`AuthError::InvalidCredentials`].
    pub async fn create_session(
        &self,
        user: &User,
        kind: SessionKind,
        meta: SessionMeta,
    ) -> Result<(RawToken, Session), AuthError> {
        let now = self.now();
        let token = RawToken::generate()?;
        let ip = meta.ip.clone();
        let mut session = Session::new(user.id, token.hash(), kind, meta, now);
        // A session is created right after the user proved who they are
        // (the password, or the second factor after it): that opens the sudo
        // window, as re-entering the password would. A pending log-in has
        // proved only half, so it opens nothing.
        if kind != SessionKind::MfaPending {
            session.sudo_at = Some(now);
        }
        // Only while the credentials `user` was read with still hold: a
        // password change, reset, email change or log-out-everywhere that
        // committed since then refuses this log-in.
        if !self
            .inner
            .store
            .insert_session(&session, user.session_epoch)
            .await?
        {
            self.audit(
                AuditEvent::new(AuditAction::LoginFailure, Some(user.id), now)
                    .with("reason", "credentials_changed")
                    .with_ip(ip),
            )
            .await?;
            tracing::info!(name: "sigra.session.create", outcome = "credentials_changed");
            return Err(AuthError::InvalidCredentials);
        }
        self.audit(
            AuditEvent::new(AuditAction::SessionCreate, Some(user.id), now)
                .with("kind", kind.as_str())
                .with_ip(ip),
        )
        .await?;
        tracing::info!(name: "sigra.session.create", kind = kind.as_str(), session_id = %session.id);
        Ok((token, session))
    }

    /// Whether `session` has expired at `now`, by its kind's timeouts.
    pub fn is_expired(&self, session: &Session, now: DateTime<Utc>) -> bool {
        self.inner.timeouts.is_expired(session, now)
    }

    /// The session for a raw token and its user, or `None`.
    ///
    /// Strict mode (the default): one store query on the hot path. An
    /// expired session is deleted when seen. `last_active_at` is written only
    /// when it is older than `touch_interval`, never on every request.
    ///
    /// With the session cache on ([`Auth::session_cache`]), the store is a
    /// [`CachingStore`](crate::caching_store::CachingStore) and a cached
    /// answer is served without a query: the timeouts are re-applied to its
    /// timestamps (an expired one is dropped and looked up again, which
    /// deletes it), and the throttled `last_active_at` write still happens
    /// when it is due — awaited here, at most once per `touch_interval` per
    /// session and node. Only sessions that exist are cached, never a miss.
    pub async fn fetch_session(
        &self,
        token: &RawToken,
    ) -> Result<Option<(Session, User)>, AuthError> {
        let started = self.now();
        let hash = token.hash();
        let Some((mut session, user)) = self.inner.store.session_with_user(&hash).await? else {
            tracing::debug!(name: "sigra.session.fetch", outcome = "not_found");
            crate::telemetry::session_fetch("not_found", self.now() - started);
            return Ok(None);
        };
        let now = self.now();
        if self.is_expired(&session, now) {
            if self
                .inner
                .store
                .delete_session_by_hash(&hash)
                .await?
                .is_some()
            {
                self.audit(
                    AuditEvent::new(AuditAction::SessionDelete, Some(user.id), now)
                        .with("reason", "expired")
                        .with("kind", session.kind.as_str()),
                )
                .await?;
            }
            tracing::debug!(name: "sigra.session.fetch", outcome = "expired");
            crate::telemetry::session_fetch("expired", self.now() - started);
            return Ok(None);
        }
        if now - session.last_active_at >= delta(self.inner.config.session.touch_interval) {
            self.inner.store.touch_session(session.id, now).await?;
            session.last_active_at = now;
        }
        tracing::debug!(name: "sigra.session.fetch", outcome = "ok");
        crate::telemetry::session_fetch("ok", self.now() - started);
        Ok(Some((session, user)))
    }

    /// Deletes the session with this token (log-out). Returns whether it existed.
    pub async fn delete_session(&self, token: &RawToken) -> Result<bool, AuthError> {
        let now = self.now();
        let hash = token.hash();
        let Some(user_id) = self.inner.store.delete_session_by_hash(&hash).await? else {
            return Ok(false);
        };
        self.audit(
            AuditEvent::new(AuditAction::SessionDelete, Some(user_id), now)
                .with("reason", "log_out"),
        )
        .await?;
        tracing::info!(name: "sigra.auth.logout", outcome = "ok");
        Ok(true)
    }

    /// Deletes every session of the user ("log out everywhere"), optionally
    /// keeping the one with token `except`. One statement: once this returns,
    /// no deleted session's token works. Returns how many were deleted.
    pub async fn delete_all_sessions(
        &self,
        user_id: UserId,
        except: Option<&RawToken>,
    ) -> Result<u64, AuthError> {
        let now = self.now();
        let keep = except.map(RawToken::hash);
        let count = self.inner.store.delete_user_sessions(user_id, keep).await?;
        self.audit(
            AuditEvent::new(AuditAction::SessionRevokeAll, Some(user_id), now)
                .with("count", count.to_string())
                .with("kept_current", keep.is_some().to_string()),
        )
        .await?;
        tracing::info!(name: "sigra.session.revoke_all", count);
        Ok(count)
    }

    /// The user's sessions (with ip, user agent, created and last-active
    /// times), newest first. Expired ones are left out.
    pub async fn list_sessions(&self, user_id: UserId) -> Result<Vec<Session>, AuthError> {
        let now = self.now();
        let sessions = self.inner.store.list_user_sessions(user_id).await?;
        Ok(sessions
            .into_iter()
            .filter(|s| !self.is_expired(s, now))
            .collect())
    }

    /// Re-checks the password in `session` and opens the sudo window. The
    /// check counts toward the per-user lockout like a log-in;
    /// [`AuthError::Locked`] while the account is locked.
    pub async fn confirm_sudo(
        &self,
        session: &Session,
        password: &SecretString,
    ) -> Result<(), AuthError> {
        let user = self.load_user(session.user_id).await?;
        self.check_password_counted(&user, password, session.ip.as_deref())
            .await?
            .into_result()?;
        let now = self.now();
        self.inner.store.set_sudo(session.id, now).await?;
        self.audit(AuditEvent::new(
            AuditAction::SudoConfirm,
            Some(user.id),
            now,
        ))
        .await?;
        Ok(())
    }

    /// Whether the password was re-entered in `session` within `sudo_window`.
    pub fn in_sudo(&self, session: &Session) -> bool {
        let now = self.now();
        session
            .sudo_at
            .is_some_and(|at| at <= now && now - at <= delta(self.inner.config.session.sudo_window))
    }
}
