//! Trusted proxies: `X-Forwarded-For` and `X-Forwarded-Proto` count only when
//! the peer is in `SIGRA_TRUSTED_PROXIES`, so a client cannot pick its own
//! rate-limit key, session IP, scheme or cookie flags.
//!
//! The test client connects from 127.0.0.1, so "behind a trusted proxy" is a
//! server with `127.0.0.1/32` trusted, and the headers the client sends are
//! the ones that proxy would have set.

use sigra_tests::Backend;
use sigra_tests::http::{Client, Method, Page, StatusCode, TestServer, headers, spawn_server};

use super::{PASSWORD, seed_user, server};

/// A server that trusts the test client's address as its reverse proxy.
async fn behind_proxy(backend: Backend) -> TestServer {
    spawn_server(backend, |config| {
        config.trusted_proxies(["127.0.0.1/32".parse().unwrap()])
    })
    .await
}

/// A POST with the client's CSRF token, `fields`, and extra request headers.
async fn post_with(
    client: &mut Client,
    path: &str,
    extra: &[(&str, &str)],
    fields: &[(&str, &str)],
) -> Page {
    let csrf = client
        .csrf_token()
        .expect("GET a page with a form first")
        .to_owned();
    let mut all = vec![("_csrf_token", csrf.as_str())];
    all.extend_from_slice(fields);
    client
        .request(Method::POST, path, headers(extra), Some(&all))
        .await
}

/// One failed log-in attempt carrying `extra` headers; its status.
async fn failed_log_in(client: &mut Client, extra: &[(&str, &str)]) -> StatusCode {
    post_with(
        client,
        "/users/log-in",
        extra,
        &[("email", "nobody@example.com"), ("password", "wrong")],
    )
    .await
    .status
}

