//! [`PostgresStoreError`]: what can go wrong in this crate, with the source
//! kept whole; and how PostgreSQL's error codes map to the ports' errors.

use sigra_core::store::StoreError;
use thiserror::Error;

/// An error from the PostgreSQL store.
///
/// Through the [`sigra_core::store`] ports it arrives as
/// [`StoreError::Backend`], boxed whole so that callers can walk the source
/// chain (or downcast) down to the [`sqlx::Error`]. Messages never contain a
/// token, a hash or a password hash: sqlx reports the database's message
/// (e.g. `duplicate key value violates unique constraint "…"`) without the
/// values that were bound.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PostgresStoreError {
    /// A query, the connection or the pool failed.
    #[error("PostgreSQL error: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// Applying the embedded migrations failed (for instance, an applied
    /// migration differs from the one embedded in this build).
    #[error("PostgreSQL migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A timestamp computed from the caller's input does not fit in a
    /// `timestamptz` (e.g. `now + lock_for` overflowed).
    #[error("the timestamp for {0} is out of range")]
    TimestampOutOfRange(&'static str),
}

impl From<PostgresStoreError> for StoreError {
    fn from(e: PostgresStoreError) -> Self {
        StoreError::backend(e)
    }
}

/// Wraps a sqlx error as a port error (for `map_err`).
pub(crate) fn backend(e: sqlx::Error) -> StoreError {
    PostgresStoreError::Sqlx(e).into()
}

/// The partial unique index on `lower(email)` of non-deleted users.
pub(crate) const USERS_EMAIL_ACTIVE: &str = "users_email_active";
/// The unique constraint on `user_sessions.token_hash`.
pub(crate) const SESSIONS_TOKEN_HASH: &str = "user_sessions_token_hash_key";
/// The primary key of `user_tokens` (the token hash).
pub(crate) const TOKENS_PKEY: &str = "user_tokens_pkey";

/// Whether `e` is a unique violation of the named constraint or index.
pub(crate) fn is_unique_violation_of(e: &sqlx::Error, constraint: &str) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.is_unique_violation() && db.constraint() == Some(constraint)
        }
        _ => false,
    }
}
