//! The user's two epochs: which writes move `mfa_trust_epoch` and `session_epoch` (in their own transaction), and `insert_session` conditional on `session_epoch`, also under concurrency.

use sigra_core::model::{Session, SessionKind, SessionMeta, User};
use sigra_core::token::RawToken;
use sigra_tests::{TestStore, t0};

use super::{at_minutes, concurrently, new_session, new_user, phc};

/// The stored `(mfa_trust_epoch, session_epoch)` of `user`.
async fn epochs(store: &TestStore, user: &User) -> (i64, i64) {
    let row = store.user_by_id(user.id).await.unwrap().unwrap();
    (row.mfa_trust_epoch, row.session_epoch)
}

/// A fresh standard session row of `user` (not inserted).
fn session_of(user: &User) -> Session {
    Session::new(
        user.id,
        RawToken::generate().unwrap().hash(),
        SessionKind::Standard,
        SessionMeta::default(),
        t0(),
    )
}

pub(crate) async fn credential_changes_move_both_epochs(store: &TestStore) {
    let alice = new_user(store, "alice@example.com").await;
    assert_eq!(epochs(store, &alice).await, (0, 0));

    // A password change (keeping the current session) and a reset (keeping none).
    let (current, _) = new_session(store, &alice, SessionKind::Standard, t0()).await;
    store
        .change_password(alice.id, &phc("bmV3"), Some(current.hash()), at_minutes(1))
        .await
        .unwrap();
    assert_eq!(epochs(store, &alice).await, (1, 1), "password change");
    store
        .change_password(alice.id, &phc("cmVzZXQ"), None, at_minutes(2))
        .await
        .unwrap();
    assert_eq!(epochs(store, &alice).await, (2, 2), "password reset");

    // An email change.
    store
        .change_email(alice.id, "alice@example.org", at_minutes(3))
        .await
        .unwrap();
    assert_eq!(epochs(store, &alice).await, (3, 3), "email change");

    // A refused email change (the address is taken) moves nothing.
    new_user(store, "bob@example.com").await;
    assert!(
        store
            .change_email(alice.id, "bob@example.com", at_minutes(4))
            .await
            .is_err()
    );
    assert_eq!(epochs(store, &alice).await, (3, 3), "refused email change");

    // A rehash on log-in is not a credential change: the same password.
    assert!(
        store
            .set_password_hash(alice.id, &phc("cmVoYXNo"), at_minutes(5))
            .await
            .unwrap()
    );
    assert_eq!(epochs(store, &alice).await, (3, 3), "rehash");
}

pub(crate) async fn ending_every_session_moves_the_session_epoch(store: &TestStore) {
    let alice = new_user(store, "alice@example.com").await;
    let (current, _) = new_session(store, &alice, SessionKind::Standard, t0()).await;
    store
        .delete_user_sessions(alice.id, Some(current.hash()))
        .await
        .unwrap();
    assert_eq!(
        epochs(store, &alice).await,
        (0, 1),
        "log out everywhere else"
    );
    store.delete_user_sessions(alice.id, None).await.unwrap();
    assert_eq!(epochs(store, &alice).await, (0, 2), "log out everywhere");
    store
        .schedule_deletion(alice.id, at_minutes(60), at_minutes(1))
        .await
        .unwrap();
    assert_eq!(epochs(store, &alice).await, (0, 3), "scheduled deletion");
}

pub(crate) async fn insert_session_is_conditional_on_the_session_epoch(store: &TestStore) {
    let alice = new_user(store, "alice@example.com").await;
    let read_at_log_in = store.user_by_id(alice.id).await.unwrap().unwrap();

    // The epoch read at log-in still holds: inserted.
    let first = session_of(&alice);
    assert!(
        store
            .insert_session(&first, read_at_log_in.session_epoch)
            .await
            .unwrap()
    );

    // The password changes; a log-in that read the old epoch inserts nothing.
    store
        .change_password(alice.id, &phc("bmV3"), None, at_minutes(1))
        .await
        .unwrap();
    let late = session_of(&alice);
    assert!(
        !store
            .insert_session(&late, read_at_log_in.session_epoch)
            .await
            .unwrap()
    );
    assert!(
        store
            .session_with_user(&late.token_hash)
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.list_user_sessions(alice.id).await.unwrap().is_empty());

    // A log-in after the change reads the new epoch and gets its session.
    let now = store.user_by_id(alice.id).await.unwrap().unwrap();
    let fresh = session_of(&alice);
    assert!(
        store
            .insert_session(&fresh, now.session_epoch)
            .await
            .unwrap()
    );
    assert_eq!(
        store.list_user_sessions(alice.id).await.unwrap(),
        vec![fresh]
    );

    // A user that does not exist gets no session, and no error.
    let ghost = User::new(
        sigra_core::ids::UserId::new(t0()),
        "ghost@example.com".into(),
        None,
        t0(),
    );
    assert!(!store.insert_session(&session_of(&ghost), 0).await.unwrap());
}

/// Which revoking write [`a_log_in_racing_a_revocation_never_keeps_its_session`] races.
#[derive(Debug, Clone, Copy)]
enum Revoke {
    PasswordChange,
    LogOutEverywhere,
    EmailChange,
}

pub(crate) async fn a_log_in_racing_a_revocation_never_keeps_its_session(store: &TestStore) {
    const LOG_INS: usize = 8;
    let alice = new_user(store, "alice@example.com").await;
    let shared = store.store();
    for round in 0..12_i64 {
        let revoke = [
            Revoke::PasswordChange,
            Revoke::LogOutEverywhere,
            Revoke::EmailChange,
        ][usize::try_from(round % 3).unwrap()];
        // Every log-in of this round passed its password check before the
        // revocation: they all read the same epoch.
        let epoch = store
            .user_by_id(alice.id)
            .await
            .unwrap()
            .unwrap()
            .session_epoch;
        let results = concurrently(LOG_INS + 1, |i| {
            let store = shared.clone();
            let session = session_of(&alice);
            let id = alice.id;
            async move {
                if i < LOG_INS {
                    u64::from(store.insert_session(&session, epoch).await.unwrap())
                } else {
                    let now = at_minutes(round);
                    match revoke {
                        Revoke::PasswordChange => {
                            store.change_password(id, &phc("bmV3"), None, now).await
                        }
                        Revoke::LogOutEverywhere => store.delete_user_sessions(id, None).await,
                        Revoke::EmailChange => {
                            store
                                .change_email(id, &format!("alice{round}@example.com"), now)
                                .await
                        }
                    }
                    .unwrap()
                }
            }
        })
        .await;
        let inserted: u64 = results[..LOG_INS].iter().sum();
        let deleted = results[LOG_INS];
        // Each inserted session was there for the revocation to delete; none
        // was inserted after it.
        assert!(
            store.list_user_sessions(alice.id).await.unwrap().is_empty(),
            "round {round} ({revoke:?}): a session outlived the revocation"
        );
        assert_eq!(inserted, deleted, "round {round} ({revoke:?})");
    }
}
