//! [`SmtpMailer`]: the [`Mailer`] that delivers Sigra's mail over SMTP with lettre.
//!
//! `send` never talks to the network. It builds the MIME message (so a bad
//! recipient address is refused at once), puts it on a bounded queue and
//! returns; a background task drains the queue with a bounded number of
//! concurrent deliveries and retries temporary failures with exponential
//! backoff. The time a request takes therefore says nothing about whether a
//! message was sent, and an unreachable mail server cannot pile up requests.
//!
//! ```no_run
//! use std::sync::Arc;
//! use secrecy::SecretString;
//! use sigra_core::mail::Mailer;
//! use sigra_web::mail::SmtpMailer;
//!
//! # async fn run() -> Result<(), sigra_core::mail::MailError> {
//! // Inside a Tokio runtime: the mailer spawns its delivery task.
//! let url = SecretString::from("smtps://apikey:s3cret@smtp.example.com");
//! let mailer = Arc::new(SmtpMailer::from_url(&url, "Example <no-reply@example.com>")?);
//! let as_port: Arc<dyn Mailer> = mailer.clone();
//! # let _ = as_port;
//! // … serve requests …
//! mailer.flush().await; // on shutdown: wait for queued mail to be delivered or given up
//! # Ok(()) }
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

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use lettre::address::Envelope;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use sigra_core::mail::{Email, MailError, Mailer};
use tokio::sync::{Semaphore, mpsc, watch};
use url::{Host, Url};

/// The longest wait between two attempts, however the backoff is configured.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// How the queue and the retries behave. [`Default`] is what
/// [`SmtpMailer::from_url`] uses.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SmtpOptions {
    /// Messages waiting for delivery before `send` answers
    /// [`MailError::Busy`] (default 256; at least 1).
    pub queue_capacity: usize,
    /// Deliveries in progress at once (default 4; at least 1).
    pub concurrency: usize,
    /// Attempts per message before it is given up (default 5; at least 1).
    pub max_attempts: u32,
    /// The wait after the first failed attempt; it doubles after each
    /// further one, up to an hour (default 1 s: waits of 1, 2, 4 and 8 s).
    pub base_delay: Duration,
    /// How long to wait for each answer from the server (default 30 s).
    pub timeout: Duration,
}

impl Default for SmtpOptions {
    fn default() -> Self {
        Self {
            queue_capacity: 256,
            concurrency: 4,
            max_attempts: 5,
            base_delay: Duration::from_secs(1),
            timeout: Duration::from_secs(30),
        }
    }
}

/// Counts since the mailer was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SmtpStats {
    /// Messages queued or being delivered now.
    pub pending: usize,
    /// Messages the server accepted.
    pub delivered: u64,
    /// Messages given up: rejected permanently (5xx) or out of attempts.
    pub failed: u64,
}

/// Delivers [`Email`]s over SMTP from a bounded background queue.
///
/// Build it inside a Tokio runtime with [`from_url`](Self::from_url); it
/// spawns one task that drains the queue. Hold it as `Arc<dyn Mailer>`.
/// Dropping the last handle closes the queue: messages already queued are
/// still delivered while the runtime runs; call [`flush`](Self::flush)
/// first to wait for them.
///
/// Delivery is at least once: a message whose acceptance was lost on the
/// way back is sent again, with the same `Message-ID`
/// (`<sigra.{idempotency_key}@{sender domain}>`), so duplicates are
/// recognisable. A message the server rejects permanently (5xx) is not
/// retried. Every outcome is a `tracing` event (`sigra.mail.delivered`,
/// `sigra.mail.retry`, `sigra.mail.failed`) naming the idempotency key and
/// the recipient's domain only: never the address, the body or the link.
pub struct SmtpMailer {
    queue: mpsc::Sender<Job>,
    shared: Arc<Shared>,
    from: Mailbox,
    /// Where mail goes, without credentials: `smtps://host:port`.
    server: String,
    security: Security,
    authenticated: bool,
}

struct Shared {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    options: SmtpOptions,
    /// Messages queued or in flight; `flush` waits for zero.
    pending: watch::Sender<usize>,
    delivered: AtomicU64,
    failed: AtomicU64,
}

