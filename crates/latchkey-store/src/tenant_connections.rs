//! Connected Microsoft 365 tenants that workflows target (migration 0021), written once and
//! expanded per backend like `workflows.rs`. The client secret arrives sealed by core.

macro_rules! impl_tenant_connection_store {
    ($store:ty, $db:ty) => {
        mod tenant_connection_store {
            use async_trait::async_trait;
            use latchkey_core::ids::TenantId;
            use latchkey_core::store::StoreResult;
            use latchkey_core::workflow_store::{StoredTenantConnection, TenantConnectionStore};
            use sqlx::Row;

            use super::*;
            use crate::shared::map_err;

            #[async_trait]
            impl TenantConnectionStore for $store {
                async fn save_tenant_connection(
                    &self,
                    c: &StoredTenantConnection,
                    events: &latchkey_core::audit::Events,
                ) -> StoreResult<()> {
                    let mut tx = self.write.begin().await.map_err(map_err)?;
                    sqlx::query(
                        "INSERT INTO workflow_tenant_connections (tenant_id, name, display_name, \
                         remote_tenant, client_id, authority_url, graph_url, ca_pem, \
                         sealed_secret, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                         ON CONFLICT (tenant_id, name) DO UPDATE SET \
                         display_name = excluded.display_name, \
                         remote_tenant = excluded.remote_tenant, \
                         client_id = excluded.client_id, \
                         authority_url = excluded.authority_url, \
                         graph_url = excluded.graph_url, ca_pem = excluded.ca_pem, \
                         sealed_secret = excluded.sealed_secret, \
                         updated_at = excluded.updated_at",
                    )
                    .bind(c.tenant_id.as_uuid())
                    .bind(c.name.to_lowercase())
                    .bind(&c.name)
                    .bind(&c.remote_tenant)
                    .bind(&c.client_id)
                    .bind(&c.authority_url)
                    .bind(&c.graph_url)
                    .bind(c.ca_pem.as_deref())
                    .bind(&c.sealed_secret)
                    .bind(c.updated_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    insert_events(&mut tx, events).await?;
                    tx.commit().await.map_err(map_err)?;
                    Ok(())
                }

                async fn tenant_connection(
                    &self,
                    tenant: TenantId,
                    name: &str,
                ) -> StoreResult<Option<StoredTenantConnection>> {
                    let row = sqlx::query(
                        "SELECT display_name, remote_tenant, client_id, authority_url, \
                         graph_url, ca_pem, sealed_secret, updated_at \
                         FROM workflow_tenant_connections WHERE tenant_id = $1 AND name = $2",
                    )
                    .bind(tenant.as_uuid())
                    .bind(name.trim().to_lowercase())
                    .fetch_optional(&self.read)
                    .await
                    .map_err(map_err)?;
                    let Some(row) = row else {
                        return Ok(None);
                    };
                    Ok(Some(StoredTenantConnection {
                        tenant_id: tenant,
                        name: row.try_get("display_name").map_err(map_err)?,
                        remote_tenant: row.try_get("remote_tenant").map_err(map_err)?,
                        client_id: row.try_get("client_id").map_err(map_err)?,
                        authority_url: row.try_get("authority_url").map_err(map_err)?,
                        graph_url: row.try_get("graph_url").map_err(map_err)?,
                        ca_pem: row.try_get("ca_pem").map_err(map_err)?,
                        sealed_secret: row.try_get("sealed_secret").map_err(map_err)?,
                        updated_at: row.try_get("updated_at").map_err(map_err)?,
                    }))
                }
            }
        }
    };
}

pub(crate) use impl_tenant_connection_store;
