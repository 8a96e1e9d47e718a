//! Unit tests of the service's decisions, with mockall mocks of the ports.
//! The real backends are covered by the conformance suite in `tests/`.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use secrecy::SecretString;

use super::address::{is_valid_email, normalize_email};
use super::error::AuthError;
use super::service::Auth;
use crate::clock::TestClock;
use crate::config::{Config, Environment};
use crate::ids::UserId;
use crate::model::{AuditAction, Session, SessionKind, SessionMeta, User};
use crate::password::{Argon2Hasher, PasswordHasher};
use crate::store::{FailureCount, StoreError};
use crate::token::RawToken;
use chrono::TimeZone;
use mockall::{Sequence, predicate::*};
use secrecy::ExposeSecret;

use crate::mock_store::MockDb;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
}

fn service(db: MockDb) -> (Auth, Arc<TestClock>) {
    let clock = Arc::new(TestClock::new(t0()));
    let config = Config::builder(Environment::Test).build().unwrap();
    let auth = Auth::builder(config, Arc::new(db))
        .clock(clock.clone())
        .hasher(Arc::new(Argon2Hasher::for_tests()))
        .hash_pool(1, 16)
        .build()
        .unwrap();
    (auth, clock)
}

fn pw(s: &str) -> SecretString {
    SecretString::from(s)
}

fn user_with_password(password: &str) -> User {
    let hash = Argon2Hasher::for_tests().hash(&pw(password)).unwrap();
    User::new(
        UserId::new(t0()),
        "alice@example.com".into(),
        Some(hash),
        t0(),
    )
}

/// Each password check of a known user is counted first: the `n`-th
/// attempt (from `first`) in a row, then cleared if it was right.
fn attempts(db: &mut MockDb, first: i32, times: usize, clears: usize) {
    let next = std::sync::atomic::AtomicI32::new(first);
    db.expect_record_login_failure()
        .times(times)
        .returning(move |_, now, threshold, lock_for| {
            let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(FailureCount {
                failed_login_count: n,
                locked_until: (n >= threshold).then(|| now + lock_for),
            })
        });
    db.expect_clear_login_failures()
        .times(clears)
        .returning(|_| Ok(()));
}

fn audits(db: &mut MockDb, action: AuditAction, times: usize) {
    db.expect_record_audit()
        .withf(move |e| e.action == action)
        .times(times)
        .returning(|_| Ok(()));
}

#[tokio::test]
async fn register_normalises_checks_and_hashes() {
    let mut db = MockDb::new();
    db.expect_user_by_email()
        .with(eq("alice@example.com"))
        .times(1)
        .returning(|_| Ok(None));
    db.expect_insert_user()
        .withf(|u, audit| {
            u.email == "alice@example.com"
                && u.password_hash
                    .as_ref()
                    .is_some_and(|h| h.as_str().starts_with("$argon2id$"))
                && audit.action == AuditAction::Register
                && audit.user_id == Some(u.id)
        })
        .times(1)
        .returning(|_, _| Ok(()));
    // The audit event goes with the user, not in a second write.
    db.expect_record_audit().never();
    let (auth, _) = service(db);
    let user = auth
        .register("  Alice@Example.COM ", &pw("long enough password"))
        .await
        .unwrap();
    assert_eq!(user.email, "alice@example.com");
}

#[tokio::test]
async fn register_refuses_bad_input_before_touching_the_store() {
    let (auth, _) = service(MockDb::new());
    assert!(matches!(
        auth.register("not-an-email", &pw("long enough password"))
            .await,
        Err(AuthError::InvalidEmail)
    ));
    assert!(matches!(
        auth.register("a@b.co", &pw("short")).await,
        Err(AuthError::WeakPassword(_))
    ));
}

#[tokio::test]
async fn register_reports_duplicates_found_late_by_the_unique_index() {
    let mut db = MockDb::new();
    db.expect_user_by_email().returning(|_| Ok(None));
    db.expect_insert_user()
        .returning(|_, _| Err(StoreError::DuplicateEmail));
    let (auth, _) = service(db);
    assert!(matches!(
        auth.register("a@b.co", &pw("long enough password")).await,
        Err(AuthError::EmailTaken)
    ));
}

