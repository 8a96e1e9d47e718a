//! `sigra reencrypt`: re-encrypts every stored secret with the current `ENCRYPTION_KEY`.
//!
//! After a key rotation (`ENCRYPTION_KEY` = the new key, `ENCRYPTION_KEY_OLD`
//! = the previous one), this walks every encrypted column in batches and
//! rewrites the values sealed with an old key, with a progress bar on a
//! terminal and a final count. It is safe while the app serves traffic
//! (each row is a compare-and-swap) and safe to stop and rerun (rows already
//! current are skipped; `--after` resumes past a given user id). The work
//! itself is [`sigra_core::reencrypt`].

use std::collections::HashMap;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sigra_core::encryption::FieldCipher;
use sigra_core::ids::UserId;
use sigra_core::reencrypt::{self, ReencryptProgress};
use sigra_core::store::Store;

use crate::boot::{config, env_with_flags, open_store, runtime};

/// `--batch-size` and `--after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Options {
    batch_size: u32,
    after: Option<UserId>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            batch_size: reencrypt::DEFAULT_BATCH_SIZE,
            after: None,
        }
    }
}

/// Takes `--batch-size N` and `--after USER_ID` out of `args`.
fn take_options(args: &[String]) -> Result<(Options, Vec<String>), String> {
    let mut options = Options::default();
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--batch-size" => {
                let value = it.next().map(String::as_str).unwrap_or("");
                options.batch_size = value.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    format!("--batch-size expects a whole number from 1, got {value:?}")
                })?;
            }
            "--after" => {
                let value = it.next().map(String::as_str).unwrap_or("");
                options.after = Some(value.parse().map_err(|_| {
                    format!("--after expects a user id (a UUID) printed by an earlier run, got {value:?}")
                })?);
            }
            _ => rest.push(arg.clone()),
        }
    }
    Ok((options, rest))
}

/// `sigra reencrypt [--database-url URL] [--batch-size N] [--after USER_ID]`.
pub(crate) fn reencrypt(args: &[String]) -> Result<(), String> {
    let (options, rest) = take_options(args)?;
    let summary = reencrypt_with(
        env_with_flags(&rest)?,
        options,
        ProgressDrawTarget::stderr(),
    )?;
    println!("{summary}");
    Ok(())
}

/// The command over explicit variables; returns the final count line.
fn reencrypt_with(
    vars: HashMap<String, String>,
    options: Options,
    draw: ProgressDrawTarget,
) -> Result<String, String> {
    let config = config(vars)?;
    let cipher = config.config.field_cipher().ok_or(
        "ENCRYPTION_KEY is not set: set it to the new key (and ENCRYPTION_KEY_OLD to the \
         previous ones, comma-separated) before re-encrypting; `sigra gen-key` prints a key",
    )?;
    runtime()?.block_on(async {
        let store = open_store(&config).await?;
        walk(&*store, &cipher, options, draw).await
    })
}

async fn walk(
    store: &dyn Store,
    cipher: &FieldCipher,
    options: Options,
    draw: ProgressDrawTarget,
) -> Result<String, String> {
    let total = store
        .mfa_secret_count()
        .await
        .map_err(|e| format!("cannot read the database: {e}"))?;
    let bar = ProgressBar::with_draw_target(Some(total), draw);
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} rows, {elapsed} ({eta} left)")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(format!(
        "re-encrypting MFA secrets with key {}",
        cipher.current_key_id()
    ));
    bar.enable_steady_tick(Duration::from_millis(200));
    let result = reencrypt::reencrypt_mfa_secrets(
        store,
        cipher,
        options.after,
        options.batch_size,
        |progress| {
            bar.set_length(total.max(progress.scanned));
            bar.set_position(progress.scanned);
        },
    )
    .await;
    bar.finish_and_clear();
    match result {
        Ok(progress) => {
            let line = summary(&progress);
            if progress.failed == 0 {
                Ok(line)
            } else {
                Err(format!(
                    "{line}\n{}\nThe failed rows were left as they were. Keep every key they \
                     were sealed with in ENCRYPTION_KEY_OLD and run `sigra reencrypt` again.",
                    failures(&progress)
                ))
            }
        }
        Err(e) => {
            let resume = e
                .progress
                .last
                .map(|id| format!("; resume with `sigra reencrypt --after {id}`"))
                .unwrap_or_default();
            Err(format!("{e}\n{}{resume}", summary(&e.progress)))
        }
    }
}

/// `re-encrypted N, already current N, failed N` (and `gone N` when rows vanished meanwhile).
fn summary(progress: &ReencryptProgress) -> String {
    let mut line = format!(
        "re-encrypted {}, already current {}, failed {}",
        progress.reencrypted, progress.already_current, progress.failed
    );
    if progress.gone > 0 {
        line.push_str(&format!(", gone meanwhile {}", progress.gone));
    }
    line
}

