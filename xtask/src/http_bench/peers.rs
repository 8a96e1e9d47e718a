//! Sigra against its peers, login-flood isolation and enumeration timing.
//!
//! **Peers** (`target/sigra-bench/peers.md`, chart `docs/benchmarks-chart.svg`):
//! the signed-in `GET /dashboard` of `sigra serve` (session cache on, the
//! default, and off), of `axum-login-peer` (axum-login + tower-sessions +
//! tower-sessions-sqlx-store, from `bench/peers/`, a separate Cargo project)
//! and of `bare` (a bare axum route, no auth: the ceiling), on SQLite and on
//! PostgreSQL. The same `wrk` settings for all, run in interleaved rounds
//! (sigra, sigra cache off, peer, bare, then again); medians are reported.
//!
//! **Login flood** (`target/sigra-bench/flood.md`): 200 client threads post
//! valid logins (GET the form, POST it) to `sigra serve` while `wrk` measures
//! signed-in `GET /dashboard`; the server's peak RSS comes from `VmHWM`.
//!
//! **Enumeration timing** (`target/sigra-bench/enumeration.md`): 200 log-ins
//! with an unknown email and 200 with a wrong password, alternated, timed
//! from the POST's first byte to the answer's last.
//!
//! `SIGRA_BENCH_SECONDS` (default 10) and `SIGRA_BENCH_ROUNDS` (default 3)
//! shorten a smoke run, e.g. `SIGRA_BENCH_SECONDS=2 SIGRA_BENCH_ROUNDS=1
//! cargo xtask bench peers`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{
    EMAIL, Jar, Load, PASSWORD, SESSION_COOKIE, Server, THREADS, csrf_of, form_encode, free_port,
    fresh_database, log_in, need, pause, postgres_database, request, signed_in_cookie, start,
};
use crate::{POSTGRES_URL, Result, step, wait_for, workspace_root};

/// Connections of the load generator (the same as the HTTP benchmark's).
const CONNECTIONS: &str = super::CONNECTIONS;
/// Concurrent log-in clients of the flood.
const FLOOD_CLIENTS: usize = 200;
/// Threads of the signed-in probe during the flood (each on its own schedule).
const PROBE_THREADS: u32 = 4;
/// Signed-in `GET /dashboard` requests per second the probe offers, in all.
const PROBE_RATE: u32 = 400;
/// Log-in tries per kind for the enumeration timing.
const ENUMERATION_TRIES: usize = 200;
/// Limits lifted for the flood and the enumeration runs (they measure cost,
/// not throttling).
const UNTHROTTLED: [(&str, &str); 2] = [
    ("SIGRA_RATE_LIMIT_LOGIN", "100000000/1m"),
    ("SIGRA_LOCKOUT_THRESHOLD", "1000000000"),
];

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

/// One `wrk` run: requests/s and p99 (the HTTP benchmark's runner).
fn wrk(url: &str, cookie: Option<&str>, connections: &str, seconds: u64) -> Result<Load> {
    super::wrk_with(url, cookie, connections, &format!("{seconds}s"))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// A server under test with the cookie header its `/dashboard` needs.
struct Target {
    _server: Server,
    url: String,
    cookie: Option<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum Stack {
    Sigra,
    SigraNoCache,
    Peer,
    Bare,
}

impl Stack {
    const ALL: [Stack; 4] = [Stack::Sigra, Stack::SigraNoCache, Stack::Peer, Stack::Bare];

    fn label(self) -> &'static str {
        match self {
            Stack::Sigra => "Sigra (session cache on, default)",
            Stack::SigraNoCache => "Sigra (session cache off)",
            Stack::Peer => "axum-login + tower-sessions",
            Stack::Bare => "bare axum (no auth)",
        }
    }

    fn short(self) -> &'static str {
        match self {
            Stack::Sigra => "Sigra",
            Stack::SigraNoCache => "Sigra, cache off",
            Stack::Peer => "axum-login",
            Stack::Bare => "bare axum",
        }
    }
}

struct Binaries {
    sigra: PathBuf,
    peer: PathBuf,
    bare: PathBuf,
}

