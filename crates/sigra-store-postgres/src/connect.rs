//! [`PostgresStore`]: the pool, connecting, the embedded migrations, and
//! the write transaction every multi-statement port method runs in.

use std::time::Duration;

use sigra_core::store::StoreResult;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Postgres, Transaction};

use crate::error::{PostgresStoreError, backend};

/// The migrations in this crate's `migrations/` folder, embedded at build time.
///
/// [`PostgresStore::migrate`] runs them; this is public for tools that want to
/// run or inspect them on their own connection (e.g. `sqlx::test`).
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Connections a pool from [`PostgresStore::connect`] holds at most.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10;

/// How long a query waits for a free connection before failing.
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Sigra's storage on PostgreSQL: implements every port of
/// [`sigra_core::store`] over a sqlx [`PgPool`].
///
/// Cloning is cheap and shares the pool.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:password@host:port/database`) with
    /// [`DEFAULT_MAX_CONNECTIONS`] connections and an acquire timeout of
    /// [`DEFAULT_ACQUIRE_TIMEOUT`]. Opens one connection right away, so a
    /// wrong URL or an unreachable server fails here. Does not migrate: call
    /// [`PostgresStore::migrate`].
    pub async fn connect(url: &str) -> Result<Self, PostgresStoreError> {
        Self::connect_with_options(url, DEFAULT_MAX_CONNECTIONS).await
    }

    /// Like [`PostgresStore::connect`], with at most `max_connections`
    /// connections. For any other pool setting, build a [`PgPool`] with
    /// [`PgPoolOptions`] and use [`PostgresStore::from_pool`].
    pub async fn connect_with_options(
        url: &str,
        max_connections: u32,
    ) -> Result<Self, PostgresStoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(DEFAULT_ACQUIRE_TIMEOUT)
            .connect(url)
            .await?;
        Ok(Self::from_pool(pool))
    }

    /// Wraps an existing pool.
    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The pool inside.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies the embedded migrations that have not been applied yet.
    ///
    /// Idempotent, and safe to run from several processes at once (sqlx holds
    /// a PostgreSQL advisory lock while migrating).
    pub async fn migrate(&self) -> Result<(), PostgresStoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// How many embedded migrations the database has not applied yet (all of
    /// them on an empty database). Read-only: applies nothing.
    pub async fn pending_migrations(&self) -> Result<usize, PostgresStoreError> {
        let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
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

    /// Starts the transaction of a multi-statement write (PostgreSQL's
    /// default `READ COMMITTED`; row locks are taken as rows are written).
    pub(crate) async fn write_tx(&self) -> StoreResult<Transaction<'static, Postgres>> {
        self.pool().begin().await.map_err(backend)
    }
}
