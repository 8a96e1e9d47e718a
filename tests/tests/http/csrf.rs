//! CSRF and origin checks: a POST without the session's token, with a wrong one, or from another site is a 403 that changes nothing.

use sigra_tests::Backend;
use sigra_tests::http::{Method, StatusCode, headers};

use super::{PASSWORD, assert_signed_in_as, seed_user, server, signed_in};

pub(crate) async fn post_without_csrf_token_is_403_and_changes_nothing(backend: Backend) {
    let server = server(backend).await;
    let alice = seed_user(&server, "alice@example.com").await;
    let mut client = signed_in(&server, "alice@example.com", true).await;

    // Log out, log out everywhere: refused, the session stays valid.
    for path in ["/users/log-out", "/users/settings/sessions/log-out-all"] {
        let page = client.post_form(path, &[]).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
        assert!(page.set_cookie("_sigra_remember_me").is_none(), "{path}");
        assert_signed_in_as(&client.get("/dashboard").await, "alice@example.com");
    }
    assert_eq!(
        server.store().count_rows("user_sessions", alice.id).await,
        1
    );

    // Register and log in without a token: no user, no session.
    let mut visitor = server.client();
    visitor.get("/users/register").await;
    let page = visitor
        .post_form(
            "/users/register",
            &[("email", "mallory@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(server.user("mallory@example.com").await.is_none());
    let page = visitor
        .post_form(
            "/users/log-in",
            &[("email", "alice@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(
        server.store().count_rows("user_sessions", alice.id).await,
        1
    );
    visitor
        .get("/dashboard")
        .await
        .assert_redirect("/users/log-in");

    // A first visit that is a POST (no session cookie yet) is refused too,
    // whatever token it brings.
    let mut cold = server.client();
    let page = cold
        .post_form(
            "/users/register",
            &[
                ("_csrf_token", client.csrf_token().unwrap()),
                ("email", "cold@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(server.user("cold@example.com").await.is_none());

    // A body that is not a form is not read for a token.
    let page = client
        .request(
            Method::POST,
            "/users/log-out",
            headers(&[("content-type", "text/plain")]),
            None,
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_signed_in_as(&client.get("/dashboard").await, "alice@example.com");
}

pub(crate) async fn wrong_csrf_token_is_403(backend: Backend) {
    let server = server(backend).await;
    let alice = seed_user(&server, "alice@example.com").await;
    let mut client = signed_in(&server, "alice@example.com", false).await;
    let own = client.csrf_token().unwrap().to_owned();
    // A real token, but another visitor's.
    let mut other = server.client();
    other.get("/users/log-in").await;
    let foreign = other.csrf_token().unwrap().to_owned();
    assert_ne!(own, foreign);

    let wrong_field_values = [
        foreign.clone(),
        own[..own.len() - 1].to_owned(),
        format!("{own}x"),
        own.to_uppercase(),
        String::new(),
    ];
    for token in &wrong_field_values {
        let page = client
            .post_form("/users/log-out", &[("_csrf_token", token)])
            .await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "token {token:?}");
    }
    // The right token smuggled next to a wrong one does not help.
    for fields in [
        [
            ("_csrf_token", own.as_str()),
            ("_csrf_token", foreign.as_str()),
        ],
        [
            ("_csrf_token", foreign.as_str()),
            ("_csrf_token", own.as_str()),
        ],
    ] {
        let page = client.post_form("/users/log-out", &fields).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{fields:?}");
    }
    // A wrong header is refused even when the form field is right.
    let page = client
        .request(
            Method::POST,
            "/users/log-out",
            headers(&[("x-csrf-token", &foreign)]),
            Some(&[("_csrf_token", &own)]),
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);

    assert_signed_in_as(&client.get("/dashboard").await, "alice@example.com");
    assert_eq!(
        server.store().count_rows("user_sessions", alice.id).await,
        1
    );
    // The right token still works.
    client
        .post_with_csrf("/users/log-out", &[])
        .await
        .assert_redirect("/");
}

pub(crate) async fn cross_site_origin_is_403(backend: Backend) {
    let server = server(backend).await;
    let alice = seed_user(&server, "alice@example.com").await;
    let mut client = signed_in(&server, "alice@example.com", false).await;
    let csrf = client.csrf_token().unwrap().to_owned();

    for origin in [
        "http://evil.example",
        "null",
        "https://evil.example",
        format!("http://{}.evil.example", server.addr().ip()).as_str(),
        format!("http://127.0.0.2:{}", server.addr().port()).as_str(),
    ] {
        let page = client
            .request(
                Method::POST,
                "/users/log-out",
                headers(&[("origin", origin)]),
                Some(&[("_csrf_token", &csrf)]),
            )
            .await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "Origin: {origin}");
        assert!(
            page.body.contains("came from another site"),
            "{origin}: {}",
            page.body
        );
    }
    assert_signed_in_as(&client.get("/dashboard").await, "alice@example.com");
    assert_eq!(
        server.store().count_rows("user_sessions", alice.id).await,
        1
    );

    // The site's own origin is accepted.
    let origin = server.url("");
    client
        .request(
            Method::POST,
            "/users/log-out",
            headers(&[("origin", &origin)]),
            Some(&[("_csrf_token", &csrf)]),
        )
        .await
        .assert_redirect("/");
    assert_eq!(
        server.store().count_rows("user_sessions", alice.id).await,
        0
    );
}

pub(crate) async fn oversized_form_is_413_and_changes_nothing(backend: Backend) {
    let server = server(backend).await;
    let alice = seed_user(&server, "alice@example.com").await;
    let mut client = signed_in(&server, "alice@example.com", false).await;
    let padding = "x".repeat(100 * 1024);
    let page = client
        .post_with_csrf("/users/log-out", &[("padding", &padding)])
        .await;
    assert_eq!(page.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", page.body);
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert_signed_in_as(&client.get("/dashboard").await, "alice@example.com");
    assert_eq!(
        server.store().count_rows("user_sessions", alice.id).await,
        1
    );
}
