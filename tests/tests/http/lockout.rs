//! The per-user lockout over HTTP: it holds against concurrent guesses from
//! many addresses, password checks behind a session count toward it, and the
//! owner is mailed once per lock.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use sigra_core::mail::Email;
use sigra_tests::http::{
    Client, Method, Page, StatusCode, TestServer, headers, spawn_server, spawn_server_with_hasher,
};
use sigra_tests::{Backend, SlowVerifyHasher};

use super::{PASSWORD, assert_signed_out, seed_user, signed_in};

/// The test client's own address, trusted as the reverse proxy, so
/// `X-Forwarded-For` names the client.
fn behind_proxy(config: sigra_core::config::ConfigBuilder) -> sigra_core::config::ConfigBuilder {
    config.trusted_proxies(["127.0.0.1/32".parse().unwrap()])
}

/// One log-in POST from `ip` (through the trusted proxy), with the CSRF
/// token of the log-in page the client loaded last.
async fn log_in_from(client: &mut Client, ip: &str, email: &str, password: &str) -> Page {
    let csrf = client
        .csrf_token()
        .expect("GET /users/log-in first")
        .to_owned();
    client
        .request(
            Method::POST,
            "/users/log-in",
            headers(&[("x-forwarded-for", ip)]),
            Some(&[
                ("_csrf_token", csrf.as_str()),
                ("email", email),
                ("password", password),
            ]),
        )
        .await
}

/// The lockout messages mailed so far.
fn lockout_mails(server: &TestServer) -> Vec<Email> {
    server
        .mailbox()
        .messages()
        .into_iter()
        .filter(|m| m.subject.contains("locked"))
        .collect()
}

