//! The email-link flows over HTTP, read from the server's mailbox: email
//! confirmation, password reset (same answer for unknown addresses, single
//! use, expiry, rate limit), password and email change, account deletion and
//! its cancel link, dead links, and `/dev/mailbox.json` (dev only).

use chrono::TimeDelta;
use sigra_core::config::{Config, Environment};
use sigra_core::keys::SecretKeyBase;
use sigra_tests::Backend;
use sigra_tests::http::{Client, StatusCode, TestServer, spawn_server};

use super::{PASSWORD, assert_signed_in_as, assert_signed_out, seed_user, server, signed_in};

const NEW_PASSWORD: &str = "a brand new passphrase";

/// The path (from `prefix` on) of the link in the newest message to `to`
/// that has one, waiting (at most 5 s) for the first: the reset request
/// mails after its answer.
async fn link(server: &TestServer, to: &str, prefix: &str) -> String {
    let message = server.wait_for_message(to, prefix).await;
    let start = message.text.find(prefix).unwrap();
    let rest = &message.text[start..];
    rest[..rest.find(char::is_whitespace).unwrap_or(rest.len())].to_owned()
}

/// How many messages went to `to`.
fn mail_count(server: &TestServer, to: &str) -> usize {
    server
        .mailbox()
        .messages()
        .iter()
        .filter(|m| m.to == to)
        .count()
}

/// The subjects of the notices (messages without a link) sent to `to`, oldest first.
pub(crate) fn notices(server: &TestServer, to: &str) -> Vec<String> {
    server
        .mailbox()
        .messages()
        .iter()
        .filter(|m| m.to == to && !m.text.contains("http"))
        .map(|m| m.subject.clone())
        .collect()
}

/// Opens an emailed link as its reader does: the `GET` shows one button
/// (changing nothing), the button posts back to the link. Returns the answer to the post.
pub(crate) async fn follow_link(client: &mut Client, path: &str) -> sigra_tests::http::Page {
    let page = client.get(path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains(&format!(
            r#"<form class="stack" method="post" action="{path}">"#
        )),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(r#"id="email-link-submit""#),
        "{}",
        page.body
    );
    client.post_with_csrf(path, &[]).await
}

/// Asserts the 404 page of a dead link.
#[track_caller]
fn assert_dead_link(page: &sigra_tests::http::Page) {
    assert_eq!(page.status, StatusCode::NOT_FOUND, "{}", page.body);
    assert!(page.text_of("link-error").is_some(), "{}", page.body);
}

pub(crate) async fn registration_mails_a_confirmation_link_that_works_once(backend: Backend) {
    let server = server(backend).await;
    let mut client = server.client();
    client
        .register("carol@example.com", PASSWORD)
        .await
        .assert_redirect("/");
    let messages = server.mailbox().messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0].subject, "Confirm your email address");
    let path = link(&server, "carol@example.com", "/users/confirm/").await;
    assert_eq!(path.len(), "/users/confirm/".len() + 43, "{path}");
    let settings = client.get("/users/settings").await;
    assert!(
        settings
            .text_of("email-confirmed")
            .unwrap()
            .starts_with("Not confirmed")
    );

    follow_link(&mut client, &path).await.assert_redirect("/");
    let home = client.get("/").await;
    assert!(
        home.body.contains("Your email address is confirmed."),
        "{}",
        home.body
    );
    let user = server.user("carol@example.com").await.unwrap();
    assert!(user.confirmed_at.is_some());
    let settings = client.get("/users/settings").await;
    assert_eq!(
        settings.text_of("email-confirmed").as_deref(),
        Some("Confirmed.")
    );

    assert_dead_link(&client.get(&path).await);
    assert_dead_link(&client.post_with_csrf(&path, &[]).await);
}

