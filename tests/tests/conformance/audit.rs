//! `AuditStore`, and the audit trail `Auth` leaves: one row per security event, no secrets in it.

use std::collections::BTreeMap;

use chrono::TimeDelta;
use secrecy::ExposeSecret;
use sigra_core::auth::AuthError;
use sigra_core::ids::UserId;
use sigra_core::model::{AuditAction, AuditEvent, SessionKind, SessionMeta, UnknownName};
use sigra_core::store::StoreError;
use sigra_core::token::RawToken;
use sigra_tests::{TestStore, auth_over, secret, t0};

use super::{at_minutes, contains, hex, insert_raw_audit_row, new_user};

pub(crate) async fn audit_events_round_trip_newest_first_with_limit(store: &TestStore) {
    let alice = new_user(store, "alice@example.com").await;
    let bob = new_user(store, "bob@example.com").await;
    // Each user already has its registration event, at t0.
    let first = AuditEvent::new(
        AuditAction::EmailConfirmed,
        Some(alice.id),
        t0() + TimeDelta::seconds(30),
    )
    .with_ip(Some("192.0.2.1".into()));
    let second = AuditEvent::new(AuditAction::LoginFailure, Some(alice.id), at_minutes(1))
        .with("reason", "invalid_credentials")
        .with("count", "1")
        .with_ip(Some("2001:db8::1".into()));
    let third = AuditEvent::new(AuditAction::SessionCreate, Some(alice.id), at_minutes(2))
        .with("kind", "remember_me");
    let bobs = AuditEvent::new(AuditAction::Lockout, Some(bob.id), at_minutes(1));
    let anonymous = AuditEvent::new(AuditAction::LoginFailure, None, at_minutes(3))
        .with("reason", "invalid_credentials");
    // Inserted out of order: the store orders.
    for event in [&second, &third, &bobs, &first, &anonymous] {
        store.record_audit(event).await.unwrap();
    }

    let all = store.audit_for_user(alice.id, 10).await.unwrap();
    assert_eq!(
        all[..3],
        [third.clone(), second.clone(), first],
        "newest first, every field round-trips"
    );
    assert_eq!(
        all.iter().skip(3).map(|e| e.action).collect::<Vec<_>>(),
        vec![AuditAction::Register],
        "then the registration written with the user"
    );
    assert_eq!(
        store.audit_for_user(alice.id, 2).await.unwrap(),
        vec![third, second],
        "limit keeps the newest"
    );
    assert_eq!(store.audit_for_user(bob.id, 1).await.unwrap(), vec![bobs]);
    assert_eq!(
        store.audit_for_user(alice.id, 0).await.unwrap(),
        Vec::new(),
        "a limit of 0 returns nothing"
    );
    assert!(
        store
            .audit_for_user(UserId::new(t0()), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.dump_rows("audit_events").await.len(),
        5 + 2,
        "rows without a user are kept"
    );

    // Every action name is stored and read back.
    for (i, action) in AuditAction::ALL.into_iter().enumerate() {
        let at = at_minutes(100) + TimeDelta::seconds(i64::try_from(i).unwrap());
        store
            .record_audit(&AuditEvent::new(action, Some(bob.id), at))
            .await
            .unwrap();
    }
    let actions: Vec<AuditAction> = store
        .audit_for_user(bob.id, 100)
        .await
        .unwrap()
        .into_iter()
        .rev()
        .skip(2) // bob's registration and `bobs`
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, AuditAction::ALL.to_vec());
}

