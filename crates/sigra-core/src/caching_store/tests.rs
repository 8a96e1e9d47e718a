//! The decorator, method by method: one table row per method of every store
//! port says what the method does to a cached session lookup, and the tests
//! check each row through the decorator, with the inner store answering and
//! with it failing. A port method missing from the table fails the test, so
//! a new write path has to say what it evicts.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use mockall::predicate::eq;
use secrecy::SecretString;

use super::CachingStore;
use crate::cache::SessionCache;
use crate::clock::TestClock;
use crate::config::{Config, Environment};
use crate::ids::UserId;
use crate::mock_store::MockDb;
use crate::model::{
    AuditAction, AuditEvent, DeletionStrategy, EmailToken, MfaCredential, Session, SessionKind,
    SessionMeta, User,
};
use crate::password::{Argon2Hasher, PasswordHash, PasswordHasher};
use crate::store::{
    AuditStore, EmailTokenStore, ExpiredSessions, FailureCount, MaintenanceStore, MfaStore,
    RevocationStore, SessionCutoffs, SessionStore, SessionTimeouts, Store, StoreError, UserStore,
    email_token_cutoffs,
};
use crate::token::{RawToken, TokenContext, TokenHash};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
}

/// Everything a port method may take, for the one cached session of `user`.
struct Fixture {
    user: User,
    session: Session,
    hash: TokenHash,
    password_hash: PasswordHash,
    email_token: EmailToken,
    credential: MfaCredential,
    audit: AuditEvent,
    cutoffs: SessionCutoffs,
    config: Config,
}

impl Fixture {
    fn new() -> Self {
        let config = Config::builder(Environment::Test).build().unwrap();
        let password_hash = Argon2Hasher::for_tests()
            .hash(&SecretString::from("a password"))
            .unwrap();
        let user = User::new(
            UserId::new(t0()),
            "alice@example.com".into(),
            Some(password_hash.clone()),
            t0(),
        );
        let hash = RawToken::from_bytes([7; 32]).hash();
        let session = Session::new(
            user.id,
            hash,
            SessionKind::Standard,
            SessionMeta::default(),
            t0(),
        );
        let email_token = EmailToken::new(
            RawToken::from_bytes([8; 32]).hash(),
            user.id,
            TokenContext::Confirm,
            user.email.clone(),
            t0(),
        );
        Self {
            credential: MfaCredential::new(user.id, "sealed".into(), t0()),
            audit: AuditEvent::new(AuditAction::SessionCreate, Some(user.id), t0()),
            cutoffs: SessionCutoffs::at(&config, t0()),
            password_hash,
            email_token,
            session,
            hash,
            user,
            config,
        }
    }
}