pub(crate) async fn password_reset_works_once_and_ends_every_session(backend: Backend) {
    let server = server(backend).await;
    seed_user(&server, "alice@example.com").await;
    let mut a = signed_in(&server, "alice@example.com", false).await;
    let mut b = signed_in(&server, "alice@example.com", true).await;

    let form = a.get("/users/reset-password").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains(r#"id="email""#), "{}", form.body);
    let sent = a
        .post_with_csrf("/users/reset-password", &[("email", "Alice@Example.com")])
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    assert!(sent.text_of("reset-sent").is_some(), "{}", sent.body);
    server.wait_for_mail("alice@example.com", 1).await;
    assert_eq!(mail_count(&server, "alice@example.com"), 1);
    let path = link(&server, "alice@example.com", "/users/reset-password/").await;

    let page = a.get(&path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains(r#"id="password""#));
    assert!(page.body.contains(&format!(r#"action="{path}""#)));

    // A weak password is refused and leaves the link usable.
    let weak = a.post_with_csrf(&path, &[("password", "short")]).await;
    assert_eq!(
        weak.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        weak.body
    );
    assert!(weak.form_error().is_some());
    assert!(notices(&server, "alice@example.com").is_empty());
    a.post_with_csrf(&path, &[("password", NEW_PASSWORD)])
        .await
        .assert_redirect("/users/log-in");
    // The owner is told, at the account's address.
    assert_eq!(
        notices(&server, "alice@example.com"),
        ["Your password was reset"]
    );
    let log_in = a.get("/users/log-in").await;
    assert!(
        log_in.body.contains("Your password has been reset."),
        "{}",
        log_in.body
    );

    // Every session ended: this browser's and the other one's (remember-me too).
    assert_signed_out(&mut a).await;
    assert_signed_out(&mut b).await;

    // Used once: the link is dead now.
    a.get("/users/log-in").await;
    assert_dead_link(
        &a.post_with_csrf(&path, &[("password", "yet another password")])
            .await,
    );

    let failed = a.log_in("alice@example.com", PASSWORD, false).await;
    assert_eq!(failed.status, StatusCode::UNAUTHORIZED);
    a.log_in("alice@example.com", NEW_PASSWORD, false)
        .await
        .assert_redirect("/dashboard");
    assert_signed_in_as(&a.get("/dashboard").await, "alice@example.com");
}

pub(crate) async fn reset_request_answers_the_same_for_unknown_addresses(backend: Backend) {
    let server = server(backend).await;
    seed_user(&server, "alice@example.com").await;
    let mut client = server.client();
    client.get("/users/reset-password").await;
    let mut pages = Vec::new();
    for email in ["alice@example.com", "nobody@example.com", "not an email"] {
        let page = client
            .post_with_csrf("/users/reset-password", &[("email", email)])
            .await;
        pages.push((email, page));
    }
    let (_, known) = &pages[0];
    assert_eq!(known.status, StatusCode::OK);
    for (email, page) in &pages[1..] {
        assert_eq!(page.status, known.status, "{email}");
        assert_eq!(page.body, known.body, "{email}: the very same bytes");
        assert_eq!(page.set_cookies(), known.set_cookies(), "{email}");
        assert!(!page.body.contains(email), "{email} is not echoed");
    }
    server.wait_for_mail("alice@example.com", 1).await;
    let messages = server.mailbox().messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0].to, "alice@example.com");
}

pub(crate) async fn reset_link_expires_after_an_hour(backend: Backend) {
    let server = server(backend).await;
    seed_user(&server, "alice@example.com").await;
    let mut client = server.client();
    client.get("/users/reset-password").await;
    client
        .post_with_csrf("/users/reset-password", &[("email", "alice@example.com")])
        .await;
    let path = link(&server, "alice@example.com", "/users/reset-password/").await;
    server
        .clock()
        .advance(TimeDelta::hours(1) + TimeDelta::seconds(1));
    client.get(&path).await;
    assert_dead_link(
        &client
            .post_with_csrf(&path, &[("password", NEW_PASSWORD)])
            .await,
    );
    client
        .log_in("alice@example.com", PASSWORD, false)
        .await
        .assert_redirect("/");
}

pub(crate) async fn reset_requests_are_rate_limited_per_email(backend: Backend) {
    let server = server(backend).await;
    seed_user(&server, "alice@example.com").await;
    let mut client = server.client();
    client.get("/users/reset-password").await;
    for email in ["nobody@example.com", "alice@example.com"] {
        for i in 0..3 {
            let page = client
                .post_with_csrf("/users/reset-password", &[("email", email)])
                .await;
            assert_eq!(page.status, StatusCode::OK, "{email} #{}", i + 1);
        }
        // The 4th in the minute is refused, however the address is written;
        // known and unknown addresses alike.
        for spelling in [email.to_owned(), email.to_uppercase()] {
            let limited = client
                .post_with_csrf("/users/reset-password", &[("email", &spelling)])
                .await;
            assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS, "{spelling}");
            assert_eq!(limited.header("retry-after"), Some("60"));
        }
    }
    server.wait_for_mail("alice@example.com", 3).await;
    assert_eq!(mail_count(&server, "alice@example.com"), 3);
    // Another address has its own budget; the window ends after a minute.
    let other = client
        .post_with_csrf("/users/reset-password", &[("email", "bob@example.com")])
        .await;
    assert_eq!(other.status, StatusCode::OK);
    server.clock().advance(TimeDelta::seconds(60));
    let again = client
        .post_with_csrf("/users/reset-password", &[("email", "alice@example.com")])
        .await;
    assert_eq!(again.status, StatusCode::OK);
}

pub(crate) async fn changing_the_password_keeps_only_this_session(backend: Backend) {
    let server = server(backend).await;
    seed_user(&server, "alice@example.com").await;
    let mut a = signed_in(&server, "alice@example.com", false).await;
    let mut b = signed_in(&server, "alice@example.com", false).await;
    let settings = a.get("/users/settings").await;
    for id in ["current_password", "password"] {
        assert!(settings.body.contains(&format!(r#"id="{id}""#)), "{id}");
    }

    let wrong = a
        .post_with_csrf(
            "/users/settings/password",
            &[("current_password", "not it"), ("password", NEW_PASSWORD)],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.body);
    assert!(
        wrong
            .form_error()
            .unwrap()
            .contains("not your current password")
    );
    let weak = a
        .post_with_csrf(
            "/users/settings/password",
            &[("current_password", PASSWORD), ("password", "short")],
        )
        .await;
    assert_eq!(
        weak.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        weak.body
    );
    assert_signed_in_as(&b.get("/dashboard").await, "alice@example.com");

    a.post_with_csrf(
        "/users/settings/password",
        &[("current_password", PASSWORD), ("password", NEW_PASSWORD)],
    )
    .await
    .assert_redirect("/users/settings");
    // Told once: the refused attempts above sent nothing.
    assert_eq!(
        notices(&server, "alice@example.com"),
        ["Your password was changed"]
    );
    let flash = a.get("/users/settings").await;
    assert!(flash.body.contains("1 other session(s)"), "{}", flash.body);
    assert_signed_in_as(&a.get("/dashboard").await, "alice@example.com");
    assert_signed_out(&mut b).await;
    assert_eq!(
        b.log_in("alice@example.com", PASSWORD, false).await.status,
        StatusCode::UNAUTHORIZED
    );
    b.log_in("alice@example.com", NEW_PASSWORD, false)
        .await
        .assert_redirect("/dashboard");
}

pub(crate) async fn changing_the_email_confirms_at_the_new_address_and_ends_sessions(
    backend: Backend,
) {
    let server = server(backend).await;
    seed_user(&server, "alice@example.com").await;
    seed_user(&server, "bob@example.com").await;
    let mut a = signed_in(&server, "alice@example.com", false).await;
    let mut b = signed_in(&server, "alice@example.com", false).await;
    a.get("/users/settings").await;

    let change = |email: &'static str, password: &'static str| {
        [("email", email), ("current_password", password)]
    };
    let wrong = a
        .post_with_csrf(
            "/users/settings/email",
            &change("alice.new@example.com", "not it"),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.body);
    for taken_or_bad in ["bob@example.com", "not an email", "alice@example.com"] {
        let page = a
            .post_with_csrf("/users/settings/email", &change(taken_or_bad, PASSWORD))
            .await;
        assert_eq!(
            page.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{taken_or_bad}"
        );
        assert!(page.form_error().is_some(), "{taken_or_bad}");
    }
    assert!(server.mailbox().messages().is_empty());

    let sent = a
        .post_with_csrf(
            "/users/settings/email",
            &change(" Alice.New@Example.com", PASSWORD),
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    assert!(
        sent.text_of("email-change-sent")
            .unwrap()
            .contains("alice.new@example.com")
    );
    // The link goes to the new address only; nothing changes until it is opened.
    assert_eq!(mail_count(&server, "alice@example.com"), 0);
    let path = link(
        &server,
        "alice.new@example.com",
        "/users/settings/confirm-email/",
    )
    .await;
    assert!(server.user("alice.new@example.com").await.is_none());
    assert_signed_in_as(&b.get("/dashboard").await, "alice@example.com");

    assert!(notices(&server, "alice@example.com").is_empty());
    follow_link(&mut a, &path)
        .await
        .assert_redirect("/users/log-in");
    // The old address is told (it is where the owner still reads mail if
    // the change was not theirs); the new one only ever got the link.
    assert_eq!(
        notices(&server, "alice@example.com"),
        ["Your email address was changed"]
    );
    assert!(notices(&server, "alice.new@example.com").is_empty());
    assert_signed_out(&mut a).await;
    assert_signed_out(&mut b).await;
    assert!(server.user("alice@example.com").await.is_none());
    assert_dead_link(&a.get(&path).await);

    assert_eq!(
        a.log_in("alice@example.com", PASSWORD, false).await.status,
        StatusCode::UNAUTHORIZED
    );
    a.log_in("alice.new@example.com", PASSWORD, false)
        .await
        .assert_redirect("/dashboard");
    assert_signed_in_as(&a.get("/dashboard").await, "alice.new@example.com");
}

pub(crate) async fn a_deleted_account_cannot_log_in_until_the_cancel_link(backend: Backend) {
    let server = server(backend).await;
    seed_user(&server, "alice@example.com").await;
    let mut a = signed_in(&server, "alice@example.com", false).await;
    let mut b = signed_in(&server, "alice@example.com", true).await;
    a.get("/users/settings").await;

    let wrong = a
        .post_with_csrf(
            "/users/settings/delete-account",
            &[("current_password", "not it")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.body);
    assert!(wrong.form_error().is_some());
    let user = server.user("alice@example.com").await.unwrap();
    assert!(user.deletion_scheduled_at.is_none());

    a.post_with_csrf(
        "/users/settings/delete-account",
        &[("current_password", PASSWORD)],
    )
    .await
    .assert_redirect("/");
    let home = a.get("/").await;
    let expected = (sigra_tests::t0() + TimeDelta::days(14))
        .format("%Y-%m-%d")
        .to_string();
    assert!(
        home.body.contains("will be deleted on") && home.body.contains(&expected),
        "{}",
        home.body
    );
    assert_signed_out(&mut a).await;
    assert_signed_out(&mut b).await;

    // The right password gets a clear 403; a wrong one the usual 401.
    let refused = a.log_in("alice@example.com", PASSWORD, false).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let message = refused.form_error().unwrap();
    assert!(
        message.contains("scheduled for deletion") && message.contains("cancellation link"),
        "{message}"
    );
    assert_signed_out(&mut a).await;
    let wrong = a.log_in("alice@example.com", "not it", false).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);

    let path = link(&server, "alice@example.com", "/users/cancel-deletion/").await;
    let mut mail_client = Client::new(&server);
    follow_link(&mut mail_client, &path)
        .await
        .assert_redirect("/users/log-in");
    assert_dead_link(&mail_client.get(&path).await);
    assert_dead_link(&mail_client.post_with_csrf(&path, &[]).await);
    a.log_in("alice@example.com", PASSWORD, false)
        .await
        .assert_redirect("/dashboard");
    assert_signed_in_as(&a.get("/dashboard").await, "alice@example.com");
}

pub(crate) async fn dead_and_malformed_links_are_404(backend: Backend) {
    let server = server(backend).await;
    let mut client = server.client();
    let well_formed_unknown = "A".repeat(43);
    // A CSRF token for the posts below.
    client.get("/users/log-in").await;
    for token in ["garbage", well_formed_unknown.as_str(), "%00"] {
        for prefix in [
            "/users/confirm/",
            "/users/settings/confirm-email/",
            "/users/cancel-deletion/",
        ] {
            let page = client.get(&format!("{prefix}{token}")).await;
            assert_dead_link(&page);
            let posted = client
                .post_with_csrf(&format!("{prefix}{token}"), &[])
                .await;
            assert_dead_link(&posted);
        }
    }
    assert_dead_link(&client.get("/users/reset-password/garbage").await);
    client.get("/users/reset-password").await;
    assert_dead_link(
        &client
            .post_with_csrf(
                &format!("/users/reset-password/{well_formed_unknown}"),
                &[("password", NEW_PASSWORD)],
            )
            .await,
    );
}

/// A mail scanner that opens every link (twice, without cookies) uses none
/// of them up and changes nothing; the reader's button does the change.
pub(crate) async fn opening_an_email_link_changes_nothing_until_its_button_is_pressed(
    backend: Backend,
) {
    let server = server(backend).await;
    let mut reader = server.client();
    reader
        .register("carol@example.com", PASSWORD)
        .await
        .assert_redirect("/");
    let confirm = link(&server, "carol@example.com", "/users/confirm/").await;

    seed_user(&server, "alice@example.com").await;
    let mut alice = signed_in(&server, "alice@example.com", false).await;
    alice.get("/users/settings").await;
    let sent = alice
        .post_with_csrf(
            "/users/settings/email",
            &[
                ("current_password", PASSWORD),
                ("email", "alice.new@example.com"),
            ],
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    let change = link(
        &server,
        "alice.new@example.com",
        "/users/settings/confirm-email/",
    )
    .await;

    seed_user(&server, "dave@example.com").await;
    let mut dave = signed_in(&server, "dave@example.com", false).await;
    dave.get("/users/settings").await;
    dave.post_with_csrf(
        "/users/settings/delete-account",
        &[("current_password", PASSWORD)],
    )
    .await
    .assert_redirect("/");
    let cancel = link(&server, "dave@example.com", "/users/cancel-deletion/").await;

    for path in [&confirm, &change, &cancel] {
        let mut scanner = Client::new(&server);
        for _ in 0..2 {
            let page = scanner.get(path).await;
            assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        }
    }
    let carol = server.user("carol@example.com").await.unwrap();
    assert!(carol.confirmed_at.is_none(), "a GET confirmed the address");
    assert!(server.user("alice@example.com").await.is_some());
    assert!(server.user("alice.new@example.com").await.is_none());
    let dave_row = server.user("dave@example.com").await.unwrap();
    assert!(
        dave_row.deletion_scheduled_at.is_some(),
        "a GET cancelled the deletion"
    );

    // Each link still works, once, with its button.
    follow_link(&mut reader, &confirm)
        .await
        .assert_redirect("/");
    let carol = server.user("carol@example.com").await.unwrap();
    assert!(carol.confirmed_at.is_some());
    follow_link(&mut Client::new(&server), &change)
        .await
        .assert_redirect("/users/log-in");
    assert!(server.user("alice.new@example.com").await.is_some());
    follow_link(&mut Client::new(&server), &cancel)
        .await
        .assert_redirect("/users/log-in");
    let dave_row = server.user("dave@example.com").await.unwrap();
    assert!(dave_row.deletion_scheduled_at.is_none());
    for path in [&confirm, &change, &cancel] {
        assert_dead_link(&Client::new(&server).get(path).await);
    }
}

pub(crate) async fn dev_mailbox_json_is_served_only_in_dev(backend: Backend) {
    // Test (the default here) and prod: 404, even with a mailbox attached.
    let test = server(backend).await;
    assert_eq!(
        test.client().get("/dev/mailbox.json").await.status,
        StatusCode::NOT_FOUND
    );
    let prod = spawn_server(backend, |_| {
        Config::builder(Environment::Prod)
            .secret_key_base(SecretKeyBase::new(b"prod-secret-key-base-".repeat(4)).unwrap())
            .public_url("https://app.example.com")
    })
    .await;
    assert_eq!(
        prod.client().get("/dev/mailbox.json").await.status,
        StatusCode::NOT_FOUND
    );

    let dev = spawn_server(backend, |_| Config::builder(Environment::Dev)).await;
    let mut client = dev.client();
    let empty = client.get("/dev/mailbox.json").await;
    assert_eq!(empty.status, StatusCode::OK);
    assert_eq!(empty.body, "[]");
    client
        .register("dave@example.com", PASSWORD)
        .await
        .assert_redirect("/");
    client.get("/users/reset-password").await;
    client
        .post_with_csrf("/users/reset-password", &[("email", "dave@example.com")])
        .await;
    dev.wait_for_mail("dave@example.com", 2).await;
    let page = client.get("/dev/mailbox.json").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let messages: serde_json::Value = serde_json::from_str(&page.body).unwrap();
    let messages = messages.as_array().unwrap();
    assert_eq!(messages.len(), 2, "{messages:?}");
    let mut keys: Vec<&str> = messages[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["subject", "text", "to"]);
    assert_eq!(messages[0]["subject"], "Confirm your email address");
    assert_eq!(messages[1]["subject"], "Reset your password", "newest last");
    assert_eq!(messages[1]["to"], "dave@example.com");
    assert!(
        messages[1]["text"]
            .as_str()
            .unwrap()
            .contains("/users/reset-password/")
    );
}

pub(crate) async fn the_reset_request_answers_before_its_work_and_is_limited_per_client(
    backend: Backend,
) {
    let server = server(backend).await;
    seed_user(&server, "alice@example.com").await;
    let mut client = server.client();
    client.get("/users/reset-password").await;
    // The mail hand-off is held: a known address's answer must not wait for
    // it (nor for the token insert and audit row before it).
    server.hold_mail();
    let mut pages = Vec::new();
    for email in ["alice@example.com", "nobody@example.com"] {
        let page = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            client.post_with_csrf("/users/reset-password", &[("email", email)]),
        )
        .await
        .unwrap_or_else(|_| panic!("the answer for {email} waited for the mail hand-off"));
        pages.push(page);
    }
    assert_eq!(pages[0].status, StatusCode::OK);
    assert_eq!(pages[0].body, pages[1].body, "the same answer");
    assert_eq!(mail_count(&server, "alice@example.com"), 0);
    server.release_mail();
    server.wait_for_mail("alice@example.com", 1).await;

    // Per client too: an address-cycling client (each address has its own
    // per-address budget) is refused after 10 in a minute.
    for i in 2..10 {
        let email = format!("visitor{i}@example.com");
        let page = client
            .post_with_csrf("/users/reset-password", &[("email", &email)])
            .await;
        assert_eq!(page.status, StatusCode::OK, "request {}", i + 1);
    }
    let limited = client
        .post_with_csrf(
            "/users/reset-password",
            &[("email", "visitor10@example.com")],
        )
        .await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.body
    );
    assert_eq!(limited.header("retry-after"), Some("60"));
    // The window ends after a minute.
    server.clock().advance(TimeDelta::seconds(60));
    let again = client
        .post_with_csrf(
            "/users/reset-password",
            &[("email", "visitor11@example.com")],
        )
        .await;
    assert_eq!(again.status, StatusCode::OK);
}