pub(crate) async fn auth_writes_an_audit_row_for_every_security_event(store: &TestStore) {
    const PASSWORD: &str = "correct horse battery staple";
    const NEW_PASSWORD: &str = "tr0ub4dor and then some";
    const IP: &str = "203.0.113.5";
    let (auth, clock) = auth_over(store);
    let meta = SessionMeta::new(Some(IP.into()), Some("TestAgent/1.0".into()));
    let mut tokens: Vec<RawToken> = Vec::new();

    let alice = auth
        .register("Alice@Example.com", &secret(PASSWORD))
        .await
        .unwrap();
    assert!(matches!(
        auth.authenticate("nobody@example.com", &secret(PASSWORD), &meta)
            .await,
        Err(AuthError::InvalidCredentials)
    ));
    for _ in 0..5 {
        assert!(
            auth.authenticate("alice@example.com", &secret("wrong password"), &meta)
                .await
                .is_err()
        );
    }
    assert!(matches!(
        auth.authenticate("alice@example.com", &secret(PASSWORD), &meta)
            .await,
        Err(AuthError::Locked { .. })
    ));
    clock.advance(TimeDelta::minutes(15));
    let user = auth
        .authenticate("alice@example.com", &secret(PASSWORD), &meta)
        .await
        .unwrap();
    let (current, session) = auth
        .create_session(&user, SessionKind::Standard, meta.clone())
        .await
        .unwrap();
    let (other, _) = auth
        .create_session(&user, SessionKind::RememberMe, meta.clone())
        .await
        .unwrap();
    let (third, _) = auth
        .create_session(&user, SessionKind::Standard, meta.clone())
        .await
        .unwrap();
    auth.confirm_sudo(&session, &secret(PASSWORD))
        .await
        .unwrap();
    assert!(auth.delete_session(&other).await.unwrap());
    assert_eq!(
        auth.change_password(alice.id, &current, &secret(PASSWORD), &secret(NEW_PASSWORD))
            .await
            .unwrap(),
        1
    );
    assert_eq!(auth.delete_all_sessions(alice.id, None).await.unwrap(), 1);
    auth.revoke_all_trusted_browsers(alice.id).await.unwrap();
    tokens.extend([current, other, third]);

    let events = store.audit_for_user(alice.id, 100).await.unwrap();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for event in &events {
        *counts.entry(event.action.as_str()).or_default() += 1;
    }
    let expected: BTreeMap<&str, usize> = [
        (AuditAction::Register, 1),
        (AuditAction::LoginFailure, 5 + 1),
        (AuditAction::Lockout, 1),
        (AuditAction::LoginSuccess, 1),
        (AuditAction::SessionCreate, 3),
        (AuditAction::SudoConfirm, 1),
        (AuditAction::SessionDelete, 1),
        (AuditAction::PasswordChange, 1),
        (AuditAction::SessionRevokeAll, 1),
        (AuditAction::MfaTrustRevoked, 1),
    ]
    .into_iter()
    .map(|(a, n)| (a.as_str(), n))
    .collect();
    assert_eq!(counts, expected, "one audit row per event");
    assert!(events.iter().all(|e| e.user_id == Some(alice.id)));
    let success = events
        .iter()
        .find(|e| e.action == AuditAction::LoginSuccess)
        .unwrap();
    assert_eq!(success.ip.as_deref(), Some(IP));
    assert_eq!(success.created_at, t0() + TimeDelta::minutes(15));
    let locked = events
        .iter()
        .filter(|e| e.metadata.get("reason").map(String::as_str) == Some("locked"))
        .count();
    assert_eq!(
        locked, 1,
        "the refusal while locked is audited with its reason"
    );
    // The unknown-email attempt is audited without a user.
    assert_eq!(
        store.dump_rows("audit_events").await.len(),
        events.len() + 1
    );

    // No secret, raw token or email in any audit row, read through the port or raw.
    let mut forbidden: Vec<(String, Vec<u8>)> = vec![
        ("the password".into(), PASSWORD.as_bytes().to_vec()),
        ("the new password".into(), NEW_PASSWORD.as_bytes().to_vec()),
        ("the wrong password".into(), b"wrong password".to_vec()),
        ("the email".into(), b"alice@example.com".to_vec()),
        ("the email as typed".into(), b"Alice@Example.com".to_vec()),
        ("the unknown email".into(), b"nobody@example.com".to_vec()),
        ("the email's local part".into(), b"alice@".to_vec()),
    ];
    for (i, token) in tokens.iter().enumerate() {
        forbidden.push((
            format!("token {i}"),
            token.encode().expose_secret().as_bytes().to_vec(),
        ));
        forbidden.push((
            format!("token {i} raw bytes"),
            token.expose_bytes().to_vec(),
        ));
        forbidden.push((
            format!("token {i} as hex"),
            hex(token.expose_bytes()).into_bytes(),
        ));
    }
    for event in &events {
        let mut text = format!("{:?}", event.metadata);
        text.push_str(event.ip.as_deref().unwrap_or(""));
        for (what, needle) in &forbidden {
            assert!(
                !contains(text.as_bytes(), needle),
                "{what} in the metadata of {}",
                event.action.as_str()
            );
        }
    }
    for row in store.dump_rows("audit_events").await {
        for (what, needle) in &forbidden {
            assert!(!contains(&row, needle), "{what} in a raw audit row");
        }
    }
}

pub(crate) async fn an_unknown_stored_action_is_a_backend_error_naming_it(store: &TestStore) {
    let alice = new_user(store, "alice@example.com").await;
    insert_raw_audit_row(store, alice.id, "auth.bogus", at_minutes(1)).await;
    let err = store.audit_for_user(alice.id, 10).await.unwrap_err();
    let StoreError::Backend(source) = &err else {
        panic!("an unknown stored action: expected a backend error, got {err:?}")
    };
    // Somewhere in the source chain: the name that was not understood.
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(source.as_ref());
    let mut unknown = None;
    while let Some(e) = cause {
        if let Some(name) = e.downcast_ref::<UnknownName>() {
            unknown = Some(name);
            break;
        }
        cause = e.source();
    }
    let unknown =
        unknown.unwrap_or_else(|| panic!("no UnknownName in the source chain of {err:?}"));
    assert_eq!(unknown.value, "auth.bogus");
}