/// A store whose every method answers (or, with `fail`, every write fails),
/// counting the session lookups that reach it.
fn inner(f: &Fixture, fail: bool, reads: &Arc<AtomicUsize>) -> MockDb {
    fn answer<T>(fail: bool, value: T) -> Result<T, StoreError> {
        if fail {
            Err(StoreError::NotFound("connection"))
        } else {
            Ok(value)
        }
    }
    let mut db = MockDb::new();
    let row = (f.session.clone(), f.user.clone());
    let counter = Arc::clone(reads);
    db.expect_session_with_user()
        .with(eq(f.hash))
        .returning(move |_| {
            counter.fetch_add(1, SeqCst);
            Ok(Some(row.clone()))
        });
    let (user, uid, token) = (f.user.clone(), f.user.id, f.email_token.clone());
    let credential = f.credential.clone();
    let session = f.session.clone();
    db.expect_user_by_id()
        .returning(move |_| Ok(Some(user.clone())));
    let user = f.user.clone();
    db.expect_user_by_email()
        .returning(move |_| Ok(Some(user.clone())));
    db.expect_list_user_sessions()
        .returning(move |_| Ok(vec![session.clone()]));
    db.expect_mfa_credential()
        .returning(move |_| Ok(Some(credential.clone())));
    let peeked = f.email_token.clone();
    db.expect_email_token()
        .returning(move |_, _| Ok(Some(peeked.clone())));
    db.expect_remaining_backup_codes().returning(|_| Ok(3));
    db.expect_mfa_secret_count().returning(|| Ok(1));
    db.expect_mfa_secrets_page()
        .returning(|_, _| Ok(Vec::new()));
    db.expect_audit_for_user().returning(|_, _| Ok(Vec::new()));
    db.expect_users_due_for_deletion()
        .returning(|_, _| Ok(Vec::new()));
    db.expect_latest_revocation_id().returning(|| Ok(0));
    db.expect_revocations_after()
        .returning(|_, _| Ok(Vec::new()));
    db.expect_revocation_listener().returning(|| Ok(None));
    db.expect_ping().returning(|| Ok(()));
    let failed = FailureCount {
        failed_login_count: 1,
        locked_until: None,
    };
    db.expect_insert_user()
        .returning(move |_, _| answer(fail, ()));
    db.expect_set_password_hash()
        .returning(move |_, _, _| answer(fail, true));
    db.expect_change_password()
        .returning(move |_, _, _, _| answer(fail, 1));
    db.expect_record_login_failure()
        .returning(move |_, _, _, _| answer(fail, failed));
    db.expect_clear_login_failures()
        .returning(move |_| answer(fail, ()));
    db.expect_increment_trust_epoch()
        .returning(move |_| answer(fail, 2));
    db.expect_confirm_email()
        .returning(move |_, _| answer(fail, true));
    db.expect_change_email()
        .returning(move |_, _, _| answer(fail, 1));
    db.expect_schedule_deletion()
        .returning(move |_, _, _| answer(fail, 1));
    db.expect_cancel_deletion()
        .returning(move |_, _| answer(fail, true));
    db.expect_delete_user()
        .returning(move |_| answer(fail, true));
    db.expect_insert_session()
        .returning(move |_, _| answer(fail, true));
    db.expect_touch_session()
        .returning(move |_, _| answer(fail, ()));
    db.expect_set_sudo().returning(move |_, _| answer(fail, ()));
    db.expect_delete_session_by_hash()
        .returning(move |_| answer(fail, Some(uid)));
    db.expect_delete_user_sessions()
        .returning(move |_, _| answer(fail, 1));
    db.expect_insert_email_token()
        .returning(move |_| answer(fail, ()));
    db.expect_take_email_token()
        .returning(move |_, _| answer(fail, Some(token.clone())));
    db.expect_delete_user_email_tokens()
        .returning(move |_, _| answer(fail, 1));
    db.expect_upsert_mfa_credential()
        .returning(move |_| answer(fail, ()));
    db.expect_confirm_mfa()
        .returning(move |_, _, _| answer(fail, true));
    db.expect_use_totp_step()
        .returning(move |_, _| answer(fail, true));
    db.expect_record_mfa_failure()
        .returning(move |_, _, _, _| answer(fail, failed));
    db.expect_clear_mfa_failures()
        .returning(move |_| answer(fail, ()));
    db.expect_disable_mfa().returning(move |_| answer(fail, ()));
    db.expect_replace_backup_codes()
        .returning(move |_, _, _| answer(fail, ()));
    db.expect_consume_backup_code()
        .returning(move |_, _, _| answer(fail, true));
    db.expect_replace_mfa_secret()
        .returning(move |_, _, _| answer(fail, true));
    db.expect_record_audit()
        .returning(move |_| answer(fail, ()));
    db.expect_delete_expired_sessions()
        .returning(move |_| answer(fail, ExpiredSessions::default()));
    db.expect_delete_expired_email_tokens()
        .returning(move |_| answer(fail, 0));
    db.expect_delete_audit_before()
        .returning(move |_| answer(fail, 0));
    db.expect_apply_scheduled_deletion()
        .returning(move |_, _, _, _| answer(fail, true));
    db.expect_claim_job_tick()
        .returning(move |_, _, _, _| answer(fail, true));
    db.expect_prune_revocations()
        .returning(move |_| answer(fail, 0));
    db
}

/// A decorator over `inner` whose cache is on and followed.
fn decorated(inner: MockDb, clock: Arc<TestClock>, f: &Fixture) -> CachingStore {
    let cache = Arc::new(SessionCache::new(1000, f.config.session.touch_interval));
    cache.resume();
    CachingStore::new(
        Arc::new(inner),
        cache,
        clock,
        SessionTimeouts::from_config(&f.config),
        f.config.session.touch_interval,
    )
}

/// What a method does to the cached lookup of the fixture's session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    /// A read: the entry stays.
    Read,
    /// The next lookup goes to the store.
    Evicts,
    /// A write that leaves the entry (the reason is in the module docs of
    /// `caching_store`, and beside the row).
    Keeps,
}

type Call = for<'a> fn(&'a CachingStore, &'a Fixture) -> Pin<Box<dyn Future<Output = ()> + 'a>>;

