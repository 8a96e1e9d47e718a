//! `fetch_session` throughput on real backends: SQLite (file) and PostgreSQL.
//!
//! Seeds 10,000 users and 50,000 sessions, then measures lookups per second
//! through `Auth::fetch_session` (strict decode is skipped: tokens are kept
//! as `RawToken`s; each lookup hashes the token and runs the one-query join)
//! with 1 task and with 16 concurrent tasks. Run by `cargo xtask bench`,
//! which copies the table into `docs/benchmarks.md`.
//!
//! Targets (issue 3): at 16 tasks, PostgreSQL ≥ 10,000 lookups/s and SQLite
//! ≥ 30,000 lookups/s on the 2-core CI machine.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use sigra_core::auth::Auth;
use sigra_core::clock::TestClock;
use sigra_core::config::{Config, Environment};
use sigra_core::ids::UserId;
use sigra_core::model::{AuditEvent, Session, SessionKind, SessionMeta, User};
use sigra_core::password::{Argon2Hasher, PasswordHash};
use sigra_core::store::Store;
use sigra_core::token::RawToken;
use sigra_tests::{Backend, fresh_store};

const USERS: usize = 10_000;
const SESSIONS_PER_USER: usize = 5;
const RUN_FOR: Duration = Duration::from_secs(5);

async fn seed(store: &Arc<dyn Store>) -> Vec<RawToken> {
    let now = Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap();
    // A fixed, valid PHC string: the benchmark never verifies passwords.
    let hash = PasswordHash::from_phc(
        "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHRzYWx0$0123456789abcdef0123456789abcdef0123456789a"
            .into(),
    );
    let mut tokens = Vec::with_capacity(USERS * SESSIONS_PER_USER);
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in 0..8 {
        let store = Arc::clone(store);
        let hash = hash.clone();
        tasks.spawn(async move {
            let mut mine = Vec::new();
            for i in (chunk..USERS).step_by(8) {
                let user = User::new(
                    UserId::new(now),
                    format!("user{i}@example.com"),
                    Some(hash.clone()),
                    now,
                );
                store
                    .insert_user(&user, &AuditEvent::register(&user))
                    .await
                    .unwrap();
                for _ in 0..SESSIONS_PER_USER {
                    let token = RawToken::generate().unwrap();
                    let session = Session::new(
                        user.id,
                        token.hash(),
                        SessionKind::RememberMe,
                        SessionMeta::default(),
                        now,
                    );
                    assert!(
                        store
                            .insert_session(&session, user.session_epoch)
                            .await
                            .unwrap()
                    );
                    mine.push(token);
                }
            }
            mine
        });
    }
    while let Some(part) = tasks.join_next().await {
        tokens.extend(part.unwrap());
    }
    tokens
}

async fn measure(auth: &Auth, tokens: &Arc<Vec<RawToken>>, tasks: usize) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for t in 0..tasks {
        let (auth, tokens, done) = (auth.clone(), Arc::clone(tokens), Arc::clone(&done));
        set.spawn(async move {
            let mut i = t * 7919;
            while started.elapsed() < RUN_FOR {
                let token = &tokens[i % tokens.len()];
                assert!(auth.fetch_session(token).await.unwrap().is_some());
                done.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
        });
    }
    while set.join_next().await.is_some() {}
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument selects backends by name.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut rows = Vec::new();
    for (name, backend) in [
        ("SQLite (file, WAL)", Backend::SqliteFile),
        ("PostgreSQL", Backend::Postgres),
    ] {
        if filter
            .as_deref()
            .is_some_and(|f| !name.to_lowercase().contains(&f.to_lowercase()))
        {
            continue;
        }
        runtime.block_on(async {
            let store = fresh_store(backend).await;
            let dyn_store: Arc<dyn Store> = store.store();
            let seeded = Instant::now();
            let tokens = Arc::new(seed(&dyn_store).await);
            eprintln!(
                "{name}: seeded {USERS} users, {} sessions in {:.1?}",
                tokens.len(),
                seeded.elapsed()
            );
            let clock = Arc::new(TestClock::new(
                Utc.with_ymd_and_hms(2026, 11, 22, 12, 1, 0).unwrap(),
            ));
            let auth = Auth::builder(
                Config::builder(Environment::Test).build().unwrap(),
                dyn_store,
            )
            .clock(clock)
            .hasher(Arc::new(Argon2Hasher::for_tests()))
            .build()
            .unwrap();
            let one = measure(&auth, &tokens, 1).await;
            let sixteen = measure(&auth, &tokens, 16).await;
            eprintln!(
                "{name}: {one:.0} lookups/s with 1 task, {sixteen:.0} lookups/s with 16 tasks"
            );
            rows.push(format!("| {name} | {one:.0} | {sixteen:.0} |"));
        });
    }
    let table = format!(
        "| backend | 1 task (lookups/s) | 16 tasks (lookups/s) |\n|---|---:|---:|\n{}\n",
        rows.join("\n")
    );
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/sigra-bench");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("fetch_session.md"), &table).unwrap();
    println!("{table}");
}
