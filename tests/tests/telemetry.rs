//! Telemetry and secret hygiene: a whole flow — register, log in, enrol MFA,
//! log in with TOTP and a backup code, reset the password by email — runs
//! under a subscriber that records every span and event at TRACE level from
//! every crate (Sigra, sqlx, hyper, …). Then the record is searched for the
//! password, the raw session and email tokens, the TOTP secret and codes, the
//! backup codes and the email address: none may appear. The Sigra events the
//! docs promise (`sigra.auth.register`, `sigra.auth.login`, …) must fire.
//!
//! The app has one more route, a handler under `#[tracing::instrument]`
//! that also logs every public type of `sigra-web` holding a user or a
//! cookie (`AuthSession`, `CurrentUser`, `MaybeUser`, `CurrentScope`, the
//! `testing` fixture) with `{:?}` (issue 13, item 11): their `Debug` output
//! must not hold the CSRF token, the trust cookie, the email or any token.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use axum::extract::Extension;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sigra_core::clock::Clock;
use sigra_core::mfa::{TotpSecret, totp_code_at};
use sigra_tests::Backend;
use sigra_tests::http::{StatusCode, spawn_server_with_app};
use sigra_web::{AuthSession, CurrentScope, CurrentUser, MaybeUser};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Record};
use tracing::{Event, Id, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::Registry;

/// Records every event and span as one line of text: its name, target and fields.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

struct Line<'a>(&'a mut String);

impl Visit for Line<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={:?}", field.name(), value);
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={}", field.name(), value);
    }
}

impl<S: Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let meta = event.metadata();
        let mut line = format!("event {} {} {}", meta.level(), meta.target(), meta.name());
        event.record(&mut Line(&mut line));
        self.0.lock().unwrap().push(line);
    }
    fn on_new_span(&self, attrs: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        let meta = attrs.metadata();
        let mut line = format!("span {} {}", meta.target(), meta.name());
        attrs.record(&mut Line(&mut line));
        self.0.lock().unwrap().push(line);
    }
    fn on_record(&self, _: &Id, values: &Record<'_>, _: Context<'_, S>) {
        let mut line = String::from("record");
        values.record(&mut Line(&mut line));
        self.0.lock().unwrap().push(line);
    }
}

/// The raw session token inside a `_sigra_session` cookie value.
fn session_token(cookie: &str) -> String {
    let payload = URL_SAFE_NO_PAD
        .decode(cookie.split('.').next().unwrap())
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&payload[17..]).unwrap();
    json["t"]
        .as_str()
        .expect("a signed-in cookie holds a token")
        .to_owned()
}

