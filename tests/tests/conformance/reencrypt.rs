//! Key rotation at rest: the `MfaStore` ports the re-encryption task walks
//! with (`mfa_secrets_page`, `mfa_secret_count`, `replace_mfa_secret`), and
//! the task itself (`sigra_core::reencrypt`, behind `sigra reencrypt`) on
//! every backend: old rows become current and open to the same secret, a
//! rerun changes nothing, a walk resumes from an id, and a row the app
//! changes mid-walk is never clobbered.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use sigra_core::encryption::{EncryptionError, EncryptionKey, FieldCipher};
use sigra_core::ids::UserId;
use sigra_core::model::MfaCredential;
use sigra_core::reencrypt::{
    ReencryptFailure, ReencryptProgress, mfa_secret_aad, reencrypt_mfa_secrets,
};
use sigra_core::store::{FailureCount, MfaStore, Store, StoreResult};
use sigra_tests::{TestStore, t0};

use super::{concurrently, new_user};

fn key(byte: u8) -> EncryptionKey {
    EncryptionKey::from_bytes([byte; 32]).unwrap()
}

/// The cipher of a deployment whose current key is `current`, with `old` keys.
fn cipher(current: u8, old: &[u8]) -> FieldCipher {
    FieldCipher::new(key(current), old.iter().map(|b| key(*b)).collect())
}

/// `secret` sealed for `user` with key `byte`, as an app with that key would store it.
fn sealed(byte: u8, user: UserId, secret: &str) -> String {
    cipher(byte, &[])
        .encrypt(secret.as_bytes(), &mfa_secret_aad(user))
        .unwrap()
}

fn opened(cipher: &FieldCipher, user: UserId, stored: &str) -> String {
    String::from_utf8(
        cipher
            .decrypt(stored, &mfa_secret_aad(user))
            .unwrap()
            .to_vec(),
    )
    .unwrap()
}

/// One seeded credential: its owner, its plaintext and the key that sealed it.
#[derive(Debug, Clone)]
struct Seeded {
    id: UserId,
    secret: String,
    key: u8,
}

/// Users `0..n` with a credential each, sealed with `key_of(i)`; sorted by id.
async fn seed(store: &TestStore, n: usize, key_of: impl Fn(usize) -> u8) -> Vec<Seeded> {
    let mut out = Vec::new();
    for i in 0..n {
        let user = new_user(store, &format!("user{i}@example.com")).await;
        let secret = format!("JBSWY3DPEHPK3PX{i:02}");
        let key = key_of(i);
        let credential = MfaCredential::new(user.id, sealed(key, user.id, &secret), t0());
        store.upsert_mfa_credential(&credential).await.unwrap();
        out.push(Seeded {
            id: user.id,
            secret,
            key,
        });
    }
    out.sort_by_key(|s| s.id);
    out
}

/// Every stored `(id, secret_encrypted)`, by walking the port page by page.
async fn stored(store: &TestStore) -> Vec<(UserId, String)> {
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = store.mfa_secrets_page(after, 3).await.unwrap();
        let Some((last, _)) = page.last() else {
            return all;
        };
        after = Some(*last);
        all.extend(page);
    }
}

async fn run(
    store: &dyn MfaStore,
    cipher: &FieldCipher,
    after: Option<UserId>,
    batch: u32,
) -> (ReencryptProgress, Vec<u64>) {
    let mut pages = Vec::new();
    let progress = reencrypt_mfa_secrets(store, cipher, after, batch, |p| pages.push(p.scanned))
        .await
        .unwrap();
    (progress, pages)
}