/// One table row: the method's name, its effect when the store answers and
/// when it fails, and a call of it through the decorator.
macro_rules! row {
    ($name:ident, $ok:ident, $err:ident, |$s:ident, $f:ident| $call:expr) => {{
        fn call<'a>(
            $s: &'a CachingStore,
            $f: &'a Fixture,
        ) -> Pin<Box<dyn Future<Output = ()> + 'a>> {
            Box::pin(async move {
                let _ = $call.await;
            })
        }
        (stringify!($name), Effect::$ok, Effect::$err, call as Call)
    }};
}

fn table() -> Vec<(&'static str, Effect, Effect, Call)> {
    vec![
        // UserStore: every write names a user, and evicts them.
        row!(insert_user, Evicts, Evicts, |s, f| s
            .insert_user(&f.user, &f.audit)),
        row!(user_by_id, Read, Read, |s, f| s.user_by_id(f.user.id)),
        row!(user_by_email, Read, Read, |s, f| s
            .user_by_email(&f.user.email)),
        row!(set_password_hash, Evicts, Evicts, |s, f| s
            .set_password_hash(f.user.id, &f.password_hash, t0())),
        row!(change_password, Evicts, Evicts, |s, f| s.change_password(
            f.user.id,
            &f.password_hash,
            None,
            t0()
        )),
        row!(record_login_failure, Evicts, Evicts, |s, f| s
            .record_login_failure(
                f.user.id,
                t0(),
                5,
                TimeDelta::minutes(15)
            )),
        row!(clear_login_failures, Evicts, Evicts, |s, f| s
            .clear_login_failures(f.user.id)),
        row!(increment_trust_epoch, Evicts, Evicts, |s, f| s
            .increment_trust_epoch(f.user.id)),
        row!(confirm_email, Evicts, Evicts, |s, f| s
            .confirm_email(f.user.id, t0())),
        row!(change_email, Evicts, Evicts, |s, f| s.change_email(
            f.user.id,
            "new@example.com",
            t0()
        )),
        row!(schedule_deletion, Evicts, Evicts, |s, f| s
            .schedule_deletion(f.user.id, t0(), t0())),
        row!(cancel_deletion, Evicts, Evicts, |s, f| s
            .cancel_deletion(f.user.id, t0())),
        row!(delete_user, Evicts, Evicts, |s, f| s.delete_user(f.user.id)),
        // SessionStore.
        // A new token hash: no entry holds it, and misses are never cached
        // (the insert only reads the user's session epoch).
        row!(insert_session, Keeps, Keeps, |s, f| s
            .insert_session(&f.session, 0)),
        row!(session_with_user, Read, Read, |s, f| s
            .session_with_user(&f.hash)),
        // Written through to the entry; a failed write evicts the session.
        row!(touch_session, Keeps, Evicts, |s, f| s
            .touch_session(f.session.id, t0() + TimeDelta::minutes(10))),
        row!(set_sudo, Evicts, Evicts, |s, f| s
            .set_sudo(f.session.id, t0())),
        row!(delete_session_by_hash, Evicts, Evicts, |s, f| s
            .delete_session_by_hash(&f.hash)),
        row!(delete_user_sessions, Evicts, Evicts, |s, f| s
            .delete_user_sessions(f.user.id, None)),
        row!(list_user_sessions, Read, Read, |s, f| s
            .list_user_sessions(f.user.id)),
        // EmailTokenStore.
        row!(insert_email_token, Evicts, Evicts, |s, f| s
            .insert_email_token(&f.email_token)),
        // Evicts the owner of the token it returns; a failure returns none
        // (email tokens are no part of a session lookup anyway).
        row!(take_email_token, Evicts, Keeps, |s, f| s.take_email_token(
            &f.email_token.token_hash,
            TokenContext::Confirm
        )),
        // Only looks: opening an email link uses nothing up.
        row!(email_token, Read, Read, |s, f| s.email_token(
            &f.email_token.token_hash,
            TokenContext::Confirm
        )),
        row!(delete_user_email_tokens, Evicts, Evicts, |s, f| s
            .delete_user_email_tokens(f.user.id, None)),
        // MfaStore: every write names a user, and evicts them.
        row!(upsert_mfa_credential, Evicts, Evicts, |s, f| s
            .upsert_mfa_credential(&f.credential)),
        row!(mfa_credential, Read, Read, |s, f| s
            .mfa_credential(f.user.id)),
        row!(confirm_mfa, Evicts, Evicts, |s, f| s.confirm_mfa(
            f.user.id,
            1,
            t0()
        )),
        row!(use_totp_step, Evicts, Evicts, |s, f| s
            .use_totp_step(f.user.id, 2)),
        row!(record_mfa_failure, Evicts, Evicts, |s, f| s
            .record_mfa_failure(
                f.user.id,
                t0(),
                5,
                TimeDelta::minutes(15)
            )),
        row!(clear_mfa_failures, Evicts, Evicts, |s, f| s
            .clear_mfa_failures(f.user.id)),
        row!(disable_mfa, Evicts, Evicts, |s, f| s.disable_mfa(f.user.id)),
        row!(replace_backup_codes, Evicts, Evicts, |s, f| s
            .replace_backup_codes(f.user.id, &[[1; 32]], t0())),
        row!(consume_backup_code, Evicts, Evicts, |s, f| s
            .consume_backup_code(f.user.id, &[1; 32], t0())),
        row!(remaining_backup_codes, Read, Read, |s, f| s
            .remaining_backup_codes(f.user.id)),
        row!(mfa_secret_count, Read, Read, |s, _f| s.mfa_secret_count()),
        row!(mfa_secrets_page, Read, Read, |s, _f| s
            .mfa_secrets_page(None, 10)),
        row!(replace_mfa_secret, Evicts, Evicts, |s, f| s
            .replace_mfa_secret(f.user.id, "sealed", "resealed")),
        // AuditStore: audit rows are no part of a session lookup.
        row!(record_audit, Keeps, Keeps, |s, f| s.record_audit(&f.audit)),
        row!(audit_for_user, Read, Read, |s, f| s
            .audit_for_user(f.user.id, 10)),
        // MaintenanceStore: bulk deletions of what a lookup never serves
        // (expired sessions are checked on every hit); the scheduled
        // deletion names its user and evicts them.
        row!(delete_expired_sessions, Keeps, Keeps, |s, f| s
            .delete_expired_sessions(&f.cutoffs)),
        row!(delete_expired_email_tokens, Keeps, Keeps, |s, f| s
            .delete_expired_email_tokens(&email_token_cutoffs(
                &f.config,
                t0()
            ))),
        row!(delete_audit_before, Keeps, Keeps, |s, _f| s
            .delete_audit_before(t0())),
        row!(users_due_for_deletion, Read, Read, |s, _f| s
            .users_due_for_deletion(t0(), 10)),
        row!(apply_scheduled_deletion, Evicts, Evicts, |s, f| s
            .apply_scheduled_deletion(
                f.user.id,
                DeletionStrategy::SoftDelete,
                &f.audit,
                t0()
            )),
        row!(claim_job_tick, Keeps, Keeps, |s, _f| s.claim_job_tick(
            "job",
            t0(),
            t0(),
            t0()
        )),
        // RevocationStore: the log itself; pruning keeps what followers need.
        row!(latest_revocation_id, Read, Read, |s, _f| s
            .latest_revocation_id()),
        row!(revocations_after, Read, Read, |s, _f| s
            .revocations_after(0, 10)),
        row!(prune_revocations, Keeps, Keeps, |s, _f| s
            .prune_revocations(t0())),
        row!(revocation_listener, Read, Read, |s, _f| s
            .revocation_listener()),
        // Store.
        row!(ping, Read, Read, |s, _f| s.ping()),
    ]
}

