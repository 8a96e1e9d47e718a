//! Project automation, run as `cargo xtask <command>`.
//!
//! - `cargo xtask ci`: everything CI checks, in order: formatting, clippy,
//!   tests (with PostgreSQL and Redis started when they are not running, and
//!   Debian's Chromium and ChromeDriver installed when missing), docs.
//! - `cargo xtask bench`: the criterion benchmarks, the HTTP load tests, Sigra
//!   against its peers (`bench/peers/`), the login flood and the enumeration
//!   timing, with a summary and a chart written to `docs/benchmarks.md`.
//! - `cargo xtask services`: start (or check) PostgreSQL and Redis for local test runs.
//! - `cargo xtask fuzz --seconds N`: every cargo-fuzz target in `fuzz/` for N
//!   seconds each (cargo-fuzz is installed when missing); `ci` runs a short pass.
//! - `cargo xtask chaos`: the reliability tests (`sigra-tests`' `chaos` module),
//!   which break their own private PostgreSQL on purpose and SIGKILL `sigra
//!   serve` mid-burst; `ci` runs them too.
//!
//! It depends on nothing but the standard library, so it builds in seconds.

mod http_bench;

use std::env;
use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// The PostgreSQL server tests use (trust auth; tests create their own databases).
const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// The Redis server tests use.
const REDIS_URL: &str = "redis://127.0.0.1:6379";
/// Debian's Chromium, which the browser test drives (package `chromium`).
const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's ChromeDriver, which the browser test starts (package `chromium-driver`).
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("bench") => bench(&args[1..]),
        Some("services") => services(),
        Some("fuzz") => fuzz_command(&args[1..]),
        Some("chaos") => chaos(),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n\
                 commands:\n  \
                 ci        fmt check, clippy -D warnings, all tests (real PostgreSQL and Redis), docs\n  \
                 bench     criterion benchmarks; summary written to docs/benchmarks.md\n  \
                 services  start PostgreSQL and Redis for tests if they are not running\n  \
                 fuzz      run every cargo-fuzz target in fuzz/ (`--seconds N` each, default 60)\n  \
                 chaos     the reliability suite: a private PostgreSQL killed under load, sigra serve SIGKILLed"
            );
            Err("unknown or missing command".into())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("\nxtask: {message}");
            ExitCode::FAILURE
        }
    }
}

type Result<T = ()> = std::result::Result<T, String>;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Runs one step; on failure, explains how to fix it.
fn step(name: &str, program: &str, args: &[&str], envs: &[(&str, &str)], fix: &str) -> Result {
    eprintln!("\n==> {name}: {program} {}", args.join(" "));
    let started = Instant::now();
    let status = Command::new(program)
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(workspace_root())
        .status()
        .map_err(|e| format!("{name}: could not run `{program}`: {e}"))?;
    eprintln!(
        "<== {name}: {} in {:.1?}",
        if status.success() { "ok" } else { "FAILED" },
        started.elapsed()
    );
    if status.success() {
        Ok(())
    } else {
        Err(format!("step `{name}` failed.\nHow to fix: {fix}"))
    }
}

fn ci() -> Result {
    let started = Instant::now();
    step(
        "fmt",
        "cargo",
        &["fmt", "--all", "--", "--check"],
        &[],
        "run `cargo fmt --all` and commit the result.",
    )?;
    step(
        "clippy",
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
        &[],
        "fix each warning clippy printed above (run `cargo clippy --workspace --all-targets` locally); \
         `unwrap`/`expect`/`panic` are denied outside tests, and the wall clock may only be read in sigra_core::clock.",
    )?;
    services()?;
    ensure_chromium()?;
    step(
        "test",
        "cargo",
        &["test", "--workspace", "--all-features", "--locked"],
        &[
            ("SIGRA_TEST_POSTGRES_URL", POSTGRES_URL),
            ("SIGRA_TEST_REDIS_URL", REDIS_URL),
            ("SIGRA_CHROMEDRIVER", CHROMEDRIVER),
            ("SIGRA_CHROMIUM", CHROMIUM),
        ],
        "read the failing test's output above; rerun one test with `cargo test -p <crate> <name>`. \
         Tests needing PostgreSQL or Redis take their address from SIGRA_TEST_POSTGRES_URL / SIGRA_TEST_REDIS_URL \
         (`cargo xtask services` starts them).",
    )?;
    chaos()?;
    fuzz(CI_FUZZ_SECONDS)?;
    step(
        "doc",
        "cargo",
        &[
            "doc",
            "--workspace",
            "--all-features",
            "--no-deps",
            "--locked",
        ],
        &[("RUSTDOCFLAGS", "-D warnings")],
        "fix the rustdoc warnings above (broken intra-doc links, missing docs, failing examples).",
    )?;
    eprintln!("\nxtask ci: all steps passed in {:.0?}", started.elapsed());
    Ok(())
}