pub(crate) async fn concurrent_guesses_from_many_addresses_cannot_race_the_lockout(
    backend: Backend,
) {
    const GUESSES: usize = 40;
    // Each verification takes 1 s, as a slow Argon2 on a busy server may:
    // the guesses are all in flight when the right password arrives.
    let hasher = Arc::new(SlowVerifyHasher::new(Duration::from_millis(1000)));
    let server = spawn_server_with_hasher(backend, hasher, GUESSES + 8, behind_proxy).await;
    seed_user(&server, "alice@example.com").await;
    let threshold =
        i32::try_from(server.sigra().auth().config().password.lockout_threshold).unwrap();

    let mut owner = server.client();
    owner.get("/users/log-in").await;
    let mut guesses = Vec::new();
    for i in 0..GUESSES {
        let mut client = server.client();
        client.get("/users/log-in").await;
        guesses.push(tokio::spawn(async move {
            let ip = format!("198.51.100.{}", i + 1);
            log_in_from(&mut client, &ip, "alice@example.com", "wrong password")
                .await
                .status
        }));
    }
    // Give the guesses up to half a second to be counted (code that counts
    // a guess only after verifying it counts nothing for 1 s).
    let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
    while tokio::time::Instant::now() < deadline {
        let counted = server
            .user("alice@example.com")
            .await
            .unwrap()
            .failed_login_count;
        if counted >= threshold {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // The right password, from yet another address, a moment later.
    let right = log_in_from(&mut owner, "203.0.113.1", "alice@example.com", PASSWORD).await;
    assert_eq!(
        right.status,
        StatusCode::UNAUTHORIZED,
        "the right password after {GUESSES} concurrent guesses: {:?} {}",
        right.location(),
        right.body
    );
    assert_signed_out(&mut owner).await;
    for guess in guesses {
        assert_eq!(guess.await.unwrap(), StatusCode::UNAUTHORIZED);
    }
    let alice = server.user("alice@example.com").await.unwrap();
    assert!(alice.is_locked(server.sigra().auth().now()), "{alice:?}");
    assert!(
        server
            .sigra()
            .auth()
            .list_sessions(alice.id)
            .await
            .unwrap()
            .is_empty()
    );
}

pub(crate) async fn password_checks_behind_a_session_count_toward_the_lockout(backend: Backend) {
    let server = spawn_server(backend, |config| config).await;
    seed_user(&server, "alice@example.com").await;
    let mut alice = signed_in(&server, "alice@example.com", false).await;
    alice.get("/users/settings").await;

    // A stolen session guessing the password: one wrong guess through each
    // form that checks it, then a second one at sudo — five in all.
    let wrong = [
        ("/users/sudo", vec![("current_password", "guess 1")]),
        (
            "/users/settings/password",
            vec![
                ("current_password", "guess 2"),
                ("password", "a new password 123"),
            ],
        ),
        (
            "/users/settings/email",
            vec![
                ("current_password", "guess 3"),
                ("email", "mallory@example.com"),
            ],
        ),
        (
            "/users/settings/delete-account",
            vec![("current_password", "guess 4")],
        ),
        ("/users/sudo", vec![("current_password", "guess 5")]),
    ];
    assert_eq!(
        wrong.len(),
        usize::try_from(server.sigra().auth().config().password.lockout_threshold).unwrap()
    );
    for (path, fields) in &wrong {
        let page = alice.post_with_csrf(path, fields).await;
        assert_eq!(
            page.status,
            StatusCode::UNAUTHORIZED,
            "{path}: {}",
            page.body
        );
    }

    // Locked: the right password is refused behind the session too …
    let sudo = alice
        .post_with_csrf("/users/sudo", &[("current_password", PASSWORD)])
        .await;
    assert_eq!(sudo.status, StatusCode::TOO_MANY_REQUESTS, "{}", sudo.body);
    assert!(
        sudo.body.contains("Too many wrong passwords"),
        "{}",
        sudo.body
    );
    let delete = alice
        .post_with_csrf(
            "/users/settings/delete-account",
            &[("current_password", PASSWORD)],
        )
        .await;
    assert_eq!(
        delete.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        delete.body
    );
    let stored = server.user("alice@example.com").await.unwrap();
    assert!(stored.deletion_scheduled_at.is_none());
    // … and at log-in, from anywhere.
    let mut elsewhere = server.client();
    let page = elsewhere.log_in("alice@example.com", PASSWORD, false).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{}", page.body);

    // The lock ends after its 15 minutes.
    server
        .clock()
        .advance(TimeDelta::minutes(15) + TimeDelta::seconds(1));
    alice.get("/users/settings").await;
    alice
        .post_with_csrf("/users/sudo", &[("current_password", PASSWORD)])
        .await
        .assert_redirect("/users/settings");
}

pub(crate) async fn a_lockout_mails_the_owner_once_per_lock(backend: Backend) {
    let server = spawn_server(backend, behind_proxy).await;
    seed_user(&server, "alice@example.com").await;
    let threshold = server.sigra().auth().config().password.lockout_threshold;
    let mut guesser = server.client();
    let mut guess = async |n: u32| {
        for _ in 0..n {
            guesser.get("/users/log-in").await;
            let page = log_in_from(&mut guesser, "203.0.113.9", "alice@example.com", "nope").await;
            assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{}", page.body);
        }
    };

    guess(threshold - 1).await;
    assert!(lockout_mails(&server).is_empty(), "no lock yet, no mail");
    guess(1).await;
    let mails = lockout_mails(&server);
    assert_eq!(mails.len(), 1, "{mails:?}");
    let mail = &mails[0];
    assert_eq!(mail.to, "alice@example.com");
    // What happened, from where, and the way out.
    assert!(mail.text.contains("203.0.113.9"), "{}", mail.text);
    assert!(mail.text.contains("15 minutes"), "{}", mail.text);
    assert!(
        mail.text.contains(&server.url("/users/reset-password")),
        "{}",
        mail.text
    );
    assert!(!mail.text.contains("nope"));

    // More guesses during the same lock mail nothing more.
    guess(2).await;
    assert_eq!(lockout_mails(&server).len(), 1);

    // A new lock after the first one ended is a new message.
    server
        .clock()
        .advance(TimeDelta::minutes(15) + TimeDelta::seconds(1));
    guess(threshold).await;
    let mails = lockout_mails(&server);
    assert_eq!(mails.len(), 2, "{mails:?}");
    assert_ne!(mails[0].idempotency_key, mails[1].idempotency_key);
}
