//! Unit tests of the jobs and the inline runner, over a mockall store: no
//! queue, no database. The real backends are exercised by the `jobs` module
//! of the integration suite (crate `sigra-tests`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use mockall::predicate::eq;
use sigra_core::clock::TestClock;
use sigra_core::config::{Config, Environment};
use sigra_core::ids::UserId;
use sigra_core::mail::{Email, MailError, Mailer, link_email};
use sigra_core::model::{AuditAction, DeletionStrategy};
use sigra_core::store::{ExpiredSessions, SessionCutoffs, StoreError, email_token_cutoffs};
use sigra_core::token::TokenContext;

use crate::jobs::{
    audit_retention, cleanup_expired_tokens, deliver_email, process_scheduled_deletions,
};
use crate::test_support::MockDb;
use crate::{JobKind, Jobs, JobsConfig, MailRetry};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
}

fn config() -> Config {
    Config::builder(Environment::Test).build().unwrap()
}

#[tokio::test]
async fn cleanup_deletes_by_the_configured_timeouts_and_reports_counts() {
    let config = config();
    let mut db = MockDb::new();
    let expected = SessionCutoffs::at(&config, t0());
    assert_eq!(
        expected.standard_active_before,
        t0() - TimeDelta::minutes(30)
    );
    assert_eq!(
        expected.standard_created_before,
        t0() - TimeDelta::hours(24)
    );
    assert_eq!(
        expected.remember_me_created_before,
        t0() - TimeDelta::days(60)
    );
    assert_eq!(
        expected.mfa_pending_created_before,
        t0() - TimeDelta::minutes(5)
    );
    db.expect_delete_expired_sessions()
        .withf(move |c| *c == expected)
        .times(1)
        .returning(|_| {
            Ok(ExpiredSessions {
                standard: 3,
                remember_me: 2,
                mfa_pending: 1,
            })
        });
    let tokens = email_token_cutoffs(&config, t0());
    assert!(tokens.contains(&(TokenContext::ResetPassword, t0() - TimeDelta::hours(1))));
    assert!(tokens.contains(&(TokenContext::Confirm, t0() - TimeDelta::hours(48))));
    assert!(
        !tokens.iter().any(|(c, _)| *c == TokenContext::Api),
        "API tokens never expire"
    );
    db.expect_delete_expired_email_tokens()
        .withf(move |c| c == tokens.as_slice())
        .times(1)
        .returning(|_| Ok(4));
    let report = cleanup_expired_tokens(&db, &config, t0()).await.unwrap();
    assert_eq!(report.sessions.total(), 6);
    assert_eq!(report.email_tokens, 4);
    assert_eq!(
        report.to_string(),
        "cleanup_expired_tokens: deleted 6 expired sessions (standard 3, remember_me 2, mfa_pending 1) and 4 expired email tokens"
    );
}

#[tokio::test]
async fn audit_retention_keeps_everything_by_default_and_prunes_when_set() {
    // Default `keep`: not a single store call.
    let report = audit_retention(&MockDb::new(), &config(), t0())
        .await
        .unwrap();
    assert_eq!(report.deleted, 0);
    assert!(report.to_string().contains("keep"));

    let config = Config::builder(Environment::Test)
        .audit_retention(Some(Duration::from_secs(90 * 86_400)))
        .build()
        .unwrap();
    let mut db = MockDb::new();
    db.expect_delete_audit_before()
        .with(eq(t0() - TimeDelta::days(90)))
        .times(1)
        .returning(|_| Ok(7));
    let report = audit_retention(&db, &config, t0()).await.unwrap();
    assert_eq!(report.deleted, 7);
    assert_eq!(
        report.to_string(),
        "audit_retention: deleted 7 audit rows older than 90d"
    );
}

