//! The [`EmailTokenStore`] port: single-use email tokens (confirm, reset password, change email).

use async_trait::async_trait;
use sigra_core::ids::UserId;
use sigra_core::model::EmailToken;
use sigra_core::store::{EmailTokenStore, StoreError, StoreResult};
use sigra_core::token::{TokenContext, TokenHash};

use crate::SqliteStore;
use crate::error::{TOKENS_PKEY, backend, is_unique_violation_of};
use crate::rows::{email_token_columns, email_token_from_row, micros};

#[async_trait]
impl EmailTokenStore for SqliteStore {
    async fn insert_email_token(&self, token: &EmailToken) -> StoreResult<()> {
        sqlx::query(concat!(
            "INSERT INTO user_tokens (",
            email_token_columns!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5)"
        ))
        .bind(token.token_hash.as_bytes().as_slice())
        .bind(token.user_id.as_uuid())
        .bind(token.context.as_str())
        .bind(&token.sent_to)
        .bind(micros(token.created_at))
        .execute(self.pool())
        .await
        .map_err(|e| {
            if is_unique_violation_of(&e, TOKENS_PKEY) {
                StoreError::DuplicateToken
            } else {
                backend(e)
            }
        })?;
        Ok(())
    }

    async fn take_email_token(
        &self,
        hash: &TokenHash,
        context: TokenContext,
    ) -> StoreResult<Option<EmailToken>> {
        let row = sqlx::query(concat!(
            "DELETE FROM user_tokens WHERE token_hash = ?1 AND context = ?2 RETURNING ",
            email_token_columns!()
        ))
        .bind(hash.as_bytes().as_slice())
        .bind(context.as_str())
        .fetch_optional(self.pool())
        .await
        .map_err(backend)?;
        row.as_ref().map(email_token_from_row).transpose()
    }

    async fn email_token(
        &self,
        hash: &TokenHash,
        context: TokenContext,
    ) -> StoreResult<Option<EmailToken>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            email_token_columns!(),
            " FROM user_tokens WHERE token_hash = ?1 AND context = ?2"
        ))
        .bind(hash.as_bytes().as_slice())
        .bind(context.as_str())
        .fetch_optional(self.pool())
        .await
        .map_err(backend)?;
        row.as_ref().map(email_token_from_row).transpose()
    }

    async fn delete_user_email_tokens(
        &self,
        user: UserId,
        context: Option<TokenContext>,
    ) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM user_tokens WHERE user_id = ?1 AND (?2 IS NULL OR context = ?2)",
        )
        .bind(user.as_uuid())
        .bind(context.map(TokenContext::as_str))
        .execute(self.pool())
        .await
        .map_err(backend)?;
        Ok(done.rows_affected())
    }
}
