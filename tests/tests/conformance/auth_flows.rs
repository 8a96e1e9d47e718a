//! The `Auth` service over a real store: lockout, concurrent logins and registrations, trust revocation, password change.

use std::collections::{BTreeSet, HashSet};

use chrono::TimeDelta;
use sigra_core::auth::AuthError;
use sigra_core::ids::UserId;
use sigra_core::model::{AuditAction, EmailToken, SessionKind, SessionMeta};
use sigra_core::token::{RawToken, TokenContext};
use sigra_tests::{TestStore, auth_over, secret, t0};

use super::{at_minutes, concurrently, new_user};

const PASSWORD: &str = "correct horse battery staple";

async fn count_audit(store: &TestStore, user: UserId, action: AuditAction) -> usize {
    store
        .audit_for_user(user, 1000)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.action == action)
        .count()
}

pub(crate) async fn lockout_after_5_failures_then_the_right_password_works_after_15_minutes(
    store: &TestStore,
) {
    let (auth, clock) = auth_over(store);
    let alice = auth
        .register("alice@example.com", &secret(PASSWORD))
        .await
        .unwrap();
    let meta = SessionMeta::default();

    for n in 1..=5 {
        clock.set(t0() + TimeDelta::seconds(n));
        match auth
            .authenticate("alice@example.com", &secret("wrong password"), &meta)
            .await
        {
            Err(AuthError::InvalidCredentials) => {}
            other => panic!("failure {n}: expected InvalidCredentials, got {other:?}"),
        }
    }
    let locked_at = t0() + TimeDelta::seconds(5);
    let until = locked_at + TimeDelta::minutes(15);
    let stored = store.user_by_id(alice.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.failed_login_count, stored.locked_until),
        (5, Some(until))
    );

    // Locked: even the right password is refused.
    clock.set(locked_at + TimeDelta::minutes(1));
    match auth
        .authenticate("alice@example.com", &secret(PASSWORD), &meta)
        .await
    {
        Err(AuthError::Locked { until: got }) => assert_eq!(got, until),
        other => panic!("right password while locked: expected Locked, got {other:?}"),
    }
    clock.set(until - TimeDelta::seconds(1));
    assert!(matches!(
        auth.authenticate("alice@example.com", &secret(PASSWORD), &meta)
            .await,
        Err(AuthError::Locked { .. })
    ));

    // After 15 minutes the right password works and the count resets.
    clock.set(until);
    let user = auth
        .authenticate("alice@example.com", &secret(PASSWORD), &meta)
        .await
        .unwrap();
    assert_eq!((user.failed_login_count, user.locked_until), (0, None));
    let stored = store.user_by_id(alice.id).await.unwrap().unwrap();
    assert_eq!((stored.failed_login_count, stored.locked_until), (0, None));

    // The next failure counts from 1 again.
    assert!(matches!(
        auth.authenticate("alice@example.com", &secret("wrong again"), &meta)
            .await,
        Err(AuthError::InvalidCredentials)
    ));
    let stored = store.user_by_id(alice.id).await.unwrap().unwrap();
    assert_eq!((stored.failed_login_count, stored.locked_until), (1, None));

    assert_eq!(
        count_audit(store, alice.id, AuditAction::Lockout).await,
        1,
        "one lockout, one audit row"
    );
    assert_eq!(
        count_audit(store, alice.id, AuditAction::LoginFailure).await,
        5 + 2 + 1
    );
    assert_eq!(
        count_audit(store, alice.id, AuditAction::LoginSuccess).await,
        1
    );
}

pub(crate) async fn concurrent_logins_of_one_user_each_get_a_session(store: &TestStore) {
    let (auth, _clock) = auth_over(store);
    let alice = auth
        .register("alice@example.com", &secret(PASSWORD))
        .await
        .unwrap();
    let results = concurrently(10, |i| {
        let auth = auth.clone();
        async move {
            let meta =
                SessionMeta::new(Some(format!("198.51.100.{i}")), Some(format!("Agent/{i}")));
            let user = auth
                .authenticate("alice@example.com", &secret(PASSWORD), &meta)
                .await?;
            auth.create_session(&user, SessionKind::Standard, meta)
                .await
        }
    })
    .await;
    let mut ids = HashSet::new();
    let mut hashes = HashSet::new();
    let mut tokens = Vec::new();
    for (i, result) in results.into_iter().enumerate() {
        let (token, session) =
            result.unwrap_or_else(|e| panic!("concurrent login {i} failed: {e:?}"));
        assert_eq!(session.user_id, alice.id);
        ids.insert(session.id);
        hashes.insert(session.token_hash);
        tokens.push(token);
    }
    assert_eq!((ids.len(), hashes.len()), (10, 10), "10 distinct sessions");
    assert_eq!(store.list_user_sessions(alice.id).await.unwrap().len(), 10);
    for token in &tokens {
        let (_, user) = auth.fetch_session(token).await.unwrap().unwrap();
        assert_eq!(user.id, alice.id);
    }
    assert_eq!(
        count_audit(store, alice.id, AuditAction::LoginSuccess).await,
        10
    );
    assert_eq!(
        count_audit(store, alice.id, AuditAction::SessionCreate).await,
        10
    );
}

