//! Rotating `SECRET_KEY_BASE` with `SECRET_KEY_BASE_OLD`, walked through on
//! three deployments of one app over one database:
//!
//! 1. secret A: Alice gets a session, a remember-me and a trust cookie;
//! 2. secret B with `SECRET_KEY_BASE_OLD` = A: all three still work, and each
//!    is re-signed with B the next time it is used (a new `Set-Cookie` whose
//!    value verifies under B alone);
//! 3. secret B alone: the A-signed values are refused (anonymous, MFA asked
//!    again), while the re-signed ones keep working.

use chrono::TimeDelta;
use sigra_core::clock::Clock;
use sigra_core::config::ConfigBuilder;
use sigra_core::cookie::TRUST_COOKIE;
use sigra_core::encryption::EncryptionKey;
use sigra_core::keys::{KeyRing, SecretKeyBase};
use sigra_core::mfa::totp_code_at;
use sigra_core::signing::{MessageSigner, SignatureError};
use sigra_core::trust;
use sigra_tests::Backend;
use sigra_tests::http::{
    Client, REMEMBER_ME_COOKIE, SESSION_COOKIE, StatusCode, TestServer, spawn_node, spawn_server,
};

use super::{PASSWORD, assert_signed_in_as, seed_user, signed_in};

/// The signing purposes of the session and remember-me cookies.
const SESSION_PURPOSE: &str = "sigra-session";
const REMEMBER_PURPOSE: &str = "sigra-remember-me";

fn secret(label: &str) -> SecretKeyBase {
    SecretKeyBase::new(
        format!("rotation-test-secret-{label}-")
            .repeat(4)
            .into_bytes(),
    )
    .unwrap()
}

/// The deployment's keys: `current`, and `old` during the rotation. The
/// encryption key stays the same (MFA secrets must keep opening).
pub(crate) fn keys(
    current: &str,
    old: Option<&str>,
) -> impl FnOnce(ConfigBuilder) -> ConfigBuilder {
    let current = secret(current);
    let old = old.map(secret);
    move |config| {
        let config = config
            .secret_key_base(current)
            .encryption_key(EncryptionKey::from_bytes([7; 32]).unwrap());
        match old {
            Some(old) => config.secret_key_base_old(old),
            None => config,
        }
    }
}

/// A key ring with `label`'s secret only.
fn ring(label: &str) -> KeyRing {
    KeyRing::new(secret(label), None)
}

/// Another deployment on `first`'s database, its clock where `first`'s is.
async fn redeploy(
    first: &TestServer,
    customize: impl FnOnce(ConfigBuilder) -> ConfigBuilder,
) -> TestServer {
    let node = spawn_node(first, None, customize).await;
    node.clock().set(first.clock().now());
    node
}

/// Asserts that `value` verifies for `purpose` under B alone, not under A alone.
#[track_caller]
fn signed_with_b_only(server: &TestServer, value: &str, purpose: &str) {
    let now = server.clock().now();
    let under_b = MessageSigner::new(&ring("B"), purpose)
        .verify(value, now)
        .unwrap_or_else(|e| panic!("{purpose}: does not verify under B alone: {e}"));
    assert!(!under_b.signed_with_old_key);
    assert_eq!(
        MessageSigner::new(&ring("A"), purpose).verify(value, now),
        Err(SignatureError::BadSignature),
        "{purpose}: still A-signed"
    );
}

