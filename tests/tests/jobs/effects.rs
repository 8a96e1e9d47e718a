//! Each periodic job's effect on real rows, and the tick claim behind "once per cluster".

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sigra_core::model::{
    AuditAction, AuditEvent, DeletionStrategy, EmailToken, MfaCredential, SessionKind,
    tombstone_email,
};
use sigra_core::password::PasswordHash;
use sigra_core::token::{RawToken, TokenContext};
use sigra_jobs::jobs::{audit_retention, cleanup_expired_tokens, process_scheduled_deletions};
use sigra_tests::{TestStore, t0};
use tokio::task::JoinSet;

use super::{config_with_retention, raw_count, session, user};

fn now() -> DateTime<Utc> {
    t0() + TimeDelta::days(100)
}

async fn token(
    store: &TestStore,
    user: &sigra_core::model::User,
    context: TokenContext,
    at: DateTime<Utc>,
) -> RawToken {
    let raw = RawToken::generate().unwrap();
    store
        .insert_email_token(&EmailToken::new(
            raw.hash(),
            user.id,
            context,
            user.email.clone(),
            at,
        ))
        .await
        .unwrap();
    raw
}

pub(crate) async fn cleanup_deletes_exactly_the_expired_sessions_and_email_tokens(
    store: &TestStore,
) {
    let now = now();
    let m = TimeDelta::minutes;
    let alice = user(store, "alice", t0()).await;
    // (kind, created, last active, expected to go)
    let cases = [
        (SessionKind::Standard, now - m(60), now - m(31), true), // idle > 30 min
        (SessionKind::Standard, now - m(60), now - m(30), false), // idle exactly 30 min
        (
            SessionKind::Standard,
            now - TimeDelta::hours(24) - TimeDelta::seconds(1),
            now - m(1),
            true,
        ), // > 24 h old
        (
            SessionKind::Standard,
            now - TimeDelta::hours(23),
            now - m(1),
            false,
        ),
        (
            SessionKind::RememberMe,
            now - TimeDelta::days(60) - TimeDelta::seconds(1),
            now - TimeDelta::days(60),
            true,
        ),
        (
            SessionKind::RememberMe,
            now - TimeDelta::days(59),
            now - TimeDelta::days(59),
            false,
        ), // no idle timeout
        (SessionKind::MfaPending, now - m(6), now - m(6), true),
        (SessionKind::MfaPending, now - m(4), now - m(4), false),
    ];
    let mut sessions = Vec::new();
    for (kind, created, active, gone) in cases {
        sessions.push((session(store, &alice, kind, created, active).await, gone));
    }
    let h = TimeDelta::hours;
    let tokens = [
        (TokenContext::ResetPassword, now - m(61), true),
        (TokenContext::ResetPassword, now - m(59), false),
        (TokenContext::Confirm, now - h(49), true),
        (TokenContext::Confirm, now - h(47), false),
        (TokenContext::ChangeEmail, now - h(25), true),
        (
            TokenContext::CancelDeletion,
            now - TimeDelta::days(15),
            true,
        ),
        (
            TokenContext::CancelDeletion,
            now - TimeDelta::days(13),
            false,
        ),
        (TokenContext::Api, now - TimeDelta::days(1000), false), // valid until revoked
    ];
    let mut raws = Vec::new();
    for (context, at, gone) in tokens {
        raws.push((token(store, &alice, context, at).await, context, gone));
    }

    let report = cleanup_expired_tokens(&***store, &config_with_retention(None), now)
        .await
        .unwrap();
    assert_eq!(
        (
            report.sessions.standard,
            report.sessions.remember_me,
            report.sessions.mfa_pending
        ),
        (2, 1, 1)
    );
    assert_eq!(report.email_tokens, 4);
    for (s, gone) in &sessions {
        let found = store.session_with_user(&s.token_hash).await.unwrap();
        assert_eq!(
            found.is_none(),
            *gone,
            "{:?} created {} active {}",
            s.kind,
            s.created_at,
            s.last_active_at
        );
    }
    assert_eq!(store.count_rows("user_sessions", alice.id).await, 4);
    for (raw, context, gone) in &raws {
        let taken = store.take_email_token(&raw.hash(), *context).await.unwrap();
        assert_eq!(taken.is_none(), *gone, "{context:?}");
    }
    // Nothing left to do: a second run deletes nothing.
    let again = cleanup_expired_tokens(&***store, &config_with_retention(None), now)
        .await
        .unwrap();
    assert_eq!((again.sessions.total(), again.email_tokens), (0, 0));
}

