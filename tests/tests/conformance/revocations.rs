//! The revocation log (`RevocationStore`): every write that changes what a
//! session lookup returns appends a row for its user, by trigger; nothing
//! else does; ids increase; pruning keeps the newest row; PostgreSQL pushes
//! each committed revocation to listeners.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use chrono::TimeDelta;
use sigra_core::ids::UserId;
use sigra_core::model::{AuditAction, AuditEvent, MfaCredential, SessionKind};
use sigra_core::store::{RevocationNotice, Store};
use sigra_tests::{Backend, TestStore, t0};

use super::{at_minutes, new_session, new_user, phc};

/// The users named by log rows after `after`.
async fn revoked_since(store: &TestStore, after: i64) -> Vec<UserId> {
    store
        .revocations_after(after, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.user_id)
        .collect()
}

type Write = for<'a> fn(&'a dyn Store, UserId) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

pub(crate) async fn every_revoking_write_appends_a_row_for_its_user(store: &TestStore) {
    let writes: [(&str, Write); 13] = [
        ("delete_user_sessions", |s, u| {
            Box::pin(async move {
                s.delete_user_sessions(u, None).await.unwrap();
            })
        }),
        ("change_password", |s, u| {
            Box::pin(async move {
                s.change_password(u, &phc("bmV3"), None, t0())
                    .await
                    .unwrap();
            })
        }),
        ("set_password_hash", |s, u| {
            Box::pin(async move {
                assert!(
                    s.set_password_hash(u, &phc("cmVoYXNo"), t0())
                        .await
                        .unwrap()
                );
            })
        }),
        ("increment_trust_epoch", |s, u| {
            Box::pin(async move {
                s.increment_trust_epoch(u).await.unwrap();
            })
        }),
        ("confirm_email", |s, u| {
            Box::pin(async move {
                assert!(s.confirm_email(u, t0()).await.unwrap());
            })
        }),
        ("change_email", |s, u| {
            Box::pin(async move {
                s.change_email(u, &format!("moved-{u}@example.com"), t0())
                    .await
                    .unwrap();
            })
        }),
        ("schedule_deletion", |s, u| {
            Box::pin(async move {
                s.schedule_deletion(u, at_minutes(60), t0()).await.unwrap();
            })
        }),
        ("record_login_failure (lock)", |s, u| {
            Box::pin(async move {
                let count = s
                    .record_login_failure(u, t0(), 1, TimeDelta::minutes(15))
                    .await
                    .unwrap();
                assert!(count.locked_until.is_some());
            })
        }),
        ("confirm_mfa", |s, u| {
            Box::pin(async move {
                s.upsert_mfa_credential(&MfaCredential::new(u, "k1:x".into(), t0()))
                    .await
                    .unwrap();
                assert!(s.confirm_mfa(u, 1, t0()).await.unwrap());
            })
        }),
        ("disable_mfa", |s, u| {
            Box::pin(async move {
                s.disable_mfa(u).await.unwrap();
            })
        }),
        ("delete_user", |s, u| {
            Box::pin(async move {
                assert!(s.delete_user(u).await.unwrap());
            })
        }),
        ("delete_session_by_hash", |_, _| Box::pin(async {})),
        ("set_sudo", |_, _| Box::pin(async {})),
    ];
    for (i, (name, write)) in writes.into_iter().enumerate() {
        let user = new_user(store, &format!("user{i}@example.com")).await;
        let bystander = new_user(store, &format!("bystander{i}@example.com")).await;
        let (token, session) = new_session(store, &user, SessionKind::Standard, t0()).await;
        new_session(store, &bystander, SessionKind::Standard, t0()).await;
        let before = store.latest_revocation_id().await.unwrap();
        match name {
            "delete_session_by_hash" => {
                assert_eq!(
                    store.delete_session_by_hash(&token.hash()).await.unwrap(),
                    Some(user.id)
                );
            }
            "set_sudo" => store.set_sudo(session.id, at_minutes(1)).await.unwrap(),
            _ => write(&***store, user.id).await,
        }
        let revoked = revoked_since(store, before).await;
        assert!(
            !revoked.is_empty() && revoked.iter().all(|u| *u == user.id),
            "{name}: expected rows for the user only, got {revoked:?}"
        );
        assert!(
            store.latest_revocation_id().await.unwrap() > before,
            "{name}"
        );
    }

    // A cancelled deletion and a cleared lock are visible changes too.
    let user = new_user(store, "late@example.com").await;
    store
        .schedule_deletion(user.id, at_minutes(60), t0())
        .await
        .unwrap();
    store
        .record_login_failure(user.id, t0(), 1, TimeDelta::minutes(15))
        .await
        .unwrap();
    let before = store.latest_revocation_id().await.unwrap();
    assert!(store.cancel_deletion(user.id, t0()).await.unwrap());
    assert_eq!(
        revoked_since(store, before).await,
        [user.id],
        "cancel_deletion"
    );
    let before = store.latest_revocation_id().await.unwrap();
    store.clear_login_failures(user.id).await.unwrap();
    assert_eq!(
        revoked_since(store, before).await,
        [user.id],
        "clear_login_failures"
    );
}

