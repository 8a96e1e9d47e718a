//! The `Mailer` port, the messages Sigra sends, and two in-process mailers.
//!
//! A message either carries a link whose only secret is a single-use token
//! ([`link_email`]), tells the owner that their account changed and carries
//! no link ([`notice_email`]), or alerts the owner with a link to a page that
//! holds no secret ([`alert_email`]); each has an idempotency key so an
//! at-least-once delivery queue can drop duplicates.
//! A message's `Debug` never shows its body (the body holds the link).
//!
//! Implementations: [`DevMailbox`] keeps messages in memory (the demo's
//! `/dev/mailbox.json`), [`LogMailer`] records only that a message was sent
//! (recipient domain and subject, never the body), and `sigra-jobs`'s
//! `SmtpTransport` (feature `smtp`) delivers over SMTP with lettre.

use std::fmt;
use std::sync::Mutex;

use async_trait::async_trait;
use thiserror::Error;

/// One message to one recipient.
#[derive(Clone, PartialEq, Eq)]
pub struct Email {
    /// The recipient's address.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// A simple HTML body with the same content.
    pub html: String,
    /// Stable per message (derived from the token's hash, never the token), so
    /// a retried delivery is recognisable as the same message.
    pub idempotency_key: String,
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Email")
            .field(
                "to_domain",
                &self.to.rsplit_once('@').map_or("?", |(_, d)| d),
            )
            .field("subject", &self.subject)
            .field("body", &"[REDACTED: contains a single-use link]")
            .field("idempotency_key", &self.idempotency_key)
            .finish()
    }
}

/// Why a message could not be handed over.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum MailError {
    /// The recipient address is not acceptable to the transport.
    #[error("the recipient address was refused")]
    InvalidRecipient,
    /// The transport is saturated; try again later.
    #[error("the mail queue is full")]
    Busy,
    /// The transport failed; the source says how. Sending again later may work.
    #[error("mail delivery failed: {0}")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The transport refused this message for good (an SMTP 5xx reply); the
    /// source says how. Sending the same message again cannot succeed.
    #[error("mail refused permanently: {0}")]
    Rejected(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl MailError {
    /// Whether sending the same message again cannot succeed
    /// ([`InvalidRecipient`](Self::InvalidRecipient) or
    /// [`Rejected`](Self::Rejected)), so a job runner stops retrying it.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::InvalidRecipient | Self::Rejected(_))
    }
}

/// Sends messages.
///
/// # What an implementation must guarantee
///
/// - `send` returns quickly: an implementation that talks to a network
///   hands the message to a bounded background queue and returns, so the
///   time a request takes does not reveal whether a message was sent (the
///   password-reset form answers the same for unknown addresses). The
///   mailer given to `Auth` is the job runner's (`sigra_jobs::Jobs::mailer`),
///   which queues; the *transport* behind a runner makes one delivery
///   attempt per `send` and reports the outcome, and the runner retries
///   failures that are not [permanent](MailError::is_permanent).
/// - Delivery is at least once; duplicates carry the same `idempotency_key`.
/// - Nothing logs a message body or a link.
#[async_trait]
pub trait Mailer: Send + Sync + fmt::Debug {
    /// Hands `email` over for delivery.
    async fn send(&self, email: Email) -> Result<(), MailError>;
}

/// Keeps every message in memory, newest last (dev mode and tests).
#[derive(Debug, Default)]
pub struct DevMailbox {
    messages: Mutex<Vec<Email>>,
}

impl DevMailbox {
    /// An empty mailbox.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every message so far, oldest first.
    pub fn messages(&self) -> Vec<Email> {
        self.messages.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl Mailer for DevMailbox {
    async fn send(&self, email: Email) -> Result<(), MailError> {
        let mut messages = self
            .messages
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Idempotent: a redelivered message is not stored twice.
        if !messages
            .iter()
            .any(|m| m.idempotency_key == email.idempotency_key)
        {
            messages.push(email);
        }
        Ok(())
    }
}

/// Records that a message would have been sent — recipient domain and
/// subject only — for deployments without SMTP. Users cannot receive links
/// this way; `sigra doctor` warns about it in prod.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogMailer;

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, email: Email) -> Result<(), MailError> {
        tracing::warn!(
            name: "sigra.mail.not_sent",
            to_domain = email.to.rsplit_once('@').map_or("?", |(_, d)| d),
            subject = %email.subject,
            "no mailer configured (set SMTP_URL); the message was dropped"
        );
        Ok(())
    }
}

