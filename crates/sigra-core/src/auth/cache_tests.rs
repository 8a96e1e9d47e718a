//! `Auth` with the session cache on (its store wrapped in a
//! [`CachingStore`](crate::caching_store::CachingStore)): what a hit skips,
//! what it still does, and that every write evicts before it returns. Uses
//! the mock store of [`crate::mock_store`]; the decorator's own tests, method
//! by method, are in `caching_store::tests`.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use mockall::predicate::{always, eq};
use secrecy::SecretString;

use super::service::Auth;
use crate::clock::TestClock;
use crate::config::{Config, Environment};
use crate::ids::UserId;
use crate::mock_store::MockDb;
use crate::model::{Session, SessionKind, SessionMeta, User};
use crate::password::{Argon2Hasher, PasswordHasher};
use crate::token::RawToken;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
}

fn cached_service(db: MockDb) -> (Auth, Arc<TestClock>) {
    let clock = Arc::new(TestClock::new(t0()));
    let config = Config::builder(Environment::Test).build().unwrap();
    let auth = Auth::builder(config, Arc::new(db))
        .clock(clock.clone())
        .hasher(Arc::new(Argon2Hasher::for_tests()))
        .hash_pool(1, 16)
        .session_cache(true)
        .build()
        .unwrap();
    // As a follower does after its first read of the revocation log.
    auth.session_cache().unwrap().resume();
    (auth, clock)
}

fn alice() -> User {
    let hash = Argon2Hasher::for_tests()
        .hash(&SecretString::from("right password"))
        .unwrap();
    User::new(
        UserId::new(t0()),
        "alice@example.com".into(),
        Some(hash),
        t0(),
    )
}

fn session_of(user: &User) -> (RawToken, Session) {
    let token = RawToken::generate().unwrap();
    let session = Session::new(
        user.id,
        token.hash(),
        SessionKind::Standard,
        SessionMeta::default(),
        t0(),
    );
    (token, session)
}

/// A store that finds the session `times` times.
fn found(db: &mut MockDb, user: &User, session: &Session, times: usize) {
    let row = (session.clone(), user.clone());
    db.expect_session_with_user()
        .with(eq(session.token_hash))
        .times(times)
        .returning(move |_| Ok(Some(row.clone())));
}

fn audits(db: &mut MockDb) {
    db.expect_record_audit().returning(|_| Ok(()));
}

#[tokio::test]
async fn the_cache_follows_the_config_and_serves_only_once_followed() {
    let build = |config: Config, on: Option<bool>| {
        let mut builder = Auth::builder(config, Arc::new(MockDb::new()));
        if let Some(on) = on {
            builder = builder.session_cache(on);
        }
        builder.build().unwrap()
    };
    let default = Config::builder(Environment::Test).build().unwrap();
    assert!(
        build(default.clone(), None).session_cache().is_some(),
        "on by default"
    );
    assert!(
        build(default.clone(), Some(false))
            .session_cache()
            .is_none(),
        "builder wins"
    );
    let off = Config::builder(Environment::Test)
        .session_cache(false)
        .build()
        .unwrap();
    assert!(
        build(off, None).session_cache().is_none(),
        "SIGRA_SESSION_CACHE=off"
    );
    let zero_touch = Config::builder(Environment::Test)
        .touch_interval(std::time::Duration::ZERO)
        .build()
        .unwrap();
    assert!(
        build(zero_touch, Some(true)).session_cache().is_none(),
        "a touch on every request leaves nothing to cache"
    );

    // Until a follower resumes it, the cache is not used: every lookup asks the store.
    let user = alice();
    let (token, session) = session_of(&user);
    let mut db = MockDb::new();
    found(&mut db, &user, &session, 2);
    let auth = Auth::builder(default, Arc::new(db))
        .hasher(Arc::new(Argon2Hasher::for_tests()))
        .clock(Arc::new(TestClock::new(t0())))
        .build()
        .unwrap();
    assert!(!auth.session_cache().unwrap().is_active());
    assert!(auth.fetch_session(&token).await.unwrap().is_some());
    assert!(auth.fetch_session(&token).await.unwrap().is_some());
}

