//! PostgreSQL storage for Sigra, built on sqlx.
//!
//! [`PostgresStore`] implements every storage port of [`sigra_core::store`]
//! ([`UserStore`](sigra_core::store::UserStore),
//! [`SessionStore`](sigra_core::store::SessionStore),
//! [`EmailTokenStore`](sigra_core::store::EmailTokenStore),
//! [`MfaStore`](sigra_core::store::MfaStore),
//! [`AuditStore`](sigra_core::store::AuditStore) and
//! [`Store`](sigra_core::store::Store)) over a sqlx [`PgPool`](sqlx::PgPool).
//! Its schema lives in `migrations/`, embedded in the binary and applied by
//! [`PostgresStore::migrate`]. It has the same shape as `sigra-store-sqlite`:
//! switching backends changes the store type and nothing else.
//!
//! What the store guarantees, and how it is checked:
//! - Atomic operations are one statement or one transaction. The trust epoch
//!   is raised by one `UPDATE … RETURNING`; failed log-ins are counted by one
//!   `UPDATE`; email tokens, backup codes and TOTP steps are consumed by one
//!   conditional `DELETE`/`UPDATE`, so of two concurrent callers at most one wins.
//! - Emails are unique among non-deleted users, case-insensitively, by a
//!   partial unique index on `lower(email)`; a collision is
//!   [`StoreError::DuplicateEmail`](sigra_core::store::StoreError::DuplicateEmail).
//! - Only SHA-256 hashes of tokens and codes are stored (`bytea`).
//! - Errors keep their source: a failed query is
//!   [`StoreError::Backend`](sigra_core::store::StoreError::Backend) holding a
//!   [`PostgresStoreError`], which holds the [`sqlx::Error`].
//!
//! The conformance suite in `tests/` (crate `sigra-tests`) runs against this
//! store and `sigra-store-sqlite` alike.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use chrono::{TimeZone, Utc};
//! use sigra_core::ids::UserId;
//! use sigra_core::model::{AuditEvent, User};
//! use sigra_core::store::{Store, UserStore};
//! use sigra_store_postgres::PostgresStore;
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let store = PostgresStore::connect("postgres://postgres@127.0.0.1:5432/myapp").await?;
//! store.migrate().await?; // idempotent: applies only what is missing
//!
//! // Time is a parameter: in an app it comes from the `Clock`.
//! let now = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).single().ok_or("bad date")?;
//! let user = User::new(UserId::new(now), "ada@example.com".to_owned(), None, now);
//! store.insert_user(&user, &AuditEvent::register(&user)).await?;
//! assert_eq!(store.user_by_email("Ada@Example.com").await?.map(|u| u.id), Some(user.id));
//!
//! // Apps that mix backends hold the store as a trait object.
//! let store: Arc<dyn Store> = Arc::new(store);
//! store.ping().await?;
//! # Ok(())
//! # }
//! ```

mod connect;
mod error;
mod ports;
mod revocations;
mod rows;

pub use connect::{DEFAULT_ACQUIRE_TIMEOUT, DEFAULT_MAX_CONNECTIONS, MIGRATOR, PostgresStore};
pub use error::PostgresStoreError;
pub use revocations::{PgRevocationListener, REVOCATION_CHANNEL};

#[cfg(test)]
mod tests;