fn start_peer(binary: &Path, url: Option<&str>, port: u16, log: &Path) -> Result<Server> {
    let log = fs::File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let mut command = Command::new(binary);
    command.args(["--port", &port.to_string()]);
    if let Some(url) = url {
        command.args(["--database-url", url]);
    }
    let child = command
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let server = Server(child);
    if !wait_for(&format!("127.0.0.1:{port}"), Duration::from_secs(30)) {
        return Err(format!("{} did not start on port {port}", binary.display()));
    }
    Ok(server)
}

/// Registers the benchmark user on the peer and returns its `id` cookie.
fn peer_cookie(port: u16, jar: &Path) -> Result<String> {
    let jar_path = jar.to_str().ok_or("non-UTF-8 temp path")?;
    let form = form_encode(&[("email", EMAIL), ("password", PASSWORD)]);
    let out = Command::new("curl")
        .args([
            "-s",
            "-S",
            "-c",
            jar_path,
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--data",
            &form,
            &format!("http://127.0.0.1:{port}/register"),
        ])
        .output()
        .map_err(|e| format!("curl: {e}"))?;
    let status = String::from_utf8_lossy(&out.stdout).into_owned();
    if status != "303" {
        return Err(format!("peer registration answered {status}, expected 303"));
    }
    let cookies = fs::read_to_string(jar).map_err(|e| format!("cannot read the jar: {e}"))?;
    cookies
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            (fields.len() == 7 && fields[5] == "id").then(|| format!("id={}", fields[6]))
        })
        .ok_or_else(|| "no session cookie from the peer".to_owned())
}

fn start_target(
    stack: Stack,
    bins: &Binaries,
    work: &Path,
    sigra_url: &str,
    peer_url: &str,
) -> Result<Target> {
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let log = work.join(format!("peers-{port}.log"));
    let (server, cookie) = match stack {
        Stack::Sigra | Stack::SigraNoCache => {
            let cache = if stack == Stack::Sigra { "on" } else { "off" };
            let server = start(
                &bins.sigra,
                sigra_url,
                port,
                &log,
                &[("SIGRA_SESSION_CACHE", cache), UNTHROTTLED[0]],
            )?;
            // The user exists after the first start on this database.
            let cookie = match log_in(port) {
                Ok(jar) => jar.0.get(SESSION_COOKIE).cloned(),
                Err(_) => None,
            };
            let cookie = match cookie {
                Some(c) => c,
                None => signed_in_cookie(&base, &work.join(format!("jar-{port}.txt")))?,
            };
            (server, Some(format!("{SESSION_COOKIE}={cookie}")))
        }
        Stack::Peer => {
            let server = start_peer(&bins.peer, Some(peer_url), port, &log)?;
            let cookie = peer_cookie(port, &work.join(format!("jar-{port}.txt")))?;
            (server, Some(cookie))
        }
        Stack::Bare => (start_peer(&bins.bare, None, port, &log)?, None),
    };
    Ok(Target {
        _server: server,
        url: format!("{base}/dashboard"),
        cookie,
    })
}

/// Results of one backend: per stack, the runs of every round.
struct BackendResult {
    label: &'static str,
    runs: Vec<(Stack, Vec<Load>)>,
}

impl BackendResult {
    fn medians(&self, stack: Stack) -> (f64, f64) {
        let runs = self
            .runs
            .iter()
            .find(|(s, _)| *s == stack)
            .map(|(_, r)| r.as_slice())
            .unwrap_or_default();
        let mut rps: Vec<f64> = runs.iter().map(|l| l.rps).collect();
        let mut p99: Vec<f64> = runs.iter().map(|l| l.p99_ms).collect();
        (median(&mut rps), median(&mut p99))
    }
}

