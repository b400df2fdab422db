//! The SQL both backends share, as one macro that writes `impl Store` for a backend type.
//! Parameters use `$n`, which PostgreSQL and SQLite both accept. A backend supplies the few
//! statements that differ through `DialectSql` and its pool through a `pool` field.

use super::{ApiTokenRecord, RefreshTokenRecord, UserRecord, from_ms};
use model::{ApiTokenInfo, AuditEntry, Scopes, User};

/// Statements whose text differs between dialects.
pub(crate) trait DialectSql {
    /// Run inside the user-creation transaction before counting users, so that two
    /// concurrent first registrations cannot both become admin.
    const LOCK_USERS: Option<&'static str>;
    /// Opens a transaction that reads and then writes (user creation); None means the pool's
    /// plain `BEGIN`.
    const BEGIN_WRITE: Option<&'static str>;
    /// Appended to the sub-select that picks the job to claim. PostgreSQL needs
    /// `FOR UPDATE SKIP LOCKED` so concurrent claimers skip each other's rows instead of queueing
    /// on them; SQLite runs one write statement at a time, so its claim is atomic as it stands.
    const SKIP_LOCKED: &'static str;
    /// Taken before appending to `index_log`, so that log sequence numbers become visible in
    /// order (PostgreSQL hands out identities before commit); None where writers are serial.
    const LOCK_INDEX_LOG: Option<&'static str>;
}

pub(crate) const USER_COLUMNS: &str =
    "id, email, display_name, password_hash, scopes, active, created_at, last_login_at";
pub(crate) const API_TOKEN_COLUMNS: &str =
    "id, user_id, name, scopes, created_at, expires_at, last_used_at, revoked_at";
pub(crate) const REFRESH_COLUMNS: &str =
    "token_hash, family_id, user_id, created_at, expires_at, used_at, revoked_at";

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    pub password_hash: String,
    pub scopes: String,
    pub active: bool,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
}

impl From<UserRow> for UserRecord {
    fn from(r: UserRow) -> Self {
        UserRecord {
            user: User {
                id: r.id,
                email: r.email,
                display_name: r.display_name,
                scopes: Scopes::from_csv(&r.scopes),
                active: r.active,
                created_at: from_ms(r.created_at),
                last_login_at: r.last_login_at.map(from_ms),
            },
            password_hash: r.password_hash,
        }
    }
}

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

