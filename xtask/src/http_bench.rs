//! The HTTP benchmarks of the demo server (`sigra serve`, release build) on
//! loopback, on SQLite and on PostgreSQL.
//!
//! **Throughput** (`target/sigra-bench/http.md`): `wrk` with 64 connections
//! for a signed-in `GET /dashboard` with the session cache off
//! (`SIGRA_SESSION_CACHE=off`, every request reads the database) and on, next
//! to `GET /sigra/style.css` (the same stack without a session: the ceiling)
//! and `GET /health` (one database ping). Each backend gets a fresh database;
//! one user registers through the real form (with `curl`), and its session
//! cookie is replayed by `wrk`.
//!
//! **Cross-node revocation delay** (`target/sigra-bench/revocation.md`): two
//! `sigra serve` processes, A and B, on one database with the cache on. Each
//! of 200 trials logs in on A, warms B's cache with the cookie, logs out
//! everywhere on A, and asks B again and again until it refuses: the delay
//! is from A's answer to the first refused request on B. Measured on
//! PostgreSQL with LISTEN/NOTIFY, on PostgreSQL with polling alone
//! (`SIGRA_REVOCATION_LISTEN=off`), and on SQLite (polling).
//!
//! `cargo xtask bench` copies both files into `docs/benchmarks.md`.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{POSTGRES_URL, Result, step, wait_for, workspace_root};

pub(crate) mod peers;

/// Load shape: the same for every run.
const CONNECTIONS: &str = "64";
const THREADS: &str = "2";
const DURATION: &str = "10s";
/// A fixed secret for the benchmark server (never used elsewhere).
/// The session cookie's name. The bench servers run with `SIGRA_ENV=dev`,
/// where Sigra keeps the plain names; in prod without `COOKIE_DOMAIN` it
/// would be `__Host-sigra_session` (`sigra_core::cookie::cookie_name`).
pub(crate) const SESSION_COOKIE: &str = "_sigra_session";
const BENCH_SECRET: &str = "bench-secret-bench-secret-bench-secret-bench-secret-bench-secret-0001";
/// Trials of the cross-node revocation delay, per variant.
const TRIALS: usize = 200;
/// The benchmark user (registered by [`signed_in_cookie`]).
const EMAIL: &str = "bench@example.com";
const PASSWORD: &str = "benchmark password 123";

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

fn start(
    binary: &Path,
    database_url: &str,
    port: u16,
    log: &Path,
    envs: &[(&str, &str)],
) -> Result<Server> {
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
        .envs(envs.iter().copied())
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

/// Registers a user through the real form, opens the page it redirects to,
/// and returns the [`SESSION_COOKIE`] value the browser then holds.
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
        &format!("email={EMAIL}"),
        "--data-urlencode",
        &format!("password={PASSWORD}"),
        &format!("{base}/users/register"),
    ])?;
    if status != "303" {
        return Err(format!("registration answered {status}, expected 303"));
    }
    // Follow the redirect as a browser would: the page shows the welcome
    // message once and answers with the cookie a signed-in browser then keeps
    // sending. (The cookie straight from the registration still carries that
    // message, so every request would show it and re-sign the cookie.)
    curl(&["-c", jar, "-b", jar, "-o", "/dev/null", &format!("{base}/")])?;
    let cookies =
        fs::read_to_string(jar).map_err(|e| format!("cannot read the cookie jar: {e}"))?;
    cookies
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            (fields.len() == 7 && fields[5] == SESSION_COOKIE).then(|| fields[6].to_owned())
        })
        .ok_or_else(|| format!("no {SESSION_COOKIE} cookie after registration"))
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

/// The HTTP benchmark's run: the standard load shape, with the signed-in
/// session cookie when given.
fn wrk(url: &str, session_cookie: Option<&str>) -> Result<Load> {
    let cookie = session_cookie.map(|c| format!("{SESSION_COOKIE}={c}"));
    wrk_with(url, cookie.as_deref(), CONNECTIONS, DURATION)
}

