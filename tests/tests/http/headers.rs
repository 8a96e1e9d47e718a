//! Issue 13, item 12: `Strict-Transport-Security` in prod over https, no
//! caching of any page that carries a CSRF token, and the dev mailbox only
//! for a request addressed to a loopback name (DNS rebinding).

use sigra_core::config::{Config, Environment};
use sigra_core::keys::SecretKeyBase;
use sigra_tests::Backend;
use sigra_tests::http::{Method, Page, StatusCode, TestServer, headers, spawn_server};

use super::{PASSWORD, seed_user, server, signed_in};

/// The default `SIGRA_HSTS`: two years, subdomains included.
const DEFAULT_HSTS: &str = "max-age=63072000; includeSubDomains";

/// A prod server on `https://app.example.com`, with `SIGRA_HSTS` set to `hsts` when given.
async fn prod(backend: Backend, hsts: Option<&str>) -> TestServer {
    let hsts = hsts.map(str::to_owned);
    spawn_server(backend, move |_| {
        let builder = Config::builder(Environment::Prod)
            .secret_key_base(SecretKeyBase::new(b"prod-secret-key-base-".repeat(4)).unwrap())
            .public_url("https://app.example.com");
        match hsts {
            Some(value) => builder.hsts(value),
            None => builder,
        }
    })
    .await
}

/// A sample of answers: pages, a redirect, a 404, JSON, a refused POST.
async fn sample(server: &TestServer) -> Vec<(String, Page)> {
    let mut client = server.client();
    let mut answers = Vec::new();
    for path in [
        "/",
        "/users/log-in",
        "/dashboard",
        "/health",
        "/no-such-page",
    ] {
        answers.push((format!("GET {path}"), client.get(path).await));
    }
    answers.push((
        "POST without a CSRF token".into(),
        client.post_form("/users/log-out", &[]).await,
    ));
    answers
}

pub(crate) async fn prod_over_https_sends_hsts_on_every_answer(backend: Backend) {
    let https = prod(backend, None).await;
    for (what, page) in sample(&https).await {
        assert_eq!(
            page.header("strict-transport-security"),
            Some(DEFAULT_HSTS),
            "{what}"
        );
    }
    // Not outside prod, where PUBLIC_URL may be plain http: a browser would
    // pin a site that cannot answer on https.
    let test = server(backend).await;
    for (what, page) in sample(&test).await {
        assert_eq!(page.header("strict-transport-security"), None, "{what}");
    }
}

pub(crate) async fn hsts_follows_sigra_hsts_and_an_empty_value_turns_it_off(backend: Backend) {
    let custom = prod(
        backend,
        Some("max-age=31536000; includeSubDomains; preload"),
    )
    .await;
    let page = custom.client().get("/").await;
    assert_eq!(
        page.header("strict-transport-security"),
        Some("max-age=31536000; includeSubDomains; preload")
    );
    let off = prod(backend, Some("")).await;
    for (what, page) in sample(&off).await {
        assert_eq!(page.header("strict-transport-security"), None, "{what}");
    }
}

/// Every form page answers `Cache-Control: no-store`, also when the browser
/// already holds a session cookie (so the answer writes no cookie): a shared
/// or back-button cache must not hand the CSRF token (or the page) on.
pub(crate) async fn pages_with_a_csrf_token_are_no_store_on_every_answer(backend: Backend) {
    let server = server(backend).await;
    seed_user(&server, "alice@example.com").await;
    let forms = ["/users/log-in", "/users/register", "/users/reset-password"];
    let mut visitor = server.client();
    for round in ["first visit", "the browser holds a cookie"] {
        for path in forms {
            let page = visitor.get(path).await;
            assert_eq!(page.status, StatusCode::OK, "{round}: {path}");
            assert!(page.csrf_token().is_some(), "{round}: {path} has a form");
            assert_eq!(
                page.header("cache-control"),
                Some("no-store"),
                "{round}: {path}"
            );
        }
    }
    // A failed log-in re-renders the form for nobody.
    let failed = visitor
        .post_with_csrf(
            "/users/log-in",
            &[("email", "alice@example.com"), ("password", "wrong")],
        )
        .await;
    assert_eq!(failed.status, StatusCode::UNAUTHORIZED);
    assert_eq!(failed.header("cache-control"), Some("no-store"));

    // Signed in, every page is personal.
    let mut alice = signed_in(&server, "alice@example.com", false).await;
    for path in ["/", "/dashboard", "/users/settings", "/users/sudo"] {
        let page = alice.get(path).await;
        assert_eq!(page.header("cache-control"), Some("no-store"), "{path}");
    }
}

/// `/dev/mailbox.json` holds every reset and confirmation link: it answers
/// only a request addressed to `localhost`, `127.0.0.0/8` or `[::1]`. A
/// page on `evil.example` whose name was rebound to 127.0.0.1 sends
/// `Host: evil.example` and gets 404.
pub(crate) async fn dev_mailbox_answers_only_a_loopback_host(backend: Backend) {
    let dev = spawn_server(backend, |_| Config::builder(Environment::Dev)).await;
    let port = dev.addr().port();
    let mut client = dev.client();
    client
        .register("dave@example.com", PASSWORD)
        .await
        .assert_redirect("/");
    let get = |host: String| {
        let mut client = dev.client();
        async move {
            let page = client
                .request(
                    Method::GET,
                    "/dev/mailbox.json",
                    headers(&[("host", host.as_str())]),
                    None,
                )
                .await;
            (host, page)
        }
    };
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        "localhost".to_owned(),
        format!("127.1.2.3:{port}"),
        format!("[::1]:{port}"),
    ] {
        let (host, page) = get(host).await;
        assert_eq!(page.status, StatusCode::OK, "Host: {host}");
        assert!(page.body.contains("dave@example.com"), "Host: {host}");
    }
    for host in [
        format!("evil.example:{port}"),
        "evil.example".to_owned(),
        format!("127.0.0.1.evil.example:{port}"),
        format!("localhost.evil.example:{port}"),
        format!("10.0.0.1:{port}"),
    ] {
        let (host, page) = get(host).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "Host: {host}");
        assert!(!page.body.contains("dave@example.com"), "Host: {host}");
    }
}
