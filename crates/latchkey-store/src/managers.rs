//! The manager relationship (migration 0012), written once and expanded per backend like
//! `shared.rs`, whose `Store` methods delegate here.
//!
//! No cycles: a write first bumps its tenant's `manager_writes`, which serialises manager
//! changes per tenant (PostgreSQL holds the row lock to commit; SQLite has one writer), and
//! then walks the new manager's chain upwards with a recursive query inside the same
//! transaction, so two racing changes cannot close a loop between them.

/// Deeper chains than this are refused as if they were cycles; no organisation has one.
pub(crate) const MAX_CHAIN: i64 = 1000;

macro_rules! impl_manager_store {
    ($store:ident, $db:ty) => {
        mod managers {
            use super::*;

            use latchkey_core::store::ManagerWrite;

            use crate::managers::MAX_CHAIN;

            impl $store {
                pub(crate) async fn managers_find(&self, tenant: TenantId, user: UserId) -> StoreResult<Option<UserId>> {
                    let id: Option<Uuid> = sqlx::query_scalar(
                        "SELECT manager_id FROM user_managers WHERE tenant_id = $1 AND user_id = $2",
                    )
                    .bind(tenant.as_uuid())
                    .bind(user.as_uuid())
                    .fetch_optional(&self.read)
                    .await
                    .map_err(map_err)?;
                    Ok(id.map(UserId::from_uuid))
                }

                pub(crate) async fn managers_of_users(
                    &self,
                    tenant: TenantId,
                    users: &[UserId],
                ) -> StoreResult<Vec<(UserId, User)>> {
                    if users.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut qb: QueryBuilder<'_, $db> = QueryBuilder::new(format!(
                        "SELECT {USER_COLUMNS}, r.report_id FROM users JOIN (SELECT user_id AS report_id, manager_id \
                         FROM user_managers WHERE tenant_id = "
                    ));
                    qb.push_bind(tenant.as_uuid());
                    qb.push(" AND user_id IN (");
                    let mut ids = qb.separated(", ");
                    for u in users {
                        ids.push_bind(u.as_uuid());
                    }
                    qb.push(")) r ON r.manager_id = users.id WHERE users.deleted_at IS NULL");
                    let rows = qb.build().fetch_all(&self.read).await.map_err(map_err)?;
                    rows.iter()
                        .map(|row| {
                            let report: Uuid = row.try_get("report_id").map_err(map_err)?;
                            Ok((UserId::from_uuid(report), user_from_row(row)?))
                        })
                        .collect()
                }

                pub(crate) async fn managers_write(&self, w: &ManagerWrite, events: &Events) -> StoreResult<()> {
                    let tenant = w.tenant_id.as_uuid();
                    let user = w.user_id.as_uuid();
                    let mut tx = self.write.begin().await.map_err(map_err)?;
                    let done = sqlx::query("UPDATE tenants SET manager_writes = manager_writes + 1 WHERE id = $1")
                        .bind(tenant)
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    if done.rows_affected() != 1 {
                        return Err(StoreError::NotFound);
                    }
                    let done = sqlx::query(
                        "UPDATE users SET version = version + 1 \
                         WHERE tenant_id = $1 AND id = $2 AND version = $3 AND deleted_at IS NULL",
                    )
                    .bind(tenant)
                    .bind(user)
                    .bind(w.expected_version)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    check_one(done.rows_affected())?;
                    sqlx::query("DELETE FROM user_managers WHERE tenant_id = $1 AND user_id = $2")
                        .bind(tenant)
                        .bind(user)
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    if let Some(manager) = w.manager {
                        let manager = manager.as_uuid();
                        if manager == user {
                            return Err(StoreError::Conflict("manager cycle".into()));
                        }
                        // The new manager's chain upwards; the user in it closes a loop.
                        let loops: i64 = sqlx::query_scalar(
                            "WITH RECURSIVE chain(id, depth) AS ( \
                               SELECT manager_id, 1 FROM user_managers WHERE tenant_id = $1 AND user_id = $2 \
                               UNION ALL \
                               SELECT m.manager_id, c.depth + 1 FROM user_managers m JOIN chain c ON m.user_id = c.id \
                               WHERE m.tenant_id = $3 AND c.depth < $4 \
                             ) SELECT COUNT(*) FROM chain WHERE id = $5 OR depth >= $6",
                        )
                        .bind(tenant)
                        .bind(manager)
                        .bind(tenant)
                        .bind(MAX_CHAIN)
                        .bind(user)
                        .bind(MAX_CHAIN)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(map_err)?;
                        if loops > 0 {
                            return Err(StoreError::Conflict("manager cycle".into()));
                        }
                        sqlx::query(
                            "INSERT INTO user_managers (user_id, tenant_id, manager_id, set_at) VALUES ($1, $2, $3, $4)",
                        )
                        .bind(user)
                        .bind(tenant)
                        .bind(manager)
                        .bind(w.at)
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    }
                    insert_events(&mut tx, events).await?;
                    tx.commit().await.map_err(map_err)
                }
            }
        }
    };
}

pub(crate) use impl_manager_store;
