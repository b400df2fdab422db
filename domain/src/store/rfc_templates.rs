//! Admins' RFC templates: copies with their whole definition (JSON), and the on/off switch of
//! built-in templates (a row without a definition). Every write changes one thing (a copy's
//! definition, or a switch) and leaves the rest of the row alone, so an edit and a switch made at
//! the same moment both land; each carries its audit entry in the same transaction. What a valid
//! template is, and who may write one, is `service::rfcs::catalog`'s business.

use super::audit::insert_audit_in;
use super::{Flag, NewAuditEntry, SqlStore, StoreError, StoreResult};
use async_trait::async_trait;

/// One stored template row.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TemplateRow {
    /// The template's key (a built-in's, or a copy's own).
    pub key: String,
    /// A copy's definition as JSON (`model::RfcTemplate`); None switches a built-in.
    pub definition: Option<String>,
    /// Offered in the wizard.
    #[sqlx(try_from = "Flag")]
    pub enabled: bool,
    /// Last change (ms).
    pub updated_at: i64,
}

/// What one template write changes.
#[derive(Debug, Clone, Copy)]
pub enum TemplateWrite<'a> {
    /// Adds a copy, switched off; a taken key is a `Conflict` and writes nothing.
    Copy {
        /// The copy's definition (JSON).
        definition: &'a str,
    },
    /// Replaces a copy's definition; its switch stays as it is. No such copy is `NotFound`.
    Define {
        /// The new definition (JSON).
        definition: &'a str,
    },
    /// Switches a copy, or a built-in (whose row is added on first use), on or off. Switching
    /// off is refused with `Conflict { constraint: "last_enabled" }` when no template would be
    /// left on, counted inside the write's transaction.
    Switch {
        /// On or off.
        enabled: bool,
        /// The built-in templates' keys (each is on unless its row says otherwise).
        builtins: &'a [&'a str],
    },
}

/// The constraint named when switching off the last template on is refused.
pub const LAST_ENABLED: &str = "last_enabled";

/// Stored templates.
#[async_trait]
pub trait RfcTemplateStore: Send + Sync {
    /// Every stored row, by key.
    async fn list_rfc_templates(&self) -> StoreResult<Vec<TemplateRow>>;
    /// Makes one change to the template `key` at `at` (ms) by `by`, with its audit entry; a
    /// refused change writes neither.
    async fn write_rfc_template(
        &self,
        key: &str,
        write: TemplateWrite<'_>,
        at: i64,
        by: Option<i64>,
        audit: NewAuditEntry,
    ) -> StoreResult<()>;
}

const LIST: &str = "SELECT key, definition, CAST(enabled AS INTEGER) AS enabled, updated_at \
                    FROM rfc_templates ORDER BY key";

/// How many templates are on, given the stored rows: every built-in without a row switching it
/// off, and every copy switched on.
fn enabled_count(rows: &[TemplateRow], builtins: &[&str]) -> usize {
    let off = |key: &str| rows.iter().any(|r| r.key == key && r.definition.is_none() && !r.enabled);
    let builtin_on = builtins.iter().filter(|k| !off(k)).count();
    // A copy whose key a newer release gave to a built-in is not offered.
    let copy_on = |r: &&TemplateRow| {
        r.definition.is_some() && r.enabled && !builtins.contains(&r.key.as_str())
    };
    builtin_on + rows.iter().filter(copy_on).count()
}

#[async_trait]
impl RfcTemplateStore for SqlStore {
    async fn list_rfc_templates(&self) -> StoreResult<Vec<TemplateRow>> {
        Ok(sqlx::query_as(LIST).fetch_all(&self.pool).await?)
    }

    async fn write_rfc_template(
        &self,
        key: &str,
        write: TemplateWrite<'_>,
        at: i64,
        by: Option<i64>,
        audit: NewAuditEntry,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        if let Some(lock) = self.backend.lock_rfc_templates() {
            sqlx::query(lock).execute(&mut *tx).await?;
        }
        let statement = match write {
            TemplateWrite::Copy { .. } => {
                "INSERT INTO rfc_templates (key, definition, enabled, updated_at, updated_by) \
                 VALUES ($1, $2, FALSE, $3, $4)"
            }
            TemplateWrite::Define { .. } => {
                "UPDATE rfc_templates SET definition = $2, updated_at = $3, updated_by = $4 \
                 WHERE key = $1 AND definition IS NOT NULL"
            }
            // A copy's row always exists (copies are never deleted); a built-in's switch is
            // added the first time.
            TemplateWrite::Switch { .. } => {
                "INSERT INTO rfc_templates (key, definition, enabled, updated_at, updated_by) \
                 VALUES ($1, NULL, $2, $3, $4) ON CONFLICT (key) DO UPDATE SET \
                 enabled = $2, updated_at = $3, updated_by = $4"
            }
        };
        let query = sqlx::query(statement).bind(key);
        let query = match write {
            TemplateWrite::Copy { definition } | TemplateWrite::Define { definition } => {
                query.bind(definition)
            }
            TemplateWrite::Switch { enabled, .. } => query.bind(enabled),
        };
        let done = query.bind(at).bind(by).execute(&mut *tx).await?;
        match write {
            TemplateWrite::Define { .. } if done.rows_affected() == 0 => {
                return Err(StoreError::NotFound);
            }
            TemplateWrite::Switch { enabled: false, builtins } => {
                let rows: Vec<TemplateRow> = sqlx::query_as(LIST).fetch_all(&mut *tx).await?;
                if enabled_count(&rows, builtins) == 0 {
                    return Err(StoreError::Conflict { constraint: LAST_ENABLED.into() });
                }
            }
            _ => {}
        }
        insert_audit_in(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(())
    }
}
