//! `sigra-jobs` against real databases: each job's effect on real rows, and
//! the durable runners (crash pickup, mail retry and give-up, a cron tick run
//! once by two nodes on one database).
//!
//! Written once, listed once in [`jobs_tests!`] at the end of this file, and
//! generated per backend like the conformance suite:
//! `jobs::<backend>::<topic>::<name>`. The job effects run on every backend;
//! the durable runners on the SQLite file and PostgreSQL (an in-memory
//! database has no second connection for a second node).
//!
//! Run them with `cargo test -p sigra-tests jobs::`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sigra_core::config::{Config, Environment};
use sigra_core::ids::UserId;
use sigra_core::mail::{Email, link_email};
use sigra_core::model::{AuditEvent, Session, SessionKind, SessionMeta, User};
use sigra_core::token::RawToken;
use sigra_tests::TestStore;

mod durable;
mod effects;

/// Generates one `#[tokio::test]` per backend and listed test.
macro_rules! jobs_tests {
    ($($backend:ident ($variant:ident): { $($topic:ident: [$($test:ident),* $(,)?]),* $(,)? }),* $(,)?) => {
        $(
            mod $backend {
                $(
                    mod $topic {
                        $(
                            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                            async fn $test() {
                                let store = sigra_tests::fresh_store(sigra_tests::Backend::$variant).await;
                                crate::jobs::$topic::$test(&store).await;
                            }
                        )*
                    }
                )*
            }
        )*
    };
}

/// The test configuration (all defaults) with an audit retention.
fn config_with_retention(retention: Option<Duration>) -> Config {
    Config::builder(Environment::Test)
        .audit_retention(retention)
        .build()
        .expect("valid test configuration")
}

/// Inserts a user with a unique email, created at `at`.
async fn user(store: &TestStore, name: &str, at: DateTime<Utc>) -> User {
    let user = User::new(UserId::new(at), format!("{name}@example.com"), None, at);
    store
        .insert_user(&user, &AuditEvent::register(&user))
        .await
        .unwrap();
    user
}

/// Inserts a session of `kind` for `user`, created at `created`, last active at `active`.
async fn session(
    store: &TestStore,
    user: &User,
    kind: SessionKind,
    created: DateTime<Utc>,
    active: DateTime<Utc>,
) -> Session {
    let mut session = Session::new(
        user.id,
        RawToken::generate().unwrap().hash(),
        kind,
        SessionMeta::new(Some("203.0.113.7".into()), Some("test".into())),
        created,
    );
    session.last_active_at = active;
    // A fixture, not a log-in: whatever the user's epoch is now.
    let epoch = store
        .user_by_id(user.id)
        .await
        .unwrap()
        .unwrap()
        .session_epoch;
    assert!(store.insert_session(&session, epoch).await.unwrap());
    session
}

/// A finished message with the given idempotency key.
fn message(key: &str) -> Email {
    link_email(
        "reader@example.com",
        "Reset your password",
        "Someone asked to reset your password.",
        "Choose a new password",
        "https://app.example/users/reset-password/SECRET-LINK-TOKEN",
        key.to_owned(),
    )
}

/// `SELECT COUNT(*) …` on the test database (the same SQL on both backends).
async fn raw_count(store: &TestStore, sql: &'static str) -> i64 {
    if let Some(pool) = store.pg_pool() {
        sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap()
    } else {
        let pool = store.sqlite_pool().unwrap();
        sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap()
    }
}

/// Polls `check` every 50 ms until it holds, failing after `limit`.
async fn eventually<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

jobs_tests! {
    sqlite_file (SqliteFile): {
        effects: [
            cleanup_deletes_exactly_the_expired_sessions_and_email_tokens,
            audit_retention_deletes_only_rows_older_than_the_retention,
            soft_delete_scrubs_the_account_and_keeps_the_audit_trail,
            anonymize_also_strips_the_audit_rows_of_the_user,
            hard_delete_removes_the_row_and_keeps_audit_rows,
            deletion_respects_a_cancellation_and_accounts_not_yet_due,
            a_tick_is_claimed_by_exactly_one_of_many_concurrent_callers,
        ],
        durable: [
            queued_mail_is_delivered_once_even_when_pushed_twice,
            a_failing_mailer_is_retried_then_the_job_is_marked_failed,
            a_permanent_refusal_is_tried_once_and_the_job_ends,
            a_job_whose_worker_dies_mid_run_is_completed_by_a_new_worker,
            two_nodes_never_run_the_same_cron_tick_twice,
        ],
    },
    sqlite_memory (SqliteMemory): {
        effects: [
            cleanup_deletes_exactly_the_expired_sessions_and_email_tokens,
            audit_retention_deletes_only_rows_older_than_the_retention,
            soft_delete_scrubs_the_account_and_keeps_the_audit_trail,
            anonymize_also_strips_the_audit_rows_of_the_user,
            hard_delete_removes_the_row_and_keeps_audit_rows,
            deletion_respects_a_cancellation_and_accounts_not_yet_due,
            a_tick_is_claimed_by_exactly_one_of_many_concurrent_callers,
        ],
    },
    postgres (Postgres): {
        effects: [
            cleanup_deletes_exactly_the_expired_sessions_and_email_tokens,
            audit_retention_deletes_only_rows_older_than_the_retention,
            soft_delete_scrubs_the_account_and_keeps_the_audit_trail,
            anonymize_also_strips_the_audit_rows_of_the_user,
            hard_delete_removes_the_row_and_keeps_audit_rows,
            deletion_respects_a_cancellation_and_accounts_not_yet_due,
            a_tick_is_claimed_by_exactly_one_of_many_concurrent_callers,
        ],
        durable: [
            queued_mail_is_delivered_once_even_when_pushed_twice,
            a_failing_mailer_is_retried_then_the_job_is_marked_failed,
            a_permanent_refusal_is_tried_once_and_the_job_ends,
            a_job_whose_worker_dies_mid_run_is_completed_by_a_new_worker,
            two_nodes_never_run_the_same_cron_tick_twice,
        ],
    },
}
