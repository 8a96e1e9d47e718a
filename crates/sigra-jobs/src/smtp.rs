//! [`SmtpTransport`] (feature `smtp`): the transport that hands Sigra's mail
//! to an SMTP server with lettre, one delivery attempt per call.
//!
//! It is the *transport* behind a runner ([`Jobs::transport`](crate::Jobs::transport)),
//! not the mailer the app is given: the app's mailer is the runner's
//! ([`Jobs::mailer`](crate::Jobs::mailer)), which queues the message and
//! returns at once. A runner then calls the transport, which talks to the
//! server once and says how that went: delivered, failed for now (a 4xx
//! reply, a refused or dropped connection, a timeout, a TLS failure:
//! [`MailError::Transport`]) or refused for good (a 5xx reply:
//! [`MailError::Rejected`]). The transport never queues and never retries;
//! retries belong to the runner alone (apalis's retry layer on the durable
//! queue, the inline runner's backoff otherwise), so there is one backoff
//! policy, [`MailRetry`](crate::MailRetry), and a message refused for good is
//! not tried again.
//!
//! ```no_run
//! use std::sync::Arc;
//! use secrecy::SecretString;
//! use sigra_core::config::Config;
//! use sigra_core::store::Store;
//! use sigra_jobs::Jobs;
//! use sigra_jobs::smtp::SmtpTransport;
//!
//! # fn run(store: Arc<dyn Store>, config: Config) -> Result<(), sigra_core::mail::MailError> {
//! let url = SecretString::from("smtps://apikey:s3cret@smtp.example.com");
//! let smtp = SmtpTransport::from_url(&url, "Example <no-reply@example.com>")?;
//! let mut jobs = Jobs::inline(store, config).transport(Arc::new(smtp));
//! let app_mailer = jobs.mailer(); // give this one to `Auth::builder(..).mailer(..)`
//! # let _ = app_mailer; Ok(()) }
//! ```
//!
//! # `SMTP_URL`
//!
//! | URL | transport |
//! |---|---|
//! | `smtps://user:pass@host[:port]` | implicit TLS (port 465 by default) |
//! | `smtp://user:pass@host[:port]` | STARTTLS, required (port 587 by default) |
//! | `smtp://host[:port]?tls=none` | plain text (port 25 by default); refused with credentials |
//! | `smtp://[user:pass@]localhost[:port]` | plain text: a dev sink on this machine |
//! | `smtp://localhost[:port]?tls=required` | STARTTLS, required |
//!
//! The rule: a password never crosses a network in clear text, and neither
//! does a message (its body holds a single-use sign-in link). So `smtp://`
//! to any host other than the loopback interface (`localhost`, `127.0.0.0/8`,
//! `::1`) requires STARTTLS, and the connection fails before `AUTH` or
//! `MAIL FROM` if the server does not offer it. Plain text is allowed only
//! for the loopback interface (MailHog, Mailpit and the like) or, for an
//! unauthenticated relay on a trusted network, when asked for explicitly with
//! `?tls=none`. Server certificates are checked against the Mozilla root
//! store bundled with `webpki-roots`. User name and password are
//! percent-decoded; the only query parameter is `tls`.

mod endpoint;

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use sigra_core::mail::{Email, MailError, Mailer};
use thiserror::Error;

use endpoint::{Security, build_transport, failure, parse_url, url_host};

/// How the transport talks to the server. [`Default`] is what
/// [`SmtpTransport::from_url`] uses.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SmtpOptions {
    /// How long to wait for each answer from the server (default 30 s).
    pub timeout: Duration,
}

impl Default for SmtpOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
        }
    }
}

/// Whether a failed attempt may succeed later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SmtpFailure {
    /// A 4xx reply, a refused or dropped connection, a timeout, a TLS
    /// failure: the same message may be accepted later.
    Temporary,
    /// A 5xx reply: the server will not take this message; do not retry.
    Permanent,
}

/// Why one delivery attempt failed. It holds the reply code and the kind of
/// failure only: the server's text can quote the recipient's address, so it
/// is not kept, and neither is anything of the message.
#[derive(Debug, Clone, Error)]
#[error("SMTP delivery failed ({failure:?}, {kind}, reply {})", status.as_deref().unwrap_or("-"))]
pub struct SmtpError {
    failure: SmtpFailure,
    kind: &'static str,
    status: Option<String>,
}

impl SmtpError {
    /// Temporary or permanent.
    pub fn failure(&self) -> SmtpFailure {
        self.failure
    }

    /// Whether sending the same message again cannot succeed.
    pub fn is_permanent(&self) -> bool {
        self.failure == SmtpFailure::Permanent
    }

    /// The server's reply code (`"451"`, `"550"`), when there was a reply.
    pub fn status(&self) -> Option<&str> {
        self.status.as_deref()
    }

    fn from_lettre(err: &lettre::transport::smtp::Error) -> Self {
        Self {
            failure: if err.is_permanent() {
                SmtpFailure::Permanent
            } else {
                SmtpFailure::Temporary
            },
            kind: failure_kind(err),
            status: err.status().map(|code| code.to_string()),
        }
    }
}

impl From<SmtpError> for MailError {
    fn from(err: SmtpError) -> Self {
        if err.is_permanent() {
            MailError::Rejected(Box::new(err))
        } else {
            MailError::Transport(Box::new(err))
        }
    }
}

