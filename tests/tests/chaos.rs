//! Reliability under failure: the database disappears mid-load.
//!
//! The test starts a private PostgreSQL of its own (initdb in a temporary
//! directory, its own port; as the `postgres` OS user when run as root, since
//! PostgreSQL refuses root), serves the demo app over it, and has a few
//! client tasks request `/dashboard` with a signed-in cookie while the
//! server is killed (`pg_ctl stop -m immediate`) and started again.
//! Run alone with `cargo xtask chaos`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sigra_core::auth::Auth;
use sigra_core::config::{Config, Environment};
use sigra_core::password::Argon2Hasher;
use sigra_store_postgres::PostgresStore;
use sigra_web::Sigra;
use sigra_web::testing::authenticated_fixture;
use sqlx::Row;

/// A PostgreSQL cluster in a temporary directory, stopped on drop.
struct PrivatePostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl PrivatePostgres {
    fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL's binaries under /usr/lib/postgresql (Debian's postgresql package)")
            .flatten()
            .map(|e| e.path().join("bin"))
            .filter(|p| p.join("initdb").is_file())
            .max()
            .expect("initdb under /usr/lib/postgresql/*/bin: install Debian's postgresql package");
        let as_postgres = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        let dir = tempfile::tempdir().expect("a temporary directory");
        if as_postgres {
            let chowned = Command::new("chown")
                .args(["postgres:postgres", &dir.path().display().to_string()])
                .status()
                .expect("run chown");
            assert!(chowned.success(), "chown the cluster directory to postgres");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let pg = Self {
            dir,
            bin,
            port,
            as_postgres,
        };
        let data = pg.data().display().to_string();
        pg.run(
            "initdb",
            &["-D", &data, "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        );
        pg.start_server();
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let program = self.bin.join(tool);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let output = command
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
        assert!(
            output.status.success(),
            "{tool} {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn start_server(&self) {
        let data = self.data().display().to_string();
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log").display().to_string();
        self.run(
            "pg_ctl",
            &["-D", &data, "-o", &options, "-l", &log, "-w", "start"],
        );
    }

    /// Kills the server the way a crash would: no checkpoint, no goodbye to clients.
    fn kill(&self) {
        let data = self.data().display().to_string();
        self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.data();
        if Path::new(&data).join("postmaster.pid").exists() {
            let data = data.display().to_string();
            let program = self.bin.join("pg_ctl");
            let mut command = if self.as_postgres {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(&program);
                c
            } else {
                Command::new(&program)
            };
            let _ = command
                .args(["-D", &data, "-m", "immediate", "stop"])
                .output();
        }
    }
}

async fn session_rows(store: &PostgresStore) -> i64 {
    sqlx::query("SELECT count(*) AS n FROM user_sessions")
        .fetch_one(store.pool())
        .await
        .expect("count sessions")
        .get("n")
}

/// Requests `/dashboard` with `cookie` from `tasks` tasks for `duration`;
/// returns every status seen (`0` for a failed request).
async fn load(addr: SocketAddr, cookie: &str, tasks: usize, duration: Duration) -> Vec<u16> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client");
    let deadline = Instant::now() + duration;
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let client = client.clone();
        let cookie = cookie.to_owned();
        handles.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            while Instant::now() < deadline {
                let status = client
                    .get(format!("http://{addr}/dashboard"))
                    .header("cookie", &cookie)
                    .send()
                    .await
                    .map_or(0, |r| r.status().as_u16());
                seen.push(status);
            }
            seen
        }));
    }
    let mut all = Vec::new();
    for handle in handles {
        all.extend(handle.await.expect("a load task"));
    }
    all
}

fn summary(statuses: &[u16]) -> std::collections::BTreeMap<u16, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for s in statuses {
        *counts.entry(*s).or_insert(0) += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn database_outage_gives_503_and_recovers() {
    let pg = PrivatePostgres::start();
    let store = PostgresStore::connect(&pg.url())
        .await
        .expect("connect to the private PostgreSQL");
    store.migrate().await.expect("migrate");
    let store = Arc::new(store);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let config = Config::builder(Environment::Test)
        .public_url(format!("http://{addr}"))
        .session_cache(false)
        .build()
        .expect("config");
    let auth = Auth::builder(config, store.clone())
        .hasher(Arc::new(Argon2Hasher::for_tests()))
        .build()
        .expect("auth");
    let sigra = Sigra::new(auth);
    let app = sigra.demo_app();
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });

    let mut sessions = Vec::new();
    for i in 0..3 {
        sessions.push(
            authenticated_fixture(
                &sigra,
                &format!("chaos{i}@example.com"),
                "correct horse battery staple",
            )
            .await
            .expect("a signed-in user"),
        );
    }
    let cookie = sessions[0].cookie_header();
    let rows_before = session_rows(&store).await;

    let healthy = load(addr, &cookie, 4, Duration::from_millis(500)).await;
    assert!(
        !healthy.is_empty() && healthy.iter().all(|s| *s == 200),
        "before the outage every signed-in request is 200: {:?}",
        summary(&healthy)
    );

    pg.kill();
    let down = load(addr, &cookie, 4, Duration::from_secs(2)).await;
    assert!(
        !down.is_empty() && down.iter().all(|s| *s == 503),
        "while the database is down every signed-in request is 503 (never 200, 500 or a dropped connection): {:?}",
        summary(&down)
    );

    eprintln!("while PostgreSQL was down: {:?}", summary(&down));
    pg.start_server();
    let restarted = Instant::now();
    let client = reqwest::Client::new();
    loop {
        let status = client
            .get(format!("http://{addr}/dashboard"))
            .header("cookie", &cookie)
            .send()
            .await
            .map_or(0, |r| r.status().as_u16());
        if status == 200 {
            break;
        }
        assert!(
            status == 503,
            "while reconnecting a signed-in request is 200 or 503, got {status}"
        );
        assert!(
            restarted.elapsed() < Duration::from_secs(5),
            "the server did not recover within 5 s of PostgreSQL's restart"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "recovered {:?} after PostgreSQL restarted",
        restarted.elapsed()
    );
    let after = load(addr, &cookie, 4, Duration::from_millis(500)).await;
    assert!(
        after.iter().all(|s| *s == 200),
        "after recovery every signed-in request is 200: {:?}",
        summary(&after)
    );
    assert_eq!(
        session_rows(&store).await,
        rows_before,
        "no session row lost"
    );
}