pub(crate) async fn mfa_secrets_page_walks_every_credential_once_in_id_order(store: &TestStore) {
    assert_eq!(store.mfa_secret_count().await.unwrap(), 0);
    assert!(store.mfa_secrets_page(None, 10).await.unwrap().is_empty());
    new_user(store, "no-mfa@example.com").await;
    let seeded = seed(store, 7, |_| 1).await;
    // One of them confirmed, the others pending: all are listed.
    store.confirm_mfa(seeded[3].id, 1, t0()).await.unwrap();
    assert_eq!(store.mfa_secret_count().await.unwrap(), 7);

    let mut sizes = Vec::new();
    let mut walked = Vec::new();
    let mut after = None;
    loop {
        let page = store.mfa_secrets_page(after, 3).await.unwrap();
        sizes.push(page.len());
        let Some((last, _)) = page.last() else { break };
        after = Some(*last);
        walked.extend(page);
    }
    assert_eq!(sizes, [3, 3, 1, 0]);
    let ids: Vec<UserId> = walked.iter().map(|(id, _)| *id).collect();
    let expected: Vec<UserId> = seeded.iter().map(|s| s.id).collect();
    assert_eq!(ids, expected, "every row once, in UserId order");
    for ((id, stored), seeded) in walked.iter().zip(&seeded) {
        assert_eq!(opened(&cipher(1, &[]), *id, stored), seeded.secret);
    }

    // Resuming after any id gives exactly the rows after it.
    for cut in 0..seeded.len() {
        let rest = store
            .mfa_secrets_page(Some(seeded[cut].id), 100)
            .await
            .unwrap();
        let rest: Vec<UserId> = rest.into_iter().map(|(id, _)| id).collect();
        assert_eq!(rest, expected[cut + 1..], "after row {cut}");
    }
    // An id that is not stored works as a bound too.
    let before_all: UserId = "00000000-0000-0000-0000-000000000000".parse().unwrap();
    assert_eq!(
        store
            .mfa_secrets_page(Some(before_all), 100)
            .await
            .unwrap()
            .len(),
        7
    );
}

pub(crate) async fn replace_mfa_secret_is_a_compare_and_swap(store: &TestStore) {
    let seeded = seed(store, 2, |_| 1).await;
    let (alice, bob) = (seeded[0].id, seeded[1].id);
    store.confirm_mfa(alice, 42, t0()).await.unwrap();
    store
        .record_mfa_failure(alice, t0(), 5, TimeDelta::minutes(15))
        .await
        .unwrap();
    let before = store.mfa_credential(alice).await.unwrap().unwrap();
    let bob_before = store.mfa_credential(bob).await.unwrap().unwrap();

    // The wrong expected value: nothing changes.
    assert!(
        !store
            .replace_mfa_secret(alice, "sigra1:00000000:nope", "sigra1:11111111:new")
            .await
            .unwrap()
    );
    assert_eq!(store.mfa_credential(alice).await.unwrap().unwrap(), before);

    // The right one: only the secret changes.
    let new = sealed(2, alice, "JBSWY3DPEHPK3PXP");
    assert!(
        store
            .replace_mfa_secret(alice, &before.secret_encrypted, &new)
            .await
            .unwrap()
    );
    let after = store.mfa_credential(alice).await.unwrap().unwrap();
    assert_eq!(
        after,
        MfaCredential {
            secret_encrypted: new.clone(),
            ..before.clone()
        }
    );
    assert_eq!(after.last_used_step, Some(42));
    assert_eq!(after.failed_attempts, 1);
    assert_eq!(
        store.mfa_credential(bob).await.unwrap().unwrap(),
        bob_before
    );

    // The same swap again is stale now; an unknown user has nothing to swap.
    assert!(
        !store
            .replace_mfa_secret(alice, &before.secret_encrypted, "sigra1:22222222:x")
            .await
            .unwrap()
    );
    let nobody = UserId::new(t0());
    assert!(!store.replace_mfa_secret(nobody, &new, "x").await.unwrap());
    assert_eq!(
        store
            .mfa_credential(alice)
            .await
            .unwrap()
            .unwrap()
            .secret_encrypted,
        new
    );

    // Concurrent swaps from the same value: exactly one wins, and it is what is stored.
    let db = store.store();
    let results = concurrently(8, |i| {
        let db = Arc::clone(&db);
        let expected = new.clone();
        async move {
            let mine = format!("sigra1:0000000{i}:candidate");
            let won = db
                .replace_mfa_secret(alice, &expected, &mine)
                .await
                .unwrap();
            (won, mine)
        }
    })
    .await;
    let winners: Vec<&String> = results
        .iter()
        .filter(|(won, _)| *won)
        .map(|(_, v)| v)
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    assert_eq!(
        &store
            .mfa_credential(alice)
            .await
            .unwrap()
            .unwrap()
            .secret_encrypted,
        winners[0]
    );
}

