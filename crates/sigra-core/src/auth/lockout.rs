//! The per-user lockout: every check of a known user's password (log-in, sudo, password and email change, account deletion) counts toward the lock before it runs, and the owner is mailed when the account locks.

use secrecy::SecretString;

use super::error::AuthError;
use super::service::{Auth, delta};
use crate::mail::alert_email;
use crate::model::{AuditAction, AuditEvent, User};

/// The verdict of [`Auth::check_password_counted`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Checked {
    /// The right password; the failure count is cleared.
    Right,
    /// A wrong password, the `count`-th in a row.
    Wrong {
        /// Consecutive attempts counted so far, this one included.
        count: i32,
    },
    /// Refused without looking at the password: the account is locked
    /// until then.
    Locked {
        /// When password checks resume.
        until: chrono::DateTime<chrono::Utc>,
    },
}

impl Checked {
    /// `Ok` for the right password; the error a caller behind a session
    /// returns otherwise.
    pub(super) fn into_result(self) -> Result<(), AuthError> {
        match self {
            Self::Right => Ok(()),
            Self::Wrong { .. } => Err(AuthError::InvalidCredentials),
            Self::Locked { until } => Err(AuthError::Locked { until }),
        }
    }
}

impl Auth {
    /// Checks `user`'s password, counted toward the per-user lockout.
    ///
    /// **The attempt is counted before the password is verified**, in one
    /// atomic store statement ([`crate::store::UserStore::record_login_failure`]),
    /// and only an attempt whose count is at most `lockout_threshold` is
    /// verified at all; the right password then clears the count. The other
    /// option — verify first, then re-check the lock atomically before
    /// accepting a right password — was rejected: it leaves every
    /// concurrent guess of a burst verified against the real hash (the
    /// lock only stops the ones that *start* after it is written), so the
    /// number of guesses per lock window depends on how many fit in one
    /// Argon2 verification, and a burst of guesses fills the hashing pool.
    /// Counting first makes the bound exact under any concurrency: of all
    /// the attempts in one lock window, exactly `lockout_threshold` reach
    /// the verifier; every later one — the right password included — gets
    /// [`Checked::Locked`] after a dummy verification (so a lock is not a
    /// timing oracle). So that a right password, which is counted too until
    /// it clears the count, never locks out concurrent log-ins of the same
    /// user, the checks of one user run one at a time on each node
    /// ([`super::gate::UserGate`]); across nodes, concurrent right passwords
    /// are refused only when more than `lockout_threshold` of them arrive at
    /// the same instant.
    ///
    /// The attempt that reaches the threshold with a wrong password locks
    /// the account: it writes the `lockout` audit event and mails the owner
    /// (see [`Auth::mail_lockout`]); at most one attempt per lock window
    /// does. `ip` is where the attempt came from, when known.
    pub(super) async fn check_password_counted(
        &self,
        user: &User,
        password: &SecretString,
        ip: Option<&str>,
    ) -> Result<Checked, AuthError> {
        let cfg = &self.inner.config;
        let threshold = i32::try_from(cfg.password.lockout_threshold).unwrap_or(i32::MAX);
        // Counted, verified and settled before this node counts the user's next attempt.
        let pass = self.inner.gate.enter(user.id).await;
        let now = self.now();
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
        let held = count.locked_until.filter(|until| *until > now);
        // Past the threshold, or under a lock this attempt did not set.
        if count.failed_login_count > threshold
            || (count.failed_login_count != threshold && held.is_some())
        {
            // Refused: the next one need not wait for this dummy verification.
            drop(pass);
            self.verify_password(None, password).await?;
            let until = held.unwrap_or(now + delta(cfg.password.lockout_duration));
            return Ok(Checked::Locked { until });
        }
        if self.verify_password(Some(user), password).await? {
            self.inner.store.clear_login_failures(user.id).await?;
            return Ok(Checked::Right);
        }
        drop(pass);
        if let (true, Some(until)) = (count.failed_login_count == threshold, held) {
            let event = AuditEvent::new(AuditAction::Lockout, Some(user.id), now)
                .with_ip(ip.map(str::to_owned));
            self.audit(event).await?;
            tracing::warn!(name: "sigra.auth.lockout", user_id = %user.id);
            self.mail_lockout(user, until, ip).await;
        }
        Ok(Checked::Wrong {
            count: count.failed_login_count,
        })
    }

    /// Tells the owner that their account just locked: how many wrong
    /// passwords, from which address (when known), until when, and a link
    /// to the password-reset form (a page, never a token: anyone who knows
    /// the address can cause this mail). Its idempotency key is the lock
    /// itself (user and lock end), so one lock is one message however often
    /// it is handed over. A delivery failure is logged and never fails the
    /// request that locked the account.
    async fn mail_lockout(
        &self,
        user: &User,
        until: chrono::DateTime<chrono::Utc>,
        ip: Option<&str>,
    ) {
        let cfg = &self.inner.config;
        let from = match ip {
            Some(ip) => format!("the last one from the IP address {ip}"),
            None => "the last one in a signed-in session".to_owned(),
        };
        let what = format!(
            "Someone entered a wrong password for your Sigra account {} times in a row, {from}. \
             To stop the guessing, passwords for your account are not accepted for {} \
             (until {} UTC). If that was you, wait and try again. If it was not, choose a new \
             password now: the reset link reaches only this address.",
            cfg.password.lockout_threshold,
            human_minutes(cfg.password.lockout_duration),
            until.format("%Y-%m-%d %H:%M"),
        );
        let base = cfg.endpoints.public_url.as_str().trim_end_matches('/');
        let email = alert_email(
            &user.email,
            "Your account was locked after wrong passwords",
            &what,
            "Reset your password",
            &format!("{base}/users/reset-password"),
            format!("lockout-{}-{}", user.id, until.timestamp_micros()),
        );
        match self.inner.mailer.send(email).await {
            Ok(()) => tracing::info!(name: "sigra.mail.enqueued", context = "lockout"),
            Err(e) => tracing::warn!(
                name: "sigra.mail.lockout",
                outcome = "error",
                error = %e
            ),
        }
    }
}

/// A lock duration for people: "15 minutes", "1 minute", "90 seconds".
fn human_minutes(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    match (secs / 60, secs % 60) {
        (1, 0) => "1 minute".to_owned(),
        (m, 0) => format!("{m} minutes"),
        _ => format!("{secs} seconds"),
    }
}