fn peers(bins: &Binaries, work: &Path, seconds: u64, rounds: u64) -> Result<Vec<BackendResult>> {
    let mut results = Vec::new();
    let pg_sigra = format!("sigra_bench_peers_s_{}", std::process::id());
    let pg_peer = format!("sigra_bench_peers_p_{}", std::process::id());
    let pg_url = |name: &str| POSTGRES_URL.replace("/test", &format!("/{name}"));
    for (label, is_pg) in [("SQLite (file)", false), ("PostgreSQL", true)] {
        let (sigra_url, peer_url) = if is_pg {
            for name in [&pg_sigra, &pg_peer] {
                postgres_database(name, false)?;
                postgres_database(name, true)?;
            }
            (pg_url(&pg_sigra), pg_url(&pg_peer))
        } else {
            let s = work.join("peers-sigra.sqlite");
            let p = work.join("peers-peer.sqlite");
            for f in [&s, &p] {
                let _ = fs::remove_file(f);
            }
            (
                format!("sqlite://{}", s.display()),
                format!("sqlite://{}", p.display()),
            )
        };
        let mut runs: Vec<(Stack, Vec<Load>)> =
            Stack::ALL.iter().map(|&s| (s, Vec::new())).collect();
        for round in 1..=rounds {
            for (stack, loads) in &mut runs {
                let target = start_target(*stack, bins, work, &sigra_url, &peer_url)?;
                let cookie = target.cookie.as_deref();
                // A short warm-up, then the measured run.
                wrk(&target.url, cookie, CONNECTIONS, 1)?;
                let load = wrk(&target.url, cookie, CONNECTIONS, seconds)?;
                eprintln!(
                    "==> peers: {label}, round {round}/{rounds}: {}: {:.0} req/s, p99 {:.2} ms",
                    stack.label(),
                    load.rps,
                    load.p99_ms
                );
                loads.push(load);
                // A fresh peer database per round would lose the user: the
                // peer re-registers, so each round starts on a fresh file.
                if *stack == Stack::Peer {
                    drop(target);
                    if is_pg {
                        postgres_database(&pg_peer, false)?;
                        postgres_database(&pg_peer, true)?;
                    } else {
                        let p = work.join("peers-peer.sqlite");
                        for suffix in ["", "-wal", "-shm"] {
                            let _ = fs::remove_file(format!("{}{suffix}", p.display()));
                        }
                    }
                }
            }
        }
        results.push(BackendResult { label, runs });
    }
    for name in [&pg_sigra, &pg_peer] {
        postgres_database(name, false)?;
    }
    Ok(results)
}

fn peers_table(results: &[BackendResult], seconds: u64, rounds: u64) -> String {
    let mut out = format!(
        "Signed-in `GET /dashboard` (an HTML page with the user's email) on loopback, \
         `wrk -t{THREADS} -c{CONNECTIONS} -d{seconds}s --latency` after a 1 s warm-up, \
         {rounds} interleaved round(s) (Sigra, Sigra with the cache off, axum-login, bare, then again); \
         medians of the rounds. The peer (`bench/peers/`, its own lockfile) is axum-login 0.18 + \
         tower-sessions 0.14 + tower-sessions-sqlx-store 0.15 (sessions in the same database), \
         Argon2id at default cost; `bare` is an axum route with no session and no database. \
         Targets: Sigra ≥ 1.5 × axum-login's requests/s at lower or equal p99 on each backend; \
         Sigra ≥ 60% of bare on SQLite. The machine is shared, so figures are approximate.\n\n\
         | backend | stack | req/s (median) | p99 ms (median) |\n|---|---|---:|---:|\n"
    );
    for r in results {
        for stack in Stack::ALL {
            let (rps, p99) = r.medians(stack);
            out.push_str(&format!(
                "| {} | {} | {rps:.0} | {p99:.2} |\n",
                r.label,
                stack.label()
            ));
        }
    }
    out.push_str(
        "\n| backend | Sigra / axum-login (req/s) | p99 Sigra vs axum-login (ms) | Sigra / bare | \
         Sigra cache off / axum-login | p99 cache off vs axum-login (ms) | targets |\n\
         |---|---:|---:|---:|---:|---:|---|\n",
    );
    for r in results {
        let (s, sp) = r.medians(Stack::Sigra);
        let (n, np) = r.medians(Stack::SigraNoCache);
        let (p, pp) = r.medians(Stack::Peer);
        let (b, _) = r.medians(Stack::Bare);
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        let mut missed = Vec::new();
        if ratio(s, p) < 1.5 {
            missed.push("≥ 1.5× axum-login");
        }
        if sp > pp {
            missed.push("p99 ≤ axum-login's");
        }
        if r.label.starts_with("SQLite") && ratio(s, b) < 0.6 {
            missed.push("≥ 60% of bare");
        }
        let verdict = if missed.is_empty() {
            "met".to_owned()
        } else {
            format!("MISSED: {}", missed.join(", "))
        };
        out.push_str(&format!(
            "| {} | {:.2}× | {sp:.2} vs {pp:.2} | {:.0}% | {:.2}× | {np:.2} vs {pp:.2} | {} |\n",
            r.label,
            ratio(s, p),
            100.0 * ratio(s, b),
            ratio(n, p),
            verdict
        ));
    }
    out
}

