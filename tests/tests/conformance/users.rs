//! `UserStore`: insertion, case-insensitive unique email, password changes, lockout arithmetic, trust epoch, deletion.

use std::collections::BTreeSet;

use chrono::TimeDelta;
use sigra_core::ids::UserId;
use sigra_core::model::{AuditAction, AuditEvent, EmailToken, MfaCredential, SessionKind, User};
use sigra_core::store::{FailureCount, StoreError};
use sigra_core::token::{RawToken, TokenContext};
use sigra_tests::{TestStore, t0};

use super::{at_minutes, concurrently, mark_deleted, new_session, new_user, phc};

pub(crate) async fn insert_then_read_back(store: &TestStore) {
    let alice = User::new(
        UserId::new(t0()),
        "alice@example.com".into(),
        Some(phc("YWxpY2U")),
        t0(),
    );
    let registered = AuditEvent::register(&alice);
    store.insert_user(&alice, &registered).await.unwrap();
    assert_eq!(
        store.user_by_id(alice.id).await.unwrap(),
        Some(alice.clone())
    );
    // The registration event was written with the user.
    assert_eq!(
        store.audit_for_user(alice.id, 10).await.unwrap(),
        vec![registered]
    );
    assert_eq!(
        store.user_by_email("alice@example.com").await.unwrap(),
        Some(alice.clone())
    );

    // Every field is stored, including the optional ones.
    let mut bob = User::new(
        UserId::new(t0()),
        "bob@example.com".into(),
        None,
        at_minutes(1),
    );
    bob.confirmed_at = Some(at_minutes(2));
    bob.mfa_enabled = true;
    bob.mfa_trust_epoch = 7;
    bob.failed_login_count = 3;
    bob.locked_until = Some(at_minutes(20));
    bob.updated_at = at_minutes(3);
    bob.deletion_scheduled_at = Some(at_minutes(60 * 24 * 14));
    store
        .insert_user(&bob, &AuditEvent::register(&bob))
        .await
        .unwrap();
    assert_eq!(store.user_by_id(bob.id).await.unwrap(), Some(bob.clone()));
    assert_eq!(
        store.user_by_email("bob@example.com").await.unwrap(),
        Some(bob)
    );
    // Still the right user for alice: lookups do not mix rows up.
    assert_eq!(
        store.user_by_id(alice.id).await.unwrap().map(|u| u.email),
        Some(alice.email)
    );
}

pub(crate) async fn email_lookup_is_case_insensitive(store: &TestStore) {
    let alice = new_user(store, "alice@example.com").await;
    for probe in [
        "alice@example.com",
        "Alice@Example.COM",
        "ALICE@EXAMPLE.COM",
    ] {
        let found = store.user_by_email(probe).await.unwrap();
        assert_eq!(found.map(|u| u.id), Some(alice.id), "lookup by {probe:?}");
    }
    assert_eq!(
        store.user_by_email("alice@example.org").await.unwrap(),
        None
    );
}

pub(crate) async fn duplicate_email_is_refused_case_insensitively(store: &TestStore) {
    let first = new_user(store, "alice@x.com").await;
    for email in ["Alice@X.com", "alice@x.com", "ALICE@X.COM"] {
        let second = User::new(UserId::new(t0()), email.to_owned(), None, t0());
        match store
            .insert_user(&second, &AuditEvent::register(&second))
            .await
        {
            Err(StoreError::DuplicateEmail) => {}
            other => panic!(
                "inserting {email:?} after \"alice@x.com\": expected DuplicateEmail, got {other:?}"
            ),
        }
        assert_eq!(
            store.user_by_id(second.id).await.unwrap(),
            None,
            "the refused row must not exist"
        );
        assert_eq!(
            store.audit_for_user(second.id, 10).await.unwrap(),
            Vec::new(),
            "nor its audit event: they are one transaction"
        );
    }
    assert_eq!(store.dump_rows("users").await.len(), 1);
    assert_eq!(store.dump_rows("audit_events").await.len(), 1);
    assert_eq!(
        store
            .user_by_email("alice@x.com")
            .await
            .unwrap()
            .map(|u| u.id),
        Some(first.id)
    );
    // Another address is still fine.
    new_user(store, "alice@y.com").await;
}

