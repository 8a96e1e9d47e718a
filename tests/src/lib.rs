//! Sigra's integration tests: the harness that gives each test a fresh store on every backend.
//!
//! The conformance suite (`tests/conformance`) is written once against
//! `Arc<dyn Store>` and run on each [`Backend`]: a SQLite file in a fresh
//! temporary directory, a private SQLite in-memory database, and a fresh
//! PostgreSQL database created for the test on the server named by
//! `SIGRA_TEST_POSTGRES_URL` (default [`DEFAULT_POSTGRES_URL`]) and dropped
//! when the test ends.
//!
//! PostgreSQL is never optional: when it cannot be reached the test fails and
//! says how to start it (`cargo xtask services`). A test that silently skips
//! one backend would hide exactly the bugs this suite exists to find.
//!
//! [`TestStore`] also gives read-only raw access to the tables
//! ([`TestStore::count_rows`], [`TestStore::dump_rows`]) so tests can check
//! what is really stored, not only what the ports choose to return.

// This crate is a test harness: failing to set up a backend *is* a failing test.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

pub mod http;
pub mod proxy;
pub mod tls_redis;

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use secrecy::SecretString;
use sigra_core::auth::Auth;
use sigra_core::clock::TestClock;
use sigra_core::config::{Config, Environment};
use sigra_core::ids::UserId;
use sigra_core::password::{Argon2Hasher, PasswordError, PasswordHash, PasswordHasher};
use sigra_core::store::Store;
use sigra_core::token::RawToken;
use sigra_store_postgres::PostgresStore;
use sigra_store_sqlite::SqliteStore;
use sqlx::{AssertSqlSafe, Connection, PgConnection, PgPool, Row, SqlitePool};

/// The variable naming the PostgreSQL server tests create their databases on.
pub const POSTGRES_URL_VAR: &str = "SIGRA_TEST_POSTGRES_URL";
/// The server `cargo xtask services` starts (trust auth for user `postgres`).
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The tables of the schema, for raw checks.
pub const TABLES: [&str; 6] = [
    "users",
    "user_sessions",
    "user_tokens",
    "user_mfa_credentials",
    "user_backup_codes",
    "audit_events",
];

/// A storage backend the conformance suite runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite on a file in a fresh temporary directory (WAL, a pool of connections).
    SqliteFile,
    /// SQLite in memory (`SqliteStore::memory()`, one connection).
    SqliteMemory,
    /// A fresh PostgreSQL database on the test server.
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::SqliteFile => "sqlite_file",
            Self::SqliteMemory => "sqlite_memory",
            Self::Postgres => "postgres",
        })
    }
}

/// The backend's own pool, for raw read-only checks.
#[derive(Debug, Clone)]
enum RawPool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A migrated store of one backend, alive until this value is dropped.
///
/// Derefs to `Arc<dyn Store>`, the type the application and [`Auth`] hold.
#[derive(Debug)]
pub struct TestStore {
    store: Arc<dyn Store>,
    raw: RawPool,
    backend: Backend,
    // Declared last so they drop after the pools above.
    /// The directory holding the SQLite file and its WAL/SHM files; removed on drop.
    _dir: Option<tempfile::TempDir>,
    /// The PostgreSQL database; dropped on drop.
    _database: Option<PgDatabase>,
}

impl Deref for TestStore {
    type Target = Arc<dyn Store>;
    fn deref(&self) -> &Self::Target {
        &self.store
    }
}

/// A fresh, migrated, empty store on `backend`.
///
/// # Panics
///
/// When the backend cannot be set up — in particular when PostgreSQL is not
/// reachable, with a message saying how to start it.
pub async fn fresh_store(backend: Backend) -> TestStore {
    match backend {
        Backend::SqliteFile => {
            let dir = tempfile::Builder::new()
                .prefix("sigra-test-")
                .tempdir()
                .expect("create a temporary directory");
            let path = dir.path().join("sigra.db");
            let url = format!("sqlite://{}", path.display());
            let store = SqliteStore::connect(&url)
                .await
                .unwrap_or_else(|e| panic!("open SQLite at {url}: {e}"));
            store
                .migrate()
                .await
                .unwrap_or_else(|e| panic!("migrate SQLite at {url}: {e}"));
            assert!(
                path.exists(),
                "SqliteStore::connect must create the database file {}",
                path.display()
            );
            let raw = RawPool::Sqlite(store.pool().clone());
            TestStore {
                store: Arc::new(store),
                raw,
                backend,
                _dir: Some(dir),
                _database: None,
            }
        }
        Backend::SqliteMemory => {
            let store = SqliteStore::memory()
                .await
                .unwrap_or_else(|e| panic!("open in-memory SQLite: {e}"));
            store
                .migrate()
                .await
                .unwrap_or_else(|e| panic!("migrate in-memory SQLite: {e}"));
            let raw = RawPool::Sqlite(store.pool().clone());
            TestStore {
                store: Arc::new(store),
                raw,
                backend,
                _dir: None,
                _database: None,
            }
        }
        Backend::Postgres => {
            let db = PgDatabase::create().await;
            let store = PostgresStore::connect(&db.url)
                .await
                .unwrap_or_else(|e| panic!("connect to the test database {}: {e}", db.name));
            store
                .migrate()
                .await
                .unwrap_or_else(|e| panic!("migrate PostgreSQL database {}: {e}", db.name));
            let raw = RawPool::Postgres(store.pool().clone());
            TestStore {
                store: Arc::new(store),
                raw,
                backend,
                _dir: None,
                _database: Some(db),
            }
        }
    }
}

