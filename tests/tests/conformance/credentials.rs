//! The `Auth` service over a real store, where credentials race: concurrent guesses against the lockout, and a log-in in progress against a password change or log-out-everywhere.

use std::sync::Arc;
use std::time::Duration;

use sigra_core::auth::{Auth, AuthError};
use sigra_core::clock::TestClock;
use sigra_core::config::{Config, Environment};
use sigra_core::model::{SessionKind, SessionMeta};
use sigra_tests::{SlowVerifyHasher, TestStore, auth_over, secret, t0};

const PASSWORD: &str = "correct horse battery staple";

pub(crate) async fn concurrent_guesses_cannot_race_the_lockout(store: &TestStore) {
    const GUESSES: usize = 40;
    // Verifications as slow as a loaded server's Argon2: every guess is
    // still being verified when the right password arrives.
    let auth = Auth::builder(
        Config::builder(Environment::Test).build().unwrap(),
        store.store(),
    )
    .clock(Arc::new(TestClock::new(t0())))
    .hasher(Arc::new(SlowVerifyHasher::new(Duration::from_millis(1000))))
    .hash_pool(GUESSES + 8, 256)
    .build()
    .unwrap();
    let threshold = i32::try_from(auth.config().password.lockout_threshold).unwrap();
    let alice = auth
        .register("alice@example.com", &secret(PASSWORD))
        .await
        .unwrap();

    let guesses: Vec<_> = (0..GUESSES)
        .map(|i| {
            let auth = auth.clone();
            tokio::spawn(async move {
                let meta = SessionMeta::new(Some(format!("198.51.100.{}", i + 1)), None);
                auth.authenticate("alice@example.com", &secret("wrong password"), &meta)
                    .await
            })
        })
        .collect();
    // Up to half a second for the guesses to be counted (code that counts a
    // guess only after verifying it counts nothing for a whole second).
    let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
    while tokio::time::Instant::now() < deadline {
        let user = store.user_by_id(alice.id).await.unwrap().unwrap();
        if user.failed_login_count >= threshold {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let right = auth
        .authenticate(
            "alice@example.com",
            &secret(PASSWORD),
            &SessionMeta::default(),
        )
        .await;
    assert!(
        matches!(right, Err(AuthError::Locked { .. })),
        "the right password after {GUESSES} concurrent guesses: {right:?}"
    );
    // At most `threshold` guesses were checked at all; the rest were refused
    // as locked without looking at the password.
    let mut checked = 0;
    for guess in guesses {
        match guess.await.unwrap() {
            Err(AuthError::InvalidCredentials) => checked += 1,
            Err(AuthError::Locked { .. }) => {}
            other => panic!("a wrong guess: {other:?}"),
        }
    }
    assert_eq!(checked, threshold);
    let stored = store.user_by_id(alice.id).await.unwrap().unwrap();
    assert!(stored.is_locked(auth.now()), "{stored:?}");
}

pub(crate) async fn a_log_in_in_progress_does_not_survive_a_credential_change(store: &TestStore) {
    let (auth, _clock) = auth_over(store);
    let alice = auth
        .register("alice@example.com", &secret(PASSWORD))
        .await
        .unwrap();
    let meta = SessionMeta::default();

    // The password is checked; before the session row is written, the
    // password changes in another browser (which keeps its own session).
    let in_progress = auth
        .authenticate("alice@example.com", &secret(PASSWORD), &meta)
        .await
        .unwrap();
    let (other, _) = auth
        .create_session(&in_progress, SessionKind::Standard, meta.clone())
        .await
        .unwrap();
    let in_progress = auth
        .authenticate("alice@example.com", &secret(PASSWORD), &meta)
        .await
        .unwrap();
    auth.change_password(
        alice.id,
        &other,
        &secret(PASSWORD),
        &secret("a brand new passphrase"),
    )
    .await
    .unwrap();
    let late = auth
        .create_session(&in_progress, SessionKind::Standard, meta.clone())
        .await;
    assert!(
        matches!(late, Err(AuthError::InvalidCredentials)),
        "after a password change: {late:?}"
    );
    let left: Vec<_> = auth
        .list_sessions(alice.id)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.token_hash)
        .collect();
    assert_eq!(left, [other.hash()], "only the changer's session stays");

    // The same against log-out-everywhere.
    let in_progress = auth
        .authenticate(
            "alice@example.com",
            &secret("a brand new passphrase"),
            &meta,
        )
        .await
        .unwrap();
    auth.delete_all_sessions(alice.id, None).await.unwrap();
    let late = auth
        .create_session(&in_progress, SessionKind::RememberMe, meta.clone())
        .await;
    assert!(
        matches!(late, Err(AuthError::InvalidCredentials)),
        "after log-out-everywhere: {late:?}"
    );
    assert!(auth.list_sessions(alice.id).await.unwrap().is_empty());

    // A log-in that starts afterwards is not affected.
    let fresh = auth
        .authenticate(
            "alice@example.com",
            &secret("a brand new passphrase"),
            &meta,
        )
        .await
        .unwrap();
    auth.create_session(&fresh, SessionKind::Standard, meta)
        .await
        .unwrap();
}
