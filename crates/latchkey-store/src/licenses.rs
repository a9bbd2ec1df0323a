//! Licences (migration 0011): the tenant's SKUs and the users' assignments, written once and
//! expanded per backend like `shared.rs`, whose `Store` methods delegate here.
//!
//! Seats: an assignment first bumps its SKU row's `assignments_version`, which on PostgreSQL
//! holds the row lock until commit, and only then counts the SKU's assignments. Under READ
//! COMMITTED that count is a fresh snapshot taken after any racing assignment committed, so
//! of two transactions racing for the last seat exactly one inserts. SQLite has one writer,
//! so the same statements are serial there anyway.

macro_rules! impl_license_store {
    ($store:ident, $db:ty) => {
        mod licenses {
            use super::*;

            use latchkey_core::ids::SkuId;
            use latchkey_core::license::{AssignedLicense, ServicePlan, Sku, SkuUsage};
            use latchkey_core::store::LicenseWrite;

            fn sku_from_row(row: &DbRow) -> StoreResult<SkuUsage> {
                let plans: String = row.try_get("service_plans").map_err(map_err)?;
                let seats: i64 = row.try_get("prepaid_units").map_err(map_err)?;
                let consumed: i64 = row.try_get("consumed").map_err(map_err)?;
                Ok(SkuUsage {
                    sku: Sku {
                        tenant_id: TenantId::from_uuid(row.try_get("tenant_id").map_err(map_err)?),
                        sku_id: SkuId::from_uuid(row.try_get("sku_id").map_err(map_err)?),
                        sku_part_number: row.try_get("sku_part_number").map_err(map_err)?,
                        seats: u32::try_from(seats).map_err(|e| corrupt("prepaid_units", e))?,
                        service_plans: serde_json::from_str::<Vec<ServicePlan>>(&plans)
                            .map_err(|e| corrupt("service_plans", e))?,
                        created: row.try_get("created_at").map_err(map_err)?,
                    },
                    consumed: u64::try_from(consumed).unwrap_or(0),
                })
            }

            fn uuid_list(what: &str, s: &str) -> StoreResult<Vec<Uuid>> {
                serde_json::from_str(s).map_err(|e| corrupt(what, e))
            }

            impl $store {
                pub(crate) async fn licenses_insert_sku(&self, sku: &Sku, events: &Events) -> StoreResult<()> {
                    let plans = serde_json::to_string(&sku.service_plans)
                        .map_err(|e| corrupt("service_plans", e))?;
                    let mut tx = self.write.begin().await.map_err(map_err)?;
                    sqlx::query(
                        "INSERT INTO subscribed_skus (tenant_id, sku_id, sku_part_number, part_number_normalized, \
                         prepaid_units, service_plans, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(sku.tenant_id.as_uuid())
                    .bind(sku.sku_id.as_uuid())
                    .bind(&sku.sku_part_number)
                    .bind(sku.sku_part_number.to_lowercase())
                    .bind(i64::from(sku.seats))
                    .bind(plans)
                    .bind(sku.created)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    insert_events(&mut tx, events).await?;
                    tx.commit().await.map_err(map_err)
                }

                pub(crate) async fn licenses_set_sku_seats(
                    &self,
                    tenant: TenantId,
                    sku: SkuId,
                    seats: u32,
                    events: &Events,
                ) -> StoreResult<u32> {
                    let mut tx = self.write.begin().await.map_err(map_err)?;
                    // The old value first, under the row lock the assignments take too.
                    let before: Option<i64> = sqlx::query_scalar(
                        "SELECT prepaid_units FROM subscribed_skus WHERE tenant_id = $1 AND sku_id = $2",
                    )
                    .bind(tenant.as_uuid())
                    .bind(sku.as_uuid())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    let Some(before) = before else {
                        return Err(StoreError::NotFound);
                    };
                    sqlx::query(
                        "UPDATE subscribed_skus SET prepaid_units = $3 WHERE tenant_id = $1 AND sku_id = $2",
                    )
                    .bind(tenant.as_uuid())
                    .bind(sku.as_uuid())
                    .bind(i64::from(seats))
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    // A new statement, a new snapshot: it sees every assignment committed
                    // before the row lock was ours, and later ones wait for this commit.
                    let held: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM user_licenses WHERE tenant_id = $1 AND sku_id = $2",
                    )
                    .bind(tenant.as_uuid())
                    .bind(sku.as_uuid())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    if held > i64::from(seats) {
                        tx.rollback().await.map_err(map_err)?;
                        return Err(StoreError::SeatsExhausted(sku));
                    }
                    insert_events(&mut tx, events).await?;
                    tx.commit().await.map_err(map_err)?;
                    u32::try_from(before).map_err(|e| corrupt("prepaid_units", e))
                }

                pub(crate) async fn licenses_list_skus(&self, tenant: TenantId) -> StoreResult<Vec<SkuUsage>> {
                    // The count is served by user_licenses_by_sku.
                    let rows = sqlx::query(
                        "SELECT s.tenant_id, s.sku_id, s.sku_part_number, s.prepaid_units, s.service_plans, s.created_at, \
                         (SELECT COUNT(*) FROM user_licenses l WHERE l.tenant_id = s.tenant_id AND l.sku_id = s.sku_id) AS consumed \
                         FROM subscribed_skus s WHERE s.tenant_id = $1 ORDER BY s.part_number_normalized",
                    )
                    .bind(tenant.as_uuid())
                    .fetch_all(&self.read)
                    .await
                    .map_err(map_err)?;
                    rows.iter().map(sku_from_row).collect()
                }

                pub(crate) async fn licenses_of_users(
                    &self,
                    tenant: TenantId,
                    users: &[UserId],
                ) -> StoreResult<Vec<(UserId, AssignedLicense)>> {
                    if users.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut qb: QueryBuilder<'_, $db> = QueryBuilder::new(
                        "SELECT user_id, sku_id, disabled_plans FROM user_licenses WHERE tenant_id = ",
                    );
                    qb.push_bind(tenant.as_uuid());
                    qb.push(" AND user_id IN (");
                    let mut ids = qb.separated(", ");
                    for u in users {
                        ids.push_bind(u.as_uuid());
                    }
                    qb.push(") ORDER BY user_id, sku_id");
                    let rows = qb.build().fetch_all(&self.read).await.map_err(map_err)?;
                    rows.iter()
                        .map(|row| {
                            let plans: String = row.try_get("disabled_plans").map_err(map_err)?;
                            Ok((
                                UserId::from_uuid(row.try_get("user_id").map_err(map_err)?),
                                AssignedLicense {
                                    sku_id: SkuId::from_uuid(row.try_get("sku_id").map_err(map_err)?),
                                    disabled_plans: uuid_list("disabled_plans", &plans)?,
                                },
                            ))
                        })
                        .collect()
                }

                pub(crate) async fn licenses_write(&self, w: &LicenseWrite, events: &[Events]) -> StoreResult<()> {
                    let tenant = w.tenant_id.as_uuid();
                    let user = w.user_id.as_uuid();
                    let mut tx = self.write.begin().await.map_err(map_err)?;
                    // The user row first: a racing change to the same user makes this one stale.
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
                    for sku in &w.remove {
                        sqlx::query("DELETE FROM user_licenses WHERE tenant_id = $1 AND user_id = $2 AND sku_id = $3")
                            .bind(tenant)
                            .bind(user)
                            .bind(sku.as_uuid())
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err)?;
                    }
                    for license in &w.add {
                        let plans = serde_json::to_string(&license.disabled_plans)
                            .map_err(|e| corrupt("disabled_plans", e))?;
                        let updated = sqlx::query(
                            "UPDATE user_licenses SET disabled_plans = $1 WHERE tenant_id = $2 AND user_id = $3 AND sku_id = $4",
                        )
                        .bind(&plans)
                        .bind(tenant)
                        .bind(user)
                        .bind(license.sku_id.as_uuid())
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                        if updated.rows_affected() == 1 {
                            // Already held: the seat is already counted.
                            continue;
                        }
                        // Lock the SKU (PostgreSQL keeps the row lock to commit), then count.
                        let seats: Option<i64> = sqlx::query_scalar(
                            "UPDATE subscribed_skus SET assignments_version = assignments_version + 1 \
                             WHERE tenant_id = $1 AND sku_id = $2 RETURNING prepaid_units",
                        )
                        .bind(tenant)
                        .bind(license.sku_id.as_uuid())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(map_err)?;
                        let seats = seats.ok_or(StoreError::NotFound)?;
                        let used: i64 = sqlx::query_scalar(
                            "SELECT COUNT(*) FROM user_licenses WHERE tenant_id = $1 AND sku_id = $2",
                        )
                        .bind(tenant)
                        .bind(license.sku_id.as_uuid())
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(map_err)?;
                        if used >= seats {
                            return Err(StoreError::SeatsExhausted(license.sku_id));
                        }
                        sqlx::query(
                            "INSERT INTO user_licenses (user_id, tenant_id, sku_id, disabled_plans, assigned_at) \
                             VALUES ($1, $2, $3, $4, $5)",
                        )
                        .bind(user)
                        .bind(tenant)
                        .bind(license.sku_id.as_uuid())
                        .bind(&plans)
                        .bind(w.at)
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    }
                    for e in events {
                        insert_events(&mut tx, e).await?;
                    }
                    tx.commit().await.map_err(map_err)
                }
            }
        }
    };
}

pub(crate) use impl_license_store;