#[tokio::test]
async fn scheduled_deletions_are_processed_in_batches_with_an_audit_row_each() {
    let ids: Vec<UserId> = (0..5)
        .map(|i| UserId::new(t0() + TimeDelta::seconds(i)))
        .collect();
    let mut db = MockDb::new();
    let (first, second) = (ids[..2].to_vec(), ids[2..3].to_vec());
    let mut seq = mockall::Sequence::new();
    db.expect_users_due_for_deletion()
        .with(eq(t0()), eq(2))
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_, _| Ok(first.clone()));
    db.expect_users_due_for_deletion()
        .with(eq(t0()), eq(2))
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_, _| Ok(second.clone()));
    let skipped = ids[1];
    db.expect_apply_scheduled_deletion()
        .withf(|_, strategy, audit, now| {
            *strategy == DeletionStrategy::Anonymize
                && *now == t0()
                && audit.action == AuditAction::AccountDeletion
                && audit.metadata.get("stage").map(String::as_str) == Some("completed")
                && audit.metadata.get("strategy").map(String::as_str) == Some("anonymize")
        })
        .times(3)
        .returning(move |id, _, audit, _| {
            assert_eq!(audit.user_id, Some(id));
            Ok(id != skipped)
        });
    let report = process_scheduled_deletions(&db, DeletionStrategy::Anonymize, t0(), 2)
        .await
        .unwrap();
    assert_eq!((report.processed, report.skipped), (2, 1));
    assert_eq!(
        report.to_string(),
        "process_scheduled_deletions: processed 2 accounts (anonymize), skipped 1"
    );
}

#[tokio::test]
async fn a_full_batch_that_makes_no_progress_ends_the_run() {
    let id = UserId::new(t0());
    let mut db = MockDb::new();
    db.expect_users_due_for_deletion()
        .times(1)
        .returning(move |_, _| Ok(vec![id]));
    db.expect_apply_scheduled_deletion()
        .times(1)
        .returning(|_, _, _, _| Ok(false));
    let report = process_scheduled_deletions(&db, DeletionStrategy::SoftDelete, t0(), 1)
        .await
        .unwrap();
    assert_eq!((report.processed, report.skipped), (0, 1));
}

#[tokio::test]
async fn store_errors_fail_the_job() {
    let mut db = MockDb::new();
    db.expect_delete_expired_sessions()
        .returning(|_| Err(StoreError::NotFound("test")));
    assert!(cleanup_expired_tokens(&db, &config(), t0()).await.is_err());
}

/// A transport that fails the first `failures` sends, recording each one.
#[derive(Debug, Default)]
struct FlakyMailer {
    failures: usize,
    calls: AtomicUsize,
    delivered: Mutex<Vec<Email>>,
}

#[async_trait]
impl Mailer for FlakyMailer {
    async fn send(&self, email: Email) -> Result<(), MailError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        if call < self.failures {
            return Err(MailError::Transport("smtp down".into()));
        }
        self.delivered.lock().unwrap().push(email);
        Ok(())
    }
}

fn message() -> Email {
    link_email(
        "a@example.com",
        "Reset",
        "Hi",
        "Reset",
        "https://x/reset/TOKEN",
        "reset_password-0011".into(),
    )
}

#[tokio::test]
async fn deliver_email_is_one_send() {
    let mailer = FlakyMailer::default();
    deliver_email(&mailer, message()).await.unwrap();
    assert_eq!(mailer.delivered.lock().unwrap()[0], message());
}

#[test]
fn backoff_doubles_up_to_the_cap() {
    let retry = MailRetry {
        attempts: 5,
        initial_backoff: Duration::from_secs(10),
        max_backoff: Duration::from_secs(60),
    };
    let waits: Vec<u64> = (1..=5).map(|n| retry.backoff(n).as_secs()).collect();
    assert_eq!(waits, [10, 20, 40, 60, 60]);
    assert_eq!(MailRetry::default().attempts, 5);
}

fn inline_jobs(db: MockDb, mailer: Arc<FlakyMailer>, clock: Arc<TestClock>) -> Jobs {
    let settings = JobsConfig {
        mail_retry: MailRetry {
            attempts: 5,
            initial_backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(600),
        },
        shutdown_timeout: Duration::from_secs(3600),
        ..JobsConfig::default()
    };
    Jobs::inline(Arc::new(db), config())
        .transport(mailer)
        .settings(settings)
        .clock(clock)
}

