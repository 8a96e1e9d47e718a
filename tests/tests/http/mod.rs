//! The HTTP end-to-end suite: the demo app on a real socket, driven by a cookie-keeping client.
//!
//! Each test is written once, as `async fn name(backend: Backend)` in a
//! topic module, and listed once in the [`http_tests!`] invocation below. The
//! macro generates one `#[tokio::test]` per backend and cache mode, named
//! `http::<backend>::<topic>::<name>` (backends: `sqlite_file`, `postgres`,
//! and the same with the node-local session cache on: `sqlite_file_cached`,
//! `postgres_cached`), so every test runs on both backends, with the cache
//! on and off, and none can be left out of one of them.
//!
//! The `cluster` module holds what only makes sense with the cache on and
//! two nodes on one database: cross-node revocation and its delay, and a
//! node cut off from its database.
//!
//! Each test starts its own server ([`sigra_tests::http::spawn_server`]) with
//! a fresh store, its own rate limiter and a [`TestClock`] frozen at
//! [`sigra_tests::t0`], so tests never share state and time only moves when a
//! test moves it. Redirects are never followed: every 303 and its `Location`
//! is asserted.
//!
//! Run them with `cargo test -p sigra-tests http::`.
//!
//! [`TestClock`]: sigra_core::clock::TestClock

use sigra_core::model::User;
use sigra_tests::http::{Client, Page, StatusCode, TestServer, spawn_server};
use sigra_tests::{Backend, secret};

mod cluster;
mod confirmation;
mod cookies;
mod csrf;
mod email;
mod fixtures;
mod headers;
mod health;
mod lockout;
mod log_in;
mod mfa;
mod pages;
mod proxies;
mod rate_limits;
mod registration;
mod remember_me;
mod rotation;
mod sessions;
mod subdomains;

/// Generates, for each backend, with the session cache off and on, one
/// `#[tokio::test]` per listed test.
macro_rules! http_tests {
    ($($topic:ident: [$($test:ident),* $(,)?]),* $(,)?) => {
        http_tests!(@backend sqlite_file, SqliteFile, false, $($topic: [$($test),*]),*);
        http_tests!(@backend postgres, Postgres, false, $($topic: [$($test),*]),*);
        http_tests!(@backend sqlite_file_cached, SqliteFile, true, $($topic: [$($test),*]),*);
        http_tests!(@backend postgres_cached, Postgres, true, $($topic: [$($test),*]),*);
    };
    (@backend $backend:ident, $variant:ident, $cached:literal, $($topic:ident: [$($test:ident),*]),*) => {
        mod $backend {
            $(
                mod $topic {
                    $(
                        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                        async fn $test() {
                            sigra_tests::http::with_session_cache(
                                $cached,
                                crate::http::$topic::$test(sigra_tests::Backend::$variant),
                            )
                            .await;
                        }
                    )*
                }
            )*
        }
    };
}

