//! `MfaStore`: TOTP credentials, replay protection, backup codes, disabling.

use sigra_core::ids::UserId;
use sigra_core::model::MfaCredential;
use sigra_tests::{TestStore, t0};

use super::{at_minutes, concurrently, new_user};

fn codes(range: std::ops::RangeInclusive<u8>) -> Vec<[u8; 32]> {
    range.map(|n| [n; 32]).collect()
}

pub(crate) async fn credential_upsert_inserts_and_replaces(store: &TestStore) {
    let alice = new_user(store, "alice@example.com").await;
    let pending = MfaCredential::new(alice.id, "k1:c2VhbGVkLXNlY3JldC0x".into(), t0());
    store.upsert_mfa_credential(&pending).await.unwrap();
    assert_eq!(store.mfa_credential(alice.id).await.unwrap(), Some(pending));

    let mut replacement =
        MfaCredential::new(alice.id, "k2:c2VhbGVkLXNlY3JldC0y".into(), at_minutes(2));
    replacement.last_used_step = Some(5);
    replacement.confirmed_at = Some(at_minutes(3));
    store.upsert_mfa_credential(&replacement).await.unwrap();
    assert_eq!(
        store.mfa_credential(alice.id).await.unwrap(),
        Some(replacement)
    );
    assert_eq!(
        store.count_rows("user_mfa_credentials", alice.id).await,
        1,
        "replaced, not added"
    );
}

pub(crate) async fn confirm_mfa_enables_mfa_and_records_the_step(store: &TestStore) {
    let alice = new_user(store, "alice@example.com").await;
    let bob = new_user(store, "bob@example.com").await;
    store
        .upsert_mfa_credential(&MfaCredential::new(alice.id, "k1:x".into(), t0()))
        .await
        .unwrap();
    assert!(
        !store
            .user_by_id(alice.id)
            .await
            .unwrap()
            .unwrap()
            .mfa_enabled
    );

    assert!(
        store
            .confirm_mfa(alice.id, 1000, at_minutes(1))
            .await
            .unwrap()
    );
    let credential = store.mfa_credential(alice.id).await.unwrap().unwrap();
    assert_eq!(credential.confirmed_at, Some(at_minutes(1)));
    assert_eq!(credential.last_used_step, Some(1000));
    let stored = store.user_by_id(alice.id).await.unwrap().unwrap();
    assert!(stored.mfa_enabled);
    assert_eq!(
        stored.updated_at,
        at_minutes(1),
        "enabling MFA updates the user"
    );
    assert!(
        !store.use_totp_step(alice.id, 1000).await.unwrap(),
        "the confirming code cannot be replayed"
    );
    assert!(!store.user_by_id(bob.id).await.unwrap().unwrap().mfa_enabled);
}

pub(crate) async fn confirm_mfa_without_a_credential_changes_nothing(store: &TestStore) {
    let alice = new_user(store, "alice@example.com").await;
    assert!(
        !store
            .confirm_mfa(alice.id, 1000, at_minutes(1))
            .await
            .unwrap()
    );
    let stored = store.user_by_id(alice.id).await.unwrap().unwrap();
    assert!(
        !stored.mfa_enabled,
        "MFA must not be enabled without a credential (atomic)"
    );
    assert_eq!(store.mfa_credential(alice.id).await.unwrap(), None);
}

pub(crate) async fn totp_steps_are_accepted_only_moving_forward(store: &TestStore) {
    let alice = new_user(store, "alice@example.com").await;
    let bob = new_user(store, "bob@example.com").await;
    store
        .upsert_mfa_credential(&MfaCredential::new(alice.id, "k1:x".into(), t0()))
        .await
        .unwrap();
    store
        .upsert_mfa_credential(&MfaCredential::new(bob.id, "k1:y".into(), t0()))
        .await
        .unwrap();

    assert!(
        store.use_totp_step(alice.id, 100).await.unwrap(),
        "first use of any step"
    );
    assert!(!store.use_totp_step(alice.id, 100).await.unwrap(), "replay");
    assert!(
        !store.use_totp_step(alice.id, 99).await.unwrap(),
        "older step"
    );
    assert!(store.use_totp_step(alice.id, 101).await.unwrap());
    assert!(store.use_totp_step(alice.id, 105).await.unwrap());
    assert!(
        !store.use_totp_step(alice.id, 103).await.unwrap(),
        "between used steps, but older than the last"
    );
    assert_eq!(
        store
            .mfa_credential(alice.id)
            .await
            .unwrap()
            .unwrap()
            .last_used_step,
        Some(105)
    );
    // Per user.
    assert!(store.use_totp_step(bob.id, 100).await.unwrap());
    assert_eq!(
        store
            .mfa_credential(bob.id)
            .await
            .unwrap()
            .unwrap()
            .last_used_step,
        Some(100)
    );
}

