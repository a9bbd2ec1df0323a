//! PostgreSQL, for when one machine is not enough: any number of stateless Latchkey nodes
//! share one database. Concurrency control is the database's (row versions checked in every
//! UPDATE, unique indexes), so no node holds state another needs.

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::OpenError;
use crate::mail::impl_mail_store;
use crate::shared::impl_store;

#[derive(Debug, Clone)]
pub struct PgStore {
    read: PgPool,
    write: PgPool,
}

impl PgStore {
    /// Connects to a `postgres://` URL and brings the schema up to date. Migrations take an
    /// advisory lock, so nodes starting together apply them once.
    pub async fn connect(url: &str) -> Result<Self, OpenError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await
            .map_err(|e| OpenError::Connect(e.to_string()))?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| OpenError::Migrate(e.to_string()))?;
        Ok(Self {
            read: pool.clone(),
            write: pool,
        })
    }
}

impl_store!(PgStore, sqlx::Postgres);
impl_mail_store!(PgStore, sqlx::Postgres, "FOR UPDATE SKIP LOCKED");
crate::licenses::impl_license_store!(PgStore, sqlx::Postgres);
crate::managers::impl_manager_store!(PgStore, sqlx::Postgres);
crate::changes::impl_change_store!(PgStore, sqlx::Postgres);
crate::workflows::impl_workflow_store!(PgStore, sqlx::Postgres, "FOR UPDATE OF s SKIP LOCKED");
crate::saas::impl_saas_store!(PgStore, sqlx::Postgres, "FOR UPDATE");
crate::saas_licenses::impl_saas_license_store!(PgStore, sqlx::Postgres);
crate::saas_remote::impl_saas_remote_store!(PgStore, sqlx::Postgres, "FOR UPDATE");
crate::tenant_connections::impl_tenant_connection_store!(PgStore, sqlx::Postgres);
crate::approvals::impl_approval_store!(PgStore, sqlx::Postgres);
crate::scim_connections::impl_scim_connection_store!(PgStore, sqlx::Postgres);
