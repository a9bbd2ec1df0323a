//! The embedded default: one SQLite file in the data directory, WAL mode.
//!
//! SQLite allows one writer at a time. Rather than let concurrent transactions collide and
//! retry on `SQLITE_BUSY`, writes go through a pool of exactly one connection, so they
//! queue in-process; reads use their own pool and, thanks to WAL, never wait for writes.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::OpenError;
use crate::mail::impl_mail_store;
use crate::shared::impl_store;

#[derive(Debug, Clone)]
pub struct SqliteStore {
    read: SqlitePool,
    write: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<Self, OpenError> {
        let url = format!("sqlite://{}", path.display());
        Self::connect(&url).await
    }

    /// Opens a `sqlite:` URL.
    pub async fn connect(url: &str) -> Result<Self, OpenError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| OpenError::Config(format!("invalid SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // In WAL mode NORMAL is durable across application crashes and fast; only a power
            // loss can lose the last commits, never corrupt the file.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(|e| OpenError::Connect(e.to_string()))?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&write)
            .await
            .map_err(|e| OpenError::Migrate(e.to_string()))?;
        let read = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options.read_only(true))
            .await
            .map_err(|e| OpenError::Connect(e.to_string()))?;
        Ok(Self { read, write })
    }
}

impl_store!(SqliteStore, sqlx::Sqlite);
impl_mail_store!(SqliteStore, sqlx::Sqlite, "");
crate::licenses::impl_license_store!(SqliteStore, sqlx::Sqlite);
crate::managers::impl_manager_store!(SqliteStore, sqlx::Sqlite);
crate::changes::impl_change_store!(SqliteStore, sqlx::Sqlite);
crate::workflows::impl_workflow_store!(SqliteStore, sqlx::Sqlite, "");
crate::saas::impl_saas_store!(SqliteStore, sqlx::Sqlite, "");
crate::saas_licenses::impl_saas_license_store!(SqliteStore, sqlx::Sqlite);
crate::saas_remote::impl_saas_remote_store!(SqliteStore, sqlx::Sqlite, "");
crate::tenant_connections::impl_tenant_connection_store!(SqliteStore, sqlx::Sqlite);
crate::approvals::impl_approval_store!(SqliteStore, sqlx::Sqlite);
crate::scim_connections::impl_scim_connection_store!(SqliteStore, sqlx::Sqlite);
