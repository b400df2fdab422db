//! Users: accounts, their scopes, active flag and password hash. A user's scope, active and
//! password changes write their audit entry (and revoke refresh tokens where needed) in the same
//! transaction.

use super::audit::insert_audit_in;
use super::{Flag, NewAuditEntry, SqlStore, StoreError, StoreResult, from_ms, to_ms};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use model::{Lang, Scopes, User};

/// A user row with the secret parts services need.
#[derive(Debug, Clone)]
pub struct UserRecord {
    /// The public part.
    pub user: User,
    /// argon2id PHC string.
    pub password_hash: String,
}

/// A user to insert.
#[derive(Debug, Clone)]
pub struct NewUserRow {
    /// Normalised e-mail.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Scopes for an ordinary user.
    pub scopes: Scopes,
    /// Scopes given instead when no user exists yet (the first user becomes admin).
    pub first_user_scopes: Option<Scopes>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

pub(crate) const USER_COLUMNS: &str = "id, email, display_name, password_hash, scopes, \
     CAST(active AS INTEGER) AS active, created_at, last_login_at, locale";

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    pub password_hash: String,
    pub scopes: String,
    #[sqlx(try_from = "Flag")]
    pub active: bool,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
    pub locale: Option<String>,
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
                locale: r.locale.as_deref().and_then(Lang::parse),
            },
            password_hash: r.password_hash,
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

/// Users.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Inserts a user; gives `first_user_scopes` if the table was empty (atomically).
    async fn create_user(&self, row: NewUserRow) -> StoreResult<User>;
    /// A user by id.
    async fn get_user(&self, id: i64) -> StoreResult<UserRecord>;
    /// A user by normalised e-mail.
    async fn get_user_by_email(&self, email: &str) -> StoreResult<UserRecord>;
    /// Users whose e-mail or name contains `query` (case-insensitive), newest first.
    async fn list_users(
        &self,
        query: &str,
        limit: i64,
        offset: i64,
    ) -> StoreResult<(Vec<User>, i64)>;
    /// Number of users.
    async fn count_users(&self) -> StoreResult<i64>;
    /// Records a successful sign-in.
    async fn touch_user_login(&self, id: i64, at: DateTime<Utc>) -> StoreResult<()>;
    /// Sets (or clears) a user's language.
    async fn set_user_locale(&self, id: i64, locale: Option<Lang>) -> StoreResult<()>;
    /// Replaces a user's scopes and records the audit entry in the same transaction.
    async fn set_user_scopes(
        &self,
        id: i64,
        scopes: &Scopes,
        audit: NewAuditEntry,
    ) -> StoreResult<User>;
    /// Activates or deactivates a user, revoking all their refresh tokens when deactivating,
    /// and records the audit entry, all in one transaction.
    async fn set_user_active(
        &self,
        id: i64,
        active: bool,
        audit: NewAuditEntry,
    ) -> StoreResult<User>;
    /// Replaces a password hash (and revokes refresh tokens) in one transaction.
    async fn set_user_password(
        &self,
        id: i64,
        password_hash: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Active users holding the `admin` scope, oldest account first.
    async fn list_active_admins(&self) -> StoreResult<Vec<User>>;
}

#[async_trait]
impl UserStore for SqlStore {
    async fn create_user(&self, row: NewUserRow) -> StoreResult<User> {
        let mut tx = self.begin_write().await?;
        if let Some(lock) = self.backend.lock_users() {
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
            .bind(to_ms(row.created_at))
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(UserRecord::from(created).user)
    }

    async fn get_user(&self, id: i64) -> StoreResult<UserRecord> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row: UserRow = sqlx::query_as(&sql).bind(id).fetch_one(&self.pool).await?;
        Ok(row.into())
    }

    async fn get_user_by_email(&self, email: &str) -> StoreResult<UserRecord> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1");
        let row: UserRow = sqlx::query_as(&sql).bind(email).fetch_one(&self.pool).await?;
        Ok(row.into())
    }

    async fn list_users(
        &self,
        query: &str,
        limit: i64,
        offset: i64,
    ) -> StoreResult<(Vec<User>, i64)> {
        let pattern = like_contains(query);
        let filter =
            "(lower(email) LIKE $1 ESCAPE '\\' OR lower(display_name) LIKE $1 ESCAPE '\\')";
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users WHERE {filter} ORDER BY id DESC LIMIT $2 OFFSET $3"
        );
        let rows: Vec<UserRow> = sqlx::query_as(&sql)
            .bind(&pattern)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        let (total,): (i64,) =
            sqlx::query_as(&format!("SELECT COUNT(*) FROM users WHERE {filter}"))
                .bind(&pattern)
                .fetch_one(&self.pool)
                .await?;
        Ok((rows.into_iter().map(|r| UserRecord::from(r).user).collect(), total))
    }

    async fn count_users(&self) -> StoreResult<i64> {
        let (n,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM users").fetch_one(&self.pool).await?;
        Ok(n)
    }

    async fn touch_user_login(&self, id: i64, at: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query("UPDATE users SET last_login_at = $2 WHERE id = $1")
            .bind(id)
            .bind(to_ms(at))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn set_user_locale(&self, id: i64, locale: Option<Lang>) -> StoreResult<()> {
        let done = sqlx::query("UPDATE users SET locale = $2 WHERE id = $1")
            .bind(id)
            .bind(locale.map(Lang::as_str))
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn set_user_scopes(
        &self,
        id: i64,
        scopes: &Scopes,
        audit: NewAuditEntry,
    ) -> StoreResult<User> {
        let mut tx = self.pool.begin().await?;
        let sql = format!("UPDATE users SET scopes = $2 WHERE id = $1 RETURNING {USER_COLUMNS}");
        let row: UserRow =
            sqlx::query_as(&sql).bind(id).bind(scopes.to_csv()).fetch_one(&mut *tx).await?;
        insert_audit_in(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(UserRecord::from(row).user)
    }

    async fn set_user_active(
        &self,
        id: i64,
        active: bool,
        audit: NewAuditEntry,
    ) -> StoreResult<User> {
        let mut tx = self.pool.begin().await?;
        let sql = format!("UPDATE users SET active = $2 WHERE id = $1 RETURNING {USER_COLUMNS}");
        let row: UserRow = sqlx::query_as(&sql).bind(id).bind(active).fetch_one(&mut *tx).await?;
        if !active {
            sqlx::query(
                        "UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
                    )
                    .bind(id)
                    .bind(to_ms(audit.at))
                    .execute(&mut *tx)
                    .await?;
        }
        insert_audit_in(&mut *tx, &audit).await?;
        tx.commit().await?;
        Ok(UserRecord::from(row).user)
    }

    async fn set_user_password(
        &self,
        id: i64,
        password_hash: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
            .bind(id)
            .bind(password_hash)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(to_ms(at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_active_admins(&self) -> StoreResult<Vec<User>> {
        // Scopes are stored as a comma-separated list (`basic,admin`); match the whole
        // name so a future scope such as `admin_read` would not count.
        let rows: Vec<UserRow> = sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE active = TRUE \
                     AND (',' || scopes || ',') LIKE '%,admin,%' ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|r| UserRecord::from(r).user).collect())
    }
}
