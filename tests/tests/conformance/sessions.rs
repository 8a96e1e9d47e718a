//! `SessionStore`, through the store and through `Auth`: only hashes stored, expiry by kind, touch throttling, deletion.

use chrono::TimeDelta;
use secrecy::ExposeSecret;
use sigra_core::ids::SessionId;
use sigra_core::model::{AuditAction, Session, SessionKind, SessionMeta};
use sigra_core::store::StoreError;
use sigra_core::token::RawToken;
use sigra_tests::{TABLES, TestStore, auth_over, secret, t0};

use super::{at_minutes, contains, hex, mark_deleted, new_session, new_user};

pub(crate) async fn session_round_trips_with_its_user(store: &TestStore) {
    let alice = new_user(store, "alice@example.com").await;
    let token = RawToken::generate().unwrap();
    let meta = SessionMeta::new(
        Some("2001:db8::7".into()),
        Some("Mozilla/5.0 (X11; Linux x86_64) Test/1.0".into()),
    );
    let mut session = Session::new(alice.id, token.hash(), SessionKind::RememberMe, meta, t0());
    session.last_active_at = at_minutes(3);
    session.sudo_at = Some(at_minutes(2));
    assert!(
        store
            .insert_session(&session, alice.session_epoch)
            .await
            .unwrap()
    );

    let (found, user) = store
        .session_with_user(&token.hash())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, session);
    assert_eq!(user, alice);
    assert_eq!(
        store.list_user_sessions(alice.id).await.unwrap(),
        vec![session]
    );

    // Every kind is stored and read back as itself.
    for kind in [
        SessionKind::Standard,
        SessionKind::RememberMe,
        SessionKind::MfaPending,
    ] {
        let (token, row) = new_session(store, &alice, kind, t0()).await;
        let (found, _) = store
            .session_with_user(&token.hash())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found, row);
        assert_eq!(found.kind, kind);
    }
}

pub(crate) async fn duplicate_token_hash_is_refused(store: &TestStore) {
    let alice = new_user(store, "alice@example.com").await;
    let bob = new_user(store, "bob@example.com").await;
    let (token, original) = new_session(store, &alice, SessionKind::Standard, t0()).await;
    let clash = Session::new(
        bob.id,
        token.hash(),
        SessionKind::Standard,
        SessionMeta::default(),
        at_minutes(1),
    );
    match store.insert_session(&clash, bob.session_epoch).await {
        Err(StoreError::DuplicateToken) => {}
        other => panic!(
            "a second session with the same token hash: expected DuplicateToken, got {other:?}"
        ),
    }
    // The first row is untouched; nothing was overwritten.
    let (found, user) = store
        .session_with_user(&token.hash())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((found, user.id), (original, alice.id));
    assert!(store.list_user_sessions(bob.id).await.unwrap().is_empty());
}

pub(crate) async fn token_hash_round_trip_end_to_end(store: &TestStore) {
    let (auth, _clock) = auth_over(store);
    let user = auth
        .register("Alice@Example.com", &secret("correct horse battery staple"))
        .await
        .unwrap();
    let meta = SessionMeta::new(Some("203.0.113.9".into()), Some("TestAgent/1.0".into()));
    let (token, session) = auth
        .create_session(&user, SessionKind::Standard, meta)
        .await
        .unwrap();

    // What the user's cookie carries: 43 base64url characters.
    let encoded = token.encode();
    let text = encoded.expose_secret();
    assert_eq!(text.len(), 43);

    // Presented back, it decodes to the same token and finds the session.
    let presented = RawToken::decode(text).unwrap();
    let (found, found_user) = auth.fetch_session(&presented).await.unwrap().unwrap();
    assert_eq!((found.id, found_user.id), (session.id, user.id));

    // Exactly one row, holding SHA-256 of the raw 32 bytes and nothing else of the token.
    let sha256 = ring::digest::digest(&ring::digest::SHA256, token.expose_bytes());
    assert_eq!(
        token.hash().as_bytes().as_slice(),
        sha256.as_ref(),
        "RawToken::hash is SHA-256 of the raw bytes"
    );
    assert_eq!(store.count_rows("user_sessions", user.id).await, 1);
    let listed = store.list_user_sessions(user.id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].token_hash, token.hash());
    assert_eq!(listed[0].token_hash, presented.hash());
    assert_eq!(
        store.stored_session_hashes(user.id).await,
        vec![sha256.as_ref().to_vec()],
        "the stored column is the hash"
    );

    // The token, in any spelling, appears in no row of any table.
    let raw = token.expose_bytes();
    let forms: [(&str, Vec<u8>); 4] = [
        ("encoded token", text.as_bytes().to_vec()),
        ("raw token bytes", raw.to_vec()),
        ("raw token as hex", hex(raw).into_bytes()),
        (
            "raw token as upper-case hex",
            hex(raw).to_uppercase().into_bytes(),
        ),
    ];
    for table in TABLES {
        for row in store.dump_rows(table).await {
            for (what, needle) in &forms {
                assert!(!contains(&row, needle), "{what} found in a row of {table}");
            }
        }
    }
    let fields = [
        listed[0].ip.clone(),
        listed[0].user_agent.clone(),
        Some(format!("{:?}", listed[0])),
    ];
    for field in fields.into_iter().flatten() {
        assert!(
            !field.contains(text),
            "the encoded token appears in a session field"
        );
    }
    // And the hash is what is stored, visible in the raw row.
    let hash_hex = hex(token.hash().as_bytes());
    let rows = store.dump_rows("user_sessions").await;
    assert!(
        contains(&rows[0], token.hash().as_bytes()) || contains(&rows[0], hash_hex.as_bytes()),
        "the session row holds the token hash"
    );
}