/// Makes sure Debian's `chromium` and `chromium-driver` are installed for the
/// browser test, installing them with apt-get (non-interactive) when either
/// binary is missing.
fn ensure_chromium() -> Result {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|path| !Path::new(path).is_file())
        .collect();
    if missing.is_empty() {
        eprintln!("==> chromium: {CHROMIUM} and {CHROMEDRIVER} are installed");
        return Ok(());
    }
    eprintln!(
        "==> chromium: {} missing; installing Debian's chromium and chromium-driver",
        missing.join(" and ")
    );
    let how = "the browser test (tests/tests/browser.rs) needs Debian's Chromium and ChromeDriver. \
               Install them as root with `apt-get update && apt-get install -y chromium chromium-driver`, \
               or point SIGRA_CHROMIUM and SIGRA_CHROMEDRIVER at an installed Chromium and matching ChromeDriver";
    let install: [&[&str]; 2] = [
        &["update"],
        &["install", "-y", "chromium", "chromium-driver"],
    ];
    for args in install {
        let command = format!("apt-get {}", args.join(" "));
        eprintln!("\n==> chromium: {command}");
        match Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .status()
        {
            Ok(status) if status.success() => {}
            Ok(status) => {
                return Err(format!(
                    "`{command}` failed ({status}), so Chromium and ChromeDriver are not installed.\n\
                     How to fix: {how}."
                ));
            }
            Err(e) => {
                return Err(format!(
                    "could not run `apt-get` ({e}), so Chromium and ChromeDriver are not installed.\n\
                     How to fix: {how}."
                ));
            }
        }
    }
    let still_missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|path| !Path::new(path).is_file())
        .collect();
    if still_missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "apt-get installed chromium and chromium-driver, but {} is still missing.\nHow to fix: {how}.",
            still_missing.join(" and ")
        ))
    }
}

fn reachable(addr: &str) -> bool {
    addr.parse::<SocketAddr>()
        .is_ok_and(|a| TcpStream::connect_timeout(&a, Duration::from_millis(500)).is_ok())
}

/// Waits up to `timeout` for `addr` to accept connections.
#[allow(clippy::disallowed_methods)] // Polling a server that is starting up; nothing to inject here.
fn wait_for(addr: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if reachable(addr) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    reachable(addr)
}