pub(crate) async fn concurrent_inserts_of_one_email_let_exactly_one_win(store: &TestStore) {
    let results = concurrently(20, |i| {
        let store = store.store();
        let email = if i % 2 == 0 {
            "race@example.com"
        } else {
            "Race@Example.com"
        };
        let user = User::new(UserId::new(t0()), email.to_owned(), None, t0());
        async move { store.insert_user(&user, &AuditEvent::register(&user)).await }
    })
    .await;
    let mut winners = 0;
    for result in results {
        match result {
            Ok(()) => winners += 1,
            Err(StoreError::DuplicateEmail) => {}
            Err(other) => {
                panic!("a losing concurrent insert must be DuplicateEmail, got {other:?}")
            }
        }
    }
    assert_eq!(
        winners, 1,
        "exactly one concurrent insert of one email succeeds"
    );
    assert_eq!(store.dump_rows("users").await.len(), 1);
    assert_eq!(
        store.dump_rows("audit_events").await.len(),
        1,
        "the losers' audit events were rolled back with them"
    );
}

pub(crate) async fn email_is_free_again_after_the_user_is_deleted(store: &TestStore) {
    let alice = new_user(store, "alice@example.com").await;
    assert!(store.delete_user(alice.id).await.unwrap());
    assert_eq!(
        store.user_by_email("alice@example.com").await.unwrap(),
        None
    );
    let again = new_user(store, "alice@example.com").await;
    assert_eq!(
        store
            .user_by_email("ALICE@example.com")
            .await
            .unwrap()
            .map(|u| u.id),
        Some(again.id)
    );
}

pub(crate) async fn set_password_hash_replaces_the_hash(store: &TestStore) {
    let alice = new_user(store, "alice@example.com").await;
    let bob = new_user(store, "bob@example.com").await;
    let fresh = phc("bmV3aGFzaA");
    assert!(
        store
            .set_password_hash(alice.id, &fresh, at_minutes(5))
            .await
            .unwrap()
    );
    let stored = store.user_by_id(alice.id).await.unwrap().unwrap();
    assert_eq!(stored.password_hash, Some(fresh));
    assert_eq!(stored.updated_at, at_minutes(5));
    // Only that user changed.
    assert_eq!(store.user_by_id(bob.id).await.unwrap(), Some(bob));
    assert!(
        !store
            .set_password_hash(UserId::new(t0()), &phc("eA"), t0())
            .await
            .unwrap()
    );
}

pub(crate) async fn change_password_keeps_only_the_given_session_and_deletes_email_tokens(
    store: &TestStore,
) {
    let alice = new_user(store, "alice@example.com").await;
    let bob = new_user(store, "bob@example.com").await;
    let (keep, _) = new_session(store, &alice, SessionKind::Standard, t0()).await;
    let (other1, _) = new_session(store, &alice, SessionKind::RememberMe, t0()).await;
    let (other2, _) = new_session(store, &alice, SessionKind::MfaPending, t0()).await;
    let (bobs, _) = new_session(store, &bob, SessionKind::Standard, t0()).await;
    let reset = RawToken::generate().unwrap();
    let confirm = RawToken::generate().unwrap();
    let bobs_reset = RawToken::generate().unwrap();
    for (token, user, ctx) in [
        (&reset, &alice, TokenContext::ResetPassword),
        (&confirm, &alice, TokenContext::Confirm),
        (&bobs_reset, &bob, TokenContext::ResetPassword),
    ] {
        let row = EmailToken::new(token.hash(), user.id, ctx, user.email.clone(), t0());
        store.insert_email_token(&row).await.unwrap();
    }

    let fresh = phc("Y2hhbmdlZA");
    let deleted = store
        .change_password(alice.id, &fresh, Some(keep.hash()), at_minutes(1))
        .await
        .unwrap();
    assert_eq!(deleted, 2, "returns the number of sessions deleted");

    let stored = store.user_by_id(alice.id).await.unwrap().unwrap();
    assert_eq!(stored.password_hash, Some(fresh));
    assert_eq!(stored.updated_at, at_minutes(1));
    assert!(
        store
            .session_with_user(&keep.hash())
            .await
            .unwrap()
            .is_some(),
        "the kept session survives"
    );
    assert!(
        store
            .session_with_user(&other1.hash())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .session_with_user(&other2.hash())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.count_rows("user_sessions", alice.id).await, 1);
    assert_eq!(
        store.count_rows("user_tokens", alice.id).await,
        0,
        "every email token of the user is deleted"
    );
    assert!(
        store
            .take_email_token(&reset.hash(), TokenContext::ResetPassword)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .take_email_token(&confirm.hash(), TokenContext::Confirm)
            .await
            .unwrap()
            .is_none()
    );
    // Other users are untouched.
    assert!(
        store
            .session_with_user(&bobs.hash())
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .take_email_token(&bobs_reset.hash(), TokenContext::ResetPassword)
            .await
            .unwrap()
            .is_some()
    );
}

