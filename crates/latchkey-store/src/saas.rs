//! The SaaS inventory (migration 0017), written once and expanded per backend like
//! `workflows.rs`. A discovery is written by `insert_saas_discoveries`, which `insert_events`
//! calls inside the transaction of the change that carries it (a consent). PostgreSQL locks
//! the app row it merges permissions into (`FOR UPDATE`); SQLite has one writer.

macro_rules! impl_saas_store {
    ($store:ty, $db:ty, $lock:expr) => {
        mod saas_store {
            use async_trait::async_trait;
            use chrono::NaiveDate;
            use latchkey_core::app::AppId;
            use latchkey_core::audit::{Events, OutboxEvent};
            use latchkey_core::ids::{SaasAppId, TenantId, UserId};
            use latchkey_core::saas::{
                BillingPeriod, EvidenceSource, ExpenseCounts, ExpenseWrite, SaasApp, SaasAppState,
                SaasAppUser, SaasAppWrite, SaasContract, SaasDiscovery, SaasEvidence, SaasQuery,
                SaasStore, UnmatchedExpense,
            };
            use latchkey_core::store::{Page, StoreError, StoreResult};
            use sqlx::{QueryBuilder, Row};
            use uuid::Uuid;

            use super::*;
            use crate::shared::{corrupt, map_err};

            type DbRow = <$db as sqlx::Database>::Row;

            const APP_COLUMNS: &str = "a.id, a.tenant_id, a.name, a.name_normalized, a.vendor, \
                a.category, a.catalogue_key, a.owner_id, a.state, a.latchkey_app_id, \
                a.permissions, a.created_at, a.updated_at, a.version, \
                (SELECT COUNT(*) FROM saas_app_users u WHERE u.app_id = a.id) AS user_count";

            /// The unique key an app's name is compared by: case and spacing ignored.
            fn normalize(name: &str) -> String {
                name.split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .to_lowercase()
            }

            fn list_from(what: &str, raw: &str) -> StoreResult<Vec<String>> {
                serde_json::from_str(raw).map_err(|e| corrupt(what, e))
            }

            fn list_to(v: &[String]) -> String {
                serde_json::Value::from(v.to_vec()).to_string()
            }

            /// `into` plus whatever of `more` it lacks; `None` when nothing was added.
            fn union(into: &[String], more: &[String]) -> Option<Vec<String>> {
                let mut out = into.to_vec();
                for p in more {
                    if !out.iter().any(|o| o.eq_ignore_ascii_case(p)) {
                        out.push(p.clone());
                    }
                }
                (out.len() != into.len()).then_some(out)
            }

            fn app_from_row(row: &DbRow) -> StoreResult<SaasApp> {
                let state: String = row.try_get("state").map_err(map_err)?;
                let permissions: String = row.try_get("permissions").map_err(map_err)?;
                let users: i64 = row.try_get("user_count").map_err(map_err)?;
                Ok(SaasApp {
                    id: SaasAppId::from_uuid(row.try_get("id").map_err(map_err)?),
                    tenant_id: TenantId::from_uuid(row.try_get("tenant_id").map_err(map_err)?),
                    name: row.try_get("name").map_err(map_err)?,
                    vendor: row.try_get("vendor").map_err(map_err)?,
                    category: row.try_get("category").map_err(map_err)?,
                    catalogue_key: row.try_get("catalogue_key").map_err(map_err)?,
                    owner: row
                        .try_get::<Option<Uuid>, _>("owner_id")
                        .map_err(map_err)?
                        .map(UserId::from_uuid),
                    state: SaasAppState::parse(&state).ok_or_else(|| corrupt("state", &state))?,
                    latchkey_app_id: row
                        .try_get::<Option<Uuid>, _>("latchkey_app_id")
                        .map_err(map_err)?
                        .map(AppId),
                    permissions: list_from("permissions", &permissions)?,
                    user_count: u64::try_from(users).unwrap_or(0),
                    created: row.try_get("created_at").map_err(map_err)?,
                    updated: row.try_get("updated_at").map_err(map_err)?,
                    version: row.try_get("version").map_err(map_err)?,
                })
            }

            fn encode_cursor(key: &str, id: Uuid) -> String {
                format!("s:{key} {id}")
            }

            fn decode_cursor(cursor: &str) -> StoreResult<(String, Uuid)> {
                let rest = cursor.strip_prefix("s:").ok_or(StoreError::BadCursor)?;
                let (key, id) = rest.rsplit_once(' ').ok_or(StoreError::BadCursor)?;
                Ok((key.to_owned(), id.parse().map_err(|_| StoreError::BadCursor)?))
            }

            pub(crate) async fn insert_evidence(
                tx: &mut Tx<'_>,
                app: Uuid,
                e: &SaasEvidence,
            ) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO saas_evidence (app_id, source, occurred_at, user_id, detail) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(app)
                .bind(e.source.as_str())
                .bind(e.at)
                .bind(e.user_id.map(|u| u.as_uuid()))
                .bind(&e.detail)
                .execute(&mut **tx)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            pub(crate) async fn insert_outbox(tx: &mut Tx<'_>, o: &OutboxEvent) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO outbox_events (id, tenant_id, occurred_at, kind, subject, payload) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(o.id.as_uuid())
                .bind(o.tenant_id.as_uuid())
                .bind(o.occurred_at)
                .bind(&o.kind)
                .bind(o.subject.map(|s| s.as_uuid()))
                .bind(o.payload.to_string())
                .execute(&mut **tx)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            /// Inserts a new app row unless its name (or registration, or catalogue entry)
            /// is taken; whether it was inserted.
            pub(crate) async fn insert_app_row(
                tx: &mut Tx<'_>,
                a: &SaasApp,
            ) -> StoreResult<bool> {
                let done = sqlx::query(
                    "INSERT INTO saas_apps (id, tenant_id, name, name_normalized, vendor, category, \
                     catalogue_key, owner_id, state, latchkey_app_id, permissions, created_at, \
                     updated_at, version) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, 1) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(a.id.as_uuid())
                .bind(a.tenant_id.as_uuid())
                .bind(&a.name)
                .bind(normalize(&a.name))
                .bind(&a.vendor)
                .bind(&a.category)
                .bind(&a.catalogue_key)
                .bind(a.owner.map(|o| o.as_uuid()))
                .bind(a.state.as_str())
                .bind(a.latchkey_app_id.map(|x| x.0))
                .bind(list_to(&a.permissions))
                .bind(a.created)
                .execute(&mut **tx)
                .await
                .map_err(map_err)?;
                Ok(done.rows_affected() == 1)
            }

            async fn app_by_registration(
                tx: &mut Tx<'_>,
                tenant: Uuid,
                app: Uuid,
            ) -> StoreResult<Option<(Uuid, String)>> {
                let row = sqlx::query(&format!(
                    "SELECT id, permissions FROM saas_apps WHERE tenant_id = $1 \
                     AND latchkey_app_id = $2 {}",
                    $lock
                ))
                .bind(tenant)
                .bind(app)
                .fetch_optional(&mut **tx)
                .await
                .map_err(map_err)?;
                row.map(|r| Ok((r.try_get("id").map_err(map_err)?, r.try_get("permissions").map_err(map_err)?)))
                    .transpose()
            }

            /// Writes one discovery inside the caller's transaction.
            async fn insert_discovery(tx: &mut Tx<'_>, d: &SaasDiscovery) -> StoreResult<()> {
                let tenant = d.tenant_id.as_uuid();
                let registration = d.latchkey_app_id.0;
                let mut found = app_by_registration(tx, tenant, registration).await?;
                if found.is_none() {
                    // An app already in the inventory under this name (from an expense, or
                    // entered by hand) is linked to the registration.
                    let row = sqlx::query(&format!(
                        "SELECT id, permissions FROM saas_apps WHERE tenant_id = $1 \
                         AND name_normalized = $2 AND latchkey_app_id IS NULL {}",
                        $lock
                    ))
                    .bind(tenant)
                    .bind(normalize(&d.name))
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(map_err)?;
                    if let Some(r) = row {
                        let id: Uuid = r.try_get("id").map_err(map_err)?;
                        sqlx::query("UPDATE saas_apps SET latchkey_app_id = $1 WHERE id = $2")
                            .bind(registration)
                            .bind(id)
                            .execute(&mut **tx)
                            .await
                            .map_err(map_err)?;
                        found = Some((id, r.try_get("permissions").map_err(map_err)?));
                    }
                }
                if found.is_none() {
                    for name in [&d.name, &d.fallback_name] {
                        let app = SaasApp {
                            id: d.new_id,
                            tenant_id: d.tenant_id,
                            name: name.clone(),
                            vendor: None,
                            category: None,
                            catalogue_key: None,
                            owner: None,
                            state: SaasAppState::Discovered,
                            latchkey_app_id: Some(d.latchkey_app_id),
                            permissions: vec![],
                            user_count: 0,
                            created: d.at,
                            updated: d.at,
                            version: 1,
                        };
                        if insert_app_row(tx, &app).await? {
                            found = Some((d.new_id.as_uuid(), "[]".to_owned()));
                            if let Some(e) = &d.if_new {
                                insert_audit(tx, &e.audit).await?;
                                insert_outbox(tx, &e.outbox).await?;
                                insert_mail_and_deliveries(tx, e).await?;
                            }
                            break;
                        }
                        // A racing change may have just added this registration.
                        found = app_by_registration(tx, tenant, registration).await?;
                        if found.is_some() {
                            break;
                        }
                    }
                }
                let (id, permissions) = found.ok_or_else(|| {
                    StoreError::Conflict("saas_apps name".into())
                })?;
                if let Some(merged) = union(&list_from("permissions", &permissions)?, &d.permissions) {
                    sqlx::query(
                        "UPDATE saas_apps SET permissions = $1, updated_at = $2, version = version + 1 \
                         WHERE id = $3",
                    )
                    .bind(list_to(&merged))
                    .bind(d.at)
                    .bind(id)
                    .execute(&mut **tx)
                    .await
                    .map_err(map_err)?;
                }
                if let Some(user) = d.user_id {
                    let row = sqlx::query(&format!(
                        "SELECT permissions FROM saas_app_users WHERE app_id = $1 AND user_id = $2 {}",
                        $lock
                    ))
                    .bind(id)
                    .bind(user.as_uuid())
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(map_err)?;
                    match row {
                        Some(r) => {
                            let had: String = r.try_get("permissions").map_err(map_err)?;
                            let had = list_from("permissions", &had)?;
                            let merged = union(&had, &d.permissions).unwrap_or(had);
                            sqlx::query(
                                "UPDATE saas_app_users SET last_used_at = $1, permissions = $2 \
                                 WHERE app_id = $3 AND user_id = $4",
                            )
                            .bind(d.at)
                            .bind(list_to(&merged))
                            .bind(id)
                            .bind(user.as_uuid())
                            .execute(&mut **tx)
                            .await
                            .map_err(map_err)?;
                        }
                        None => {
                            sqlx::query(
                                "INSERT INTO saas_app_users (app_id, user_id, first_seen_at, \
                                 last_used_at, permissions) VALUES ($1, $2, $3, $3, $4) \
                                 ON CONFLICT (app_id, user_id) DO UPDATE SET last_used_at = excluded.last_used_at",
                            )
                            .bind(id)
                            .bind(user.as_uuid())
                            .bind(d.at)
                            .bind(list_to(&d.permissions))
                            .execute(&mut **tx)
                            .await
                            .map_err(map_err)?;
                        }
                    }
                }
                if let Some(e) = &d.evidence {
                    insert_evidence(tx, id, e).await?;
                }
                Ok(())
            }

            /// Writes a change's discoveries, inside its transaction (`insert_events`).
            pub(super) async fn insert_saas_discoveries(
                tx: &mut Tx<'_>,
                events: &Events,
            ) -> StoreResult<()> {
                for d in &events.saas {
                    insert_discovery(tx, d).await?;
                }
                Ok(())
            }

            /// A page of apps by name, only those whose name or vendor contains `text`.
            async fn list_apps(
                store: &$store,
                tenant: TenantId,
                query: &SaasQuery,
                text: Option<&str>,
            ) -> StoreResult<Page<SaasApp>> {
                let mut qb: QueryBuilder<'_, $db> = QueryBuilder::new(format!(
                    "SELECT {APP_COLUMNS} FROM saas_apps a WHERE a.tenant_id = "
                ));
                qb.push_bind(tenant.as_uuid());
                if let Some(state) = query.state {
                    qb.push(" AND a.state = ");
                    qb.push_bind(state.as_str());
                }
                if let Some(text) = text.map(str::to_lowercase).filter(|t| !t.is_empty()) {
                    let escaped: String = text
                        .chars()
                        .flat_map(|c| match c {
                            '%' | '_' | '\\' => vec!['\\', c],
                            c => vec![c],
                        })
                        .collect();
                    let pattern = format!("%{escaped}%");
                    qb.push(" AND (a.name_normalized LIKE ");
                    qb.push_bind(pattern.clone());
                    qb.push(" ESCAPE '\\' OR LOWER(COALESCE(a.vendor, '')) LIKE ");
                    qb.push_bind(pattern);
                    qb.push(" ESCAPE '\\')");
                }
                if let Some(cursor) = &query.after {
                    let (key, id) = decode_cursor(cursor)?;
                    qb.push(" AND (a.name_normalized > ");
                    qb.push_bind(key.clone());
                    qb.push(" OR (a.name_normalized = ");
                    qb.push_bind(key);
                    qb.push(" AND a.id > ");
                    qb.push_bind(id);
                    qb.push("))");
                }
                qb.push(" ORDER BY a.name_normalized, a.id LIMIT ");
                qb.push_bind(i64::from(query.limit) + 1);
                let rows = qb.build().fetch_all(&store.read).await.map_err(map_err)?;
                let mut items = Vec::with_capacity(rows.len());
                let mut last_key = None;
                for row in rows.iter().take(query.limit as usize) {
                    items.push(app_from_row(row)?);
                    last_key = Some(row.try_get::<String, _>("name_normalized").map_err(map_err)?);
                }
                let next = match (rows.len() > query.limit as usize, last_key, items.last()) {
                    (true, Some(key), Some(last)) => Some(encode_cursor(&key, last.id.as_uuid())),
                    _ => None,
                };
                Ok(Page { items, next })
            }

            #[async_trait]
            impl SaasStore for $store {
                async fn list_saas_apps(
                    &self,
                    tenant: TenantId,
                    query: &SaasQuery,
                ) -> StoreResult<Page<SaasApp>> {
                    list_apps(self, tenant, query, None).await
                }

                async fn list_saas_apps_matching(
                    &self,
                    tenant: TenantId,
                    query: &SaasQuery,
                    text: &str,
                ) -> StoreResult<Page<SaasApp>> {
                    list_apps(self, tenant, query, Some(text)).await
                }

                async fn find_saas_app(
                    &self,
                    tenant: TenantId,
                    id: SaasAppId,
                ) -> StoreResult<Option<SaasApp>> {
                    let row = sqlx::query(&format!(
                        "SELECT {APP_COLUMNS} FROM saas_apps a WHERE a.tenant_id = $1 AND a.id = $2"
                    ))
                    .bind(tenant.as_uuid())
                    .bind(id.as_uuid())
                    .fetch_optional(&self.read)
                    .await
                    .map_err(map_err)?;
                    row.as_ref().map(app_from_row).transpose()
                }

                async fn find_saas_app_by_latchkey_app(
                    &self,
                    tenant: TenantId,
                    app: AppId,
                ) -> StoreResult<Option<SaasApp>> {
                    let row = sqlx::query(&format!(
                        "SELECT {APP_COLUMNS} FROM saas_apps a WHERE a.tenant_id = $1 \
                         AND a.latchkey_app_id = $2"
                    ))
                    .bind(tenant.as_uuid())
                    .bind(app.0)
                    .fetch_optional(&self.read)
                    .await
                    .map_err(map_err)?;
                    row.as_ref().map(app_from_row).transpose()
                }

                async fn saas_app_activity(
                    &self,
                    tenant: TenantId,
                    id: SaasAppId,
                    limit: u32,
                ) -> StoreResult<(Vec<SaasAppUser>, Vec<SaasEvidence>)> {
                    let users = sqlx::query(
                        "SELECT u.user_id, u.first_seen_at, u.last_used_at, u.permissions \
                         FROM saas_app_users u JOIN saas_apps a ON a.id = u.app_id \
                         WHERE a.tenant_id = $1 AND u.app_id = $2 \
                         ORDER BY u.last_used_at DESC, u.user_id LIMIT $3",
                    )
                    .bind(tenant.as_uuid())
                    .bind(id.as_uuid())
                    .bind(i64::from(limit))
                    .fetch_all(&self.read)
                    .await
                    .map_err(map_err)?
                    .iter()
                    .map(|r| {
                        let p: String = r.try_get("permissions").map_err(map_err)?;
                        Ok(SaasAppUser {
                            user_id: UserId::from_uuid(r.try_get("user_id").map_err(map_err)?),
                            first_seen: r.try_get("first_seen_at").map_err(map_err)?,
                            last_used: r.try_get("last_used_at").map_err(map_err)?,
                            permissions: list_from("permissions", &p)?,
                        })
                    })
                    .collect::<StoreResult<Vec<_>>>()?;
                    let evidence = sqlx::query(
                        "SELECT e.source, e.occurred_at, e.user_id, e.detail \
                         FROM saas_evidence e JOIN saas_apps a ON a.id = e.app_id \
                         WHERE a.tenant_id = $1 AND e.app_id = $2 ORDER BY e.seq DESC LIMIT $3",
                    )
                    .bind(tenant.as_uuid())
                    .bind(id.as_uuid())
                    .bind(i64::from(limit))
                    .fetch_all(&self.read)
                    .await
                    .map_err(map_err)?
                    .iter()
                    .map(|r| {
                        let source: String = r.try_get("source").map_err(map_err)?;
                        Ok(SaasEvidence {
                            source: EvidenceSource::parse(&source)
                                .ok_or_else(|| corrupt("source", &source))?,
                            at: r.try_get("occurred_at").map_err(map_err)?,
                            user_id: r
                                .try_get::<Option<Uuid>, _>("user_id")
                                .map_err(map_err)?
                                .map(UserId::from_uuid),
                            detail: r.try_get("detail").map_err(map_err)?,
                        })
                    })
                    .collect::<StoreResult<Vec<_>>>()?;
                    Ok((users, evidence))
                }

                async fn update_saas_app(
                    &self,
                    w: &SaasAppWrite,
                    events: &Events,
                ) -> StoreResult<()> {
                    let mut tx = self.write.begin().await.map_err(map_err)?;
                    let done = sqlx::query(
                        "UPDATE saas_apps SET state = $1, owner_id = $2, updated_at = $3, \
                         version = version + 1 WHERE tenant_id = $4 AND id = $5 AND version = $6",
                    )
                    .bind(w.state.as_str())
                    .bind(w.owner.map(|o| o.as_uuid()))
                    .bind(w.at)
                    .bind(w.tenant_id.as_uuid())
                    .bind(w.id.as_uuid())
                    .bind(w.expected_version)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    if done.rows_affected() != 1 {
                        let exists = sqlx::query("SELECT 1 FROM saas_apps WHERE tenant_id = $1 AND id = $2")
                            .bind(w.tenant_id.as_uuid())
                            .bind(w.id.as_uuid())
                            .fetch_optional(&mut *tx)
                            .await
                            .map_err(map_err)?;
                        return Err(if exists.is_some() { StoreError::Stale } else { StoreError::NotFound });
                    }
                    insert_events(&mut tx, events).await?;
                    tx.commit().await.map_err(map_err)
                }

                async fn record_saas_use(&self, d: &SaasDiscovery) -> StoreResult<()> {
                    let mut tx = self.write.begin().await.map_err(map_err)?;
                    insert_discovery(&mut tx, d).await?;
                    tx.commit().await.map_err(map_err)
                }

                async fn import_expenses(&self, w: &ExpenseWrite) -> StoreResult<ExpenseCounts> {
                    let tenant = w.tenant_id.as_uuid();
                    let mut counts = ExpenseCounts::default();
                    let mut tx = self.write.begin().await.map_err(map_err)?;
                    for (app, outbox) in &w.new_apps {
                        if insert_app_row(&mut tx, app).await? {
                            counts.new_apps += 1;
                            insert_outbox(&mut tx, outbox).await?;
                        } else {
                            // Already in the inventory under its name (discovered through
                            // Latchkey): it becomes that catalogue entry.
                            sqlx::query(
                                "UPDATE saas_apps SET catalogue_key = $1, vendor = COALESCE(vendor, $2), \
                                 category = COALESCE(category, $3) \
                                 WHERE tenant_id = $4 AND name_normalized = $5 AND catalogue_key IS NULL",
                            )
                            .bind(&app.catalogue_key)
                            .bind(&app.vendor)
                            .bind(&app.category)
                            .bind(tenant)
                            .bind(normalize(&app.name))
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err)?;
                        }
                    }
                    for l in &w.lines {
                        let key = l.matched.as_ref().map(|m| m.key.clone());
                        let line = i32::try_from(l.line).map_err(|e| corrupt("line", e))?;
                        let done = sqlx::query(
                            "INSERT INTO saas_expenses (id, tenant_id, fingerprint, line, vendor, \
                             amount_minor, currency, currency_exponent, spent_on, employee, app_id, \
                             imported_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
                             (SELECT id FROM saas_apps WHERE tenant_id = $2 AND catalogue_key = $11), $12) \
                             ON CONFLICT (tenant_id, fingerprint) DO NOTHING",
                        )
                        .bind(Uuid::new_v4())
                        .bind(tenant)
                        .bind(&l.fingerprint)
                        .bind(line)
                        .bind(&l.vendor)
                        .bind(l.amount_minor)
                        .bind(&l.currency)
                        .bind(i32::from(l.exponent))
                        .bind(l.date.format("%Y-%m-%d").to_string())
                        .bind(&l.employee)
                        .bind(&key)
                        .bind(w.at)
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                        if done.rows_affected() == 0 {
                            counts.duplicates += 1;
                            continue;
                        }
                        counts.imported += 1;
                        if key.is_none() {
                            counts.unmatched += 1;
                            continue;
                        }
                        counts.matched += 1;
                        let detail = format!(
                            "{} {} on {}{} (\"{}\", line {})",
                            latchkey_core::saas::format_amount(l.amount_minor, l.exponent),
                            l.currency,
                            l.date.format("%Y-%m-%d"),
                            l.employee.as_ref().map(|e| format!(" by {e}")).unwrap_or_default(),
                            l.vendor,
                            l.line
                        );
                        sqlx::query(
                            "INSERT INTO saas_evidence (app_id, source, occurred_at, detail) \
                             SELECT id, $1, $2, $3 FROM saas_apps WHERE tenant_id = $4 AND catalogue_key = $5",
                        )
                        .bind(EvidenceSource::Expense.as_str())
                        .bind(w.at)
                        .bind(detail)
                        .bind(tenant)
                        .bind(&key)
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    }
                    insert_events(&mut tx, &w.events).await?;
                    tx.commit().await.map_err(map_err)?;
                    Ok(counts)
                }

                async fn saas_catalogue_keys_present(
                    &self,
                    tenant: TenantId,
                    keys: &[String],
                ) -> StoreResult<Vec<String>> {
                    if keys.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut qb: QueryBuilder<'_, $db> = QueryBuilder::new(
                        "SELECT catalogue_key FROM saas_apps WHERE tenant_id = ",
                    );
                    qb.push_bind(tenant.as_uuid());
                    qb.push(" AND catalogue_key IN (");
                    let mut sep = qb.separated(", ");
                    for k in keys {
                        sep.push_bind(k.clone());
                    }
                    qb.push(")");
                    qb.build()
                        .fetch_all(&self.read)
                        .await
                        .map_err(map_err)?
                        .iter()
                        .map(|r| r.try_get("catalogue_key").map_err(map_err))
                        .collect()
                }

                async fn list_unmatched_expenses(
                    &self,
                    tenant: TenantId,
                    limit: u32,
                ) -> StoreResult<Vec<UnmatchedExpense>> {
                    sqlx::query(
                        "SELECT line, vendor, amount_minor, currency, currency_exponent, spent_on, \
                         employee, imported_at FROM saas_expenses \
                         WHERE tenant_id = $1 AND app_id IS NULL \
                         ORDER BY imported_at DESC, line LIMIT $2",
                    )
                    .bind(tenant.as_uuid())
                    .bind(i64::from(limit))
                    .fetch_all(&self.read)
                    .await
                    .map_err(map_err)?
                    .iter()
                    .map(|r| {
                        let date: String = r.try_get("spent_on").map_err(map_err)?;
                        let line: i32 = r.try_get("line").map_err(map_err)?;
                        let exponent: i32 = r.try_get("currency_exponent").map_err(map_err)?;
                        Ok(UnmatchedExpense {
                            line: u32::try_from(line).map_err(|e| corrupt("line", e))?,
                            vendor: r.try_get("vendor").map_err(map_err)?,
                            amount_minor: r.try_get("amount_minor").map_err(map_err)?,
                            currency: r.try_get("currency").map_err(map_err)?,
                            exponent: u8::try_from(exponent).map_err(|e| corrupt("currency_exponent", e))?,
                            date: NaiveDate::parse_from_str(&date, "%Y-%m-%d")
                                .map_err(|e| corrupt("spent_on", e))?,
                            employee: r.try_get("employee").map_err(map_err)?,
                            imported: r.try_get("imported_at").map_err(map_err)?,
                        })
                    })
                    .collect()
                }

                async fn insert_saas_contract(
                    &self,
                    c: &SaasContract,
                    events: &Events,
                ) -> StoreResult<()> {
                    let mut tx = self.write.begin().await.map_err(map_err)?;
                    let done = sqlx::query(
                        "INSERT INTO saas_contracts (id, tenant_id, app_id, start_date, end_date, \
                         notice_days, auto_renew, cost_minor, currency, currency_exponent, \
                         billing_period, created_at, seats) \
                         SELECT $1, tenant_id, id, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 \
                         FROM saas_apps WHERE tenant_id = $2 AND id = $3",
                    )
                    .bind(c.id)
                    .bind(c.tenant_id.as_uuid())
                    .bind(c.app_id.as_uuid())
                    .bind(c.start.format("%Y-%m-%d").to_string())
                    .bind(c.end.format("%Y-%m-%d").to_string())
                    .bind(i32::try_from(c.notice_days).map_err(|e| corrupt("notice_days", e))?)
                    .bind(c.auto_renew)
                    .bind(c.cost_minor)
                    .bind(&c.currency)
                    .bind(i32::from(c.exponent))
                    .bind(c.billing_period.as_str())
                    .bind(c.created)
                    .bind(c.seats.map(|n| i32::try_from(n).unwrap_or(i32::MAX)))
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    if done.rows_affected() != 1 {
                        return Err(StoreError::NotFound);
                    }
                    insert_events(&mut tx, events).await?;
                    tx.commit().await.map_err(map_err)
                }

                async fn list_saas_contracts(
                    &self,
                    tenant: TenantId,
                    app: SaasAppId,
                ) -> StoreResult<Vec<SaasContract>> {
                    sqlx::query(
                        "SELECT id, tenant_id, app_id, start_date, end_date, notice_days, auto_renew, \
                         cost_minor, currency, currency_exponent, billing_period, created_at, seats \
                         FROM saas_contracts WHERE tenant_id = $1 AND app_id = $2 \
                         ORDER BY start_date, id",
                    )
                    .bind(tenant.as_uuid())
                    .bind(app.as_uuid())
                    .fetch_all(&self.read)
                    .await
                    .map_err(map_err)?
                    .iter()
                    .map(contract_from_row)
                    .collect()
                }
            }

            pub(crate) fn contract_from_row(r: &DbRow) -> StoreResult<SaasContract> {
                let date = |col: &str| -> StoreResult<NaiveDate> {
                    let raw: String = r.try_get(col).map_err(map_err)?;
                    NaiveDate::parse_from_str(&raw, "%Y-%m-%d").map_err(|e| corrupt(col, e))
                };
                let notice: i32 = r.try_get("notice_days").map_err(map_err)?;
                let exponent: i32 = r.try_get("currency_exponent").map_err(map_err)?;
                let period: String = r.try_get("billing_period").map_err(map_err)?;
                Ok(SaasContract {
                    id: r.try_get("id").map_err(map_err)?,
                    tenant_id: TenantId::from_uuid(r.try_get("tenant_id").map_err(map_err)?),
                    app_id: SaasAppId::from_uuid(r.try_get("app_id").map_err(map_err)?),
                    start: date("start_date")?,
                    end: date("end_date")?,
                    notice_days: u32::try_from(notice).map_err(|e| corrupt("notice_days", e))?,
                    auto_renew: r.try_get("auto_renew").map_err(map_err)?,
                    cost_minor: r.try_get("cost_minor").map_err(map_err)?,
                    currency: r.try_get("currency").map_err(map_err)?,
                    exponent: u8::try_from(exponent).map_err(|e| corrupt("currency_exponent", e))?,
                    billing_period: BillingPeriod::parse(&period)
                        .ok_or_else(|| corrupt("billing_period", &period))?,
                    created: r.try_get("created_at").map_err(map_err)?,
                    seats: r
                        .try_get::<Option<i32>, _>("seats")
                        .map_err(map_err)?
                        .map(|s| u32::try_from(s).map_err(|e| corrupt("seats", e)))
                        .transpose()?,
                })
            }
        }
        use saas_store::insert_saas_discoveries;
        use saas_store::{contract_from_row, insert_app_row, insert_evidence};
    };
}

pub(crate) use impl_saas_store;
