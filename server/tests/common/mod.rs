//! Throw-away databases for the integration tests, shared by both test binaries.
//!
//! SQLite: a fresh file under the system temp folder. PostgreSQL: a fresh database on the local
//! server (`BP_TEST_PG_URL`, default `postgres://postgres@127.0.0.1:5432/test`), created through
//! the maintenance database and dropped again when the guard is dropped, also after a panic.
//! If PostgreSQL is not reachable the test fails: it is never skipped.

use sqlx::Connection;
use sqlx::postgres::PgConnection;
use std::path::PathBuf;

/// The database the tests connect to in order to create and drop their own databases.
pub fn pg_admin_url() -> String {
    std::env::var("BP_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A database that exists for one test and is removed when this guard is dropped.
pub enum TestDb {
    /// A SQLite file (plus its `-wal` and `-shm` companions).
    Sqlite {
        /// Connection URL.
        url: String,
        /// The file.
        path: PathBuf,
    },
    /// A PostgreSQL database.
    Postgres {
        /// Connection URL.
        url: String,
        /// Its name.
        name: String,
    },
}

impl TestDb {
    /// A fresh, empty SQLite file (created by the store on connect).
    pub fn sqlite() -> Self {
        let path =
            std::env::temp_dir().join(format!("bp_test_{}.db", uuid::Uuid::new_v4().simple()));
        let url = format!("sqlite://{}", path.display());
        TestDb::Sqlite { url, path }
    }

    /// A fresh, empty PostgreSQL database. Panics (fails the test) if the server is down.
    pub async fn postgres() -> Self {
        let admin = pg_admin_url();
        let name = format!("bp_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(&admin).await.unwrap_or_else(|e| {
            panic!("PostgreSQL must be running for these tests ({admin}): {e}")
        });
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("could not create test database {name}: {e}"));
        let _ = conn.close().await;
        let mut url = url::Url::parse(&admin).expect("BP_TEST_PG_URL is not a URL");
        url.set_path(&name);
        TestDb::Postgres { url: url.to_string(), name }
    }

    /// The URL to hand to the store or the settings.
    pub fn url(&self) -> &str {
        match self {
            TestDb::Sqlite { url, .. } | TestDb::Postgres { url, .. } => url,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match self {
            TestDb::Sqlite { path, .. } => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut p = path.clone().into_os_string();
                    p.push(suffix);
                    let _ = std::fs::remove_file(p);
                }
            }
            TestDb::Postgres { name, .. } => {
                // Drop may run inside the test's runtime, so use a thread with its own runtime.
                let name = name.clone();
                let admin = pg_admin_url();
                let dropper = std::thread::spawn(move || {
                    let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build()
                    else {
                        return;
                    };
                    rt.block_on(async move {
                        if let Ok(mut conn) = PgConnection::connect(&admin).await {
                            let _ = sqlx::query(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .execute(&mut conn)
                            .await;
                            let _ = conn.close().await;
                        }
                    });
                });
                let _ = dropper.join();
            }
        }
    }
}

/// What a test gets to work with, set up on its fresh database: the database itself (`TestDb`),
/// or a store opened on it (`DynStore`).
#[allow(dead_code, async_fn_in_trait)]
pub trait Fixture: Sized {
    /// Sets up on `db`; what comes back second must outlive the test (the database's guard).
    async fn set_up(db: TestDb) -> (Self, Option<TestDb>);
}

impl Fixture for TestDb {
    async fn set_up(db: TestDb) -> (Self, Option<TestDb>) {
        (db, None)
    }
}

impl Fixture for domain::store::DynStore {
    async fn set_up(db: TestDb) -> (Self, Option<TestDb>) {
        let store = domain::store::connect(db.url(), &domain::store::PoolOptions::default())
            .await
            .unwrap_or_else(|e| panic!("could not open the store at {}: {e:#}", db.url()));
        let expected = match db {
            TestDb::Sqlite { .. } => domain::store::Backend::Sqlite,
            TestDb::Postgres { .. } => domain::store::Backend::Postgres,
        };
        assert_eq!(store.backend(), expected, "the store opened the wrong backend");
        (store, Some(db))
    }
}

/// Runs one test on `db` with the fixture it asks for; the database goes when the test ends.
#[allow(dead_code)]
pub async fn run<T: Fixture, F: std::future::Future<Output = ()>>(
    db: TestDb,
    test: impl FnOnce(T) -> F,
) {
    let (fixture, _guard) = T::set_up(db).await;
    test(fixture).await;
}

/// The one way a suite covers both backends: each listed test runs on a fresh SQLite file and
/// on a fresh PostgreSQL database, as `sqlite::<module>::<name>` and `postgres::<module>::<name>`
/// (`crate: [...]` for tests at the binary's root: `sqlite::<name>`). A test is an
/// `async fn(F)` for any `Fixture` F. PostgreSQL tests fail, never skip, when the server is down.
#[allow(unused_macros)]
macro_rules! on_both_backends {
    (crate: [$($name:ident),* $(,)?]) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    $crate::common::run($crate::common::TestDb::sqlite(), $crate::$name).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let db = $crate::common::TestDb::postgres().await;
                    $crate::common::run(db, $crate::$name).await;
                }
            )*
        }
    };
    ($($module:ident: [$($name:ident),* $(,)?]),* $(,)?) => {
        mod sqlite {
            $(
                mod $module {
                    $(
                        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                        async fn $name() {
                            let db = $crate::common::TestDb::sqlite();
                            $crate::common::run(db, $crate::$module::$name).await;
                        }
                    )*
                }
            )*
        }
        mod postgres {
            $(
                mod $module {
                    $(
                        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                        async fn $name() {
                            let db = $crate::common::TestDb::postgres().await;
                            $crate::common::run(db, $crate::$module::$name).await;
                        }
                    )*
                }
            )*
        }
    };
}