/// The IPs in the settings page's session table.
fn session_ips(page: &Page) -> Vec<String> {
    page.body
        .split(r#"<tr class="session">"#)
        .skip(1)
        .filter_map(|row| row.split("<td>").nth(2))
        .filter_map(|cell| cell.split("</td>").next())
        .map(str::to_owned)
        .collect()
}

pub(crate) async fn spoofed_forwarded_for_cannot_change_the_rate_limit_key(backend: Backend) {
    // No trusted proxies (the default): X-Forwarded-For is the client's own claim.
    let server = server(backend).await;
    seed_user(&server, "alice@example.com").await;
    let mut alice = server.client();
    alice.get("/users/log-in").await;
    post_with(
        &mut alice,
        "/users/log-in",
        &[("x-forwarded-for", "198.51.100.200")],
        &[("email", "alice@example.com"), ("password", PASSWORD)],
    )
    .await
    .assert_redirect("/");
    let settings = alice.get("/users/settings").await;
    assert_eq!(
        session_ips(&settings),
        ["127.0.0.1"],
        "the session records the socket's address, not the claim"
    );

    // Nine more attempts, each claiming another address: all count against 127.0.0.1.
    let mut attacker = server.client();
    attacker.get("/users/log-in").await;
    for i in 1..10 {
        let spoofed = format!("198.51.100.{i}, 203.0.113.{i}");
        assert_eq!(
            failed_log_in(&mut attacker, &[("x-forwarded-for", &spoofed)]).await,
            StatusCode::UNAUTHORIZED,
            "attempt {}",
            i + 1
        );
    }
    let limited = post_with(
        &mut attacker,
        "/users/log-in",
        &[
            ("x-forwarded-for", "192.0.2.77"),
            ("x-real-ip", "192.0.2.78"),
            ("forwarded", "for=192.0.2.79"),
        ],
        &[("email", "alice@example.com"), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the 11th attempt is refused whatever address it claims: {}",
        limited.body
    );
    assert!(limited.header("retry-after").is_some());
}

pub(crate) async fn a_trusted_proxy_decides_the_key_and_the_session_ip(backend: Backend) {
    let server = behind_proxy(backend).await;
    seed_user(&server, "alice@example.com").await;

    // The session list shows the address the proxy forwarded.
    let mut alice = server.client();
    alice.get("/users/log-in").await;
    post_with(
        &mut alice,
        "/users/log-in",
        &[("x-forwarded-for", "203.0.113.7")],
        &[("email", "alice@example.com"), ("password", PASSWORD)],
    )
    .await
    .assert_redirect("/");
    let settings = alice.get("/users/settings").await;
    assert_eq!(session_ips(&settings), ["203.0.113.7"], "{}", settings.body);

    // Two forwarded clients, two budgets.
    let mut first = server.client();
    first.get("/users/log-in").await;
    for i in 0..10 {
        assert_eq!(
            failed_log_in(&mut first, &[("x-forwarded-for", "203.0.113.1")]).await,
            StatusCode::UNAUTHORIZED,
            "attempt {}",
            i + 1
        );
    }
    assert_eq!(
        failed_log_in(&mut first, &[("x-forwarded-for", "203.0.113.1")]).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    let mut second = server.client();
    second.get("/users/log-in").await;
    assert_eq!(
        failed_log_in(&mut second, &[("x-forwarded-for", "203.0.113.2")]).await,
        StatusCode::UNAUTHORIZED,
        "another forwarded address has its own budget"
    );

    // The limited client cannot escape by prepending addresses: the key is
    // the nearest untrusted hop, the one our proxy appended.
    for chain in [
        "6.6.6.6, 203.0.113.1",
        "10.0.0.1,203.0.113.1",
        "203.0.113.1, 127.0.0.1",
    ] {
        assert_eq!(
            failed_log_in(&mut first, &[("x-forwarded-for", chain)]).await,
            StatusCode::TOO_MANY_REQUESTS,
            "{chain}"
        );
    }
    // Several header lines are one list, in order.
    let page = first
        .request(
            Method::POST,
            "/users/log-in",
            headers(&[
                ("x-forwarded-for", "6.6.6.7"),
                ("x-forwarded-for", "203.0.113.1"),
            ]),
            Some(&[
                (
                    "_csrf_token",
                    first.csrf_token().unwrap().to_owned().as_str(),
                ),
                ("email", "nobody@example.com"),
                ("password", "wrong"),
            ]),
        )
        .await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
}

pub(crate) async fn malformed_forwarded_for_chains_fall_back_to_the_peer(backend: Backend) {
    let server = behind_proxy(backend).await;
    let mut client = server.client();
    client.get("/users/log-in").await;
    let malformed: [&[u8]; 10] = [
        b"not-an-ip",
        b"203.0.113.5, garbage",
        b"203.0.113.5:8080",
        b", ,",
        b"",
        b"203.0.113.5 203.0.113.6",
        b"[2001:db8::1]",
        b"\xff\xfe",
        // Only trusted hops: nobody outside them to blame but the peer.
        b"127.0.0.1",
        b"unknown",
    ];
    // Ten attempts under ten malformed chains: one budget, the peer's.
    for (i, value) in malformed.iter().enumerate() {
        let mut extra = headers(&[]);
        extra.insert(
            "x-forwarded-for",
            sigra_tests::http::HeaderValue::from_bytes(value).unwrap(),
        );
        let csrf = client.csrf_token().unwrap().to_owned();
        let page = client
            .request(
                Method::POST,
                "/users/log-in",
                extra,
                Some(&[
                    ("_csrf_token", csrf.as_str()),
                    ("email", "nobody@example.com"),
                    ("password", "wrong"),
                ]),
            )
            .await;
        assert_eq!(
            page.status,
            StatusCode::UNAUTHORIZED,
            "attempt {} ({:?})",
            i + 1,
            String::from_utf8_lossy(value)
        );
    }
    // The peer's budget is spent: with no header, or another bad one.
    assert_eq!(
        failed_log_in(&mut client, &[]).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        failed_log_in(&mut client, &[("x-forwarded-for", "garbage, 203.0.113.9")]).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // A well-formed chain is a client of its own.
    assert_eq!(
        failed_log_in(&mut client, &[("x-forwarded-for", "203.0.113.5")]).await,
        StatusCode::UNAUTHORIZED
    );
}

/// Whether every `Set-Cookie` of `page` carries `Secure` (and there is one).
fn all_secure(page: &Page) -> bool {
    let cookies = page.set_cookies();
    assert!(!cookies.is_empty(), "no Set-Cookie to check");
    cookies.iter().all(|c| c.has_flag("Secure"))
}

/// A fresh visitor's first page (which sets the session cookie) with `extra` headers.
async fn first_visit(server: &TestServer, extra: &[(&str, &str)]) -> Page {
    server
        .client()
        .request(Method::GET, "/users/log-in", headers(extra), None)
        .await
}

pub(crate) async fn forwarded_proto_counts_only_from_a_trusted_proxy(backend: Backend) {
    // The test environment on http: cookies are not Secure by configuration.
    let proxied = behind_proxy(backend).await;
    seed_user(&proxied, "alice@example.com").await;
    let https = [("x-forwarded-proto", "https")];
    assert!(!all_secure(&first_visit(&proxied, &[]).await));
    assert!(
        all_secure(&first_visit(&proxied, &https).await),
        "the browser is on https at the proxy: cookies get Secure"
    );
    assert!(!all_secure(
        &first_visit(&proxied, &[("x-forwarded-proto", "gopher")]).await
    ));

    // The origin check compares with the scheme the proxy reports.
    let mut alice = super::signed_in(&proxied, "alice@example.com", false).await;
    let revoke = "/users/settings/mfa/revoke-trusted-browsers";
    let cases = [
        ("https", "https://app.example.net", true),
        ("https", "http://app.example.net", false),
        ("http", "http://app.example.net", true),
        ("http", "https://app.example.net", false),
        ("https, http", "https://app.example.net", true),
        ("https", "https://evil.example", false),
    ];
    for (proto, origin, allowed) in cases {
        alice.get("/users/settings").await;
        let page = post_with(
            &mut alice,
            revoke,
            &[
                ("host", "app.example.net"),
                ("x-forwarded-proto", proto),
                ("origin", origin),
            ],
            &[],
        )
        .await;
        let expected = if allowed {
            StatusCode::SEE_OTHER
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(
            page.status, expected,
            "X-Forwarded-Proto {proto}, Origin {origin}: {}",
            page.body
        );
    }

    // From a client that is not a trusted proxy the header means nothing:
    // no Secure cookies, and the scheme is not narrowed by it.
    let direct = server(backend).await;
    seed_user(&direct, "alice@example.com").await;
    assert!(!all_secure(&first_visit(&direct, &https).await));
    let mut alice = super::signed_in(&direct, "alice@example.com", false).await;
    alice.get("/users/settings").await;
    let page = post_with(
        &mut alice,
        revoke,
        &[
            ("host", "app.example.net"),
            ("x-forwarded-proto", "https"),
            ("origin", "http://app.example.net"),
        ],
        &[],
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
}
