//! TOTP MFA over HTTP: enrolment, the second factor at log-in, replay and
//! backup codes, "trust this browser" cookies (other user, revoked, expired),
//! the lockout and rate limit, and sudo for every MFA change (a log-in
//! opens the window), with a notice to the owner when MFA goes on or off.

use chrono::TimeDelta;
use sigra_core::clock::Clock;
use sigra_core::cookie::TRUST_COOKIE;
use sigra_core::mfa::{BACKUP_CODE_KEY_PURPOSE, TotpSecret, totp_code_at};
use sigra_core::rate_limit::{RateLimit, RateLimitAction};
use sigra_tests::Backend;
use sigra_tests::http::{Client, Page, StatusCode, TestServer, spawn_node, spawn_server};

use super::{PASSWORD, assert_signed_in_as, assert_signed_out, seed_user, server, signed_in};

/// What enrolment gave the user.
pub(crate) struct Enrolled {
    pub(crate) secret: TotpSecret,
    pub(crate) backup_codes: Vec<String>,
}

/// The backup codes listed on a page, in order.
fn backup_codes(page: &Page) -> Vec<String> {
    page.body
        .split(r#"<li class="backup-code">"#)
        .skip(1)
        .map(|rest| rest[..rest.find("</li>").expect("a closed <li>")].to_owned())
        .collect()
}

/// The code the user's app shows at the server's current time.
fn code_now(server: &TestServer, secret: &TotpSecret) -> String {
    totp_code_at(secret, server.clock().now())
}

/// Enrols the signed-in `client` through the settings pages.
pub(crate) async fn enroll(server: &TestServer, client: &mut Client) -> Enrolled {
    client.get("/users/settings").await;
    let page = client
        .post_with_csrf("/users/settings/mfa/enroll", &[])
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let secret = TotpSecret::from_base32(&page.text_of("totp-secret").expect("the secret"))
        .expect("the secret is base32");
    let confirmed = client
        .post_with_csrf(
            "/users/settings/mfa/confirm",
            &[("code", &code_now(server, &secret))],
        )
        .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    Enrolled {
        secret,
        backup_codes: backup_codes(&confirmed),
    }
}

/// Logs out through the form (loading a page first for the current CSRF token).
async fn log_out(client: &mut Client) {
    client.get("/").await;
    client
        .post_with_csrf("/users/log-out", &[])
        .await
        .assert_redirect("/");
}

/// Seeds `email`, enrols it, logs out; returns the (signed-out) client.
async fn mfa_user(server: &TestServer, email: &str) -> (Client, Enrolled) {
    seed_user(server, email).await;
    let mut client = signed_in(server, email, false).await;
    let enrolled = enroll(server, &mut client).await;
    client
        .post_with_csrf("/users/log-out", &[])
        .await
        .assert_redirect("/");
    (client, enrolled)
}

/// Password step of a user with MFA: asserts the 303 to `/users/mfa` and
/// loads the code form (whose CSRF token is the renewed one).
async fn password_step(client: &mut Client, email: &str) -> Page {
    client
        .log_in(email, PASSWORD, false)
        .await
        .assert_redirect("/users/mfa");
    let form = client.get("/users/mfa").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    form
}

/// Moves to the next TOTP step and submits its code (with `trust_browser=true` when `trust`).
async fn submit_fresh_code(
    server: &TestServer,
    client: &mut Client,
    secret: &TotpSecret,
    trust: bool,
) -> Page {
    server.clock().advance(TimeDelta::seconds(30));
    let code = code_now(server, secret);
    let mut fields = vec![("code", code.as_str())];
    if trust {
        fields.push(("trust_browser", "true"));
    }
    client.post_with_csrf("/users/mfa", &fields).await
}

pub(crate) async fn enrolment_shows_secret_qr_and_backup_codes_once(backend: Backend) {
    let server = server(backend).await;
    seed_user(&server, "alice@example.com").await;
    let mut client = signed_in(&server, "alice@example.com", false).await;
    let settings = client.get("/users/settings").await;
    assert_eq!(
        settings.text_of("mfa-state").as_deref(),
        Some("Not enabled.")
    );
    assert!(
        settings
            .body
            .contains(r#"action="/users/settings/mfa/enroll""#)
    );

    let page = client
        .post_with_csrf("/users/settings/mfa/enroll", &[])
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let secret_text = page.text_of("totp-secret").unwrap();
    let secret = TotpSecret::from_base32(&secret_text).unwrap();
    let uri = page.text_of("otpauth-uri").unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(&format!("secret={secret_text}")), "{uri}");
    // The QR code is an inline SVG the strict CSP allows: no style attribute, no XML prolog, no script.
    assert_eq!(page.count("<svg"), 1, "{}", page.body);
    assert!(page.body.contains(r##"fill="#000000""##));
    for forbidden in ["style=", "<?xml", "<script", "<style"] {
        assert!(!page.body.contains(forbidden), "{forbidden} in the page");
    }
    assert!(page.body.contains(r#"name="code""#) && page.body.contains(r#"id="code""#));
    assert_eq!(page.header("cache-control"), Some("no-store"));

    // A wrong first code: 422, MFA still off, the secret is not shown again.
    let wrong = client
        .post_with_csrf("/users/settings/mfa/confirm", &[("code", "000000")])
        .await;
    assert_eq!(
        wrong.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        wrong.body
    );
    assert!(wrong.form_error().is_some());
    assert!(!wrong.body.contains(&secret_text));
    assert!(!server.user("alice@example.com").await.unwrap().mfa_enabled);

    let confirmed = client
        .post_with_csrf(
            "/users/settings/mfa/confirm",
            &[("code", &code_now(&server, &secret))],
        )
        .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    let codes = backup_codes(&confirmed);
    let expected = server.sigra().auth().config().mfa.backup_code_count;
    assert_eq!(codes.len(), expected, "{}", confirmed.body);
    assert!(
        codes
            .iter()
            .all(|c| c.len() == 9 && c.as_bytes()[4] == b'-'),
        "{codes:?}"
    );
    assert!(server.user("alice@example.com").await.unwrap().mfa_enabled);

    // Settings shows the state and the count, never the codes or the secret again.
    let settings = client.get("/users/settings").await;
    assert_eq!(settings.text_of("mfa-state").as_deref(), Some("Enabled."));
    assert_eq!(
        settings.text_of("backup-codes-remaining"),
        Some(expected.to_string())
    );
    assert!(!settings.body.contains(&codes[0]));
    assert!(!settings.body.contains(&secret_text));
    // Enrolling again is refused while MFA is on.
    client
        .post_with_csrf("/users/settings/mfa/enroll", &[])
        .await
        .assert_redirect("/users/settings");
}

pub(crate) async fn log_in_with_mfa_asks_for_the_code_and_refuses_a_replay(backend: Backend) {
    let server = server(backend).await;
    let (mut client, enrolled) = mfa_user(&server, "alice@example.com").await;

    // A protected page first, so the return path is remembered across both steps.
    client
        .get("/dashboard")
        .await
        .assert_redirect("/users/log-in");
    let form = password_step(&mut client, "alice@example.com").await;
    for id in [
        r#"id="code""#,
        r#"id="trust_browser""#,
        r#"name="_csrf_token""#,
    ] {
        assert!(form.body.contains(id), "{id}: {}", form.body);
    }
    // Half-way is not signed in.
    client
        .get("/dashboard")
        .await
        .assert_redirect("/users/log-in");
    client.get("/users/mfa").await;

    let wrong = client
        .post_with_csrf("/users/mfa", &[("code", "123456")])
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.body);
    assert!(wrong.form_error().unwrap().contains("not valid"));
    assert!(
        wrong.body.contains(r#"id="code""#),
        "the form is shown again"
    );

    let page = submit_fresh_code(&server, &mut client, &enrolled.secret, false).await;
    page.assert_redirect("/dashboard");
    assert!(
        page.set_cookie(TRUST_COOKIE).is_none(),
        "trust was not asked for"
    );
    assert_signed_in_as(&client.get("/dashboard").await, "alice@example.com");
    let used = code_now(&server, &enrolled.secret);

    // The same step again, from a fresh log-in: refused.
    client
        .post_with_csrf("/users/log-out", &[])
        .await
        .assert_redirect("/");
    password_step(&mut client, "alice@example.com").await;
    let replay = client
        .post_with_csrf("/users/mfa", &[("code", &used)])
        .await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED, "{}", replay.body);
    assert_signed_out(&mut client).await;
    client.get("/users/mfa").await;
    submit_fresh_code(&server, &mut client, &enrolled.secret, false)
        .await
        .assert_redirect("/dashboard");
    assert_signed_in_as(&client.get("/dashboard").await, "alice@example.com");
}

pub(crate) async fn mfa_page_needs_a_pending_log_in_that_expires(backend: Backend) {
    let server = server(backend).await;
    let (mut client, enrolled) = mfa_user(&server, "alice@example.com").await;
    let mut anonymous = server.client();
    anonymous
        .get("/users/mfa")
        .await
        .assert_redirect("/users/log-in");
    anonymous.get("/users/log-in").await;
    anonymous
        .post_with_csrf("/users/mfa", &[("code", "123456")])
        .await
        .assert_redirect("/users/log-in");

    // The pending log-in lives 5 minutes.
    password_step(&mut client, "alice@example.com").await;
    server
        .clock()
        .advance(TimeDelta::minutes(5) + TimeDelta::seconds(1));
    let code = code_now(&server, &enrolled.secret);
    // The expired pending session is gone: the code is not even looked at.
    client
        .post_with_csrf("/users/mfa", &[("code", &code)])
        .await
        .assert_redirect("/users/log-in");
    assert_signed_out(&mut client).await;
}

pub(crate) async fn a_backup_code_works_once(backend: Backend) {
    let server = server(backend).await;
    let (mut client, enrolled) = mfa_user(&server, "alice@example.com").await;
    let code = enrolled.backup_codes[0].clone();

    password_step(&mut client, "alice@example.com").await;
    // Typed in lower case with spaces: still the same code.
    let typed = format!(" {} ", code.to_lowercase());
    client
        .post_with_csrf("/users/mfa", &[("code", &typed)])
        .await
        .assert_redirect("/");
    let settings = client.get("/users/settings").await;
    assert_eq!(
        settings.text_of("backup-codes-remaining"),
        Some((enrolled.backup_codes.len() - 1).to_string())
    );
    client
        .post_with_csrf("/users/log-out", &[])
        .await
        .assert_redirect("/");

    password_step(&mut client, "alice@example.com").await;
    let again = client
        .post_with_csrf("/users/mfa", &[("code", &code)])
        .await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED, "{}", again.body);
    assert_signed_out(&mut client).await;
    client.get("/users/mfa").await;
    client
        .post_with_csrf("/users/mfa", &[("code", &enrolled.backup_codes[1])])
        .await
        .assert_redirect("/dashboard");
}

pub(crate) async fn a_trusted_browser_skips_mfa_only_for_its_user_epoch_and_ttl(backend: Backend) {
    let server = server(backend).await;
    let (mut alice, enrolled) = mfa_user(&server, "alice@example.com").await;
    let (mut bob, _) = mfa_user(&server, "bob@example.com").await;

    password_step(&mut alice, "alice@example.com").await;
    let done = submit_fresh_code(&server, &mut alice, &enrolled.secret, true).await;
    done.assert_redirect("/");
    let trust = done.set_cookie(TRUST_COOKIE).expect("a trust cookie");
    assert!(trust.has_flag("HttpOnly"), "{}", trust.raw);
    assert_eq!(trust.attribute("SameSite"), Some("Lax"), "{}", trust.raw);
    let trust_value = trust.value.clone();
    log_out(&mut alice).await;
    assert_eq!(
        alice.cookie(TRUST_COOKIE),
        Some(trust_value.as_str()),
        "log-out keeps trust"
    );

    // Straight in: the password is enough in this browser.
    alice
        .log_in("alice@example.com", PASSWORD, false)
        .await
        .assert_redirect("/");
    assert_signed_in_as(&alice.get("/dashboard").await, "alice@example.com");

    // Alice's cookie in Bob's browser does nothing for Bob.
    bob.set_cookie(TRUST_COOKIE, &trust_value);
    password_step(&mut bob, "bob@example.com").await;

    // A tampered cookie does nothing either.
    let mut tampered = server.client();
    let mut bytes = trust_value.clone().into_bytes();
    let last = bytes.len() - 2;
    bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
    tampered.set_cookie(TRUST_COOKIE, &String::from_utf8(bytes).unwrap());
    password_step(&mut tampered, "alice@example.com").await;

    // "Forget every trusted browser": the cookie from before stops working.
    server.clock().advance(TimeDelta::minutes(1));
    alice.get("/users/settings").await;
    alice
        .post_with_csrf("/users/settings/mfa/revoke-trusted-browsers", &[])
        .await
        .assert_redirect("/users/settings");
    log_out(&mut alice).await;
    password_step(&mut alice, "alice@example.com").await;

    // Trust again at the new epoch; it lasts 30 days and not a minute more.
    let done = submit_fresh_code(&server, &mut alice, &enrolled.secret, true).await;
    done.assert_redirect("/");
    assert_ne!(alice.cookie(TRUST_COOKIE), Some(trust_value.as_str()));
    log_out(&mut alice).await;
    server.clock().advance(TimeDelta::days(29));
    alice
        .log_in("alice@example.com", PASSWORD, false)
        .await
        .assert_redirect("/");
    log_out(&mut alice).await;
    server
        .clock()
        .advance(TimeDelta::days(1) + TimeDelta::minutes(1));
    password_step(&mut alice, "alice@example.com").await;
}

pub(crate) async fn wrong_codes_lock_the_second_factor_with_429(backend: Backend) {
    let server = server(backend).await;
    let (mut client, enrolled) = mfa_user(&server, "alice@example.com").await;
    password_step(&mut client, "alice@example.com").await;
    let threshold = server.sigra().auth().config().password.lockout_threshold;
    for i in 0..threshold {
        let page = client
            .post_with_csrf("/users/mfa", &[("code", "000000")])
            .await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED, "attempt {}", i + 1);
    }
    // Locked: even the right code gets 429 with the time to wait, and the lock message.
    server.clock().advance(TimeDelta::seconds(30));
    let code = code_now(&server, &enrolled.secret);
    let locked = client
        .post_with_csrf("/users/mfa", &[("code", &code)])
        .await;
    assert_eq!(
        locked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        locked.body
    );
    assert!(
        locked.body.contains("Too many wrong codes"),
        "{}",
        locked.body
    );
    let wait: i64 = locked.header("retry-after").unwrap().parse().unwrap();
    assert!((800..=900).contains(&wait), "{wait}");
    assert_signed_out(&mut client).await;
}

pub(crate) async fn mfa_attempts_are_rate_limited_per_user(backend: Backend) {
    let server = spawn_server(backend, |config| {
        config.rate_limit(
            RateLimitAction::Mfa,
            RateLimit::new(2, std::time::Duration::from_secs(300)),
        )
    })
    .await;
    let (mut alice, _) = mfa_user(&server, "alice@example.com").await;
    let (mut bob, _) = mfa_user(&server, "bob@example.com").await;
    password_step(&mut alice, "alice@example.com").await;
    for _ in 0..2 {
        let page = alice
            .post_with_csrf("/users/mfa", &[("code", "000000")])
            .await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    }
    let limited = alice
        .post_with_csrf("/users/mfa", &[("code", "000000")])
        .await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.body
    );
    assert_eq!(limited.header("retry-after"), Some("300"));
    // Another user from the same address has a budget of their own.
    password_step(&mut bob, "bob@example.com").await;
    let page = bob
        .post_with_csrf("/users/mfa", &[("code", "000000")])
        .await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
}

pub(crate) async fn disabling_mfa_and_new_backup_codes_need_sudo(backend: Backend) {
    let server = server(backend).await;
    seed_user(&server, "alice@example.com").await;
    let mut client = signed_in(&server, "alice@example.com", false).await;
    let enrolled = enroll(&server, &mut client).await;

    // Outside the sudo window (the log-in opened it 5 minutes ago): sent to
    // the password page, nothing changes.
    server
        .clock()
        .advance(TimeDelta::minutes(5) + TimeDelta::seconds(1));
    client.get("/users/settings").await;
    for path in [
        "/users/settings/mfa/disable",
        "/users/settings/mfa/backup-codes",
    ] {
        client
            .post_with_csrf(path, &[])
            .await
            .assert_redirect("/users/sudo");
    }
    assert!(server.user("alice@example.com").await.unwrap().mfa_enabled);
    let sudo = client.get("/users/sudo").await;
    assert_eq!(sudo.status, StatusCode::OK);
    assert!(
        sudo.body.contains(r#"id="current_password""#),
        "{}",
        sudo.body
    );
    let wrong = client
        .post_with_csrf("/users/sudo", &[("current_password", "not it")])
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.body);
    client
        .post_with_csrf("/users/sudo", &[("current_password", PASSWORD)])
        .await
        .assert_redirect("/users/settings");

    // Inside the window: new backup codes; the old ones stop working.
    client.get("/users/settings").await;
    let fresh = client
        .post_with_csrf("/users/settings/mfa/backup-codes", &[])
        .await;
    assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.body);
    let codes = backup_codes(&fresh);
    assert_eq!(codes.len(), enrolled.backup_codes.len());
    assert!(codes.iter().all(|c| !enrolled.backup_codes.contains(c)));

    // The window closes after 5 minutes.
    server
        .clock()
        .advance(TimeDelta::minutes(5) + TimeDelta::seconds(1));
    client.get("/users/settings").await;
    client
        .post_with_csrf("/users/settings/mfa/disable", &[])
        .await
        .assert_redirect("/users/sudo");
    client.get("/users/sudo").await;
    client
        .post_with_csrf("/users/sudo", &[("current_password", PASSWORD)])
        .await
        .assert_redirect("/users/settings");
    client.get("/users/settings").await;
    assert_eq!(
        super::email::notices(&server, "alice@example.com"),
        ["Two-factor authentication was turned on"]
    );
    client
        .post_with_csrf("/users/settings/mfa/disable", &[])
        .await
        .assert_redirect("/users/settings");
    assert!(!server.user("alice@example.com").await.unwrap().mfa_enabled);
    assert_eq!(
        super::email::notices(&server, "alice@example.com"),
        [
            "Two-factor authentication was turned on",
            "Two-factor authentication was turned off"
        ]
    );
    let settings = client.get("/users/settings").await;
    assert_eq!(
        settings.text_of("mfa-state").as_deref(),
        Some("Not enabled.")
    );

    // Without MFA the password is enough again.
    client
        .post_with_csrf("/users/log-out", &[])
        .await
        .assert_redirect("/");
    client
        .log_in("alice@example.com", PASSWORD, false)
        .await
        .assert_redirect("/");
}