fn escape_xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A horizontal bar chart of the median requests/s per stack and backend.
fn chart(results: &[BackendResult]) -> String {
    let bars: Vec<(String, f64, &str)> = results
        .iter()
        .flat_map(|r| {
            Stack::ALL.iter().map(move |&stack| {
                let color = match stack {
                    Stack::Sigra => "#2f6fdf",
                    Stack::SigraNoCache => "#7fa6ec",
                    Stack::Peer => "#e0823d",
                    Stack::Bare => "#9a9a9a",
                };
                (
                    format!("{} · {}", r.label, stack.short()),
                    r.medians(stack).0,
                    color,
                )
            })
        })
        .collect();
    let max = bars.iter().map(|b| b.1).fold(1.0, f64::max);
    let (left, width, bar_h, gap, top) = (250.0, 420.0, 22.0, 8.0, 50.0);
    let height = top + bars.len() as f64 * (bar_h + gap) + 30.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"780\" height=\"{height:.0}\" \
         viewBox=\"0 0 780 {height:.0}\" font-family=\"sans-serif\" font-size=\"13\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n\
         <text x=\"20\" y=\"28\" font-size=\"16\" font-weight=\"bold\">Signed-in GET /dashboard, requests/s (median, wrk -t{THREADS} -c{CONNECTIONS})</text>\n"
    );
    for (i, (label, rps, color)) in bars.iter().enumerate() {
        let y = top + i as f64 * (bar_h + gap);
        let w = (rps / max * width).max(1.0);
        svg.push_str(&format!(
            "<text x=\"{:.0}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n\
             <rect x=\"{left:.0}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{bar_h:.0}\" fill=\"{color}\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\">{rps:.0}</text>\n",
            left - 8.0,
            y + bar_h * 0.7,
            escape_xml(label),
            left + w + 6.0,
            y + bar_h * 0.7,
        ));
    }
    svg.push_str("</svg>\n");
    svg
}

/// Reads a `VmHWM`/`VmRSS`-style line of `/proc/<pid>/status` in MiB.
fn proc_status_mib(pid: u32, key: &str) -> Option<f64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kib: f64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())?;
    Some(kib / 1024.0)
}

/// One full log-in (GET the form, POST it); its answer's status and `Retry-After`.
fn one_login(port: u16) -> Result<(u16, Option<u64>)> {
    let mut jar = Jar::default();
    let page = request(port, "GET", "/users/log-in", &jar, None)?;
    jar.take(&page);
    let form = form_encode(&[
        ("_csrf_token", &csrf_of(&page.body)?),
        ("email", EMAIL),
        ("password", PASSWORD),
    ]);
    let reply = request(port, "POST", "/users/log-in", &jar, Some(&form))?;
    Ok((reply.status, reply.retry_after))
}

