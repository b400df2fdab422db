//! Refresh tokens (rotating, in families) and API tokens. Only hashes of secrets are stored.

use super::{SqlStore, StoreError, StoreResult, from_ms, to_ms};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use model::{ApiTokenInfo, Scopes};

/// A refresh token as stored (the secret itself is never stored, only its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    /// SHA-256 of the token, hex.
    pub token_hash: String,
    /// All tokens rotated from one sign-in share a family.
    pub family_id: String,
    /// Owner.
    pub user_id: i64,
    /// Issued at.
    pub created_at: DateTime<Utc>,
    /// Expires at.
    pub expires_at: DateTime<Utc>,
    /// When it was exchanged for the next one.
    pub used_at: Option<DateTime<Utc>>,
    /// When it (or its family) was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// An API token as stored, with its owner.
#[derive(Debug, Clone)]
pub struct ApiTokenRecord {
    /// The public part.
    pub info: ApiTokenInfo,
    /// Owner.
    pub user_id: i64,
}

/// An API token to insert.
#[derive(Debug, Clone)]
pub struct NewApiTokenRow {
    /// Owner.
    pub user_id: i64,
    /// Name.
    pub name: String,
    /// SHA-256 of the secret, hex.
    pub token_hash: String,
    /// Scopes.
    pub scopes: Scopes,
    /// Created at.
    pub created_at: DateTime<Utc>,
    /// Expires at.
    pub expires_at: DateTime<Utc>,
}

pub(crate) const API_TOKEN_COLUMNS: &str =
    "id, user_id, name, scopes, created_at, expires_at, last_used_at, revoked_at";

pub(crate) const REFRESH_COLUMNS: &str =
    "token_hash, family_id, user_id, created_at, expires_at, used_at, revoked_at";