/// One message on its way. Dropping it, delivered or not, takes it off the
/// pending count.
struct Job {
    envelope: Envelope,
    raw: Vec<u8>,
    idempotency_key: String,
    to_domain: String,
    _pending: Pending,
}

struct Pending(Arc<Shared>);

impl Pending {
    fn new(shared: &Arc<Shared>) -> Self {
        shared.pending.send_modify(|n| *n += 1);
        Self(Arc::clone(shared))
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.0.pending.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// How the connection to the server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    /// `smtps://`: TLS from the first byte.
    ImplicitTls,
    /// `smtp://`: STARTTLS, and fail if the server does not offer it.
    StartTls,
    /// `smtp://` in clear text: loopback, or `?tls=none` without credentials.
    Plain,
}

/// `SMTP_URL`, checked against the rule in the module docs.
struct Endpoint {
    scheme: &'static str,
    host: String,
    port: u16,
    security: Security,
    credentials: Option<Credentials>,
}

impl SmtpMailer {
    /// A mailer for `url` (`SMTP_URL`; see the [module docs](self) for the
    /// forms and the TLS rule) sending as `from` (`no-reply@example.com` or
    /// `Example <no-reply@example.com>`), with [`SmtpOptions::default`].
    ///
    /// Fails with [`MailError::Transport`] when the URL breaks the rule, the
    /// sender is not a valid address, or there is no Tokio runtime to run
    /// the delivery task on. The error never contains the URL.
    pub fn from_url(url: &SecretString, from: &str) -> Result<Self, MailError> {
        Self::with_options(url, from, SmtpOptions::default())
    }

    /// [`from_url`](Self::from_url) with explicit queue and retry settings.
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
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| failure("SmtpMailer must be created inside a Tokio runtime".to_owned()))?;

        let options = SmtpOptions {
            queue_capacity: options.queue_capacity.max(1),
            concurrency: options.concurrency.clamp(1, Semaphore::MAX_PERMITS),
            max_attempts: options.max_attempts.max(1),
            ..options
        };
        let server = format!(
            "{}://{}:{}",
            endpoint.scheme,
            url_host(&endpoint.host),
            endpoint.port
        );
        let security = endpoint.security;
        let authenticated = endpoint.credentials.is_some();
        let transport = build_transport(endpoint, options.timeout)?;

        let (queue, rx) = mpsc::channel(options.queue_capacity);
        let shared = Arc::new(Shared {
            transport,
            pending: watch::Sender::new(0),
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            options,
        });
        runtime.spawn(drain(rx, Arc::clone(&shared)));
        Ok(Self {
            queue,
            shared,
            from,
            server,
            security,
            authenticated,
        })
    }

    /// Waits until every message handed to [`send`](Mailer::send) so far
    /// has been delivered or given up. Wrap it in `tokio::time::timeout` to
    /// bound a graceful shutdown.
    pub async fn flush(&self) {
        let mut pending = self.shared.pending.subscribe();
        // `Err` only if the sender is gone, and `self.shared` holds it.
        let _ = pending.wait_for(|n| *n == 0).await;
    }

    /// Counts of pending, delivered and failed messages.
    pub fn stats(&self) -> SmtpStats {
        SmtpStats {
            pending: *self.shared.pending.borrow(),
            delivered: self.shared.delivered.load(Ordering::Relaxed),
            failed: self.shared.failed.load(Ordering::Relaxed),
        }
    }

    fn build(&self, email: Email) -> Result<Job, MailError> {
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
        Ok(Job {
            envelope: message.envelope().clone(),
            raw: message.formatted(),
            idempotency_key: email.idempotency_key,
            to_domain,
            _pending: Pending::new(&self.shared),
        })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, email: Email) -> Result<(), MailError> {
        let job = self.build(email)?;
        // A job that is not queued is dropped here, which un-counts it.
        self.queue.try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => MailError::Busy,
            mpsc::error::TrySendError::Closed(_) => {
                failure("the mail delivery task has stopped".to_owned())
            }
        })
    }
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No user name either: some providers use an API key as the user.
        f.debug_struct("SmtpMailer")
            .field("server", &self.server)
            .field("security", &self.security)
            .field("authenticated", &self.authenticated)
            .field("from", &self.from.email.to_string())
            .field("options", &self.shared.options)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Takes jobs off the queue and delivers each in its own task, at most
