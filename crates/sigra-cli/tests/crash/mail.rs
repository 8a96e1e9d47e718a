//! Durable mail is durable: `sigra serve --jobs durable` sends its mail over
//! SMTP to a small server on 127.0.0.1 that this test scripts.
//!
//! 1. The server refuses one recipient for good (554 at the end of DATA):
//!    that message is tried once, the job ends, and the log says so once —
//!    without the address or the link.
//! 2. It answers every other message with 451 (try later). Once a message
//!    has been refused twice (apalis's retry layer is working), `sigra` is
//!    killed with SIGKILL while the message waits for its next try.
//! 3. `sigra` is started again on the same database with the SMTP server
//!    accepting: the message is delivered — at least once, never zero times —
//!    and the permanently refused one is still not tried again.
//!
//! The same test runs on a SQLite file and on a fresh PostgreSQL database
//! (`SIGRA_TEST_POSTGRES_URL`); PostgreSQL is never skipped.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sigra_tests::http::{Client, StatusCode};
use sigra_tests::{Backend, TestStore, fresh_store};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use super::{PASSWORD, Server};

/// The recipient the SMTP server refuses for good.
const REFUSED: &str = "refused-for-good@example.com";
/// The recipient whose message must survive the kill.
const DURABLE: &str = "durable-mail@example.com";
/// How long the restarted node may take: a dead worker's jobs go back to the
/// queue after two missed 30 s heartbeats, noticed at the next heartbeat.
const RECOVERY: Duration = Duration::from_secs(180);

/// One message as the SMTP server saw it.
#[derive(Debug, Clone)]
struct Received {
    rcpt: String,
    data: String,
    reply: &'static str,
}

/// A scripted SMTP server on 127.0.0.1.
struct Smtp {
    addr: SocketAddr,
    accept: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Received>>>,
}

impl Smtp {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accept = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (a, s) = (accept.clone(), seen.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(stream, a.clone(), s.clone()));
            }
        });
        Self { addr, accept, seen }
    }

    /// Every message to `rcpt` so far.
    fn to(&self, rcpt: &str) -> Vec<Received> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.rcpt.contains(rcpt))
            .cloned()
            .collect()
    }
}