pub(crate) async fn enrolling_mfa_needs_sudo_which_a_log_in_opens(backend: Backend) {
    let server = server(backend).await;
    seed_user(&server, "alice@example.com").await;
    // A session older than the sudo window (a stolen cookie, say): no
    // enrolment and no confirmation without the password again.
    let mut client = signed_in(&server, "alice@example.com", false).await;
    server
        .clock()
        .advance(TimeDelta::minutes(5) + TimeDelta::seconds(1));
    client.get("/users/settings").await;
    for path in ["/users/settings/mfa/enroll", "/users/settings/mfa/confirm"] {
        client
            .post_with_csrf(path, &[("code", "123456")])
            .await
            .assert_redirect("/users/sudo");
    }
    let alice = server.user("alice@example.com").await.unwrap();
    assert!(!alice.mfa_enabled);
    assert!(
        server
            .sigra()
            .auth()
            .store()
            .mfa_credential(alice.id)
            .await
            .unwrap()
            .is_none(),
        "no secret was stored"
    );
    // The password opens the window; then enrolment goes through.
    client.get("/users/sudo").await;
    client
        .post_with_csrf("/users/sudo", &[("current_password", PASSWORD)])
        .await
        .assert_redirect("/users/settings");
    enroll(&server, &mut client).await;
    assert!(server.user("alice@example.com").await.unwrap().mfa_enabled);
    // The owner hears of it, in the mailbox.
    assert_eq!(
        super::email::notices(&server, "alice@example.com"),
        ["Two-factor authentication was turned on"]
    );

    // A fresh log-in is a fresh password: enrolling right after it works.
    seed_user(&server, "bob@example.com").await;
    let mut bob = signed_in(&server, "bob@example.com", false).await;
    enroll(&server, &mut bob).await;
    assert!(server.user("bob@example.com").await.unwrap().mfa_enabled);
    assert_eq!(
        super::email::notices(&server, "bob@example.com"),
        ["Two-factor authentication was turned on"]
    );
}

