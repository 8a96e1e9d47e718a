//! The `sigra` command: the demo server, migrations, secrets and keys.
//!
//! `sigra serve` is the first thing a new user runs: it starts the demo app
//! on an embedded SQLite file (or the `DATABASE_URL` given), migrated on
//! start, and prints the URL to open.

mod doctor;
mod jobs;
mod reencrypt;
mod serve;

use std::collections::HashMap;
use std::process::ExitCode;

use secrecy::ExposeSecret;
use sigra_core::encryption::EncryptionKey;
use sigra_core::keys::SecretKeyBase;

const USAGE: &str = "\
usage: sigra <command> [options]

commands:
  serve [--port N] [--database-url URL] [--jobs inline|durable]
               run the demo app (default: SQLite file ./sigra-dev.sqlite, port 4000);
               background jobs run in-process (inline) or on the durable queue
  jobs run [--once] [--database-url URL] [--deletion-strategy soft_delete|anonymize|hard_delete]
           [--cleanup-schedule CRON] [--audit-retention-schedule CRON] [--deletions-schedule CRON]
               run a job worker on the durable queue in DATABASE_URL; with --once, run
               every periodic job once now and print one line per job
  migrate [--database-url URL]
               apply the database migrations and exit
  doctor [--database-url URL]
               check the environment against the production checklist (exit 1 on any failure)
  gen-secret   print a new SECRET_KEY_BASE (64 random bytes, base64url)
  gen-key      print a new ENCRYPTION_KEY (32 random bytes, base64)
  reencrypt [--database-url URL] [--batch-size N] [--after USER_ID]
               re-encrypt every encrypted column with ENCRYPTION_KEY (values sealed with
               ENCRYPTION_KEY_OLD); safe while the app runs, and to stop and rerun

Configuration comes from the environment (DATABASE_URL, SECRET_KEY_BASE,
PUBLIC_URL, PORT, SIGRA_ENV, …); the flags override it. See docs/guides/configuration.md.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => run(serve::serve(&args[1..])),
        Some("migrate") => run(serve::migrate(&args[1..])),
        Some("doctor") => doctor(&args[1..]),
        Some("jobs") => run(jobs::jobs(&args[1..])),
        Some("gen-secret") => match SecretKeyBase::generate_printable() {
            Ok(secret) => {
                println!("{}", secret.expose_secret());
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e.to_string()),
        },
        Some("gen-key") => match EncryptionKey::generate() {
            Ok(key) => {
                println!("{}", key.to_base64().expose_secret());
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e.to_string()),
        },
        Some("reencrypt") => run(reencrypt::reencrypt(&args[1..])),
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprint!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// `sigra doctor`: prints the checklist; exit status 1 when any check fails.
fn doctor(args: &[String]) -> ExitCode {
    let vars = match env_with_flags(args) {
        Ok(vars) => vars,
        Err(message) => return fail(&message),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    let rows = runtime.block_on(doctor::checks(&vars));
    if doctor::print(&rows) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn run(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => fail(&message),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("sigra: {message}");
    ExitCode::from(2)
}

/// The process environment as a map, with `--flag value` overrides applied.
pub(crate) fn env_with_flags(args: &[String]) -> Result<HashMap<String, String>, String> {
    let mut vars: HashMap<String, String> = std::env::vars().collect();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let var = match flag.as_str() {
            "--port" => "PORT",
            "--database-url" => "DATABASE_URL",
            other => return Err(format!("unknown option {other:?}\n\n{USAGE}")),
        };
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        vars.insert(var.to_owned(), value.clone());
    }
    Ok(vars)
}
