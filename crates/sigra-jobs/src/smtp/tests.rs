//! The SMTP transport against a tiny SMTP server on 127.0.0.1 that stands in
//! for a mail relay: the transport talks real SMTP over TCP to it, nothing
//! is mocked. Retries are the inline runner's, so the tests that count
//! attempts run the transport behind [`Jobs::inline`].

use std::net::SocketAddr;
use std::sync::Mutex;

use std::sync::Arc;

use base64::Engine as _;
use chrono::{TimeZone, Utc};
use sigra_core::clock::TestClock;
use sigra_core::config::{Config, Environment};
use sigra_core::mail::link_email;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::test_support::MockDb;
use crate::{JobCounters, JobKind, Jobs, JobsConfig, JobsStats, MailRetry};

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
async fn serve(stream: TcpStream, log: Arc<Mutex<SinkLog>>, mail_from: Script, data_end: Script) {
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

/// The transport with a short timeout, for a sink on this machine.
fn transport(url: &SecretString, from: &str) -> SmtpTransport {
    SmtpTransport::with_options(
        url,
        from,
        SmtpOptions {
            timeout: Duration::from_secs(10),
        },
    )
    .unwrap()
}

/// An inline runner in front of `transport`: `max_attempts` tries per
/// message, 5 ms after the first failure, doubling.
fn inline(transport: SmtpTransport, max_attempts: usize, mail_concurrency: usize) -> Jobs {
    let settings = JobsConfig {
        mail_retry: MailRetry {
            attempts: max_attempts,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_secs(3600),
        },
        mail_concurrency,
        shutdown_timeout: Duration::from_secs(60),
        ..JobsConfig::default()
    };
    let config = Config::builder(Environment::Test).build().unwrap();
    let clock = TestClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap());
    Jobs::inline(Arc::new(MockDb::new()), config)
        .transport(Arc::new(transport))
        .settings(settings)
        .clock(Arc::new(clock))
}

/// Sends `email` through an inline runner over `transport` and waits until
/// it is delivered or given up; the runner's final stats.
async fn deliver(transport: SmtpTransport, max_attempts: usize, email: Email) -> JobsStats {
    let mut jobs = inline(transport, max_attempts, 32);
    let mailer = jobs.mailer();
    let handle = jobs.start().await.unwrap();
    mailer.send(email).await.unwrap();
    handle.shutdown().await // waits for the delivery in flight
}

/// `(in flight, delivered, given up)`, as the old mailer's stats were.
fn outcome(stats: &JobsStats) -> (u64, u64, u64) {
    let JobCounters {
        succeeded, gave_up, ..
    } = stats.job(JobKind::DeliverEmail);
    (stats.mail_in_flight, succeeded, gave_up)
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
    let stats = deliver(
        transport(&sink.url("", ""), "Example <no-reply@example.com>"),
        1,
        reset_email("k-1"),
    )
    .await;

    assert_eq!(outcome(&stats), (0, 1, 0));
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
    let stats = deliver(
        transport(&sink.url("", ""), "no-reply@example.com"),
        5,
        reset_email("k-2"),
    )
    .await;

    assert_eq!(outcome(&stats), (0, 1, 0));
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
    deliver(
        transport(&sink.url("", ""), "no-reply@example.com"),
        5,
        reset_email("abc/=+.key"),
    )
    .await;

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
    let stats = deliver(
        transport(&sink.url("", ""), "no-reply@example.com"),
        5,
        reset_email("k-3"),
    )
    .await;

    assert_eq!(outcome(&stats), (0, 0, 1));
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
    let stats = deliver(
        transport(&sink.url("", ""), "no-reply@example.com"),
        5,
        reset_email("k-4"),
    )
    .await;

    assert_eq!(outcome(&stats).2, 1);
    assert_eq!(sink.log.lock().unwrap().attempts, 1);
}

#[tokio::test]
async fn credentials_reach_a_loopback_sink_percent_decoded() {
    let sink = Sink::accepting().await;
    deliver(
        transport(
            &sink.url("alice:p%40ss:w%2Frd@", ""),
            "no-reply@example.com",
        ),
        1,
        reset_email("k-5"),
    )
    .await;

    let log = sink.log.lock().unwrap();
    assert_eq!(log.auth, ["\0alice\0p@ss:w/rd"]);
    assert_eq!(log.messages.len(), 1);
}

