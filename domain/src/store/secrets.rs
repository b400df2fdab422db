//! Deployment secrets kept in the database (first writer wins across instances).

use super::{SqlStore, StoreResult, to_ms};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Deployment secrets.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// Returns the stored value for `name`, storing `candidate` first if there is none
    /// (first writer wins across instances).
    async fn get_or_init_secret(
        &self,
        name: &str,
        candidate: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<String>;
}

#[async_trait]
impl SecretStore for SqlStore {
    async fn get_or_init_secret(
        &self,
        name: &str,
        candidate: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<String> {
        sqlx::query(
            "INSERT INTO app_secrets (name, value, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(candidate)
        .bind(to_ms(at))
        .execute(&self.pool)
        .await?;
        let (value,): (String,) = sqlx::query_as("SELECT value FROM app_secrets WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await?;
        Ok(value)
    }
}
