//! [`SqliteStoreError`]: what can go wrong in this crate, with the source
//! kept whole; and how SQLite's error codes map to the ports' errors.

use sigra_core::store::StoreError;
use thiserror::Error;

/// An error from the SQLite store.
///
/// Through the [`sigra_core::store`] ports it arrives as
/// [`StoreError::Backend`], boxed whole so that callers can walk the source
/// chain (or downcast) down to the [`sqlx::Error`].
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SqliteStoreError {
    /// A query, the connection or the pool failed.
    #[error("SQLite error: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// Applying the embedded migrations failed.
    #[error("SQLite migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A timestamp computed from the caller's input does not fit in the
    /// stored range (e.g. `now + lock_for` overflowed).
    #[error("the timestamp for {0} is out of range")]
    TimestampOutOfRange(&'static str),
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

impl From<SqliteStoreError> for StoreError {
    fn from(e: SqliteStoreError) -> Self {
        StoreError::backend(e)
    }
}

/// Wraps a sqlx error as a port error (for `map_err`).
pub(crate) fn backend(e: sqlx::Error) -> StoreError {
    SqliteStoreError::Sqlx(e).into()
}

/// The partial unique index on `lower(email)` of non-deleted users.
pub(crate) const USERS_EMAIL_ACTIVE: &str = "index 'users_email_active'";
/// The unique constraint on `user_sessions.token_hash`.
pub(crate) const SESSIONS_TOKEN_HASH: &str = "user_sessions.token_hash";
/// The primary key of `user_tokens` (the token hash).
pub(crate) const TOKENS_PKEY: &str = "user_tokens.token_hash";

/// Whether `e` is a unique violation of the named constraint or index.
///
/// SQLite names them only in its message: `UNIQUE constraint failed: ` and
/// then `index 'name'` or `table.column`.
pub(crate) fn is_unique_violation_of(e: &sqlx::Error, constraint: &str) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.is_unique_violation()
                && db.message().strip_prefix("UNIQUE constraint failed: ") == Some(constraint)
        }
        _ => false,
    }
}
