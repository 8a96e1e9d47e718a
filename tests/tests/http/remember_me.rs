//! Remember me: the `_sigra_remember_me` cookie alone brings a session back; without it nothing is remembered.

use sigra_tests::Backend;
use sigra_tests::http::{Client, REMEMBER_ME_COOKIE, SESSION_COOKIE, StatusCode};

use super::{PASSWORD, assert_signed_in_as, assert_signed_out, seed_user, server};

pub(crate) async fn remember_me_cookie_alone_restores_the_session(backend: Backend) {
    let server = server(backend).await;
    seed_user(&server, "alice@example.com").await;
    let mut client = server.client();
    let answer = client.log_in("alice@example.com", PASSWORD, true).await;
    answer.assert_redirect("/");
    let remember = answer
        .set_cookie(REMEMBER_ME_COOKIE)
        .expect("remember_me=true sets the remember-me cookie");
    assert!(!remember.is_removal());
    assert_eq!(
        remember.max_age(),
        Some(60 * 24 * 60 * 60),
        "max-age = session_ttl"
    );
    let old_session = client.cookie(SESSION_COOKIE).unwrap().to_owned();

    // A fresh client with nothing but the remember-me cookie (the browser was restarted).
    let mut fresh = Client::with_cookies(&server, &[(REMEMBER_ME_COOKIE, &remember.value)]);
    let dashboard = fresh.get("/dashboard").await;
    assert_signed_in_as(&dashboard, "alice@example.com");
    let session = dashboard
        .set_cookie(SESSION_COOKIE)
        .expect("the session cookie is rehydrated");
    assert!(!session.is_removal());
    assert_ne!(
        session.value, old_session,
        "with new contents (a new CSRF token)"
    );
    assert_ne!(dashboard.csrf_token().as_deref(), client.csrf_token());

    // The rehydrated session cookie works on its own.
    let mut session_only = Client::with_cookies(&server, &[(SESSION_COOKIE, &session.value)]);
    assert_signed_in_as(&session_only.get("/dashboard").await, "alice@example.com");
    // And the client can act with the new CSRF token.
    fresh
        .post_with_csrf("/users/log-out", &[])
        .await
        .assert_redirect("/");
    assert_signed_out(&mut fresh).await;
    let mut replay = Client::with_cookies(&server, &[(REMEMBER_ME_COOKIE, &remember.value)]);
    assert_signed_out(&mut replay).await;
}

pub(crate) async fn without_remember_me_no_remember_cookie_is_set(backend: Backend) {
    let server = server(backend).await;
    seed_user(&server, "alice@example.com").await;
    let mut client = server.client();
    let answer = client.log_in("alice@example.com", PASSWORD, false).await;
    answer.assert_redirect("/");
    if let Some(cookie) = answer.set_cookie(REMEMBER_ME_COOKIE) {
        assert!(
            cookie.is_removal(),
            "only a removal is allowed: {}",
            cookie.raw
        );
    }
    assert_eq!(client.cookie(REMEMBER_ME_COOKIE), None);
    let dashboard = client.get("/dashboard").await;
    assert_signed_in_as(&dashboard, "alice@example.com");
    assert!(
        dashboard
            .set_cookie(REMEMBER_ME_COOKIE)
            .is_none_or(|c| c.is_removal())
    );

    // `remember_me` with any value but "true" is not a request to be remembered.
    let mut other = server.client();
    other.get("/users/log-in").await;
    let answer = other
        .post_with_csrf(
            "/users/log-in",
            &[
                ("email", "alice@example.com"),
                ("password", PASSWORD),
                ("remember_me", "false"),
            ],
        )
        .await;
    answer.assert_redirect("/");
    assert_eq!(other.cookie(REMEMBER_ME_COOKIE), None);

    // Without the session cookie, the browser is signed out.
    let mut restarted = client.clone();
    restarted.remove_cookie(SESSION_COOKIE);
    assert_signed_out(&mut restarted).await;
    assert_eq!(StatusCode::OK, client.get("/dashboard").await.status);
}
