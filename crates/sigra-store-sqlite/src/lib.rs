//! SQLite storage for Sigra, built on sqlx: the embedded default.
//!
//! [`SqliteStore`] implements every storage port of [`sigra_core::store`]
//! ([`UserStore`](sigra_core::store::UserStore),
//! [`SessionStore`](sigra_core::store::SessionStore),
//! [`EmailTokenStore`](sigra_core::store::EmailTokenStore),
//! [`MfaStore`](sigra_core::store::MfaStore),
//! [`AuditStore`](sigra_core::store::AuditStore) and
//! [`Store`](sigra_core::store::Store)) over one SQLite database file (or an
//! in-memory database for tests). Its schema lives in `migrations/`,
//! embedded in the binary and applied by [`SqliteStore::migrate`]. It has the
//! same shape as `sigra-store-postgres`: switching backends changes the store
//! type and nothing else.
//!
//! Connections run in WAL mode with a 5-second busy timeout, foreign keys on
//! and `synchronous = NORMAL`; multi-statement writes take the write lock up
//! front (`BEGIN IMMEDIATE`), so concurrent writers queue instead of
//! deadlocking on a lock upgrade. Timestamps are stored as integer
//! microseconds, so expiry comparisons are numeric and indexable.
//!
//! What the store guarantees, and how it is checked:
//! - Atomic operations are one statement or one transaction, and SQLite runs
//!   one writer at a time: of two concurrent callers consuming one email
//!   token, backup code or TOTP step, at most one wins.
//! - Emails are unique among non-deleted users, case-insensitively, by a
//!   partial unique index on `lower(email)`; a collision is
//!   [`StoreError::DuplicateEmail`](sigra_core::store::StoreError::DuplicateEmail).
//! - Only SHA-256 hashes of tokens and codes are stored (`BLOB`).
//! - Errors keep their source: a failed query is
//!   [`StoreError::Backend`](sigra_core::store::StoreError::Backend) holding a
//!   [`SqliteStoreError`], which holds the [`sqlx::Error`].
//!
//! The conformance suite in `tests/` (crate `sigra-tests`) runs against this
//! store and `sigra-store-postgres` alike.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use sigra_core::store::Store;
//! use sigra_store_sqlite::SqliteStore;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let store = SqliteStore::connect("sqlite://sigra.db").await?;
//! store.migrate().await?; // idempotent: applies only what is missing
//! let store: Arc<dyn Store> = Arc::new(store);
//! store.ping().await?;
//! # Ok(()) }
//! ```

mod connect;
mod error;
mod ports;
mod revocations;
mod rows;

pub use connect::{DEFAULT_ACQUIRE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, MIGRATOR, SqliteStore};
pub use error::SqliteStoreError;