http_tests! {
    pages: [
        home_is_public_and_shows_the_signed_in_email,
        log_in_and_register_pages_render_forms_and_send_signed_in_users_home,
        protected_pages_redirect_signed_out_visitors_to_log_in,
        security_headers_are_on_every_response,
        personal_pages_are_never_cached,
        hostile_input_is_escaped_where_the_pages_echo_it,
        the_log_in_page_links_to_password_reset,
    ],
    headers: [
        prod_over_https_sends_hsts_on_every_answer,
        hsts_follows_sigra_hsts_and_an_empty_value_turns_it_off,
        pages_with_a_csrf_token_are_no_store_on_every_answer,
        dev_mailbox_answers_only_a_loopback_host,
    ],
    registration: [
        registration_logs_the_user_in_and_redirects_home,
        invalid_registrations_are_422_and_store_nothing,
    ],
    log_in: [
        failed_log_in_is_401_with_one_message_for_unknown_email_and_wrong_password,
        log_in_returns_to_the_remembered_path,
        open_redirect_attempts_are_never_followed,
        log_in_renews_the_session_cookie_and_csrf_token,
    ],
    lockout: [
        concurrent_guesses_from_many_addresses_cannot_race_the_lockout,
        password_checks_behind_a_session_count_toward_the_lockout,
        a_lockout_mails_the_owner_once_per_lock,
    ],
    sessions: [
        log_out_by_post_deletes_the_session_and_clears_cookies,
        log_out_by_delete_with_the_csrf_header,
        captured_cookies_are_useless_after_log_out,
        log_out_everywhere_signs_out_every_client,
        idle_timeout_signs_a_standard_session_out_after_30_minutes,
        settings_lists_the_users_sessions,
        revocation_race_no_request_after_log_out_everywhere_succeeds,
    ],
    remember_me: [
        remember_me_cookie_alone_restores_the_session,
        without_remember_me_no_remember_cookie_is_set,
    ],
    cookies: [
        tampered_and_garbage_session_cookies_read_as_anonymous,
        tampered_and_garbage_remember_me_cookies_read_as_anonymous,
        prod_cookies_are_secure_http_only_lax_and_carry_the_domain,
        duplicate_and_non_ascii_cookies_keep_the_user_signed_in,
        prod_without_a_cookie_domain_names_cookies_host_prefixed,
    ],
    csrf: [
        post_without_csrf_token_is_403_and_changes_nothing,
        wrong_csrf_token_is_403,
        cross_site_origin_is_403,
        oversized_form_is_413_and_changes_nothing,
    ],
    rate_limits: [
        eleventh_log_in_attempt_in_a_minute_is_429_with_retry_after,
        viewing_the_forms_does_not_spend_the_rate_limits,
        with_redis_url_every_node_shares_one_budget,
        no_anonymous_post_reaches_argon2_without_a_limiter,
        a_reset_with_a_fake_token_hashes_nothing_and_is_limited,
    ],
    proxies: [
        spoofed_forwarded_for_cannot_change_the_rate_limit_key,
        a_trusted_proxy_decides_the_key_and_the_session_ip,
        malformed_forwarded_for_chains_fall_back_to_the_peer,
        forwarded_proto_counts_only_from_a_trusted_proxy,
    ],
    subdomains: [
        a_session_from_app_is_valid_on_admin_and_cookies_carry_the_domain,
    ],
    rotation: [
        rotating_the_secret_key_base_re_signs_then_retires_old_cookies,
    ],
    health: [
        health_answers_the_documented_json,
        database_outage_is_503_and_fails_closed,
    ],
    mfa: [
        enrolment_shows_secret_qr_and_backup_codes_once,
        log_in_with_mfa_asks_for_the_code_and_refuses_a_replay,
        mfa_page_needs_a_pending_log_in_that_expires,
        a_backup_code_works_once,
        a_trusted_browser_skips_mfa_only_for_its_user_epoch_and_ttl,
        wrong_codes_lock_the_second_factor_with_429,
        mfa_attempts_are_rate_limited_per_user,
        disabling_mfa_and_new_backup_codes_need_sudo,
        enrolling_mfa_needs_sudo_which_a_log_in_opens,
        backup_codes_are_stored_keyed_not_as_bare_sha256,
        backup_codes_work_under_the_old_key_during_rotation,
        a_password_change_forgets_every_trusted_browser,
    ],
    fixtures: [
        the_fixture_cookie_header_signs_in_and_its_csrf_token_posts,
        the_fixture_finds_existing_users_and_checks_their_password,
        the_remember_me_fixture_cookie_alone_restores_the_session,
    ],
    confirmation: [
        a_taken_address_registers_exactly_as_a_new_one_and_mails_its_owner,
        an_unconfirmed_account_cannot_log_in_until_confirmed,
        resending_the_confirmation_answers_the_same_and_is_limited,
        the_log_in_page_links_the_resend_form_when_confirmation_is_required,
        without_confirmation_registration_tells_a_taken_address,
    ],
    email: [
        registration_mails_a_confirmation_link_that_works_once,
        password_reset_works_once_and_ends_every_session,
        reset_request_answers_the_same_for_unknown_addresses,
        reset_link_expires_after_an_hour,
        reset_requests_are_rate_limited_per_email,
        the_reset_request_answers_before_its_work_and_is_limited_per_client,
        changing_the_password_keeps_only_this_session,
        changing_the_email_confirms_at_the_new_address_and_ends_sessions,
        a_deleted_account_cannot_log_in_until_the_cancel_link,
        dead_and_malformed_links_are_404,
        opening_an_email_link_changes_nothing_until_its_button_is_pressed,
        dev_mailbox_json_is_served_only_in_dev,
    ],
}

// ---------------------------------------------------------------------------
// Fixtures shared by the topic modules.

/// The password every seeded user has.
pub(crate) const PASSWORD: &str = "correct horse battery staple";

/// A server with the default test configuration.
pub(crate) async fn server(backend: Backend) -> TestServer {
    spawn_server(backend, |config| config).await
}

/// Creates a user with [`PASSWORD`] directly through `Auth` (no session, no
/// rate-limit hit), for tests whose subject is not registration.
pub(crate) async fn seed_user(server: &TestServer, email: &str) -> User {
    server
        .sigra()
        .auth()
        .register(email, &secret(PASSWORD))
        .await
        .unwrap()
}

/// A client signed in as `email` (with [`PASSWORD`]), its CSRF token fresh
/// from the dashboard.
pub(crate) async fn signed_in(server: &TestServer, email: &str, remember: bool) -> Client {
    let mut client = server.client();
    client
        .log_in(email, PASSWORD, remember)
        .await
        .assert_redirect("/");
    let dashboard = client.get("/dashboard").await;
    assert_signed_in_as(&dashboard, email);
    client
}

/// Asserts a 200 dashboard for `email`.
#[track_caller]
pub(crate) fn assert_signed_in_as(page: &Page, email: &str) {
    assert_eq!(page.status, StatusCode::OK, "body: {}", page.body);
    assert_eq!(
        page.text_of("dashboard-email").as_deref(),
        Some(email),
        "body: {}",
        page.body
    );
}

/// Asserts that `client` is signed out: `/dashboard` answers 303 to the
/// log-in page, and the home page shows nobody.
///
/// Like a browser, the client keeps what those answers set: the session
/// cookie now remembers `/dashboard`, so the client's next log-in redirects
/// there, not to `/`.
pub(crate) async fn assert_signed_out(client: &mut Client) {
    client
        .get("/dashboard")
        .await
        .assert_redirect("/users/log-in");
    let home = client.get("/").await;
    assert_eq!(home.status, StatusCode::OK, "body: {}", home.body);
    assert_eq!(home.text_of("home-email"), None, "body: {}", home.body);
}