#[tokio::test]
async fn unknown_email_and_wrong_password_are_indistinguishable() {
    let user = user_with_password("right password");
    let id = user.id;
    let mut db = MockDb::new();
    db.expect_user_by_email()
        .with(eq("nobody@example.com"))
        .returning(|_| Ok(None));
    let found = user.clone();
    db.expect_user_by_email()
        .with(eq("alice@example.com"))
        .returning(move |_| Ok(Some(found.clone())));
    db.expect_record_login_failure()
        .with(eq(id), always(), eq(5), eq(TimeDelta::minutes(15)))
        .times(1)
        .returning(|_, _, _, _| {
            Ok(FailureCount {
                failed_login_count: 1,
                locked_until: None,
            })
        });
    audits(&mut db, AuditAction::LoginFailure, 2);
    let (auth, _) = service(db);
    let meta = SessionMeta::default();
    let unknown = auth
        .authenticate("nobody@example.com", &pw("whatever pw"), &meta)
        .await
        .unwrap_err();
    let wrong = auth
        .authenticate("alice@example.com", &pw("wrong password"), &meta)
        .await
        .unwrap_err();
    assert!(matches!(unknown, AuthError::InvalidCredentials));
    assert!(matches!(wrong, AuthError::InvalidCredentials));
    assert_eq!(unknown.to_string(), wrong.to_string());
}

#[tokio::test]
async fn the_fifth_failure_locks_and_a_locked_account_is_refused_without_verifying() {
    let user = user_with_password("right password");
    let mut db = MockDb::new();
    let found = user.clone();
    db.expect_user_by_email()
        .times(1)
        .returning(move |_| Ok(Some(found.clone())));
    // The fifth attempt locks; the sixth is counted and refused.
    attempts(&mut db, 5, 2, 0);
    audits(&mut db, AuditAction::LoginFailure, 2);
    audits(&mut db, AuditAction::Lockout, 1);
    let mut locked = user.clone();
    locked.failed_login_count = 5;
    locked.locked_until = Some(t0() + TimeDelta::minutes(15));
    db.expect_user_by_email()
        .times(1)
        .returning(move |_| Ok(Some(locked.clone())));
    let (auth, _) = service(db);
    let meta = SessionMeta::default();
    assert!(matches!(
        auth.authenticate("alice@example.com", &pw("wrong password"), &meta)
            .await,
        Err(AuthError::InvalidCredentials)
    ));
    // Even the right password is refused while locked.
    match auth
        .authenticate("alice@example.com", &pw("right password"), &meta)
        .await
    {
        Err(AuthError::Locked { until }) => assert_eq!(until, t0() + TimeDelta::minutes(15)),
        other => panic!("expected Locked, got {other:?}"),
    }
}

#[tokio::test]
async fn an_expired_lock_lets_the_right_password_in_and_clears_the_count() {
    let mut user = user_with_password("right password");
    user.failed_login_count = 5;
    user.locked_until = Some(t0() - TimeDelta::seconds(1));
    let id = user.id;
    let mut db = MockDb::new();
    db.expect_user_by_email()
        .returning(move |_| Ok(Some(user.clone())));
    db.expect_record_login_failure()
        .with(eq(id), always(), always(), always())
        .times(1)
        .returning(|_, _, _, _| {
            // The lock had expired: the count restarts.
            Ok(FailureCount {
                failed_login_count: 1,
                locked_until: None,
            })
        });
    db.expect_clear_login_failures()
        .with(eq(id))
        .times(1)
        .returning(|_| Ok(()));
    audits(&mut db, AuditAction::LoginSuccess, 1);
    let (auth, _) = service(db);
    let user = auth
        .authenticate(
            "alice@example.com",
            &pw("right password"),
            &SessionMeta::default(),
        )
        .await
        .unwrap();
    assert_eq!(user.failed_login_count, 0);
}

