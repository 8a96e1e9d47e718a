//! Subdomain authentication: with `COOKIE_DOMAIN=.example.com` and
//! `PUBLIC_URL=https://app.example.com` (prod), a session made on
//! `app.example.com` is valid on `admin.example.com`, every Sigra cookie
//! carries `Domain=.example.com`, and the origin check accepts the
//! subdomain's own origin while refusing other sites.
//!
//! The test client talks to 127.0.0.1 and names the site in the `Host`
//! header, as a browser behind DNS would; it sends every cookie it holds,
//! which is what a browser does with `Domain=.example.com` cookies on both
//! hosts.

use chrono::TimeDelta;
use sigra_core::clock::Clock;
use sigra_core::config::{Config, Environment};
use sigra_core::cookie::TRUST_COOKIE;
use sigra_core::encryption::EncryptionKey;
use sigra_core::keys::SecretKeyBase;
use sigra_core::mfa::{TotpSecret, totp_code_at};
use sigra_tests::Backend;
use sigra_tests::http::{
    Client, Method, Page, REMEMBER_ME_COOKIE, SESSION_COOKIE, SetCookie, StatusCode, TestServer,
    headers, spawn_server,
};

use super::{PASSWORD, assert_signed_in_as, seed_user};

const APP: &str = "app.example.com";
const ADMIN: &str = "admin.example.com";

/// A request to `host` (with `Origin: https://<host>` on POSTs, as a browser sends).
async fn on(
    client: &mut Client,
    host: &str,
    method: Method,
    path: &str,
    form: &[(&str, &str)],
) -> Page {
    let origin = format!("https://{host}");
    let mut pairs = vec![("host", host)];
    if method == Method::POST {
        pairs.push(("origin", origin.as_str()));
    }
    on_with(client, method, path, &pairs, form).await
}

/// A request with exactly these extra headers; POSTs carry the CSRF token.
async fn on_with(
    client: &mut Client,
    method: Method,
    path: &str,
    extra: &[(&str, &str)],
    form: &[(&str, &str)],
) -> Page {
    if method == Method::POST {
        let csrf = client.csrf_token().expect("a form was loaded").to_owned();
        let mut all = vec![("_csrf_token", csrf.as_str())];
        all.extend_from_slice(form);
        client
            .request(method, path, headers(extra), Some(&all))
            .await
    } else {
        client.request(method, path, headers(extra), None).await
    }
}

/// Every cookie Sigra set must be scoped to the parent domain.
#[track_caller]
fn assert_domain(cookies: &[SetCookie]) {
    assert!(!cookies.is_empty());
    for cookie in cookies {
        assert_eq!(
            cookie.attribute("Domain"),
            Some(".example.com"),
            "{}",
            cookie.raw
        );
        assert!(cookie.has_flag("Secure"), "{}", cookie.raw);
    }
}

pub(crate) async fn a_session_from_app_is_valid_on_admin_and_cookies_carry_the_domain(
    backend: Backend,
) {
    let server: TestServer = spawn_server(backend, |_| {
        Config::builder(Environment::Prod)
            .secret_key_base(SecretKeyBase::new(b"subdomain-secret-key-base-".repeat(3)).unwrap())
            .public_url("https://app.example.com")
            .cookie_domain(".example.com")
            .encryption_key(EncryptionKey::from_bytes([9; 32]).unwrap())
    })
    .await;
    seed_user(&server, "alice@example.com").await;
    let mut seen: Vec<SetCookie> = Vec::new();

    // Log in on app.example.com, remembered.
    let mut browser = server.client();
    seen.extend(
        on(&mut browser, APP, Method::GET, "/users/log-in", &[])
            .await
            .set_cookies(),
    );
    let logged_in = on(
        &mut browser,
        APP,
        Method::POST,
        "/users/log-in",
        &[
            ("email", "alice@example.com"),
            ("password", PASSWORD),
            ("remember_me", "true"),
        ],
    )
    .await;
    logged_in.assert_redirect("/");
    assert!(logged_in.set_cookie(SESSION_COOKIE).is_some());
    assert!(logged_in.set_cookie(REMEMBER_ME_COOKIE).is_some());
    seen.extend(logged_in.set_cookies());

    // The same cookies are a session on admin.example.com.
    let dashboard = on(&mut browser, ADMIN, Method::GET, "/dashboard", &[]).await;
    assert_signed_in_as(&dashboard, "alice@example.com");
    let settings = on(&mut browser, ADMIN, Method::GET, "/users/settings", &[]).await;
    assert_eq!(settings.status, StatusCode::OK, "{}", settings.body);

    // A POST from another site to admin is refused and changes nothing...
    for origin in [
        "https://evil.com",
        "https://admin.example.com.evil.com",
        "http://admin.example.com",
        "null",
    ] {
        let page = on_with(
            &mut browser,
            Method::POST,
            "/users/settings/mfa/enroll",
            &[("host", ADMIN), ("origin", origin)],
            &[],
        )
        .await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "Origin {origin}");
    }
    // ...while admin's own origin (and the public one) passes the origin check.
    let enrolment = on(
        &mut browser,
        ADMIN,
        Method::POST,
        "/users/settings/mfa/enroll",
        &[],
    )
    .await;
    assert_eq!(enrolment.status, StatusCode::OK, "{}", enrolment.body);
    let secret = TotpSecret::from_base32(&enrolment.text_of("totp-secret").unwrap()).unwrap();
    let confirmed = on_with(
        &mut browser,
        Method::POST,
        "/users/settings/mfa/confirm",
        &[("host", ADMIN), ("origin", "https://app.example.com")],
        &[("code", &totp_code_at(&secret, server.clock().now()))],
    )
    .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    seen.extend(confirmed.set_cookies());

    // Log out on admin, log in again on app with the second factor and
    // "trust this browser": the trust cookie carries the domain too.
    on(&mut browser, ADMIN, Method::GET, "/", &[]).await;
    let logged_out = on(&mut browser, ADMIN, Method::POST, "/users/log-out", &[]).await;
    logged_out.assert_redirect("/");
    seen.extend(logged_out.set_cookies());
    on(&mut browser, APP, Method::GET, "/users/log-in", &[]).await;
    on(
        &mut browser,
        APP,
        Method::POST,
        "/users/log-in",
        &[("email", "alice@example.com"), ("password", PASSWORD)],
    )
    .await
    .assert_redirect("/users/mfa");
    on(&mut browser, APP, Method::GET, "/users/mfa", &[]).await;
    server.clock().advance(TimeDelta::seconds(30));
    let code = totp_code_at(&secret, server.clock().now());
    let done = on(
        &mut browser,
        APP,
        Method::POST,
        "/users/mfa",
        &[("code", &code), ("trust_browser", "true")],
    )
    .await;
    done.assert_redirect("/");
    assert!(done.set_cookie(TRUST_COOKIE).is_some());
    seen.extend(done.set_cookies());
    assert_signed_in_as(
        &on(&mut browser, ADMIN, Method::GET, "/dashboard", &[]).await,
        "alice@example.com",
    );

    let names: std::collections::BTreeSet<&str> = seen.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [REMEMBER_ME_COOKIE, SESSION_COOKIE, TRUST_COOKIE].into(),
        "every Sigra cookie was seen"
    );
    assert!(
        seen.iter().any(SetCookie::is_removal),
        "a removal was among them"
    );
    assert_domain(&seen);
}