pub(crate) async fn reencryption_makes_old_rows_current_and_a_rerun_changes_nothing(
    store: &TestStore,
) {
    // Keys 1 and 2 are retired, 3 is current; one row was sealed with a key
    // nobody configured any more (9).
    let seeded = seed(store, 10, |i| match i {
        0..=3 => 1,
        4..=6 => 2,
        7 | 8 => 3,
        _ => 9,
    })
    .await;
    let lost = seeded.iter().find(|s| s.key == 9).unwrap().id;
    let lost_before = store.mfa_credential(lost).await.unwrap().unwrap();
    let rotated = cipher(3, &[2, 1]);

    let (progress, pages) = run(&***store, &rotated, None, 4).await;
    assert_eq!(
        (
            progress.scanned,
            progress.reencrypted,
            progress.already_current,
            progress.failed,
            progress.gone
        ),
        (10, 7, 2, 1, 0),
        "{progress:?}"
    );
    assert_eq!(pages, [4, 8, 10], "progress after each page of 4");
    assert_eq!(progress.last, Some(seeded[9].id));
    assert!(
        matches!(
            progress.failures.as_slice(),
            [(id, ReencryptFailure::Open(EncryptionError::UnknownKey { .. }))] if *id == lost
        ),
        "{:?}",
        progress.failures
    );

    // Every other row is sealed with key 3 alone and opens to its own secret.
    let current_only = cipher(3, &[]);
    let after_first = stored(store).await;
    for ((id, value), seeded) in after_first.iter().zip(&seeded) {
        if *id == lost {
            assert_eq!(
                value, &lost_before.secret_encrypted,
                "a failed row is left alone"
            );
            continue;
        }
        assert!(current_only.is_current_key(value), "{id}");
        assert_eq!(opened(&current_only, *id, value), seeded.secret, "{id}");
    }

    // A rerun finds nothing to do and writes nothing.
    let (again, _) = run(&***store, &rotated, None, 4).await;
    assert_eq!(
        (again.reencrypted, again.already_current, again.failed),
        (0, 9, 1),
        "{again:?}"
    );
    assert_eq!(stored(store).await, after_first, "not one row rewritten");

    // The next rotation (4 current, 3 old), interrupted after the fifth row
    // and resumed there: each part does only its own share.
    let next = cipher(4, &[3]);
    let cut = seeded[4].id;
    let lost_in = |rows: &[Seeded]| rows.iter().filter(|s| s.id == lost).count() as u64;
    let (tail, _) = run(&***store, &next, Some(cut), 2).await;
    assert_eq!(tail.scanned, 5);
    assert_eq!(tail.reencrypted, 5 - lost_in(&seeded[5..]), "{tail:?}");
    assert_eq!(tail.already_current, 0);
    let (whole, _) = run(&***store, &next, None, 2).await;
    assert_eq!(whole.reencrypted, 5 - lost_in(&seeded[..5]), "{whole:?}");
    assert_eq!(
        whole.already_current,
        5 - lost_in(&seeded[5..]),
        "{whole:?}"
    );
    assert_eq!(whole.failed, 1);
    let final_rows = stored(store).await;
    let newest = cipher(4, &[]);
    for ((id, value), seeded) in final_rows.iter().zip(&seeded) {
        if *id != lost {
            assert_eq!(opened(&newest, *id, value), seeded.secret);
        }
    }
}

/// A store whose `replace_mfa_secret` first lets "the app" write the row:
/// the write a user makes by re-enrolling (or disabling MFA) between the
/// task's read and its swap.
#[derive(Debug)]
struct AppWritesFirst {
    inner: Arc<dyn Store>,
    write: Mutex<Vec<(UserId, AppWrite)>>,
}

#[derive(Debug, Clone)]
enum AppWrite {
    /// Re-enrolment: a new credential with this sealed secret.
    Reenrol(String),
    /// MFA disabled: the credential is deleted.
    Disable,
}