#[tokio::test]
async fn login_rehashes_when_parameters_changed() {
    // Hashed with cheaper parameters than the service's hasher uses.
    let cheap = Argon2Hasher::new(crate::password::Argon2Params {
        memory_kib: 8,
        iterations: 1,
        parallelism: 1,
    })
    .unwrap();
    let mut user = user_with_password("x");
    user.password_hash = Some(cheap.hash(&pw("right password")).unwrap());
    let mut db = MockDb::new();
    db.expect_user_by_email()
        .returning(move |_| Ok(Some(user.clone())));
    db.expect_set_password_hash()
        .times(1)
        .returning(|_, _, _| Ok(true));
    attempts(&mut db, 1, 1, 1);
    audits(&mut db, AuditAction::LoginSuccess, 1);
    let clock = Arc::new(TestClock::new(t0()));
    let auth = Auth::builder(
        Config::builder(Environment::Test).build().unwrap(),
        Arc::new(db),
    )
    .clock(clock)
    .hasher(Arc::new(
        Argon2Hasher::new(crate::password::Argon2Params {
            memory_kib: 16,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap(),
    ))
    .build()
    .unwrap();
    auth.authenticate(
        "alice@example.com",
        &pw("right password"),
        &SessionMeta::default(),
    )
    .await
    .unwrap();
}

fn session_for(user: &User, kind: SessionKind, at: DateTime<Utc>) -> (RawToken, Session) {
    let token = RawToken::generate().unwrap();
    let session = Session::new(user.id, token.hash(), kind, SessionMeta::default(), at);
    (token, session)
}

#[tokio::test]
async fn fetch_does_not_write_on_every_request_but_touches_after_the_interval() {
    let user = user_with_password("x");
    let (token, session) = session_for(&user, SessionKind::Standard, t0());
    let mut db = MockDb::new();
    let row = (session.clone(), user.clone());
    db.expect_session_with_user()
        .with(eq(token.hash()))
        .times(3)
        .returning(move |_| Ok(Some(row.clone())));
    // Exactly one touch, on the third fetch (5 minutes later).
    db.expect_touch_session()
        .with(eq(session.id), always())
        .times(1)
        .returning(|_, _| Ok(()));
    let (auth, clock) = service(db);
    assert!(auth.fetch_session(&token).await.unwrap().is_some());
    clock.advance(TimeDelta::minutes(4));
    assert!(auth.fetch_session(&token).await.unwrap().is_some());
    clock.advance(TimeDelta::minutes(1));
    let (fresh, _) = auth.fetch_session(&token).await.unwrap().unwrap();
    assert_eq!(fresh.last_active_at, t0() + TimeDelta::minutes(5));
}

#[tokio::test]
async fn an_idle_standard_session_is_deleted_when_seen() {
    let user = user_with_password("x");
    let (token, session) = session_for(&user, SessionKind::Standard, t0());
    let mut db = MockDb::new();
    let mut seq = Sequence::new();
    let row = (session.clone(), user.clone());
    let uid = user.id;
    db.expect_session_with_user()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_| Ok(Some(row.clone())));
    db.expect_delete_session_by_hash()
        .with(eq(token.hash()))
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_| Ok(Some(uid)));
    db.expect_record_audit()
        .withf(|e| {
            e.action == AuditAction::SessionDelete
                && e.metadata.get("reason").map(String::as_str) == Some("expired")
        })
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    let (auth, clock) = service(db);
    clock.advance(TimeDelta::minutes(30) + TimeDelta::seconds(1));
    assert!(auth.fetch_session(&token).await.unwrap().is_none());
}

#[test]
fn timeouts_by_kind() {
    let (auth, _) = service(MockDb::new());
    let user = user_with_password("x");
    let (_, mut standard) = session_for(&user, SessionKind::Standard, t0());
    // Active every few minutes, but past the 24 h absolute timeout.
    standard.last_active_at = t0() + TimeDelta::hours(24);
    assert!(!auth.is_expired(&standard, t0() + TimeDelta::hours(24)));
    assert!(auth.is_expired(
        &standard,
        t0() + TimeDelta::hours(24) + TimeDelta::seconds(1)
    ));
    let (_, remember) = session_for(&user, SessionKind::RememberMe, t0());
    assert!(!auth.is_expired(&remember, t0() + TimeDelta::days(59)));
    assert!(auth.is_expired(
        &remember,
        t0() + TimeDelta::days(60) + TimeDelta::seconds(1)
    ));
    let (_, pending) = session_for(&user, SessionKind::MfaPending, t0());
    assert!(!auth.is_expired(&pending, t0() + TimeDelta::minutes(5)));
    assert!(auth.is_expired(
        &pending,
        t0() + TimeDelta::minutes(5) + TimeDelta::seconds(1)
    ));
}

