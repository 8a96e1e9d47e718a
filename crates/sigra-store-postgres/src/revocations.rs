//! The revocation log on PostgreSQL: read and pruned here, written (and
//! announced with `NOTIFY sigra_revocations`) by the triggers of
//! `migrations/0004_session_revocations.sql`; and the listener that hears
//! those notifications.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sigra_core::ids::UserId;
use sigra_core::store::{
    Revocation, RevocationListener, RevocationNotice, RevocationStore, StoreResult,
};
use sqlx::Row;
use sqlx::postgres::{PgListener, PgPoolOptions};

use crate::error::backend;
use crate::{DEFAULT_ACQUIRE_TIMEOUT, PostgresStore};

#[async_trait]
impl RevocationStore for PostgresStore {
    async fn latest_revocation_id(&self) -> StoreResult<i64> {
        sqlx::query_scalar("SELECT COALESCE(MAX(id), 0)::bigint FROM session_revocations")
            .fetch_one(self.pool())
            .await
            .map_err(backend)
    }

    async fn revocations_after(&self, after: i64, limit: u32) -> StoreResult<Vec<Revocation>> {
        let rows = sqlx::query(
            "SELECT id, user_id FROM session_revocations WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|row| {
                Ok(Revocation {
                    id: row.try_get("id").map_err(backend)?,
                    user_id: UserId::from_uuid(row.try_get("user_id").map_err(backend)?),
                })
            })
            .collect()
    }

    async fn prune_revocations(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM session_revocations WHERE created_at < $1 \
             AND id < (SELECT MAX(id) FROM session_revocations)",
        )
        .bind(before)
        .execute(self.pool())
        .await
        .map_err(backend)?;
        Ok(done.rows_affected())
    }

    async fn revocation_listener(&self) -> StoreResult<Option<Box<dyn RevocationListener>>> {
        let listener = PostgresStore::revocation_listener(self)
            .await
            .map_err(backend)?;
        Ok(Some(Box::new(listener)))
    }
}

/// The channel the revocation triggers notify; the payload is the user id.
pub const REVOCATION_CHANNEL: &str = "sigra_revocations";

/// Hears `NOTIFY sigra_revocations` on a connection of its own (not one of
/// the store's pool), reconnecting after a loss. Get one with
/// [`PostgresStore::revocation_listener`].
#[derive(Debug)]
pub struct PgRevocationListener {
    listener: PgListener,
}

impl PostgresStore {
    /// A listener of revocation notifications on its own connection, made
    /// with the same connect options as the store's pool. Each
    /// [`RevocationListener::next`] yields a user whose revocation committed;
    /// [`RevocationNotice::Lost`] when the connection dropped (notifications
    /// may have been missed; the listener reconnects).
    pub async fn revocation_listener(&self) -> Result<PgRevocationListener, sqlx::Error> {
        let options = self.pool().connect_options().as_ref().clone();
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .max_lifetime(None)
            .idle_timeout(None)
            .acquire_timeout(DEFAULT_ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen(REVOCATION_CHANNEL).await?;
        Ok(PgRevocationListener { listener })
    }
}

#[async_trait]
impl RevocationListener for PgRevocationListener {
    async fn next(&mut self) -> StoreResult<RevocationNotice> {
        loop {
            match self.listener.try_recv().await.map_err(backend)? {
                None => return Ok(RevocationNotice::Lost),
                Some(notification) => match notification.payload().parse::<uuid::Uuid>() {
                    Ok(id) => return Ok(RevocationNotice::Revoked(UserId::from_uuid(id))),
                    // Not ours (someone else NOTIFYing the channel): ignore it.
                    Err(_) => continue,
                },
            }
        }
    }
}
