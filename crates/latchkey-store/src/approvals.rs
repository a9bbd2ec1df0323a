//! Workflow approval requests (migration 0031), written once and expanded per backend like
//! `tenant_connections.rs`. A decision wakes its step in the same transaction.

macro_rules! impl_approval_store {
    ($store:ty, $db:ty) => {
        mod approval_store {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use latchkey_core::approval::{
                ApprovalStatus, ApprovalStore, NewApproval, StoredApproval,
            };
            use latchkey_core::ids::{TenantId, UserId};
            use latchkey_core::store::StoreResult;
            use latchkey_core::workflow_store::RunId;
            use sqlx::Row;
            use uuid::Uuid;

            use super::*;
            use crate::shared::{corrupt, map_err};

            type DbRow = <$db as sqlx::Database>::Row;

            const COLUMNS: &str = "id, tenant_id, run_id, position, workflow_name, subject_id, \
                 approver_id, message, step_label, created_at, expires_at, status, decided_at";

            fn approval_from(row: &DbRow) -> StoreResult<StoredApproval> {
                let status: String = row.try_get("status").map_err(map_err)?;
                Ok(StoredApproval {
                    id: row.try_get("id").map_err(map_err)?,
                    tenant_id: TenantId::from_uuid(row.try_get("tenant_id").map_err(map_err)?),
                    run_id: RunId::from_uuid(row.try_get("run_id").map_err(map_err)?),
                    position: row.try_get("position").map_err(map_err)?,
                    workflow_name: row.try_get("workflow_name").map_err(map_err)?,
                    subject_id: UserId::from_uuid(row.try_get("subject_id").map_err(map_err)?),
                    approver_id: UserId::from_uuid(row.try_get("approver_id").map_err(map_err)?),
                    message: row.try_get("message").map_err(map_err)?,
                    step_label: row.try_get("step_label").map_err(map_err)?,
                    created_at: row.try_get("created_at").map_err(map_err)?,
                    expires_at: row.try_get("expires_at").map_err(map_err)?,
                    status: ApprovalStatus::parse(&status)
                        .ok_or_else(|| corrupt("approval status", &status))?,
                    decided_at: row.try_get("decided_at").map_err(map_err)?,
                })
            }

            #[async_trait]
            impl ApprovalStore for $store {
                async fn create_approval(
                    &self,
                    a: &NewApproval,
                    events: &latchkey_core::audit::Events,
                ) -> StoreResult<bool> {
                    let mut tx = self.write.begin().await.map_err(map_err)?;
                    let done = sqlx::query(
                        "INSERT INTO workflow_approvals (id, tenant_id, token_digest, run_id, \
                         position, workflow_name, subject_id, approver_id, message, step_label, \
                         created_at, expires_at, status) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'pending') \
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(a.id)
                    .bind(a.tenant_id.as_uuid())
                    .bind(&a.token_digest[..])
                    .bind(a.run_id.as_uuid())
                    .bind(a.position)
                    .bind(&a.workflow_name)
                    .bind(a.subject_id.as_uuid())
                    .bind(a.approver_id.as_uuid())
                    .bind(&a.message)
                    .bind(&a.step_label)
                    .bind(a.created_at)
                    .bind(a.expires_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    if done.rows_affected() != 1 {
                        return Ok(false);
                    }
                    insert_events(&mut tx, events).await?;
                    tx.commit().await.map_err(map_err)?;
                    Ok(true)
                }

                async fn find_approval(&self, id: Uuid) -> StoreResult<Option<StoredApproval>> {
                    let sql = format!("SELECT {COLUMNS} FROM workflow_approvals WHERE id = $1");
                    let row = sqlx::query(&sql)
                        .bind(id)
                        .fetch_optional(&self.write)
                        .await
                        .map_err(map_err)?;
                    row.as_ref().map(approval_from).transpose()
                }

                async fn find_approval_by_digest(
                    &self,
                    digest: &[u8; 32],
                ) -> StoreResult<Option<StoredApproval>> {
                    let sql = format!(
                        "SELECT {COLUMNS} FROM workflow_approvals WHERE token_digest = $1"
                    );
                    let row = sqlx::query(&sql)
                        .bind(&digest[..])
                        .fetch_optional(&self.write)
                        .await
                        .map_err(map_err)?;
                    row.as_ref().map(approval_from).transpose()
                }

                async fn decide_approval(
                    &self,
                    id: Uuid,
                    status: ApprovalStatus,
                    decided_by: UserId,
                    at: DateTime<Utc>,
                    events: &latchkey_core::audit::Events,
                ) -> StoreResult<bool> {
                    let mut tx = self.write.begin().await.map_err(map_err)?;
                    let done = sqlx::query(
                        "UPDATE workflow_approvals SET status = $1, decided_at = $2, \
                         decided_by = $3 WHERE id = $4 AND status = 'pending' AND expires_at > $2",
                    )
                    .bind(status.as_str())
                    .bind(at)
                    .bind(decided_by.as_uuid())
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    if done.rows_affected() != 1 {
                        return Ok(false);
                    }
                    // The waiting step is due now, so the next pass of the worker goes on.
                    sqlx::query(
                        "UPDATE workflow_steps SET next_attempt_at = $1 WHERE (run_id, position) = \
                         (SELECT run_id, position FROM workflow_approvals WHERE id = $2) \
                         AND status = 'pending'",
                    )
                    .bind(at)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    insert_events(&mut tx, events).await?;
                    tx.commit().await.map_err(map_err)?;
                    Ok(true)
                }
            }
        }
    };
}

pub(crate) use impl_approval_store;