#[tokio::test]
async fn required_starttls_sends_nothing_to_a_server_without_it() {
    let sink = Sink::accepting().await;
    let stats = deliver(
        transport(
            &sink.url("alice:secret@", "?tls=required"),
            "no-reply@example.com",
        ),
        2,
        reset_email("k-6"),
    )
    .await;

    assert_eq!(outcome(&stats).2, 1);
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
    let slow = SmtpTransport::with_options(
        &url,
        "no-reply@example.com",
        SmtpOptions {
            timeout: Duration::from_secs(600),
        },
    )
    .unwrap();
    let mut jobs = inline(slow, 5, 1);
    let mailer = jobs.mailer();
    let handle = jobs.start().await.unwrap();

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
        handle.stats().await.mail_in_flight,
        accepted,
        "a refused message is not counted"
    );
}

#[tokio::test]
async fn an_invalid_recipient_is_refused_before_queueing() {
    let sink = Sink::accepting().await;
    let smtp = transport(&sink.url("", ""), "no-reply@example.com");
    let mut email = reset_email("k-7");
    email.to = "bob@example.org>\r\nRCPT TO:<eve@evil.test".to_owned();

    assert!(matches!(
        smtp.send(email.clone()).await,
        Err(MailError::InvalidRecipient)
    ));
    assert_eq!(sink.log.lock().unwrap().connections, 0, "nothing was sent");
    // Behind a runner: given up at once, never retried.
    let stats = deliver(smtp, 5, email).await;
    assert_eq!(outcome(&stats), (0, 0, 1));
    assert_eq!(stats.job(JobKind::DeliverEmail).failed, 1);
}

#[tokio::test]
async fn debug_and_errors_never_show_credentials() {
    let url = SecretString::from("smtps://apikey-user:hunter2-pw@smtp.example.com".to_owned());
    let smtp = SmtpTransport::from_url(&url, "no-reply@example.com").unwrap();
    let printed = format!("{smtp:?}");
    assert!(
        !printed.contains("hunter2") && !printed.contains("apikey-user"),
        "{printed}"
    );
    assert!(
        printed.contains("smtps://smtp.example.com:465"),
        "{printed}"
    );
    assert!(printed.contains("authenticated: true"), "{printed}");

    let bad =
        SecretString::from("smtp://apikey-user:hunter2-pw@smtp.example.com?tls=none".to_owned());
    let err = SmtpTransport::from_url(&bad, "no-reply@example.com").unwrap_err();
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
    use endpoint::Security::*;
    let ok = |url: &str| {
        let e = endpoint::parse_url(url).unwrap_or_else(|err| panic!("{url}: {err:?}"));
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
        assert!(endpoint::parse_url(bad).is_err(), "{bad} should be refused");
    }
}

#[test]
fn backoff_doubles_from_the_base_and_is_capped() {
    // The runners' one backoff policy, as the transport's own retries had it.
    let retry = MailRetry {
        attempts: 5,
        initial_backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(3600),
    };
    let waits: Vec<_> = (1..=4)
        .map(|attempt| retry.backoff(attempt).as_secs())
        .collect();
    assert_eq!(waits, [1, 2, 4, 8]);
    assert_eq!(retry.backoff(100), Duration::from_secs(3600));
}

#[tokio::test]
async fn one_send_is_one_attempt_and_says_whether_to_retry() {
    let refusing = Sink::start(
        Arc::new(|_| "451 4.3.0 try again later"),
        Arc::new(|_| "250 2.0.0 queued"),
    )
    .await;
    let err = transport(&refusing.url("", ""), "no-reply@example.com")
        .send(reset_email("k-8"))
        .await
        .unwrap_err();
    assert!(matches!(err, MailError::Transport(_)), "{err:?}");
    assert!(!err.is_permanent());
    assert_eq!(refusing.log.lock().unwrap().attempts, 1);

    let rejecting = Sink::start(
        Arc::new(|_| "550 5.7.1 relaying denied"),
        Arc::new(|_| "250 2.0.0 queued"),
    )
    .await;
    let err = transport(&rejecting.url("", ""), "no-reply@example.com")
        .send(reset_email("k-9"))
        .await
        .unwrap_err();
    assert!(matches!(err, MailError::Rejected(_)), "{err:?}");
    assert!(err.is_permanent());
    assert_eq!(rejecting.log.lock().unwrap().attempts, 1);
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("550"), "{shown}");
    assert!(
        !shown.contains("bob@") && !shown.contains("relaying denied"),
        "the server's text is not kept: {shown}"
    );
}