/// `concurrency` at a time. Ends when every `SmtpMailer` handle is gone and
/// the queue is empty.
async fn drain(mut queue: mpsc::Receiver<Job>, shared: Arc<Shared>) {
    let slots = Arc::new(Semaphore::new(shared.options.concurrency));
    while let Some(job) = queue.recv().await {
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            break; // never closed
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            shared.deliver(&job).await;
            drop(slot);
            drop(job); // off the pending count only once the outcome is counted
        });
    }
}

impl Shared {
    async fn deliver(&self, job: &Job) {
        let max_attempts = self.options.max_attempts;
        for attempt in 1..=max_attempts {
            let err = match self.transport.send_raw(&job.envelope, &job.raw).await {
                Ok(_) => {
                    self.delivered.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(
                        name: "sigra.mail.delivered",
                        idempotency_key = %job.idempotency_key,
                        to_domain = %job.to_domain,
                        attempt,
                        "mail delivered"
                    );
                    return;
                }
                Err(err) => err,
            };
            // The server's text can quote the recipient's address, so only
            // the reply code and the kind of failure are logged.
            let status = err.status().map(|code| code.to_string());
            let kind = failure_kind(&err);
            if err.is_permanent() || attempt == max_attempts {
                self.failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    name: "sigra.mail.failed",
                    idempotency_key = %job.idempotency_key,
                    to_domain = %job.to_domain,
                    attempts = attempt,
                    status = status.as_deref().unwrap_or("-"),
                    kind,
                    "mail delivery given up"
                );
                return;
            }
            let delay = backoff(self.options.base_delay, attempt);
            tracing::warn!(
                name: "sigra.mail.retry",
                idempotency_key = %job.idempotency_key,
                to_domain = %job.to_domain,
                attempt,
                status = status.as_deref().unwrap_or("-"),
                kind,
                retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "mail delivery failed; will retry"
            );
            tokio::time::sleep(delay).await;
        }
    }
}

/// The wait after failed attempt number `attempt` (1-based): `base`, then
/// doubling, capped at [`MAX_BACKOFF`].
fn backoff(base: Duration, attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
    base.saturating_mul(factor).min(MAX_BACKOFF)
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

fn parse_url(raw: &str) -> Result<Endpoint, MailError> {
    let url = Url::parse(raw).map_err(|e| failure(format!("SMTP_URL is not a valid URL: {e}")))?;
    let scheme = match url.scheme() {
        "smtp" => "smtp",
        "smtps" => "smtps",
        _ => {
            return Err(failure(
                "SMTP_URL must start with smtp:// or smtps://".to_owned(),
            ));
        }
    };
    let (host, loopback) = match url.host() {
        // `smtp` is not a "special" scheme to the URL standard, so an IPv4
        // address arrives as an opaque host name.
        Some(Host::Domain(d)) if !d.is_empty() => match d.parse::<IpAddr>() {
            Ok(ip) => (ip.to_string(), ip.is_loopback()),
            Err(_) => (d.to_owned(), d.eq_ignore_ascii_case("localhost")),
        },
        Some(Host::Ipv4(ip)) => (ip.to_string(), IpAddr::V4(ip).is_loopback()),
        Some(Host::Ipv6(ip)) => (ip.to_string(), IpAddr::V6(ip).is_loopback()),
        _ => return Err(failure("SMTP_URL has no host".to_owned())),
    };
    if !matches!(url.path(), "" | "/") || url.fragment().is_some() {
        return Err(failure(
            "SMTP_URL must not have a path or a fragment".to_owned(),
        ));
    }
    let mut tls = None;
    for (key, value) in url.query_pairs() {
        match (key.as_ref(), tls.is_some()) {
            ("tls", false) => tls = Some(value.into_owned()),
            _ => {
                return Err(failure(
                    "SMTP_URL accepts one query parameter, tls=required or tls=none".to_owned(),
                ));
            }
        }
    }

    let credentials = credentials(&url)?;
    let security = match (scheme, tls.as_deref()) {
        ("smtps", None) => Security::ImplicitTls,
        ("smtps", Some(_)) => {
            return Err(failure(
                "smtps:// always uses TLS; remove ?tls= from SMTP_URL".to_owned(),
            ));
        }
        (_, Some("required")) => Security::StartTls,
        (_, None) if loopback => Security::Plain,
        (_, None) => Security::StartTls,
        (_, Some("none")) if credentials.is_none() || loopback => Security::Plain,
        (_, Some("none")) => {
            return Err(failure(
                "SMTP_URL sends a password in clear text to a remote host; use smtps:// or drop ?tls=none (STARTTLS)"
                    .to_owned(),
            ));
        }
        (_, Some(_)) => {
            return Err(failure("SMTP_URL: tls must be required or none".to_owned()));
        }
    };
    let default_port = match security {
        Security::ImplicitTls => 465,
        Security::StartTls => 587,
        Security::Plain => 25,
    };
    Ok(Endpoint {
        scheme,
        host,
        port: url.port().unwrap_or(default_port),
        security,
        credentials,
    })
}

fn credentials(url: &Url) -> Result<Option<Credentials>, MailError> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .map(|s| s.into_owned())
            .map_err(|_| failure("SMTP_URL: the user name and password must be UTF-8".to_owned()))
    };
    match (url.username(), url.password()) {
        ("", None) => Ok(None),
        (user, Some(password)) if !user.is_empty() => Ok(Some(Credentials::new(decode(user)?, decode(password)?))),
        _ => Err(failure(
            "SMTP_URL: give both a user name and a password (smtp://user:password@host), or neither".to_owned(),
        )),
    }
}