pub(crate) async fn idle_standard_session_expires_after_30_minutes_and_is_deleted(
    store: &TestStore,
) {
    let (auth, clock) = auth_over(store);
    let alice = new_user(store, "alice@example.com").await;
    let (idle, _) = auth
        .create_session(&alice, SessionKind::Standard, SessionMeta::default())
        .await
        .unwrap();
    let (active, _) = auth
        .create_session(&alice, SessionKind::Standard, SessionMeta::default())
        .await
        .unwrap();

    clock.set(at_minutes(20));
    assert!(auth.fetch_session(&active).await.unwrap().is_some());
    clock.set(at_minutes(30));
    assert!(
        auth.fetch_session(&idle).await.unwrap().is_some(),
        "idle for exactly 30 min is still valid"
    );
    // That fetch touched `idle` at 30 min; `active` is used again at 45 min.
    clock.set(at_minutes(45));
    assert!(auth.fetch_session(&active).await.unwrap().is_some());

    clock.set(at_minutes(60) + TimeDelta::seconds(1));
    assert_eq!(
        store.count_rows("user_sessions", alice.id).await,
        2,
        "both rows exist until seen"
    );
    assert!(
        auth.fetch_session(&idle).await.unwrap().is_none(),
        "idle for 30 min 1 s"
    );
    assert!(
        store
            .session_with_user(&idle.hash())
            .await
            .unwrap()
            .is_none(),
        "the expired row is deleted when seen"
    );
    assert_eq!(store.count_rows("user_sessions", alice.id).await, 1);
    assert!(
        auth.fetch_session(&active).await.unwrap().is_some(),
        "idle for 15 min 1 s: still valid"
    );
    let expired: Vec<_> = store
        .audit_for_user(alice.id, 50)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == AuditAction::SessionDelete)
        .collect();
    assert_eq!(expired.len(), 1);
    assert_eq!(
        expired[0].metadata.get("reason").map(String::as_str),
        Some("expired")
    );
}

pub(crate) async fn standard_session_expires_after_24_hours_despite_activity(store: &TestStore) {
    let (auth, clock) = auth_over(store);
    let alice = new_user(store, "alice@example.com").await;
    let (token, _) = auth
        .create_session(&alice, SessionKind::Standard, SessionMeta::default())
        .await
        .unwrap();
    // Used every 20 minutes, for exactly 24 hours.
    for step in 1..=72 {
        clock.set(at_minutes(20 * step));
        assert!(
            auth.fetch_session(&token).await.unwrap().is_some(),
            "alive after {} min",
            20 * step
        );
    }
    clock.set(at_minutes(24 * 60) + TimeDelta::seconds(1));
    assert!(
        auth.fetch_session(&token).await.unwrap().is_none(),
        "past the 24 h absolute timeout"
    );
    assert!(
        store
            .session_with_user(&token.hash())
            .await
            .unwrap()
            .is_none(),
        "the expired row is deleted when seen"
    );
}

