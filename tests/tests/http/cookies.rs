//! Cookies under attack (tampered, truncated, foreign-signed, huge, junk,
//! duplicated, planted by a sibling, next to another app's non-ASCII cookie)
//! and their prod flags and names.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sigra_core::config::{Config, Environment};
use sigra_core::keys::{KeyRing, SecretKeyBase};
use sigra_core::signing::MessageSigner;
use sigra_tests::Backend;
use sigra_tests::http::{
    Client, HeaderMap, HeaderValue, Method, Page, REMEMBER_ME_COOKIE, SESSION_COOKIE, SetCookie,
    StatusCode, TestServer, spawn_server,
};

use super::{PASSWORD, assert_signed_in_as, seed_user, server, signed_in};

/// The signing purposes of the two cookies (documented in `sigra_web`'s cookie module).
const SESSION_PURPOSE: &str = "sigra-session";
const REMEMBER_PURPOSE: &str = "sigra-remember-me";
/// Bytes before the caller's data in a signed value: version, issued-at, max-age.
const SIGNED_HEADER_LEN: usize = 17;

/// `value` with the character at `index` replaced by another base64url character.
fn flip(value: &str, index: usize) -> String {
    let mut chars: Vec<char> = value.chars().collect();
    chars[index] = if chars[index] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

/// The data inside a signed value, re-signed with `ring` for `purpose`, so
/// only the key differs from the genuine value.
fn resign(server: &TestServer, value: &str, ring: &KeyRing, purpose: &str) -> String {
    let (payload, _tag) = value.split_once('.').expect("payload.tag");
    let payload = URL_SAFE_NO_PAD.decode(payload).expect("base64url payload");
    let data = &payload[SIGNED_HEADER_LEN..];
    let ttl = Duration::from_secs(60 * 24 * 60 * 60);
    MessageSigner::new(ring, purpose).sign(data, server.sigra().auth().now(), ttl)
}

fn foreign_ring() -> KeyRing {
    KeyRing::new(SecretKeyBase::new(vec![0x5a; 64]).unwrap(), None)
}

/// Sends `GET path` from a fresh client with exactly this `Cookie` header (raw bytes allowed).
async fn get_with_cookie_header(server: &TestServer, path: &str, cookie: &[u8]) -> Page {
    get_with_cookie_headers(server, path, &[cookie]).await
}

/// A request carrying `cookie` is anonymous: `/dashboard` redirects to log
/// in, the home page answers 200 for nobody, and nothing is a 500.
async fn assert_anonymous(server: &TestServer, what: &str, cookie: &[u8]) {
    let dashboard = get_with_cookie_header(server, "/dashboard", cookie).await;
    assert_eq!(
        (dashboard.status, dashboard.location()),
        (StatusCode::SEE_OTHER, Some("/users/log-in")),
        "{what}: /dashboard; body: {}",
        dashboard.body
    );
    let home = get_with_cookie_header(server, "/", cookie).await;
    assert_eq!(
        home.status,
        StatusCode::OK,
        "{what}: /; body: {}",
        home.body
    );
    assert_eq!(home.text_of("home-email"), None, "{what}: signed in on /");
}

/// The shared garbage every cookie must survive.
fn junk(name: &str) -> Vec<(String, Vec<u8>)> {
    let huge = "A".repeat(10 * 1024);
    vec![
        ("empty".into(), format!("{name}=").into_bytes()),
        ("10 KB value".into(), format!("{name}={huge}").into_bytes()),
        (
            "10 KB signed-looking value".into(),
            format!("{name}={huge}.{huge}").into_bytes(),
        ),
        ("a lone dot".into(), format!("{name}=.").into_bytes()),
        ("quotes".into(), format!("{name}=\"\"").into_bytes()),
        (
            "not base64".into(),
            format!("{name}=!!!$$$.***").into_bytes(),
        ),
        (
            "percent junk".into(),
            format!("{name}=%00%ff%0d%0a.%00").into_bytes(),
        ),
        ("no value at all".into(), name.as_bytes().to_vec()),
        (
            "equals signs".into(),
            format!("{name}===;==;;").into_bytes(),
        ),
        (
            "non-UTF-8 bytes".into(),
            [format!("{name}=").as_bytes(), b"\xff\xfe\x80abc.\xc3\x28"].concat(),
        ),
    ]
}

pub(crate) async fn tampered_and_garbage_session_cookies_read_as_anonymous(backend: Backend) {
    let server = server(backend).await;
    seed_user(&server, "alice@example.com").await;
    let alice = signed_in(&server, "alice@example.com", true).await;
    let valid = alice.cookie(SESSION_COOKIE).unwrap().to_owned();
    let remember = alice.cookie(REMEMBER_ME_COOKIE).unwrap().to_owned();
    let dot = valid.find('.').unwrap();

    // The genuine cookie works, and so does its data re-signed with the
    // server's own key: the cases below fail for the reason they name.
    let own_ring = server.sigra().auth().config().key_ring();
    for (what, value) in [
        ("the genuine cookie", valid.clone()),
        (
            "re-signed with the right key",
            resign(&server, &valid, &own_ring, SESSION_PURPOSE),
        ),
    ] {
        let mut client = Client::with_cookies(&server, &[(SESSION_COOKIE, &value)]);
        let page = client.get("/dashboard").await;
        assert_eq!(page.status, StatusCode::OK, "control: {what}");
        assert_signed_in_as(&page, "alice@example.com");
    }

    let values: Vec<(&str, String)> = vec![
        ("a flipped payload character", flip(&valid, dot / 2)),
        ("a flipped signature character", flip(&valid, dot + 10)),
        ("the last character flipped", flip(&valid, valid.len() - 1)),
        ("truncated by one", valid[..valid.len() - 1].to_owned()),
        ("truncated to the payload", valid[..dot].to_owned()),
        ("truncated to half", valid[..valid.len() / 2].to_owned()),
        ("signature dropped", valid[..=dot].to_owned()),
        ("payload dropped", valid[dot..].to_owned()),
        ("an extra segment", format!("{valid}.AAAA")),
        (
            "another key's signature",
            resign(&server, &valid, &foreign_ring(), SESSION_PURPOSE),
        ),
        (
            "the right key for another purpose",
            resign(&server, &valid, &own_ring, REMEMBER_PURPOSE),
        ),
        ("the remember-me cookie's value", remember.clone()),
    ];
    let mut cases: Vec<(String, Vec<u8>)> = values
        .into_iter()
        .map(|(what, v)| {
            (
                what.to_owned(),
                format!("{SESSION_COOKIE}={v}").into_bytes(),
            )
        })
        .collect();
    cases.extend(junk(SESSION_COOKIE));
    // Several values of the name, none genuine: still nobody. (A genuine one
    // among them signs in: `duplicate_and_non_ascii_cookies_keep_the_user_signed_in`.)
    cases.push((
        "junk twice under the same name".into(),
        format!(
            "{SESSION_COOKIE}=junk; other=1; {SESSION_COOKIE}={}",
            flip(&valid, dot + 10)
        )
        .into_bytes(),
    ));
    for (what, cookie) in &cases {
        assert_anonymous(&server, what, cookie).await;
    }
}

pub(crate) async fn tampered_and_garbage_remember_me_cookies_read_as_anonymous(backend: Backend) {
    let server = server(backend).await;
    seed_user(&server, "alice@example.com").await;
    let alice = signed_in(&server, "alice@example.com", true).await;
    let valid = alice.cookie(REMEMBER_ME_COOKIE).unwrap().to_owned();
    let session = alice.cookie(SESSION_COOKIE).unwrap().to_owned();
    let dot = valid.find('.').unwrap();

    let own_ring = server.sigra().auth().config().key_ring();
    for value in [
        valid.clone(),
        resign(&server, &valid, &own_ring, REMEMBER_PURPOSE),
    ] {
        let mut client = Client::with_cookies(&server, &[(REMEMBER_ME_COOKIE, &value)]);
        assert_signed_in_as(&client.get("/dashboard").await, "alice@example.com");
    }

    let values: Vec<(&str, String)> = vec![
        ("a flipped payload character", flip(&valid, dot / 2)),
        ("a flipped signature character", flip(&valid, dot + 10)),
        ("truncated by one", valid[..valid.len() - 1].to_owned()),
        ("truncated to the payload", valid[..dot].to_owned()),
        (
            "another key's signature",
            resign(&server, &valid, &foreign_ring(), REMEMBER_PURPOSE),
        ),
        (
            "the right key for another purpose",
            resign(&server, &valid, &own_ring, SESSION_PURPOSE),
        ),
        ("the session cookie's value", session.clone()),
    ];
    let mut cases: Vec<(String, Vec<u8>)> = values
        .into_iter()
        .map(|(what, v)| {
            (
                what.to_owned(),
                format!("{REMEMBER_ME_COOKIE}={v}").into_bytes(),
            )
        })
        .collect();
    cases.extend(junk(REMEMBER_ME_COOKIE));
    cases.push((
        "junk twice under the same name".into(),
        format!(
            "{REMEMBER_ME_COOKIE}=junk; {REMEMBER_ME_COOKIE}={}",
            &valid[..dot]
        )
        .into_bytes(),
    ));
    for (what, cookie) in &cases {
        assert_anonymous(&server, what, cookie).await;
    }
}

/// The checks every Sigra cookie must pass in prod.
#[track_caller]
fn assert_prod_flags(cookie: &SetCookie) {
    assert!(cookie.has_flag("Secure"), "{}", cookie.raw);
    assert!(cookie.has_flag("HttpOnly"), "{}", cookie.raw);
    assert_eq!(cookie.attribute("SameSite"), Some("Lax"), "{}", cookie.raw);
    assert_eq!(
        cookie.attribute("Domain"),
        Some(".example.com"),
        "{}",
        cookie.raw
    );
    assert_eq!(cookie.attribute("Path"), Some("/"), "{}", cookie.raw);
}

pub(crate) async fn prod_cookies_are_secure_http_only_lax_and_carry_the_domain(backend: Backend) {
    let server = spawn_server(backend, |_| {
        Config::builder(Environment::Prod)
            .secret_key_base(SecretKeyBase::new(b"prod-secret-key-base-".repeat(4)).unwrap())
            .public_url("https://app.example.com")
            .cookie_domain(".example.com")
    })
    .await;
    assert!(server.sigra().auth().config().env.is_prod());
    let ttl = server.sigra().auth().config().session.ttl.as_secs();
    assert_eq!(ttl, 5_184_000);
    seed_user(&server, "alice@example.com").await;

    let mut seen: Vec<SetCookie> = Vec::new();
    let mut client = server.client();
    let mut collect = |page: &Page| seen.extend(page.set_cookies());

    collect(&client.get("/users/log-in").await);
    let with_remember = client.log_in("alice@example.com", PASSWORD, true).await;
    with_remember.assert_redirect("/");
    collect(&with_remember);
    let remember = with_remember
        .set_cookie(REMEMBER_ME_COOKIE)
        .expect("the remember-me cookie");
    assert_eq!(
        remember.max_age(),
        Some(i64::try_from(ttl).unwrap()),
        "remember-me max-age = session_ttl: {}",
        remember.raw
    );
    let session = with_remember
        .set_cookie(SESSION_COOKIE)
        .expect("the session cookie");
    assert_eq!(
        session.max_age(),
        None,
        "the session cookie lasts the browser session: {}",
        session.raw
    );
    let dashboard = client.get("/dashboard").await;
    assert_signed_in_as(&dashboard, "alice@example.com");
    collect(&dashboard);

    // A remember-me rehydration, a log-out (removals) and a log-in without remember-me.
    let mut restarted = Client::with_cookies(&server, &[(REMEMBER_ME_COOKIE, &remember.value)]);
    let rehydrated = restarted.get("/dashboard").await;
    assert_signed_in_as(&rehydrated, "alice@example.com");
    collect(&rehydrated);
    let log_out = client.post_with_csrf("/users/log-out", &[]).await;
    log_out.assert_redirect("/");
    collect(&log_out);
    let without = client.log_in("alice@example.com", PASSWORD, false).await;
    without.assert_redirect("/");
    collect(&without);

    let names: Vec<&str> = seen.iter().map(|c| c.name.as_str()).collect();
    assert!(names.contains(&SESSION_COOKIE), "{names:?}");
    assert!(names.contains(&REMEMBER_ME_COOKIE), "{names:?}");
    assert!(
        seen.iter()
            .any(|c| c.name == REMEMBER_ME_COOKIE && c.is_removal()),
        "a removal was among them: {names:?}"
    );
    for cookie in &seen {
        assert_prod_flags(cookie);
        if cookie.name == REMEMBER_ME_COOKIE && !cookie.is_removal() {
            assert_eq!(cookie.max_age(), Some(5_184_000), "{}", cookie.raw);
        }
    }
}

/// Sends `GET path` from a fresh client with one `Cookie` header per entry of `cookies`.
async fn get_with_cookie_headers(server: &TestServer, path: &str, cookies: &[&[u8]]) -> Page {
    let mut headers = HeaderMap::new();
    for cookie in cookies {
        headers.append(
            "cookie",
            HeaderValue::from_bytes(cookie).expect("a header value the client can send"),
        );
    }
    server
        .client()
        .request(Method::GET, path, headers, None)
        .await
}

/// Issue 13, item 10: a second value planted under Sigra's cookie name (a
/// sibling host can set one on the parent domain), or a non-ASCII byte in
/// another cookie of the same header, does not sign the user out. Pairs are
/// read one by one, across every `Cookie` header; the first value of the
/// name that verifies counts.
pub(crate) async fn duplicate_and_non_ascii_cookies_keep_the_user_signed_in(backend: Backend) {
    let server = server(backend).await;
    seed_user(&server, "alice@example.com").await;
    seed_user(&server, "mallory@example.com").await;
    let alice = signed_in(&server, "alice@example.com", true).await;
    let valid = alice.cookie(SESSION_COOKIE).unwrap().to_owned();
    let remember = alice.cookie(REMEMBER_ME_COOKIE).unwrap().to_owned();
    let foreign = resign(&server, &valid, &foreign_ring(), SESSION_PURPOSE);
    let foreign_remember = resign(&server, &remember, &foreign_ring(), REMEMBER_PURPOSE);

    let one_header: Vec<(&str, Vec<u8>)> = vec![
        (
            "the genuine cookie twice",
            format!("{SESSION_COOKIE}={valid}; {SESSION_COOKIE}={valid}").into_bytes(),
        ),
        (
            "junk planted before the genuine cookie",
            format!("{SESSION_COOKIE}=junk; other=1; {SESSION_COOKIE}={valid}").into_bytes(),
        ),
        (
            "junk after the genuine cookie",
            format!("{SESSION_COOKIE}={valid}; {SESSION_COOKIE}=junk").into_bytes(),
        ),
        (
            "another key's value planted before the genuine cookie",
            format!("{SESSION_COOKIE}={foreign}; {SESSION_COOKIE}={valid}").into_bytes(),
        ),
        (
            "another app's UTF-8 cookie before it",
            [
                b"theme=caf\xc3\xa9; ".as_slice(),
                format!("{SESSION_COOKIE}={valid}").as_bytes(),
            ]
            .concat(),
        ),
        (
            "raw non-UTF-8 bytes after it",
            [
                format!("{SESSION_COOKIE}={valid}; ").as_bytes(),
                b"x=\xff\xfe\x80".as_slice(),
            ]
            .concat(),
        ),
        (
            "a pair without `=` and an empty one around it",
            format!("lonely; ; {SESSION_COOKIE}={valid};;").into_bytes(),
        ),
        (
            "no session cookie but the remember-me cookie twice, junk first",
            format!("{REMEMBER_ME_COOKIE}={foreign_remember}; {REMEMBER_ME_COOKIE}={remember}")
                .into_bytes(),
        ),
    ];
    for (what, cookie) in &one_header {
        let page = get_with_cookie_header(&server, "/dashboard", cookie).await;
        assert_eq!(page.status, StatusCode::OK, "{what}: {}", page.body);
        assert_eq!(
            page.text_of("dashboard-email").as_deref(),
            Some("alice@example.com"),
            "{what}"
        );
    }

    // Two `Cookie` headers (as HTTP/2 sends them): a planted value in the
    // first, another app's non-ASCII cookie and the genuine value in the second.
    let planted = format!("{SESSION_COOKIE}={foreign}");
    let genuine = [
        b"lang=\xe6\x97\xa5\xe6\x9c\xac; ".as_slice(),
        format!("{SESSION_COOKIE}={valid}").as_bytes(),
    ]
    .concat();
    let page =
        get_with_cookie_headers(&server, "/dashboard", &[planted.as_bytes(), &genuine]).await;
    assert_signed_in_as(&page, "alice@example.com");

    // The first value that verifies counts: a sibling planting a genuine
    // session of its own (mallory's) ahead of alice's gets mallory's
    // session, as it could by replacing the cookie outright; what it can no
    // longer do is sign alice out by planting junk. (In prod without
    // `COOKIE_DOMAIN` the `__Host-` names keep siblings out altogether:
    // `prod_without_a_cookie_domain_names_cookies_host_prefixed`.)
    let mallory = signed_in(&server, "mallory@example.com", false).await;
    let theirs = mallory.cookie(SESSION_COOKIE).unwrap();
    let page = get_with_cookie_header(
        &server,
        "/dashboard",
        format!("{SESSION_COOKIE}={theirs}; {SESSION_COOKIE}={valid}").as_bytes(),
    )
    .await;
    assert_signed_in_as(&page, "mallory@example.com");
}

/// Issue 13, item 10: in prod without `COOKIE_DOMAIN` the cookies are named
/// `__Host-sigra_session`, `__Host-sigra_remember_me` (and
/// `__Host-sigra_mfa_trust`): Secure, `Path=/`, no `Domain`, so a browser
/// takes them from this host only. A value under the plain name (all a
/// sibling host could plant) is not read.
pub(crate) async fn prod_without_a_cookie_domain_names_cookies_host_prefixed(backend: Backend) {
    const HOST_SESSION: &str = "__Host-sigra_session";
    const HOST_REMEMBER: &str = "__Host-sigra_remember_me";
    let server = spawn_server(backend, |_| {
        Config::builder(Environment::Prod)
            .secret_key_base(SecretKeyBase::new(b"prod-secret-key-base-".repeat(4)).unwrap())
            .public_url("https://app.example.com")
    })
    .await;
    seed_user(&server, "alice@example.com").await;
    let mut client = server.client();
    let form = client.get("/users/log-in").await;
    let answer = client.log_in("alice@example.com", PASSWORD, true).await;
    answer.assert_redirect("/");
    let mut seen: Vec<SetCookie> = form.set_cookies();
    seen.extend(answer.set_cookies());
    let names: Vec<&str> = seen.iter().map(|c| c.name.as_str()).collect();
    assert!(names.contains(&HOST_SESSION), "{names:?}");
    assert!(names.contains(&HOST_REMEMBER), "{names:?}");
    for cookie in &seen {
        assert!(cookie.name.starts_with("__Host-"), "{}", cookie.raw);
        assert!(cookie.has_flag("Secure"), "{}", cookie.raw);
        assert_eq!(cookie.attribute("Path"), Some("/"), "{}", cookie.raw);
        assert_eq!(cookie.attribute("Domain"), None, "{}", cookie.raw);
    }
    let session = client.cookie(HOST_SESSION).unwrap().to_owned();
    let remember = client.cookie(HOST_REMEMBER).unwrap().to_owned();
    assert_signed_in_as(&client.get("/dashboard").await, "alice@example.com");
    let mut restarted = Client::with_cookies(&server, &[(HOST_REMEMBER, &remember)]);
    assert_signed_in_as(&restarted.get("/dashboard").await, "alice@example.com");

    // The same values under the plain names, as a sibling would plant them: nobody.
    for (name, value) in [(SESSION_COOKIE, &session), (REMEMBER_ME_COOKIE, &remember)] {
        assert_anonymous(
            &server,
            &format!("{name} in prod without COOKIE_DOMAIN"),
            format!("{name}={value}").as_bytes(),
        )
        .await;
    }
}