/// Offers `PROBE_RATE` signed-in `GET /dashboard` requests per second for
/// `seconds`, each on a fresh connection, from `PROBE_THREADS` threads on a
/// fixed schedule. A request's latency counts from when it was *due*, not
/// when it was sent, so a stalled server cannot hide its stall by delaying
/// the next request (coordinated omission). Any answer but 200 fails the run.
fn paced_probe(port: u16, jar: &Jar, seconds: u64) -> Result<Load> {
    let interval = Duration::from_secs(1) * PROBE_THREADS / PROBE_RATE;
    let per_thread = seconds * u64::from(PROBE_RATE / PROBE_THREADS);
    let started = Instant::now();
    let threads: Vec<_> = (0..PROBE_THREADS)
        .map(|t| {
            let jar = jar.clone();
            // Threads are staggered across one interval.
            let offset = interval * t / PROBE_THREADS;
            std::thread::spawn(move || -> Result<Vec<f64>> {
                let mut latencies = Vec::new();
                for i in 0..per_thread {
                    let due = started + offset + interval * u32::try_from(i).unwrap_or(u32::MAX);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        pause(wait);
                    }
                    let reply = request(port, "GET", "/dashboard", &jar, None)?;
                    if reply.status != 200 {
                        return Err(format!(
                            "the probe's GET /dashboard answered {}",
                            reply.status
                        ));
                    }
                    latencies.push(due.elapsed().as_secs_f64() * 1000.0);
                }
                Ok(latencies)
            })
        })
        .collect();
    let mut all = Vec::new();
    for thread in threads {
        all.extend(thread.join().map_err(|_| "a probe thread panicked")??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    let p99_ms = all
        .get((all.len() * 99).div_ceil(100).saturating_sub(1))
        .copied()
        .ok_or("the probe made no requests")?;
    Ok(Load {
        rps: all.len() as f64 / elapsed,
        p99_ms,
    })
}

fn flood(bins: &Binaries, work: &Path, seconds: u64) -> Result<String> {
    let mut rows = Vec::new();
    let pg_name = format!("sigra_bench_flood_{}", std::process::id());
    for (label, is_pg) in [("SQLite (file)", false), ("PostgreSQL", true)] {
        let url = fresh_database(is_pg, &pg_name, &work.join("flood.sqlite"))?;
        let port = free_port()?;
        let base = format!("http://127.0.0.1:{port}");
        let server = start(
            &bins.sigra,
            &url,
            port,
            &work.join(format!("flood-{port}.log")),
            &UNTHROTTLED,
        )?;
        let pid = server.0.id();
        let mut probe_jar = Jar::default();
        probe_jar.0.insert(
            SESSION_COOKIE.to_owned(),
            signed_in_cookie(&base, &work.join(format!("jar-{port}.txt")))?,
        );
        // Single log-in time, unloaded: the median of 20 sequential log-ins.
        let mut single = Vec::new();
        for _ in 0..20 {
            let started = Instant::now();
            if one_login(port)?.0 != 303 {
                return Err("an unloaded log-in was refused".into());
            }
            single.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        let single_ms = median(&mut single);
        let idle = paced_probe(port, &probe_jar, seconds)?;
        let rss_before = proc_status_mib(pid, "VmRSS:").unwrap_or(0.0);

        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let shed = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let mut clients = Vec::with_capacity(FLOOD_CLIENTS);
        for _ in 0..FLOOD_CLIENTS {
            let (stop, ok, shed, failed) = (stop.clone(), ok.clone(), shed.clone(), failed.clone());
            clients.push(std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match one_login(port) {
                        Ok((303, _)) => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        // Password hashing saturated: the server sheds load
                        // and says when to come back; the client does as told.
                        Ok((503, retry_after)) => {
                            shed.fetch_add(1, Ordering::Relaxed);
                            let deadline =
                                Instant::now() + Duration::from_secs(retry_after.unwrap_or(1));
                            while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
                                pause(Duration::from_millis(50));
                            }
                        }
                        _ => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }));
        }
        // Let the flood build up, then measure while it runs.
        pause(Duration::from_secs(1));
        let ok_start = ok.load(Ordering::Relaxed);
        let measured = Instant::now();
        let probe = paced_probe(port, &probe_jar, seconds);
        let elapsed = measured.elapsed().as_secs_f64();
        let logins = ok.load(Ordering::Relaxed) - ok_start;
        stop.store(true, Ordering::Relaxed);
        for client in clients {
            let _ = client.join();
        }
        let probe = probe?;
        let hwm = proc_status_mib(pid, "VmHWM:").unwrap_or(0.0);
        drop(server);
        let failures = failed.load(Ordering::Relaxed);
        let shed = shed.load(Ordering::Relaxed);
        let login_rps = logins as f64 / elapsed;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let ideal = cores / (single_ms / 1000.0);
        let mut missed = Vec::new();
        if probe.p99_ms >= 25.0 {
            missed.push("p99 < 25 ms");
        }
        if hwm >= 300.0 {
            missed.push("RSS < 300 MiB");
        }
        if login_rps < 0.8 * ideal {
            missed.push("log-ins ≥ 80% of ideal");
        }
        let verdict = if missed.is_empty() {
            "met".to_owned()
        } else {
            format!("MISSED: {}", missed.join(", "))
        };
        eprintln!(
            "==> flood: {label}: dashboard p99 {:.2} ms (idle {:.2} ms), {:.0} req/s; \
             {login_rps:.1} log-ins/s (ideal {ideal:.1}); peak RSS {hwm:.0} MiB; {shed} shed (503), {failures} failed otherwise",
            probe.p99_ms, idle.p99_ms, probe.rps
        );
        rows.push(format!(
            "| {label} | {:.2} | {:.2} | {:.0} | {login_rps:.1} | {single_ms:.1} | {ideal:.1} | {:.0}% | {rss_before:.0} | {hwm:.0} | {shed} | {failures} | {} |",
            idle.p99_ms,
            probe.p99_ms,
            probe.rps,
            100.0 * login_rps / ideal,
            verdict,
        ));
    }
    postgres_database(&pg_name, false)?;
    Ok(format!(
        "{FLOOD_CLIENTS} client threads each log in again and again (GET `/users/log-in`, POST it with \
         the right password; Argon2id at the default cost) against `sigra serve` (release, session \
         cache on, rate limit and lockout lifted); a client whose log-in is shed with 503 waits for \
         the `Retry-After` the server sends, as a well-behaved client does. Meanwhile a probe offers \
         {PROBE_RATE} signed-in `GET /dashboard` per second for {seconds} s ({PROBE_THREADS} threads on a \
         fixed schedule, each request on a new connection, latency counted from when the request \
         was due, so a stall is not hidden). `idle p99` is the same probe without the flood. \
         The ideal log-in rate is cores ÷ the median unloaded log-in time (20 sequential log-ins, \
         an upper bound of one hash). Peak RSS is the server's `VmHWM`. Targets: p99 under 25 ms, \
         RSS under 300 MiB, log-ins/s ≥ 80% of ideal. `shed` counts log-ins the server refused with \
         503 because password hashing was saturated (its load shedding, counted over the whole \
         flood); `other failures` are any other answer or connection error. The load generator \
         (200 threads) shares the 2 cores with the server.\n\n\
         | backend | idle p99 (ms) | flood p99 (ms) | dashboard req/s under flood (offered {PROBE_RATE}) | log-ins/s | unloaded log-in (ms) | ideal log-ins/s | of ideal | RSS before (MiB) | peak RSS (MiB) | shed (503) | other failures | targets |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n{}\n",
        rows.join("\n")
    ))
}