/// Escapes text for an HTML body.
fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// What a notice says after its first paragraph.
const NOTICE_ADVICE: &str = "If this was you, there is nothing to do. If it was not, \
     reset your password now and check your account's sessions and settings.";

/// Builds a notice: tells an account's owner what just changed on it. It
/// carries no link (so it cannot be confused with phishing for one).
pub fn notice_email(to: &str, subject: &str, what: &str, idempotency_key: String) -> Email {
    Email {
        to: to.to_owned(),
        subject: subject.to_owned(),
        text: format!("{what}\n\n{NOTICE_ADVICE}\n"),
        html: format!(
            "<p>{}</p><p>{}</p>",
            escape_html(what),
            escape_html(NOTICE_ADVICE)
        ),
        idempotency_key,
    }
}

/// Builds an alert: tells an account's owner about something that happened
/// to it and gives one way out, a link to a page of the app. The link must
/// never carry a token: anyone who knows the address can cause an alert
/// (e.g. a lockout), so it must hold nothing worth phishing for.
pub fn alert_email(
    to: &str,
    subject: &str,
    what: &str,
    action: &str,
    link: &str,
    idempotency_key: String,
) -> Email {
    Email {
        to: to.to_owned(),
        subject: subject.to_owned(),
        text: format!("{what}\n\n{action}:\n{link}\n"),
        html: format!(
            "<p>{}</p><p><a href=\"{}\">{}</a></p>",
            escape_html(what),
            escape_html(link),
            escape_html(action)
        ),
        idempotency_key,
    }
}

/// Builds a message with a single call-to-action link.
pub fn link_email(
    to: &str,
    subject: &str,
    intro: &str,
    action: &str,
    link: &str,
    idempotency_key: String,
) -> Email {
    Email {
        to: to.to_owned(),
        subject: subject.to_owned(),
        text: format!(
            "{intro}\n\n{action}:\n{link}\n\nIf you did not ask for this, ignore this message.\n"
        ),
        html: format!(
            "<p>{}</p><p><a href=\"{}\">{}</a></p><p>If you did not ask for this, ignore this message.</p>",
            escape_html(intro),
            escape_html(link),
            escape_html(action)
        ),
        idempotency_key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_body_and_mailbox_is_idempotent() {
        let mail = link_email(
            "a@example.com",
            "Reset",
            "Hi",
            "Reset",
            "https://x/reset/SECRET",
            "k1".into(),
        );
        let printed = format!("{mail:?}");
        assert!(!printed.contains("SECRET") && !printed.contains("a@example.com"));
        let mailbox = DevMailbox::new();
        futures_executor::block_on(mailbox.send(mail.clone())).unwrap();
        futures_executor::block_on(mailbox.send(mail)).unwrap();
        assert_eq!(mailbox.messages().len(), 1);
        assert!(
            mailbox.messages()[0]
                .text
                .contains("https://x/reset/SECRET")
        );
        assert!(
            mailbox.messages()[0]
                .html
                .contains("href=\"https://x/reset/SECRET\"")
        );
    }

    #[test]
    fn an_alert_links_to_its_page_and_escapes_its_html() {
        let mail = alert_email(
            "a@example.com",
            "Your account was locked",
            "Locked after <5> wrong passwords.",
            "Reset your password",
            "https://x/users/reset-password",
            "lockout-1".into(),
        );
        assert!(
            mail.text
                .contains("Reset your password:\nhttps://x/users/reset-password")
        );
        assert!(
            mail.html
                .contains("href=\"https://x/users/reset-password\"")
        );
        assert!(mail.html.contains("&lt;5&gt;") && !mail.html.contains("<5>"));
        assert_eq!(mail.idempotency_key, "lockout-1");
    }

    #[test]
    fn a_notice_has_no_link_and_escapes_its_html() {
        let mail = notice_email(
            "a@example.com",
            "Your password was changed",
            "The password of <your> account was changed.",
            "notice-1".into(),
        );
        assert!(!mail.text.contains("http") && !mail.html.contains("href"));
        assert!(
            mail.text
                .starts_with("The password of <your> account was changed.")
        );
        assert!(mail.html.contains("&lt;your&gt;") && !mail.html.contains("<your>"));
        assert_eq!(mail.idempotency_key, "notice-1");
    }
}