#[tokio::test]
async fn a_hit_skips_the_store_and_still_touches_when_due() {
    let user = alice();
    let (token, mut session) = session_of(&user);
    // Last active 3 minutes before it is cached: the touch falls due on a hit.
    session.last_active_at = t0() - TimeDelta::minutes(3);
    let mut db = MockDb::new();
    found(&mut db, &user, &session, 1);
    let touched = t0() + TimeDelta::minutes(2);
    db.expect_touch_session()
        .with(eq(session.id), eq(touched))
        .times(1)
        .returning(|_, _| Ok(()));
    let (auth, clock) = cached_service(db);
    for _ in 0..3 {
        let (s, u) = auth.fetch_session(&token).await.unwrap().unwrap();
        assert_eq!((s.id, u.id), (session.id, user.id));
    }
    clock.advance(TimeDelta::minutes(2));
    let (s, _) = auth.fetch_session(&token).await.unwrap().unwrap();
    assert_eq!(s.last_active_at, touched);
    // Touched once: the next hits in the same interval write nothing.
    clock.advance(TimeDelta::minutes(2));
    let (s, _) = auth.fetch_session(&token).await.unwrap().unwrap();
    assert_eq!(s.last_active_at, touched);
}

#[tokio::test]
async fn entries_are_read_again_after_one_touch_interval() {
    let user = alice();
    let (token, session) = session_of(&user);
    let mut db = MockDb::new();
    found(&mut db, &user, &session, 2);
    db.expect_touch_session().returning(|_, _| Ok(()));
    let (auth, clock) = cached_service(db);
    assert!(auth.fetch_session(&token).await.unwrap().is_some());
    clock.advance(TimeDelta::minutes(5));
    assert!(auth.fetch_session(&token).await.unwrap().is_some(), "hit");
    clock.advance(TimeDelta::seconds(1));
    assert!(
        auth.fetch_session(&token).await.unwrap().is_some(),
        "read again"
    );
}

#[tokio::test]
async fn an_expired_hit_is_looked_up_again_and_deleted() {
    let user = alice();
    let (token, session) = session_of(&user);
    let mut db = MockDb::new();
    found(&mut db, &user, &session, 2);
    let uid = user.id;
    db.expect_delete_session_by_hash()
        .with(eq(token.hash()))
        .times(1)
        .returning(move |_| Ok(Some(uid)));
    audits(&mut db);
    let (auth, clock) = cached_service(db);
    assert!(auth.fetch_session(&token).await.unwrap().is_some());
    clock.advance(TimeDelta::minutes(30) + TimeDelta::seconds(1));
    assert!(auth.fetch_session(&token).await.unwrap().is_none());
}

#[tokio::test]
async fn misses_are_never_cached() {
    let user = alice();
    let (token, session) = session_of(&user);
    let mut db = MockDb::new();
    let mut seq = mockall::Sequence::new();
    db.expect_session_with_user()
        .times(2)
        .in_sequence(&mut seq)
        .returning(|_| Ok(None));
    let row = (session.clone(), user.clone());
    db.expect_session_with_user()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_| Ok(Some(row.clone())));
    let (auth, _) = cached_service(db);
    assert!(auth.fetch_session(&token).await.unwrap().is_none());
    assert!(auth.fetch_session(&token).await.unwrap().is_none());
    // The session now exists (e.g. a log-in raced the first lookups): found at once.
    assert!(auth.fetch_session(&token).await.unwrap().is_some());
    assert!(
        auth.fetch_session(&token).await.unwrap().is_some(),
        "now cached"
    );
}

#[tokio::test]
async fn a_million_invalid_tokens_cache_nothing() {
    let mut db = MockDb::new();
    db.expect_session_with_user().returning(|_| Ok(None));
    let (auth, _) = cached_service(db);
    let cache = auth.session_cache().unwrap().clone();
    for n in 0u64..1_000_000 {
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&n.to_le_bytes());
        let token = RawToken::from_bytes(bytes);
        assert!(auth.fetch_session(&token).await.unwrap().is_none());
    }
    assert_eq!(cache.entry_count(), 0);
}

#[tokio::test]
async fn a_suspended_cache_sends_every_lookup_to_the_store() {
    let user = alice();
    let (token, session) = session_of(&user);
    let mut db = MockDb::new();
    found(&mut db, &user, &session, 3);
    let (auth, _) = cached_service(db);
    let cache = auth.session_cache().unwrap().clone();
    cache.suspend();
    assert!(auth.fetch_session(&token).await.unwrap().is_some());
    assert!(auth.fetch_session(&token).await.unwrap().is_some());
    cache.resume();
    assert!(auth.fetch_session(&token).await.unwrap().is_some());
    assert!(
        auth.fetch_session(&token).await.unwrap().is_some(),
        "cached"
    );
}

