//! Log out (POST and DELETE), captured cookies, log out everywhere, the idle timeout, the sessions list.

use chrono::TimeDelta;
use sigra_tests::Backend;
use sigra_tests::http::{Client, Method, REMEMBER_ME_COOKIE, SESSION_COOKIE, StatusCode, headers};

use super::{assert_signed_in_as, assert_signed_out, seed_user, server, signed_in};

pub(crate) async fn log_out_by_post_deletes_the_session_and_clears_cookies(backend: Backend) {
    let server = server(backend).await;
    let alice = seed_user(&server, "alice@example.com").await;
    let mut client = signed_in(&server, "alice@example.com", true).await;
    assert!(client.cookie(REMEMBER_ME_COOKIE).is_some());
    assert_eq!(
        server.store().count_rows("user_sessions", alice.id).await,
        1
    );

    let answer = client.post_with_csrf("/users/log-out", &[]).await;
    answer.assert_redirect("/");
    let session = answer
        .set_cookie(SESSION_COOKIE)
        .expect("log-out renews the session cookie");
    assert!(!session.is_removal());
    let remember = answer
        .set_cookie(REMEMBER_ME_COOKIE)
        .expect("log-out clears the remember-me cookie");
    assert!(remember.is_removal(), "{}", remember.raw);
    assert_eq!(client.cookie(REMEMBER_ME_COOKIE), None);
    assert_eq!(
        server.store().count_rows("user_sessions", alice.id).await,
        0,
        "the session row is deleted"
    );

    let home = client.get("/").await;
    assert!(home.body.contains("You are logged out."), "{}", home.body);
    assert_signed_out(&mut client).await;
}

pub(crate) async fn log_out_by_delete_with_the_csrf_header(backend: Backend) {
    let server = server(backend).await;
    let alice = seed_user(&server, "alice@example.com").await;
    let mut client = signed_in(&server, "alice@example.com", false).await;
    let csrf = client.csrf_token().unwrap().to_owned();

    // Without the token: refused, still signed in.
    let refused = client
        .request(Method::DELETE, "/users/log-out", headers(&[]), None)
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_signed_in_as(&client.get("/dashboard").await, "alice@example.com");

    let answer = client
        .request(
            Method::DELETE,
            "/users/log-out",
            headers(&[("x-csrf-token", &csrf)]),
            None,
        )
        .await;
    answer.assert_redirect("/");
    assert_eq!(
        server.store().count_rows("user_sessions", alice.id).await,
        0
    );
    assert_signed_out(&mut client).await;
}

pub(crate) async fn captured_cookies_are_useless_after_log_out(backend: Backend) {
    let server = server(backend).await;
    seed_user(&server, "alice@example.com").await;
    let mut client = signed_in(&server, "alice@example.com", true).await;
    let captured = client.clone();
    let session = captured.cookie(SESSION_COOKIE).unwrap().to_owned();
    let remember = captured.cookie(REMEMBER_ME_COOKIE).unwrap().to_owned();

    client
        .post_with_csrf("/users/log-out", &[])
        .await
        .assert_redirect("/");

    // The whole captured jar, each cookie alone, and the captured jar after
    // another round of requests: none of them signs anyone in.
    let mut replay = captured.clone();
    assert_signed_out(&mut replay).await;
    let mut only_session = Client::with_cookies(&server, &[(SESSION_COOKIE, &session)]);
    assert_signed_out(&mut only_session).await;
    let mut only_remember = Client::with_cookies(&server, &[(REMEMBER_ME_COOKIE, &remember)]);
    assert_signed_out(&mut only_remember).await;
    // A captured cookie cannot log the victim out of a new session either, nor act.
    let mut replay = captured.clone();
    let post = replay
        .post_with_csrf("/users/settings/sessions/log-out-all", &[])
        .await;
    assert_ne!(post.status, StatusCode::OK);
    assert_ne!(post.status, StatusCode::INTERNAL_SERVER_ERROR);
}

pub(crate) async fn log_out_everywhere_signs_out_every_client(backend: Backend) {
    let server = server(backend).await;
    let alice = seed_user(&server, "alice@example.com").await;
    let bob = seed_user(&server, "bob@example.com").await;
    let mut a = signed_in(&server, "alice@example.com", false).await;
    let mut b = signed_in(&server, "alice@example.com", true).await;
    let b_remember_only = Client::with_cookies(
        &server,
        &[(REMEMBER_ME_COOKIE, b.cookie(REMEMBER_ME_COOKIE).unwrap())],
    );
    let mut other_user = signed_in(&server, "bob@example.com", false).await;
    assert_eq!(
        server.store().count_rows("user_sessions", alice.id).await,
        2
    );

    a.get("/users/settings").await;
    let answer = a
        .post_with_csrf("/users/settings/sessions/log-out-all", &[])
        .await;
    answer.assert_redirect("/users/log-in");
    assert!(
        answer
            .set_cookie(REMEMBER_ME_COOKIE)
            .is_some_and(|c| c.is_removal())
    );
    let log_in_page = a.get("/users/log-in").await;
    assert!(
        log_in_page
            .body
            .contains("Logged out of 2 session(s) everywhere."),
        "{}",
        log_in_page.body
    );

    assert_eq!(
        server.store().count_rows("user_sessions", alice.id).await,
        0
    );
    assert_signed_out(&mut a).await;
    assert_signed_out(&mut b).await;
    let mut b_remember_only = b_remember_only;
    assert_signed_out(&mut b_remember_only).await;
    // Another user's session is untouched.
    assert_signed_in_as(&other_user.get("/dashboard").await, "bob@example.com");
    assert_eq!(server.store().count_rows("user_sessions", bob.id).await, 1);
}