#[tokio::test(start_paused = true)]
async fn inline_mail_is_retried_with_backoff_then_delivered_once() {
    let mailer = Arc::new(FlakyMailer {
        failures: 2,
        ..FlakyMailer::default()
    });
    let mut jobs = inline_jobs(
        MockDb::new(),
        mailer.clone(),
        Arc::new(TestClock::new(t0())),
    );
    let app_mailer = jobs.mailer();
    let started = tokio::time::Instant::now();
    app_mailer.send(message()).await.unwrap();
    // `send` returned before any delivery happened.
    assert_eq!(mailer.calls.load(Ordering::SeqCst), 0);
    let handle = jobs.start().await.unwrap();
    handle.shutdown().await; // waits for the delivery in flight
    assert_eq!(mailer.calls.load(Ordering::SeqCst), 3);
    assert_eq!(mailer.delivered.lock().unwrap().as_slice(), [message()]);
    // 10 s after the first failure, 20 s after the second.
    assert_eq!(started.elapsed(), Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn inline_mail_gives_up_after_five_attempts() {
    let mailer = Arc::new(FlakyMailer {
        failures: usize::MAX,
        ..FlakyMailer::default()
    });
    let mut jobs = inline_jobs(
        MockDb::new(),
        mailer.clone(),
        Arc::new(TestClock::new(t0())),
    );
    let app_mailer = jobs.mailer();
    let handle = jobs.start().await.unwrap();
    app_mailer.send(message()).await.unwrap();
    let stats_before = handle.stats().await;
    assert_eq!(stats_before.mail_in_flight, 1);
    tokio::time::sleep(Duration::from_secs(10 + 20 + 40 + 80 + 1)).await;
    let stats = handle.stats().await;
    let mail = stats.job(JobKind::DeliverEmail);
    assert_eq!((mail.failed, mail.gave_up, mail.succeeded), (5, 1, 0));
    assert_eq!(stats.mail_in_flight, 0);
    assert_eq!(
        stats.recent.iter().map(|r| r.attempt).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(mailer.calls.load(Ordering::SeqCst), 5);
    handle.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_inline_scheduler_claims_each_tick_and_runs_only_the_ticks_it_won() {
    // 02:59:59 UTC: the 03:00 cleanup tick is one second away.
    let start = Utc.with_ymd_and_hms(2026, 11, 22, 2, 59, 59).unwrap();
    let clock = Arc::new(TestClock::new(start));
    let three = Utc.with_ymd_and_hms(2026, 11, 22, 3, 0, 0).unwrap();
    let mut db = MockDb::new();
    db.expect_claim_job_tick()
        .withf(move |job, tick, _, _| job == "cleanup_expired_tokens" && *tick == three)
        .times(1)
        .returning(|_, _, _, _| Ok(true));
    // Another node won the 03:00 deletions tick: it must not run here.
    db.expect_claim_job_tick()
        .withf(move |job, tick, _, _| job == "process_scheduled_deletions" && *tick == three)
        .times(1)
        .returning(|_, _, _, _| Ok(false));
    db.expect_claim_job_tick().returning(|_, _, _, _| Ok(false));
    db.expect_delete_expired_sessions()
        .times(1)
        .returning(|_| Ok(ExpiredSessions::default()));
    db.expect_delete_expired_email_tokens()
        .times(1)
        .returning(|_| Ok(0));
    let jobs = inline_jobs(db, Arc::new(FlakyMailer::default()), clock.clone());
    let handle = jobs.start().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    clock.set(three + TimeDelta::seconds(1));
    let stats = handle.stats().await;
    assert_eq!(stats.job(JobKind::CleanupExpiredTokens).succeeded, 1);
    assert_eq!(stats.job(JobKind::CleanupExpiredTokens).ticks_claimed, 1);
    assert_eq!(
        stats.job(JobKind::ProcessScheduledDeletions).ticks_skipped,
        1
    );
    assert_eq!(stats.job(JobKind::ProcessScheduledDeletions).succeeded, 0);
    assert_eq!(stats.recent[0].tick, Some(three));
    handle.shutdown().await;
}

#[tokio::test]
async fn run_once_runs_every_periodic_job_and_prints_a_line_each() {
    let mut db = MockDb::new();
    db.expect_delete_expired_sessions()
        .returning(|_| Ok(ExpiredSessions::default()));
    db.expect_delete_expired_email_tokens().returning(|_| Ok(0));
    db.expect_users_due_for_deletion()
        .returning(|_, _| Ok(vec![]));
    let mut jobs = inline_jobs(
        db,
        Arc::new(FlakyMailer::default()),
        Arc::new(TestClock::new(t0())),
    );
    let lines = jobs.run_once().await.unwrap();
    assert_eq!(lines.len(), 3);
    assert!(lines[0].starts_with("cleanup_expired_tokens: deleted 0"));
    assert!(lines[1].starts_with("audit_retention: deleted 0"));
    assert_eq!(
        lines[2],
        "process_scheduled_deletions: processed 0 accounts (soft_delete), skipped 0"
    );
}

#[test]
fn every_runner_gets_its_own_node_name() {
    // Worker names must differ between processes on one database, even in
    // containers where every process is pid 1.
    let (a, b) = (JobsConfig::default().node, JobsConfig::default().node);
    assert_ne!(a, b);
    assert!(a.starts_with("sigra-"));
}