pub(crate) async fn remember_me_session_lasts_60_days_without_idle_timeout(store: &TestStore) {
    let (auth, clock) = auth_over(store);
    let alice = new_user(store, "alice@example.com").await;
    let (token, _) = auth
        .create_session(&alice, SessionKind::RememberMe, SessionMeta::default())
        .await
        .unwrap();
    let day = TimeDelta::days(1);
    clock.set(t0() + day * 59);
    assert!(
        auth.fetch_session(&token).await.unwrap().is_some(),
        "unused for 59 days: no idle timeout"
    );
    clock.set(t0() + day * 60);
    assert!(
        auth.fetch_session(&token).await.unwrap().is_some(),
        "exactly 60 days old"
    );
    clock.set(t0() + day * 60 + TimeDelta::seconds(1));
    assert!(
        auth.fetch_session(&token).await.unwrap().is_none(),
        "older than 60 days"
    );
    assert!(
        store
            .session_with_user(&token.hash())
            .await
            .unwrap()
            .is_none(),
        "the expired row is deleted when seen"
    );
}

pub(crate) async fn mfa_pending_session_lasts_5_minutes(store: &TestStore) {
    let (auth, clock) = auth_over(store);
    let alice = new_user(store, "alice@example.com").await;
    let (token, _) = auth
        .create_session(&alice, SessionKind::MfaPending, SessionMeta::default())
        .await
        .unwrap();
    clock.set(at_minutes(5));
    assert!(
        auth.fetch_session(&token).await.unwrap().is_some(),
        "exactly 5 minutes old"
    );
    clock.set(at_minutes(5) + TimeDelta::seconds(1));
    assert!(
        auth.fetch_session(&token).await.unwrap().is_none(),
        "older than 5 minutes"
    );
    assert!(
        store
            .session_with_user(&token.hash())
            .await
            .unwrap()
            .is_none(),
        "the expired row is deleted when seen"
    );
}

pub(crate) async fn last_active_is_written_at_most_once_per_5_minutes(store: &TestStore) {
    let (auth, clock) = auth_over(store);
    let alice = new_user(store, "alice@example.com").await;
    let (token, _) = auth
        .create_session(&alice, SessionKind::Standard, SessionMeta::default())
        .await
        .unwrap();
    let stored_last_active = || async {
        store
            .session_with_user(&token.hash())
            .await
            .unwrap()
            .unwrap()
            .0
            .last_active_at
    };

    clock.set(at_minutes(4));
    let (seen, _) = auth.fetch_session(&token).await.unwrap().unwrap();
    assert_eq!(seen.last_active_at, t0());
    assert_eq!(stored_last_active().await, t0(), "not written after 4 min");

    clock.set(at_minutes(5));
    let (seen, _) = auth.fetch_session(&token).await.unwrap().unwrap();
    assert_eq!(seen.last_active_at, at_minutes(5));
    assert_eq!(
        stored_last_active().await,
        at_minutes(5),
        "written after 5 min"
    );

    clock.set(at_minutes(10) - TimeDelta::seconds(1));
    auth.fetch_session(&token).await.unwrap().unwrap();
    assert_eq!(
        stored_last_active().await,
        at_minutes(5),
        "not written 4 min 59 s after the last write"
    );

    clock.set(at_minutes(10));
    auth.fetch_session(&token).await.unwrap().unwrap();
    assert_eq!(stored_last_active().await, at_minutes(10));
}

pub(crate) async fn touch_session_only_moves_forward(store: &TestStore) {
    let alice = new_user(store, "alice@example.com").await;
    let (token, session) = new_session(store, &alice, SessionKind::Standard, at_minutes(10)).await;
    let (other, other_row) =
        new_session(store, &alice, SessionKind::Standard, at_minutes(10)).await;
    let last_active = || async {
        store
            .session_with_user(&token.hash())
            .await
            .unwrap()
            .unwrap()
            .0
            .last_active_at
    };

    store
        .touch_session(session.id, at_minutes(15))
        .await
        .unwrap();
    assert_eq!(last_active().await, at_minutes(15));
    store
        .touch_session(session.id, at_minutes(12))
        .await
        .unwrap();
    assert_eq!(
        last_active().await,
        at_minutes(15),
        "an older time never moves it back"
    );
    store
        .touch_session(session.id, at_minutes(15))
        .await
        .unwrap();
    assert_eq!(last_active().await, at_minutes(15));
    store
        .touch_session(session.id, at_minutes(20))
        .await
        .unwrap();
    assert_eq!(last_active().await, at_minutes(20));
    // Only that session moved; created_at never does.
    let (row, _) = store
        .session_with_user(&token.hash())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.created_at, at_minutes(10));
    assert_eq!(
        store
            .session_with_user(&other.hash())
            .await
            .unwrap()
            .unwrap()
            .0,
        other_row
    );
}