pub(crate) async fn rotating_the_secret_key_base_re_signs_then_retires_old_cookies(
    backend: Backend,
) {
    // 1. Secret A: a remember-me log-in with MFA, trusting this browser.
    let one = spawn_server(backend, keys("A", None)).await;
    let alice = seed_user(&one, "alice@example.com").await;
    let mut browser = signed_in(&one, "alice@example.com", false).await;
    let enrolled = super::mfa::enroll(&one, &mut browser).await;
    browser.get("/").await;
    browser
        .post_with_csrf("/users/log-out", &[])
        .await
        .assert_redirect("/");
    browser
        .log_in("alice@example.com", PASSWORD, true)
        .await
        .assert_redirect("/users/mfa");
    browser.get("/users/mfa").await;
    one.clock().advance(TimeDelta::seconds(30));
    let code = totp_code_at(&enrolled.secret, one.clock().now());
    browser
        .post_with_csrf("/users/mfa", &[("code", &code), ("trust_browser", "true")])
        .await
        .assert_redirect("/");
    assert_signed_in_as(&browser.get("/dashboard").await, "alice@example.com");
    let session_a = browser.cookie(SESSION_COOKIE).unwrap().to_owned();
    let remember_a = browser.cookie(REMEMBER_ME_COOKIE).unwrap().to_owned();
    let trust_a = browser.cookie(TRUST_COOKIE).unwrap().to_owned();
    let epoch = one.user("alice@example.com").await.unwrap().mfa_trust_epoch;

    // 2. Secret B, with A as SECRET_KEY_BASE_OLD.
    let two = redeploy(&one, keys("B", Some("A"))).await;

    // The session cookie works, and comes back signed with B, once.
    let mut tab = Client::with_cookies(&two, &[(SESSION_COOKIE, &session_a)]);
    let page = tab.get("/dashboard").await;
    assert_signed_in_as(&page, "alice@example.com");
    let session_b = page
        .set_cookie(SESSION_COOKIE)
        .expect("the A-signed session cookie is re-signed on use")
        .value;
    signed_with_b_only(&two, &session_b, SESSION_PURPOSE);
    let again = tab.get("/dashboard").await;
    assert_signed_in_as(&again, "alice@example.com");
    assert!(
        again.set_cookie(SESSION_COOKIE).is_none(),
        "a B-signed cookie is not re-signed again"
    );

    // The remember-me cookie alone (a restarted browser) restores the
    // session and comes back signed with B.
    let mut restarted = Client::with_cookies(&two, &[(REMEMBER_ME_COOKIE, &remember_a)]);
    let page = restarted.get("/dashboard").await;
    assert_signed_in_as(&page, "alice@example.com");
    let remember_b = page
        .set_cookie(REMEMBER_ME_COOKIE)
        .expect("the A-signed remember-me cookie is re-signed on use")
        .value;
    signed_with_b_only(&two, &remember_b, REMEMBER_PURPOSE);
    signed_with_b_only(
        &two,
        restarted.cookie(SESSION_COOKIE).unwrap(),
        SESSION_PURPOSE,
    );

    // The trust cookie still skips MFA, and comes back signed with B for
    // the same user, epoch and issue time (re-signing never extends trust).
    let mut trusted = Client::with_cookies(&two, &[(TRUST_COOKIE, &trust_a)]);
    let page = trusted.log_in("alice@example.com", PASSWORD, false).await;
    page.assert_redirect("/");
    let trust_b = page
        .set_cookie(TRUST_COOKIE)
        .expect("the A-signed trust cookie is re-signed on use")
        .value;
    let ttl = two.sigra().auth().config().mfa.trust_ttl;
    let now = two.clock().now();
    let verified = trust::verify_detailed(&ring("B"), &trust_b, alice.id, epoch, ttl, now)
        .expect("the new trust cookie verifies under B alone");
    assert!(!verified.signed_with_old_key);
    let original = trust::verify_detailed(
        &KeyRing::new(secret("A"), None),
        &trust_a,
        alice.id,
        epoch,
        ttl,
        now,
    )
    .unwrap();
    assert_eq!(verified.issued_at, original.issued_at);
    assert_eq!(
        trust::verify(&ring("A"), &trust_b, alice.id, epoch, ttl, now),
        Err(trust::TrustError::BadSignature)
    );

    // 3. Secret B alone: the A-signed values are dead...
    let three = redeploy(&one, keys("B", None)).await;
    for (name, value) in [
        (SESSION_COOKIE, &session_a),
        (REMEMBER_ME_COOKIE, &remember_a),
    ] {
        let mut stale = Client::with_cookies(&three, &[(name, value)]);
        stale
            .get("/dashboard")
            .await
            .assert_redirect("/users/log-in");
    }
    let mut stale = Client::with_cookies(&three, &[(TRUST_COOKIE, &trust_a)]);
    stale
        .log_in("alice@example.com", PASSWORD, false)
        .await
        .assert_redirect("/users/mfa");

    // ...while the re-signed ones live on.
    let mut tab = Client::with_cookies(&three, &[(SESSION_COOKIE, &session_b)]);
    assert_signed_in_as(&tab.get("/dashboard").await, "alice@example.com");
    let mut restarted = Client::with_cookies(&three, &[(REMEMBER_ME_COOKIE, &remember_b)]);
    assert_signed_in_as(&restarted.get("/dashboard").await, "alice@example.com");
    let mut trusted = Client::with_cookies(&three, &[(TRUST_COOKIE, &trust_b)]);
    let page = trusted.log_in("alice@example.com", PASSWORD, false).await;
    page.assert_redirect("/");
    assert!(
        page.set_cookie(TRUST_COOKIE).is_none(),
        "a B-signed trust cookie is left alone"
    );
    assert_eq!(
        trusted.get("/dashboard").await.status,
        StatusCode::OK,
        "signed in without the second factor"
    );
}