pub(crate) async fn writes_that_change_nothing_visible_append_nothing(store: &TestStore) {
    let user = new_user(store, "alice@example.com").await;
    let before = store.latest_revocation_id().await.unwrap();
    let (_, session) = new_session(store, &user, SessionKind::Standard, t0()).await;
    new_session(store, &user, SessionKind::RememberMe, t0()).await;
    store
        .touch_session(session.id, at_minutes(10))
        .await
        .unwrap();
    // A failure below the threshold changes only the count.
    store
        .record_login_failure(user.id, t0(), 5, TimeDelta::minutes(15))
        .await
        .unwrap();
    store
        .record_audit(&AuditEvent::new(
            AuditAction::LoginSuccess,
            Some(user.id),
            t0(),
        ))
        .await
        .unwrap();
    // Deleting nothing, and clearing what is already clear, is not a change.
    assert_eq!(
        store
            .delete_user_sessions(UserId::new(t0()), None)
            .await
            .unwrap(),
        0
    );
    assert!(!store.cancel_deletion(user.id, t0()).await.unwrap());
    assert_eq!(
        revoked_since(store, before).await,
        Vec::<UserId>::new(),
        "no revocation was written"
    );
    assert_eq!(store.latest_revocation_id().await.unwrap(), before);
}

pub(crate) async fn ids_increase_and_reads_are_ordered_and_limited(store: &TestStore) {
    assert_eq!(store.latest_revocation_id().await.unwrap(), 0, "empty log");
    let mut users = Vec::new();
    for i in 0..5 {
        let user = new_user(store, &format!("u{i}@example.com")).await;
        store.increment_trust_epoch(user.id).await.unwrap();
        users.push(user.id);
    }
    let all = store.revocations_after(0, 100).await.unwrap();
    assert_eq!(all.iter().map(|r| r.user_id).collect::<Vec<_>>(), users);
    assert!(all.windows(2).all(|w| w[0].id < w[1].id), "{all:?}");
    let latest = store.latest_revocation_id().await.unwrap();
    assert_eq!(latest, all.last().unwrap().id);
    assert!(
        store
            .revocations_after(latest, 100)
            .await
            .unwrap()
            .is_empty()
    );
    let page = store.revocations_after(all[1].id, 2).await.unwrap();
    assert_eq!(page, all[2..4].to_vec());
}

pub(crate) async fn pruning_keeps_the_newest_row(store: &TestStore) {
    for i in 0..3 {
        let user = new_user(store, &format!("u{i}@example.com")).await;
        store.increment_trust_epoch(user.id).await.unwrap();
    }
    let latest = store.latest_revocation_id().await.unwrap();
    let long_ago = t0() - TimeDelta::days(365 * 1000);
    let far_future = t0() + TimeDelta::days(365 * 1000);
    assert_eq!(store.prune_revocations(long_ago).await.unwrap(), 0);
    assert_eq!(store.prune_revocations(far_future).await.unwrap(), 2);
    assert_eq!(store.latest_revocation_id().await.unwrap(), latest);
    assert_eq!(store.revocations_after(0, 10).await.unwrap().len(), 1);
}

pub(crate) async fn postgres_pushes_each_committed_revocation(store: &TestStore) {
    let listener = store.revocation_listener().await.unwrap();
    let Some(mut listener) = listener else {
        assert_ne!(store.backend(), Backend::Postgres, "PostgreSQL must push");
        return;
    };
    let alice = new_user(store, "alice@example.com").await;
    new_session(store, &alice, SessionKind::Standard, t0()).await;
    new_session(store, &alice, SessionKind::Standard, t0()).await;
    store.delete_user_sessions(alice.id, None).await.unwrap();
    let notice = tokio::time::timeout(Duration::from_secs(5), listener.next())
        .await
        .expect("a notification within 5 s")
        .unwrap();
    assert_eq!(notice, RevocationNotice::Revoked(alice.id));
}
