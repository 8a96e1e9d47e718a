//! The crate's own tests of what only PostgreSQL has, against a real server
//! (each test in a fresh database): migrations, connecting, errors' sources,
//! and the row mapping of a value no port can reach.
//!
//! What every backend guarantees (round trips, atomic operations under real
//! concurrency, cascades, error kinds) is checked once for all backends by
//! the conformance suite in `tests/` (crate `sigra-tests`, module
//! `conformance`); the NOTIFY listener is checked there too
//! (`revocations::postgres_pushes_each_committed_revocation`).

use std::error::Error as _;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use sigra_core::ids::UserId;
use sigra_core::model::{AuditEvent, EmailToken, UnknownName, User};
use sigra_core::password::PasswordHash;
use sigra_core::store::{EmailTokenStore, Store, StoreError, UserStore};
use sigra_core::token::{TokenContext, TokenHash};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions as _, Connection as _};

use crate::{PostgresStore, PostgresStoreError};

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A migrated store on a database of its own, dropped (best effort) with the guard.
struct TestDb {
    store: PostgresStore,
    name: String,
    admin: PgConnectOptions,
}

impl TestDb {
    async fn new() -> Self {
        let url =
            std::env::var("SIGRA_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned());
        let admin: PgConnectOptions = url.parse().unwrap_or_else(|e| {
            panic!("SIGRA_TEST_POSTGRES_URL={url:?} is not a PostgreSQL URL: {e}")
        });
        let mut conn = admin.connect().await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable at {url} ({e}). These tests need a real server: run \
                 `cargo xtask services` (or `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`), \
                 or point SIGRA_TEST_POSTGRES_URL at any PostgreSQL >= 13 where the user may CREATE DATABASE."
            )
        });
        // Random suffix: the random bits of a UUIDv7 (the timestamp part is fixed).
        let random = uuid::Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, 0, 0))
            .simple()
            .to_string();
        let name = format!("sigra_pg_{}", &random[16..]);
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.ok();
        let pool = PgPoolOptions::new()
            .max_connections(20)
            .connect_with(admin.clone().database(&name))
            .await
            .unwrap();
        let store = PostgresStore::from_pool(pool);
        store.migrate().await.unwrap();
        Self { store, name, admin }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Best effort, also when the test panicked: a thread with its own
        // runtime, since Drop cannot await. FORCE ends the pool's connections.
        let admin = self.admin.clone();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let dropper = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) = admin.connect().await {
                    let _ = sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut conn).await;
                    let _ = conn.close().await;
                }
            });
        });
        let _ = dropper.join();
    }
}

/// A fixed instant with a non-zero microsecond part (timestamps must round-trip to the microsecond).
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 14, 15, 9, 26).unwrap() + TimeDelta::microseconds(535_897)
}

fn hash(byte: u8) -> TokenHash {
    TokenHash::from_bytes([byte; 32])
}

async fn new_user(store: &PostgresStore, email: &str) -> User {
    let user = User::new(
        UserId::new(t0()),
        email.to_owned(),
        Some(PasswordHash::from_phc(
            "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA".to_owned(),
        )),
        t0(),
    );
    store
        .insert_user(&user, &AuditEvent::register(&user))
        .await
        .unwrap();
    user
}

#[tokio::test]
async fn migrating_twice_is_idempotent() {
    let db = TestDb::new().await;
    db.store.migrate().await.unwrap();
    db.store.migrate().await.unwrap();
    db.store.ping().await.unwrap();
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(db.store.pool())
        .await
        .unwrap();
    assert_eq!(
        applied,
        i64::try_from(crate::MIGRATOR.iter().count()).unwrap()
    );
    assert_eq!(db.store.pending_migrations().await.unwrap(), 0);
}

#[tokio::test]
async fn an_unknown_stored_token_context_is_a_backend_error() {
    // The audit-action half of this check runs on every backend in the
    // conformance suite (`audit::an_unknown_stored_action_is_a_backend_error_naming_it`);
    // a token is reached only through a matching context, so this reads the
    // row through the mapper directly.
    let db = TestDb::new().await;
    let s = &db.store;
    let owner = new_user(s, "ada@example.com").await;
    sqlx::query("INSERT INTO user_tokens (token_hash, user_id, context, sent_to, created_at) VALUES ($1, $2, 'bogus', 'x', $3)")
        .bind(hash(3).as_bytes())
        .bind(owner.id.as_uuid())
        .bind(t0())
        .execute(s.pool())
        .await
        .unwrap();
    let row =
        sqlx::query("SELECT token_hash, user_id, context, sent_to, created_at FROM user_tokens")
            .fetch_one(s.pool())
            .await
            .unwrap();
    let err = crate::rows::email_token_from_row(&row).unwrap_err();
    let StoreError::Backend(source) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        source.downcast_ref::<UnknownName>().unwrap().what,
        "token context"
    );
}

#[tokio::test]
async fn backend_errors_keep_their_source_and_hide_values() {
    let db = TestDb::new().await;
    let s = &db.store;
    // An email token for a user that does not exist: a foreign-key
    // violation. (A session is no longer the way: its insert is
    // conditional on the user row and inserts nothing for a ghost.)
    let ghost = User::new(UserId::new(t0()), "ghost@example.com".into(), None, t0());
    let token = EmailToken::new(
        hash(0xab),
        ghost.id,
        TokenContext::Confirm,
        ghost.email.clone(),
        t0(),
    );
    let err = s.insert_email_token(&token).await.unwrap_err();
    let StoreError::Backend(source) = &err else {
        panic!("{err:?}")
    };
    let pg = source.downcast_ref::<PostgresStoreError>().unwrap();
    assert!(matches!(
        pg,
        PostgresStoreError::Sqlx(sqlx::Error::Database(_))
    ));
    assert!(err.source().is_some());
    let text = format!("{err} {err:?}");
    assert!(!text.contains("abababab"), "{text}");

    // A closed pool reports a backend error, not a panic.
    s.pool().close().await;
    assert!(matches!(s.ping().await, Err(StoreError::Backend(_))));
}

#[tokio::test]
async fn connect_reports_a_bad_url_as_an_error() {
    let err = PostgresStore::connect("postgres://postgres@127.0.0.1:1/none")
        .await
        .unwrap_err();
    assert!(matches!(err, PostgresStoreError::Sqlx(_)));
    let url = std::env::var("SIGRA_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned());
    let store = PostgresStore::connect(&url).await.unwrap();
    store.ping().await.unwrap();
}