#[tokio::test]
async fn create_session_stores_only_the_hash_then_audits() {
    let user = user_with_password("x");
    let stored: Arc<std::sync::Mutex<Option<Session>>> = Arc::default();
    let sink = Arc::clone(&stored);
    let mut db = MockDb::new();
    let mut seq = Sequence::new();
    db.expect_insert_session()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |s, _| {
            *sink.lock().unwrap() = Some(s.clone());
            Ok(true)
        });
    db.expect_record_audit()
        .withf(|e| e.action == AuditAction::SessionCreate)
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    let (auth, _) = service(db);
    let (token, session) = auth
        .create_session(&user, SessionKind::RememberMe, SessionMeta::default())
        .await
        .unwrap();
    let row = stored.lock().unwrap().clone().unwrap();
    assert_eq!(row.token_hash, token.hash());
    assert_eq!(row, session);
    assert_eq!(row.kind, SessionKind::RememberMe);
}

#[tokio::test]
async fn change_password_keeps_the_current_session_only() {
    let user = user_with_password("old password!");
    let id = user.id;
    let current = RawToken::generate().unwrap();
    let keep = current.hash();
    let mut db = MockDb::new();
    db.expect_user_by_id()
        .returning(move |_| Ok(Some(user.clone())));
    db.expect_change_password()
        .withf(move |uid, _, k, _| *uid == id && *k == Some(keep))
        .times(1)
        .returning(|_, _, _, _| Ok(3));
    attempts(&mut db, 1, 2, 1);
    audits(&mut db, AuditAction::PasswordChange, 1);
    let (auth, _) = service(db);
    assert!(matches!(
        auth.change_password(id, &current, &pw("wrong"), &pw("new password!!"))
            .await,
        Err(AuthError::InvalidCredentials)
    ));
    assert_eq!(
        auth.change_password(id, &current, &pw("old password!"), &pw("new password!!"))
            .await
            .unwrap(),
        3
    );
}

#[tokio::test]
async fn sudo_window_is_five_minutes() {
    let user = user_with_password("pw pw pw pw");
    let (_, mut session) = session_for(&user, SessionKind::Standard, t0());
    let mut db = MockDb::new();
    db.expect_user_by_id()
        .returning(move |_| Ok(Some(user.clone())));
    db.expect_set_sudo().times(1).returning(|_, _| Ok(()));
    attempts(&mut db, 1, 2, 1);
    audits(&mut db, AuditAction::SudoConfirm, 1);
    let (auth, clock) = service(db);
    assert!(!auth.in_sudo(&session));
    assert!(matches!(
        auth.confirm_sudo(&session, &pw("nope")).await,
        Err(AuthError::InvalidCredentials)
    ));
    auth.confirm_sudo(&session, &pw("pw pw pw pw"))
        .await
        .unwrap();
    session.sudo_at = Some(t0());
    clock.advance(TimeDelta::minutes(5));
    assert!(auth.in_sudo(&session));
    clock.advance(TimeDelta::seconds(1));
    assert!(!auth.in_sudo(&session));
}

#[tokio::test]
async fn trust_revocation_is_one_increment() {
    let id = UserId::new(t0());
    let mut db = MockDb::new();
    db.expect_increment_trust_epoch()
        .with(eq(id))
        .times(1)
        .returning(|_| Ok(4));
    db.expect_increment_trust_epoch()
        .returning(|_| Err(StoreError::NotFound("user")));
    audits(&mut db, AuditAction::MfaTrustRevoked, 1);
    let (auth, _) = service(db);
    assert_eq!(auth.revoke_all_trusted_browsers(id).await.unwrap(), 4);
    assert!(matches!(
        auth.revoke_all_trusted_browsers(id).await,
        Err(AuthError::UserNotFound)
    ));
}

