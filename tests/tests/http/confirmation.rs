//! `SIGRA_REQUIRE_CONFIRMATION`: registration answers a taken address as a
//! new one and mails its owner; an unconfirmed account cannot log in and
//! can ask for the confirmation again (limited per address); the log-in page
//! links the resend form. Off (the default): registration tells.

use sigra_tests::Backend;
use sigra_tests::http::{Client, StatusCode, TestServer, spawn_server};

use super::email::follow_link;
use super::{PASSWORD, seed_user};

async fn confirming_server(backend: Backend) -> TestServer {
    spawn_server(backend, |config| config.require_confirmation(true)).await
}

/// Registers `email` in a fresh client; returns the answer's status,
/// `Location` and the text of the page it leads to.
async fn register(server: &TestServer, email: &str) -> (StatusCode, Option<String>, String) {
    let mut client = server.client();
    let answer = client.register(email, PASSWORD).await;
    let location = answer.location().map(str::to_owned);
    let page = client.get(location.as_deref().unwrap_or("/")).await;
    (answer.status, location, page.body)
}

pub(crate) async fn a_taken_address_registers_exactly_as_a_new_one_and_mails_its_owner(
    backend: Backend,
) {
    let server = confirming_server(backend).await;
    seed_user(&server, "alice@example.com").await;
    let taken = register(&server, "Alice@Example.com").await;
    let new = register(&server, "bob@example.com").await;
    assert_eq!(taken.0, StatusCode::SEE_OTHER, "{}", taken.2);
    assert_eq!((taken.0, &taken.1), (new.0, &new.1));
    assert_eq!(taken.1.as_deref(), Some("/users/log-in"));
    // The page after the redirect differs only in its CSRF token.
    let strip = |body: &str| {
        body.lines()
            .filter(|l| !l.contains("_csrf_token"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(strip(&taken.2), strip(&new.2));
    assert!(taken.2.contains("Check your inbox"), "{}", taken.2);

    // The owner hears of it, with a way in; the new address gets its link.
    let messages = server.mailbox().messages();
    let to_alice: Vec<_> = messages
        .iter()
        .filter(|m| m.to == "alice@example.com")
        .collect();
    assert_eq!(to_alice.len(), 1, "{messages:?}");
    assert!(
        to_alice[0].text.contains("/users/log-in"),
        "{}",
        to_alice[0].text
    );
    assert!(
        to_alice[0].text.contains("/users/reset-password"),
        "{}",
        to_alice[0].text
    );
    assert!(
        messages
            .iter()
            .any(|m| m.to == "bob@example.com" && m.text.contains("/users/confirm/"))
    );
    // Nothing about alice's account changed; bob is not signed in.
    assert_eq!(server.user_count().await, 2);
}

pub(crate) async fn an_unconfirmed_account_cannot_log_in_until_confirmed(backend: Backend) {
    let server = confirming_server(backend).await;
    let mut client = server.client();
    client
        .register("carol@example.com", PASSWORD)
        .await
        .assert_redirect("/users/log-in");
    client
        .get("/dashboard")
        .await
        .assert_redirect("/users/log-in");

    let refused = client.log_in("carol@example.com", PASSWORD, false).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(
        refused.text_of("confirm-first").is_some(),
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains(r#"action="/users/confirm/resend""#),
        "{}",
        refused.body
    );
    client
        .get("/dashboard")
        .await
        .assert_redirect("/users/log-in");
    // A wrong password learns nothing about confirmation.
    let wrong = client.log_in("carol@example.com", "not it", false).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);

    let path = {
        let messages = server.mailbox().messages();
        let text = &messages.last().unwrap().text;
        let start = text.find("/users/confirm/").unwrap();
        let rest = &text[start..];
        rest[..rest.find(char::is_whitespace).unwrap_or(rest.len())].to_owned()
    };
    follow_link(&mut Client::new(&server), &path)
        .await
        .assert_redirect("/");
    // Back to the page the refused visit asked for.
    client
        .log_in("carol@example.com", PASSWORD, false)
        .await
        .assert_redirect("/dashboard");
}

pub(crate) async fn resending_the_confirmation_answers_the_same_and_is_limited(backend: Backend) {
    let server = confirming_server(backend).await;
    server
        .sigra()
        .auth()
        .register("carol@example.com", &sigra_tests::secret(PASSWORD))
        .await
        .unwrap();
    let mut client = server.client();
    let form = client.get("/users/confirm/resend").await;
    assert_eq!(form.status, StatusCode::OK);
    let mut answers = Vec::new();
    for email in ["carol@example.com", "nobody@example.com"] {
        let page = client
            .post_with_csrf("/users/confirm/resend", &[("email", email)])
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        answers.push(page.text_of("confirmation-sent"));
    }
    assert!(answers[0].is_some());
    assert_eq!(answers[0], answers[1]);
    let to_carol = |s: &TestServer| {
        s.mailbox()
            .messages()
            .iter()
            .filter(|m| m.to == "carol@example.com")
            .count()
    };
    assert_eq!(to_carol(&server), 1);
    assert!(
        server
            .mailbox()
            .messages()
            .iter()
            .all(|m| m.to != "nobody@example.com")
    );
    // Three per 15 minutes per address.
    for _ in 0..2 {
        let page = client
            .post_with_csrf("/users/confirm/resend", &[("email", "carol@example.com")])
            .await;
        assert_eq!(page.status, StatusCode::OK);
    }
    let limited = client
        .post_with_csrf("/users/confirm/resend", &[("email", "carol@example.com")])
        .await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.body
    );
    assert_eq!(to_carol(&server), 3);
}

pub(crate) async fn the_log_in_page_links_the_resend_form_when_confirmation_is_required(
    backend: Backend,
) {
    let server = confirming_server(backend).await;
    let page = server.client().get("/users/log-in").await;
    assert!(
        page.body
            .contains(r#"<a href="/users/confirm/resend" id="resend-confirmation">"#),
        "{}",
        page.body
    );
    assert!(page.body.contains(r#"id="forgot-password""#));
}

/// Off (the default), registration tells a taken address: documented in
/// docs/security.md, bounded by the registration rate limit.
pub(crate) async fn without_confirmation_registration_tells_a_taken_address(backend: Backend) {
    let server = super::server(backend).await;
    seed_user(&server, "alice@example.com").await;
    let page = server
        .client()
        .register("alice@example.com", PASSWORD)
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.form_error().unwrap().contains("already exists"));
}
