//! Crash safety: `sigra serve` is killed with SIGKILL in the middle of a
//! burst of registrations and log-ins, three times over, on one SQLite file.
//!
//! The process gets no chance to flush, roll back or say goodbye: whatever
//! SQLite wrote before the kill is all there is. After each kill the server
//! is started again on the same file, and at the end the test checks that
//!
//! - every registration the server acknowledged (its 303 reached the client)
//!   is still there, with a complete password hash, and its session cookie
//!   still signs the browser in;
//! - every acknowledged log-in's session cookie still signs the browser in;
//! - the file passes `PRAGMA integrity_check` and `PRAGMA foreign_key_check`
//!   (no session, token or MFA row points at a missing user);
//! - no user row was left without the audit event written in the same
//!   transaction as the user;
//! - the registrations that were in flight at the kill can be finished: the
//!   same form answers 303 (never written) or "already exists" (written, not
//!   acknowledged), never a 500.
//!
//! It runs the real binary, the one Cargo built for this test
//! (`CARGO_BIN_EXE_sigra`), at the default Argon2 cost. `cargo xtask chaos`
//! runs it with the other reliability tests (every test here whose name holds
//! `sigkill`), among them the durable-mail tests of the `mail` module.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// Durable mail across a SIGKILL, on SQLite and PostgreSQL.
#[path = "crash/mail.rs"]
mod mail;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sigra_tests::http::{Client, Method, StatusCode};
use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};

const PASSWORD: &str = "correct horse battery staple";
/// A fixed root secret, so cookies signed before a kill verify after it.
const SECRET_KEY_BASE: &str = "crash-test-secret-key-base-0123456789abcdef-0123456789abcdef-0123";
/// Client tasks in each burst.
const TASKS: usize = 8;
/// How long each burst runs before the kill (varied, so kills land in different places).
const KILL_AFTER_MS: [u64; 3] = [700, 1_100, 1_500];

/// One `sigra serve` child process.
struct Server {
    child: Child,
    log: PathBuf,
}

impl Server {
    fn start(binary: &Path, database: &Path, port: u16, log: PathBuf) -> Self {
        let database_url = format!("sqlite://{}", database.display());
        Self::spawn(
            binary,
            &["serve"],
            &[("DATABASE_URL", database_url.as_str())],
            port,
            log,
        )
    }

    /// `sigra <args>` on `port` with the test's fixed environment plus `env`
    /// (which wins over it), its output appended to `log`.
    fn spawn(binary: &Path, args: &[&str], env: &[(&str, &str)], port: u16, log: PathBuf) -> Self {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("open the server log");
        let err = out.try_clone().expect("clone the log handle");
        let child = Command::new(binary)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("SIGRA_ENV", "dev")
            .env("SECRET_KEY_BASE", SECRET_KEY_BASE)
            .env("PORT", port.to_string())
            .env("SIGRA_RATE_LIMIT_REGISTER", "1000000/1m")
            .env("SIGRA_RATE_LIMIT_LOGIN", "1000000/1m")
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
        Self { child, log }
    }

