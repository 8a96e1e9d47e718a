//! SQLite storage for Sigra, built on sqlx: the embedded default.
//!
//! [`SqliteStore`] implements every port of [`sigra_core::store`] over one
//! SQLite database file (or an in-memory database for tests). The schema is
//! embedded and applied by [`SqliteStore::migrate`].
//!
//! Connections run in WAL mode with a 5-second busy timeout, foreign keys on
//! and `synchronous = NORMAL`; multi-statement writes take the write lock up
//! front (`BEGIN IMMEDIATE`), so concurrent writers queue instead of
//! deadlocking on a lock upgrade. Timestamps are stored as integer
//! microseconds, so expiry comparisons are numeric and indexable.
//!
//! ```no_run
//! use std::sync::Arc;
//! use sigra_core::store::Store;
//! use sigra_store_sqlite::SqliteStore;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let store = SqliteStore::connect("sqlite://sigra.db").await?;
//! store.migrate().await?;
//! let store: Arc<dyn Store> = Arc::new(store);
//! store.ping().await?;
//! # Ok(()) }
//! ```

mod revocations;
mod rows;
mod store;

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use thiserror::Error;

/// Errors of the SQLite store. Converted into
/// [`sigra_core::store::StoreError::Backend`] with this error kept as the source.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SqliteStoreError {
    /// The database driver failed.
    #[error("SQLite error: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// Applying the migrations failed.
    #[error("SQLite migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be read back (e.g. an unknown session kind).
    #[error("SQLite row has an invalid {what}")]
    Corrupt {
        /// Which column or value.
        what: &'static str,
        /// Why it was refused, when known.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

impl SqliteStoreError {
    pub(crate) fn corrupt(what: &'static str) -> Self {
        Self::Corrupt { what, source: None }
    }

    pub(crate) fn corrupt_with(
        what: &'static str,
        e: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Corrupt {
            what,
            source: Some(Box::new(e)),
        }
    }
}

impl From<SqliteStoreError> for sigra_core::store::StoreError {
    fn from(e: SqliteStoreError) -> Self {
        sigra_core::store::StoreError::backend(e)
    }
}

/// Sigra's storage on SQLite. Cheap to clone (shares the pool).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url`, e.g.
    /// `sqlite://sigra.db` or `sqlite:///var/lib/app/sigra.db`.
    /// `sqlite::memory:` gives the same database as [`SqliteStore::memory`].
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
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    /// A private in-memory database that lives as long as this store (and its clones).
    ///
    /// It runs on a single connection that never expires, because each SQLite
    /// connection to `:memory:` would otherwise see its own empty database.
    pub async fn memory() -> Result<Self, SqliteStoreError> {
        Self::open_memory(SqliteConnectOptions::from_str("sqlite::memory:")?).await
    }

    async fn open_memory(options: SqliteConnectOptions) -> Result<Self, SqliteStoreError> {
        let options = options
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    /// Wraps an existing pool (configure it as [`SqliteStore::connect`] does).
    pub fn from_pool(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// The connection pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Applies the embedded migrations; running it again is a no-op.
    pub async fn migrate(&self) -> Result<(), SqliteStoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// How many embedded migrations the database has not applied yet (all of
    /// them on an empty database). Read-only: applies nothing.
    pub async fn pending_migrations(&self) -> Result<usize, SqliteStoreError> {
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations')")
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
}

/// The embedded migrations.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
