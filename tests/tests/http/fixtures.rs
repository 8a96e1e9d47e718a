//! `sigra_web::testing`: the fixture's cookies are accepted by the real server, as a host app's tests rely on.

use sigra_core::auth::AuthError;
use sigra_tests::Backend;
use sigra_tests::http::{
    Client, Method, Page, REMEMBER_ME_COOKIE, SESSION_COOKIE, StatusCode, TestServer, headers,
};
use sigra_web::CSRF_FIELD;
use sigra_web::testing::{
    Authenticated, authenticated_fixture, authenticated_fixture_remember_me, signed_in_fixture,
};

use super::{PASSWORD, assert_signed_in_as, seed_user, server};

/// Sends `method path` with the fixture's `Cookie` header and nothing else of a jar.
async fn send(
    server: &TestServer,
    fixture: &Authenticated,
    method: Method,
    path: &str,
    extra: &[(&str, &str)],
    form: Option<&[(&str, &str)]>,
) -> Page {
    let cookie = fixture.cookie_header();
    let mut pairs = vec![("cookie", cookie.as_str())];
    pairs.extend_from_slice(extra);
    server
        .client()
        .request(method, path, headers(&pairs), form)
        .await
}

pub(crate) async fn the_fixture_cookie_header_signs_in_and_its_csrf_token_posts(backend: Backend) {
    let server = server(backend).await;
    let alice = authenticated_fixture(server.sigra(), "alice@example.com", PASSWORD)
        .await
        .unwrap();
    assert_eq!(alice.user.email, "alice@example.com");
    assert_eq!(alice.session.user_id, alice.user.id);
    assert_eq!(alice.remember_me_cookie(), None);

    // One header is all a request needs.
    let dashboard = send(&server, &alice, Method::GET, "/dashboard", &[], None).await;
    assert_signed_in_as(&dashboard, "alice@example.com");
    // The same cookies in a jar work too.
    let mut jar = Client::with_cookies(&server, &alice.cookies());
    assert_signed_in_as(&jar.get("/dashboard").await, "alice@example.com");

    // A POST with another token is refused; with the fixture's it goes through.
    let forged = send(
        &server,
        &alice,
        Method::POST,
        "/users/log-out",
        &[],
        Some(&[(CSRF_FIELD, "not-the-token")]),
    )
    .await;
    assert_eq!(
        forged.status,
        StatusCode::FORBIDDEN,
        "body: {}",
        forged.body
    );
    assert_signed_in_as(
        &send(&server, &alice, Method::GET, "/dashboard", &[], None).await,
        "alice@example.com",
    );
    send(
        &server,
        &alice,
        Method::POST,
        "/users/log-out",
        &[],
        Some(&[(CSRF_FIELD, alice.csrf_token())]),
    )
    .await
    .assert_redirect("/");
    // The log-out deleted the fixture's session: its cookie is dead now.
    send(&server, &alice, Method::GET, "/dashboard", &[], None)
        .await
        .assert_redirect("/users/log-in");

    // The token also works as the x-csrf-token header.
    let again = authenticated_fixture(server.sigra(), "alice@example.com", PASSWORD)
        .await
        .unwrap();
    assert_eq!(
        again.user.id, alice.user.id,
        "the same account, found again"
    );
    assert_ne!(again.session.id, alice.session.id, "in a new session");
    send(
        &server,
        &again,
        Method::DELETE,
        "/users/log-out",
        &[("x-csrf-token", again.csrf_token())],
        None,
    )
    .await
    .assert_redirect("/");
    send(&server, &again, Method::GET, "/dashboard", &[], None)
        .await
        .assert_redirect("/users/log-in");
}

pub(crate) async fn the_fixture_finds_existing_users_and_checks_their_password(backend: Backend) {
    let server = server(backend).await;
    let seeded = seed_user(&server, "bob@example.com").await;
    let bob = authenticated_fixture(server.sigra(), " Bob@Example.com ", PASSWORD)
        .await
        .unwrap();
    assert_eq!(bob.user.id, seeded.id);
    assert_eq!(server.user_count().await, 1);
    let wrong = authenticated_fixture(server.sigra(), "bob@example.com", "not the password").await;
    assert!(
        matches!(wrong, Err(AuthError::InvalidCredentials)),
        "{wrong:?}"
    );
    // Registration's rules apply to new accounts.
    let weak = authenticated_fixture(server.sigra(), "carol@example.com", "short").await;
    assert!(matches!(weak, Err(AuthError::WeakPassword(_))), "{weak:?}");

    // A session for a user at hand, without the password; each call is another browser.
    let other = signed_in_fixture(server.sigra(), &seeded, false)
        .await
        .unwrap();
    assert_ne!(other.session.id, bob.session.id);
    for fixture in [&bob, &other] {
        assert_signed_in_as(
            &send(&server, fixture, Method::GET, "/dashboard", &[], None).await,
            "bob@example.com",
        );
    }
    // Debug output shows neither the cookies nor the CSRF token.
    let debug = format!("{bob:?}");
    assert!(!debug.contains(bob.session_cookie()), "{debug}");
    assert!(!debug.contains(bob.csrf_token()), "{debug}");
}

pub(crate) async fn the_remember_me_fixture_cookie_alone_restores_the_session(backend: Backend) {
    let server = server(backend).await;
    let dana = authenticated_fixture_remember_me(server.sigra(), "dana@example.com", PASSWORD)
        .await
        .unwrap();
    let remember = dana
        .remember_me_cookie()
        .expect("the remember-me fixture carries the remember-me cookie");
    assert!(dana.cookie_header().contains(REMEMBER_ME_COOKIE));

    // A restarted browser: nothing but the remember-me cookie.
    let mut fresh = Client::with_cookies(&server, &[(REMEMBER_ME_COOKIE, remember)]);
    let dashboard = fresh.get("/dashboard").await;
    assert_signed_in_as(&dashboard, "dana@example.com");
    assert!(
        dashboard
            .set_cookie(SESSION_COOKIE)
            .is_some_and(|c| !c.is_removal()),
        "the session cookie is rehydrated"
    );
}
