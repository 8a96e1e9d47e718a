//! `GET/POST /users/register`: success signs the new user in; bad input is a 422 that stores nothing.

use sigra_tests::Backend;
use sigra_tests::http::{SESSION_COOKIE, StatusCode};

use super::{PASSWORD, assert_signed_in_as, assert_signed_out, seed_user, server};

pub(crate) async fn registration_logs_the_user_in_and_redirects_home(backend: Backend) {
    let server = server(backend).await;
    let mut client = server.client();
    let answer = client.register("  Alice@Example.COM ", PASSWORD).await;
    answer.assert_redirect("/");
    assert!(
        answer.set_cookie(SESSION_COOKIE).is_some(),
        "registration renews the session cookie"
    );

    let home = client.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert_eq!(
        home.text_of("home-email").as_deref(),
        Some("alice@example.com"),
        "the home page shows the (normalised) email: {}",
        home.body
    );
    assert!(
        home.body.contains("Welcome! Your account is ready."),
        "{}",
        home.body
    );
    // The flash is shown once.
    assert!(!client.get("/").await.body.contains("Welcome!"));
    assert_signed_in_as(&client.get("/dashboard").await, "alice@example.com");

    let user = server.user("alice@example.com").await.expect("stored");
    assert_eq!(
        server.store().count_rows("user_sessions", user.id).await,
        1,
        "registration created exactly one session"
    );
    // The stored password works through the log-in form.
    let mut again = server.client();
    again
        .log_in("alice@example.com", PASSWORD, false)
        .await
        .assert_redirect("/");
}

/// Form fields as sent.
type Fields<'a> = &'a [(&'a str, &'a str)];

pub(crate) async fn invalid_registrations_are_422_and_store_nothing(backend: Backend) {
    let server = server(backend).await;
    let taken = seed_user(&server, "taken@example.com").await;
    let mut client = server.client();
    client.get("/users/register").await;

    let cases: [(&str, Fields, &str); 5] = [
        (
            "invalid email",
            &[("email", "not-an-email"), ("password", PASSWORD)],
            "Enter a valid email address.",
        ),
        (
            "short password",
            &[("email", "short@example.com"), ("password", "1234567")],
            "Password must be at least 8 characters.",
        ),
        (
            "common password",
            &[("email", "common@example.com"), ("password", "Password123")],
            "Password is one of the most commonly used passwords; choose one that is less common.",
        ),
        (
            "duplicate email (any case)",
            &[("email", "TAKEN@example.com"), ("password", PASSWORD)],
            "An account with this email already exists.",
        ),
        ("missing fields", &[], "Enter a valid email address."),
    ];
    for (what, fields, message) in cases {
        let page = client.post_with_csrf("/users/register", fields).await;
        assert_eq!(
            page.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{what}: {}",
            page.body
        );
        let error = page
            .form_error()
            .unwrap_or_else(|| panic!("{what}: no error shown"));
        assert!(error.contains(message), "{what}: {error}");
        // The form is shown again, with what was typed (never the password).
        assert!(
            page.body
                .contains(r#"<form class="stack" method="post" action="/users/register">"#),
            "{what}"
        );
        if let Some((_, email)) = fields.iter().find(|(k, _)| *k == "email") {
            assert!(page.body.contains(&format!(r#"value="{email}""#)), "{what}");
        }
        assert!(
            !page.body.contains(PASSWORD),
            "{what}: the password is echoed"
        );
        assert!(
            page.csrf_token().is_some(),
            "{what}: the form keeps its token"
        );
    }

    assert_eq!(server.user_count().await, 1, "nothing but the seeded user");
    assert!(server.user("not-an-email").await.is_none());
    assert!(server.user("short@example.com").await.is_none());
    assert_eq!(
        server.store().count_rows("user_sessions", taken.id).await,
        0,
        "a failed registration creates no session"
    );
    // The existing account is untouched: its own password still works.
    assert_signed_out(&mut client).await;
    let mut owner = server.client();
    owner
        .log_in("taken@example.com", PASSWORD, false)
        .await
        .assert_redirect("/");
}