pub(crate) async fn backup_codes_are_stored_keyed_not_as_bare_sha256(backend: Backend) {
    let server = server(backend).await;
    let alice = seed_user(&server, "alice@example.com").await;
    let mut client = signed_in(&server, "alice@example.com", false).await;
    let enrolled = enroll(&server, &mut client).await;
    // What a copy of the database holds.
    let rows = server.store().stored_backup_code_hashes(alice.id).await;
    assert_eq!(rows.len(), enrolled.backup_codes.len());
    let keys = server.sigra().auth().config().key_ring();
    let key = keys.purpose(BACKUP_CODE_KEY_PURPOSE);
    for code in &enrolled.backup_codes {
        let symbols = code.replace('-', "");
        // Knowing the code (or guessing all 2^40), SHA-256 finds no row ...
        let bare = ring::digest::digest(&ring::digest::SHA256, symbols.as_bytes());
        assert!(
            !rows.iter().any(|row| row.as_slice() == bare.as_ref()),
            "a bare SHA-256 of a code is stored"
        );
        // ... the row is HMAC-SHA256 under the key derived from SECRET_KEY_BASE.
        let keyed = ring::hmac::sign(key.current(), symbols.as_bytes());
        assert!(
            rows.iter().any(|row| row.as_slice() == keyed.as_ref()),
            "no row is the keyed hash of {code}"
        );
    }
}