/// Hands each [`Email`] to an SMTP server, once per [`send`](Mailer::send).
///
/// Give it to a runner with [`Jobs::transport`](crate::Jobs::transport); see
/// the [module docs](self). Each message carries the `Message-ID`
/// `<sigra.{idempotency_key}@{sender domain}>`, so a message the runner sends
/// again (its acceptance was lost on the way back) is recognisable as a
/// duplicate. Every attempt is a `tracing` event (`sigra.mail.delivered`,
/// `sigra.mail.failed`) naming the idempotency key and the recipient's domain
/// only: never the address, the body or the link.
pub struct SmtpTransport {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    options: SmtpOptions,
    /// Where mail goes, without credentials: `smtps://host:port`.
    server: String,
    security: Security,
    authenticated: bool,
}

impl SmtpTransport {
    /// A transport for `url` (`SMTP_URL`; see the [module docs](self) for
    /// the forms and the TLS rule) sending as `from` (`no-reply@example.com`
    /// or `Example <no-reply@example.com>`), with [`SmtpOptions::default`].
    ///
    /// Fails with [`MailError::Transport`] when the URL breaks the rule or
    /// the sender is not a valid address. The error never contains the URL.
    pub fn from_url(url: &SecretString, from: &str) -> Result<Self, MailError> {
        Self::with_options(url, from, SmtpOptions::default())
    }

    /// [`from_url`](Self::from_url) with explicit options.
    pub fn with_options(
        url: &SecretString,
        from: &str,
        options: SmtpOptions,
    ) -> Result<Self, MailError> {
        let endpoint = parse_url(url.expose_secret())?;
        let from: Mailbox = from.parse().map_err(|_| {
            failure(format!(
                "the sender address {from:?} is not a valid email address"
            ))
        })?;
        let server = format!(
            "{}://{}:{}",
            endpoint.scheme,
            url_host(&endpoint.host),
            endpoint.port
        );
        let security = endpoint.security;
        let authenticated = endpoint.credentials.is_some();
        let transport = build_transport(endpoint, options.timeout)?;
        Ok(Self {
            transport,
            from,
            options,
            server,
            security,
            authenticated,
        })
    }

    /// Makes one delivery attempt. `InvalidRecipient` when the address is
    /// refused before anything is sent; otherwise the server's verdict, an
    /// `SmtpError` inside `Rejected` (permanent) or `Transport` (temporary).
    async fn deliver(&self, email: Email) -> Result<(), MailError> {
        let to: Address = email.to.parse().map_err(|_| MailError::InvalidRecipient)?;
        let to_domain = to.domain().to_owned();
        let message = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .subject(email.subject)
            .message_id(Some(message_id(
                &email.idempotency_key,
                self.from.email.domain(),
            )))
            .multipart(MultiPart::alternative_plain_html(email.text, email.html))
            .map_err(|e| MailError::Transport(Box::new(e)))?;
        let key = &email.idempotency_key;
        match self
            .transport
            .send_raw(message.envelope(), &message.formatted())
            .await
        {
            Ok(_) => {
                tracing::info!(
                    name: "sigra.mail.delivered",
                    idempotency_key = %key,
                    to_domain = %to_domain,
                    "mail delivered"
                );
                Ok(())
            }
            Err(err) => {
                let err = SmtpError::from_lettre(&err);
                tracing::warn!(
                    name: "sigra.mail.failed",
                    idempotency_key = %key,
                    to_domain = %to_domain,
                    status = err.status().unwrap_or("-"),
                    kind = err.kind,
                    permanent = err.is_permanent(),
                    "mail delivery attempt failed"
                );
                Err(err.into())
            }
        }
    }
}

#[async_trait]
impl Mailer for SmtpTransport {
    /// One delivery attempt; see [`SmtpTransport`].
    async fn send(&self, email: Email) -> Result<(), MailError> {
        self.deliver(email).await
    }
}

impl fmt::Debug for SmtpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No user name either: some providers use an API key as the user.
        f.debug_struct("SmtpTransport")
            .field("server", &self.server)
            .field("security", &self.security)
            .field("authenticated", &self.authenticated)
            .field("from", &self.from.email.to_string())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

fn failure_kind(err: &lettre::transport::smtp::Error) -> &'static str {
    if err.is_transient() {
        "transient"
    } else if err.is_permanent() {
        "permanent"
    } else if err.is_timeout() {
        "timeout"
    } else if err.is_tls() {
        "tls"
    } else if err.is_response() {
        "bad_response"
    } else if err.is_client() {
        "client"
    } else {
        "connection"
    }
}

/// `<sigra.{key}@{domain}>`, with every byte of the key other than ASCII
/// letters, digits, `-` and `_` written as `=XX`, so the ID is always valid
/// and distinct keys give distinct IDs.
fn message_id(idempotency_key: &str, domain: &str) -> String {
    let mut id = String::with_capacity(idempotency_key.len() + domain.len() + 9);
    id.push_str("<sigra.");
    for byte in idempotency_key.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' {
            id.push(char::from(byte));
        } else {
            id.push_str(&format!("={byte:02X}"));
        }
    }
    id.push('@');
    id.push_str(domain);
    id.push('>');
    id
}

#[cfg(test)]
mod tests;