pub(crate) async fn audit_retention_deletes_only_rows_older_than_the_retention(store: &TestStore) {
    let now = now();
    let alice = user(store, "alice", t0()).await;
    let bob = user(store, "bob", t0()).await;
    let d = TimeDelta::days;
    for (who, at) in [
        (alice.id, now - d(31)),
        (alice.id, now - d(30)),
        (alice.id, now - d(1)),
        (bob.id, now - d(40)),
    ] {
        store
            .record_audit(&AuditEvent::new(AuditAction::LoginSuccess, Some(who), at))
            .await
            .unwrap();
    }
    // `keep` (the default): nothing goes.
    let kept = audit_retention(&***store, &config_with_retention(None), now)
        .await
        .unwrap();
    assert_eq!(kept.deleted, 0);
    assert_eq!(
        raw_count(store, "SELECT COUNT(*) FROM audit_events").await,
        4 + 2,
        "the four above and the two registrations (at t0, 100 days ago)"
    );

    let config = config_with_retention(Some(Duration::from_secs(30 * 86_400)));
    let report = audit_retention(&***store, &config, now).await.unwrap();
    assert_eq!(report.deleted, 2 + 2);
    let left: Vec<_> = store
        .audit_for_user(alice.id, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.created_at)
        .collect();
    assert_eq!(left, [now - d(1), now - d(30)]);
    assert!(store.audit_for_user(bob.id, 10).await.unwrap().is_empty());
}

/// A user with everything an account can have, whose deletion fell due a second before `now()`.
async fn doomed(store: &TestStore, name: &str) -> sigra_core::model::User {
    let now = now();
    let mut u = sigra_core::model::User::new(
        sigra_core::ids::UserId::new(t0()),
        format!("{name}@example.com"),
        Some(PasswordHash::from_phc(
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        )),
        t0(),
    );
    u.confirmed_at = Some(t0());
    store
        .insert_user(&u, &AuditEvent::register(&u))
        .await
        .unwrap();
    store
        .upsert_mfa_credential(&MfaCredential::new(u.id, "v1:key:sealed".into(), t0()))
        .await
        .unwrap();
    store.confirm_mfa(u.id, 1, t0()).await.unwrap();
    store
        .replace_backup_codes(u.id, &[[1; 32], [2; 32]], t0())
        .await
        .unwrap();
    store
        .record_audit(
            &AuditEvent::new(
                AuditAction::LoginSuccess,
                Some(u.id),
                now - TimeDelta::days(20),
            )
            .with_ip(Some("198.51.100.9".into()))
            .with("reason", "password"),
        )
        .await
        .unwrap();
    store
        .schedule_deletion(u.id, now - TimeDelta::seconds(1), now - TimeDelta::days(14))
        .await
        .unwrap();
    // Rows created after the request (a race, or a bug elsewhere) go too.
    session(store, &u, SessionKind::Standard, now, now).await;
    token(store, &u, TokenContext::Confirm, now).await;
    u
}

