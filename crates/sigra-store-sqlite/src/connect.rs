//! [`SqliteStore`]: the pool, connecting, the embedded migrations, and
//! the write transaction every multi-statement port method runs in.

use std::str::FromStr;
use std::time::Duration;

use sigra_core::store::StoreResult;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

use crate::error::{SqliteStoreError, backend};

/// The migrations in this crate's `migrations/` folder, embedded at build time.
///
/// [`SqliteStore::migrate`] runs them; this is public for tools that want to
/// run or inspect them on their own connection (e.g. `sqlx::test`).
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Connections a pool from [`SqliteStore::connect`] holds at most (on a
/// file; an in-memory database has one).
pub const DEFAULT_MAX_CONNECTIONS: u32 = 8;

/// How long a query waits for a free connection before failing (on a file;
/// an in-memory database, whose one connection is shared, waits 30 seconds).
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a connection waits for another one's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Sigra's storage on SQLite: implements every port of
/// [`sigra_core::store`] over a sqlx [`SqlitePool`].
///
/// Cloning is cheap and shares the pool.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url`, e.g.
    /// `sqlite://sigra.db` or `sqlite:///var/lib/app/sigra.db`, with
    /// [`DEFAULT_MAX_CONNECTIONS`] connections and an acquire timeout of
    /// [`DEFAULT_ACQUIRE_TIMEOUT`]. `sqlite::memory:` gives the same database
    /// as [`SqliteStore::memory`]. Does not migrate: call
    /// [`SqliteStore::migrate`].
    pub async fn connect(url: &str) -> Result<Self, SqliteStoreError> {
        let options = SqliteConnectOptions::from_str(url)?;
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Self::open_memory(options).await;
        }
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(DEFAULT_MAX_CONNECTIONS)
            .acquire_timeout(DEFAULT_ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        Ok(Self::from_pool(pool))
    }

    /// A private in-memory database that lives as long as this store (and its clones).
    ///
    /// It runs on a single connection that never expires, because each SQLite
    /// connection to `:memory:` would otherwise see its own empty database.
    pub async fn memory() -> Result<Self, SqliteStoreError> {
        Self::open_memory(SqliteConnectOptions::from_str("sqlite::memory:")?).await
    }

    async fn open_memory(options: SqliteConnectOptions) -> Result<Self, SqliteStoreError> {
        let options = options.foreign_keys(true).busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await?;
        Ok(Self::from_pool(pool))
    }

    /// Wraps an existing pool (configure it as [`SqliteStore::connect`] does).
    pub fn from_pool(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// The pool inside.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Applies the embedded migrations that have not been applied yet.
    ///
    /// Idempotent: running it again is a no-op.
    pub async fn migrate(&self) -> Result<(), SqliteStoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// How many embedded migrations the database has not applied yet (all of
    /// them on an empty database). Read-only: applies nothing.
    pub async fn pending_migrations(&self) -> Result<usize, SqliteStoreError> {
        let exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations')",
        )
        .fetch_one(&self.pool)
        .await?;
        let applied: Vec<i64> = if exists {
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&self.pool)
                .await?
        } else {
            Vec::new()
        };
        Ok(MIGRATOR
            .iter()
            .filter(|m| !applied.contains(&m.version))
            .count())
    }

    /// Starts the transaction of a multi-statement write, holding the write
    /// lock from the start (`BEGIN IMMEDIATE`), so concurrent writers queue
    /// instead of deadlocking on a lock upgrade.
    pub(crate) async fn write_tx(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        self.pool()
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)
    }
}