#[derive(sqlx::FromRow)]
pub(crate) struct RefreshRow {
    pub token_hash: String,
    pub family_id: String,
    pub user_id: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl From<RefreshRow> for RefreshTokenRecord {
    fn from(r: RefreshRow) -> Self {
        RefreshTokenRecord {
            token_hash: r.token_hash,
            family_id: r.family_id,
            user_id: r.user_id,
            created_at: from_ms(r.created_at),
            expires_at: from_ms(r.expires_at),
            used_at: r.used_at.map(from_ms),
            revoked_at: r.revoked_at.map(from_ms),
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ApiTokenRow {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub scopes: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl From<ApiTokenRow> for ApiTokenRecord {
    fn from(r: ApiTokenRow) -> Self {
        ApiTokenRecord {
            user_id: r.user_id,
            info: ApiTokenInfo {
                id: r.id,
                name: r.name,
                scopes: Scopes::from_csv(&r.scopes),
                created_at: from_ms(r.created_at),
                expires_at: from_ms(r.expires_at),
                last_used_at: r.last_used_at.map(from_ms),
                revoked_at: r.revoked_at.map(from_ms),
            },
        }
    }
}

/// Refresh and API tokens.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Stores a new refresh token.
    async fn insert_refresh_token(&self, row: RefreshTokenRecord) -> StoreResult<()>;
    /// A refresh token by hash.
    async fn get_refresh_token(&self, token_hash: &str) -> StoreResult<RefreshTokenRecord>;
    /// Marks an unused, unrevoked token used and stores its successor, atomically. Returns
    /// false (and writes nothing) if the token was already used or revoked.
    async fn rotate_refresh_token(
        &self,
        token_hash: &str,
        at: DateTime<Utc>,
        next: RefreshTokenRecord,
    ) -> StoreResult<bool>;
    /// Revokes every token of a family.
    async fn revoke_refresh_family(&self, family_id: &str, at: DateTime<Utc>) -> StoreResult<u64>;
    /// Whether any token of the family was revoked (sign-out, reuse, deactivation, new password).
    async fn refresh_family_revoked(&self, family_id: &str) -> StoreResult<bool>;
    /// Stores a new API token.
    async fn insert_api_token(&self, row: NewApiTokenRow) -> StoreResult<ApiTokenInfo>;
    /// A user's tokens, newest first.
    async fn list_api_tokens(&self, user_id: i64) -> StoreResult<Vec<ApiTokenInfo>>;
    /// A token by the hash of its secret.
    async fn get_api_token_by_hash(&self, token_hash: &str) -> StoreResult<ApiTokenRecord>;
    /// Revokes one of a user's tokens; NotFound if it is not theirs.
    async fn revoke_api_token(&self, user_id: i64, id: i64, at: DateTime<Utc>) -> StoreResult<()>;
    /// Records that a token was used.
    async fn touch_api_token(&self, id: i64, at: DateTime<Utc>) -> StoreResult<()>;
}

#[async_trait]
impl TokenStore for SqlStore {
    async fn insert_refresh_token(&self, row: RefreshTokenRecord) -> StoreResult<()> {
        insert_refresh_in(&self.pool, &row).await
    }

    async fn get_refresh_token(&self, token_hash: &str) -> StoreResult<RefreshTokenRecord> {
        let sql = format!("SELECT {REFRESH_COLUMNS} FROM refresh_tokens WHERE token_hash = $1");
        let row: RefreshRow = sqlx::query_as(&sql).bind(token_hash).fetch_one(&self.pool).await?;
        Ok(row.into())
    }

    async fn rotate_refresh_token(
        &self,
        token_hash: &str,
        at: DateTime<Utc>,
        next: RefreshTokenRecord,
    ) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE refresh_tokens SET used_at = $2 \
                     WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL",
        )
        .bind(token_hash)
        .bind(to_ms(at))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        insert_refresh_in(&mut *tx, &next).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn revoke_refresh_family(&self, family_id: &str, at: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
        )
        .bind(family_id)
        .bind(to_ms(at))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn refresh_family_revoked(&self, family_id: &str) -> StoreResult<bool> {
        let revoked: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM refresh_tokens WHERE family_id = $1 AND revoked_at IS NOT NULL",
        )
        .bind(family_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(revoked > 0)
    }

    async fn insert_api_token(&self, row: NewApiTokenRow) -> StoreResult<ApiTokenInfo> {
        let sql = format!(
            "INSERT INTO api_tokens (user_id, name, token_hash, scopes, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING {API_TOKEN_COLUMNS}"
        );
        let created: ApiTokenRow = sqlx::query_as(&sql)
            .bind(row.user_id)
            .bind(&row.name)
            .bind(&row.token_hash)
            .bind(row.scopes.to_csv())
            .bind(to_ms(row.created_at))
            .bind(to_ms(row.expires_at))
            .fetch_one(&self.pool)
            .await?;
        Ok(ApiTokenRecord::from(created).info)
    }

    async fn list_api_tokens(&self, user_id: i64) -> StoreResult<Vec<ApiTokenInfo>> {
        let sql = format!(
            "SELECT {API_TOKEN_COLUMNS} FROM api_tokens WHERE user_id = $1 ORDER BY id DESC"
        );
        let rows: Vec<ApiTokenRow> =
            sqlx::query_as(&sql).bind(user_id).fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(|r| ApiTokenRecord::from(r).info).collect())
    }

    async fn get_api_token_by_hash(&self, token_hash: &str) -> StoreResult<ApiTokenRecord> {
        let sql = format!("SELECT {API_TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1");
        let row: ApiTokenRow = sqlx::query_as(&sql).bind(token_hash).fetch_one(&self.pool).await?;
        Ok(row.into())
    }

    async fn revoke_api_token(&self, user_id: i64, id: i64, at: DateTime<Utc>) -> StoreResult<()> {
        let done = sqlx::query(
                    "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $3) WHERE id = $1 AND user_id = $2",
                )
                .bind(id)
                .bind(user_id)
                .bind(to_ms(at))
                .execute(&self.pool)
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn touch_api_token(&self, id: i64, at: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
            .bind(id)
            .bind(to_ms(at))
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

pub(crate) async fn insert_refresh_in<'e, E>(
    executor: E,
    row: &RefreshTokenRecord,
) -> StoreResult<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, family_id, user_id, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&row.token_hash)
    .bind(&row.family_id)
    .bind(row.user_id)
    .bind(to_ms(row.created_at))
    .bind(to_ms(row.expires_at))
    .execute(executor)
    .await?;
    Ok(())
}