pub(crate) async fn concurrent_use_of_one_totp_step_has_one_winner(store: &TestStore) {
    let alice = new_user(store, "alice@example.com").await;
    store
        .upsert_mfa_credential(&MfaCredential::new(alice.id, "k1:x".into(), t0()))
        .await
        .unwrap();
    store.use_totp_step(alice.id, 199).await.unwrap();
    let id = alice.id;
    let results = concurrently(20, |_| {
        let store = store.store();
        async move { store.use_totp_step(id, 200).await }
    })
    .await;
    let winners = results
        .into_iter()
        .map(|r| r.unwrap())
        .filter(|won| *won)
        .count();
    assert_eq!(
        winners, 1,
        "exactly one concurrent use of one code succeeds"
    );
    assert_eq!(
        store
            .mfa_credential(id)
            .await
            .unwrap()
            .unwrap()
            .last_used_step,
        Some(200)
    );
}

pub(crate) async fn concurrent_use_of_many_steps_never_moves_backwards(store: &TestStore) {
    let alice = new_user(store, "alice@example.com").await;
    store
        .upsert_mfa_credential(&MfaCredential::new(alice.id, "k1:x".into(), t0()))
        .await
        .unwrap();
    let id = alice.id;
    let results = concurrently(30, |i| {
        let store = store.store();
        let step = 1000 + i64::try_from(i).unwrap();
        async move { (step, store.use_totp_step(id, step).await.unwrap()) }
    })
    .await;
    assert!(results.iter().any(|(_, won)| *won));
    assert_eq!(
        store
            .mfa_credential(id)
            .await
            .unwrap()
            .unwrap()
            .last_used_step,
        Some(1029),
        "the last used step is the highest one accepted, whatever the order"
    );
    assert!(
        results.iter().any(|(step, won)| *step == 1029 && *won),
        "the newest step is always accepted"
    );
}

pub(crate) async fn backup_codes_are_consumed_once(store: &TestStore) {
    let alice = new_user(store, "alice@example.com").await;
    let bob = new_user(store, "bob@example.com").await;
    let mut alices = codes(1..=7);
    alices.push([9; 32]);
    store
        .replace_backup_codes(alice.id, &alices, t0())
        .await
        .unwrap();
    store
        .replace_backup_codes(bob.id, &[[9; 32], [10; 32]], t0())
        .await
        .unwrap();
    assert_eq!(store.remaining_backup_codes(alice.id).await.unwrap(), 8);

    assert!(
        store
            .consume_backup_code(alice.id, &[1; 32], at_minutes(1))
            .await
            .unwrap()
    );
    assert!(
        !store
            .consume_backup_code(alice.id, &[1; 32], at_minutes(2))
            .await
            .unwrap(),
        "single use"
    );
    assert_eq!(store.remaining_backup_codes(alice.id).await.unwrap(), 7);
    assert!(
        !store
            .consume_backup_code(alice.id, &[42; 32], at_minutes(1))
            .await
            .unwrap(),
        "unknown code"
    );
    assert!(
        !store
            .consume_backup_code(alice.id, &[10; 32], at_minutes(1))
            .await
            .unwrap(),
        "bob's code is not alice's"
    );

    // The same code value under two users is two codes.
    assert!(
        store
            .consume_backup_code(alice.id, &[9; 32], at_minutes(1))
            .await
            .unwrap()
    );
    assert_eq!(store.remaining_backup_codes(bob.id).await.unwrap(), 2);
    assert!(
        store
            .consume_backup_code(bob.id, &[9; 32], at_minutes(1))
            .await
            .unwrap()
    );
    assert_eq!(store.remaining_backup_codes(alice.id).await.unwrap(), 6);
    assert_eq!(store.remaining_backup_codes(bob.id).await.unwrap(), 1);
}

pub(crate) async fn concurrent_consumption_of_one_backup_code_has_one_winner(store: &TestStore) {
    let alice = new_user(store, "alice@example.com").await;
    store
        .replace_backup_codes(alice.id, &codes(1..=8), t0())
        .await
        .unwrap();
    let id = alice.id;
    let results = concurrently(20, |_| {
        let store = store.store();
        async move { store.consume_backup_code(id, &[3; 32], at_minutes(1)).await }
    })
    .await;
    let winners = results
        .into_iter()
        .map(|r| r.unwrap())
        .filter(|won| *won)
        .count();
    assert_eq!(
        winners, 1,
        "exactly one concurrent use of one backup code succeeds"
    );
    assert_eq!(store.remaining_backup_codes(id).await.unwrap(), 7);
}