/// The names of every method of [`Store`] and of the port traits it is
/// made of, read from the source of `store.rs`.
fn port_methods() -> Vec<String> {
    let source = include_str!("../store.rs");
    let bounds = source
        .split_once("pub trait Store:")
        .and_then(|(_, rest)| rest.split_once('{'))
        .map(|(bounds, _)| bounds)
        .unwrap();
    let ports: Vec<&str> = bounds.split('+').map(str::trim).chain(["Store"]).collect();
    assert!(ports.len() >= 7, "the ports of Store: {ports:?}");
    let mut port = None;
    let mut methods = Vec::new();
    for line in source.lines() {
        if let Some(rest) = line.strip_prefix("pub trait ") {
            let name = rest.split([':', ' ', '<']).next().unwrap();
            port = ports.contains(&name).then_some(name);
        } else if let Some(rest) = line.trim_start().strip_prefix("async fn ")
            && port.is_some()
        {
            methods.push(rest.split(['(', '<']).next().unwrap().to_owned());
        }
    }
    methods
}

#[test]
fn the_table_lists_every_method_of_every_port_once() {
    let mut listed: Vec<&str> = table().iter().map(|(name, ..)| *name).collect();
    let mut ports = port_methods();
    assert!(
        ports.len() > 40,
        "found {} methods in store.rs",
        ports.len()
    );
    listed.sort_unstable();
    ports.sort_unstable();
    assert_eq!(
        listed, ports,
        "every store port method must have a row in caching_store::tests::table() \
         saying whether it evicts a cached session (and CachingStore must implement it)"
    );
}