pub(crate) async fn set_sudo_records_the_time(store: &TestStore) {
    let (auth, clock) = auth_over(store);
    let alice = auth
        .register("alice@example.com", &secret("correct horse battery staple"))
        .await
        .unwrap();
    let (token, session) = auth
        .create_session(&alice, SessionKind::Standard, SessionMeta::default())
        .await
        .unwrap();
    // A session made by a log-in starts with the sudo window open.
    assert_eq!(session.sudo_at, Some(session.created_at));
    let pending = auth
        .create_session(&alice, SessionKind::MfaPending, SessionMeta::default())
        .await
        .unwrap()
        .1;
    assert_eq!(pending.sudo_at, None, "half a log-in opens nothing");
    // Another row, written without a window, keeps having none.
    let (other, _) = new_session(store, &alice, SessionKind::Standard, t0()).await;

    store.set_sudo(session.id, at_minutes(1)).await.unwrap();
    let (row, _) = store
        .session_with_user(&token.hash())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.sudo_at, Some(at_minutes(1)));
    assert_eq!(
        store
            .session_with_user(&other.hash())
            .await
            .unwrap()
            .unwrap()
            .0
            .sudo_at,
        None
    );

    // Through the service: a wrong password changes nothing, the right one opens the window.
    clock.set(at_minutes(2));
    assert!(
        auth.confirm_sudo(&session, &secret("wrong password"))
            .await
            .is_err()
    );
    assert_eq!(
        store
            .session_with_user(&token.hash())
            .await
            .unwrap()
            .unwrap()
            .0
            .sudo_at,
        Some(at_minutes(1))
    );
    auth.confirm_sudo(&session, &secret("correct horse battery staple"))
        .await
        .unwrap();
    let (row, _) = auth.fetch_session(&token).await.unwrap().unwrap();
    assert_eq!(row.sudo_at, Some(at_minutes(2)));
    assert!(auth.in_sudo(&row));
    clock.set(at_minutes(7) + TimeDelta::seconds(1));
    assert!(!auth.in_sudo(&row));
}

pub(crate) async fn delete_session_removes_one_and_reports_its_owner(store: &TestStore) {
    let (auth, _clock) = auth_over(store);
    let alice = new_user(store, "alice@example.com").await;
    let (t1, _) = new_session(store, &alice, SessionKind::Standard, t0()).await;
    let (t2, _) = new_session(store, &alice, SessionKind::RememberMe, t0()).await;
    let (t3, _) = auth
        .create_session(&alice, SessionKind::Standard, SessionMeta::default())
        .await
        .unwrap();

    assert_eq!(
        store.delete_session_by_hash(&t1.hash()).await.unwrap(),
        Some(alice.id)
    );
    assert_eq!(
        store.delete_session_by_hash(&t1.hash()).await.unwrap(),
        None,
        "a second delete finds nothing"
    );
    assert!(store.session_with_user(&t1.hash()).await.unwrap().is_none());
    assert!(
        store.session_with_user(&t2.hash()).await.unwrap().is_some(),
        "other sessions survive"
    );

    // Log-out through the service.
    assert!(auth.delete_session(&t3).await.unwrap());
    assert!(!auth.delete_session(&t3).await.unwrap());
    assert!(auth.fetch_session(&t3).await.unwrap().is_none());
    assert!(auth.fetch_session(&t2).await.unwrap().is_some());
    assert_eq!(store.count_rows("user_sessions", alice.id).await, 1);
    let deletes: Vec<_> = store
        .audit_for_user(alice.id, 50)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == AuditAction::SessionDelete)
        .collect();
    assert_eq!(deletes.len(), 1, "one log-out, one audit row");
    assert_eq!(
        deletes[0].metadata.get("reason").map(String::as_str),
        Some("log_out")
    );
}

pub(crate) async fn delete_all_sessions_without_except(store: &TestStore) {
    let (auth, _clock) = auth_over(store);
    let alice = new_user(store, "alice@example.com").await;
    let bob = new_user(store, "bob@example.com").await;
    let mut tokens = Vec::new();
    for kind in [
        SessionKind::Standard,
        SessionKind::RememberMe,
        SessionKind::MfaPending,
    ] {
        tokens.push(
            auth.create_session(&alice, kind, SessionMeta::default())
                .await
                .unwrap()
                .0,
        );
    }
    let (bobs, _) = auth
        .create_session(&bob, SessionKind::Standard, SessionMeta::default())
        .await
        .unwrap();

    assert_eq!(auth.delete_all_sessions(alice.id, None).await.unwrap(), 3);
    for token in &tokens {
        assert!(
            auth.fetch_session(token).await.unwrap().is_none(),
            "no old token works after log-out everywhere"
        );
        assert!(
            store
                .session_with_user(&token.hash())
                .await
                .unwrap()
                .is_none()
        );
    }
    assert_eq!(store.count_rows("user_sessions", alice.id).await, 0);
    assert!(
        auth.fetch_session(&bobs).await.unwrap().is_some(),
        "other users keep their sessions"
    );
    assert_eq!(auth.delete_all_sessions(alice.id, None).await.unwrap(), 0);
}

