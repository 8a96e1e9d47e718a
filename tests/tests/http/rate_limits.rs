//! Rate limits over HTTP: the 11th log-in attempt in a minute is a 429 with
//! `Retry-After`; with `REDIS_URL` the budget is shared by every node.

use chrono::TimeDelta;
use sigra_core::token::RawToken;
use sigra_tests::Backend;
use sigra_tests::http::{Client, Method, StatusCode, headers, spawn_node, spawn_server};

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

/// The Redis the tests use (`cargo xtask services` starts it).
fn redis_url() -> String {
    std::env::var("SIGRA_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// One failed log-in attempt from `ip` (forwarded by the trusted test proxy).
async fn attempt(client: &mut Client, ip: &str) -> StatusCode {
    let csrf = client.csrf_token().expect("a form was loaded").to_owned();
    client
        .request(
            Method::POST,
            "/users/log-in",
            headers(&[("x-forwarded-for", ip)]),
            Some(&[
                ("_csrf_token", csrf.as_str()),
                ("email", "nobody@example.com"),
                ("password", "wrong"),
            ]),
        )
        .await
        .status
}

pub(crate) async fn with_redis_url_every_node_shares_one_budget(backend: Backend) {
    let url = redis_url();
    let mut raw = ::redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "Redis is not reachable at {url}: {e}\nHow to fix: `cargo xtask services`, \
                 or set SIGRA_TEST_REDIS_URL."
            )
        });
    // REDIS_URL is all it takes; the trusted proxy only lets each run use a
    // client address of its own, so parallel runs never share a counter.
    let with_redis = |config: sigra_core::config::ConfigBuilder| {
        config
            .redis_url(url.clone())
            .trusted_proxies(["127.0.0.1/32".parse().unwrap()])
    };
    let one = spawn_server(backend, with_redis).await;
    let two = spawn_node(&one, None, with_redis).await;
    assert!(
        format!("{:?}", one.sigra().limiter()).contains("RedisRateLimiter"),
        "{:?}",
        one.sigra().limiter()
    );
    let bytes = *RawToken::generate().unwrap().expose_bytes();
    let ip = format!("10.{}.{}.{}", bytes[0], bytes[1], bytes[2]);

    // Ten attempts spread over two nodes spend one budget...
    let mut on_one = one.client();
    let mut on_two = two.client();
    on_one.get("/users/log-in").await;
    on_two.get("/users/log-in").await;
    for i in 0..10 {
        let client = if i % 2 == 0 { &mut on_one } else { &mut on_two };
        assert_eq!(
            attempt(client, &ip).await,
            StatusCode::UNAUTHORIZED,
            "attempt {}",
            i + 1
        );
    }
    // ...so the eleventh is refused on either.
    assert_eq!(
        attempt(&mut on_one, &ip).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        attempt(&mut on_two, &ip).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    let key = format!("sigra:rl:login:ip:{ip}");
    let hits: i64 = ::redis::cmd("HGET")
        .arg(&key)
        .arg("n")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(hits, 10, "counted in Redis under {key}");
    let _: () = ::redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut raw)
        .await
        .unwrap();
}
