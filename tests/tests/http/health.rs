//! `GET /health`, and what every page does while the database is unreachable.

use serde_json::json;
use sigra_tests::Backend;
use sigra_tests::http::{Client, Page, REMEMBER_ME_COOKIE, StatusCode};

use super::{PASSWORD, seed_user, server, signed_in};

fn json_body(page: &Page) -> serde_json::Value {
    assert_eq!(
        page.header("content-type"),
        Some("application/json"),
        "{}",
        page.body
    );
    serde_json::from_str(&page.body).unwrap_or_else(|e| panic!("{e}: {}", page.body))
}

pub(crate) async fn health_answers_the_documented_json(backend: Backend) {
    let server = server(backend).await;
    let mut client = server.client();
    let page = client.get("/health").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(
        json_body(&page),
        json!({"status": "ok", "checks": {"db": "ok", "config": "ok"}})
    );
    assert_eq!(page.header("cache-control"), Some("no-store"));
    // Signed in or not, the answer is the same.
    seed_user(&server, "alice@example.com").await;
    let mut alice = signed_in(&server, "alice@example.com", false).await;
    let page = alice.get("/health").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        json_body(&page),
        json!({"status": "ok", "checks": {"db": "ok", "config": "ok"}})
    );
}

/// A 503 that is a deliberate answer: security headers, `Retry-After`, no user data.
#[track_caller]
fn assert_unavailable(what: &str, page: &Page) {
    assert_eq!(
        page.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{what}: {}",
        page.body
    );
    assert!(page.header("retry-after").is_some(), "{what}: Retry-After");
    assert_eq!(page.header("x-frame-options"), Some("DENY"), "{what}");
    assert!(
        !page.body.contains("alice@example.com"),
        "{what}: the page of a session that could not be verified"
    );
}

pub(crate) async fn database_outage_is_503_and_fails_closed(backend: Backend) {
    let server = server(backend).await;
    seed_user(&server, "alice@example.com").await;
    let mut standard = signed_in(&server, "alice@example.com", false).await;
    let mut remembered = signed_in(&server, "alice@example.com", true).await;
    let mut remember_only = Client::with_cookies(
        &server,
        &[(
            REMEMBER_ME_COOKIE,
            remembered.cookie(REMEMBER_ME_COOKIE).unwrap(),
        )],
    );
    let mut visitor = server.client();
    visitor.get("/users/log-in").await;

    server.take_database_down().await;

    let health = visitor.get("/health").await;
    assert_eq!(
        health.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        health.body
    );
    assert_eq!(
        json_body(&health),
        json!({"status": "error", "checks": {"db": "error", "config": "ok"}})
    );

    // Every signed-in request fails closed: not the page (200), not a crash (500).
    for path in ["/dashboard", "/", "/users/settings"] {
        assert_unavailable(&format!("standard {path}"), &standard.get(path).await);
        assert_unavailable(&format!("remember-me {path}"), &remembered.get(path).await);
        assert_unavailable(
            &format!("remember-me cookie only {path}"),
            &remember_only.get(path).await,
        );
    }
    let log_out = standard.post_with_csrf("/users/log-out", &[]).await;
    assert_unavailable("log-out", &log_out);

    // A visitor's log-in or registration cannot be checked either.
    let log_in = visitor
        .post_with_csrf(
            "/users/log-in",
            &[("email", "alice@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_unavailable("log-in", &log_in);
    let register = visitor
        .post_with_csrf(
            "/users/register",
            &[("email", "bob@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_unavailable("registration", &register);
    // Pages that need no database still answer.
    assert_eq!(visitor.get("/").await.status, StatusCode::OK);
    assert_eq!(visitor.get("/users/log-in").await.status, StatusCode::OK);
}