#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub actor_id: Option<i64>,
    pub actor_email: Option<String>,
    pub action: String,
    pub target: String,
    pub detail: String,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> Self {
        AuditEntry {
            id: r.id,
            at: from_ms(r.at),
            actor_id: r.actor_id,
            actor_email: r.actor_email,
            action: r.action,
            target: r.target,
            detail: r.detail,
        }
    }
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern that matches a substring.
pub(crate) fn like_contains(query: &str) -> String {
    let mut out = String::with_capacity(query.len() + 2);
    out.push('%');
    for c in query.trim().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Writes `impl Store for $store` over a `pool: sqlx::Pool<$db>` field.
macro_rules! impl_sql_store {
    ($store:ty, $db:ty, $backend:expr) => {
        #[async_trait::async_trait]
        impl $crate::store::Store for $store {
            fn backend(&self) -> $crate::store::Backend {
                $backend
            }

            fn pool_stats(&self) -> $crate::store::PoolStats {
                $crate::store::PoolStats {
                    size: self.pool.size(),
                    idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
                }
            }

            async fn ping(&self) -> $crate::store::StoreResult<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn create_user(
                &self,
                row: $crate::store::NewUserRow,
            ) -> $crate::store::StoreResult<::model::User> {
                use $crate::store::sql::{DialectSql, UserRow, USER_COLUMNS};
                let mut tx = match <$store as DialectSql>::BEGIN_WRITE {
                    Some(begin) => self.pool.begin_with(begin).await?,
                    None => self.pool.begin().await?,
                };
                if let Some(lock) = <$store as DialectSql>::LOCK_USERS {
                    sqlx::query(lock).execute(&mut *tx).await?;
                }
                let scopes = match &row.first_user_scopes {
                    Some(first) => {
                        let (n,): (i64,) =
                            sqlx::query_as("SELECT COUNT(*) FROM users").fetch_one(&mut *tx).await?;
                        if n == 0 { first.clone() } else { row.scopes.clone() }
                    }
                    None => row.scopes.clone(),
                };
                let sql = format!(
                    "INSERT INTO users (email, display_name, password_hash, scopes, active, created_at) \
                     VALUES ($1, $2, $3, $4, TRUE, $5) RETURNING {USER_COLUMNS}"
                );
                let created: UserRow = sqlx::query_as(&sql)
                    .bind(&row.email)
                    .bind(&row.display_name)
                    .bind(&row.password_hash)
                    .bind(scopes.to_csv())
                    .bind($crate::store::to_ms(row.created_at))
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok($crate::store::UserRecord::from(created).user)
            }

            async fn get_user(
                &self,
                id: i64,
            ) -> $crate::store::StoreResult<$crate::store::UserRecord> {
                use $crate::store::sql::{UserRow, USER_COLUMNS};
                let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
                let row: UserRow = sqlx::query_as(&sql).bind(id).fetch_one(&self.pool).await?;
                Ok(row.into())
            }

            async fn get_user_by_email(
                &self,
                email: &str,
            ) -> $crate::store::StoreResult<$crate::store::UserRecord> {
                use $crate::store::sql::{UserRow, USER_COLUMNS};
                let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1");
                let row: UserRow = sqlx::query_as(&sql).bind(email).fetch_one(&self.pool).await?;
                Ok(row.into())
            }

            async fn list_users(
                &self,
                query: &str,
                limit: i64,
                offset: i64,
            ) -> $crate::store::StoreResult<(Vec<::model::User>, i64)> {
                use $crate::store::sql::{like_contains, UserRow, USER_COLUMNS};
                let pattern = like_contains(query);
                let filter = "(lower(email) LIKE $1 ESCAPE '\\' OR lower(display_name) LIKE $1 ESCAPE '\\')";
                let sql = format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE {filter} ORDER BY id DESC LIMIT $2 OFFSET $3"
                );
                let rows: Vec<UserRow> = sqlx::query_as(&sql)
                    .bind(&pattern)
                    .bind(limit)
                    .bind(offset)
                    .fetch_all(&self.pool)
                    .await?;
                let (total,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM users WHERE {filter}"))
                    .bind(&pattern)
                    .fetch_one(&self.pool)
                    .await?;
                Ok((rows.into_iter().map(|r| $crate::store::UserRecord::from(r).user).collect(), total))
            }

            async fn count_users(&self) -> $crate::store::StoreResult<i64> {
                let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users").fetch_one(&self.pool).await?;
                Ok(n)
            }

            async fn touch_user_login(
                &self,
                id: i64,
                at: chrono::DateTime<chrono::Utc>,
            ) -> $crate::store::StoreResult<()> {
                sqlx::query("UPDATE users SET last_login_at = $2 WHERE id = $1")
                    .bind(id)
                    .bind($crate::store::to_ms(at))
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn set_user_scopes(
                &self,
                id: i64,
                scopes: &::model::Scopes,
                audit: $crate::store::NewAuditEntry,
            ) -> $crate::store::StoreResult<::model::User> {
                use $crate::store::sql::{UserRow, USER_COLUMNS};
                let mut tx = self.pool.begin().await?;
                let sql = format!("UPDATE users SET scopes = $2 WHERE id = $1 RETURNING {USER_COLUMNS}");
                let row: UserRow =
                    sqlx::query_as(&sql).bind(id).bind(scopes.to_csv()).fetch_one(&mut *tx).await?;
                insert_audit_in(&mut *tx, &audit).await?;
                tx.commit().await?;
                Ok($crate::store::UserRecord::from(row).user)
            }

            async fn set_user_active(
                &self,
                id: i64,
                active: bool,
                audit: $crate::store::NewAuditEntry,
            ) -> $crate::store::StoreResult<::model::User> {
                use $crate::store::sql::{UserRow, USER_COLUMNS};
                let mut tx = self.pool.begin().await?;
                let sql = format!("UPDATE users SET active = $2 WHERE id = $1 RETURNING {USER_COLUMNS}");
                let row: UserRow = sqlx::query_as(&sql).bind(id).bind(active).fetch_one(&mut *tx).await?;
                if !active {
                    sqlx::query(
                        "UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
                    )
                    .bind(id)
                    .bind($crate::store::to_ms(audit.at))
                    .execute(&mut *tx)
                    .await?;
                }
                insert_audit_in(&mut *tx, &audit).await?;
                tx.commit().await?;
                Ok($crate::store::UserRecord::from(row).user)
            }

            async fn set_user_password(
                &self,
                id: i64,
                password_hash: &str,
                at: chrono::DateTime<chrono::Utc>,
            ) -> $crate::store::StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                let done = sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
                    .bind(id)
                    .bind(password_hash)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err($crate::store::StoreError::NotFound);
                }
                sqlx::query("UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
                    .bind(id)
                    .bind($crate::store::to_ms(at))
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn insert_refresh_token(
                &self,
                row: $crate::store::RefreshTokenRecord,
            ) -> $crate::store::StoreResult<()> {
                insert_refresh_in(&self.pool, &row).await
            }

            async fn get_refresh_token(
                &self,
                token_hash: &str,
            ) -> $crate::store::StoreResult<$crate::store::RefreshTokenRecord> {
                use $crate::store::sql::{RefreshRow, REFRESH_COLUMNS};
                let sql = format!("SELECT {REFRESH_COLUMNS} FROM refresh_tokens WHERE token_hash = $1");
                let row: RefreshRow = sqlx::query_as(&sql).bind(token_hash).fetch_one(&self.pool).await?;
                Ok(row.into())
            }

            async fn rotate_refresh_token(
                &self,
                token_hash: &str,
                at: chrono::DateTime<chrono::Utc>,
                next: $crate::store::RefreshTokenRecord,
            ) -> $crate::store::StoreResult<bool> {
                let mut tx = self.pool.begin().await?;
                let done = sqlx::query(
                    "UPDATE refresh_tokens SET used_at = $2 \
                     WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL",
                )
                .bind(token_hash)
                .bind($crate::store::to_ms(at))
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

            async fn revoke_refresh_family(
                &self,
                family_id: &str,
                at: chrono::DateTime<chrono::Utc>,
            ) -> $crate::store::StoreResult<u64> {
                let done = sqlx::query(
                    "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
                )
                .bind(family_id)
                .bind($crate::store::to_ms(at))
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected())
            }

            async fn refresh_family_revoked(
                &self,
                family_id: &str,
            ) -> $crate::store::StoreResult<bool> {
                let revoked: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM refresh_tokens WHERE family_id = $1 AND revoked_at IS NOT NULL",
                )
                .bind(family_id)
                .fetch_one(&self.pool)
                .await?;
                Ok(revoked > 0)
            }

            async fn insert_api_token(
                &self,
                row: $crate::store::NewApiTokenRow,
            ) -> $crate::store::StoreResult<::model::ApiTokenInfo> {
                use $crate::store::sql::{ApiTokenRow, API_TOKEN_COLUMNS};
                let sql = format!(
                    "INSERT INTO api_tokens (user_id, name, token_hash, scopes, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING {API_TOKEN_COLUMNS}"
                );
                let created: ApiTokenRow = sqlx::query_as(&sql)
                    .bind(row.user_id)
                    .bind(&row.name)
                    .bind(&row.token_hash)
                    .bind(row.scopes.to_csv())
                    .bind($crate::store::to_ms(row.created_at))
                    .bind($crate::store::to_ms(row.expires_at))
                    .fetch_one(&self.pool)
                    .await?;
                Ok($crate::store::ApiTokenRecord::from(created).info)
            }

            async fn list_api_tokens(
                &self,
                user_id: i64,
            ) -> $crate::store::StoreResult<Vec<::model::ApiTokenInfo>> {
                use $crate::store::sql::{ApiTokenRow, API_TOKEN_COLUMNS};
                let sql = format!(
                    "SELECT {API_TOKEN_COLUMNS} FROM api_tokens WHERE user_id = $1 ORDER BY id DESC"
                );
                let rows: Vec<ApiTokenRow> = sqlx::query_as(&sql).bind(user_id).fetch_all(&self.pool).await?;
                Ok(rows.into_iter().map(|r| $crate::store::ApiTokenRecord::from(r).info).collect())
            }

            async fn get_api_token_by_hash(
                &self,
                token_hash: &str,
            ) -> $crate::store::StoreResult<$crate::store::ApiTokenRecord> {
                use $crate::store::sql::{ApiTokenRow, API_TOKEN_COLUMNS};
                let sql = format!("SELECT {API_TOKEN_COLUMNS} FROM api_tokens WHERE token_hash = $1");
                let row: ApiTokenRow = sqlx::query_as(&sql).bind(token_hash).fetch_one(&self.pool).await?;
                Ok(row.into())
            }

            async fn revoke_api_token(
                &self,
                user_id: i64,
                id: i64,
                at: chrono::DateTime<chrono::Utc>,
            ) -> $crate::store::StoreResult<()> {
                let done = sqlx::query(
                    "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $3) WHERE id = $1 AND user_id = $2",
                )
                .bind(id)
                .bind(user_id)
                .bind($crate::store::to_ms(at))
                .execute(&self.pool)
                .await?;
                if done.rows_affected() == 0 {
                    return Err($crate::store::StoreError::NotFound);
                }
                Ok(())
            }

            async fn touch_api_token(
                &self,
                id: i64,
                at: chrono::DateTime<chrono::Utc>,
            ) -> $crate::store::StoreResult<()> {
                sqlx::query("UPDATE api_tokens SET last_used_at = $2 WHERE id = $1")
                    .bind(id)
                    .bind($crate::store::to_ms(at))
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn insert_audit(
                &self,
                entry: $crate::store::NewAuditEntry,
            ) -> $crate::store::StoreResult<()> {
                insert_audit_in(&self.pool, &entry).await
            }

            async fn list_audit(
                &self,
                limit: i64,
                offset: i64,
            ) -> $crate::store::StoreResult<(Vec<::model::AuditEntry>, i64)> {
                use $crate::store::sql::AuditRow;
                let rows: Vec<AuditRow> = sqlx::query_as(
                    "SELECT id, at, actor_id, actor_email, action, target, detail FROM audit_log \
                     ORDER BY id DESC LIMIT $1 OFFSET $2",
                )
                .bind(limit)
                .bind(offset)
                .fetch_all(&self.pool)
                .await?;
                let (total,): (i64,) =
                    sqlx::query_as("SELECT COUNT(*) FROM audit_log").fetch_one(&self.pool).await?;
                Ok((rows.into_iter().map(Into::into).collect(), total))
            }

            async fn get_or_init_secret(
                &self,
                name: &str,
                candidate: &str,
                at: chrono::DateTime<chrono::Utc>,
            ) -> $crate::store::StoreResult<String> {
                sqlx::query(
                    "INSERT INTO app_secrets (name, value, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(name)
                .bind(candidate)
                .bind($crate::store::to_ms(at))
                .execute(&self.pool)
                .await?;
                let (value,): (String,) = sqlx::query_as("SELECT value FROM app_secrets WHERE name = $1")
                    .bind(name)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(value)
            }
        }

        async fn insert_audit_in<'e, E>(
            executor: E,
            entry: &$crate::store::NewAuditEntry,
        ) -> $crate::store::StoreResult<()>
        where
            E: sqlx::Executor<'e, Database = $db>,
        {
            sqlx::query(
                "INSERT INTO audit_log (at, actor_id, actor_email, action, target, detail) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind($crate::store::to_ms(entry.at))
            .bind(entry.actor_id)
            .bind(entry.actor_email.as_deref())
            .bind(&entry.action)
            .bind(&entry.target)
            .bind(&entry.detail)
            .execute(executor)
            .await?;
            Ok(())
        }

        async fn insert_refresh_in<'e, E>(
            executor: E,
            row: &$crate::store::RefreshTokenRecord,
        ) -> $crate::store::StoreResult<()>
        where
            E: sqlx::Executor<'e, Database = $db>,
        {
            sqlx::query(
                "INSERT INTO refresh_tokens (token_hash, family_id, user_id, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&row.token_hash)
            .bind(&row.family_id)
            .bind(row.user_id)
            .bind($crate::store::to_ms(row.created_at))
            .bind($crate::store::to_ms(row.expires_at))
            .execute(executor)
            .await?;
            Ok(())
        }
    };
}