pub(crate) async fn backup_codes_work_under_the_old_key_during_rotation(backend: Backend) {
    use super::rotation::keys as deploy;
    // Codes issued under secret A.
    let one = spawn_server(backend, deploy("A", None)).await;
    seed_user(&one, "alice@example.com").await;
    let (_, enrolled) = {
        let mut client = signed_in(&one, "alice@example.com", false).await;
        let enrolled = enroll(&one, &mut client).await;
        (client, enrolled)
    };
    let use_code = |server: &TestServer, code: String| {
        let mut client = server.client();
        async move {
            password_step(&mut client, "alice@example.com").await;
            client
                .post_with_csrf("/users/mfa", &[("code", &code)])
                .await
        }
    };

    // Secret B with A as the old one: an A-issued code works, once.
    let two = spawn_node(&one, None, deploy("B", Some("A"))).await;
    two.clock().set(one.clock().now());
    use_code(&two, enrolled.backup_codes[0].clone())
        .await
        .assert_redirect("/");
    let again = use_code(&two, enrolled.backup_codes[0].clone()).await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED, "{}", again.body);

    // Secret B alone: the A-issued codes no longer verify (the guide says to
    // regenerate them before dropping SECRET_KEY_BASE_OLD).
    let three = spawn_node(&one, None, deploy("B", None)).await;
    three.clock().set(one.clock().now());
    let retired = use_code(&three, enrolled.backup_codes[1].clone()).await;
    assert_eq!(retired.status, StatusCode::UNAUTHORIZED, "{}", retired.body);
}

pub(crate) async fn a_password_change_forgets_every_trusted_browser(backend: Backend) {
    const NEW_PASSWORD: &str = "a brand new passphrase";
    let server = server(backend).await;
    let (mut alice, enrolled) = mfa_user(&server, "alice@example.com").await;
    password_step(&mut alice, "alice@example.com").await;
    submit_fresh_code(&server, &mut alice, &enrolled.secret, true)
        .await
        .assert_redirect("/");
    let trust = alice
        .cookie(TRUST_COOKIE)
        .expect("a trust cookie")
        .to_owned();

    // The password changes in this very browser, which keeps its cookie.
    alice.get("/users/settings").await;
    alice
        .post_with_csrf(
            "/users/settings/password",
            &[("current_password", PASSWORD), ("password", NEW_PASSWORD)],
        )
        .await
        .assert_redirect("/users/settings");
    log_out(&mut alice).await;
    assert_eq!(alice.cookie(TRUST_COOKIE), Some(trust.as_str()));

    // Whoever knows the new password still needs the second factor here.
    alice
        .log_in("alice@example.com", NEW_PASSWORD, false)
        .await
        .assert_redirect("/users/mfa");
}
