//! The HTTP benchmark: the demo server (`sigra serve`, release build) under
//! `wrk` on loopback, 64 connections, for `GET /health` (no auth) and a
//! signed-in `GET /dashboard`, on SQLite and on PostgreSQL.
//!
//! Each backend gets a fresh database; one user registers through the real
//! form (with `curl`), and its session cookie is replayed by `wrk`. Results
//! go to `target/sigra-bench/http.md`, which `cargo xtask bench` copies into
//! `docs/benchmarks.md`.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{POSTGRES_URL, Result, step, wait_for, workspace_root};

/// Load shape: the same for every run.
const CONNECTIONS: &str = "64";
const THREADS: &str = "2";
const DURATION: &str = "10s";
/// A fixed secret for the benchmark server (never used elsewhere).
const BENCH_SECRET: &str = "bench-secret-bench-secret-bench-secret-bench-secret-bench-secret-0001";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Result<u16> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

fn need(program: &str, install: &str) -> Result {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        Ok(())
    } else {
        Err(format!(
            "`{program}` is needed for the HTTP benchmark: {install}"
        ))
    }
}

fn start(binary: &Path, database_url: &str, port: u16, log: &Path) -> Result<Server> {
    let log = fs::File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let child = Command::new(binary)
        .args([
            "serve",
            "--port",
            &port.to_string(),
            "--database-url",
            database_url,
        ])
        .env("SIGRA_ENV", "dev")
        .env("SECRET_KEY_BASE", BENCH_SECRET)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let server = Server(child);
    if !wait_for(&format!("127.0.0.1:{port}"), Duration::from_secs(30)) {
        return Err(format!("the demo server did not start on port {port}"));
    }
    Ok(server)
}

