//! The store conformance suite: every guarantee of `sigra_core::store`, checked on every backend.
//!
//! Each test is written once, as `async fn name(store: &TestStore)` in a
//! topic module, and listed once in the [`conformance!`] invocation at the end
//! of this file. The macro generates one `#[tokio::test]` per backend, named
//! `conformance::<backend>::<topic>::<name>` (backends: `sqlite_file`,
//! `sqlite_memory`, `postgres`), so every test runs on every backend and a
//! test cannot be left out on one of them. A test function that is written but
//! not listed is dead code, which the workspace's `-D warnings` refuses.
//!
//! Run one backend with `cargo test -p sigra-tests postgres::`, one test
//! everywhere with `cargo test -p sigra-tests token_hash_round_trip`.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use sigra_core::ids::UserId;
use sigra_core::model::{AuditEvent, Session, SessionKind, SessionMeta, User};
use sigra_core::password::PasswordHash;
use sigra_core::token::RawToken;
use sigra_tests::Backend;
use sigra_tests::{TestStore, t0};
use tokio::sync::Barrier;

mod audit;
mod auth_flows;
mod credentials;
mod email_tokens;
mod epochs;
mod mfa;
mod reencrypt;
mod revocations;
mod sessions;
mod timestamps;
mod users;

/// Generates, for each backend, one `#[tokio::test]` per listed test.
macro_rules! conformance {
    ($($topic:ident: [$($test:ident),* $(,)?]),* $(,)?) => {
        conformance!(@backend sqlite_file, SqliteFile, $($topic: [$($test),*]),*);
        conformance!(@backend sqlite_memory, SqliteMemory, $($topic: [$($test),*]),*);
        conformance!(@backend postgres, Postgres, $($topic: [$($test),*]),*);
    };
    (@backend $backend:ident, $variant:ident, $($topic:ident: [$($test:ident),*]),*) => {
        mod $backend {
            $(
                mod $topic {
                    $(
                        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                        async fn $test() {
                            let store = sigra_tests::fresh_store(sigra_tests::Backend::$variant).await;
                            crate::conformance::$topic::$test(&store).await;
                        }
                    )*
                }
            )*
        }
    };
}

conformance! {
    users: [
        insert_then_read_back,
        email_lookup_is_case_insensitive,
        duplicate_email_is_refused_case_insensitively,
        concurrent_inserts_of_one_email_let_exactly_one_win,
        email_is_free_again_after_the_user_is_deleted,
        set_password_hash_replaces_the_hash,
        change_password_keeps_only_the_given_session_and_deletes_email_tokens,
        change_password_without_keep_deletes_every_session,
        login_failures_count_lock_and_restart_after_the_lock,
        concurrent_login_failures_are_all_counted,
        clear_login_failures_resets_count_and_lock,
        concurrent_trust_epoch_increments_are_all_applied,
        delete_user_cascades_and_keeps_audit_rows,
        unknown_users_are_not_errors,
        a_duplicate_id_is_a_backend_error_not_a_duplicate_email,
        a_lock_time_out_of_range_is_a_backend_error,
        a_soft_deleted_user_is_found_by_id_only,
    ],
    sessions: [
        session_round_trips_with_its_user,
        duplicate_token_hash_is_refused,
        token_hash_round_trip_end_to_end,
        idle_standard_session_expires_after_30_minutes_and_is_deleted,
        standard_session_expires_after_24_hours_despite_activity,
        remember_me_session_lasts_60_days_without_idle_timeout,
        mfa_pending_session_lasts_5_minutes,
        last_active_is_written_at_most_once_per_5_minutes,
        touch_session_only_moves_forward,
        set_sudo_records_the_time,
        delete_session_removes_one_and_reports_its_owner,
        delete_all_sessions_without_except,
        delete_all_sessions_with_except_keeps_the_current_one,
        list_user_sessions_is_newest_first_and_per_user,
        unknown_sessions_are_not_errors,
        sessions_of_a_soft_deleted_user_are_not_found,
    ],
    auth_flows: [
        lockout_after_5_failures_then_the_right_password_works_after_15_minutes,
        concurrent_logins_of_one_user_each_get_a_session,
        concurrent_registrations_of_one_email_let_exactly_one_win,
        concurrent_trust_revocations_are_all_counted,
        revoking_trust_of_an_unknown_user_is_user_not_found,
        change_password_keeps_only_the_current_session_and_deletes_email_tokens,
    ],
    credentials: [
        concurrent_guesses_cannot_race_the_lockout,
        a_log_in_in_progress_does_not_survive_a_credential_change,
    ],
    email_tokens: [
        email_token_round_trips_and_is_taken_once,
        take_is_bound_to_the_context,
        concurrent_takes_have_one_winner,
        delete_user_email_tokens_by_context_or_all,
        unknown_email_tokens_are_not_errors,
        duplicate_email_token_hash_is_refused,
    ],
    mfa: [
        credential_upsert_inserts_and_replaces,
        confirm_mfa_enables_mfa_and_records_the_step,
        confirm_mfa_without_a_credential_changes_nothing,
        totp_steps_are_accepted_only_moving_forward,
        concurrent_use_of_one_totp_step_has_one_winner,
        concurrent_use_of_many_steps_never_moves_backwards,
        backup_codes_are_consumed_once,
        concurrent_consumption_of_one_backup_code_has_one_winner,
        replacing_backup_codes_invalidates_the_old_ones,
        disable_mfa_deletes_credential_and_codes_and_bumps_the_epoch,
        unknown_mfa_lookups_are_not_errors,
    ],
    epochs: [
        credential_changes_move_both_epochs,
        ending_every_session_moves_the_session_epoch,
        insert_session_is_conditional_on_the_session_epoch,
        a_log_in_racing_a_revocation_never_keeps_its_session,
    ],
    reencrypt: [
        mfa_secrets_page_walks_every_credential_once_in_id_order,
        replace_mfa_secret_is_a_compare_and_swap,
        reencryption_makes_old_rows_current_and_a_rerun_changes_nothing,
        reencryption_never_clobbers_a_row_the_app_changes_meanwhile,
    ],
    audit: [
        audit_events_round_trip_newest_first_with_limit,
        auth_writes_an_audit_row_for_every_security_event,
        an_unknown_stored_action_is_a_backend_error_naming_it,
    ],
    timestamps: [
        timestamps_round_trip_at_microsecond_precision,
        ping_answers,
    ],
    revocations: [
        every_revoking_write_appends_a_row_for_its_user,
        writes_that_change_nothing_visible_append_nothing,
        ids_increase_and_reads_are_ordered_and_limited,
        pruning_keeps_the_newest_row,
        postgres_pushes_each_committed_revocation,
    ],
}