/// Caches the fixture's session, calls `call`, and reports whether the next
/// lookup reached the store.
async fn effect_of(call: Call, fail: bool) -> bool {
    let f = Fixture::new();
    let reads = Arc::new(AtomicUsize::new(0));
    let clock = Arc::new(TestClock::new(t0()));
    let store = decorated(inner(&f, fail, &reads), clock, &f);
    for _ in 0..2 {
        let (session, user) = store.session_with_user(&f.hash).await.unwrap().unwrap();
        assert_eq!((session.id, user.id), (f.session.id, f.user.id));
    }
    assert_eq!(reads.load(SeqCst), 1, "cached after the first lookup");
    call(&store, &f).await;
    store.session_with_user(&f.hash).await.unwrap().unwrap();
    reads.load(SeqCst) == 2
}

#[tokio::test]
async fn each_method_evicts_exactly_as_its_row_says_also_when_the_store_fails() {
    for (name, on_ok, on_err, call) in table() {
        for (fail, effect) in [(false, on_ok), (true, on_err)] {
            let evicted = effect_of(call, fail).await;
            let expected = effect == Effect::Evicts;
            assert_eq!(
                evicted,
                expected,
                "{name} (store {}): expected {effect:?}",
                if fail { "failing" } else { "answering" }
            );
        }
    }
}

#[tokio::test]
async fn a_touch_is_written_through_once_per_interval() {
    let f = Fixture::new();
    let reads = Arc::new(AtomicUsize::new(0));
    let mut db = MockDb::new();
    let row = (f.session.clone(), f.user.clone());
    let counter = Arc::clone(&reads);
    db.expect_session_with_user().returning(move |_| {
        counter.fetch_add(1, SeqCst);
        Ok(Some(row.clone()))
    });
    let later = t0() + TimeDelta::minutes(5);
    db.expect_touch_session()
        .with(eq(f.session.id), eq(later))
        .times(1)
        .returning(|_, _| Ok(()));
    let clock = Arc::new(TestClock::new(t0()));
    let store = decorated(db, clock.clone(), &f);
    store.session_with_user(&f.hash).await.unwrap();
    clock.set(later);
    store.touch_session(f.session.id, later).await.unwrap();
    // A concurrent request that saw the same old value: no second write.
    store.touch_session(f.session.id, later).await.unwrap();
    let (session, _) = store.session_with_user(&f.hash).await.unwrap().unwrap();
    assert_eq!(session.last_active_at, later, "the entry has the new value");
    assert_eq!(reads.load(SeqCst), 1, "still cached");
}

#[tokio::test]
async fn an_expired_entry_is_looked_up_again_and_a_suspended_cache_is_bypassed() {
    let f = Fixture::new();
    let reads = Arc::new(AtomicUsize::new(0));
    let clock = Arc::new(TestClock::new(t0()));
    let store = decorated(inner(&f, false, &reads), clock.clone(), &f);
    store.session_with_user(&f.hash).await.unwrap();
    store.session_with_user(&f.hash).await.unwrap();
    assert_eq!(reads.load(SeqCst), 1);
    // Idle past the timeout by this node's view: another node may have
    // touched it, so the store is asked (and the expired answer not cached).
    clock.set(t0() + TimeDelta::minutes(30) + TimeDelta::seconds(1));
    store.session_with_user(&f.hash).await.unwrap();
    store.session_with_user(&f.hash).await.unwrap();
    assert_eq!(reads.load(SeqCst), 3);
    clock.set(t0());
    store.cache().suspend();
    store.session_with_user(&f.hash).await.unwrap();
    store.session_with_user(&f.hash).await.unwrap();
    assert_eq!(reads.load(SeqCst), 5, "suspended: every lookup reads");
}

#[test]
fn timeouts_follow_the_config() {
    let f = Fixture::new();
    let timeouts = SessionTimeouts::from_config(&f.config);
    assert!(!timeouts.is_expired(&f.session, t0() + TimeDelta::minutes(30)));
    assert!(timeouts.is_expired(
        &f.session,
        t0() + TimeDelta::minutes(30) + TimeDelta::seconds(1)
    ));
}
