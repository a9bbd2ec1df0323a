//! SaaS licences and renewals (migration 0027), expanded per backend like `saas.rs`: an app's
//! licensing columns, seats unused since a time (keyset on app then user, the user's UPN
//! joined in), reclaiming a seat with its SKU licence, the renewal alert offsets, and the
//! renewal alerts kept once per (contract, deadline, offset) by the table's primary key: of two passes
//! (or nodes) claiming one alert, one inserts and writes the message, the other does nothing.

macro_rules! impl_saas_license_store {
    ($store:ty, $db:ty) => {
        mod saas_license_store {
            use async_trait::async_trait;
            use chrono::{DateTime, NaiveDate, Utc};
            use latchkey_core::audit::Events;
            use latchkey_core::ids::{SaasAppId, SkuId, TenantId, UserId};
            use latchkey_core::saas::{
                EvidenceSource, SaasApp, SaasAppState, SaasContract, SaasEvidence,
            };
            use latchkey_core::saas_license::{
                IdleCount, RenewalRow, SaasLicenseStore, SaasLicensing, SeatReclaim, SeatRow,
                SpendSum, StateCount,
            };
            use latchkey_core::store::{Page, StoreError, StoreResult};
            use sqlx::{QueryBuilder, Row};
            use uuid::Uuid;

            use super::*;
            use crate::shared::{corrupt, map_err};

            type DbRow = <$db as sqlx::Database>::Row;

            fn opt_u32(row: &DbRow, col: &str) -> StoreResult<Option<u32>> {
                row.try_get::<Option<i32>, _>(col)
                    .map_err(map_err)?
                    .map(|v| u32::try_from(v).map_err(|e| corrupt(col, e)))
                    .transpose()
            }

            fn licensing_from_row(row: &DbRow) -> StoreResult<SaasLicensing> {
                Ok(SaasLicensing {
                    seats_bought: opt_u32(row, "seats_bought")?,
                    idle_days: opt_u32(row, "idle_days")?,
                    sku: row
                        .try_get::<Option<Uuid>, _>("license_sku_id")
                        .map_err(map_err)?
                        .map(SkuId::from_uuid),
                })
            }

            fn to_i32(v: Option<u32>) -> Option<i32> {
                v.map(|n| i32::try_from(n).unwrap_or(i32::MAX))
            }

            fn day(d: NaiveDate) -> String {
                d.format("%Y-%m-%d").to_string()
            }

            const CONTRACT_COLUMNS: &str = "c.id, c.tenant_id, c.app_id, c.start_date, c.end_date, \
                c.notice_days, c.auto_renew, c.cost_minor, c.currency, c.currency_exponent, \
                c.billing_period, c.created_at, c.seats";

            /// A seat with its app's name and licensing and the user's UPN (`LEFT JOIN`, so a
            /// seat whose user row is gone is still listed, without a UPN).
            const SEAT_COLUMNS: &str = "SELECT u.app_id, a.name AS app_name, u.user_id, \
                us.user_principal_name, u.first_seen_at, u.last_used_at, a.seats_bought, \
                a.idle_days, a.license_sku_id FROM saas_app_users u \
                JOIN saas_apps a ON a.id = u.app_id \
                LEFT JOIN users us ON us.id = u.user_id";

            fn seat_from_row(row: &DbRow) -> StoreResult<SeatRow> {
                Ok(SeatRow {
                    app_id: SaasAppId::from_uuid(row.try_get("app_id").map_err(map_err)?),
                    app_name: row.try_get("app_name").map_err(map_err)?,
                    user_id: UserId::from_uuid(row.try_get("user_id").map_err(map_err)?),
                    user_principal_name: row.try_get("user_principal_name").map_err(map_err)?,
                    first_seen: row.try_get("first_seen_at").map_err(map_err)?,
                    last_used: row.try_get("last_used_at").map_err(map_err)?,
                    licensing: licensing_from_row(row)?,
                })
            }

            async fn insert_contract(tx: &mut Tx<'_>, c: &SaasContract) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO saas_contracts (id, tenant_id, app_id, start_date, end_date, \
                     notice_days, auto_renew, cost_minor, currency, currency_exponent, \
                     billing_period, created_at, seats) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .bind(c.id)
                .bind(c.tenant_id.as_uuid())
                .bind(c.app_id.as_uuid())
                .bind(day(c.start))
                .bind(day(c.end))
                .bind(i32::try_from(c.notice_days).map_err(|e| corrupt("notice_days", e))?)
                .bind(c.auto_renew)
                .bind(c.cost_minor)
                .bind(&c.currency)
                .bind(i32::from(c.exponent))
                .bind(c.billing_period.as_str())
                .bind(c.created)
                .bind(to_i32(c.seats))
                .execute(&mut **tx)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            #[async_trait]
            impl SaasLicenseStore for $store {
                async fn find_saas_licensing(
                    &self,
                    tenant: TenantId,
                    app: SaasAppId,
                ) -> StoreResult<Option<SaasLicensing>> {
                    let row = sqlx::query(
                        "SELECT seats_bought, idle_days, license_sku_id FROM saas_apps \
                         WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(tenant.as_uuid())
                    .bind(app.as_uuid())
                    .fetch_optional(&self.read)
                    .await
                    .map_err(map_err)?;
                    row.as_ref().map(licensing_from_row).transpose()
                }

                async fn find_saas_licensings(
                    &self,
                    tenant: TenantId,
                    apps: &[SaasAppId],
                ) -> StoreResult<Vec<(SaasAppId, SaasLicensing)>> {
                    let mut out = Vec::with_capacity(apps.len());
                    for chunk in apps.chunks(500) {
                        let mut qb: QueryBuilder<'_, $db> = QueryBuilder::new(
                            "SELECT id, seats_bought, idle_days, license_sku_id FROM saas_apps \
                             WHERE tenant_id = ",
                        );
                        qb.push_bind(tenant.as_uuid());
                        qb.push(" AND id IN (");
                        let mut sep = qb.separated(", ");
                        for a in chunk {
                            sep.push_bind(a.as_uuid());
                        }
                        qb.push(")");
                        for row in qb.build().fetch_all(&self.read).await.map_err(map_err)? {
                            out.push((
                                SaasAppId::from_uuid(row.try_get("id").map_err(map_err)?),
                                licensing_from_row(&row)?,
                            ));
                        }
                    }
                    Ok(out)
                }

                async fn set_saas_licensing(
                    &self,
                    tenant: TenantId,
                    app: SaasAppId,
                    l: &SaasLicensing,
                    events: &Events,
                ) -> StoreResult<()> {
                    let mut tx = self.write.begin().await.map_err(map_err)?;
                    let done = sqlx::query(
                        "UPDATE saas_apps SET seats_bought = $1, idle_days = $2, \
                         license_sku_id = $3, version = version + 1 \
                         WHERE tenant_id = $4 AND id = $5",
                    )
                    .bind(to_i32(l.seats_bought))
                    .bind(to_i32(l.idle_days))
                    .bind(l.sku.map(|s| s.as_uuid()))
                    .bind(tenant.as_uuid())
                    .bind(app.as_uuid())
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    if done.rows_affected() != 1 {
                        return Err(StoreError::NotFound);
                    }
                    insert_events(&mut tx, events).await?;
                    tx.commit().await.map_err(map_err)
                }

                async fn current_saas_contracts(
                    &self,
                    tenant: TenantId,
                    apps: &[SaasAppId],
                    today: NaiveDate,
                ) -> StoreResult<Vec<SaasContract>> {
                    if apps.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut out = Vec::new();
                    // Bounded IN lists: a page's apps, a report's apps in chunks.
                    for chunk in apps.chunks(500) {
                        let mut qb: QueryBuilder<'_, $db> = QueryBuilder::new(format!(
                            "SELECT {CONTRACT_COLUMNS} FROM saas_contracts c WHERE c.tenant_id = "
                        ));
                        qb.push_bind(tenant.as_uuid());
                        qb.push(" AND c.start_date <= ");
                        qb.push_bind(day(today));
                        qb.push(" AND c.end_date > ");
                        qb.push_bind(day(today));
                        qb.push(" AND c.app_id IN (");
                        let mut sep = qb.separated(", ");
                        for a in chunk {
                            sep.push_bind(a.as_uuid());
                        }
                        qb.push(") ORDER BY c.app_id, c.start_date, c.id");
                        for row in qb.build().fetch_all(&self.read).await.map_err(map_err)? {
                            out.push(contract_from_row(&row)?);
                        }
                    }
                    Ok(out)
                }

                async fn list_saas_seats_unused_since(
                    &self,
                    tenant: TenantId,
                    app: Option<SaasAppId>,
                    before: DateTime<Utc>,
                    after: Option<String>,
                    limit: u32,
                ) -> StoreResult<Page<SeatRow>> {
                    let mut qb: QueryBuilder<'_, $db> =
                        QueryBuilder::new(format!("{SEAT_COLUMNS} WHERE a.tenant_id = "));
                    qb.push_bind(tenant.as_uuid());
                    qb.push(" AND u.last_used_at < ");
                    qb.push_bind(before);
                    if let Some(app) = app {
                        qb.push(" AND u.app_id = ");
                        qb.push_bind(app.as_uuid());
                    }
                    if let Some(cursor) = &after {
                        let (a, u) = cursor
                            .strip_prefix("r:")
                            .and_then(|r| r.split_once(' '))
                            .and_then(|(a, u)| Some((a.parse::<Uuid>().ok()?, u.parse::<Uuid>().ok()?)))
                            .ok_or(StoreError::BadCursor)?;
                        qb.push(" AND (u.app_id > ");
                        qb.push_bind(a);
                        qb.push(" OR (u.app_id = ");
                        qb.push_bind(a);
                        qb.push(" AND u.user_id > ");
                        qb.push_bind(u);
                        qb.push("))");
                    }
                    qb.push(" ORDER BY u.app_id, u.user_id LIMIT ");
                    qb.push_bind(i64::from(limit) + 1);
                    let rows = qb.build().fetch_all(&self.read).await.map_err(map_err)?;
                    let mut items = Vec::with_capacity(rows.len());
                    for row in rows.iter().take(limit as usize) {
                        items.push(seat_from_row(row)?);
                    }
                    let next = match (rows.len() > limit as usize, items.last()) {
                        (true, Some(last)) => Some(format!(
                            "r:{} {}",
                            last.app_id.as_uuid(),
                            last.user_id.as_uuid()
                        )),
                        _ => None,
                    };
                    Ok(Page { items, next })
                }

                async fn find_saas_seat(
                    &self,
                    tenant: TenantId,
                    app: SaasAppId,
                    user: UserId,
                ) -> StoreResult<Option<SeatRow>> {
                    let row = sqlx::query(&format!(
                        "{SEAT_COLUMNS} WHERE a.tenant_id = $1 AND u.app_id = $2 AND u.user_id = $3"
                    ))
                    .bind(tenant.as_uuid())
                    .bind(app.as_uuid())
                    .bind(user.as_uuid())
                    .fetch_optional(&self.read)
                    .await
                    .map_err(map_err)?;
                    row.as_ref().map(seat_from_row).transpose()
                }

                async fn reclaim_saas_seat(
                    &self,
                    r: &SeatReclaim,
                    events: &Events,
                ) -> StoreResult<()> {
                    let mut tx = self.write.begin().await.map_err(map_err)?;
                    let done = sqlx::query(
                        "DELETE FROM saas_app_users WHERE app_id = $1 AND user_id = $2 \
                         AND app_id IN (SELECT id FROM saas_apps WHERE tenant_id = $3)",
                    )
                    .bind(r.app_id.as_uuid())
                    .bind(r.user_id.as_uuid())
                    .bind(r.tenant_id.as_uuid())
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    if done.rows_affected() != 1 {
                        return Err(StoreError::NotFound);
                    }
                    sqlx::query("UPDATE saas_apps SET updated_at = $1 WHERE id = $2")
                        .bind(r.at)
                        .bind(r.app_id.as_uuid())
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    insert_events(&mut tx, events).await?;
                    tx.commit().await.map_err(map_err)
                }

                async fn find_saas_renewal_offsets(
                    &self,
                    tenant: TenantId,
                ) -> StoreResult<Option<Vec<u32>>> {
                    let raw: Option<String> = sqlx::query_scalar(
                        "SELECT renewal_offsets FROM saas_settings WHERE tenant_id = $1",
                    )
                    .bind(tenant.as_uuid())
                    .fetch_optional(&self.read)
                    .await
                    .map_err(map_err)?;
                    raw.map(|r| serde_json::from_str(&r).map_err(|e| corrupt("renewal_offsets", e)))
                        .transpose()
                }

                async fn set_saas_renewal_offsets(
                    &self,
                    tenant: TenantId,
                    offsets: &[u32],
                    events: &Events,
                ) -> StoreResult<()> {
                    let raw = serde_json::to_string(offsets).map_err(|e| corrupt("renewal_offsets", e))?;
                    let mut tx = self.write.begin().await.map_err(map_err)?;
                    sqlx::query(
                        "INSERT INTO saas_settings (tenant_id, renewal_offsets) VALUES ($1, $2) \
                         ON CONFLICT (tenant_id) DO UPDATE SET renewal_offsets = excluded.renewal_offsets",
                    )
                    .bind(tenant.as_uuid())
                    .bind(raw)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    insert_events(&mut tx, events).await?;
                    tx.commit().await.map_err(map_err)
                }

                async fn list_saas_contracts_ending_from(
                    &self,
                    tenant: TenantId,
                    from: NaiveDate,
                    after: Option<Uuid>,
                    limit: u32,
                ) -> StoreResult<Vec<RenewalRow>> {
                    let mut qb: QueryBuilder<'_, $db> = QueryBuilder::new(format!(
                        "SELECT {CONTRACT_COLUMNS}, a.name AS app_name, a.owner_id \
                         FROM saas_contracts c JOIN saas_apps a ON a.id = c.app_id \
                         WHERE c.tenant_id = "
                    ));
                    qb.push_bind(tenant.as_uuid());
                    qb.push(" AND c.end_date >= ");
                    qb.push_bind(day(from));
                    if let Some(after) = after {
                        qb.push(" AND c.id > ");
                        qb.push_bind(after);
                    }
                    qb.push(" ORDER BY c.id LIMIT ");
                    qb.push_bind(i64::from(limit));
                    qb.build()
                        .fetch_all(&self.read)
                        .await
                        .map_err(map_err)?
                        .iter()
                        .map(|row| {
                            Ok(RenewalRow {
                                contract: contract_from_row(row)?,
                                app_name: row.try_get("app_name").map_err(map_err)?,
                                app_owner: row
                                    .try_get::<Option<Uuid>, _>("owner_id")
                                    .map_err(map_err)?
                                    .map(UserId::from_uuid),
                            })
                        })
                        .collect()
                }

                async fn claim_saas_renewal_alert(
                    &self,
                    contract: Uuid,
                    deadline: NaiveDate,
                    offsets: &[u32],
                    at: DateTime<Utc>,
                    events: &Events,
                ) -> StoreResult<bool> {
                    let mut tx = self.write.begin().await.map_err(map_err)?;
                    let mut new = 0;
                    for o in offsets {
                        // On PostgreSQL a racing claim of the same key waits for this
                        // transaction and then inserts nothing; SQLite has one writer.
                        let done = sqlx::query(
                            "INSERT INTO saas_renewal_alerts (contract_id, deadline, offset_days, sent_at) \
                             VALUES ($1, $2, $3, $4) \
                             ON CONFLICT (contract_id, deadline, offset_days) DO NOTHING",
                        )
                        .bind(contract)
                        .bind(day(deadline))
                        .bind(i32::try_from(*o).map_err(|e| corrupt("offset_days", e))?)
                        .bind(at)
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                        new += done.rows_affected();
                    }
                    if new == 0 {
                        return Ok(false);
                    }
                    insert_events(&mut tx, events).await?;
                    tx.commit().await.map_err(map_err)?;
                    Ok(true)
                }

                async fn insert_manual_saas_app(
                    &self,
                    app: &SaasApp,
                    contract: Option<&SaasContract>,
                    seen_by: &str,
                    events: &Events,
                ) -> StoreResult<()> {
                    let mut tx = self.write.begin().await.map_err(map_err)?;
                    if !insert_app_row(&mut tx, app).await? {
                        return Err(StoreError::Conflict("saas_apps name".into()));
                    }
                    insert_evidence(
                        &mut tx,
                        app.id.as_uuid(),
                        &SaasEvidence {
                            source: EvidenceSource::Manual,
                            at: app.created,
                            user_id: None,
                            detail: format!("entered by {seen_by}"),
                        },
                    )
                    .await?;
                    if let Some(c) = contract {
                        insert_contract(&mut tx, c).await?;
                    }
                    insert_events(&mut tx, events).await?;
                    tx.commit().await.map_err(map_err)
                }

                async fn saas_spend_sums(
                    &self,
                    tenant: TenantId,
                    from: NaiveDate,
                ) -> StoreResult<Vec<SpendSum>> {
                    sqlx::query(
                        "SELECT SUBSTR(e.spent_on, 1, 7) AS month, a.category, e.currency, \
                         MAX(e.currency_exponent) AS exponent, \
                         CAST(SUM(e.amount_minor) AS BIGINT) AS total \
                         FROM saas_expenses e LEFT JOIN saas_apps a ON a.id = e.app_id \
                         WHERE e.tenant_id = $1 AND e.spent_on >= $2 \
                         GROUP BY SUBSTR(e.spent_on, 1, 7), a.category, e.currency \
                         ORDER BY month, a.category, e.currency",
                    )
                    .bind(tenant.as_uuid())
                    .bind(day(from))
                    .fetch_all(&self.read)
                    .await
                    .map_err(map_err)?
                    .iter()
                    .map(|r| {
                        let exponent: i32 = r.try_get("exponent").map_err(map_err)?;
                        Ok(SpendSum {
                            month: r.try_get("month").map_err(map_err)?,
                            category: r.try_get("category").map_err(map_err)?,
                            currency: r.try_get("currency").map_err(map_err)?,
                            exponent: u8::try_from(exponent).map_err(|e| corrupt("currency_exponent", e))?,
                            total_minor: r.try_get("total").map_err(map_err)?,
                        })
                    })
                    .collect()
                }

                async fn saas_state_counts(
                    &self,
                    tenant: TenantId,
                    since: DateTime<Utc>,
                ) -> StoreResult<Vec<StateCount>> {
                    sqlx::query(
                        "SELECT state, COUNT(*) AS apps, \
                         CAST(SUM(CASE WHEN created_at >= $2 THEN 1 ELSE 0 END) AS BIGINT) AS added \
                         FROM saas_apps WHERE tenant_id = $1 GROUP BY state",
                    )
                    .bind(tenant.as_uuid())
                    .bind(since)
                    .fetch_all(&self.read)
                    .await
                    .map_err(map_err)?
                    .iter()
                    .map(|r| {
                        let state: String = r.try_get("state").map_err(map_err)?;
                        let apps: i64 = r.try_get("apps").map_err(map_err)?;
                        let added: i64 = r.try_get("added").map_err(map_err)?;
                        Ok(StateCount {
                            state: SaasAppState::parse(&state).ok_or_else(|| corrupt("state", &state))?,
                            apps: u64::try_from(apps).unwrap_or(0),
                            added_since: u64::try_from(added).unwrap_or(0),
                        })
                    })
                    .collect()
                }

                async fn saas_idle_thresholds(
                    &self,
                    tenant: TenantId,
                    default: u32,
                ) -> StoreResult<Vec<u32>> {
                    let default = i32::try_from(default).unwrap_or(i32::MAX);
                    sqlx::query(
                        "SELECT DISTINCT COALESCE(idle_days, $2) AS days FROM saas_apps \
                         WHERE tenant_id = $1 ORDER BY days",
                    )
                    .bind(tenant.as_uuid())
                    .bind(default)
                    .fetch_all(&self.read)
                    .await
                    .map_err(map_err)?
                    .iter()
                    .map(|r| {
                        let d: i32 = r.try_get("days").map_err(map_err)?;
                        u32::try_from(d).map_err(|e| corrupt("idle_days", e))
                    })
                    .collect()
                }

                async fn saas_idle_counts(
                    &self,
                    tenant: TenantId,
                    default: u32,
                    cutoffs: &[(u32, DateTime<Utc>)],
                ) -> StoreResult<Vec<IdleCount>> {
                    if cutoffs.is_empty() {
                        return Ok(Vec::new());
                    }
                    let default = i32::try_from(default).unwrap_or(i32::MAX);
                    let mut qb: QueryBuilder<'_, $db> = QueryBuilder::new(
                        "SELECT a.id, a.name, a.seats_bought, a.idle_days, a.license_sku_id, \
                         COUNT(*) AS seats FROM saas_app_users u \
                         JOIN saas_apps a ON a.id = u.app_id WHERE a.tenant_id = ",
                    );
                    qb.push_bind(tenant.as_uuid());
                    qb.push(" AND (");
                    for (i, (days, cutoff)) in cutoffs.iter().enumerate() {
                        if i > 0 {
                            qb.push(" OR ");
                        }
                        qb.push("(COALESCE(a.idle_days, ");
                        qb.push_bind(default);
                        qb.push(") = ");
                        qb.push_bind(i32::try_from(*days).unwrap_or(i32::MAX));
                        qb.push(" AND u.last_used_at < ");
                        qb.push_bind(*cutoff);
                        qb.push(" AND u.first_seen_at < ");
                        qb.push_bind(*cutoff);
                        qb.push(")");
                    }
                    qb.push(
                        ") GROUP BY a.id, a.name, a.seats_bought, a.idle_days, a.license_sku_id \
                         ORDER BY a.name, a.id",
                    );
                    qb.build()
                        .fetch_all(&self.read)
                        .await
                        .map_err(map_err)?
                        .iter()
                        .map(|r| {
                            let seats: i64 = r.try_get("seats").map_err(map_err)?;
                            Ok(IdleCount {
                                app_id: SaasAppId::from_uuid(r.try_get("id").map_err(map_err)?),
                                app_name: r.try_get("name").map_err(map_err)?,
                                licensing: licensing_from_row(r)?,
                                seats: u64::try_from(seats).unwrap_or(0),
                            })
                        })
                        .collect()
                }

                async fn list_saas_contracts_in_force(
                    &self,
                    tenant: TenantId,
                    from: NaiveDate,
                    to: NaiveDate,
                    limit: u32,
                ) -> StoreResult<Vec<(SaasContract, Option<String>)>> {
                    sqlx::query(&format!(
                        "SELECT {CONTRACT_COLUMNS}, a.category AS app_category \
                         FROM saas_contracts c JOIN saas_apps a ON a.id = c.app_id \
                         WHERE c.tenant_id = $1 AND c.start_date <= $2 AND c.end_date > $3 \
                         ORDER BY c.id LIMIT $4"
                    ))
                    .bind(tenant.as_uuid())
                    .bind(day(to))
                    .bind(day(from))
                    .bind(i64::from(limit))
                    .fetch_all(&self.read)
                    .await
                    .map_err(map_err)?
                    .iter()
                    .map(|r| Ok((contract_from_row(r)?, r.try_get("app_category").map_err(map_err)?)))
                    .collect()
                }

                async fn list_saas_seats_of_apps(
                    &self,
                    tenant: TenantId,
                    apps: &[SaasAppId],
                    limit: u32,
                ) -> StoreResult<Vec<SeatRow>> {
                    if apps.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut qb: QueryBuilder<'_, $db> =
                        QueryBuilder::new(format!("{SEAT_COLUMNS} WHERE a.tenant_id = "));
                    qb.push_bind(tenant.as_uuid());
                    qb.push(" AND u.app_id IN (");
                    let mut ids = qb.separated(", ");
                    for app in apps {
                        ids.push_bind(app.as_uuid());
                    }
                    qb.push(") ORDER BY a.name, us.user_principal_name, u.user_id LIMIT ");
                    qb.push_bind(i64::from(limit));
                    qb.build()
                        .fetch_all(&self.read)
                        .await
                        .map_err(map_err)?
                        .iter()
                        .map(seat_from_row)
                        .collect()
                }

                async fn saas_expense_app_months(
                    &self,
                    tenant: TenantId,
                    from: NaiveDate,
                ) -> StoreResult<Vec<(SaasAppId, String)>> {
                    sqlx::query(
                        "SELECT DISTINCT app_id, SUBSTR(spent_on, 1, 7) AS month \
                         FROM saas_expenses \
                         WHERE tenant_id = $1 AND app_id IS NOT NULL AND spent_on >= $2",
                    )
                    .bind(tenant.as_uuid())
                    .bind(day(from))
                    .fetch_all(&self.read)
                    .await
                    .map_err(map_err)?
                    .iter()
                    .map(|r| {
                        Ok((
                            SaasAppId::from_uuid(r.try_get("app_id").map_err(map_err)?),
                            r.try_get("month").map_err(map_err)?,
                        ))
                    })
                    .collect()
                }
            }
        }
    };
}

pub(crate) use impl_saas_license_store;
