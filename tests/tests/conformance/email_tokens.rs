//! `EmailTokenStore`: single-use, context-bound email tokens.

use sigra_core::ids::UserId;
use sigra_core::model::EmailToken;
use sigra_core::store::StoreError;
use sigra_core::token::{RawToken, TokenContext};
use sigra_tests::{TestStore, t0};

use super::{at_minutes, concurrently, new_user};

async fn issue(
    store: &TestStore,
    user: UserId,
    context: TokenContext,
    sent_to: &str,
) -> (RawToken, EmailToken) {
    let token = RawToken::generate().unwrap();
    let row = EmailToken::new(
        token.hash(),
        user,
        context,
        sent_to.to_owned(),
        at_minutes(3),
    );
    store.insert_email_token(&row).await.unwrap();
    (token, row)
}

pub(crate) async fn email_token_round_trips_and_is_taken_once(store: &TestStore) {
    let alice = new_user(store, "alice@example.com").await;
    for context in [
        TokenContext::Confirm,
        TokenContext::ResetPassword,
        TokenContext::ChangeEmail,
    ] {
        let (token, row) = issue(store, alice.id, context, "new-address@example.com").await;
        assert_eq!(
            store
                .take_email_token(&token.hash(), context)
                .await
                .unwrap(),
            Some(row),
            "{context}"
        );
        assert_eq!(
            store
                .take_email_token(&token.hash(), context)
                .await
                .unwrap(),
            None,
            "{context}: single use"
        );
    }
    assert_eq!(store.count_rows("user_tokens", alice.id).await, 0);
}

pub(crate) async fn take_is_bound_to_the_context(store: &TestStore) {
    let alice = new_user(store, "alice@example.com").await;
    let (token, row) = issue(
        store,
        alice.id,
        TokenContext::ResetPassword,
        "alice@example.com",
    )
    .await;
    for wrong in [
        TokenContext::Confirm,
        TokenContext::ChangeEmail,
        TokenContext::Session,
        TokenContext::Api,
    ] {
        assert_eq!(
            store.take_email_token(&token.hash(), wrong).await.unwrap(),
            None,
            "taken as {wrong}"
        );
    }
    // A refused take leaves the token usable in its own context.
    assert_eq!(
        store
            .take_email_token(&token.hash(), TokenContext::ResetPassword)
            .await
            .unwrap(),
        Some(row)
    );
}

pub(crate) async fn concurrent_takes_have_one_winner(store: &TestStore) {
    let alice = new_user(store, "alice@example.com").await;
    let (token, row) = issue(
        store,
        alice.id,
        TokenContext::ResetPassword,
        "alice@example.com",
    )
    .await;
    let hash = token.hash();
    let results = concurrently(20, |_| {
        let store = store.store();
        async move {
            store
                .take_email_token(&hash, TokenContext::ResetPassword)
                .await
        }
    })
    .await;
    let winners: Vec<EmailToken> = results.into_iter().filter_map(|r| r.unwrap()).collect();
    assert_eq!(
        winners,
        vec![row],
        "exactly one concurrent take gets the token"
    );
}

pub(crate) async fn delete_user_email_tokens_by_context_or_all(store: &TestStore) {
    let alice = new_user(store, "alice@example.com").await;
    let bob = new_user(store, "bob@example.com").await;
    let (confirm, _) = issue(store, alice.id, TokenContext::Confirm, "alice@example.com").await;
    let (reset1, _) = issue(
        store,
        alice.id,
        TokenContext::ResetPassword,
        "alice@example.com",
    )
    .await;
    let (reset2, _) = issue(
        store,
        alice.id,
        TokenContext::ResetPassword,
        "alice@example.com",
    )
    .await;
    let (change, _) = issue(
        store,
        alice.id,
        TokenContext::ChangeEmail,
        "new@example.com",
    )
    .await;
    let (bobs, bobs_row) = issue(
        store,
        bob.id,
        TokenContext::ResetPassword,
        "bob@example.com",
    )
    .await;

    assert_eq!(
        store
            .delete_user_email_tokens(alice.id, Some(TokenContext::ResetPassword))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .take_email_token(&reset1.hash(), TokenContext::ResetPassword)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .take_email_token(&reset2.hash(), TokenContext::ResetPassword)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.count_rows("user_tokens", alice.id).await,
        2,
        "other contexts are kept"
    );

    assert_eq!(
        store
            .delete_user_email_tokens(alice.id, None)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .take_email_token(&confirm.hash(), TokenContext::Confirm)
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.count_rows("user_tokens", alice.id).await, 0);
    assert_eq!(
        store
            .take_email_token(&change.hash(), TokenContext::ChangeEmail)
            .await
            .unwrap(),
        None
    );

    // Other users' tokens are untouched.
    assert_eq!(
        store
            .take_email_token(&bobs.hash(), TokenContext::ResetPassword)
            .await
            .unwrap(),
        Some(bobs_row)
    );
}

pub(crate) async fn unknown_email_tokens_are_not_errors(store: &TestStore) {
    let alice = new_user(store, "alice@example.com").await;
    let ghost = RawToken::generate().unwrap();
    assert_eq!(
        store
            .take_email_token(&ghost.hash(), TokenContext::Confirm)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .delete_user_email_tokens(alice.id, None)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .delete_user_email_tokens(alice.id, Some(TokenContext::Confirm))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .delete_user_email_tokens(UserId::new(t0()), None)
            .await
            .unwrap(),
        0
    );
}

pub(crate) async fn duplicate_email_token_hash_is_refused(store: &TestStore) {
    let alice = new_user(store, "alice@example.com").await;
    let bob = new_user(store, "bob@example.com").await;
    let (token, original) = issue(
        store,
        alice.id,
        TokenContext::ResetPassword,
        "alice@example.com",
    )
    .await;
    // The same hash again, even for another user and context: refused.
    let clash = EmailToken::new(
        token.hash(),
        bob.id,
        TokenContext::Confirm,
        "bob@example.com".into(),
        at_minutes(4),
    );
    match store.insert_email_token(&clash).await {
        Err(StoreError::DuplicateToken) => {}
        other => panic!(
            "a second email token with the same hash: expected DuplicateToken, got {other:?}"
        ),
    }
    assert_eq!(store.count_rows("user_tokens", bob.id).await, 0);
    assert_eq!(
        store
            .take_email_token(&token.hash(), TokenContext::ResetPassword)
            .await
            .unwrap(),
        Some(original),
        "the first token is untouched"
    );
}
