//! Cron firings: one instance wins each scheduled firing.

use super::{SqlStore, StoreResult, to_ms};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Cron firings.
#[async_trait]
pub trait CronStore: Send + Sync {
    /// Records that schedule `name` fired for `fire_at`. True for exactly one caller per
    /// (name, fire_at), and false for a fire time older than one already recorded, so a
    /// lagging instance cannot fire a past period again.
    async fn claim_cron_firing(&self, name: &str, fire_at: DateTime<Utc>) -> StoreResult<bool>;
}

#[async_trait]
impl CronStore for SqlStore {
    async fn claim_cron_firing(&self, name: &str, fire_at: DateTime<Utc>) -> StoreResult<bool> {
        let fire_at = to_ms(fire_at);
        let mut tx = self.begin_write().await?;
        // The primary key makes one caller win each (name, fire_at); the NOT EXISTS
        // refuses a period older than one already fired (an instance whose clock lags).
        let won = sqlx::query(
            "INSERT INTO cron_runs (name, fire_at) SELECT $1, $2 \
                     WHERE NOT EXISTS (SELECT 1 FROM cron_runs WHERE name = $1 AND fire_at >= $2) \
                     ON CONFLICT (name, fire_at) DO NOTHING",
        )
        .bind(name)
        .bind(fire_at)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if won {
            // Older firings can never win again, so one row per schedule is enough.
            sqlx::query("DELETE FROM cron_runs WHERE name = $1 AND fire_at < $2")
                .bind(name)
                .bind(fire_at)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(won)
    }
}