pub(crate) async fn soft_delete_scrubs_the_account_and_keeps_the_audit_trail(store: &TestStore) {
    let now = now();
    let alice = doomed(store, "alice").await;
    let report = process_scheduled_deletions(&***store, DeletionStrategy::SoftDelete, now, 100)
        .await
        .unwrap();
    assert_eq!((report.processed, report.skipped), (1, 0));

    let row = store
        .user_by_id(alice.id)
        .await
        .unwrap()
        .expect("the tombstone stays");
    assert_eq!(row.email, tombstone_email(alice.id));
    assert_eq!(row.password_hash, None);
    assert_eq!(row.confirmed_at, None);
    assert!(!row.mfa_enabled);
    assert_eq!(row.mfa_trust_epoch, 1, "every trust cookie is revoked");
    assert_eq!(
        raw_count(
            store,
            "SELECT COUNT(*) FROM users WHERE deleted_at IS NOT NULL"
        )
        .await,
        1
    );
    assert!(
        store
            .user_by_email("alice@example.com")
            .await
            .unwrap()
            .is_none()
    );
    for table in [
        "user_sessions",
        "user_tokens",
        "user_mfa_credentials",
        "user_backup_codes",
    ] {
        assert_eq!(store.count_rows(table, alice.id).await, 0, "{table}");
    }
    // No personal data left in the users table.
    for row in store.dump_rows("users").await {
        let text = String::from_utf8_lossy(&row);
        assert!(
            !text.contains("alice@example.com") && !text.contains("argon2"),
            "{text}"
        );
    }
    // The audit trail is kept as it was, plus the completion row.
    let audit = store.audit_for_user(alice.id, 10).await.unwrap();
    let done = &audit[0];
    assert_eq!(done.action, AuditAction::AccountDeletion);
    assert_eq!(
        done.metadata.get("stage").map(String::as_str),
        Some("completed")
    );
    assert_eq!(
        done.metadata.get("strategy").map(String::as_str),
        Some("soft_delete")
    );
    assert!(
        audit
            .iter()
            .any(|e| e.ip.as_deref() == Some("198.51.100.9"))
    );

    // Idempotent: nothing is due any more.
    let again = process_scheduled_deletions(&***store, DeletionStrategy::SoftDelete, now, 100)
        .await
        .unwrap();
    assert_eq!((again.processed, again.skipped), (0, 0));
    assert_eq!(
        store.audit_for_user(alice.id, 10).await.unwrap().len(),
        audit.len()
    );
    // The address is free for a new account.
    user(store, "alice", now).await;
}

pub(crate) async fn anonymize_also_strips_the_audit_rows_of_the_user(store: &TestStore) {
    let now = now();
    let alice = doomed(store, "alice").await;
    let bob = user(store, "bob", t0()).await;
    store
        .record_audit(
            &AuditEvent::new(AuditAction::LoginSuccess, Some(bob.id), now)
                .with_ip(Some("192.0.2.1".into()))
                .with("reason", "password"),
        )
        .await
        .unwrap();
    let report = process_scheduled_deletions(&***store, DeletionStrategy::Anonymize, now, 100)
        .await
        .unwrap();
    assert_eq!(report.processed, 1);
    assert_eq!(
        store.user_by_id(alice.id).await.unwrap().unwrap().email,
        tombstone_email(alice.id)
    );
    let audit = store.audit_for_user(alice.id, 10).await.unwrap();
    assert_eq!(
        audit.len(),
        3,
        "rows (registration, log-in, deletion) are kept, only stripped"
    );
    let (done, earlier) = audit.split_first().unwrap();
    assert_eq!(
        done.metadata.get("strategy").map(String::as_str),
        Some("anonymize")
    );
    for event in earlier {
        assert_eq!(event.ip, None, "{event:?}");
        assert!(event.metadata.is_empty(), "{event:?}");
        assert_eq!(event.user_id, Some(alice.id));
    }
    // Other users' rows are untouched.
    let other = store.audit_for_user(bob.id, 10).await.unwrap();
    assert_eq!(other[0].ip.as_deref(), Some("192.0.2.1"));
    assert_eq!(
        other[0].metadata.get("reason").map(String::as_str),
        Some("password")
    );
}