fn failures(progress: &ReencryptProgress) -> String {
    let mut out: Vec<String> = progress
        .failures
        .iter()
        .map(|(user, why)| format!("  user {user}: {why}"))
        .collect();
    let unlisted = progress.failed - progress.failures.len() as u64;
    if unlisted > 0 {
        out.push(format!("  … and {unlisted} more"));
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use secrecy::ExposeSecret;
    use sigra_core::encryption::EncryptionKey;
    use sigra_core::model::{MfaCredential, User};
    use sigra_store_sqlite::SqliteStore;

    fn key(byte: u8) -> EncryptionKey {
        EncryptionKey::from_bytes([byte; 32]).unwrap()
    }

    #[test]
    fn options_are_parsed_and_checked() {
        let args: Vec<String> = ["--batch-size", "7", "--database-url", "sqlite://x"]
            .map(String::from)
            .into();
        let (options, rest) = take_options(&args).unwrap();
        assert_eq!(options.batch_size, 7);
        assert_eq!(rest, ["--database-url", "sqlite://x"]);
        for bad in [
            &["--batch-size", "0"][..],
            &["--batch-size"],
            &["--after", "x"],
        ] {
            let args: Vec<String> = bad.iter().map(|s| s.to_string()).collect();
            assert!(take_options(&args).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn reencrypts_a_sqlite_database_then_finds_nothing_left() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("app.db").display());
        let now = sigra_core::clock::Clock::now(&sigra_core::clock::SystemClock);
        let old = FieldCipher::new(key(1), Vec::new());
        let users: Vec<UserId> = runtime().unwrap().block_on(async {
            let store = SqliteStore::connect(&url).await.unwrap();
            store.migrate().await.unwrap();
            let mut ids = Vec::new();
            for i in 0..5 {
                let id = UserId::new(now);
                let user = User::new(id, format!("u{i}@example.com"), None, now);
                sigra_core::store::UserStore::insert_user(
                    &store,
                    &user,
                    &sigra_core::model::AuditEvent::register(&user),
                )
                .await
                .unwrap();
                let sealed = old
                    .encrypt(b"secret", &reencrypt::mfa_secret_aad(id))
                    .unwrap();
                sigra_core::store::MfaStore::upsert_mfa_credential(
                    &store,
                    &MfaCredential::new(id, sealed, now),
                )
                .await
                .unwrap();
                ids.push(id);
            }
            ids
        });
        let vars: HashMap<String, String> = [
            ("SIGRA_ENV", "test"),
            ("DATABASE_URL", url.as_str()),
            ("ENCRYPTION_KEY", key(2).to_base64().expose_secret()),
            ("ENCRYPTION_KEY_OLD", key(1).to_base64().expose_secret()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let options = Options {
            batch_size: 2,
            after: None,
        };
        let first = reencrypt_with(vars.clone(), options, ProgressDrawTarget::hidden()).unwrap();
        assert_eq!(first, "re-encrypted 5, already current 0, failed 0");
        let again = reencrypt_with(vars.clone(), options, ProgressDrawTarget::hidden()).unwrap();
        assert_eq!(again, "re-encrypted 0, already current 5, failed 0");

        // Without the old key, a row still sealed with it cannot be opened: it
        // is reported, left alone, and the command fails.
        runtime().unwrap().block_on(async {
            let store = SqliteStore::connect(&url).await.unwrap();
            let sealed = old
                .encrypt(b"secret", &reencrypt::mfa_secret_aad(users[0]))
                .unwrap();
            sigra_core::store::MfaStore::upsert_mfa_credential(
                &store,
                &MfaCredential::new(users[0], sealed, now),
            )
            .await
            .unwrap();
        });
        let mut without_old = vars;
        without_old.remove("ENCRYPTION_KEY_OLD");
        let failed =
            reencrypt_with(without_old, options, ProgressDrawTarget::hidden()).unwrap_err();
        assert!(
            failed.starts_with("re-encrypted 0, already current 4, failed 1"),
            "{failed}"
        );
        assert!(failed.contains(&users[0].to_string()), "{failed}");
        assert!(failed.contains("ENCRYPTION_KEY_OLD"), "{failed}");
    }

    #[test]
    fn a_missing_encryption_key_is_explained() {
        let vars: HashMap<String, String> =
            [("SIGRA_ENV", "test"), ("DATABASE_URL", "sqlite::memory:")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
        let err =
            reencrypt_with(vars, Options::default(), ProgressDrawTarget::hidden()).unwrap_err();
        assert!(err.contains("ENCRYPTION_KEY is not set"), "{err}");
        assert!(err.contains("sigra gen-key"), "{err}");
    }
}
