//! The e-mail send queue (`MailStore`) and view-once deliveries (`DeliveryStore`), written
//! once and expanded per backend like `shared.rs`. Rows are inserted only by
//! `insert_mail_and_deliveries`, which `insert_events` calls inside the transaction of the
//! change that causes them.
//!
//! The one difference between the backends is how a claim locks: PostgreSQL's nodes claim
//! concurrently and skip each other's rows (`FOR UPDATE SKIP LOCKED`); SQLite has one writer
//! (the single-connection write pool), so its claim is serial by construction.

macro_rules! impl_mail_store {
    ($store:ty, $db:ty, $claim_lock:expr) => {
        mod mail_store {
            use async_trait::async_trait;
            use chrono::{DateTime, Duration, Utc};
            use latchkey_core::audit::Events;
            use latchkey_core::delivery::{DeliveryStore, ViewOnceRecord};
            use latchkey_core::ids::{TenantId, UserId};
            use latchkey_core::mail::{
                ClaimedMail, MailAddress, MailId, MailKind, MailQuery, MailRetry, MailStatus,
                MailStore, OutgoingMail, QueuedMail,
            };
            use latchkey_core::store::{StoreError, StoreResult};
            use sqlx::{QueryBuilder, Row};
            use uuid::Uuid;

            use super::*;
            use crate::shared::{corrupt, map_err};

            type DbRow = <$db as sqlx::Database>::Row;

            const MAIL_COLUMNS: &str = "id, tenant_id, kind, recipients, sealed_content, status, \
                attempts, next_attempt_at, last_error, created_at, sent_at";

            const DELIVERY_COLUMNS: &str = "id, tenant_id, user_id, digest, sealed_secret, \
                created_at, expires_at, opened_at, created_by";

            /// Inserts a change's queued messages and deliveries, inside its transaction.
            pub(super) async fn insert_mail_and_deliveries(
                tx: &mut sqlx::Transaction<'_, $db>,
                events: &Events,
            ) -> StoreResult<()> {
                for m in &events.mail {
                    insert_mail(tx, m).await?;
                }
                for d in &events.deliveries {
                    sqlx::query(
                        "INSERT INTO view_once_deliveries (id, tenant_id, user_id, digest, \
                         sealed_secret, created_at, expires_at, opened_at, created_by) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(d.id)
                    .bind(d.tenant_id.as_uuid())
                    .bind(d.user_id.as_uuid())
                    .bind(d.digest.to_vec())
                    .bind(d.sealed_secret.clone())
                    .bind(d.created_at)
                    .bind(d.expires_at)
                    .bind(d.opened_at)
                    .bind(&d.created_by)
                    .execute(&mut **tx)
                    .await
                    .map_err(map_err)?;
                }
                Ok(())
            }

            async fn insert_mail(
                tx: &mut sqlx::Transaction<'_, $db>,
                m: &OutgoingMail,
            ) -> StoreResult<()> {
                let recipients: Vec<&str> = m.to.iter().map(MailAddress::as_str).collect();
                let recipients =
                    serde_json::to_string(&recipients).map_err(|e| corrupt("recipients", e))?;
                sqlx::query(
                    "INSERT INTO mail_outbox (id, tenant_id, kind, recipients, sealed_content, \
                     status, attempts, next_attempt_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $7)",
                )
                .bind(m.id.0)
                .bind(m.tenant_id.as_uuid())
                .bind(m.kind.as_str())
                .bind(recipients)
                .bind(&m.sealed_content)
                .bind(m.created_at)
                .bind(m.created_at)
                .execute(&mut **tx)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            fn mail_from_row(row: &DbRow) -> StoreResult<QueuedMail> {
                let kind: String = row.try_get("kind").map_err(map_err)?;
                let status: String = row.try_get("status").map_err(map_err)?;
                let recipients: String = row.try_get("recipients").map_err(map_err)?;
                let to: Vec<MailAddress> =
                    serde_json::from_str(&recipients).map_err(|e| corrupt("recipients", e))?;
                let attempts: i32 = row.try_get("attempts").map_err(map_err)?;
                Ok(QueuedMail {
                    id: MailId(row.try_get("id").map_err(map_err)?),
                    tenant_id: TenantId::from_uuid(row.try_get("tenant_id").map_err(map_err)?),
                    to,
                    kind: MailKind::parse(&kind).ok_or_else(|| corrupt("mail kind", &kind))?,
                    sealed_content: row.try_get("sealed_content").map_err(map_err)?,
                    status: MailStatus::parse(&status)
                        .ok_or_else(|| corrupt("mail status", &status))?,
                    attempts: u32::try_from(attempts).map_err(|e| corrupt("mail attempts", e))?,
                    next_attempt_at: row.try_get("next_attempt_at").map_err(map_err)?,
                    last_error: row.try_get("last_error").map_err(map_err)?,
                    created_at: row.try_get("created_at").map_err(map_err)?,
                    sent_at: row.try_get("sent_at").map_err(map_err)?,
                })
            }

            fn delivery_from_row(row: &DbRow) -> StoreResult<ViewOnceRecord> {
                let digest: Vec<u8> = row.try_get("digest").map_err(map_err)?;
                Ok(ViewOnceRecord {
                    id: row.try_get("id").map_err(map_err)?,
                    tenant_id: TenantId::from_uuid(row.try_get("tenant_id").map_err(map_err)?),
                    user_id: UserId::from_uuid(row.try_get("user_id").map_err(map_err)?),
                    digest: digest
                        .try_into()
                        .map_err(|_| corrupt("delivery digest", "not 32 bytes"))?,
                    sealed_secret: row.try_get("sealed_secret").map_err(map_err)?,
                    created_at: row.try_get("created_at").map_err(map_err)?,
                    expires_at: row.try_get("expires_at").map_err(map_err)?,
                    opened_at: row.try_get("opened_at").map_err(map_err)?,
                    created_by: row.try_get("created_by").map_err(map_err)?,
                })
            }

            #[async_trait]
            impl MailStore for $store {
                async fn claim_due_mail(
                    &self,
                    now: DateTime<Utc>,
                    lease_until: DateTime<Utc>,
                    limit: u32,
                ) -> StoreResult<Vec<ClaimedMail>> {
                    let lease = Uuid::new_v4();
                    let sql = format!(
                        "UPDATE mail_outbox SET lease_id = $1, leased_until = $2 \
                         WHERE id IN (SELECT id FROM mail_outbox \
                           WHERE status = 'pending' AND next_attempt_at <= $3 \
                           AND (leased_until IS NULL OR leased_until <= $3) \
                           ORDER BY next_attempt_at, created_at LIMIT $4 {}) \
                         RETURNING {MAIL_COLUMNS}",
                        $claim_lock
                    );
                    let rows = sqlx::query(&sql)
                        .bind(lease)
                        .bind(lease_until)
                        .bind(now)
                        .bind(i64::from(limit))
                        .fetch_all(&self.write)
                        .await
                        .map_err(map_err)?;
                    let mut claimed = rows
                        .iter()
                        .map(|r| {
                            Ok(ClaimedMail {
                                mail: mail_from_row(r)?,
                                lease,
                            })
                        })
                        .collect::<StoreResult<Vec<_>>>()?;
                    // RETURNING does not promise an order.
                    claimed.sort_by_key(|c| (c.mail.next_attempt_at, c.mail.created_at));
                    Ok(claimed)
                }

                async fn mark_mail_sent(
                    &self,
                    id: MailId,
                    lease: Uuid,
                    at: DateTime<Utc>,
                ) -> StoreResult<bool> {
                    let done = sqlx::query(
                        "UPDATE mail_outbox SET status = 'sent', sent_at = $1, \
                         sealed_content = NULL, lease_id = NULL, leased_until = NULL, \
                         last_error = NULL \
                         WHERE id = $2 AND lease_id = $3 AND status = 'pending'",
                    )
                    .bind(at)
                    .bind(id.0)
                    .bind(lease)
                    .execute(&self.write)
                    .await
                    .map_err(map_err)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn reschedule_mail(
                    &self,
                    id: MailId,
                    lease: Uuid,
                    retry: &MailRetry,
                ) -> StoreResult<bool> {
                    let attempts = i32::try_from(retry.attempts)
                        .map_err(|e| StoreError::Backend(e.to_string()))?;
                    let error: String = retry.error.chars().take(500).collect();
                    let done = match retry.next_attempt_at {
                        Some(next) => {
                            sqlx::query(
                                "UPDATE mail_outbox SET attempts = $1, next_attempt_at = $2, \
                                 last_error = $3, lease_id = NULL, leased_until = NULL \
                                 WHERE id = $4 AND lease_id = $5 AND status = 'pending'",
                            )
                            .bind(attempts)
                            .bind(next)
                            .bind(error)
                            .bind(id.0)
                            .bind(lease)
                            .execute(&self.write)
                            .await
                        }
                        None => {
                            sqlx::query(
                                "UPDATE mail_outbox SET status = 'failed', attempts = $1, \
                                 last_error = $2, sealed_content = NULL, lease_id = NULL, \
                                 leased_until = NULL \
                                 WHERE id = $3 AND lease_id = $4 AND status = 'pending'",
                            )
                            .bind(attempts)
                            .bind(error)
                            .bind(id.0)
                            .bind(lease)
                            .execute(&self.write)
                            .await
                        }
                    }
                    .map_err(map_err)?;
                    Ok(done.rows_affected() == 1)
                }

                async fn list_mail(&self, query: &MailQuery) -> StoreResult<Vec<QueuedMail>> {
                    let mut q = QueryBuilder::<$db>::new(format!(
                        "SELECT {MAIL_COLUMNS} FROM mail_outbox WHERE 1 = 1"
                    ));
                    if let Some(tenant) = query.tenant {
                        q.push(" AND tenant_id = ").push_bind(tenant.as_uuid());
                    }
                    if !query.statuses.is_empty() {
                        q.push(" AND status IN (");
                        let mut sep = q.separated(", ");
                        for s in &query.statuses {
                            sep.push_bind(s.as_str());
                        }
                        sep.push_unseparated(")");
                    }
                    q.push(" ORDER BY created_at, id LIMIT ")
                        .push_bind(i64::from(query.limit.clamp(1, 1000)));
                    let rows = q.build().fetch_all(&self.read).await.map_err(map_err)?;
                    rows.iter().map(mail_from_row).collect()
                }
            }

            #[async_trait]
            impl DeliveryStore for $store {
                async fn find_view_once(
                    &self,
                    digest: &[u8; 32],
                ) -> StoreResult<Option<ViewOnceRecord>> {
                    let row = sqlx::query(&format!(
                        "SELECT {DELIVERY_COLUMNS} FROM view_once_deliveries WHERE digest = $1"
                    ))
                    .bind(digest.to_vec())
                    .fetch_optional(&self.read)
                    .await
                    .map_err(map_err)?;
                    row.as_ref().map(delivery_from_row).transpose()
                }

                async fn open_view_once(
                    &self,
                    id: Uuid,
                    at: DateTime<Utc>,
                    events: &Events,
                ) -> StoreResult<bool> {
                    let mut tx = self.write.begin().await.map_err(map_err)?;
                    let done = sqlx::query(
                        "UPDATE view_once_deliveries SET opened_at = $1, sealed_secret = NULL \
                         WHERE id = $2 AND opened_at IS NULL AND sealed_secret IS NOT NULL \
                         AND expires_at > $1",
                    )
                    .bind(at)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    if done.rows_affected() != 1 {
                        return Ok(false);
                    }
                    super::insert_events(&mut tx, events).await?;
                    tx.commit().await.map_err(map_err)?;
                    Ok(true)
                }

                async fn purge_view_once(&self, before: DateTime<Utc>) -> StoreResult<u64> {
                    let mut tx = self.write.begin().await.map_err(map_err)?;
                    let wiped = sqlx::query(
                        "UPDATE view_once_deliveries SET sealed_secret = NULL \
                         WHERE expires_at <= $1 AND sealed_secret IS NOT NULL",
                    )
                    .bind(before)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?
                    .rows_affected();
                    sqlx::query("DELETE FROM view_once_deliveries WHERE expires_at <= $1")
                        .bind(before - Duration::days(1))
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    tx.commit().await.map_err(map_err)?;
                    Ok(wiped)
                }
            }
        }
        use mail_store::insert_mail_and_deliveries;
    };
}

pub(crate) use impl_mail_store;