/// One `wrk` run with `connections` for `duration` (e.g. `10s`), sending
/// `cookie` (a whole `Cookie` header value) when given: requests/s and p99.
/// Any non-2xx/3xx answer fails the run.
fn wrk_with(url: &str, cookie: Option<&str>, connections: &str, duration: &str) -> Result<Load> {
    let mut args = vec![
        "-t",
        THREADS,
        "-c",
        connections,
        "-d",
        duration,
        "--latency",
    ];
    let header;
    if let Some(cookie) = cookie {
        header = format!("Cookie: {cookie}");
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

/// The URL of an empty database for one benchmark: PostgreSQL database
/// `pg_name` dropped and created again, or the SQLite file `sqlite` (and its
/// WAL files) removed.
fn fresh_database(is_pg: bool, pg_name: &str, sqlite: &Path) -> Result<String> {
    if is_pg {
        postgres_database(pg_name, false)?;
        postgres_database(pg_name, true)?;
        Ok(POSTGRES_URL.replace("/test", &format!("/{pg_name}")))
    } else {
        for suffix in ["", "-wal", "-shm"] {
            let _ = fs::remove_file(format!("{}{suffix}", sqlite.display()));
        }
        Ok(format!("sqlite://{}", sqlite.display()))
    }
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

/// A minimal HTTP/1.1 answer.
struct Reply {
    status: u16,
    set_cookies: Vec<String>,
    /// `Retry-After` in seconds, when the answer has one.
    retry_after: Option<u64>,
    body: String,
}

/// A cookie jar: name → value.
#[derive(Clone, Default)]
struct Jar(BTreeMap<String, String>);

impl Jar {
    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn take(&mut self, reply: &Reply) {
        for raw in &reply.set_cookies {
            let first = raw.split(';').next().unwrap_or_default();
            let Some((name, value)) = first.split_once('=') else {
                continue;
            };
            let removed = raw
                .split(';')
                .any(|a| a.trim().eq_ignore_ascii_case("max-age=0"));
            if removed {
                self.0.remove(name.trim());
            } else {
                self.0
                    .insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
    }
}

/// One request on a fresh loopback connection (no curl process per request,
/// so a poll costs a fraction of a millisecond).
fn request(port: u16, method: &str, path: &str, jar: &Jar, form: Option<&str>) -> Result<Reply> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .map_err(|e| format!("connect to 127.0.0.1:{port}: {e}"))?;
    let body = form.unwrap_or_default();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !jar.0.is_empty() {
        head.push_str(&format!("Cookie: {}\r\n", jar.header()));
    }
    if form.is_some() {
        head.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
    }
    head.push_str("\r\n");
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body.as_bytes()))
        .map_err(|e| format!("{method} {path}: {e}"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .map_err(|e| format!("{method} {path}: {e}"))?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{method} {path}: no status line"))?;
    let headers: Vec<(&str, &str)> = lines.filter_map(|l| l.split_once(':')).collect();
    let set_cookies = headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.trim().to_owned())
        .collect();
    let retry_after = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
        .and_then(|(_, v)| v.trim().parse().ok());
    Ok(Reply {
        status,
        set_cookies,
        retry_after,
        body: body.to_owned(),
    })
}

fn csrf_of(page: &str) -> Result<String> {
    let marker = "name=\"_csrf_token\" value=\"";
    let start = page.find(marker).ok_or("no CSRF token on the page")? + marker.len();
    let end = page[start..].find('"').ok_or("unterminated CSRF token")?;
    Ok(page[start..start + end].to_owned())
}

fn form_encode(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let enc = |s: &str| -> String {
                s.bytes()
                    .map(|b| match b {
                        b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                            (b as char).to_string()
                        }
                        _ => format!("%{b:02X}"),
                    })
                    .collect()
            };
            format!("{}={}", enc(k), enc(v))
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Logs in on the server at `port` through the form; the signed-in jar.
fn log_in(port: u16) -> Result<Jar> {
    let mut jar = Jar::default();
    let page = request(port, "GET", "/users/log-in", &jar, None)?;
    jar.take(&page);
    let form = form_encode(&[
        ("_csrf_token", &csrf_of(&page.body)?),
        ("email", EMAIL),
        ("password", PASSWORD),
    ]);
    let answer = request(port, "POST", "/users/log-in", &jar, Some(&form))?;
    if answer.status != 303 {
        return Err(format!("log-in answered {}, expected 303", answer.status));
    }
    jar.take(&answer);
    Ok(jar)
}

/// Logs out everywhere on the server at `port` with `jar`.
fn log_out_everywhere(port: u16, jar: &Jar) -> Result {
    let mut jar = jar.clone();
    let page = request(port, "GET", "/users/settings", &jar, None)?;
    jar.take(&page);
    let form = form_encode(&[("_csrf_token", &csrf_of(&page.body)?)]);
    let answer = request(
        port,
        "POST",
        "/users/settings/sessions/log-out-all",
        &jar,
        Some(&form),
    )?;
    if answer.status != 303 {
        return Err(format!(
            "log-out everywhere answered {}, expected 303",
            answer.status
        ));
    }
    Ok(())
}

/// Waits without a clock to inject (the benchmark's own pacing).
#[allow(clippy::disallowed_methods)] // A pause between benchmark trials; nothing to inject here.
fn pause(d: Duration) {
    std::thread::sleep(d);
}

/// [`TRIALS`] trials of: log in on A, warm B, log out everywhere on A, ask B
/// until it refuses. Returns the delays from A's answer to B's refusal.
fn delay_trials(a: u16, b: u16, poll: Duration) -> Result<Vec<Duration>> {
    let mut delays = Vec::with_capacity(TRIALS);
    // A fixed pseudo-random sequence: the pauses put each revocation at an
    // unrelated point of B's poll cycle.
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    for trial in 0..TRIALS {
        let jar = log_in(a)?;
        for _ in 0..2 {
            let warm = request(b, "GET", "/dashboard", &jar, None)?;
            if warm.status != 200 {
                return Err(format!(
                    "trial {trial}: node B answered {} for a fresh session",
                    warm.status
                ));
            }
        }
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let poll_us = u64::try_from(poll.as_micros()).unwrap_or(u64::MAX).max(1);
        pause(Duration::from_micros(seed % poll_us));
        log_out_everywhere(a, &jar)?;
        let answered = Instant::now();
        loop {
            let started = Instant::now();
            let reply = request(b, "GET", "/dashboard", &jar, None)?;
            if reply.status == 303 {
                delays.push(started.saturating_duration_since(answered));
                break;
            }
            if answered.elapsed() > Duration::from_secs(10) {
                return Err(format!(
                    "trial {trial}: node B still served the session 10 s after log-out everywhere on A"
                ));
            }
        }
    }
    Ok(delays)
}

/// p50, p99 and max in milliseconds.
fn percentiles(mut delays: Vec<Duration>) -> (f64, f64, f64) {
    delays.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let last = delays.len().saturating_sub(1);
    let at = |q: f64| ms(delays[(last as f64 * q).round() as usize]);
    (at(0.50), at(0.99), ms(delays[last]))
}

/// Measures one backend's signed-in `/dashboard` with the cache off and on.
fn throughput(
    binary: &Path,
    work: &Path,
    label: &str,
    url: &str,
    rows: &mut Vec<String>,
) -> Result {
    let mut off_rps = 0.0;
    for cache in ["off", "on"] {
        let port = free_port()?;
        let base = format!("http://127.0.0.1:{port}");
        let server = start(
            binary,
            url,
            port,
            &work.join(format!("server-{port}.log")),
            &[("SIGRA_SESSION_CACHE", cache)],
        )?;
        // A fresh user per run (the database is shared by both runs).
        let cookie = if cache == "off" {
            signed_in_cookie(&base, &work.join(format!("jar-{port}.txt")))?
        } else {
            let jar = log_in(port)?;
            jar.0
                .get(SESSION_COOKIE)
                .cloned()
                .ok_or("no session cookie after log-in")?
        };
        eprintln!("==> http bench: {label}, cache {cache}: warming up");
        wrk(&format!("{base}/dashboard"), Some(&cookie))?;
        let dashboard = wrk(&format!("{base}/dashboard"), Some(&cookie))?;
        let stat = wrk(&format!("{base}/sigra/style.css"), None)?;
        let health = wrk(&format!("{base}/health"), None)?;
        eprintln!(
            "==> http bench: {label}, cache {cache}: /dashboard {:.0} req/s p99 {:.2} ms; static {:.0} req/s; /health {:.0} req/s",
            dashboard.rps, dashboard.p99_ms, stat.rps, health.rps
        );
        if cache == "off" {
            off_rps = dashboard.rps;
        }
        rows.push(format!(
            "| {label} | {cache} | {:.0} | {:.2} | {:.0} | {:.0}% | {:.0} | {} |",
            dashboard.rps,
            dashboard.p99_ms,
            stat.rps,
            100.0 * dashboard.rps / stat.rps,
            health.rps,
            if cache == "on" && off_rps > 0.0 {
                format!("{:.1}×", dashboard.rps / off_rps)
            } else {
                "1.0×".to_owned()
            },
        ));
        drop(server);
    }
    Ok(())
}

/// Measures the cross-node revocation delay of one variant.
fn revocation_delay(
    binary: &Path,
    work: &Path,
    label: &str,
    url: &str,
    listen: &str,
    rows: &mut Vec<String>,
) -> Result {
    let envs = [
        ("SIGRA_SESSION_CACHE", "on"),
        ("SIGRA_REVOCATION_LISTEN", listen),
        ("SIGRA_RATE_LIMIT_LOGIN", "1000000/1m"),
    ];
    let (a_port, b_port) = (free_port()?, free_port()?);
    let a = start(
        binary,
        url,
        a_port,
        &work.join(format!("node-a-{a_port}.log")),
        &envs,
    )?;
    let b = start(
        binary,
        url,
        b_port,
        &work.join(format!("node-b-{b_port}.log")),
        &envs,
    )?;
    signed_in_cookie(
        &format!("http://127.0.0.1:{a_port}"),
        &work.join(format!("jar-{a_port}.txt")),
    )?;
    eprintln!("==> revocation delay: {label}: {TRIALS} trials");
    let poll = Duration::from_millis(100);
    let delays = delay_trials(a_port, b_port, poll)?;
    let (p50, p99, max) = percentiles(delays);
    eprintln!("==> revocation delay: {label}: p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms");
    rows.push(format!("| {label} | {p50:.2} | {p99:.2} | {max:.2} |"));
    drop((a, b));
    Ok(())
}

/// Runs the benchmarks on both backends and writes
/// `target/sigra-bench/http.md` and `target/sigra-bench/revocation.md`.
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
    let fresh = |is_pg: bool, name: &str| -> Result<String> {
        fresh_database(is_pg, &pg_name, &work.join(format!("{name}.sqlite")))
    };

    let mut rows = Vec::new();
    for (label, is_pg) in [("SQLite (file)", false), ("PostgreSQL", true)] {
        let url = fresh(is_pg, "throughput")?;
        throughput(&binary, &work, label, &url, &mut rows)?;
    }
    let table = format!(
        "wrk -t{THREADS} -c{CONNECTIONS} -d{DURATION} --latency on loopback against `sigra serve` (release), \
         after a warm-up run; the machine is shared, so figures are approximate. `static` is \
         `GET /sigra/style.css` through the same stack without a session (the ceiling); \
         `/health` pings the database once.\n\n\
         | backend | session cache | /dashboard req/s (signed in) | /dashboard p99 (ms) | static req/s | dashboard / static | /health req/s | dashboard vs cache off |\n\
         |---|---|---:|---:|---:|---:|---:|---:|\n{}\n",
        rows.join("\n")
    );
    fs::write(root.join("target/sigra-bench/http.md"), &table)
        .map_err(|e| format!("cannot write results: {e}"))?;
    eprintln!("\n{table}");

    let mut rows = Vec::new();
    for (label, is_pg, listen) in [
        ("PostgreSQL, LISTEN/NOTIFY + polling", true, "on"),
        ("PostgreSQL, polling alone (100 ms)", true, "off"),
        ("SQLite (file), polling (100 ms)", false, "on"),
    ] {
        let url = fresh(is_pg, "revocation")?;
        revocation_delay(&binary, &work, label, &url, listen, &mut rows)?;
    }
    postgres_database(&pg_name, false)?;
    let table = format!(
        "Two `sigra serve` processes (release) on one database, session cache on, \
         `SIGRA_REVOCATION_POLL=100ms`. {TRIALS} trials each: log in on node A, warm node B's cache, \
         log out everywhere on A, then ask B until it refuses; the delay runs from A's answer to \
         the start of B's first refusing request (each ask costs about a tenth of a millisecond on \
         loopback). Targets: p99 under 50 ms with NOTIFY, under 2 × the poll interval (200 ms) \
         with polling alone. The machine is shared, so figures are approximate.\n\n\
         | variant | p50 (ms) | p99 (ms) | max (ms) |\n|---|---:|---:|---:|\n{}\n",
        rows.join("\n")
    );
    fs::write(root.join("target/sigra-bench/revocation.md"), &table)
        .map_err(|e| format!("cannot write results: {e}"))?;
    eprintln!("\n{table}");
    Ok(())
}
