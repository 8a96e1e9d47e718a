//! `GET/POST /users/log-in`: one failure message, the return path, no open redirect, renewal at log-in.

use sigra_tests::Backend;
use sigra_tests::http::{Client, Method, SESSION_COOKIE, StatusCode, headers};

use super::{PASSWORD, assert_signed_in_as, assert_signed_out, seed_user, server};

/// The page with the email echoed in the form and the CSRF token blanked, so
/// two failures can be compared byte for byte.
fn normalised(body: &str, email: &str, csrf: &str) -> String {
    body.replace(&format!(r#"value="{email}""#), r#"value="EMAIL""#)
        .replace(csrf, "CSRF")
}

pub(crate) async fn failed_log_in_is_401_with_one_message_for_unknown_email_and_wrong_password(
    backend: Backend,
) {
    let server = server(backend).await;
    seed_user(&server, "alice@example.com").await;
    let mut client = server.client();
    client.get("/users/log-in").await;
    let csrf = client.csrf_token().unwrap().to_owned();

    let attempt = |email: &'static str, password: &'static str| (email, password);
    let unknown = attempt("nobody@example.com", PASSWORD);
    let wrong = attempt("alice@example.com", "not the password");
    let mut pages = Vec::new();
    for (email, password) in [unknown, wrong, attempt("not an email", PASSWORD)] {
        let page = client
            .post_with_csrf("/users/log-in", &[("email", email), ("password", password)])
            .await;
        pages.push((email, page));
    }
    for (email, page) in &pages {
        assert_eq!(
            page.status,
            StatusCode::UNAUTHORIZED,
            "{email}: {}",
            page.body
        );
        assert!(
            page.set_cookie(SESSION_COOKIE).is_none(),
            "{email}: no renewal"
        );
    }
    let (unknown_email, unknown_page) = &pages[0];
    let error = unknown_page.form_error().expect("an error paragraph");
    assert!(error.contains("Invalid email or password."), "{error}");
    for (email, page) in &pages[1..] {
        assert_eq!(page.form_error(), Some(error), "{email}");
        assert_eq!(
            normalised(&page.body, email, &csrf),
            normalised(&unknown_page.body, unknown_email, &csrf),
            "the whole page is the same for {email} and {unknown_email}"
        );
    }

    // Lock the account (5 failures in all), then even the right password gets
    // the very same answer: a lockout does not reveal that the account exists.
    for _ in 0..4 {
        client
            .post_with_csrf(
                "/users/log-in",
                &[("email", "alice@example.com"), ("password", "still wrong")],
            )
            .await;
    }
    let locked = client
        .post_with_csrf(
            "/users/log-in",
            &[("email", "alice@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(locked.status, StatusCode::UNAUTHORIZED);
    assert_eq!(locked.form_error(), Some(error));
    assert_signed_out(&mut client).await;
}

pub(crate) async fn log_in_returns_to_the_remembered_path(backend: Backend) {
    let server = server(backend).await;
    seed_user(&server, "alice@example.com").await;

    let mut client = server.client();
    client
        .get("/dashboard")
        .await
        .assert_redirect("/users/log-in");
    client
        .log_in("alice@example.com", PASSWORD, false)
        .await
        .assert_redirect("/dashboard");
    assert_signed_in_as(&client.get("/dashboard").await, "alice@example.com");

    // The path is used once: the next log-in goes home.
    client
        .post_with_csrf("/users/log-out", &[])
        .await
        .assert_redirect("/");
    client
        .log_in("alice@example.com", PASSWORD, false)
        .await
        .assert_redirect("/");

    // Settings, with a query string, is remembered too; the last visit wins.
    let mut client = server.client();
    client
        .get("/dashboard")
        .await
        .assert_redirect("/users/log-in");
    client
        .get("/users/settings?tab=sessions")
        .await
        .assert_redirect("/users/log-in");
    client
        .log_in("alice@example.com", PASSWORD, false)
        .await
        .assert_redirect("/users/settings?tab=sessions");

    // A failed attempt in between keeps the path.
    let mut client = server.client();
    client
        .get("/dashboard")
        .await
        .assert_redirect("/users/log-in");
    let failed = client.log_in("alice@example.com", "wrong", false).await;
    assert_eq!(failed.status, StatusCode::UNAUTHORIZED);
    client
        .post_with_csrf(
            "/users/log-in",
            &[("email", "alice@example.com"), ("password", PASSWORD)],
        )
        .await
        .assert_redirect("/dashboard");
}

pub(crate) async fn open_redirect_attempts_are_never_followed(backend: Backend) {
    let server = server(backend).await;
    seed_user(&server, "alice@example.com").await;
    let credentials = [("email", "alice@example.com"), ("password", PASSWORD)];

    // Redirect targets smuggled as form fields or query parameters are ignored.
    let mut client = server.client();
    client.get("/users/log-in").await;
    let mut fields = credentials.to_vec();
    fields.extend([
        ("return_to", "https://evil.example/"),
        ("redirect_to", "//evil.example"),
        ("next", "https://evil.example"),
    ]);
    client
        .post_with_csrf(
            "/users/log-in?return_to=https://evil.example&next=//evil.example",
            &fields,
        )
        .await
        .assert_redirect("/");

    // Paths that would become a scheme-relative URL are never remembered.
    for path in [
        "//evil.example/dashboard",
        "/\\evil.example/dashboard",
        "//evil.example",
    ] {
        let mut client = server.client();
        let visit = client.get(path).await;
        assert_ne!(visit.status, StatusCode::INTERNAL_SERVER_ERROR, "{path}");
        if let Some(location) = visit.location() {
            assert!(
                location.starts_with('/') && !location.starts_with("//"),
                "{path} → {location}"
            );
        }
        client
            .log_in("alice@example.com", PASSWORD, false)
            .await
            .assert_redirect("/");
    }

    // A hostile Host header never turns into an absolute redirect.
    let mut client = server.client();
    let visit = client
        .request(
            Method::GET,
            "/dashboard",
            headers(&[("host", "evil.example")]),
            None,
        )
        .await;
    visit.assert_redirect("/users/log-in");
    client
        .log_in("alice@example.com", PASSWORD, false)
        .await
        .assert_redirect("/dashboard");

    // A remembered path with a URL in its query stays a local path.
    let mut client = server.client();
    client
        .get("/dashboard?next=https://evil.example")
        .await
        .assert_redirect("/users/log-in");
    client
        .log_in("alice@example.com", PASSWORD, false)
        .await
        .assert_redirect("/dashboard?next=https://evil.example");
}

pub(crate) async fn log_in_renews_the_session_cookie_and_csrf_token(backend: Backend) {
    let server = server(backend).await;
    seed_user(&server, "alice@example.com").await;
    let mut client = server.client();
    client.get("/users/log-in").await;
    let before_cookie = client.cookie(SESSION_COOKIE).unwrap().to_owned();
    let before_csrf = client.csrf_token().unwrap().to_owned();

    let answer = client.log_in("alice@example.com", PASSWORD, false).await;
    answer.assert_redirect("/");
    let renewed = answer
        .set_cookie(SESSION_COOKIE)
        .expect("log-in writes a new session cookie");
    assert_ne!(renewed.value, before_cookie);
    assert_eq!(client.cookie(SESSION_COOKIE), Some(renewed.value.as_str()));
    let dashboard = client.get("/dashboard").await;
    assert_signed_in_as(&dashboard, "alice@example.com");
    let after_csrf = dashboard.csrf_token().unwrap();
    assert_ne!(after_csrf, before_csrf, "log-in mints a new CSRF token");

    // The pre-log-in cookie (one an attacker could have planted) is worth nothing.
    let mut planted = Client::with_cookies(&server, &[(SESSION_COOKIE, &before_cookie)]);
    assert_signed_out(&mut planted).await;
    // And the old CSRF token no longer works with the new cookie.
    let stale = client
        .post_form("/users/log-out", &[("_csrf_token", before_csrf.as_str())])
        .await;
    assert_eq!(stale.status, StatusCode::FORBIDDEN);
    assert_signed_in_as(&client.get("/dashboard").await, "alice@example.com");
}