pub(crate) async fn delete_all_sessions_with_except_keeps_the_current_one(store: &TestStore) {
    let (auth, _clock) = auth_over(store);
    let alice = new_user(store, "alice@example.com").await;
    let (current, current_row) = auth
        .create_session(&alice, SessionKind::Standard, SessionMeta::default())
        .await
        .unwrap();
    let (o1, _) = auth
        .create_session(&alice, SessionKind::RememberMe, SessionMeta::default())
        .await
        .unwrap();
    let (o2, _) = auth
        .create_session(&alice, SessionKind::Standard, SessionMeta::default())
        .await
        .unwrap();

    assert_eq!(
        auth.delete_all_sessions(alice.id, Some(&current))
            .await
            .unwrap(),
        2
    );
    assert!(auth.fetch_session(&current).await.unwrap().is_some());
    assert!(auth.fetch_session(&o1).await.unwrap().is_none());
    assert!(auth.fetch_session(&o2).await.unwrap().is_none());
    assert_eq!(
        store.list_user_sessions(alice.id).await.unwrap(),
        vec![current_row]
    );

    // `keep` naming a token that is not the user's deletes all of theirs.
    let stranger = RawToken::generate().unwrap();
    assert_eq!(
        store
            .delete_user_sessions(alice.id, Some(stranger.hash()))
            .await
            .unwrap(),
        1
    );
    assert!(auth.fetch_session(&current).await.unwrap().is_none());
}

pub(crate) async fn list_user_sessions_is_newest_first_and_per_user(store: &TestStore) {
    let alice = new_user(store, "alice@example.com").await;
    let bob = new_user(store, "bob@example.com").await;
    let (_, oldest) = new_session(store, &alice, SessionKind::Standard, at_minutes(1)).await;
    let (_, newest) = new_session(store, &alice, SessionKind::RememberMe, at_minutes(30)).await;
    let (_, middle) = new_session(store, &alice, SessionKind::MfaPending, at_minutes(10)).await;
    let (_, bobs) = new_session(store, &bob, SessionKind::Standard, at_minutes(20)).await;
    assert_eq!(
        store.list_user_sessions(alice.id).await.unwrap(),
        vec![newest, middle, oldest]
    );
    assert_eq!(store.list_user_sessions(bob.id).await.unwrap(), vec![bobs]);
}

pub(crate) async fn unknown_sessions_are_not_errors(store: &TestStore) {
    let alice = new_user(store, "alice@example.com").await;
    let ghost = RawToken::generate().unwrap();
    assert!(
        store
            .session_with_user(&ghost.hash())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store.delete_session_by_hash(&ghost.hash()).await.unwrap(),
        None
    );
    assert_eq!(store.delete_user_sessions(alice.id, None).await.unwrap(), 0);
    assert_eq!(
        store
            .delete_user_sessions(sigra_core::ids::UserId::new(t0()), None)
            .await
            .unwrap(),
        0
    );
    assert!(store.list_user_sessions(alice.id).await.unwrap().is_empty());
    store
        .touch_session(SessionId::new(t0()), at_minutes(5))
        .await
        .unwrap();
    store
        .set_sudo(SessionId::new(t0()), at_minutes(5))
        .await
        .unwrap();
    let (auth, _clock) = auth_over(store);
    assert!(auth.fetch_session(&ghost).await.unwrap().is_none());
    assert!(!auth.delete_session(&ghost).await.unwrap());
    assert!(store.dump_rows("user_sessions").await.is_empty());
}

pub(crate) async fn sessions_of_a_soft_deleted_user_are_not_found(store: &TestStore) {
    let alice = new_user(store, "alice@example.com").await;
    let bob = new_user(store, "bob@example.com").await;
    let (token, _) = new_session(store, &alice, SessionKind::RememberMe, t0()).await;
    let (bobs, _) = new_session(store, &bob, SessionKind::Standard, t0()).await;
    mark_deleted(store, alice.id, at_minutes(1)).await;
    assert_eq!(
        store.session_with_user(&token.hash()).await.unwrap(),
        None,
        "a session of a soft-deleted user does not authenticate"
    );
    assert!(
        store
            .session_with_user(&bobs.hash())
            .await
            .unwrap()
            .is_some()
    );
}