pub(crate) async fn concurrent_registrations_of_one_email_let_exactly_one_win(store: &TestStore) {
    let (auth, _clock) = auth_over(store);
    let results = concurrently(10, |i| {
        let auth = auth.clone();
        let email = match i % 3 {
            0 => "race@example.com",
            1 => "Race@Example.com",
            _ => "  RACE@EXAMPLE.COM ",
        };
        async move { auth.register(email, &secret(PASSWORD)).await }
    })
    .await;
    let mut winners = Vec::new();
    for result in results {
        match result {
            Ok(user) => winners.push(user),
            Err(AuthError::EmailTaken) => {}
            Err(other) => {
                panic!("a losing concurrent registration must be EmailTaken, got {other:?}")
            }
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one concurrent registration of one email succeeds"
    );
    let winner = &winners[0];
    assert_eq!(
        store
            .user_by_email("race@example.com")
            .await
            .unwrap()
            .map(|u| u.id),
        Some(winner.id)
    );
    assert_eq!(store.dump_rows("users").await.len(), 1);
    assert_eq!(
        count_audit(store, winner.id, AuditAction::Register).await,
        1
    );
    auth.authenticate(
        "race@example.com",
        &secret(PASSWORD),
        &SessionMeta::default(),
    )
    .await
    .unwrap();
}

pub(crate) async fn concurrent_trust_revocations_are_all_counted(store: &TestStore) {
    let (auth, _clock) = auth_over(store);
    let alice = new_user(store, "alice@example.com").await;
    let id = alice.id;
    assert_eq!(auth.current_trust_epoch(id).await.unwrap(), 0);
    let results = concurrently(50, |_| {
        let auth = auth.clone();
        async move { auth.revoke_all_trusted_browsers(id).await }
    })
    .await;
    let epochs: BTreeSet<i64> = results.into_iter().map(|r| r.unwrap()).collect();
    assert_eq!(
        epochs,
        (1..=50).collect(),
        "50 concurrent revocations give 50 distinct epochs"
    );
    assert_eq!(
        auth.current_trust_epoch(id).await.unwrap(),
        50,
        "no increment is lost"
    );
    assert_eq!(
        count_audit(store, id, AuditAction::MfaTrustRevoked).await,
        50
    );
}

pub(crate) async fn revoking_trust_of_an_unknown_user_is_user_not_found(store: &TestStore) {
    let (auth, _clock) = auth_over(store);
    let ghost = UserId::new(t0());
    assert!(matches!(
        auth.revoke_all_trusted_browsers(ghost).await,
        Err(AuthError::UserNotFound)
    ));
    assert!(matches!(
        auth.current_trust_epoch(ghost).await,
        Err(AuthError::UserNotFound)
    ));
    assert_eq!(
        store.count_rows("audit_events", ghost).await,
        0,
        "nothing happened, nothing audited"
    );
}

pub(crate) async fn change_password_keeps_only_the_current_session_and_deletes_email_tokens(
    store: &TestStore,
) {
    let (auth, clock) = auth_over(store);
    let alice = auth
        .register("alice@example.com", &secret(PASSWORD))
        .await
        .unwrap();
    let (current, _) = auth
        .create_session(&alice, SessionKind::Standard, SessionMeta::default())
        .await
        .unwrap();
    let (other1, _) = auth
        .create_session(&alice, SessionKind::RememberMe, SessionMeta::default())
        .await
        .unwrap();
    let (other2, _) = auth
        .create_session(&alice, SessionKind::Standard, SessionMeta::default())
        .await
        .unwrap();
    let reset = RawToken::generate().unwrap();
    let change = RawToken::generate().unwrap();
    store
        .insert_email_token(&EmailToken::new(
            reset.hash(),
            alice.id,
            TokenContext::ResetPassword,
            alice.email.clone(),
            t0(),
        ))
        .await
        .unwrap();
    store
        .insert_email_token(&EmailToken::new(
            change.hash(),
            alice.id,
            TokenContext::ChangeEmail,
            "new@example.com".into(),
            t0(),
        ))
        .await
        .unwrap();

    // A wrong current password changes nothing.
    assert!(matches!(
        auth.change_password(
            alice.id,
            &current,
            &secret("not my password"),
            &secret("a brand new password")
        )
        .await,
        Err(AuthError::InvalidCredentials)
    ));
    assert_eq!(store.count_rows("user_sessions", alice.id).await, 3);
    assert_eq!(store.count_rows("user_tokens", alice.id).await, 2);

    clock.set(at_minutes(1));
    let ended = auth
        .change_password(
            alice.id,
            &current,
            &secret(PASSWORD),
            &secret("a brand new password"),
        )
        .await
        .unwrap();
    assert_eq!(ended, 2);
    assert!(
        auth.fetch_session(&current).await.unwrap().is_some(),
        "the current session is kept"
    );
    assert!(auth.fetch_session(&other1).await.unwrap().is_none());
    assert!(auth.fetch_session(&other2).await.unwrap().is_none());
    assert_eq!(
        store.count_rows("user_tokens", alice.id).await,
        0,
        "every email token is deleted"
    );
    assert!(
        store
            .take_email_token(&reset.hash(), TokenContext::ResetPassword)
            .await
            .unwrap()
            .is_none()
    );

    let meta = SessionMeta::default();
    assert!(matches!(
        auth.authenticate("alice@example.com", &secret(PASSWORD), &meta)
            .await,
        Err(AuthError::InvalidCredentials)
    ));
    auth.authenticate("alice@example.com", &secret("a brand new password"), &meta)
        .await
        .unwrap();
    let stored = store.user_by_id(alice.id).await.unwrap().unwrap();
    assert_eq!(stored.updated_at, at_minutes(1));
}