pub(crate) async fn replacing_backup_codes_invalidates_the_old_ones(store: &TestStore) {
    let alice = new_user(store, "alice@example.com").await;
    let old = codes(1..=4);
    store
        .replace_backup_codes(alice.id, &old, t0())
        .await
        .unwrap();
    assert!(
        store
            .consume_backup_code(alice.id, &old[0], at_minutes(1))
            .await
            .unwrap()
    );

    let new = codes(11..=15);
    store
        .replace_backup_codes(alice.id, &new, at_minutes(2))
        .await
        .unwrap();
    assert_eq!(store.remaining_backup_codes(alice.id).await.unwrap(), 5);
    assert_eq!(
        store.count_rows("user_backup_codes", alice.id).await,
        5,
        "old rows are gone, used ones too"
    );
    for code in &old {
        assert!(
            !store
                .consume_backup_code(alice.id, code, at_minutes(3))
                .await
                .unwrap(),
            "an old code still works"
        );
    }
    assert!(
        store
            .consume_backup_code(alice.id, &new[0], at_minutes(3))
            .await
            .unwrap()
    );

    // Replacing with a value that was used before gives a fresh, unused code.
    store
        .replace_backup_codes(alice.id, &[old[0]], at_minutes(4))
        .await
        .unwrap();
    assert_eq!(store.remaining_backup_codes(alice.id).await.unwrap(), 1);
    assert!(
        store
            .consume_backup_code(alice.id, &old[0], at_minutes(5))
            .await
            .unwrap()
    );

    // Replacing with nothing leaves nothing.
    store
        .replace_backup_codes(alice.id, &[], at_minutes(6))
        .await
        .unwrap();
    assert_eq!(store.count_rows("user_backup_codes", alice.id).await, 0);
}

pub(crate) async fn disable_mfa_deletes_credential_and_codes_and_bumps_the_epoch(
    store: &TestStore,
) {
    let alice = new_user(store, "alice@example.com").await;
    let bob = new_user(store, "bob@example.com").await;
    for user in [&alice, &bob] {
        store
            .upsert_mfa_credential(&MfaCredential::new(user.id, "k1:x".into(), t0()))
            .await
            .unwrap();
        assert!(store.confirm_mfa(user.id, 10, t0()).await.unwrap());
        store
            .replace_backup_codes(user.id, &codes(1..=3), t0())
            .await
            .unwrap();
    }
    assert!(
        store
            .consume_backup_code(alice.id, &[1; 32], t0())
            .await
            .unwrap()
    );
    assert_eq!(store.increment_trust_epoch(alice.id).await.unwrap(), 1);

    store.disable_mfa(alice.id).await.unwrap();

    let stored = store.user_by_id(alice.id).await.unwrap().unwrap();
    assert!(!stored.mfa_enabled);
    assert_eq!(
        stored.mfa_trust_epoch, 2,
        "disabling MFA revokes every trusted browser"
    );
    assert_eq!(store.mfa_credential(alice.id).await.unwrap(), None);
    assert_eq!(store.remaining_backup_codes(alice.id).await.unwrap(), 0);
    assert_eq!(
        store.count_rows("user_backup_codes", alice.id).await,
        0,
        "used codes are deleted too"
    );
    assert_eq!(store.count_rows("user_mfa_credentials", alice.id).await, 0);
    assert!(
        !store
            .consume_backup_code(alice.id, &[2; 32], t0())
            .await
            .unwrap()
    );
    assert!(!store.use_totp_step(alice.id, 11).await.unwrap());

    let bobs = store.user_by_id(bob.id).await.unwrap().unwrap();
    assert!(bobs.mfa_enabled);
    assert_eq!(bobs.mfa_trust_epoch, 0);
    assert_eq!(store.remaining_backup_codes(bob.id).await.unwrap(), 3);
    assert!(store.mfa_credential(bob.id).await.unwrap().is_some());
}

pub(crate) async fn unknown_mfa_lookups_are_not_errors(store: &TestStore) {
    let alice = new_user(store, "alice@example.com").await;
    let ghost = UserId::new(t0());
    for user in [alice.id, ghost] {
        assert_eq!(store.mfa_credential(user).await.unwrap(), None);
        assert_eq!(store.remaining_backup_codes(user).await.unwrap(), 0);
        assert!(
            !store
                .consume_backup_code(user, &[1; 32], t0())
                .await
                .unwrap()
        );
        assert!(!store.use_totp_step(user, 1).await.unwrap());
        assert!(!store.confirm_mfa(user, 1, t0()).await.unwrap());
    }
    assert!(
        !store
            .user_by_id(alice.id)
            .await
            .unwrap()
            .unwrap()
            .mfa_enabled
    );
}