/// One timed failed log-in; the CSRF fetch is not timed.
fn timed_failed_login(port: u16, email: &str, password: &str) -> Result<f64> {
    let mut jar = Jar::default();
    let page = request(port, "GET", "/users/log-in", &jar, None)?;
    jar.take(&page);
    let form = form_encode(&[
        ("_csrf_token", &csrf_of(&page.body)?),
        ("email", email),
        ("password", password),
    ]);
    let started = Instant::now();
    let reply = request(port, "POST", "/users/log-in", &jar, Some(&form))?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if reply.status == 303 || reply.status == 429 {
        return Err(format!(
            "a failed log-in answered {}: the timing would be meaningless",
            reply.status
        ));
    }
    Ok(ms)
}

fn enumeration(bins: &Binaries, work: &Path) -> Result<String> {
    let mut rows = Vec::new();
    let pg_name = format!("sigra_bench_enum_{}", std::process::id());
    for (label, is_pg) in [("SQLite (file)", false), ("PostgreSQL", true)] {
        let url = fresh_database(is_pg, &pg_name, &work.join("enumeration.sqlite"))?;
        let port = free_port()?;
        let server = start(
            &bins.sigra,
            &url,
            port,
            &work.join(format!("enum-{port}.log")),
            &UNTHROTTLED,
        )?;
        signed_in_cookie(
            &format!("http://127.0.0.1:{port}"),
            &work.join(format!("jar-{port}.txt")),
        )?;
        // Warm-up: a few of each.
        for _ in 0..5 {
            timed_failed_login(port, "nobody@example.com", PASSWORD)?;
            timed_failed_login(port, EMAIL, "the wrong password 123")?;
        }
        let (mut unknown, mut wrong) = (Vec::new(), Vec::new());
        for i in 0..ENUMERATION_TRIES {
            let email = format!("nobody-{i}@example.com");
            // Alternate which kind goes first, so drift hits both alike.
            if i % 2 == 0 {
                unknown.push(timed_failed_login(port, &email, PASSWORD)?);
                wrong.push(timed_failed_login(port, EMAIL, "the wrong password 123")?);
            } else {
                wrong.push(timed_failed_login(port, EMAIL, "the wrong password 123")?);
                unknown.push(timed_failed_login(port, &email, PASSWORD)?);
            }
        }
        drop(server);
        let (u, w) = (median(&mut unknown), median(&mut wrong));
        let ratio = if w > 0.0 { u / w } else { 0.0 };
        eprintln!(
            "==> enumeration: {label}: unknown email {u:.2} ms, wrong password {w:.2} ms, ratio {ratio:.3}"
        );
        rows.push(format!(
            "| {label} | {u:.2} | {w:.2} | {ratio:.3} | {} |",
            if (0.9..=1.1).contains(&ratio) {
                "met"
            } else {
                "MISSED"
            }
        ));
    }
    postgres_database(&pg_name, false)?;
    Ok(format!(
        "{ENUMERATION_TRIES} failed log-ins with an unknown email and {ENUMERATION_TRIES} with a wrong \
         password for an existing account, alternated, one at a time against `sigra serve` \
         (release; rate limit and lockout lifted); each is timed from the POST's first byte to \
         the answer's last on a fresh loopback connection. Target: ratio of medians within 0.9–1.1.\n\n\
         | backend | unknown email, median (ms) | wrong password, median (ms) | ratio | target |\n\
         |---|---:|---:|---:|---|\n{}\n",
        rows.join("\n")
    ))
}