pub(crate) async fn idle_timeout_signs_a_standard_session_out_after_30_minutes(backend: Backend) {
    let server = server(backend).await;
    let alice = seed_user(&server, "alice@example.com").await;
    let mut standard = signed_in(&server, "alice@example.com", false).await;
    let mut remembered = signed_in(&server, "alice@example.com", true).await;

    // Activity keeps a standard session alive past 30 minutes in all.
    server.clock().advance(TimeDelta::minutes(29));
    assert_signed_in_as(&standard.get("/dashboard").await, "alice@example.com");
    server.clock().advance(TimeDelta::minutes(29));
    assert_signed_in_as(&standard.get("/dashboard").await, "alice@example.com");

    // 31 idle minutes end it; the row is deleted when seen.
    server.clock().advance(TimeDelta::minutes(31));
    let expired = standard.get("/dashboard").await;
    expired.assert_redirect("/users/log-in");
    assert!(
        expired
            .set_cookie(SESSION_COOKIE)
            .is_some_and(|c| !c.is_removal()),
        "the dead token is dropped from the session cookie"
    );
    assert_signed_out(&mut standard).await;

    // A remember-me session has no idle timeout.
    assert_signed_in_as(&remembered.get("/dashboard").await, "alice@example.com");
    assert_eq!(
        server.store().count_rows("user_sessions", alice.id).await,
        1,
        "only the remember-me session is left"
    );
}

pub(crate) async fn settings_lists_the_users_sessions(backend: Backend) {
    let server = server(backend).await;
    seed_user(&server, "alice@example.com").await;
    seed_user(&server, "bob@example.com").await;
    let mut first = signed_in(&server, "alice@example.com", false).await;
    let page = first.get("/users/settings").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.count(r#"<tr class="session">"#), 1, "{}", page.body);

    let _second = signed_in(&server, "alice@example.com", true).await;
    let _bob = signed_in(&server, "bob@example.com", false).await;
    let page = first.get("/users/settings").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        page.count(r#"<tr class="session">"#),
        2,
        "two log-ins of this user, two rows (never another user's): {}",
        page.body
    );
    assert_eq!(page.count("(this browser)"), 1, "{}", page.body);
    assert_eq!(page.count("<td>standard (this browser)</td>"), 1);
    assert_eq!(page.count("<td>remember_me</td>"), 1, "{}", page.body);
    assert_eq!(
        page.count("<td>127.0.0.1</td>"),
        2,
        "the client's IP is shown"
    );
    assert_eq!(
        page.count(&format!("<td>{}</td>", sigra_tests::http::USER_AGENT)),
        2,
        "the client's user agent is shown"
    );
    assert!(page.body.contains(r#"id="log-out-everywhere""#));
}

/// The revocation race: 32 tasks hammer `/dashboard` with one user's
/// cookies while that user logs out everywhere; every request that starts
/// after the log-out response has arrived is refused. Runs with the session
/// cache off and on (where it checks eviction-before-answer and the
/// generation check that keeps a racing read out of the cache).
pub(crate) async fn revocation_race_no_request_after_log_out_everywhere_succeeds(backend: Backend) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    const TASKS: usize = 32;
    let server = server(backend).await;
    seed_user(&server, "alice@example.com").await;
    let mut actor = signed_in(&server, "alice@example.com", false).await;
    let standard = signed_in(&server, "alice@example.com", false).await;
    let remembered = signed_in(&server, "alice@example.com", true).await;
    let cookie_header = |client: &Client| {
        client
            .cookies()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let jars = Arc::new(vec![
        cookie_header(&actor),
        cookie_header(&standard),
        cookie_header(&remembered),
        format!(
            "{REMEMBER_ME_COOKIE}={}",
            remembered.cookie(REMEMBER_ME_COOKIE).unwrap()
        ),
    ]);

    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for n in 0..TASKS {
        let (jars, stop) = (jars.clone(), stop.clone());
        let mut client = server.client();
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut i = n;
            while !stop.load(Ordering::SeqCst) {
                let jar = &jars[i % jars.len()];
                i += 1;
                let started = Instant::now();
                let page = client
                    .request(Method::GET, "/dashboard", headers(&[("cookie", jar)]), None)
                    .await;
                seen.push((started, page.status, page.location().map(str::to_owned)));
            }
            seen
        }));
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    actor.get("/users/settings").await;
    actor
        .post_with_csrf("/users/settings/sessions/log-out-all", &[])
        .await
        .assert_redirect("/users/log-in");
    let answered = Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);

    let (mut before_ok, mut after) = (0, 0);
    for task in tasks {
        for (started, status, location) in task.await.unwrap() {
            if started > answered {
                after += 1;
                assert_eq!(
                    (status, location.as_deref()),
                    (StatusCode::SEE_OTHER, Some("/users/log-in")),
                    "a request that started {:?} after the log-out-everywhere answer was not refused",
                    started - answered
                );
            } else if status == StatusCode::OK {
                before_ok += 1;
            }
        }
    }
    assert!(
        before_ok > 0,
        "the hammer saw the signed-in dashboard before"
    );
    assert!(
        after >= TASKS,
        "only {after} requests started after the answer"
    );
}
