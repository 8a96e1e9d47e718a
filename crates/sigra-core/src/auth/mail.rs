//! What [`Auth`] mails: the link messages (confirmation, password reset,
//! email change, deletion cancel) with the single-use tokens behind their
//! links, and the notices to an account's owner about changes made to it.

use secrecy::ExposeSecret;

use super::error::AuthError;
use super::service::{Auth, delta};
use crate::mail::{Email, link_email, notice_email};
use crate::model::{AuditEvent, EmailToken, User};
use crate::token::{RawToken, TokenContext};

/// The fixed parts of one kind of message.
pub(super) struct Template {
    /// Link path; the token is appended.
    path: &'static str,
    subject: &'static str,
    intro: &'static str,
    action: &'static str,
}

pub(super) const CONFIRM: Template = Template {
    path: "/users/confirm/",
    subject: "Confirm your email address",
    intro: "Please confirm your email address for your Sigra account.",
    action: "Confirm my email address",
};

pub(super) const RESET_PASSWORD: Template = Template {
    path: "/users/reset-password/",
    subject: "Reset your password",
    intro: "Someone asked to reset the password of your Sigra account.",
    action: "Choose a new password",
};

pub(super) const CHANGE_EMAIL: Template = Template {
    path: "/users/settings/confirm-email/",
    subject: "Confirm your new email address",
    intro: "Someone asked to move a Sigra account to this address.",
    action: "Use this email address",
};

pub(super) const CANCEL_DELETION: Template = Template {
    path: "/users/cancel-deletion/",
    subject: "Your account is scheduled for deletion",
    intro: "Your Sigra account will be deleted at the end of the grace period. \
            If you did not ask for this, or changed your mind, cancel it.",
    action: "Cancel the deletion",
};

/// The notice to an address that already has an account when someone
/// registers with it (`require_confirmation` on): its kind and subject.
pub(super) const ACCOUNT_EXISTS: (&str, &str) = (
    "account_exists",
    "Someone tried to register with your email address",
);

/// A notice to an account's owner about a change made to it (ASVS 6.3.7).
pub(super) struct Notice {
    /// For logs and metrics.
    kind: &'static str,
    subject: &'static str,
    what: &'static str,
}

pub(super) const PASSWORD_CHANGED: Notice = Notice {
    kind: "password_changed",
    subject: "Your password was changed",
    what: "The password of your Sigra account was changed, and every other session was signed out.",
};

pub(super) const PASSWORD_RESET: Notice = Notice {
    kind: "password_reset",
    subject: "Your password was reset",
    what: "The password of your Sigra account was reset with a link sent to this address, \
           and every session was signed out.",
};

pub(super) const EMAIL_CHANGED: Notice = Notice {
    kind: "email_changed",
    subject: "Your email address was changed",
    what: "Your Sigra account now uses another email address; this address no longer \
           receives its messages or signs in to it.",
};

pub(super) const MFA_ENABLED: Notice = Notice {
    kind: "mfa_enabled",
    subject: "Two-factor authentication was turned on",
    what: "Two-factor authentication was turned on for your Sigra account: signing in \
           now needs a code from an authenticator app (or a backup code) after the password.",
};

pub(super) const MFA_DISABLED: Notice = Notice {
    kind: "mfa_disabled",
    subject: "Two-factor authentication was turned off",
    what: "Two-factor authentication was turned off for your Sigra account: signing in \
           now needs only the password.",
};

impl Auth {
    /// Tells `to` about `notice`, recorded as audit `event`. Never fails the
    /// change it reports (that change is already made): a delivery problem is
    /// logged, without the address.
    pub(super) async fn notify(&self, to: &str, notice: &Notice, event: &AuditEvent) {
        let email = notice_email(
            to,
            notice.subject,
            notice.what,
            format!("notice-{}", event.id.simple()),
        );
        match self.inner.mailer.send(email).await {
            Ok(()) => {
                tracing::info!(name: "sigra.mail.enqueued", context = "notice", notice = notice.kind)
            }
            Err(e) => tracing::warn!(
                name: "sigra.mail.notice",
                outcome = "error",
                notice = notice.kind,
                error = %e
            ),
        }
    }

    /// `PUBLIC_URL` + `path` + the token: the only secret a message carries.
    fn link(&self, path: &str, token: &RawToken) -> String {
        let base = self
            .inner
            .config
            .endpoints
            .public_url
            .as_str()
            .trim_end_matches('/');
        format!("{base}{path}{}", token.encode().expose_secret())
    }

    /// Creates a token for `user` in `context`, addressed to `sent_to`, and
    /// mails `sent_to` the template's link.
    pub(super) async fn mail_token(
        &self,
        user: &User,
        context: TokenContext,
        sent_to: &str,
        t: &Template,
    ) -> Result<(), AuthError> {
        let token = RawToken::generate()?;
        let now = self.now();
        self.inner
            .store
            .insert_email_token(&EmailToken::new(
                token.hash(),
                user.id,
                context,
                sent_to.to_owned(),
                now,
            ))
            .await?;
        // The idempotency key comes from the hash, never from the token itself.
        let key: String = token.hash().as_bytes()[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let link = self.link(t.path, &token);
        let email: Email = link_email(
            sent_to,
            t.subject,
            t.intro,
            t.action,
            &link,
            format!("{}-{key}", context.as_str()),
        );
        self.inner.mailer.send(email).await?;
        tracing::info!(name: "sigra.mail.enqueued", context = context.as_str());
        Ok(())
    }

    /// Takes a presented token of `context` (single use) if it is well-formed,
    /// known and still valid.
    pub(super) async fn take_token(
        &self,
        presented: &str,
        context: TokenContext,
    ) -> Result<EmailToken, AuthError> {
        let raw = RawToken::decode(presented).map_err(|_| AuthError::InvalidToken)?;
        let token = self
            .inner
            .store
            .take_email_token(&raw.hash(), context)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        self.unexpired(token, context)
    }

    /// The token itself if it has not outlived its context's validity.
    fn unexpired(&self, token: EmailToken, context: TokenContext) -> Result<EmailToken, AuthError> {
        let valid_until = context
            .validity(&self.inner.config)
            .map(|v| token.created_at + delta(v));
        if valid_until.is_some_and(|until| until < self.now()) {
            return Err(AuthError::InvalidToken);
        }
        Ok(token)
    }

    /// Checks that an emailed link of `context` is well-formed, known and
    /// still valid, **without using it up**: the page a link opens calls
    /// this on `GET` (mail scanners fetch links before their reader does),
    /// and only the form it shows, posted, spends the token.
    ///
    /// # Errors
    ///
    /// [`AuthError::InvalidToken`] for a malformed, unknown, used or expired
    /// link (the same answer for each).
    pub async fn check_email_link(
        &self,
        presented: &str,
        context: TokenContext,
    ) -> Result<(), AuthError> {
        let raw = RawToken::decode(presented).map_err(|_| AuthError::InvalidToken)?;
        let token = self
            .inner
            .store
            .email_token(&raw.hash(), context)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        self.unexpired(token, context).map(|_| ())
    }
}