impl TestStore {
    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL of this test's database (the SQLite file or the PostgreSQL
    /// database), for opening a second pool on it as another node would;
    /// `None` for in-memory SQLite, which no other pool can reach.
    pub fn database_url(&self) -> Option<String> {
        match (&self._database, &self._dir) {
            (Some(db), _) => Some(db.url.clone()),
            (None, Some(dir)) => Some(format!(
                "sqlite://{}",
                dir.path().join("sigra.db").display()
            )),
            (None, None) => None,
        }
    }

    /// The store's own PostgreSQL pool (PostgreSQL backend only).
    pub fn pg_pool(&self) -> Option<PgPool> {
        match &self.raw {
            RawPool::Postgres(pool) => Some(pool.clone()),
            RawPool::Sqlite(_) => None,
        }
    }

    /// The store's own SQLite pool (SQLite backends only).
    pub fn sqlite_pool(&self) -> Option<SqlitePool> {
        match &self.raw {
            RawPool::Sqlite(pool) => Some(pool.clone()),
            RawPool::Postgres(_) => None,
        }
    }

    /// Another handle on the store (for spawned tasks and [`Auth`]).
    pub fn store(&self) -> Arc<dyn Store> {
        Arc::clone(&self.store)
    }

    /// How many rows of `table` belong to `user` (raw SQL, bypassing the ports).
    pub async fn count_rows(&self, table: &'static str, user: UserId) -> i64 {
        assert!(TABLES.contains(&table), "unknown table {table}");
        let sql = format!("SELECT COUNT(*) FROM {table} WHERE user_id = $1");
        match &self.raw {
            RawPool::Sqlite(pool) => sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql))
                .bind(user.as_bytes().to_vec())
                .fetch_one(pool)
                .await
                .unwrap_or_else(|e| panic!("count rows of {table}: {e}")),
            RawPool::Postgres(pool) => sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql))
                .bind(*user.as_uuid())
                .fetch_one(pool)
                .await
                .unwrap_or_else(|e| panic!("count rows of {table}: {e}")),
        }
    }

    /// Every row of `table` as bytes: on SQLite each column's stored bytes
    /// (integers as their decimal text), joined by a zero byte; on PostgreSQL
    /// the row as JSON text (`bytea` shows as `\x` + hex). For checking that
    /// something (a raw token, a password, an email) is stored nowhere.
    pub async fn dump_rows(&self, table: &'static str) -> Vec<Vec<u8>> {
        assert!(TABLES.contains(&table), "unknown table {table}");
        match &self.raw {
            RawPool::Sqlite(pool) => {
                let rows = sqlx::query(AssertSqlSafe(format!("SELECT * FROM {table}")))
                    .fetch_all(pool)
                    .await
                    .unwrap_or_else(|e| panic!("read {table}: {e}"));
                rows.iter()
                    .map(|row| {
                        let mut out = Vec::new();
                        for i in 0..row.len() {
                            let value: Option<Vec<u8>> =
                                row.try_get_unchecked(i).unwrap_or_default();
                            out.extend(value.unwrap_or_default());
                            out.push(0);
                        }
                        out
                    })
                    .collect()
            }
            RawPool::Postgres(pool) => sqlx::query_scalar::<_, String>(AssertSqlSafe(format!(
                "SELECT row_to_json(t)::text FROM {table} t"
            )))
            .fetch_all(pool)
            .await
            .unwrap_or_else(|e| panic!("read {table}: {e}"))
            .into_iter()
            .map(String::into_bytes)
            .collect(),
        }
    }

    /// The raw `token_hash` column of the user's sessions.
    pub async fn stored_session_hashes(&self, user: UserId) -> Vec<Vec<u8>> {
        self.user_blobs(
            "SELECT token_hash FROM user_sessions WHERE user_id = $1",
            user,
        )
        .await
    }

    /// The raw `code_hash` column of the user's backup codes (used or not),
    /// what a copy of the database holds.
    pub async fn stored_backup_code_hashes(&self, user: UserId) -> Vec<Vec<u8>> {
        self.user_blobs(
            "SELECT code_hash FROM user_backup_codes WHERE user_id = $1",
            user,
        )
        .await
    }

    /// The one blob column `sql` selects for `user` (bound as `$1`).
    async fn user_blobs(&self, sql: &'static str, user: UserId) -> Vec<Vec<u8>> {
        match &self.raw {
            RawPool::Sqlite(pool) => sqlx::query_scalar::<_, Vec<u8>>(sql)
                .bind(user.as_bytes().to_vec())
                .fetch_all(pool)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
            RawPool::Postgres(pool) => sqlx::query_scalar::<_, Vec<u8>>(sql)
                .bind(*user.as_uuid())
                .fetch_all(pool)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
        }
    }
}

