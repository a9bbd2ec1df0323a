//! Storage for Latchkey: the core's `Store` trait implemented for SQLite (the embedded
//! default) and PostgreSQL (scale-out), each with its own append-only migrations.
//!
//! This crate owns SQL and nothing else: no business rule, no authorization. The backend is
//! picked once, from the URL, by [`open`].

mod approvals;
mod changes;
mod licenses;
mod mail;
mod managers;
mod postgres;
mod saas;
mod saas_licenses;
mod saas_remote;
mod scim_connections;
mod shared;
mod sqlite;
mod tenant_connections;
mod workflows;

use std::path::Path;
use std::sync::Arc;

use latchkey_core::store::Store;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{0}")]
    Config(String),
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error("cannot bring the database schema up to date: {0}")]
    Migrate(String),
}

/// The file name of the embedded database inside the data directory.
pub const SQLITE_FILE: &str = "latchkey.db";

/// Opens the store: `database_url` when given (`postgres://…`, `postgresql://…` or
/// `sqlite:…`), else the SQLite file in `data_dir`.
pub async fn open(
    database_url: Option<&str>,
    data_dir: &Path,
) -> Result<Arc<dyn Store>, OpenError> {
    match database_url {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(Arc::new(PgStore::connect(url).await?))
        }
        Some(url) if url.starts_with("sqlite:") => Ok(Arc::new(SqliteStore::connect(url).await?)),
        Some(other) => Err(OpenError::Config(format!(
            "unsupported database URL scheme in '{}': use postgres://, postgresql:// or sqlite:",
            other.split(':').next().unwrap_or_default()
        ))),
        None => {
            create_private_dir(data_dir)?;
            Ok(Arc::new(
                SqliteStore::open(&data_dir.join(SQLITE_FILE)).await?,
            ))
        }
    }
}

/// Creates the data directory readable only by its owner: it holds password hashes and
/// private keys. An existing directory keeps the permissions its operator gave it.
fn create_private_dir(dir: &Path) -> Result<(), OpenError> {
    if dir.exists() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| {
        OpenError::Config(format!(
            "cannot create data directory {}: {e}",
            dir.display()
        ))
    })
}
