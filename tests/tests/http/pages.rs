//! The pages themselves: home, the forms, protected pages, and the headers on every answer.

use sigra_tests::Backend;
use sigra_tests::http::{Method, Page, StatusCode, headers};
use sigra_web::CSRF_FIELD;

use super::{PASSWORD, assert_signed_in_as, seed_user, server, signed_in};

pub(crate) async fn home_is_public_and_shows_the_signed_in_email(backend: Backend) {
    let server = server(backend).await;
    seed_user(&server, "alice@example.com").await;

    let mut anonymous = server.client();
    let home = anonymous.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert_eq!(home.text_of("home-email"), None);
    assert!(
        home.body.contains(r#"href="/users/log-in""#),
        "{}",
        home.body
    );

    let mut alice = signed_in(&server, "alice@example.com", false).await;
    let home = alice.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert_eq!(
        home.text_of("home-email").as_deref(),
        Some("alice@example.com")
    );
    assert_eq!(
        home.text_of("current-user").as_deref(),
        Some("alice@example.com")
    );
    // The header's log-out form carries this session's CSRF token.
    assert_eq!(home.csrf_token().as_deref(), alice.csrf_token());
}

pub(crate) async fn log_in_and_register_pages_render_forms_and_send_signed_in_users_home(
    backend: Backend,
) {
    let server = server(backend).await;
    let mut client = server.client();
    for (path, button) in [("/users/log-in", "log-in"), ("/users/register", "register")] {
        let page = client.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(
            page.body.contains(&format!(
                r#"<form class="stack" method="post" action="{path}">"#
            )),
            "{path}: {}",
            page.body
        );
        assert!(page.body.contains(&format!(r#"id="{button}""#)), "{path}");
        let csrf = page.csrf_token().expect("a hidden _csrf_token input");
        assert_eq!(csrf.len(), 43, "a CSRF token is 32 random bytes, base64url");
    }
    // Both forms of one visitor carry the same token: the session's.
    let log_in = client.get("/users/log-in").await.csrf_token();
    let register = client.get("/users/register").await.csrf_token();
    assert_eq!(log_in, register);

    seed_user(&server, "alice@example.com").await;
    let mut alice = signed_in(&server, "alice@example.com", false).await;
    alice.get("/users/log-in").await.assert_redirect("/");
    alice.get("/users/register").await.assert_redirect("/");
}

pub(crate) async fn protected_pages_redirect_signed_out_visitors_to_log_in(backend: Backend) {
    let server = server(backend).await;
    seed_user(&server, "alice@example.com").await;
    let mut client = server.client();
    for path in ["/dashboard", "/users/settings"] {
        client.get(path).await.assert_redirect("/users/log-in");
    }
    // A signed-out POST to a protected action is refused the same way (with a
    // valid CSRF token, so the redirect is the user check, not the CSRF check).
    client.get("/users/log-in").await;
    client
        .post_with_csrf("/users/settings/sessions/log-out-all", &[])
        .await
        .assert_redirect("/users/log-in");

    let mut alice = signed_in(&server, "alice@example.com", false).await;
    assert_signed_in_as(&alice.get("/dashboard").await, "alice@example.com");
    let settings = alice.get("/users/settings").await;
    assert_eq!(settings.status, StatusCode::OK, "{}", settings.body);
    assert_eq!(
        settings.text_of("mfa-state").as_deref(),
        Some("Not enabled.")
    );
}

/// Every answer carries the security headers, whatever its status.
#[track_caller]
fn assert_security_headers(what: &str, page: &Page) {
    let csp = page
        .header("content-security-policy")
        .unwrap_or_else(|| panic!("{what}: no Content-Security-Policy"));
    assert!(!csp.contains("unsafe-inline"), "{what}: CSP {csp}");
    assert!(!csp.contains("unsafe-eval"), "{what}: CSP {csp}");
    assert!(csp.contains("default-src 'self'"), "{what}: CSP {csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: CSP {csp}");
    assert_eq!(page.header("x-frame-options"), Some("DENY"), "{what}");
    assert_eq!(
        page.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    let referrer = page
        .header("referrer-policy")
        .unwrap_or_else(|| panic!("{what}: no Referrer-Policy"));
    assert!(
        [
            "no-referrer",
            "same-origin",
            "strict-origin",
            "strict-origin-when-cross-origin"
        ]
        .contains(&referrer),
        "{what}: Referrer-Policy {referrer}"
    );
}

pub(crate) async fn security_headers_are_on_every_response(backend: Backend) {
    let server = server(backend).await;
    seed_user(&server, "alice@example.com").await;
    let mut anonymous = server.client();
    let mut answers: Vec<(String, Page)> = Vec::new();
    for path in [
        "/",
        "/users/log-in",
        "/users/register",
        "/dashboard",
        "/users/settings",
        "/health",
        "/sigra/style.css",
        "/no-such-page",
    ] {
        answers.push((format!("anonymous GET {path}"), anonymous.get(path).await));
    }
    answers.push((
        "POST without a CSRF token".into(),
        anonymous.post_form("/users/log-out", &[]).await,
    ));
    answers.push((
        "failed log-in".into(),
        anonymous
            .post_with_csrf(
                "/users/log-in",
                &[("email", "alice@example.com"), ("password", "wrong")],
            )
            .await,
    ));
    answers.push((
        "POST with a foreign Origin".into(),
        anonymous
            .request(
                Method::POST,
                "/users/log-out",
                headers(&[("origin", "http://evil.example")]),
                Some(&[]),
            )
            .await,
    ));

    let mut alice = signed_in(&server, "alice@example.com", true).await;
    for path in ["/", "/dashboard", "/users/settings", "/users/log-in"] {
        answers.push((format!("signed-in GET {path}"), alice.get(path).await));
    }
    answers.push((
        "log-out".into(),
        alice.post_with_csrf("/users/log-out", &[]).await,
    ));

    let statuses: Vec<u16> = answers.iter().map(|(_, p)| p.status.as_u16()).collect();
    for expected in [200, 303, 401, 403, 404] {
        assert!(
            statuses.contains(&expected),
            "the sample covers status {expected}: {statuses:?}"
        );
    }
    for (what, page) in &answers {
        assert_security_headers(what, page);
    }
}

pub(crate) async fn personal_pages_are_never_cached(backend: Backend) {
    let server = server(backend).await;
    seed_user(&server, "alice@example.com").await;
    let mut alice = signed_in(&server, "alice@example.com", false).await;
    for path in ["/", "/dashboard", "/users/settings"] {
        let page = alice.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert_eq!(page.header("cache-control"), Some("no-store"), "{path}");
    }
    // The log-in answer itself sets the session cookie: never cacheable.
    let mut bob = server.client();
    seed_user(&server, "bob@example.com").await;
    let answer = bob.log_in("bob@example.com", PASSWORD, false).await;
    assert_eq!(answer.header("cache-control"), Some("no-store"));
}

/// What a visitor sends comes back as text: a script typed into the email
/// field of the forms, and one sent as the browser name that the settings
/// page lists.
pub(crate) async fn hostile_input_is_escaped_where_the_pages_echo_it(backend: Backend) {
    const HOSTILE: &str = r#""><script>alert('x')</script>"#;
    const ESCAPED: &str = "&#34;&#62;&#60;script&#62;alert(&#39;x&#39;)&#60;/script&#62;";
    #[track_caller]
    fn assert_escaped(what: &str, page: &Page, echoes: usize) {
        assert!(!page.body.contains("<script"), "{what}: {}", page.body);
        assert!(!page.body.contains("'x'"), "{what}: {}", page.body);
        assert_eq!(page.count(ESCAPED), echoes, "{what}: {}", page.body);
    }

    let server = server(backend).await;
    seed_user(&server, "alice@example.com").await;
    let mut anonymous = server.client();
    for (path, status) in [
        ("/users/log-in", StatusCode::UNAUTHORIZED),
        ("/users/register", StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        anonymous.get(path).await;
        let page = anonymous
            .post_with_csrf(path, &[("email", HOSTILE), ("password", "wrong")])
            .await;
        assert_eq!(page.status, status, "{path}: {}", page.body);
        assert_escaped(path, &page, 1);
        assert!(
            page.body.contains(&format!(r#"value="{ESCAPED}""#)),
            "{path}: the email goes back into its field"
        );
    }

    // The browser name is whatever the client sends; the session keeps it.
    let mut alice = server.client();
    alice.get("/users/log-in").await;
    let csrf = alice
        .csrf_token()
        .expect("the log-in form's token")
        .to_owned();
    alice
        .request(
            Method::POST,
            "/users/log-in",
            headers(&[("user-agent", HOSTILE)]),
            Some(&[
                (CSRF_FIELD, csrf.as_str()),
                ("email", "alice@example.com"),
                ("password", PASSWORD),
            ]),
        )
        .await
        .assert_redirect("/");
    let settings = alice.get("/users/settings").await;
    assert_eq!(settings.status, StatusCode::OK, "{}", settings.body);
    assert_escaped("settings", &settings, 1);
    // A refused new address goes back into the email form.
    let refused = alice
        .post_with_csrf(
            "/users/settings/email",
            &[("email", HOSTILE), ("current_password", PASSWORD)],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_escaped("settings after a refused address", &refused, 2);
}

pub(crate) async fn the_log_in_page_links_to_password_reset(backend: Backend) {
    let server = server(backend).await;
    let mut client = server.client();
    let page = client.get("/users/log-in").await;
    assert!(
        page.body.contains(
            r#"<a href="/users/reset-password" id="forgot-password">Forgot your password?</a>"#
        ),
        "{}",
        page.body
    );
    // The link leads to the reset form, and a failed log-in keeps it.
    let form = client.get("/users/reset-password").await;
    assert_eq!(form.status, StatusCode::OK);
    let failed = client.log_in("nobody@example.com", "not it", false).await;
    assert_eq!(failed.status, StatusCode::UNAUTHORIZED);
    assert!(
        failed.body.contains(r#"id="forgot-password""#),
        "{}",
        failed.body
    );
    // Without SIGRA_REQUIRE_CONFIRMATION there is nothing to resend.
    assert!(!page.body.contains("resend-confirmation"), "{}", page.body);
}