/// The fixed start of every test's clock: a time with a non-zero microsecond
/// part, so every timestamp written checks microsecond round-tripping.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap() + chrono::TimeDelta::microseconds(123_456)
}

/// An [`Auth`] over `store` with the test configuration (all defaults: idle
/// 30 min, absolute 24 h, remember-me 60 days, MFA pending 5 min, touch every
/// 5 min, lock after 5 failures for 15 min), the cheap test hasher, and a
/// [`TestClock`] frozen at [`t0`] that the test moves.
pub fn auth_over(store: &TestStore) -> (Auth, Arc<TestClock>) {
    let clock = Arc::new(TestClock::new(t0()));
    let config = Config::builder(Environment::Test)
        .build()
        .expect("the test configuration is valid");
    let auth = Auth::builder(config, store.store())
        .clock(clock.clone())
        .hasher(Arc::new(Argon2Hasher::for_tests()))
        .hash_pool(2, 256)
        .build()
        .expect("build Auth");
    (auth, clock)
}

/// The cheap test hasher with a verification that takes at least `delay`,
/// as a real Argon2 verification takes tens of milliseconds: it opens the
/// window between a log-in's lock check and its verdict wide enough that a
/// race in it can be reproduced on purpose. Hashing is not slowed.
#[derive(Debug)]
pub struct SlowVerifyHasher {
    inner: Argon2Hasher,
    delay: std::time::Duration,
}

impl SlowVerifyHasher {
    /// The test hasher, each verification (real or dummy) taking `delay` more.
    pub fn new(delay: std::time::Duration) -> Self {
        Self {
            inner: Argon2Hasher::for_tests(),
            delay,
        }
    }

    #[allow(
        clippy::disallowed_methods,
        reason = "it stands for Argon2's CPU time on a hashing-pool thread, which blocks just as long"
    )]
    fn wait(&self) {
        std::thread::sleep(self.delay);
    }
}

impl PasswordHasher for SlowVerifyHasher {
    fn hash(&self, password: &SecretString) -> Result<PasswordHash, PasswordError> {
        self.inner.hash(password)
    }

    fn verify(&self, password: &SecretString, hash: &PasswordHash) -> Result<bool, PasswordError> {
        self.wait();
        self.inner.verify(password, hash)
    }

    fn needs_rehash(&self, hash: &PasswordHash) -> bool {
        self.inner.needs_rehash(hash)
    }

    fn dummy_verify(&self, password: &SecretString) {
        self.wait();
        self.inner.dummy_verify(password);
    }
}

/// A password as a secret.
pub fn secret(s: &str) -> SecretString {
    SecretString::from(s)
}

/// A fresh PostgreSQL database for one test, dropped (`WITH (FORCE)`, best
/// effort) when this value is dropped.
#[derive(Debug)]
struct PgDatabase {
    /// The server URL given by the environment (its database is used for admin statements).
    admin_url: String,
    /// The test database's name.
    name: String,
    /// The URL of the test database.
    url: String,
}

impl PgDatabase {
    async fn create() -> Self {
        let admin_url =
            std::env::var(POSTGRES_URL_VAR).unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
        let mut conn = PgConnection::connect(&admin_url).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable at {admin_url}: {e}\n\
                 The store conformance suite runs every test on PostgreSQL too and never skips it.\n\
                 How to fix: start the test server with `cargo xtask services` (PostgreSQL on 127.0.0.1:5432, \
                 trust auth for user postgres), or set {POSTGRES_URL_VAR} to a server where that user may \
                 CREATE DATABASE."
            )
        });
        let token = RawToken::generate().expect("system randomness");
        let hex: String = token.expose_bytes()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let name = format!("sigra_t_{hex}");
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name} on {admin_url}: {e}"));
        let _ = conn.close().await;
        let url = with_database(&admin_url, &name);
        Self {
            admin_url,
            name,
            url,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, where we cannot block on a
        // future; a short-lived thread with its own runtime does the DROP and
        // is joined, so the database is gone before the test reports.
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let dropper = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(mut conn) = PgConnection::connect(&admin_url).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut conn).await;
                    let _ = conn.close().await;
                }
            });
        });
        let _ = dropper.join();
    }
}

/// `url` with its database (the path) replaced by `name`, keeping any query string.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let root = match base[authority_start..].find('/') {
        Some(i) => &base[..authority_start + i],
        None => base,
    };
    match query {
        Some(query) => format!("{root}/{name}?{query}"),
        None => format!("{root}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_is_swapped_in_the_url() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/test?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "x"),
            "postgres://h:5432/x"
        );
    }
}
