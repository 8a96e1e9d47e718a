//! The `sigra` command: secrets and keys today; the demo server, migrations,
//! `doctor` and job workers as their crates land (see `docs/ARCHITECTURE.md`).

use std::process::ExitCode;

use secrecy::ExposeSecret;
use sigra_core::encryption::EncryptionKey;
use sigra_core::keys::SecretKeyBase;

const USAGE: &str = "\
usage: sigra <command>

commands:
  gen-secret   print a new SECRET_KEY_BASE (64 random bytes, base64url)
  gen-key      print a new ENCRYPTION_KEY (32 random bytes, base64)
  serve        the demo app (not in this build yet: arrives with sigra-web)
  migrate      run database migrations (not in this build yet: arrives with the stores)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
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
        Some(cmd @ ("serve" | "migrate" | "doctor" | "jobs" | "reencrypt")) => fail(&format!(
            "`sigra {cmd}` is not part of this build yet: it needs crates that are still empty \
             (see the status table in README.md)"
        )),
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

fn fail(message: &str) -> ExitCode {
    eprintln!("sigra: {message}");
    ExitCode::from(2)
}
