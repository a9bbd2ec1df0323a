//! Discovery from connected Microsoft 365 tenants (migration 0034), written once and expanded
//! per backend like `saas.rs`: user consents a page at a time (Graph's
//! `oauth2PermissionGrants`), each source's status, and a pass written in one transaction.
//! An app is found by its link to the remote `appId`, else its catalogue entry, else its
//! name, else inserted with its discovery events; an observation (a grant and its scopes, a
//! sign-in) is evidence once, by the primary key of `saas_remote_observations`. PostgreSQL
//! locks the app and user rows it merges into (`FOR UPDATE`); SQLite has one writer.

macro_rules! impl_saas_remote_store {
    ($store:ty, $db:ty, $lock:expr) => {
        mod saas_remote_store {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use latchkey_core::app::AppId;
            use latchkey_core::ids::{TenantId, UserId};
            use latchkey_core::interactive::UserConsent;
            use latchkey_core::saas::{SaasApp, SaasAppState};
            use latchkey_core::saas_remote::{
                RemoteAppWrite, RemoteDiscoveryCounts, RemoteDiscoveryWrite,
                SaasDiscoverySource, SaasRemoteStore,
            };
            use latchkey_core::store::{StoreError, StoreResult};
            use sqlx::{QueryBuilder, Row};
            use uuid::Uuid;

            use super::saas_store::{insert_app_row, insert_evidence, insert_outbox};
            use super::*;
            use crate::shared::map_err;

            /// The unique key an app's name is compared by (as `saas.rs`).
            fn normalize(name: &str) -> String {
                name.split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .to_lowercase()
            }

            fn merged(into: &[String], more: &[String]) -> Option<Vec<String>> {
                let mut out = into.to_vec();
                for p in more {
                    if !out.iter().any(|o| o.eq_ignore_ascii_case(p)) {
                        out.push(p.clone());
                    }
                }
                (out.len() != into.len()).then_some(out)
            }

            async fn find_one(
                tx: &mut Tx<'_>,
                sql: &str,
                tenant: Uuid,
                key: &str,
            ) -> StoreResult<Option<Uuid>> {
                let row = sqlx::query(sql)
                    .bind(tenant)
                    .bind(key)
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(map_err)?;
                row.map(|r| r.try_get::<Uuid, _>(0).map_err(map_err)).transpose()
            }

            /// The inventory app a remote app is, inserting it if none; whether it is new.
            async fn resolve_app(
                tx: &mut Tx<'_>,
                w: &RemoteDiscoveryWrite,
                a: &RemoteAppWrite,
            ) -> StoreResult<(Uuid, bool)> {
                let tenant = w.tenant_id.as_uuid();
                let row = sqlx::query(
                    "SELECT app_id FROM saas_remote_apps WHERE tenant_id = $1 \
                     AND connection = $2 AND remote_app_id = $3",
                )
                .bind(tenant)
                .bind(&w.connection)
                .bind(a.remote_app_id.to_lowercase())
                .fetch_optional(&mut **tx)
                .await
                .map_err(map_err)?;
                if let Some(r) = row {
                    return Ok((r.try_get("app_id").map_err(map_err)?, false));
                }
                let mut found = None;
                if let Some(m) = &a.matched {
                    found = find_one(
                        tx,
                        "SELECT id FROM saas_apps WHERE tenant_id = $1 AND catalogue_key = $2",
                        tenant,
                        &m.key,
                    )
                    .await?;
                }
                if found.is_none() {
                    found = find_one(
                        tx,
                        "SELECT id FROM saas_apps WHERE tenant_id = $1 AND name_normalized = $2",
                        tenant,
                        &normalize(&a.name),
                    )
                    .await?;
                }
                let mut new = false;
                if found.is_none() {
                    for name in [&a.name, &a.fallback_name] {
                        let app = SaasApp {
                            id: a.new_id,
                            tenant_id: w.tenant_id,
                            name: name.clone(),
                            vendor: a.matched.as_ref().map(|m| m.vendor.clone()),
                            category: a.matched.as_ref().map(|m| m.category.clone()),
                            catalogue_key: a.matched.as_ref().map(|m| m.key.clone()),
                            owner: None,
                            state: SaasAppState::Discovered,
                            latchkey_app_id: None,
                            permissions: vec![],
                            user_count: 0,
                            created: w.at,
                            updated: w.at,
                            version: 1,
                        };
                        if insert_app_row(tx, &app).await? {
                            found = Some(a.new_id.as_uuid());
                            new = true;
                            if let Some(e) = &a.if_new {
                                insert_audit(tx, &e.audit).await?;
                                insert_outbox(tx, &e.outbox).await?;
                                insert_mail_and_deliveries(tx, e).await?;
                            }
                            break;
                        }
                    }
                }
                let id = found.ok_or_else(|| StoreError::Conflict("saas_apps name".into()))?;
                sqlx::query(
                    "INSERT INTO saas_remote_apps (tenant_id, connection, remote_app_id, app_id) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                )
                .bind(tenant)
                .bind(&w.connection)
                .bind(a.remote_app_id.to_lowercase())
                .bind(id)
                .execute(&mut **tx)
                .await
                .map_err(map_err)?;
                Ok((id, new))
            }

            /// Merges one app of the pass: its permissions, users and new evidence.
            async fn write_app(
                tx: &mut Tx<'_>,
                w: &RemoteDiscoveryWrite,
                a: &RemoteAppWrite,
                counts: &mut RemoteDiscoveryCounts,
            ) -> StoreResult<()> {
                let (id, new) = resolve_app(tx, w, a).await?;
                if new {
                    counts.added.push(a.name.clone());
                }
                let row = sqlx::query(&format!(
                    "SELECT state, permissions FROM saas_apps WHERE id = $1 {}",
                    $lock
                ))
                .bind(id)
                .fetch_one(&mut **tx)
                .await
                .map_err(map_err)?;
                let state: String = row.try_get("state").map_err(map_err)?;
                let had: String = row.try_get("permissions").map_err(map_err)?;
                let had = parse_json_list("permissions", &had)?;
                if let Some(all) = merged(&had, &a.permissions) {
                    sqlx::query(
                        "UPDATE saas_apps SET permissions = $1, updated_at = $2, \
                         version = version + 1 WHERE id = $3",
                    )
                    .bind(json_list(&all))
                    .bind(w.at)
                    .bind(id)
                    .execute(&mut **tx)
                    .await
                    .map_err(map_err)?;
                }
                for u in &a.users {
                    let row = sqlx::query(&format!(
                        "SELECT last_used_at, permissions FROM saas_app_users \
                         WHERE app_id = $1 AND user_id = $2 {}",
                        $lock
                    ))
                    .bind(id)
                    .bind(u.user_id.as_uuid())
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(map_err)?;
                    match row {
                        Some(r) => {
                            let last: DateTime<Utc> = r.try_get("last_used_at").map_err(map_err)?;
                            let had: String = r.try_get("permissions").map_err(map_err)?;
                            let had = parse_json_list("permissions", &had)?;
                            let perms = merged(&had, &u.permissions);
                            let newer = u.last_used.filter(|t| *t > last);
                            if perms.is_none() && newer.is_none() {
                                continue;
                            }
                            sqlx::query(
                                "UPDATE saas_app_users SET last_used_at = $1, permissions = $2 \
                                 WHERE app_id = $3 AND user_id = $4",
                            )
                            .bind(newer.unwrap_or(last))
                            .bind(json_list(&perms.unwrap_or(had)))
                            .bind(id)
                            .bind(u.user_id.as_uuid())
                            .execute(&mut **tx)
                            .await
                            .map_err(map_err)?;
                        }
                        None => {
                            let used = u.last_used.unwrap_or(w.at);
                            sqlx::query(
                                "INSERT INTO saas_app_users (app_id, user_id, first_seen_at, \
                                 last_used_at, permissions) VALUES ($1, $2, $3, $4, $5)",
                            )
                            .bind(id)
                            .bind(u.user_id.as_uuid())
                            .bind(used.min(w.at))
                            .bind(used)
                            .bind(json_list(&u.permissions))
                            .execute(&mut **tx)
                            .await
                            .map_err(map_err)?;
                        }
                    }
                }
                let sanctioned = state == SaasAppState::Sanctioned.as_str();
                for (key, e) in &a.evidence {
                    let done = sqlx::query(
                        "INSERT INTO saas_remote_observations (tenant_id, connection, \
                         observation, app_id, seen_at) VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(w.tenant_id.as_uuid())
                    .bind(&w.connection)
                    .bind(key)
                    .bind(id)
                    .bind(w.at)
                    .execute(&mut **tx)
                    .await
                    .map_err(map_err)?;
                    if done.rows_affected() == 1 && !sanctioned {
                        insert_evidence(tx, id, e).await?;
                        counts.evidence += 1;
                    }
                }
                Ok(())
            }

            fn source_from_row(
                row: &<$db as sqlx::Database>::Row,
            ) -> StoreResult<SaasDiscoverySource> {
                Ok(SaasDiscoverySource {
                    connection: row.try_get("connection").map_err(map_err)?,
                    last_attempt: row.try_get("last_attempt_at").map_err(map_err)?,
                    last_success: row.try_get("last_success_at").map_err(map_err)?,
                    last_error_at: row.try_get("last_error_at").map_err(map_err)?,
                    last_error: row.try_get("last_error").map_err(map_err)?,
                    sign_in_cursor: row.try_get("sign_in_cursor").map_err(map_err)?,
                })
            }

            #[async_trait]
            impl SaasRemoteStore for $store {
                async fn user_consents_page(
                    &self,
                    tenant: TenantId,
                    after: Option<(AppId, UserId)>,
                    limit: u32,
                ) -> StoreResult<Vec<UserConsent>> {
                    let mut qb: QueryBuilder<'_, $db> = QueryBuilder::new(
                        "SELECT user_id, app_id, scopes, granted_at FROM user_consents \
                         WHERE tenant_id = ",
                    );
                    qb.push_bind(tenant.as_uuid());
                    if let Some((app, user)) = after {
                        qb.push(" AND (app_id > ");
                        qb.push_bind(app.0);
                        qb.push(" OR (app_id = ");
                        qb.push_bind(app.0);
                        qb.push(" AND user_id > ");
                        qb.push_bind(user.as_uuid());
                        qb.push("))");
                    }
                    qb.push(" ORDER BY app_id, user_id LIMIT ");
                    qb.push_bind(i64::from(limit));
                    let rows = qb.build().fetch_all(&self.read).await.map_err(map_err)?;
                    rows.iter()
                        .map(|r| {
                            let scopes: String = r.try_get("scopes").map_err(map_err)?;
                            Ok(UserConsent {
                                tenant_id: tenant,
                                user_id: UserId::from_uuid(r.try_get("user_id").map_err(map_err)?),
                                app_id: AppId(r.try_get("app_id").map_err(map_err)?),
                                scopes: parse_json_list("consent scopes", &scopes)?,
                                granted_at: r.try_get("granted_at").map_err(map_err)?,
                            })
                        })
                        .collect()
                }

                async fn tenant_connection_names(
                    &self,
                    tenant: TenantId,
                ) -> StoreResult<Vec<String>> {
                    let rows = sqlx::query(
                        "SELECT display_name FROM workflow_tenant_connections \
                         WHERE tenant_id = $1 ORDER BY name",
                    )
                    .bind(tenant.as_uuid())
                    .fetch_all(&self.read)
                    .await
                    .map_err(map_err)?;
                    rows.iter()
                        .map(|r| r.try_get::<String, _>(0).map_err(map_err))
                        .collect()
                }

                async fn linked_remote_saas_apps(
                    &self,
                    tenant: TenantId,
                    connection: &str,
                    app_ids: &[String],
                ) -> StoreResult<Vec<String>> {
                    if app_ids.is_empty() {
                        return Ok(vec![]);
                    }
                    let mut qb: QueryBuilder<'_, $db> = QueryBuilder::new(
                        "SELECT remote_app_id FROM saas_remote_apps WHERE tenant_id = ",
                    );
                    qb.push_bind(tenant.as_uuid());
                    qb.push(" AND connection = ");
                    qb.push_bind(connection.to_owned());
                    qb.push(" AND remote_app_id IN (");
                    let mut list = qb.separated(", ");
                    for id in app_ids {
                        list.push_bind(id.to_lowercase());
                    }
                    qb.push(")");
                    let rows = qb.build().fetch_all(&self.read).await.map_err(map_err)?;
                    rows.iter()
                        .map(|r| r.try_get::<String, _>(0).map_err(map_err))
                        .collect()
                }

                async fn saas_discovery_source(
                    &self,
                    tenant: TenantId,
                    connection: &str,
                ) -> StoreResult<Option<SaasDiscoverySource>> {
                    let row = sqlx::query(
                        "SELECT connection, last_attempt_at, last_success_at, last_error_at, \
                         last_error, sign_in_cursor FROM saas_discovery_sources \
                         WHERE tenant_id = $1 AND connection = $2",
                    )
                    .bind(tenant.as_uuid())
                    .bind(connection)
                    .fetch_optional(&self.read)
                    .await
                    .map_err(map_err)?;
                    row.as_ref().map(source_from_row).transpose()
                }

                async fn write_remote_saas_discovery(
                    &self,
                    w: &RemoteDiscoveryWrite,
                ) -> StoreResult<RemoteDiscoveryCounts> {
                    let mut tx = self.write.begin().await.map_err(map_err)?;
                    let mut counts = RemoteDiscoveryCounts {
                        apps_seen: u32::try_from(w.apps.len()).unwrap_or(u32::MAX),
                        ..RemoteDiscoveryCounts::default()
                    };
                    for a in &w.apps {
                        write_app(&mut tx, w, a, &mut counts).await?;
                    }
                    sqlx::query(
                        "INSERT INTO saas_discovery_sources (tenant_id, connection, \
                         last_attempt_at, last_success_at, last_error_at, last_error, \
                         sign_in_cursor) VALUES ($1, $2, $3, $3, NULL, NULL, $4) \
                         ON CONFLICT (tenant_id, connection) DO UPDATE SET \
                         last_attempt_at = excluded.last_attempt_at, \
                         last_success_at = excluded.last_success_at, \
                         last_error_at = NULL, last_error = NULL, \
                         sign_in_cursor = COALESCE(excluded.sign_in_cursor, \
                         saas_discovery_sources.sign_in_cursor)",
                    )
                    .bind(w.tenant_id.as_uuid())
                    .bind(&w.connection)
                    .bind(w.at)
                    .bind(w.sign_in_cursor)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    tx.commit().await.map_err(map_err)?;
                    Ok(counts)
                }

                async fn record_saas_discovery_failure(
                    &self,
                    tenant: TenantId,
                    connection: &str,
                    at: DateTime<Utc>,
                    error: &str,
                ) -> StoreResult<()> {
                    sqlx::query(
                        "INSERT INTO saas_discovery_sources (tenant_id, connection, \
                         last_attempt_at, last_error_at, last_error) VALUES ($1, $2, $3, $3, $4) \
                         ON CONFLICT (tenant_id, connection) DO UPDATE SET \
                         last_attempt_at = excluded.last_attempt_at, \
                         last_error_at = excluded.last_error_at, \
                         last_error = excluded.last_error",
                    )
                    .bind(tenant.as_uuid())
                    .bind(connection)
                    .bind(at)
                    .bind(error)
                    .execute(&self.write)
                    .await
                    .map_err(map_err)?;
                    Ok(())
                }
            }
        }
    };
}

pub(crate) use impl_saas_remote_store;
