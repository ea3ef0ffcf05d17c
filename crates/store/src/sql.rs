//! Connection, dialect and migrations.

use crate::{Health, Result, Store, StoreError};
use async_trait::async_trait;
use kobo_domain::ids::OrgId;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, Executor, Row, Transaction};
use std::str::FromStr;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// The SQL store. SQLite gets one writer connection (so transactions never meet a
/// busy lock upgrade) and several readers (WAL lets them run beside the writer);
/// PostgreSQL uses one pool for both.
pub struct SqlStore {
    pub(crate) read: AnyPool,
    pub(crate) write: AnyPool,
    pub(crate) backend: Backend,
}

/// Opens the database named by `url`, creating a SQLite file if needed, and migrates it.
pub async fn connect(url: &str, max_connections: u32) -> Result<SqlStore> {
    sqlx::any::install_default_drivers();
    let backend = Backend::from_url(url).ok_or_else(|| {
        StoreError::Database(sqlx::Error::Configuration(
            format!("unsupported database URL scheme in `{url}` (use sqlite:// or postgres://)")
                .into(),
        ))
    })?;
    let store = match backend {
        Backend::Sqlite => {
            let url = if url.contains('?') {
                url.to_string()
            } else {
                format!("{url}?mode=rwc")
            };
            let write = sqlite_pool(&url, 1).await?;
            let read = sqlite_pool(&url, max_connections.max(2)).await?;
            SqlStore {
                read,
                write,
                backend,
            }
        }
        Backend::Postgres => {
            let pool = AnyPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await?;
            SqlStore {
                read: pool.clone(),
                write: pool,
                backend,
            }
        }
    };
    store.migrate().await?;
    Ok(store)
}

async fn sqlite_pool(url: &str, max: u32) -> Result<AnyPool> {
    Ok(AnyPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                conn.execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                     PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                )
                .await?;
                Ok(())
            })
        })
        .connect(url)
        .await?)
}

impl SqlStore {
    pub async fn migrate(&self) -> Result<()> {
        match self.backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite").run(&self.write).await?,
            Backend::Postgres => {
                sqlx::migrate!("migrations/postgres")
                    .run(&self.write)
                    .await?
            }
        }
        Ok(())
    }

    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
    }

    /// A read transaction bound to one tenant: on PostgreSQL the row-level security
    /// policies then hide every other tenant's rows.
    pub(crate) async fn tenant_tx(&self, org: OrgId) -> Result<Transaction<'static, Any>> {
        let mut tx = self.read.begin().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT set_config('kobo.org_id', $1, true)")
                .bind(org.to_string())
                .execute(&mut *tx)
                .await?;
        }
        Ok(tx)
    }
}

impl Store for SqlStore {
    fn backend(&self) -> Backend {
        self.backend
    }
}

#[async_trait]
impl Health for SqlStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }
}

/// Maps a unique-constraint violation to `Conflict(what)`.
pub(crate) fn conflict(e: sqlx::Error, what: &'static str) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what),
        _ => StoreError::Database(e),
    }
}

/// Reads a typed id stored as text.
pub(crate) fn id<T: FromStr>(row: &AnyRow, col: &str) -> Result<T> {
    let s: String = row.try_get(col)?;
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("bad id in {col}: {s}")))
}

pub(crate) fn opt_id<T: FromStr>(row: &AnyRow, col: &str) -> Result<Option<T>> {
    let s: Option<String> = row.try_get(col)?;
    s.map(|s| {
        s.parse()
            .map_err(|_| StoreError::Corrupt(format!("bad id in {col}: {s}")))
    })
    .transpose()
}

pub(crate) fn json<T: serde::de::DeserializeOwned>(row: &AnyRow, col: &str) -> Result<T> {
    let s: String = row.try_get(col)?;
    serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
}

pub(crate) fn opt_json<T: serde::de::DeserializeOwned>(
    row: &AnyRow,
    col: &str,
) -> Result<Option<T>> {
    let s: Option<String> = row.try_get(col)?;
    s.map(|s| serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("{col}: {e}"))))
        .transpose()
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn opt_u64_col(row: &AnyRow, col: &str) -> Result<Option<u64>> {
    let v: Option<i64> = row.try_get(col)?;
    v.map(|v| u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative {col}"))))
        .transpose()
}

/// u64 limits are stored as BIGINT; values past i64::MAX saturate (no plan is that large).
pub(crate) fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