/// Makes sure PostgreSQL (5432) and Redis (6379) answer on 127.0.0.1,
/// starting them the way this machine's services are started when they do not.
fn services() -> Result {
    ensure_service(
        "PostgreSQL",
        "127.0.0.1:5432",
        "sh",
        &[
            "-c",
            "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql | tail -n1) main start",
        ],
        "start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` \
         (or any PostgreSQL on 127.0.0.1:5432 with trust auth for user postgres)",
    )?;
    ensure_service(
        "Redis",
        "127.0.0.1:6379",
        "redis-server",
        &[
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "--port",
            "6379",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        "start it with `redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no`",
    )
}

fn ensure_service(name: &str, addr: &str, program: &str, args: &[&str], how: &str) -> Result {
    if reachable(addr) {
        eprintln!("==> services: {name} is up at {addr}");
        return Ok(());
    }
    eprintln!(
        "==> services: {name} is not answering at {addr}; starting it: {program} {}",
        args.join(" ")
    );
    let started = Command::new(program).args(args).status();
    if let Err(e) = &started {
        eprintln!("    could not run {program}: {e}");
    }
    if wait_for(addr, Duration::from_secs(20)) {
        eprintln!("==> services: {name} is up at {addr}");
        Ok(())
    } else {
        Err(format!(
            "{name} is not reachable at {addr} and could not be started.\nHow to fix: {how}."
        ))
    }
}

/// Runs the benchmarks and writes their tables to docs/benchmarks.md.
///
/// `cargo xtask bench` runs everything; `cargo xtask bench http` only the
/// HTTP load test; `cargo xtask bench peers` only Sigra against its peers,
/// the login flood and the enumeration timing; `cargo xtask bench cargo
/// [criterion args]` only the `cargo bench` targets.
fn bench(extra: &[String]) -> Result {
    let run_peers = !matches!(extra.first().map(String::as_str), Some("http" | "cargo"));
    let (run_cargo, run_http, extra) = match extra.first().map(String::as_str) {
        Some("http") => (false, true, &extra[1..]),
        Some("cargo") => (true, false, &extra[1..]),
        Some("peers") => (false, false, &extra[1..]),
        _ => (true, true, extra),
    };
    let mut args = vec!["bench", "--workspace", "--locked"];
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    if !extra.is_empty() {
        args.push("--");
        args.extend(extra.iter().copied());
    }
    services()?;
    if run_cargo {
        step(
            "bench",
            "cargo",
            &args,
            &[
                ("SIGRA_TEST_POSTGRES_URL", POSTGRES_URL),
                ("SIGRA_TEST_REDIS_URL", REDIS_URL),
            ],
            "read the benchmark's output above.",
        )?;
    }
    if run_http {
        http_bench::run()?;
    }
    if run_peers {
        http_bench::peers::run()?;
    }
    let root = workspace_root();
    let doc = root.join("docs/benchmarks.md");
    let table = criterion_table(&root.join("target/criterion")).unwrap_or_default();
    if !table.is_empty() {
        write_section(&doc, "criterion", &table)?;
    }
    // Throughput benchmarks write their own markdown tables; each becomes a section.
    if let Ok(entries) = fs::read_dir(root.join("target/sigra-bench")) {
        for entry in entries.flatten() {
            let path = entry.path();
            let stem = path.file_stem().and_then(|s| s.to_str()).map(str::to_owned);
            if let (Some(stem), Ok(body)) = (stem, fs::read_to_string(&path)) {
                write_section(&doc, &stem, &body)?;
            }
        }
    }
    eprintln!("\n{table}\nresults written to docs/benchmarks.md");
    Ok(())
}

/// One row per benchmark found under `target/criterion/**/new/estimates.json`.
fn criterion_table(dir: &Path) -> Result<String> {
    let mut rows = Vec::new();
    collect_estimates(dir, dir, &mut rows);
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    if rows.is_empty() {
        return Err(format!("no criterion results under {}", dir.display()));
    }
    let mut out = String::from("| benchmark | median | mean |\n|---|---:|---:|\n");
    for (name, median, mean) in rows {
        out.push_str(&format!(
            "| `{name}` | {} | {} |\n",
            human_ns(median),
            human_ns(mean)
        ));
    }
    Ok(out)
}

fn collect_estimates(root: &Path, dir: &Path, rows: &mut Vec<(String, f64, f64)>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "report") {
                continue;
            }
            let estimates = path.join("new/estimates.json");
            if let Ok(json) = fs::read_to_string(&estimates) {
                if let (Some(median), Some(mean)) = (
                    point_estimate(&json, "median"),
                    point_estimate(&json, "mean"),
                ) {
                    let name = path
                        .strip_prefix(root)
                        .unwrap_or(&path)
                        .display()
                        .to_string();
                    rows.push((name, median, mean));
                }
            } else {
                collect_estimates(root, &path, rows);
            }
        }
    }
}

