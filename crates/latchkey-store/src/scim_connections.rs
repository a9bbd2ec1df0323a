//! SCIM 2.0 app connections that workflow steps provision users in (migration 0032), written
//! once and expanded per backend like `tenant_connections.rs`. The token arrives sealed by
//! core.

macro_rules! impl_scim_connection_store {
    ($store:ty, $db:ty) => {
        mod scim_connection_store {
            use async_trait::async_trait;
            use latchkey_core::ids::TenantId;
            use latchkey_core::scim_connection::{ScimConnectionStore, StoredScimConnection};
            use latchkey_core::store::StoreResult;
            use sqlx::Row;

            use super::*;
            use crate::shared::map_err;

            const COLUMNS: &str =
                "display_name, base_url, mapping, sealed_token, updated_at";

            fn from_row(
                tenant: TenantId,
                row: &<$db as sqlx::Database>::Row,
            ) -> StoreResult<StoredScimConnection> {
                Ok(StoredScimConnection {
                    tenant_id: tenant,
                    name: row.try_get("display_name").map_err(map_err)?,
                    base_url: row.try_get("base_url").map_err(map_err)?,
                    mapping: row.try_get("mapping").map_err(map_err)?,
                    sealed_token: row.try_get("sealed_token").map_err(map_err)?,
                    updated_at: row.try_get("updated_at").map_err(map_err)?,
                })
            }

            #[async_trait]
            impl ScimConnectionStore for $store {
                async fn save_scim_connection(
                    &self,
                    c: &StoredScimConnection,
                    events: &latchkey_core::audit::Events,
                ) -> StoreResult<()> {
                    let mut tx = self.write.begin().await.map_err(map_err)?;
                    sqlx::query(
                        "INSERT INTO workflow_scim_connections (tenant_id, name, display_name, \
                         base_url, mapping, sealed_token, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) \
                         ON CONFLICT (tenant_id, name) DO UPDATE SET \
                         display_name = excluded.display_name, base_url = excluded.base_url, \
                         mapping = excluded.mapping, sealed_token = excluded.sealed_token, \
                         updated_at = excluded.updated_at",
                    )
                    .bind(c.tenant_id.as_uuid())
                    .bind(c.name.to_lowercase())
                    .bind(&c.name)
                    .bind(&c.base_url)
                    .bind(&c.mapping)
                    .bind(&c.sealed_token)
                    .bind(c.updated_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    insert_events(&mut tx, events).await?;
                    tx.commit().await.map_err(map_err)?;
                    Ok(())
                }

                async fn find_scim_connection(
                    &self,
                    tenant: TenantId,
                    name: &str,
                ) -> StoreResult<Option<StoredScimConnection>> {
                    let row = sqlx::query(&format!(
                        "SELECT {COLUMNS} FROM workflow_scim_connections \
                         WHERE tenant_id = $1 AND name = $2"
                    ))
                    .bind(tenant.as_uuid())
                    .bind(name.trim().to_lowercase())
                    .fetch_optional(&self.read)
                    .await
                    .map_err(map_err)?;
                    row.map(|r| from_row(tenant, &r)).transpose()
                }

                async fn list_scim_connections(
                    &self,
                    tenant: TenantId,
                    after: Option<&str>,
                    limit: u32,
                ) -> StoreResult<Vec<StoredScimConnection>> {
                    let rows = sqlx::query(&format!(
                        "SELECT {COLUMNS} FROM workflow_scim_connections \
                         WHERE tenant_id = $1 AND name > $2 ORDER BY name LIMIT $3"
                    ))
                    .bind(tenant.as_uuid())
                    .bind(after.unwrap_or_default().to_lowercase())
                    .bind(i64::from(limit))
                    .fetch_all(&self.read)
                    .await
                    .map_err(map_err)?;
                    rows.iter().map(|r| from_row(tenant, r)).collect()
                }

                async fn delete_scim_connection(
                    &self,
                    tenant: TenantId,
                    name: &str,
                    events: &latchkey_core::audit::Events,
                ) -> StoreResult<bool> {
                    let mut tx = self.write.begin().await.map_err(map_err)?;
                    let deleted = sqlx::query(
                        "DELETE FROM workflow_scim_connections WHERE tenant_id = $1 AND name = $2",
                    )
                    .bind(tenant.as_uuid())
                    .bind(name.trim().to_lowercase())
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?
                    .rows_affected();
                    if deleted == 0 {
                        return Ok(false);
                    }
                    insert_events(&mut tx, events).await?;
                    tx.commit().await.map_err(map_err)?;
                    Ok(true)
                }
            }
        }
    };
}

pub(crate) use impl_scim_connection_store;