pub(crate) async fn change_password_without_keep_deletes_every_session(store: &TestStore) {
    let alice = new_user(store, "alice@example.com").await;
    let mut tokens = Vec::new();
    for _ in 0..3 {
        tokens.push(
            new_session(store, &alice, SessionKind::Standard, t0())
                .await
                .0,
        );
    }
    let deleted = store
        .change_password(alice.id, &phc("cmVzZXQ"), None, at_minutes(1))
        .await
        .unwrap();
    assert_eq!(deleted, 3);
    for token in &tokens {
        assert!(
            store
                .session_with_user(&token.hash())
                .await
                .unwrap()
                .is_none()
        );
    }
    assert!(store.list_user_sessions(alice.id).await.unwrap().is_empty());
}

pub(crate) async fn login_failures_count_lock_and_restart_after_the_lock(store: &TestStore) {
    let alice = new_user(store, "alice@example.com").await;
    let lock = TimeDelta::minutes(15);
    for n in 1..=4 {
        let got = store
            .record_login_failure(alice.id, t0(), 5, lock)
            .await
            .unwrap();
        assert_eq!(
            got,
            FailureCount {
                failed_login_count: n,
                locked_until: None
            },
            "failure {n}"
        );
    }
    let fifth = store
        .record_login_failure(alice.id, t0(), 5, lock)
        .await
        .unwrap();
    assert_eq!(
        fifth,
        FailureCount {
            failed_login_count: 5,
            locked_until: Some(t0() + lock)
        },
        "the 5th failure locks"
    );
    let stored = store.user_by_id(alice.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.failed_login_count, stored.locked_until),
        (5, Some(t0() + lock))
    );
    assert!(stored.is_locked(at_minutes(14)));

    // A failure while locked counts but does not extend the lock.
    let sixth = store
        .record_login_failure(alice.id, at_minutes(1), 5, lock)
        .await
        .unwrap();
    assert_eq!(
        sixth,
        FailureCount {
            failed_login_count: 6,
            locked_until: Some(t0() + lock)
        }
    );

    // Once the lock has expired, the count restarts at 1 and the lock is cleared.
    let after = store
        .record_login_failure(alice.id, t0() + lock, 5, lock)
        .await
        .unwrap();
    assert_eq!(
        after,
        FailureCount {
            failed_login_count: 1,
            locked_until: None
        }
    );
    let stored = store.user_by_id(alice.id).await.unwrap().unwrap();
    assert_eq!((stored.failed_login_count, stored.locked_until), (1, None));

    // And the threshold locks again from the new start.
    let later = at_minutes(16);
    for n in 2..=4 {
        assert_eq!(
            store
                .record_login_failure(alice.id, later, 5, lock)
                .await
                .unwrap()
                .failed_login_count,
            n
        );
    }
    let relock = store
        .record_login_failure(alice.id, later, 5, lock)
        .await
        .unwrap();
    assert_eq!(
        relock,
        FailureCount {
            failed_login_count: 5,
            locked_until: Some(later + lock)
        }
    );
}

pub(crate) async fn concurrent_login_failures_are_all_counted(store: &TestStore) {
    let alice = new_user(store, "alice@example.com").await;
    let id = alice.id;
    let results = concurrently(20, |_| {
        let store = store.store();
        async move {
            store
                .record_login_failure(id, t0(), 1000, TimeDelta::minutes(15))
                .await
        }
    })
    .await;
    let counts: BTreeSet<i32> = results
        .into_iter()
        .map(|r| r.unwrap().failed_login_count)
        .collect();
    assert_eq!(
        counts,
        (1..=20).collect(),
        "each concurrent failure sees its own count"
    );
    assert_eq!(
        store
            .user_by_id(alice.id)
            .await
            .unwrap()
            .unwrap()
            .failed_login_count,
        20
    );
}