// ---------------------------------------------------------------------------
// Fixtures shared by the topic modules.

/// A syntactically valid PHC string, for store-level tests that never verify it.
pub(crate) fn phc(tag: &str) -> PasswordHash {
    PasswordHash::from_phc(format!("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ${tag}"))
}

/// Inserts a user with `email` (already normalised) created at [`t0`].
pub(crate) async fn new_user(store: &TestStore, email: &str) -> User {
    let user = User::new(
        UserId::new(t0()),
        email.to_owned(),
        Some(phc("aGFzaA")),
        t0(),
    );
    store
        .insert_user(&user, &AuditEvent::register(&user))
        .await
        .unwrap();
    user
}

/// Inserts a session of `kind` for `user` created at `at`; returns its raw token and row.
pub(crate) async fn new_session(
    store: &TestStore,
    user: &User,
    kind: SessionKind,
    at: DateTime<Utc>,
) -> (RawToken, Session) {
    let token = RawToken::generate().unwrap();
    let session = Session::new(user.id, token.hash(), kind, SessionMeta::default(), at);
    assert!(
        store
            .insert_session(&session, user.session_epoch)
            .await
            .unwrap()
    );
    (token, session)
}

/// `t0()` plus `minutes`.
pub(crate) fn at_minutes(minutes: i64) -> DateTime<Utc> {
    t0() + TimeDelta::minutes(minutes)
}

/// Runs `n` copies of a job at once on the runtime's worker threads, all
/// released together by a barrier to maximise contention, and returns their
/// results in spawn order.
pub(crate) async fn concurrently<T, F, Fut>(n: usize, job: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let barrier = Arc::clone(&barrier);
            let fut = job(i);
            tokio::spawn(async move {
                barrier.wait().await;
                fut.await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

/// Whether `needle` occurs anywhere in `hay`.
pub(crate) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Marks `user` as soft-deleted at `at` with raw SQL, bypassing the ports
/// (as a scheduled tombstone deletion leaves it, minus the other changes).
pub(crate) async fn mark_deleted(store: &TestStore, user: UserId, at: DateTime<Utc>) {
    let sql = "UPDATE users SET deleted_at = $2 WHERE id = $1";
    let done = match store.backend() {
        Backend::Postgres => sqlx::query(sql)
            .bind(*user.as_uuid())
            .bind(at)
            .execute(&store.pg_pool().unwrap())
            .await
            .unwrap()
            .rows_affected(),
        Backend::SqliteFile | Backend::SqliteMemory => sqlx::query(sql)
            .bind(*user.as_uuid())
            .bind(at.timestamp_micros())
            .execute(&store.sqlite_pool().unwrap())
            .await
            .unwrap()
            .rows_affected(),
    };
    assert_eq!(done, 1, "mark {user} deleted");
}

/// Writes an audit row for `user` whose action is `action`, as stored text,
/// with raw SQL: for rows that an older or newer version of Sigra wrote.
pub(crate) async fn insert_raw_audit_row(
    store: &TestStore,
    user: UserId,
    action: &str,
    at: DateTime<Utc>,
) {
    let sql = "INSERT INTO audit_events (id, user_id, action, ip, metadata, created_at) \
               VALUES ($1, $2, $3, NULL, '{}', $4)";
    let id = *UserId::new(at).as_uuid();
    match store.backend() {
        Backend::Postgres => sqlx::query(sql)
            .bind(id)
            .bind(*user.as_uuid())
            .bind(action)
            .bind(at)
            .execute(&store.pg_pool().unwrap())
            .await
            .unwrap()
            .rows_affected(),
        Backend::SqliteFile | Backend::SqliteMemory => sqlx::query(sql)
            .bind(id)
            .bind(*user.as_uuid())
            .bind(action)
            .bind(at.timestamp_micros())
            .execute(&store.sqlite_pool().unwrap())
            .await
            .unwrap()
            .rows_affected(),
    };
}
