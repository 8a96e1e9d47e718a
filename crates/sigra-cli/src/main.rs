//! The `sigra` command: the demo server, migrations, secrets and keys.
//!
//! `sigra serve` is the first thing a new user runs: it starts the demo app
//! on an embedded SQLite file (or the `DATABASE_URL` given), migrated on
//! start, and prints the URL to open.

mod boot;
mod doctor;
mod jobs;
mod reencrypt;
mod serve;
mod settings;

use std::process::ExitCode;

use secrecy::ExposeSecret;
use sigra_core::encryption::EncryptionKey;
use sigra_core::keys::SecretKeyBase;

use crate::boot::{USAGE, env_with_flags};

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