pub(crate) async fn clear_login_failures_resets_count_and_lock(store: &TestStore) {
    let alice = new_user(store, "alice@example.com").await;
    for _ in 0..5 {
        store
            .record_login_failure(alice.id, t0(), 5, TimeDelta::minutes(15))
            .await
            .unwrap();
    }
    assert!(
        store
            .user_by_id(alice.id)
            .await
            .unwrap()
            .unwrap()
            .locked_until
            .is_some()
    );
    store.clear_login_failures(alice.id).await.unwrap();
    let stored = store.user_by_id(alice.id).await.unwrap().unwrap();
    assert_eq!((stored.failed_login_count, stored.locked_until), (0, None));
    // Counting starts from scratch.
    let next = store
        .record_login_failure(alice.id, t0(), 5, TimeDelta::minutes(15))
        .await
        .unwrap();
    assert_eq!(
        next,
        FailureCount {
            failed_login_count: 1,
            locked_until: None
        }
    );
}

pub(crate) async fn concurrent_trust_epoch_increments_are_all_applied(store: &TestStore) {
    let alice = new_user(store, "alice@example.com").await;
    let bob = new_user(store, "bob@example.com").await;
    let id = alice.id;
    let results = concurrently(50, |_| {
        let store = store.store();
        async move { store.increment_trust_epoch(id).await }
    })
    .await;
    let epochs: BTreeSet<i64> = results.into_iter().map(|r| r.unwrap()).collect();
    assert_eq!(
        epochs,
        (1..=50).collect(),
        "each increment returns its own new value"
    );
    let stored = store.user_by_id(alice.id).await.unwrap().unwrap();
    assert_eq!(stored.mfa_trust_epoch, 50);
    assert_eq!(
        stored.updated_at, alice.updated_at,
        "raising the epoch is not a profile change"
    );
    assert_eq!(
        store
            .user_by_id(bob.id)
            .await
            .unwrap()
            .unwrap()
            .mfa_trust_epoch,
        0
    );
}

