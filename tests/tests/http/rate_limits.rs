//! Rate limits over HTTP: the 11th log-in attempt in a minute is a 429 with `Retry-After`.

use chrono::TimeDelta;
use sigra_tests::Backend;
use sigra_tests::http::StatusCode;

use super::{PASSWORD, assert_signed_in_as, seed_user, server};

pub(crate) async fn eleventh_log_in_attempt_in_a_minute_is_429_with_retry_after(backend: Backend) {
    let server = server(backend).await;
    seed_user(&server, "alice@example.com").await;
    let mut client = server.client();
    client.get("/users/log-in").await;

    // Ten attempts (the default limit, 10 per minute per IP) are answered.
    for i in 0..10 {
        let email = format!("nobody{i}@example.com");
        let page = client
            .post_with_csrf("/users/log-in", &[("email", &email), ("password", "wrong")])
            .await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED, "attempt {}", i + 1);
        assert_eq!(page.header("retry-after"), None);
    }
    // The 11th is refused before the password is even looked at, right or not.
    let limited = client
        .post_with_csrf(
            "/users/log-in",
            &[("email", "alice@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.body
    );
    let retry_after: u64 = limited
        .header("retry-after")
        .expect("a Retry-After header")
        .parse()
        .expect("Retry-After in whole seconds");
    assert_eq!(
        retry_after, 60,
        "the window opened at the first attempt; the clock has not moved"
    );
    assert!(limited.set_cookie("_sigra_remember_me").is_none());
    client
        .get("/dashboard")
        .await
        .assert_redirect("/users/log-in");
    assert_eq!(
        limited.header("x-frame-options"),
        Some("DENY"),
        "a 429 carries the security headers too"
    );

    // Later in the same window: still refused, with a shorter wait.
    server.clock().advance(TimeDelta::seconds(45));
    let limited = client
        .post_with_csrf(
            "/users/log-in",
            &[("email", "alice@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.header("retry-after"), Some("15"));

    // Once the window has passed, the right password works again.
    server.clock().advance(TimeDelta::seconds(15));
    client
        .post_with_csrf(
            "/users/log-in",
            &[("email", "alice@example.com"), ("password", PASSWORD)],
        )
        .await
        .assert_redirect("/dashboard");
    assert_signed_in_as(&client.get("/dashboard").await, "alice@example.com");
}

pub(crate) async fn viewing_the_forms_does_not_spend_the_rate_limits(backend: Backend) {
    let server = server(backend).await;
    seed_user(&server, "alice@example.com").await;
    let mut client = server.client();
    // Far more page views than either limit (log-in 10/min, register 5/hour).
    for _ in 0..12 {
        assert_eq!(client.get("/users/log-in").await.status, StatusCode::OK);
        assert_eq!(client.get("/users/register").await.status, StatusCode::OK);
    }
    client
        .register("bob@example.com", PASSWORD)
        .await
        .assert_redirect("/");
    let mut alice = server.client();
    alice
        .log_in("alice@example.com", PASSWORD, false)
        .await
        .assert_redirect("/");
}