/// One SMTP session: 554 after DATA for [`REFUSED`], else 250 when
/// accepting and 451 when not.
async fn session(stream: TcpStream, accept: Arc<AtomicBool>, seen: Arc<Mutex<Vec<Received>>>) {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut rcpt = String::new();
    if write.write_all(b"220 smtp.test ESMTP\r\n").await.is_err() {
        return;
    }
    loop {
        let mut line = String::new();
        if read.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        let reply = match verb.as_str() {
            "EHLO" | "HELO" => "250 smtp.test".to_owned(),
            "RCPT" => {
                rcpt = line.trim_end().to_owned();
                "250 2.1.5 ok".to_owned()
            }
            "DATA" => {
                if write.write_all(b"354 go ahead\r\n").await.is_err() {
                    return;
                }
                let mut data = String::new();
                loop {
                    let mut line = String::new();
                    if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if line == ".\r\n" {
                        break;
                    }
                    data.push_str(&line);
                }
                let reply = if rcpt.contains(REFUSED) {
                    "554 5.7.1 refused for good"
                } else if accept.load(Ordering::SeqCst) {
                    "250 2.0.0 queued"
                } else {
                    "451 4.3.0 try again later"
                };
                seen.lock().unwrap().push(Received {
                    rcpt: rcpt.clone(),
                    data,
                    reply,
                });
                reply.to_owned()
            }
            "QUIT" => {
                let _ = write.write_all(b"221 2.0.0 bye\r\n").await;
                return;
            }
            _ => "250 2.0.0 ok".to_owned(),
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

/// Polls `done` every 100 ms for up to `limit`.
async fn wait_for(what: &str, limit: Duration, log: &Path, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < limit,
            "{what}: not within {limit:?}\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Registers `email`; the registration sends its confirmation link.
async fn register(base: &str, email: &str) {
    let mut browser = Client::for_url(base.to_owned());
    let page = browser
        .try_submit(
            "/users/register",
            &[("email", email), ("password", PASSWORD)],
        )
        .await
        .expect("the server answers");
    assert_eq!(page.status, StatusCode::SEE_OTHER, "register {email}");
}

/// The link in a message (its first `http://` URL, soft line breaks of
/// quoted-printable undone).
fn link(data: &str) -> String {
    let data = data.replace("=\r\n", "");
    let start = data.find("http://").expect("a link in the message");
    let link = data[start..]
        .split(|c: char| c.is_whitespace() || c == '"' || c == '<')
        .next()
        .unwrap()
        .to_owned();
    assert!(link.contains("/users/"), "{link}");
    link
}

/// The status of every `deliver_email` row in apalis's table.
async fn mail_rows(store: &TestStore) -> Vec<String> {
    let mut rows = if let Some(pool) = store.pg_pool() {
        sqlx::query_scalar::<_, String>(
            "SELECT status FROM apalis.jobs WHERE job_type = 'sigra.deliver_email'",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
    } else {
        sqlx::query_scalar::<_, String>(
            "SELECT status FROM Jobs WHERE job_type = 'sigra.deliver_email'",
        )
        .fetch_all(&store.sqlite_pool().unwrap())
        .await
        .unwrap()
    };
    rows.sort();
    rows
}

async fn mail_survives_a_sigkill(backend: Backend) {
    let binary = Path::new(env!("CARGO_BIN_EXE_sigra"));
    let store = fresh_store(backend).await;
    let database_url = store.database_url().expect("a database a process can open");
    let smtp = Smtp::start().await;
    let smtp_url = format!("smtp://{}", smtp.addr);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let env = [
        ("DATABASE_URL", database_url.as_str()),
        ("SMTP_URL", smtp_url.as_str()),
        ("RUST_LOG", "info,sqlx=warn"),
    ];
    let args = ["serve", "--jobs", "durable"];

    let mut server = Server::spawn(binary, &args, &env, port, log.clone());
    server.wait_ready(&base).await;

    // 1. Refused for good: one try, then the job ends.
    register(&base, REFUSED).await;
    wait_for("the refused message is tried", RECOVERY, &log, || {
        !smtp.to(REFUSED).is_empty()
    })
    .await;

    // 2. Refused for now, twice (the first retry comes 10 s after the first
    // failure); then the process dies while the message waits for its third try.
    register(&base, DURABLE).await;
    wait_for("the message is retried", RECOVERY, &log, || {
        smtp.to(DURABLE).len() >= 2
    })
    .await;
    assert!(
        smtp.to(DURABLE).iter().all(|m| m.reply.starts_with("451")),
        "nothing was accepted before the kill"
    );
    server.kill();

    // 3. Restarted on the same database, with the SMTP server accepting.
    smtp.accept.store(true, Ordering::SeqCst);
    let mut server = Server::spawn(binary, &args, &env, port, log.clone());
    server.wait_ready(&base).await;
    wait_for(
        "the message is delivered after the restart",
        RECOVERY,
        &log,
        || smtp.to(DURABLE).iter().any(|m| m.reply.starts_with("250")),
    )
    .await;
    let started = Instant::now();
    while mail_rows(&store).await != ["Done", "Killed"] {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "both mail jobs end: {:?}",
            mail_rows(&store).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.kill();

    let delivered: Vec<Received> = smtp
        .to(DURABLE)
        .into_iter()
        .filter(|m| m.reply.starts_with("250"))
        .collect();
    assert!(!delivered.is_empty(), "delivered at least once");
    let refused = smtp.to(REFUSED);
    assert_eq!(
        refused.len(),
        1,
        "a permanent refusal is not retried, not even after a restart"
    );
    assert_eq!(
        mail_rows(&store).await,
        ["Done", "Killed"],
        "the delivered job is done; the refused one ended without a retry"
    );

    let text = std::fs::read_to_string(&log).unwrap();
    let gave_up: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("mail refused permanently, not retried"))
        .collect();
    assert_eq!(
        gave_up.len(),
        1,
        "the permanent refusal is logged once:\n{text}"
    );
    assert!(gave_up[0].contains("554"), "{}", gave_up[0]);
    for secret in [
        REFUSED.to_owned(),
        DURABLE.to_owned(),
        link(&refused[0].data),
        link(&delivered[0].data),
    ] {
        assert!(
            !text.contains(&secret),
            "the log must not show {secret}:\n{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_while_smtp_refuses_loses_no_mail_on_sqlite() {
    mail_survives_a_sigkill(Backend::SqliteFile).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_while_smtp_refuses_loses_no_mail_on_postgres() {
    mail_survives_a_sigkill(Backend::Postgres).await;
}