/// A handler as an app might write one: every argument is recorded with `{:?}`.
#[tracing::instrument(name = "test.debug_of_extractors")]
async fn debug_of_extractors(
    session: AuthSession,
    current: CurrentUser,
    maybe: MaybeUser,
    Extension(scope): Extension<CurrentScope>,
) -> StatusCode {
    tracing::info!(?session, ?current, ?maybe, ?scope, "the extractors");
    StatusCode::NO_CONTENT
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_flow_at_trace_level_logs_no_secret_and_emits_the_documented_events() {
    // Process-wide, so events from every thread count: tokio workers, sqlx's
    // SQLite worker threads, the password-hashing pool. Other tests of this
    // binary log into it too; only this test's secrets are searched for.
    let capture = Capture::default();
    let subscriber = Registry::default().with(capture.clone());
    tracing::subscriber::set_global_default(subscriber)
        .expect("only this test installs a global subscriber");

    let server = spawn_server_with_app(
        Backend::SqliteFile,
        |b| b,
        |sigra| {
            axum::Router::new()
                .route("/debug-of-extractors", get(debug_of_extractors))
                .layer(sigra.layer())
                .merge(sigra.demo_app())
        },
    )
    .await;
    let email = "hygiene.check@example.com";
    let password = "Unforgettable-Passphrase-42";
    let new_password = "Another-Unforgettable-Passphrase-43";
    let mut secrets: Vec<String> = vec![password.into(), new_password.into(), email.into()];

    let mut client = server.client();
    assert_eq!(
        client.register(email, password).await.status,
        StatusCode::SEE_OTHER
    );
    let session_cookie = client.cookie("_sigra_session").unwrap().to_owned();
    secrets.push(session_token(&session_cookie));
    secrets.push(session_cookie);

    // MFA enrolment: the secret and the backup codes.
    client.get("/users/settings").await;
    let page = client
        .post_with_csrf("/users/settings/mfa/enroll", &[])
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let secret_text = page.text_of("totp-secret").unwrap();
    let secret = TotpSecret::from_base32(&secret_text).unwrap();
    secrets.push(secret_text);
    let code = totp_code_at(&secret, server.clock().now());
    let confirmed = client
        .post_with_csrf("/users/settings/mfa/confirm", &[("code", &code)])
        .await;
    assert_eq!(confirmed.status, StatusCode::OK);
    let codes: Vec<String> = confirmed
        .body
        .split(r#"<li class="backup-code">"#)
        .skip(1)
        .map(|rest| rest[..rest.find("</li>").unwrap()].to_owned())
        .collect();
    assert!(!codes.is_empty());
    secrets.extend(codes.iter().cloned());

    // Log in again with the password, then a TOTP code (a later step).
    client.get("/").await;
    client.post_with_csrf("/users/log-out", &[]).await;
    let step = client.log_in(email, password, true).await;
    assert_eq!(step.location(), Some("/users/mfa"));
    server.clock().advance(chrono::TimeDelta::seconds(30));
    let code = totp_code_at(&secret, server.clock().now());
    secrets.push(code.clone());
    client.get("/users/mfa").await;
    let done = client
        .post_with_csrf("/users/mfa", &[("code", &code), ("trust_browser", "true")])
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    secrets.push(session_token(client.cookie("_sigra_session").unwrap()));
    secrets.push(client.cookie("_sigra_remember_me").unwrap().to_owned());
    secrets.push(client.cookie("_sigra_mfa_trust").unwrap().to_owned());

    // The web types' `Debug` output, from a handler that logs its extractors.
    client.get("/dashboard").await;
    secrets.push(client.csrf_token().unwrap().to_owned());
    let logged = client.get("/debug-of-extractors").await;
    assert_eq!(logged.status, StatusCode::NO_CONTENT, "{}", logged.body);

    // A second browser uses a backup code.
    let mut other = server.client();
    other.log_in(email, password, false).await;
    other.get("/users/mfa").await;
    let backup = other
        .post_with_csrf("/users/mfa", &[("code", &codes[0])])
        .await;
    assert_eq!(backup.status, StatusCode::SEE_OTHER, "{}", backup.body);

    // Password reset by email.
    let mut anonymous = server.client();
    anonymous.get("/users/reset-password").await;
    anonymous
        .post_with_csrf("/users/reset-password", &[("email", email)])
        .await;
    // The reset mail leaves after the answer: wait for it.
    let message = server
        .wait_for_message(email, "/users/reset-password/")
        .await;
    let link = message
        .text
        .split_whitespace()
        .find(|w| w.contains("/users/reset-password/"))
        .unwrap()
        .to_owned();
    let token = link.rsplit('/').next().unwrap().to_owned();
    secrets.push(token);
    let path = link.splitn(4, '/').nth(3).map(|p| format!("/{p}")).unwrap();
    anonymous.get(&path).await;
    let reset = anonymous
        .post_with_csrf(&path, &[("password", new_password)])
        .await;
    assert_eq!(reset.status, StatusCode::SEE_OTHER, "{}", reset.body);

    // The testing fixture's `Debug` output.
    let user = server.user(email).await.unwrap();
    let fixture = sigra_web::testing::signed_in_fixture(server.sigra(), &user, true)
        .await
        .unwrap();
    secrets.push(fixture.csrf_token().to_owned());
    secrets.push(fixture.session_cookie().to_owned());
    secrets.push(fixture.remember_me_cookie().unwrap().to_owned());
    tracing::info!(?fixture, "a test fixture");

    drop(server);
    let lines = capture.0.lock().unwrap().clone();
    assert!(
        lines.len() > 50,
        "the subscriber saw the flow ({} lines)",
        lines.len()
    );
    let all = lines.join("\n");
    if std::env::var_os("SIGRA_DUMP_TELEMETRY").is_some() {
        eprintln!("{all}");
    }
    for secret in &secrets {
        if let Some(line) = lines.iter().find(|l| l.contains(secret.as_str())) {
            panic!("a secret appeared in telemetry: {line}");
        }
    }
    assert!(
        all.contains("AuthSession")
            && all.contains("CurrentScope")
            && all.contains("Authenticated"),
        "the Debug output was logged"
    );
    for name in [
        "sigra.auth.register",
        "sigra.auth.login",
        "sigra.session.create",
        "sigra.mfa.enroll",
        "sigra.mfa.challenge",
        "sigra.auth.logout",
        "sigra.auth.reset_password",
    ] {
        assert!(
            all.contains(&format!(" {name}")),
            "no `{name}` event was emitted"
        );
    }
    assert!(all.contains("outcome"), "events carry an outcome");
}