    /// Waits until `/health` answers 200.
    async fn wait_ready(&mut self, base: &str) {
        let started = Instant::now();
        let http = reqwest::Client::new();
        loop {
            if let Some(status) = self.child.try_wait().expect("poll the server process") {
                panic!(
                    "sigra serve exited with {status} before it was ready:\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            let ok = http
                .get(format!("{base}/health"))
                .send()
                .await
                .is_ok_and(|r| r.status() == StatusCode::OK);
            if ok {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "sigra serve was not ready within 60 s:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL, then reap the process.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL the server");
        self.child.wait().expect("reap the server");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the clients were told, collected across bursts.
#[derive(Default)]
struct Acknowledged {
    /// Registrations answered 303, with the browser that made them.
    registrations: Vec<(String, Client)>,
    /// Log-ins answered 303, with the browser that made them.
    log_ins: Vec<(String, Client)>,
    /// Registrations that got no answer (the kill cut them off).
    unanswered: Vec<String>,
    /// Any answer other than 303: `(what, status)`.
    unexpected: Vec<(String, u16)>,
}

/// Registers and logs in from `TASKS` tasks until `stop`.
async fn burst(
    base: &str,
    cycle: usize,
    stop: &Arc<AtomicBool>,
    acknowledged: &Arc<Mutex<Acknowledged>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let counter = Arc::new(AtomicUsize::new(0));
    (0..TASKS)
        .map(|task| {
            let (base, stop, acknowledged, counter) = (
                base.to_owned(),
                stop.clone(),
                acknowledged.clone(),
                counter.clone(),
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    let email = format!("crash-{cycle}-{n}@example.com");
                    let mut browser = Client::for_url(base.clone());
                    let fields = [("email", email.as_str()), ("password", PASSWORD)];
                    match browser.try_submit("/users/register", &fields).await {
                        Ok(page) if page.status == StatusCode::SEE_OTHER => {
                            let mut all = acknowledged.lock().expect("lock");
                            all.registrations.push((email, browser));
                        }
                        Ok(page) => acknowledged
                            .lock()
                            .expect("lock")
                            .unexpected
                            .push((format!("register {email}"), page.status.as_u16())),
                        Err(_) => {
                            acknowledged.lock().expect("lock").unanswered.push(email);
                            return;
                        }
                    }
                    // Then log in as someone registered earlier (any burst).
                    let earlier = {
                        let all = acknowledged.lock().expect("lock");
                        let i = (n * 7 + task) % all.registrations.len().max(1);
                        all.registrations.get(i).map(|(email, _)| email.clone())
                    };
                    let Some(email) = earlier else { continue };
                    let mut browser = Client::for_url(base.clone());
                    let fields = [("email", email.as_str()), ("password", PASSWORD)];
                    match browser.try_submit("/users/log-in", &fields).await {
                        Ok(page) if page.status == StatusCode::SEE_OTHER => {
                            acknowledged
                                .lock()
                                .expect("lock")
                                .log_ins
                                .push((email, browser));
                        }
                        Ok(page) => acknowledged
                            .lock()
                            .expect("lock")
                            .unexpected
                            .push((format!("log in {email}"), page.status.as_u16())),
                        Err(_) => return,
                    }
                }
            })
        })
        .collect()
}

/// Whether `browser`'s session still opens `/dashboard`.
async fn signed_in(browser: &mut Client) -> StatusCode {
    browser
        .try_request(Method::GET, "/dashboard", Default::default(), None)
        .await
        .map_or(StatusCode::BAD_GATEWAY, |page| page.status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_a_burst_loses_no_acknowledged_write() {
    let binary = Path::new(env!("CARGO_BIN_EXE_sigra"));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let database = dir.path().join("crash.sqlite");
    let log = dir.path().join("serve.log");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let acknowledged = Arc::new(Mutex::new(Acknowledged::default()));

    for (cycle, kill_after) in KILL_AFTER_MS.into_iter().enumerate() {
        let mut server = Server::start(binary, &database, port, log.clone());
        server.wait_ready(&base).await;
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = burst(&base, cycle, &stop, &acknowledged).await;
        tokio::time::sleep(Duration::from_millis(kill_after)).await;
        // Kill first, then tell the clients: requests are in flight at the kill.
        server.kill();
        stop.store(true, Ordering::Relaxed);
        for task in tasks {
            task.await.expect("a client task");
        }
    }

    let mut acknowledged = Arc::into_inner(acknowledged)
        .expect("the client tasks are done")
        .into_inner()
        .expect("lock");
    let registrations = acknowledged.registrations.len();
    let log_ins = acknowledged.log_ins.len();
    eprintln!(
        "crash: {registrations} acknowledged registrations, {log_ins} acknowledged log-ins, \
         {} cut off by the kills, across {} kills",
        acknowledged.unanswered.len(),
        KILL_AFTER_MS.len()
    );
    assert!(
        acknowledged.unexpected.is_empty(),
        "before each kill every answer was 303: {:?}",
        acknowledged.unexpected
    );
    assert!(
        registrations >= 2 * KILL_AFTER_MS.len() && log_ins >= KILL_AFTER_MS.len(),
        "the bursts did too little to test anything ({registrations} registrations, {log_ins} log-ins): \
         is the server's hashing very slow?\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    // The file as the last kill left it (SQLite recovers the WAL on open).
    let pool = SqlitePool::connect_with(
        SqliteConnectOptions::new()
            .filename(&database)
            .foreign_keys(true),
    )
    .await
    .expect("open the database file");
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&pool)
        .await
        .expect("integrity_check");
    assert_eq!(integrity, "ok", "PRAGMA integrity_check");
    let dangling = sqlx::query("PRAGMA foreign_key_check")
        .fetch_all(&pool)
        .await
        .expect("foreign_key_check");
    assert!(
        dangling.is_empty(),
        "{} rows point at missing parents",
        dangling.len()
    );
    for (email, _) in &acknowledged.registrations {
        let row = sqlx::query("SELECT password_hash FROM users WHERE email = ?")
            .bind(email)
            .fetch_optional(&pool)
            .await
            .expect("look the user up");
        let hash: Option<String> = row
            .unwrap_or_else(|| panic!("acknowledged registration {email} is missing"))
            .get("password_hash");
        assert!(
            hash.is_some_and(|h| h.starts_with("$argon2id$") && h.split('$').count() == 6),
            "{email}'s password hash is incomplete"
        );
    }
    let unaudited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM users u WHERE NOT EXISTS \
         (SELECT 1 FROM audit_events a WHERE a.user_id = u.id AND a.action = 'auth.register')",
    )
    .fetch_one(&pool)
    .await
    .expect("count users without their audit event");
    assert_eq!(
        unaudited, 0,
        "users without the audit event of their registration"
    );
    pool.close().await;

    // Started once more on the same file: every acknowledged session still works.
    let mut server = Server::start(binary, &database, port, log.clone());
    server.wait_ready(&base).await;
    for (email, browser) in acknowledged
        .registrations
        .iter_mut()
        .chain(acknowledged.log_ins.iter_mut())
    {
        let status = signed_in(browser).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{email}'s acknowledged session no longer signs in after the crash"
        );
    }
    // Registrations cut off by a kill: either never written (303 now) or
    // written but unacknowledged (the form says the account exists).
    for email in &acknowledged.unanswered {
        let mut browser = Client::for_url(base.clone());
        let page = browser
            .try_submit(
                "/users/register",
                &[("email", email.as_str()), ("password", PASSWORD)],
            )
            .await
            .expect("the restarted server answers");
        assert!(
            page.status == StatusCode::SEE_OTHER
                || (page.status == StatusCode::UNPROCESSABLE_ENTITY
                    && page.body.contains("already exists")),
            "retrying the cut-off registration of {email} gave {}",
            page.status
        );
    }
    server.kill();
}