#[async_trait]
impl MfaStore for AppWritesFirst {
    async fn upsert_mfa_credential(&self, credential: &MfaCredential) -> StoreResult<()> {
        self.inner.upsert_mfa_credential(credential).await
    }
    async fn mfa_credential(&self, user: UserId) -> StoreResult<Option<MfaCredential>> {
        self.inner.mfa_credential(user).await
    }
    async fn confirm_mfa(&self, user: UserId, step: i64, now: DateTime<Utc>) -> StoreResult<bool> {
        self.inner.confirm_mfa(user, step, now).await
    }
    async fn use_totp_step(&self, user: UserId, step: i64) -> StoreResult<bool> {
        self.inner.use_totp_step(user, step).await
    }
    async fn record_mfa_failure(
        &self,
        user: UserId,
        now: DateTime<Utc>,
        threshold: i32,
        lock_for: TimeDelta,
    ) -> StoreResult<FailureCount> {
        self.inner
            .record_mfa_failure(user, now, threshold, lock_for)
            .await
    }
    async fn clear_mfa_failures(&self, user: UserId) -> StoreResult<()> {
        self.inner.clear_mfa_failures(user).await
    }
    async fn disable_mfa(&self, user: UserId) -> StoreResult<()> {
        self.inner.disable_mfa(user).await
    }
    async fn replace_backup_codes(
        &self,
        user: UserId,
        hashes: &[[u8; 32]],
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.inner.replace_backup_codes(user, hashes, now).await
    }
    async fn consume_backup_code(
        &self,
        user: UserId,
        hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.inner.consume_backup_code(user, hash, now).await
    }
    async fn remaining_backup_codes(&self, user: UserId) -> StoreResult<u64> {
        self.inner.remaining_backup_codes(user).await
    }
    async fn mfa_secret_count(&self) -> StoreResult<u64> {
        self.inner.mfa_secret_count().await
    }
    async fn mfa_secrets_page(
        &self,
        after: Option<UserId>,
        limit: u32,
    ) -> StoreResult<Vec<(UserId, String)>> {
        self.inner.mfa_secrets_page(after, limit).await
    }
    async fn replace_mfa_secret(&self, user: UserId, old: &str, new: &str) -> StoreResult<bool> {
        let write = {
            let mut writes = self.write.lock().unwrap();
            let at = writes.iter().position(|(id, _)| *id == user);
            at.map(|at| writes.remove(at).1)
        };
        match write {
            Some(AppWrite::Reenrol(value)) => {
                let credential = MfaCredential::new(user, value, t0() + TimeDelta::minutes(1));
                self.inner.upsert_mfa_credential(&credential).await?;
            }
            Some(AppWrite::Disable) => self.inner.disable_mfa(user).await?,
            None => {}
        }
        self.inner.replace_mfa_secret(user, old, new).await
    }
}

pub(crate) async fn reencryption_never_clobbers_a_row_the_app_changes_meanwhile(store: &TestStore) {
    let seeded = seed(store, 4, |_| 1).await;
    let rotated = cipher(2, &[1]);
    let [reenrolled, straggler, disabled, untouched] = [0, 1, 2, 3].map(|i| seeded[i].id);
    let racing = AppWritesFirst {
        inner: store.store(),
        write: Mutex::new(vec![
            // A node already on the new key re-enrols this user.
            (
                reenrolled,
                AppWrite::Reenrol(sealed(2, reenrolled, "NEWSECRETFROMAPP")),
            ),
            // A node still on the old key re-enrols this one.
            (
                straggler,
                AppWrite::Reenrol(sealed(1, straggler, "STRAGGLERSECRET2")),
            ),
            (disabled, AppWrite::Disable),
        ]),
    };

    let (progress, _) = run(&racing, &rotated, None, 10).await;
    assert_eq!(
        (
            progress.reencrypted,
            progress.already_current,
            progress.gone,
            progress.failed
        ),
        (2, 1, 1, 0),
        "the straggler's new row and the untouched row re-encrypted; the re-enrolled \
         one found current; the disabled one gone: {progress:?}"
    );
    let current_only = cipher(2, &[]);
    let row = |id| async move { store.mfa_credential(id).await.unwrap() };
    let value = row(reenrolled).await.unwrap().secret_encrypted;
    assert_eq!(
        opened(&current_only, reenrolled, &value),
        "NEWSECRETFROMAPP",
        "the app's write survived"
    );
    let value = row(straggler).await.unwrap().secret_encrypted;
    assert!(current_only.is_current_key(&value));
    assert_eq!(
        opened(&current_only, straggler, &value),
        "STRAGGLERSECRET2",
        "re-encrypted from the app's new value, not the one first read"
    );
    assert_eq!(row(disabled).await, None, "not resurrected");
    let value = row(untouched).await.unwrap().secret_encrypted;
    assert_eq!(opened(&current_only, untouched, &value), seeded[3].secret);
}