#[tokio::test]
async fn a_weak_new_password_leaves_the_reset_link_unused() {
    // No store call is expected: the policy is checked before the token is taken.
    let (auth, _) = service(MockDb::new());
    let token = RawToken::generate().unwrap().encode();
    assert!(matches!(
        auth.reset_password(token.expose_secret(), &pw("short"))
            .await,
        Err(AuthError::WeakPassword(_))
    ));
    assert!(matches!(
        auth.reset_password("not-a-token", &pw("long enough password"))
            .await,
        Err(AuthError::InvalidToken)
    ));
}

#[tokio::test]
async fn a_deletion_scheduled_account_cannot_log_in_even_with_the_right_password() {
    let mut user = user_with_password("right password");
    user.deletion_scheduled_at = Some(t0() + TimeDelta::days(14));
    let mut db = MockDb::new();
    db.expect_user_by_email()
        .returning(move |_| Ok(Some(user.clone())));
    db.expect_record_audit()
        .withf(|e| {
            e.action == AuditAction::LoginFailure
                && e.metadata.get("reason").map(String::as_str) == Some("deletion_scheduled")
        })
        .times(1)
        .returning(|_| Ok(()));
    attempts(&mut db, 1, 1, 1);
    let (auth, _) = service(db);
    assert!(matches!(
        auth.authenticate(
            "alice@example.com",
            &pw("right password"),
            &SessionMeta::default()
        )
        .await,
        Err(AuthError::DeletionScheduled)
    ));
}

#[cfg(feature = "metrics")]
#[test]
fn login_outcomes_are_counted_without_user_data() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    let user = user_with_password("right password");
    let mut db = MockDb::new();
    db.expect_user_by_email()
        .returning(move |_| Ok(Some(user.clone())));
    db.expect_record_login_failure().returning(|_, _, _, _| {
        Ok(FailureCount {
            failed_login_count: 1,
            locked_until: None,
        })
    });
    db.expect_record_audit().returning(|_| Ok(()));
    db.expect_clear_login_failures().returning(|_| Ok(()));
    let (auth, _) = service(db);
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        futures_executor::block_on(async {
            let meta = SessionMeta::default();
            let _ = auth
                .authenticate("alice@example.com", &pw("right password"), &meta)
                .await;
            let _ = auth
                .authenticate("alice@example.com", &pw("wrong password"), &meta)
                .await;
            let _ = auth
                .authenticate("alice@example.com", &pw("wrong password"), &meta)
                .await;
        });
    });
    let mut logins = std::collections::BTreeMap::new();
    let mut histogram_samples = 0;
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        for label in key.labels() {
            assert!(!label.value().contains('@'), "no email in labels");
        }
        match (key.name(), value) {
            ("sigra_logins_total", DebugValue::Counter(n)) => {
                let outcome = key
                    .labels()
                    .find(|l| l.key() == "outcome")
                    .unwrap()
                    .value()
                    .to_owned();
                logins.insert(outcome, n);
            }
            ("sigra_login_duration_seconds", DebugValue::Histogram(samples)) => {
                histogram_samples += samples.len()
            }
            _ => {}
        }
    }
    assert_eq!(logins.get("ok"), Some(&1));
    assert_eq!(logins.get("invalid_credentials"), Some(&2));
    assert_eq!(histogram_samples, 3);
}

#[test]
fn email_checks() {
    for ok in ["a@b.co", "first.last+tag@sub.example.org"] {
        assert!(is_valid_email(ok), "{ok}");
    }
    for bad in [
        "", "a", "a@b", "@b.co", "a@.co", "a@b.co.", "a b@c.de", "a@b..co", "a@b@c.de",
    ] {
        assert!(!is_valid_email(bad), "{bad}");
    }
    assert_eq!(
        normalize_email("  MiXeD@Example.COM\n"),
        "mixed@example.com"
    );
}