fn curl(args: &[&str]) -> Result<String> {
    let out = Command::new("curl")
        .args(["-s", "-S"])
        .args(args)
        .output()
        .map_err(|e| format!("curl: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "curl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Registers a user through the real form and returns the `_sigra_session` cookie value.
fn signed_in_cookie(base: &str, jar: &Path) -> Result<String> {
    let jar = jar.to_str().ok_or("non-UTF-8 temp path")?;
    let page = curl(&["-c", jar, "-b", jar, &format!("{base}/users/register")])?;
    let marker = "name=\"_csrf_token\" value=\"";
    let start = page
        .find(marker)
        .ok_or("no CSRF token on the register page")?
        + marker.len();
    let csrf = &page[start..start + page[start..].find('"').ok_or("unterminated CSRF token")?];
    let status = curl(&[
        "-c",
        jar,
        "-b",
        jar,
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--data-urlencode",
        &format!("_csrf_token={csrf}"),
        "--data-urlencode",
        "email=bench@example.com",
        "--data-urlencode",
        "password=benchmark password 123",
        &format!("{base}/users/register"),
    ])?;
    if status != "303" {
        return Err(format!("registration answered {status}, expected 303"));
    }
    let cookies =
        fs::read_to_string(jar).map_err(|e| format!("cannot read the cookie jar: {e}"))?;
    cookies
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            (fields.len() == 7 && fields[5] == "_sigra_session").then(|| fields[6].to_owned())
        })
        .ok_or_else(|| "no _sigra_session cookie after registration".to_owned())
}

#[derive(Debug, Clone, Copy)]
struct Load {
    rps: f64,
    p99_ms: f64,
}

fn parse_latency_ms(text: &str) -> Option<f64> {
    let text = text.trim();
    let (number, factor) = if let Some(n) = text.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else {
        return None;
    };
    number.parse::<f64>().ok().map(|n| n * factor)
}

fn wrk(url: &str, cookie: Option<&str>) -> Result<Load> {
    let mut args = vec![
        "-t",
        THREADS,
        "-c",
        CONNECTIONS,
        "-d",
        DURATION,
        "--latency",
    ];
    let header;
    if let Some(cookie) = cookie {
        header = format!("Cookie: _sigra_session={cookie}");
        args.push("-H");
        args.push(&header);
    }
    args.push(url);
    let out = Command::new("wrk")
        .args(&args)
        .output()
        .map_err(|e| format!("wrk: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("Non-2xx or 3xx responses") {
        return Err(format!("wrk saw error responses from {url}:\n{text}"));
    }
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .ok_or_else(|| format!("cannot read Requests/sec from wrk:\n{text}"))?;
    let p99_ms = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .and_then(parse_latency_ms)
        .ok_or_else(|| format!("cannot read the 99% latency from wrk:\n{text}"))?;
    Ok(Load { rps, p99_ms })
}

fn postgres_database(name: &str, create: bool) -> Result {
    let sql = if create {
        format!("CREATE DATABASE {name}")
    } else {
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    };
    let status = Command::new("psql")
        .args([POSTGRES_URL, "-q", "-c", &sql])
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("psql: {e} (install postgresql-client)"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("psql failed: {sql}"))
    }
}

/// Runs the benchmark on both backends and writes `target/sigra-bench/http.md`.
pub(crate) fn run() -> Result {
    need("wrk", "apt-get install wrk")?;
    need("curl", "apt-get install curl")?;
    need("psql", "apt-get install postgresql-client")?;
    step(
        "build (release)",
        "cargo",
        &["build", "--release", "--locked", "-p", "sigra-cli"],
        &[],
        "fix the build errors above.",
    )?;
    let root = workspace_root();
    let binary = root.join("target/release/sigra");
    let work: PathBuf = root.join("target/sigra-bench/http-run");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;

    let pg_name = format!("sigra_bench_{}", std::process::id());
    let pg_url = POSTGRES_URL.replace("/test", &format!("/{pg_name}"));
    let sqlite_url = format!("sqlite://{}", work.join("bench.sqlite").display());
    let mut rows = Vec::new();
    for (label, url) in [
        ("SQLite (file)", sqlite_url.as_str()),
        ("PostgreSQL", pg_url.as_str()),
    ] {
        let is_pg = url.starts_with("postgres");
        if is_pg {
            postgres_database(&pg_name, false)?;
            postgres_database(&pg_name, true)?;
        }
        let port = free_port()?;
        let base = format!("http://127.0.0.1:{port}");
        let server = start(&binary, url, port, &work.join(format!("server-{port}.log")))?;
        let cookie = signed_in_cookie(&base, &work.join(format!("jar-{port}.txt")))?;
        eprintln!("==> http bench: {label}: warming up");
        wrk(&format!("{base}/dashboard"), Some(&cookie))?;
        let health = wrk(&format!("{base}/health"), None)?;
        let dashboard = wrk(&format!("{base}/dashboard"), Some(&cookie))?;
        eprintln!(
            "==> http bench: {label}: /health {:.0} req/s p99 {:.2} ms; /dashboard {:.0} req/s p99 {:.2} ms",
            health.rps, health.p99_ms, dashboard.rps, dashboard.p99_ms
        );
        rows.push(format!(
            "| {label} | {:.0} | {:.2} | {:.0} | {:.2} | {:.0}% |",
            health.rps,
            health.p99_ms,
            dashboard.rps,
            dashboard.p99_ms,
            100.0 * dashboard.rps / health.rps
        ));
        drop(server);
        if is_pg {
            postgres_database(&pg_name, false)?;
        }
    }
    let table = format!(
        "wrk -t{THREADS} -c{CONNECTIONS} -d{DURATION} --latency on loopback against `sigra serve` (release), \
         after a warm-up run.\n\n\
         | backend | /health req/s | /health p99 (ms) | /dashboard req/s (signed in) | /dashboard p99 (ms) | authenticated / unauthenticated |\n\
         |---|---:|---:|---:|---:|---:|\n{}\n",
        rows.join("\n")
    );
    fs::write(root.join("target/sigra-bench/http.md"), &table)
        .map_err(|e| format!("cannot write results: {e}"))?;
    eprintln!("\n{table}");
    Ok(())
}
