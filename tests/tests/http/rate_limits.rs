//! Rate limits over HTTP: the 11th log-in attempt in a minute is a 429 with
//! `Retry-After`; with `REDIS_URL` the budget is shared by every node; no
//! anonymous POST reaches Argon2 without passing a limiter, and a reset with
//! a fake token hashes nothing.

use chrono::TimeDelta;
use secrecy::ExposeSecret as _;
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

/// The paths of the POST (and DELETE) routes in Sigra's route table, read
/// from its source, so a route added later is checked without editing this
/// test.
fn post_routes() -> Vec<String> {
    let file =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/sigra-web/src/routes.rs");
    let source =
        std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
    let mut routes = Vec::new();
    for (start, _) in source.match_indices(".route(") {
        // The call's arguments, up to its matching parenthesis.
        let rest = &source[start + ".route(".len()..];
        let mut depth = 1;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .map_or(rest.len(), |(i, _)| i);
        let call = &rest[..end];
        let Some(path) = call.split('"').nth(1) else {
            continue;
        };
        if call.contains("post(") || call.contains("delete(") {
            routes.push(path.to_owned());
        }
    }
    routes
}

pub(crate) async fn no_anonymous_post_reaches_argon2_without_a_limiter(backend: Backend) {
    let server = server(backend).await;
    seed_user(&server, "alice@example.com").await;
    let routes = post_routes();
    for known in [
        "/users/register",
        "/users/log-in",
        "/users/mfa",
        "/users/reset-password",
        "/users/reset-password/{token}",
        "/users/settings/password",
    ] {
        assert!(
            routes.iter().any(|r| r == known),
            "{known} not found in {routes:?}"
        );
    }
    let fake_token = RawToken::generate().unwrap().encode();
    let mut unlimited = Vec::new();
    for route in &routes {
        let path = route.replace("{token}", fake_token.expose_secret());
        // A fresh window for every limit (the longest is register's hour).
        server.clock().advance(TimeDelta::hours(2));
        let before = server.argon2_runs();
        let mut last = None;
        for i in 0..11 {
            // A new visitor each time (no session, same address), with every
            // field any form reads.
            let mut visitor = server.client();
            visitor.get("/users/log-in").await;
            let email = format!("visitor{i}@example.com");
            let page = visitor
                .post_with_csrf(
                    &path,
                    &[
                        ("email", email.as_str()),
                        ("password", "a brand new passphrase"),
                        ("current_password", PASSWORD),
                        ("code", "123456"),
                    ],
                )
                .await;
            last = Some(page.status);
        }
        let runs = server.argon2_runs() - before;
        // Argon2 reached: then a limiter stood in front of it.
        if runs > 0 && (last != Some(StatusCode::TOO_MANY_REQUESTS) || runs > 10) {
            unlimited.push(format!("{route}: {runs} Argon2 runs, 11th answer {last:?}"));
        }
    }
    assert!(unlimited.is_empty(), "{unlimited:#?}");
}

pub(crate) async fn a_reset_with_a_fake_token_hashes_nothing_and_is_limited(backend: Backend) {
    let server = server(backend).await;
    seed_user(&server, "alice@example.com").await;
    let fake = RawToken::generate().unwrap().encode();
    let path = format!("/users/reset-password/{}", fake.expose_secret());
    let mut client = server.client();
    let form = client.get(&path).await;
    assert_eq!(
        form.status,
        StatusCode::OK,
        "a well-formed token gets the form"
    );
    let before = server.argon2_runs();
    for i in 0..10 {
        let page = client
            .post_with_csrf(&path, &[("password", "a brand new passphrase")])
            .await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "attempt {}", i + 1);
    }
    assert_eq!(
        server.argon2_runs(),
        before,
        "an unknown token is refused before the new password is hashed"
    );
    let limited = client
        .post_with_csrf(&path, &[("password", "a brand new passphrase")])
        .await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.body
    );
    assert_eq!(limited.header("retry-after"), Some("60"));
    assert_eq!(server.argon2_runs(), before);
}