pub(crate) async fn delete_user_cascades_and_keeps_audit_rows(store: &TestStore) {
    let alice = new_user(store, "alice@example.com").await;
    let bob = new_user(store, "bob@example.com").await;
    let (s1, _) = new_session(store, &alice, SessionKind::Standard, t0()).await;
    let (s2, _) = new_session(store, &alice, SessionKind::RememberMe, t0()).await;
    let (bobs, _) = new_session(store, &bob, SessionKind::Standard, t0()).await;
    let email_token = RawToken::generate().unwrap();
    store
        .insert_email_token(&EmailToken::new(
            email_token.hash(),
            alice.id,
            TokenContext::Confirm,
            alice.email.clone(),
            t0(),
        ))
        .await
        .unwrap();
    store
        .upsert_mfa_credential(&MfaCredential::new(alice.id, "v1:sealed".into(), t0()))
        .await
        .unwrap();
    store
        .replace_backup_codes(alice.id, &[[1; 32], [2; 32], [3; 32]], t0())
        .await
        .unwrap();
    assert!(
        store
            .consume_backup_code(alice.id, &[1; 32], t0())
            .await
            .unwrap()
    );
    store
        .replace_backup_codes(bob.id, &[[1; 32]], t0())
        .await
        .unwrap();
    // Her registration event was written with her; add one more.
    store
        .record_audit(&AuditEvent::new(
            AuditAction::LoginSuccess,
            Some(alice.id),
            at_minutes(1),
        ))
        .await
        .unwrap();
    for table in [
        "user_sessions",
        "user_tokens",
        "user_mfa_credentials",
        "user_backup_codes",
    ] {
        assert!(
            store.count_rows(table, alice.id).await > 0,
            "fixture: {table} has rows"
        );
    }

    assert!(store.delete_user(alice.id).await.unwrap());

    assert_eq!(store.user_by_id(alice.id).await.unwrap(), None);
    for table in [
        "user_sessions",
        "user_tokens",
        "user_mfa_credentials",
        "user_backup_codes",
    ] {
        assert_eq!(
            store.count_rows(table, alice.id).await,
            0,
            "{table} rows must go with the user"
        );
    }
    assert!(store.session_with_user(&s1.hash()).await.unwrap().is_none());
    assert!(store.session_with_user(&s2.hash()).await.unwrap().is_none());
    assert!(
        store
            .take_email_token(&email_token.hash(), TokenContext::Confirm)
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.mfa_credential(alice.id).await.unwrap().is_none());
    assert_eq!(store.remaining_backup_codes(alice.id).await.unwrap(), 0);
    // Audit rows stay, still naming the user.
    let audit = store.audit_for_user(alice.id, 10).await.unwrap();
    assert_eq!(audit.len(), 2);
    assert!(audit.iter().all(|e| e.user_id == Some(alice.id)));
    assert_eq!(store.count_rows("audit_events", alice.id).await, 2);
    // Other users are untouched; a second delete finds nothing.
    assert!(
        store
            .session_with_user(&bobs.hash())
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(store.remaining_backup_codes(bob.id).await.unwrap(), 1);
    assert!(!store.delete_user(alice.id).await.unwrap());
}

pub(crate) async fn unknown_users_are_not_errors(store: &TestStore) {
    let ghost = UserId::new(t0());
    assert_eq!(store.user_by_id(ghost).await.unwrap(), None);
    assert_eq!(
        store.user_by_email("ghost@example.com").await.unwrap(),
        None
    );
    assert!(
        !store
            .set_password_hash(ghost, &phc("eA"), t0())
            .await
            .unwrap()
    );
    store.clear_login_failures(ghost).await.unwrap();
    assert!(!store.delete_user(ghost).await.unwrap());
    // Operations that need the user say so with NotFound, never a backend error.
    match store.increment_trust_epoch(ghost).await {
        Err(StoreError::NotFound("user")) => {}
        other => {
            panic!("increment_trust_epoch of an unknown user: expected NotFound, got {other:?}")
        }
    }
    match store
        .record_login_failure(ghost, t0(), 5, TimeDelta::minutes(15))
        .await
    {
        Err(StoreError::NotFound("user")) => {}
        other => {
            panic!("record_login_failure of an unknown user: expected NotFound, got {other:?}")
        }
    }
    match store.change_password(ghost, &phc("eA"), None, t0()).await {
        Err(StoreError::NotFound("user")) => {}
        other => panic!("change_password of an unknown user: expected NotFound, got {other:?}"),
    }
    assert!(
        store.dump_rows("users").await.is_empty(),
        "no operation on an unknown user creates one"
    );
}

pub(crate) async fn a_duplicate_id_is_a_backend_error_not_a_duplicate_email(store: &TestStore) {
    let alice = new_user(store, "alice@example.com").await;
    // Another address under an id that is taken: a unique violation, but not
    // of the email, so not `DuplicateEmail` (which would tell the user their
    // address is registered).
    let twin = User::new(alice.id, "other@example.com".into(), None, t0());
    match store.insert_user(&twin, &AuditEvent::register(&twin)).await {
        Err(StoreError::Backend(_)) => {}
        other => panic!("a duplicate user id: expected a backend error, got {other:?}"),
    }
    assert_eq!(
        store.user_by_email("other@example.com").await.unwrap(),
        None
    );
    assert_eq!(store.user_by_id(alice.id).await.unwrap(), Some(alice));
}

pub(crate) async fn a_lock_time_out_of_range_is_a_backend_error(store: &TestStore) {
    let alice = new_user(store, "alice@example.com").await;
    // `now + lock_for` does not fit in a timestamp: an error, not a panic,
    // and nothing is counted.
    match store
        .record_login_failure(alice.id, t0(), 1, TimeDelta::MAX)
        .await
    {
        Err(StoreError::Backend(_)) => {}
        other => panic!("a lock past the end of time: expected a backend error, got {other:?}"),
    }
    let stored = store.user_by_id(alice.id).await.unwrap().unwrap();
    assert_eq!((stored.failed_login_count, stored.locked_until), (0, None));
}

pub(crate) async fn a_soft_deleted_user_is_found_by_id_only(store: &TestStore) {
    let alice = new_user(store, "alice@example.com").await;
    mark_deleted(store, alice.id, at_minutes(1)).await;
    assert_eq!(
        store.user_by_email("alice@example.com").await.unwrap(),
        None,
        "a soft-deleted user is not found by email"
    );
    assert_eq!(
        store.user_by_id(alice.id).await.unwrap().map(|u| u.id),
        Some(alice.id)
    );
    // Its address is free for a new account.
    let again = new_user(store, "Alice@example.com").await;
    assert_eq!(
        store
            .user_by_email("alice@example.com")
            .await
            .unwrap()
            .map(|u| u.id),
        Some(again.id)
    );
}