/// Caches the session, runs `write`, and checks the next lookup asks the store.
async fn evicts<F, Fut>(configure: impl FnOnce(&mut MockDb, &User, &Session), write: F)
where
    F: FnOnce(Auth, User, Session, RawToken) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let user = alice();
    let (token, session) = session_of(&user);
    let mut db = MockDb::new();
    found(&mut db, &user, &session, 2);
    audits(&mut db);
    configure(&mut db, &user, &session);
    let (auth, _) = cached_service(db);
    assert!(auth.fetch_session(&token).await.unwrap().is_some());
    assert!(
        auth.fetch_session(&token).await.unwrap().is_some(),
        "cached"
    );
    let again = RawToken::from_bytes(*token.expose_bytes());
    write(auth.clone(), user, session, token).await;
    // The mock answers "found" once more: what matters is that it is asked.
    assert!(auth.fetch_session(&again).await.unwrap().is_some());
}

/// A password check that is the first attempt counted (and then cleared).
fn first_attempt(db: &mut MockDb) {
    db.expect_record_login_failure().returning(|_, _, _, _| {
        Ok(crate::store::FailureCount {
            failed_login_count: 1,
            locked_until: None,
        })
    });
    db.expect_clear_login_failures().returning(|_| Ok(()));
}

#[tokio::test]
async fn every_write_evicts_before_it_returns() {
    evicts(
        |db, _, _| {
            db.expect_delete_user_sessions()
                .times(1)
                .returning(|_, _| Ok(2));
        },
        |auth, user, _, _| async move {
            auth.delete_all_sessions(user.id, None).await.unwrap();
        },
    )
    .await;
    evicts(
        |db, _, _| {
            db.expect_increment_trust_epoch()
                .times(1)
                .returning(|_| Ok(1));
        },
        |auth, user, _, _| async move {
            auth.revoke_all_trusted_browsers(user.id).await.unwrap();
        },
    )
    .await;
    evicts(
        |db, user, _| {
            let u = user.clone();
            db.expect_user_by_id()
                .returning(move |_| Ok(Some(u.clone())));
            db.expect_set_sudo().times(1).returning(|_, _| Ok(()));
            first_attempt(db);
        },
        |auth, _, session, _| async move {
            auth.confirm_sudo(&session, &SecretString::from("right password"))
                .await
                .unwrap();
        },
    )
    .await;
    evicts(
        |db, user, _| {
            let u = user.clone();
            db.expect_user_by_id()
                .returning(move |_| Ok(Some(u.clone())));
            db.expect_change_password()
                .times(1)
                .returning(|_, _, _, _| Ok(1));
            first_attempt(db);
        },
        |auth, user, _, token| async move {
            auth.change_password(
                user.id,
                &token,
                &SecretString::from("right password"),
                &SecretString::from("a new password!"),
            )
            .await
            .unwrap();
        },
    )
    .await;
    evicts(
        |db, _, _| {
            db.expect_disable_mfa().times(1).returning(|_| Ok(()));
        },
        |auth, user, _, _| async move {
            auth.disable_mfa(&user).await.unwrap();
        },
    )
    .await;
    evicts(
        |db, _, _| {
            db.expect_schedule_deletion()
                .times(1)
                .returning(|_, _, _| Ok(1));
            db.expect_insert_email_token().returning(|_| Ok(()));
        },
        |auth, user, _, _| async move {
            auth.schedule_account_deletion(&user).await.unwrap();
        },
    )
    .await;
    // Even when the store reports an error: the write may have committed.
    evicts(
        |db, _, _| {
            db.expect_delete_user_sessions()
                .times(1)
                .returning(|_, _| Err(crate::store::StoreError::NotFound("connection")));
        },
        |auth, user, _, _| async move {
            assert!(auth.delete_all_sessions(user.id, None).await.is_err());
        },
    )
    .await;
}

#[tokio::test]
async fn log_out_evicts_the_token() {
    let user = alice();
    let (token, session) = session_of(&user);
    let mut db = MockDb::new();
    let mut seq = mockall::Sequence::new();
    let row = (session.clone(), user.clone());
    db.expect_session_with_user()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_| Ok(Some(row.clone())));
    let uid = user.id;
    db.expect_delete_session_by_hash()
        .with(eq(token.hash()))
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_| Ok(Some(uid)));
    db.expect_record_audit().returning(|_| Ok(()));
    db.expect_session_with_user()
        .with(always())
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(None));
    let (auth, _) = cached_service(db);
    assert!(auth.fetch_session(&token).await.unwrap().is_some());
    assert!(auth.delete_session(&token).await.unwrap());
    assert!(auth.fetch_session(&token).await.unwrap().is_none());
}