fn build_transport(
    endpoint: Endpoint,
    timeout: Duration,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
    let tls = match endpoint.security {
        Security::Plain => Tls::None,
        Security::StartTls => Tls::Required(tls_parameters(&endpoint.host)?),
        Security::ImplicitTls => Tls::Wrapper(tls_parameters(&endpoint.host)?),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(endpoint.host)
        .port(endpoint.port)
        .tls(tls)
        .timeout(Some(timeout));
    if let Some(credentials) = endpoint.credentials {
        builder = builder.credentials(credentials);
    }
    Ok(builder.build())
}

fn tls_parameters(host: &str) -> Result<TlsParameters, MailError> {
    TlsParameters::new(host.to_owned()).map_err(|e| MailError::Transport(Box::new(e)))
}

/// `host` as it is written in a URL (IPv6 in brackets).
fn url_host(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// A [`MailError::Transport`] carrying `message`: for configuration
/// problems it says what to change, and it never repeats the URL.
fn failure(message: String) -> MailError {
    MailError::Transport(Box::new(Failure(message)))
}

#[derive(Debug)]
struct Failure(String);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failure {}

#[cfg(test)]
mod tests {
    //! A tiny SMTP server on 127.0.0.1 stands in for a mail relay: the mailer
    //! talks real SMTP over TCP to it, nothing is mocked.

    use std::net::SocketAddr;
    use std::sync::Mutex;

    use base64::Engine as _;
    use sigra_core::mail::link_email;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    const LINK: &str =
        "https://app.example.com/users/reset-password/q2Vj3kX9_bN-7sLwYtR0aZpC4dEfGhIuJkLmNoPqRsT";

    /// The reply to a command, by attempt number (1-based, counted per `MAIL FROM`).
    type Script = Arc<dyn Fn(usize) -> &'static str + Send + Sync>;

    #[derive(Default)]
    struct SinkLog {
        connections: usize,
        attempts: usize,
        auth: Vec<String>,
        messages: Vec<Received>,
    }

    struct Received {
        mail_from: String,
        rcpt_to: Vec<String>,
        data: String,
    }

    struct Sink {
        addr: SocketAddr,
        log: Arc<Mutex<SinkLog>>,
    }

    impl Sink {
        /// A server that accepts everything.
        async fn accepting() -> Sink {
            Sink::start(
                Arc::new(|_| "250 2.1.0 ok"),
                Arc::new(|_| "250 2.0.0 queued"),
            )
            .await
        }

        /// `mail_from` answers `MAIL FROM`, `data_end` the end of `DATA`.
        async fn start(mail_from: Script, data_end: Script) -> Sink {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let log = Arc::new(Mutex::new(SinkLog::default()));
            let shared = Arc::clone(&log);
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    shared.lock().unwrap().connections += 1;
                    tokio::spawn(serve(
                        stream,
                        Arc::clone(&shared),
                        Arc::clone(&mail_from),
                        Arc::clone(&data_end),
                    ));
                }
            });
            Sink { addr, log }
        }

        fn url(&self, userinfo: &str, query: &str) -> SecretString {
            SecretString::from(format!("smtp://{userinfo}{}{query}", self.addr))
        }
    }

    /// One SMTP session, RFC 5321 just far enough for lettre.
    async fn serve(
        stream: TcpStream,
        log: Arc<Mutex<SinkLog>>,
        mail_from: Script,
        data_end: Script,
    ) {
        let (read, mut write) = stream.into_split();
        let mut read = BufReader::new(read);
        let mut envelope = (String::new(), Vec::new());
        let mut attempt = 0;
        write.write_all(b"220 sink.test ESMTP\r\n").await.unwrap();
        loop {
            let mut line = String::new();
            if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
            let reply = match verb.as_str() {
                "EHLO" | "HELO" => "250-sink.test\r\n250 AUTH PLAIN LOGIN".to_owned(),
                "AUTH" => {
                    let b64 = line.rsplit(' ').next().unwrap_or("");
                    let decoded = base64::engine::general_purpose::STANDARD
                        .decode(b64)
                        .unwrap_or_default();
                    log.lock()
                        .unwrap()
                        .auth
                        .push(String::from_utf8_lossy(&decoded).into_owned());
                    "235 2.7.0 authenticated".to_owned()
                }
                "MAIL" => {
                    attempt = {
                        let mut log = log.lock().unwrap();
                        log.attempts += 1;
                        log.attempts
                    };
                    envelope = (line["MAIL FROM:".len()..].to_owned(), Vec::new());
                    mail_from(attempt).to_owned()
                }
                "RCPT" => {
                    envelope.1.push(line["RCPT TO:".len()..].to_owned());
                    "250 2.1.5 ok".to_owned()
                }
                "DATA" => {
                    write
                        .write_all(b"354 end with <CRLF>.<CRLF>\r\n")
                        .await
                        .unwrap();
                    let mut data = String::new();
                    loop {
                        let mut line = String::new();
                        if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if line == ".\r\n" {
                            break;
                        }
                        // Undo dot-stuffing (RFC 5321 §4.5.2).
                        data.push_str(line.strip_prefix('.').unwrap_or(&line));
                    }
                    log.lock().unwrap().messages.push(Received {
                        mail_from: envelope.0.clone(),
                        rcpt_to: envelope.1.clone(),
                        data,
                    });
                    data_end(attempt).to_owned()
                }
                "RSET" | "NOOP" => "250 2.0.0 ok".to_owned(),
                "QUIT" => {
                    let _ = write.write_all(b"221 2.0.0 bye\r\n").await;
                    return;
                }
                _ => "500 5.5.2 unknown command".to_owned(),
            };
            if write
                .write_all(format!("{reply}\r\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
        }
    }

    fn fast(max_attempts: u32) -> SmtpOptions {
        SmtpOptions {
            max_attempts,
            base_delay: Duration::from_millis(5),
            timeout: Duration::from_secs(10),
            ..SmtpOptions::default()
        }
    }

    fn reset_email(key: &str) -> Email {
        link_email(
            "bob@example.org",
            "Reset your password",
            "Someone asked to reset your password.",
            "Reset password",
            LINK,
            key.to_owned(),
        )
    }

    /// The parts of a multipart message: (Content-Type, decoded body).
    fn mime_parts(data: &str) -> Vec<(String, String)> {
        let start = data.find("boundary=\"").unwrap() + "boundary=\"".len();
        let boundary = &data[start..start + data[start..].find('"').unwrap()];
        data.split(&format!("--{boundary}"))
            .skip(1)
            .filter(|part| !part.starts_with("--"))
            .map(|part| {
                let (headers, body) = part.split_once("\r\n\r\n").unwrap();
                let content_type = headers
                    .lines()
                    .find_map(|h| h.strip_prefix("Content-Type: "))
                    .unwrap()
                    .to_owned();
                let body = if headers.contains("Content-Transfer-Encoding: quoted-printable") {
                    decode_quoted_printable(body)
                } else {
                    body.to_owned()
                };
                (content_type, body)
            })
            .collect()
    }

    fn decode_quoted_printable(body: &str) -> String {
        let joined = body.replace("=\r\n", "");
        let bytes = joined.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'=' && i + 2 < bytes.len() {
                out.push(u8::from_str_radix(&joined[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }

    #[tokio::test]
    async fn delivers_a_multipart_message_with_the_link_intact() {
        let sink = Sink::accepting().await;
        let mailer =
            SmtpMailer::with_options(&sink.url("", ""), "Example <no-reply@example.com>", fast(1))
                .unwrap();

        mailer.send(reset_email("k-1")).await.unwrap();
        mailer.flush().await;

        assert_eq!(
            mailer.stats(),
            SmtpStats {
                pending: 0,
                delivered: 1,
                failed: 0
            }
        );
        let log = sink.log.lock().unwrap();
        assert!(log.auth.is_empty(), "no credentials, no AUTH");
        let [message] = log.messages.as_slice() else {
            panic!("expected one message")
        };
        assert_eq!(message.mail_from, "<no-reply@example.com>");
        assert_eq!(message.rcpt_to, ["<bob@example.org>"]);
        let data = &message.data;
        assert!(
            data.contains("\r\nSubject: Reset your password\r\n"),
            "{data}"
        );
        assert!(data.contains("\r\nTo: bob@example.org\r\n"), "{data}");
        assert!(
            data.starts_with("From: Example <no-reply@example.com>\r\n"),
            "{data}"
        );
        assert!(
            data.contains("\r\nMessage-ID: <sigra.k-1@example.com>\r\n"),
            "{data}"
        );
        assert!(
            data.contains("Content-Type: multipart/alternative;"),
            "{data}"
        );

        let parts = mime_parts(data);
        assert_eq!(parts.len(), 2, "{data}");
        assert!(parts[0].0.starts_with("text/plain"), "{:?}", parts[0]);
        assert!(
            parts[0]
                .1
                .contains(&format!("Reset password:\r\n{LINK}\r\n")),
            "{}",
            parts[0].1
        );
        assert!(parts[1].0.starts_with("text/html"), "{:?}", parts[1]);
        assert!(
            parts[1]
                .1
                .contains(&format!("<a href=\"{LINK}\">Reset password</a>")),
            "{}",
            parts[1].1
        );
    }

    #[tokio::test]
    async fn a_temporary_failure_is_retried_until_the_server_accepts() {
        let sink = Sink::start(
            Arc::new(|attempt| {
                if attempt <= 2 {
                    "451 4.3.0 try again later"
                } else {
                    "250 2.1.0 ok"
                }
            }),
            Arc::new(|_| "250 2.0.0 queued"),
        )
        .await;
        let mailer =
            SmtpMailer::with_options(&sink.url("", ""), "no-reply@example.com", fast(5)).unwrap();

        mailer.send(reset_email("k-2")).await.unwrap();
        mailer.flush().await;

        assert_eq!(
            mailer.stats(),
            SmtpStats {
                pending: 0,
                delivered: 1,
                failed: 0
            }
        );
        let log = sink.log.lock().unwrap();
        assert_eq!(log.attempts, 3);
        assert_eq!(log.messages.len(), 1);
    }

    #[tokio::test]
    async fn a_lost_acceptance_redelivers_with_the_same_message_id() {
        // The first DATA is received but answered with 451, as when the
        // acceptance is lost: the message arrives twice, recognisably.
        let sink = Sink::start(
            Arc::new(|_| "250 2.1.0 ok"),
            Arc::new(|attempt| {
                if attempt == 1 {
                    "451 4.4.2 connection dropped"
                } else {
                    "250 2.0.0 queued"
                }
            }),
        )
        .await;
        let mailer =
            SmtpMailer::with_options(&sink.url("", ""), "no-reply@example.com", fast(5)).unwrap();

        mailer.send(reset_email("abc/=+.key")).await.unwrap();
        mailer.flush().await;

        let log = sink.log.lock().unwrap();
        assert_eq!(log.messages.len(), 2);
        let id = "\r\nMessage-ID: <sigra.abc=2F=3D=2B=2Ekey@example.com>\r\n";
        assert!(
            log.messages.iter().all(|m| m.data.contains(id)),
            "{}",
            log.messages[0].data
        );
    }

    #[tokio::test]
    async fn a_failing_server_is_given_up_after_the_attempt_limit() {
        let sink = Sink::start(
            Arc::new(|_| "451 4.3.0 try again later"),
            Arc::new(|_| "250 2.0.0 queued"),
        )
        .await;
        let mailer =
            SmtpMailer::with_options(&sink.url("", ""), "no-reply@example.com", fast(5)).unwrap();

        mailer.send(reset_email("k-3")).await.unwrap();
        mailer.flush().await;

        assert_eq!(
            mailer.stats(),
            SmtpStats {
                pending: 0,
                delivered: 0,
                failed: 1
            }
        );
        let log = sink.log.lock().unwrap();
        assert_eq!(log.attempts, 5);
        assert!(log.messages.is_empty());
    }

    #[tokio::test]
    async fn a_permanent_rejection_is_not_retried() {
        let sink = Sink::start(
            Arc::new(|_| "550 5.7.1 relaying denied"),
            Arc::new(|_| "250 2.0.0 queued"),
        )
        .await;
        let mailer =
            SmtpMailer::with_options(&sink.url("", ""), "no-reply@example.com", fast(5)).unwrap();

        mailer.send(reset_email("k-4")).await.unwrap();
        mailer.flush().await;

        assert_eq!(mailer.stats().failed, 1);
        assert_eq!(sink.log.lock().unwrap().attempts, 1);
    }

    #[tokio::test]
    async fn credentials_reach_a_loopback_sink_percent_decoded() {
        let sink = Sink::accepting().await;
        let mailer = SmtpMailer::with_options(
            &sink.url("alice:p%40ss:w%2Frd@", ""),
            "no-reply@example.com",
            fast(1),
        )
        .unwrap();

        mailer.send(reset_email("k-5")).await.unwrap();
        mailer.flush().await;

        let log = sink.log.lock().unwrap();
        assert_eq!(log.auth, ["\0alice\0p@ss:w/rd"]);
        assert_eq!(log.messages.len(), 1);
    }

    #[tokio::test]
    async fn required_starttls_sends_nothing_to_a_server_without_it() {
        let sink = Sink::accepting().await;
        let mailer = SmtpMailer::with_options(
            &sink.url("alice:secret@", "?tls=required"),
            "no-reply@example.com",
            fast(2),
        )
        .unwrap();

        mailer.send(reset_email("k-6")).await.unwrap();
        mailer.flush().await;

        assert_eq!(mailer.stats().failed, 1);
        let log = sink.log.lock().unwrap();
        assert_eq!(
            log.connections, 2,
            "each attempt connects, then stops at EHLO"
        );
        assert_eq!(log.attempts, 0, "no MAIL FROM");
        assert!(log.auth.is_empty(), "no AUTH in clear text");
    }

    #[tokio::test]
    async fn a_full_queue_answers_busy_at_once() {
        // A server that never greets: the one delivery slot stays taken.
        let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = SecretString::from(format!("smtp://{}", silent.local_addr().unwrap()));
        let options = SmtpOptions {
            queue_capacity: 1,
            concurrency: 1,
            timeout: Duration::from_secs(600),
            ..SmtpOptions::default()
        };
        let mailer = SmtpMailer::with_options(&url, "no-reply@example.com", options).unwrap();

        // At most: one in the queue, one waiting for the slot, one in flight.
        let mut accepted = 0;
        let busy = loop {
            match mailer.send(reset_email(&format!("k-{accepted}"))).await {
                Ok(()) => accepted += 1,
                Err(err) => break err,
            }
            assert!(accepted <= 3, "the queue is not bounded");
            tokio::task::yield_now().await;
        };
        assert!(matches!(busy, MailError::Busy), "{busy:?}");
        assert!(accepted >= 1);
        assert_eq!(
            mailer.stats().pending,
            accepted,
            "a refused message is not counted"
        );
    }

    #[tokio::test]
    async fn an_invalid_recipient_is_refused_before_queueing() {
        let sink = Sink::accepting().await;
        let mailer =
            SmtpMailer::with_options(&sink.url("", ""), "no-reply@example.com", fast(1)).unwrap();
        let mut email = reset_email("k-7");
        email.to = "bob@example.org>\r\nRCPT TO:<eve@evil.test".to_owned();

        assert!(matches!(
            mailer.send(email).await,
            Err(MailError::InvalidRecipient)
        ));
        assert_eq!(mailer.stats().pending, 0);
    }

    #[tokio::test]
    async fn debug_and_errors_never_show_credentials() {
        let url = SecretString::from("smtps://apikey-user:hunter2-pw@smtp.example.com".to_owned());
        let mailer = SmtpMailer::from_url(&url, "no-reply@example.com").unwrap();
        let printed = format!("{mailer:?}");
        assert!(
            !printed.contains("hunter2") && !printed.contains("apikey-user"),
            "{printed}"
        );
        assert!(
            printed.contains("smtps://smtp.example.com:465"),
            "{printed}"
        );
        assert!(printed.contains("authenticated: true"), "{printed}");

        let bad = SecretString::from(
            "smtp://apikey-user:hunter2-pw@smtp.example.com?tls=none".to_owned(),
        );
        let err = SmtpMailer::from_url(&bad, "no-reply@example.com").unwrap_err();
        let shown = format!(
            "{err} {:?} {}",
            err,
            std::error::Error::source(&err).unwrap()
        );
        assert!(
            !shown.contains("hunter2") && !shown.contains("apikey-user"),
            "{shown}"
        );
    }

    #[test]
    fn smtp_url_rule() {
        use Security::*;
        let ok = |url: &str| {
            let e = parse_url(url).unwrap_or_else(|err| panic!("{url}: {err:?}"));
            (e.security, e.port, e.credentials.is_some())
        };
        assert_eq!(ok("smtps://u:p@smtp.example.com"), (ImplicitTls, 465, true));
        assert_eq!(
            ok("smtps://smtp.example.com:2465"),
            (ImplicitTls, 2465, false)
        );
        assert_eq!(ok("smtp://u:p@smtp.example.com"), (StartTls, 587, true));
        assert_eq!(ok("smtp://smtp.example.com"), (StartTls, 587, false));
        assert_eq!(ok("smtp://relay.internal:25?tls=none"), (Plain, 25, false));
        assert_eq!(ok("smtp://u:p@localhost:1025"), (Plain, 1025, true));
        assert_eq!(ok("smtp://127.0.0.2:1025"), (Plain, 1025, false));
        assert_eq!(ok("smtp://u:p@[::1]:1025?tls=none"), (Plain, 1025, true));
        assert_eq!(ok("smtp://localhost?tls=required"), (StartTls, 587, false));

        for bad in [
            "smtp://u:p@smtp.example.com?tls=none",
            "smtp://u:p@smtp.example.com?tls=opportunistic",
            "smtps://smtp.example.com?tls=required",
            "smtp://smtp.example.com?tls=required&tls=none",
            "smtp://smtp.example.com?foo=bar",
            "smtp://u@smtp.example.com",
            "smtp://:p@smtp.example.com",
            "smtp://smtp.example.com/ehlo-name",
            "http://smtp.example.com",
            "smtp://",
            "not a url",
        ] {
            assert!(parse_url(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn backoff_doubles_from_the_base_and_is_capped() {
        let base = Duration::from_secs(1);
        let waits: Vec<_> = (1..=4)
            .map(|attempt| backoff(base, attempt).as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4, 8]);
        assert_eq!(backoff(base, 100), MAX_BACKOFF);
    }
}