/// Builds Sigra and the peers, runs the three benchmarks and writes
/// `target/sigra-bench/{peers,flood,enumeration}.md` and
/// `docs/benchmarks-chart.svg`.
pub(crate) fn run() -> Result {
    need("wrk", "apt-get install wrk")?;
    need("curl", "apt-get install curl")?;
    need("psql", "apt-get install postgresql-client")?;
    let seconds = env_number("SIGRA_BENCH_SECONDS", 10);
    let rounds = env_number("SIGRA_BENCH_ROUNDS", 3);
    step(
        "build sigra (release)",
        "cargo",
        &["build", "--release", "--locked", "-p", "sigra-cli"],
        &[],
        "fix the build errors above.",
    )?;
    step(
        "build peers (release)",
        "cargo",
        &[
            "build",
            "--release",
            "--locked",
            "--manifest-path",
            "bench/peers/Cargo.toml",
        ],
        &[],
        "fix the build errors above (bench/peers is its own Cargo project).",
    )?;
    let root = workspace_root();
    let peers_bin = root.join("bench/peers/target/release");
    let bins = Binaries {
        sigra: root.join("target/release/sigra"),
        peer: peers_bin.join("axum-login-peer"),
        bare: peers_bin.join("bare"),
    };
    let work = root.join("target/sigra-bench/peers-run");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    let write = |name: &str, text: &str| -> Result {
        let path = root.join(name);
        fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        eprintln!("\n{text}");
        Ok(())
    };

    let results = peers(&bins, &work, seconds, rounds)?;
    write(
        "target/sigra-bench/peers.md",
        &peers_table(&results, seconds, rounds),
    )?;
    write("docs/benchmarks-chart.svg", &chart(&results))?;
    write(
        "target/sigra-bench/flood.md",
        &flood(&bins, &work, seconds)?,
    )?;
    write(
        "target/sigra-bench/enumeration.md",
        &enumeration(&bins, &work)?,
    )?;
    Ok(())
}