/// Reads `"<key>":{…"point_estimate":<number>` from criterion's estimates.json.
fn point_estimate(json: &str, key: &str) -> Option<f64> {
    let start = json.find(&format!("\"{key}\":{{"))?;
    let rest = &json[start..];
    let at = rest.find("\"point_estimate\":")? + "\"point_estimate\":".len();
    let number: String = rest[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        .collect();
    number.parse().ok()
}

fn human_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

/// Replaces the text between `<!-- xtask:<name>:begin -->` and `<!-- xtask:<name>:end -->`.
fn write_section(file: &Path, name: &str, body: &str) -> Result {
    let begin = format!("<!-- xtask:{name}:begin -->");
    let end = format!("<!-- xtask:{name}:end -->");
    let text = fs::read_to_string(file).unwrap_or_default();
    let block = format!("{begin}\n{body}{end}");
    let updated = match (text.find(&begin), text.find(&end)) {
        (Some(b), Some(e)) if e > b => format!("{}{}{}", &text[..b], block, &text[e + end.len()..]),
        _ => format!("{text}\n{block}\n"),
    };
    fs::write(file, updated).map_err(|e| format!("could not write {}: {e}", file.display()))
}

/// The reliability suite: `cargo test -p sigra-tests chaos::`. Each test
/// starts (and kills) a PostgreSQL of its own from Debian's binaries.
fn chaos() -> Result {
    // `--workspace`, as in the test step, so features resolve the same way
    // and nothing is rebuilt. Two test binaries: the suite's `chaos` module
    // and `sigra-cli`'s crash test (it needs Cargo to build `sigra` for it);
    // the filters pick their tests.
    step(
        "chaos",
        "cargo",
        &[
            "test",
            "--workspace",
            "--all-features",
            "--locked",
            "--test",
            "suite",
            "--test",
            "crash",
            "--",
            "chaos::",
            "sigkill",
        ],
        &[],
        "read the failing test's output above. The outage test runs PostgreSQL's own initdb and pg_ctl \
         from /usr/lib/postgresql/*/bin (Debian's `postgresql` package), as the `postgres` user when run \
         as root; the crash tests run `sigra serve` (built by Cargo for it) and kill it with SIGKILL: \
         mid-burst, checking the SQLite file it leaves, and while its SMTP server refuses mail, on \
         SQLite and on PostgreSQL (SIGRA_TEST_POSTGRES_URL; `cargo xtask services` starts it).",
    )
}

/// Seconds each fuzz target runs for in `cargo xtask ci`.
const CI_FUZZ_SECONDS: u64 = 10;

/// `cargo xtask fuzz [--seconds N]`.
fn fuzz_command(args: &[String]) -> Result {
    let seconds = match args {
        [] => 60,
        [flag, n] if flag == "--seconds" => n
            .parse()
            .map_err(|_| format!("--seconds wants a whole number of seconds, got `{n}`"))?,
        _ => return Err("usage: cargo xtask fuzz [--seconds N]".into()),
    };
    fuzz(seconds)
}

/// Runs every target in `fuzz/fuzz_targets` for `seconds` with cargo-fuzz
/// (libFuzzer; `RUSTC_BOOTSTRAP=1` on the stable toolchain), failing on the
/// first crash. The committed seeds in `fuzz/corpus/<target>` are read but
/// never written: new inputs go to `target/fuzz-corpus/<target>`.
fn fuzz(seconds: u64) -> Result {
    ensure_cargo_fuzz()?;
    let root = workspace_root();
    let fuzz_dir = root.join("fuzz");
    let mut targets: Vec<String> = fs::read_dir(fuzz_dir.join("fuzz_targets"))
        .map_err(|e| format!("cannot list fuzz/fuzz_targets: {e}"))?
        .flatten()
        .filter_map(|entry| {
            let path = entry.path();
            (path.extension()? == "rs").then(|| path.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    targets.sort();
    let bootstrap = [("RUSTC_BOOTSTRAP", "1")];
    fuzz_step(
        "fuzz build",
        &["fuzz", "build"],
        &bootstrap,
        "fix the compile errors above (`cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz build`).",
    )?;
    let max_time = format!("-max_total_time={seconds}");
    for target in &targets {
        let work = root.join("target/fuzz-corpus").join(target);
        let _ = fs::remove_dir_all(&work);
        fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
        let work = work.display().to_string();
        let seeds = format!("corpus/{target}");
        fuzz_step(
            &format!("fuzz {target}"),
            &["fuzz", "run", target, &work, &seeds, "--", &max_time],
            &bootstrap,
            &format!(
                "the fuzzer found an input that crashes `{target}`: it is saved under fuzz/artifacts/{target}/. \
                 Reproduce with `cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run {target} <that file>`, fix the bug, \
                 and add the file to fuzz/corpus/{target}/ so it stays fixed."
            ),
        )?;
    }
    Ok(())
}

/// [`step`], run in `fuzz/`.
fn fuzz_step(name: &str, args: &[&str], envs: &[(&str, &str)], fix: &str) -> Result {
    eprintln!("\n==> {name}: cargo {}", args.join(" "));
    let started = Instant::now();
    let status = Command::new("cargo")
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(workspace_root().join("fuzz"))
        .status()
        .map_err(|e| format!("{name}: could not run `cargo`: {e}"))?;
    eprintln!(
        "<== {name}: {} in {:.1?}",
        if status.success() { "ok" } else { "FAILED" },
        started.elapsed()
    );
    if status.success() {
        Ok(())
    } else {
        Err(format!("step `{name}` failed.\nHow to fix: {fix}"))
    }
}

/// Installs cargo-fuzz with `cargo install --locked` when `cargo fuzz` is missing.
fn ensure_cargo_fuzz() -> Result {
    let present = Command::new("cargo")
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if present {
        return Ok(());
    }
    step(
        "install cargo-fuzz",
        "cargo",
        &["install", "cargo-fuzz", "--locked"],
        &[],
        "install it by hand with `cargo install cargo-fuzz --locked` (needs crates.io).",
    )
}