pub(crate) async fn hard_delete_removes_the_row_and_keeps_audit_rows(store: &TestStore) {
    let now = now();
    let alice = doomed(store, "alice").await;
    let report = process_scheduled_deletions(&***store, DeletionStrategy::HardDelete, now, 100)
        .await
        .unwrap();
    assert_eq!(report.processed, 1);
    assert!(store.user_by_id(alice.id).await.unwrap().is_none());
    assert_eq!(raw_count(store, "SELECT COUNT(*) FROM users").await, 0);
    for table in [
        "user_sessions",
        "user_tokens",
        "user_mfa_credentials",
        "user_backup_codes",
    ] {
        assert_eq!(store.count_rows(table, alice.id).await, 0, "{table}");
    }
    let audit = store.audit_for_user(alice.id, 10).await.unwrap();
    assert_eq!(
        audit[0].metadata.get("strategy").map(String::as_str),
        Some("hard_delete")
    );
    assert!(
        audit
            .iter()
            .any(|e| e.ip.as_deref() == Some("198.51.100.9"))
    );
    let again = process_scheduled_deletions(&***store, DeletionStrategy::HardDelete, now, 100)
        .await
        .unwrap();
    assert_eq!(again.processed, 0);
}

pub(crate) async fn deletion_respects_a_cancellation_and_accounts_not_yet_due(store: &TestStore) {
    let now = now();
    let cancelled = doomed(store, "cancelled").await;
    assert!(store.cancel_deletion(cancelled.id, now).await.unwrap());
    let later = user(store, "later", t0()).await;
    store
        .schedule_deletion(later.id, now + TimeDelta::hours(1), now)
        .await
        .unwrap();
    let due = doomed(store, "due").await;
    let report = process_scheduled_deletions(&***store, DeletionStrategy::SoftDelete, now, 1)
        .await
        .unwrap();
    assert_eq!((report.processed, report.skipped), (1, 0));
    assert_eq!(
        store.user_by_id(due.id).await.unwrap().unwrap().email,
        tombstone_email(due.id)
    );
    for kept in [&cancelled, &later] {
        let row = store.user_by_id(kept.id).await.unwrap().unwrap();
        assert_eq!(row.email, kept.email);
    }
    // Exactly at the scheduled instant it is due (`<=`).
    let at_the_instant = process_scheduled_deletions(
        &***store,
        DeletionStrategy::SoftDelete,
        now + TimeDelta::hours(1),
        100,
    )
    .await
    .unwrap();
    assert_eq!(at_the_instant.processed, 1);
}

pub(crate) async fn a_tick_is_claimed_by_exactly_one_of_many_concurrent_callers(store: &TestStore) {
    let now = now();
    let tick = now - TimeDelta::seconds(1);
    let keep_from = now - TimeDelta::days(7);
    let mut claims = JoinSet::new();
    for _ in 0..16 {
        let store = store.store();
        claims.spawn(async move {
            store
                .claim_job_tick("cleanup_expired_tokens", tick, now, keep_from)
                .await
                .unwrap()
        });
    }
    let mut won = 0;
    while let Some(claimed) = claims.join_next().await {
        won += usize::from(claimed.unwrap());
    }
    assert_eq!(won, 1);
    // Another job's tick at the same instant is a different claim.
    assert!(
        store
            .claim_job_tick("audit_retention", tick, now, keep_from)
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim_job_tick("audit_retention", tick, now, keep_from)
            .await
            .unwrap()
    );
    assert_eq!(
        raw_count(store, "SELECT COUNT(*) FROM sigra_job_ticks").await,
        2
    );
    // Claims older than the retention are pruned by a later claim.
    let much_later = now + TimeDelta::days(30);
    assert!(
        store
            .claim_job_tick(
                "cleanup_expired_tokens",
                much_later,
                much_later,
                much_later - TimeDelta::days(7)
            )
            .await
            .unwrap()
    );
    assert_eq!(
        raw_count(store, "SELECT COUNT(*) FROM sigra_job_ticks").await,
        1
    );
}
