//! Workflows and their durable runs (migration 0016), written once and expanded per backend
//! like `mail.rs`. A run's steps run in order: only the step at the run's `current_step` can
//! be claimed. A claim leases the step (PostgreSQL's nodes skip each other's rows with
//! `FOR UPDATE SKIP LOCKED`; SQLite has one writer), and only the lease holder's outcome is
//! recorded, with the run's advance, in one transaction.

macro_rules! impl_workflow_store {
    ($store:ty, $db:ty, $claim_lock:expr) => {
        mod workflow_store {
            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use latchkey_core::ids::{TenantId, UserId};
            use latchkey_core::store::{StoreError, StoreResult};
            use latchkey_core::workflow::Step;
            use latchkey_core::workflow_store::{
                ClaimedStep, NewRun, RunId, RunRecord, RunStatus, StepOutcome, StepRecord,
                StepStatus, StoredWorkflow, WorkflowId, WorkflowStore, WorkflowWrite,
            };
            use sqlx::{QueryBuilder, Row};
            use uuid::Uuid;

            use super::*;
            use crate::shared::{corrupt, map_err};

            type DbRow = <$db as sqlx::Database>::Row;

            fn step_json(step: &Step) -> StoreResult<String> {
                serde_json::to_string(step).map_err(|e| StoreError::Backend(e.to_string()))
            }

            fn step_from(raw: &str) -> StoreResult<Step> {
                serde_json::from_str(raw).map_err(|e| corrupt("workflow step", e))
            }

            fn workflow_from_row(row: &DbRow) -> StoreResult<StoredWorkflow> {
                Ok(StoredWorkflow {
                    id: WorkflowId::from_uuid(row.try_get("id").map_err(map_err)?),
                    tenant_id: TenantId::from_uuid(row.try_get("tenant_id").map_err(map_err)?),
                    name: row.try_get("name").map_err(map_err)?,
                    enabled: row.try_get("enabled").map_err(map_err)?,
                    version: row.try_get("version").map_err(map_err)?,
                    definition: row.try_get("definition").map_err(map_err)?,
                    created_at: row.try_get("created_at").map_err(map_err)?,
                    updated_at: row.try_get("updated_at").map_err(map_err)?,
                })
            }

            /// Moves the run past the step just finished; the run ends after its last step,
            /// failed if any step failed.
            async fn advance(
                tx: &mut sqlx::Transaction<'_, $db>,
                run: Uuid,
                at: DateTime<Utc>,
            ) -> StoreResult<()> {
                sqlx::query("UPDATE workflow_runs SET current_step = current_step + 1 WHERE id = $1")
                    .bind(run)
                    .execute(&mut **tx)
                    .await
                    .map_err(map_err)?;
                sqlx::query(
                    "UPDATE workflow_runs SET finished_at = $2, status = CASE WHEN EXISTS \
                     (SELECT 1 FROM workflow_steps WHERE run_id = $1 AND status = 'failed') \
                     THEN 'failed' ELSE 'succeeded' END \
                     WHERE id = $1 AND current_step >= \
                     (SELECT COUNT(*) FROM workflow_steps WHERE run_id = $1)",
                )
                .bind(run)
                .bind(at)
                .execute(&mut **tx)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            /// Runs of the tenant (of one workflow, one run, after a run), newest first, with
            /// their steps: two queries, whatever the count.
            async fn runs_where(
                pool: &sqlx::Pool<$db>,
                tenant: TenantId,
                workflow: Option<WorkflowId>,
                run: Option<RunId>,
                after: Option<RunId>,
                limit: u32,
            ) -> StoreResult<Vec<RunRecord>> {
            let mut q = QueryBuilder::<$db>::new(
                "SELECT r.id, r.workflow_id, r.workflow_version, r.user_id, \
                 r.occurrence, r.status, r.created_at, r.finished_at, r.cancelled_at, \
                 w.name \
                 FROM workflow_runs r JOIN workflows w ON w.id = r.workflow_id \
                 WHERE r.tenant_id = ",
            );
            q.push_bind(tenant.as_uuid());
            if let Some(w) = workflow {
                q.push(" AND r.workflow_id = ").push_bind(w.as_uuid());
            }
            if let Some(run) = run {
                q.push(" AND r.id = ").push_bind(run.as_uuid());
            }
            // Keyset: older than the cursor's run, or as old with a greater id.
            if let Some(c) = after {
                q.push(" AND (r.created_at < (SELECT created_at FROM workflow_runs WHERE id = ")
                    .push_bind(c.as_uuid())
                    .push(") OR (r.created_at = (SELECT created_at FROM workflow_runs WHERE id = ")
                    .push_bind(c.as_uuid())
                    .push(") AND r.id > ")
                    .push_bind(c.as_uuid())
                    .push("))");
            }
            q.push(" ORDER BY r.created_at DESC, r.id LIMIT ")
                .push_bind(i64::from(limit));
            let rows = q.build().fetch_all(pool).await.map_err(map_err)?;
            let mut runs = rows
                .iter()
                .map(|r| {
                    let status: String = r.try_get("status").map_err(map_err)?;
                    Ok(RunRecord {
                        id: RunId::from_uuid(r.try_get("id").map_err(map_err)?),
                        workflow_id: WorkflowId::from_uuid(
                            r.try_get("workflow_id").map_err(map_err)?,
                        ),
                        workflow_name: r.try_get("name").map_err(map_err)?,
                        workflow_version: r.try_get("workflow_version").map_err(map_err)?,
                        user_id: UserId::from_uuid(r.try_get("user_id").map_err(map_err)?),
                        occurrence: r.try_get("occurrence").map_err(map_err)?,
                        status: RunStatus::parse(&status)
                            .ok_or_else(|| corrupt("run status", &status))?,
                        created_at: r.try_get("created_at").map_err(map_err)?,
                        finished_at: r.try_get("finished_at").map_err(map_err)?,
                        cancelled_at: r.try_get("cancelled_at").map_err(map_err)?,
                        steps: Vec::new(),
                    })
                })
                .collect::<StoreResult<Vec<_>>>()?;
            if runs.is_empty() {
                return Ok(runs);
            }
            let mut q = QueryBuilder::<$db>::new(
                "SELECT run_id, position, step, status, attempts, output, error, \
                 finished_at FROM workflow_steps WHERE run_id IN (",
            );
            let mut ids = q.separated(", ");
            for run in &runs {
                ids.push_bind(run.id.as_uuid());
            }
            q.push(") ORDER BY run_id, position");
            let rows = q.build().fetch_all(pool).await.map_err(map_err)?;
            let mut by_run: std::collections::HashMap<Uuid, Vec<StepRecord>> =
                std::collections::HashMap::new();
            for r in &rows {
                let raw: String = r.try_get("step").map_err(map_err)?;
                let status: String = r.try_get("status").map_err(map_err)?;
                by_run
                    .entry(r.try_get("run_id").map_err(map_err)?)
                    .or_default()
                    .push(StepRecord {
                        position: r.try_get("position").map_err(map_err)?,
                        step: step_from(&raw)?,
                        status: StepStatus::parse(&status)
                            .ok_or_else(|| corrupt("step status", &status))?,
                        attempts: r.try_get("attempts").map_err(map_err)?,
                        output: r.try_get("output").map_err(map_err)?,
                        error: r.try_get("error").map_err(map_err)?,
                        finished_at: r.try_get("finished_at").map_err(map_err)?,
                    });
            }
            for run in &mut runs {
                run.steps = by_run.remove(&run.id.as_uuid()).unwrap_or_default();
            }
            Ok(runs)
        }


            #[async_trait]
            impl WorkflowStore for $store {
                async fn save_workflow(
                    &self,
                    write: &WorkflowWrite,
                ) -> StoreResult<(WorkflowId, i64)> {
                    let mut tx = self.write.begin().await.map_err(map_err)?;
                    let existing = sqlx::query(
                        "SELECT id, version FROM workflows WHERE tenant_id = $1 AND name = $2",
                    )
                    .bind(write.tenant_id.as_uuid())
                    .bind(&write.name)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    let (id, version) = match existing {
                        Some(row) => {
                            let id: Uuid = row.try_get("id").map_err(map_err)?;
                            let version: i64 = row.try_get("version").map_err(map_err)?;
                            // The version check makes a racing save of the same workflow fail
                            // as stale instead of both writing one version.
                            let done = sqlx::query(
                                "UPDATE workflows SET version = $1, enabled = $2, definition = $3, \
                                 updated_at = $4 WHERE id = $5 AND version = $6",
                            )
                            .bind(version + 1)
                            .bind(write.enabled)
                            .bind(&write.definition)
                            .bind(write.at)
                            .bind(id)
                            .bind(version)
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err)?;
                            if done.rows_affected() != 1 {
                                return Err(StoreError::Stale);
                            }
                            (id, version + 1)
                        }
                        None => {
                            let id = Uuid::new_v4();
                            sqlx::query(
                                "INSERT INTO workflows (id, tenant_id, name, enabled, version, \
                                 definition, created_at, updated_at) \
                                 VALUES ($1, $2, $3, $4, 1, $5, $6, $6)",
                            )
                            .bind(id)
                            .bind(write.tenant_id.as_uuid())
                            .bind(&write.name)
                            .bind(write.enabled)
                            .bind(&write.definition)
                            .bind(write.at)
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err)?;
                            (id, 1)
                        }
                    };
                    sqlx::query(
                        "INSERT INTO workflow_versions (workflow_id, version, definition, \
                         created_at) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(id)
                    .bind(version)
                    .bind(&write.definition)
                    .bind(write.at)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    tx.commit().await.map_err(map_err)?;
                    Ok((WorkflowId::from_uuid(id), version))
                }

                async fn list_workflows(
                    &self,
                    tenant: TenantId,
                ) -> StoreResult<Vec<StoredWorkflow>> {
                    let rows = sqlx::query(
                        "SELECT id, tenant_id, name, enabled, version, definition, created_at, updated_at \
                         FROM workflows WHERE tenant_id = $1 ORDER BY name",
                    )
                    .bind(tenant.as_uuid())
                    .fetch_all(&self.read)
                    .await
                    .map_err(map_err)?;
                    rows.iter().map(workflow_from_row).collect()
                }

                async fn create_workflow_run(&self, run: &NewRun) -> StoreResult<bool> {
                    let mut tx = self.write.begin().await.map_err(map_err)?;
                    let inserted = sqlx::query(
                        "INSERT INTO workflow_runs (id, tenant_id, workflow_id, \
                         workflow_version, user_id, occurrence, status, current_step, \
                         created_at) VALUES ($1, $2, $3, $4, $5, $6, 'running', 0, $7) \
                         ON CONFLICT (workflow_id, user_id, occurrence) DO NOTHING",
                    )
                    .bind(run.id.as_uuid())
                    .bind(run.tenant_id.as_uuid())
                    .bind(run.workflow_id.as_uuid())
                    .bind(run.workflow_version)
                    .bind(run.user_id.as_uuid())
                    .bind(&run.occurrence)
                    .bind(run.at)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    if inserted.rows_affected() == 0 {
                        return Ok(false);
                    }
                    for (position, step) in run.steps.iter().enumerate() {
                        let position = i32::try_from(position)
                            .map_err(|e| StoreError::Backend(e.to_string()))?;
                        sqlx::query(
                            "INSERT INTO workflow_steps (run_id, position, step, status, \
                             attempts, next_attempt_at) VALUES ($1, $2, $3, 'pending', 0, $4)",
                        )
                        .bind(run.id.as_uuid())
                        .bind(position)
                        .bind(step_json(step)?)
                        .bind(run.at)
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    }
                    tx.commit().await.map_err(map_err)?;
                    Ok(true)
                }

                async fn claim_workflow_steps(
                    &self,
                    now: DateTime<Utc>,
                    lease_until: DateTime<Utc>,
                    limit: u32,
                ) -> StoreResult<Vec<ClaimedStep>> {
                    let lease = Uuid::new_v4();
                    let sql = format!(
                        "UPDATE workflow_steps SET status = 'running', lease_id = $1, \
                         leased_until = $2, attempts = attempts + 1, \
                         first_started_at = COALESCE(first_started_at, $3) \
                         WHERE (run_id, position) IN (SELECT s.run_id, s.position \
                           FROM workflow_steps s JOIN workflow_runs r ON r.id = s.run_id \
                           WHERE r.status = 'running' AND s.position = r.current_step \
                           AND s.status IN ('pending', 'running') AND s.next_attempt_at <= $3 \
                           AND (s.leased_until IS NULL OR s.leased_until <= $3) \
                           ORDER BY s.next_attempt_at LIMIT $4 {})",
                        $claim_lock
                    );
                    sqlx::query(&sql)
                        .bind(lease)
                        .bind(lease_until)
                        .bind(now)
                        .bind(i64::from(limit))
                        .execute(&self.write)
                        .await
                        .map_err(map_err)?;
                    let rows = sqlx::query(
                        "SELECT s.run_id, s.position, s.step, s.attempts, s.first_started_at, \
                         r.tenant_id, r.user_id, r.occurrence, w.name FROM workflow_steps s \
                         JOIN workflow_runs r ON r.id = s.run_id \
                         JOIN workflows w ON w.id = r.workflow_id \
                         WHERE s.lease_id = $1 ORDER BY s.next_attempt_at, s.run_id",
                    )
                    .bind(lease)
                    .fetch_all(&self.write)
                    .await
                    .map_err(map_err)?;
                    rows.iter()
                        .map(|r| {
                            let raw: String = r.try_get("step").map_err(map_err)?;
                            Ok(ClaimedStep {
                                run_id: RunId::from_uuid(r.try_get("run_id").map_err(map_err)?),
                                position: r.try_get("position").map_err(map_err)?,
                                tenant_id: TenantId::from_uuid(
                                    r.try_get("tenant_id").map_err(map_err)?,
                                ),
                                workflow_name: r.try_get("name").map_err(map_err)?,
                                user_id: UserId::from_uuid(r.try_get("user_id").map_err(map_err)?),
                                step: step_from(&raw)?,
                                attempts: r.try_get("attempts").map_err(map_err)?,
                                first_started_at: r
                                    .try_get::<Option<DateTime<Utc>>, _>("first_started_at")
                                    .map_err(map_err)?
                                    .unwrap_or(now),
                                lease,
                                occurrence: r.try_get("occurrence").map_err(map_err)?,
                            })
                        })
                        .collect()
                }

                async fn finish_workflow_step(
                    &self,
                    step: &ClaimedStep,
                    outcome: &StepOutcome,
                    at: DateTime<Utc>,
                ) -> StoreResult<bool> {
                    let run = step.run_id.as_uuid();
                    let mut tx = self.write.begin().await.map_err(map_err)?;
                    let clip = |s: &str| s.chars().take(1000).collect::<String>();
                    let (status, output, error, next): (&str, Option<String>, Option<String>, Option<DateTime<Utc>>) =
                        match outcome {
                            StepOutcome::Succeeded { output } => {
                                ("succeeded", Some(clip(output)), None, None)
                            }
                            StepOutcome::Retry { error, retry_at } => {
                                ("pending", None, Some(clip(error)), Some(*retry_at))
                            }
                            StepOutcome::Failed { error, .. } => {
                                ("failed", None, Some(clip(error)), None)
                            }
                            StepOutcome::Skipped { output } => {
                                ("skipped", Some(clip(output)), None, None)
                            }
                            StepOutcome::Waiting { output, until } => {
                                ("pending", Some(clip(output)), None, Some(*until))
                            }
                        };
                    // A wait's claim is not an attempt.
                    let refund = i32::from(matches!(outcome, StepOutcome::Waiting { .. }));
                    let done = sqlx::query(
                        "UPDATE workflow_steps SET status = $1, output = $2, error = $3, \
                         next_attempt_at = COALESCE($4, next_attempt_at), \
                         finished_at = CASE WHEN $1 = 'pending' THEN NULL ELSE $5 END, \
                         lease_id = NULL, leased_until = NULL, attempts = attempts - $9 \
                         WHERE run_id = $6 AND position = $7 AND lease_id = $8 \
                         AND status = 'running'",
                    )
                    .bind(status)
                    .bind(output)
                    .bind(error)
                    .bind(next)
                    .bind(at)
                    .bind(run)
                    .bind(step.position)
                    .bind(step.lease)
                    .bind(refund)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    if done.rows_affected() != 1 {
                        return Ok(false);
                    }
                    match outcome {
                        StepOutcome::Retry { .. } | StepOutcome::Waiting { .. } => {}
                        StepOutcome::Succeeded { .. }
                        | StepOutcome::Skipped { .. }
                        | StepOutcome::Failed {
                            continue_run: true,
                            ..
                        } => advance(&mut tx, run, at).await?,
                        StepOutcome::Failed {
                            continue_run: false,
                            ..
                        } => {
                            sqlx::query(
                                "UPDATE workflow_steps SET status = 'skipped' \
                                 WHERE run_id = $1 AND position > $2",
                            )
                            .bind(run)
                            .bind(step.position)
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err)?;
                            sqlx::query(
                                "UPDATE workflow_runs SET status = 'failed', finished_at = $1 \
                                 WHERE id = $2",
                            )
                            .bind(at)
                            .bind(run)
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err)?;
                        }
                    }
                    tx.commit().await.map_err(map_err)?;
                    Ok(true)
                }

                async fn record_workflow_events(
                    &self,
                    events: &latchkey_core::audit::Events,
                ) -> StoreResult<()> {
                    let mut tx = self.write.begin().await.map_err(map_err)?;
                    insert_events(&mut tx, events).await?;
                    tx.commit().await.map_err(map_err)?;
                    Ok(())
                }

                async fn list_workflow_runs(
                    &self,
                    tenant: TenantId,
                    workflow: Option<WorkflowId>,
                    run: Option<RunId>,
                    limit: u32,
                ) -> StoreResult<Vec<RunRecord>> {
                    runs_where(&self.read, tenant, workflow, run, None, limit).await
                }

                async fn user_changes_after(
                    &self,
                    tenant: TenantId,
                    after_seq: i64,
                    since: DateTime<Utc>,
                    until: DateTime<Utc>,
                    limit: u32,
                ) -> StoreResult<Vec<(i64, latchkey_core::audit::OutboxEvent)>> {
                    let rows = sqlx::query(
                        "SELECT seq, id, tenant_id, occurred_at, kind, subject, payload \
                         FROM outbox_events WHERE tenant_id = $1 AND seq > $2 \
                         AND occurred_at >= $3 AND occurred_at <= $4 \
                         AND kind IN ('user.updated', 'user.managerChanged', 'user.created', \
                         'saas.appDiscovered') \
                         ORDER BY seq LIMIT $5",
                    )
                    .bind(tenant.as_uuid())
                    .bind(after_seq)
                    .bind(since)
                    .bind(until)
                    .bind(i64::from(limit))
                    .fetch_all(&self.read)
                    .await
                    .map_err(map_err)?;
                    rows.iter()
                        .map(|row| {
                            let payload: String = row.try_get("payload").map_err(map_err)?;
                            Ok((
                                row.try_get::<i64, _>("seq").map_err(map_err)?,
                                latchkey_core::audit::OutboxEvent {
                                    id: latchkey_core::ids::EventId::from_uuid(
                                        row.try_get("id").map_err(map_err)?,
                                    ),
                                    tenant_id: TenantId::from_uuid(
                                        row.try_get("tenant_id").map_err(map_err)?,
                                    ),
                                    occurred_at: row.try_get("occurred_at").map_err(map_err)?,
                                    kind: row.try_get("kind").map_err(map_err)?,
                                    subject: row
                                        .try_get::<Option<Uuid>, _>("subject")
                                        .map_err(map_err)?
                                        .map(UserId::from_uuid),
                                    payload: serde_json::from_str(&payload)
                                        .map_err(|e| corrupt("outbox payload", e))?,
                                },
                            ))
                        })
                        .collect()
                }

                async fn workflow_cursor(&self, workflow: WorkflowId) -> StoreResult<Option<i64>> {
                    sqlx::query_scalar(
                        "SELECT outbox_seq FROM workflow_cursors WHERE workflow_id = $1",
                    )
                    .bind(workflow.as_uuid())
                    .fetch_optional(&self.read)
                    .await
                    .map_err(map_err)
                }

                async fn set_workflow_cursor(
                    &self,
                    workflow: WorkflowId,
                    seq: i64,
                ) -> StoreResult<()> {
                    sqlx::query(
                        "INSERT INTO workflow_cursors (workflow_id, outbox_seq) VALUES ($1, $2) \
                         ON CONFLICT (workflow_id) DO UPDATE SET outbox_seq = CASE \
                         WHEN excluded.outbox_seq > workflow_cursors.outbox_seq \
                         THEN excluded.outbox_seq ELSE workflow_cursors.outbox_seq END",
                    )
                    .bind(workflow.as_uuid())
                    .bind(seq)
                    .execute(&self.write)
                    .await
                    .map_err(map_err)?;
                    Ok(())
                }

                async fn cancel_workflow_run(
                    &self,
                    tenant: TenantId,
                    run: RunId,
                    at: DateTime<Utc>,
                    events: &latchkey_core::audit::Events,
                ) -> StoreResult<bool> {
                    let mut tx = self.write.begin().await.map_err(map_err)?;
                    let done = sqlx::query(
                        "UPDATE workflow_runs SET status = 'failed', finished_at = $1, \
                         cancelled_at = $1 WHERE id = $2 AND tenant_id = $3 AND status = 'running'",
                    )
                    .bind(at)
                    .bind(run.as_uuid())
                    .bind(tenant.as_uuid())
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    if done.rows_affected() != 1 {
                        return Ok(false);
                    }
                    sqlx::query(
                        "UPDATE workflow_steps SET status = 'skipped', error = 'cancelled', \
                         lease_id = NULL, leased_until = NULL, finished_at = $1 \
                         WHERE run_id = $2 AND status IN ('pending', 'running')",
                    )
                    .bind(at)
                    .bind(run.as_uuid())
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    insert_events(&mut tx, events).await?;
                    tx.commit().await.map_err(map_err)?;
                    Ok(true)
                }

                async fn workflow_run_occurrences(
                    &self,
                    workflow: WorkflowId,
                    users: &[UserId],
                ) -> StoreResult<Vec<(UserId, String)>> {
                    let mut q = QueryBuilder::<$db>::new(
                        "SELECT user_id, occurrence FROM workflow_runs WHERE workflow_id = ",
                    );
                    q.push_bind(workflow.as_uuid()).push(" AND user_id IN (");
                    let mut ids = q.separated(", ");
                    for user in users {
                        ids.push_bind(user.as_uuid());
                    }
                    q.push(")");
                    let rows = q.build().fetch_all(&self.read).await.map_err(map_err)?;
                    rows.iter()
                        .map(|r| {
                            Ok((
                                UserId::from_uuid(r.try_get("user_id").map_err(map_err)?),
                                r.try_get("occurrence").map_err(map_err)?,
                            ))
                        })
                        .collect()
                }

                async fn last_sign_ins(
                    &self,
                    tenant: TenantId,
                    users: &[UserId],
                ) -> StoreResult<Vec<(UserId, DateTime<Utc>)>> {
                    let mut q = QueryBuilder::<$db>::new(
                        "SELECT user_id, last_success FROM sign_in_state WHERE tenant_id = ",
                    );
                    q.push_bind(tenant.as_uuid())
                        .push(" AND last_success IS NOT NULL AND user_id IN (");
                    let mut ids = q.separated(", ");
                    for user in users {
                        ids.push_bind(user.as_uuid());
                    }
                    q.push(")");
                    let rows = q.build().fetch_all(&self.read).await.map_err(map_err)?;
                    rows.iter()
                        .map(|r| {
                            Ok((
                                UserId::from_uuid(r.try_get("user_id").map_err(map_err)?),
                                r.try_get("last_success").map_err(map_err)?,
                            ))
                        })
                        .collect()
                }

                async fn count_active_users(&self, tenant: TenantId) -> StoreResult<u64> {
                    let n: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM users WHERE tenant_id = $1 AND deleted_at IS NULL",
                    )
                    .bind(tenant.as_uuid())
                    .fetch_one(&self.read)
                    .await
                    .map_err(map_err)?;
                    Ok(u64::try_from(n).unwrap_or(0))
                }

                async fn workflow_settings(
                    &self,
                    tenant: TenantId,
                ) -> StoreResult<Option<(String, i32)>> {
                    let row = sqlx::query(
                        "SELECT time_zone, max_run_share_percent FROM tenant_workflow_settings \
                         WHERE tenant_id = $1",
                    )
                    .bind(tenant.as_uuid())
                    .fetch_optional(&self.read)
                    .await
                    .map_err(map_err)?;
                    row.map(|r| {
                        Ok((
                            r.try_get("time_zone").map_err(map_err)?,
                            r.try_get::<i32, _>("max_run_share_percent").map_err(map_err)?,
                        ))
                    })
                    .transpose()
                }

                async fn save_workflow_settings(
                    &self,
                    tenant: TenantId,
                    time_zone: &str,
                    max_run_share_percent: i32,
                    events: &latchkey_core::audit::Events,
                ) -> StoreResult<()> {
                    let mut tx = self.write.begin().await.map_err(map_err)?;
                    sqlx::query(
                        "INSERT INTO tenant_workflow_settings (tenant_id, time_zone, \
                         max_run_share_percent) VALUES ($1, $2, $3) ON CONFLICT (tenant_id) \
                         DO UPDATE SET time_zone = excluded.time_zone, \
                         max_run_share_percent = excluded.max_run_share_percent",
                    )
                    .bind(tenant.as_uuid())
                    .bind(time_zone)
                    .bind(max_run_share_percent)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    insert_events(&mut tx, events).await?;
                    tx.commit().await.map_err(map_err)?;
                    Ok(())
                }

                async fn save_workflow_secret(
                    &self,
                    workflow: WorkflowId,
                    sealed: &[u8],
                    at: DateTime<Utc>,
                    events: &latchkey_core::audit::Events,
                ) -> StoreResult<()> {
                    let mut tx = self.write.begin().await.map_err(map_err)?;
                    sqlx::query(
                        "INSERT INTO workflow_secrets (workflow_id, sealed, updated_at) \
                         VALUES ($1, $2, $3) ON CONFLICT (workflow_id) \
                         DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at",
                    )
                    .bind(workflow.as_uuid())
                    .bind(sealed)
                    .bind(at)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    insert_events(&mut tx, events).await?;
                    tx.commit().await.map_err(map_err)?;
                    Ok(())
                }

                async fn workflow_secret(
                    &self,
                    workflow: WorkflowId,
                ) -> StoreResult<Option<Vec<u8>>> {
                    sqlx::query_scalar("SELECT sealed FROM workflow_secrets WHERE workflow_id = $1")
                        .bind(workflow.as_uuid())
                        .fetch_optional(&self.read)
                        .await
                        .map_err(map_err)
                }
            }

            const WORKFLOW_COLUMNS: &str =
                "id, tenant_id, name, enabled, version, definition, created_at, updated_at";

            async fn insert_version(
                tx: &mut sqlx::Transaction<'_, $db>,
                id: Uuid,
                version: i64,
                write: &WorkflowWrite,
            ) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO workflow_versions (workflow_id, version, definition, \
                     created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(id)
                .bind(version)
                .bind(&write.definition)
                .bind(write.at)
                .execute(&mut **tx)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            #[async_trait]
            impl latchkey_core::workflow_store::WorkflowAdminStore for $store {
                async fn workflows_page(
                    &self,
                    tenant: TenantId,
                    after: Option<&str>,
                    limit: u32,
                ) -> StoreResult<Vec<StoredWorkflow>> {
                    let mut q = QueryBuilder::<$db>::new(format!(
                        "SELECT {WORKFLOW_COLUMNS} FROM workflows WHERE tenant_id = "
                    ));
                    q.push_bind(tenant.as_uuid());
                    if let Some(after) = after {
                        q.push(" AND name > ").push_bind(after.to_owned());
                    }
                    q.push(" ORDER BY name LIMIT ").push_bind(i64::from(limit));
                    let rows = q.build().fetch_all(&self.read).await.map_err(map_err)?;
                    rows.iter().map(workflow_from_row).collect()
                }

                async fn workflow_by_id(
                    &self,
                    tenant: TenantId,
                    id: WorkflowId,
                ) -> StoreResult<Option<StoredWorkflow>> {
                    let row = sqlx::query(&format!(
                        "SELECT {WORKFLOW_COLUMNS} FROM workflows WHERE tenant_id = $1 AND id = $2"
                    ))
                    .bind(tenant.as_uuid())
                    .bind(id.as_uuid())
                    .fetch_optional(&self.read)
                    .await
                    .map_err(map_err)?;
                    row.as_ref().map(workflow_from_row).transpose()
                }

                async fn create_workflow(
                    &self,
                    id: WorkflowId,
                    write: &WorkflowWrite,
                    events: &latchkey_core::audit::Events,
                ) -> StoreResult<()> {
                    let mut tx = self.write.begin().await.map_err(map_err)?;
                    let id = id.as_uuid();
                    sqlx::query(
                        "INSERT INTO workflows (id, tenant_id, name, enabled, version, \
                         definition, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, 1, $5, $6, $6)",
                    )
                    .bind(id)
                    .bind(write.tenant_id.as_uuid())
                    .bind(&write.name)
                    .bind(write.enabled)
                    .bind(&write.definition)
                    .bind(write.at)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    insert_version(&mut tx, id, 1, write).await?;
                    insert_events(&mut tx, events).await?;
                    tx.commit().await.map_err(map_err)?;
                    Ok(())
                }

                async fn update_workflow(
                    &self,
                    id: WorkflowId,
                    version: i64,
                    write: &WorkflowWrite,
                    events: &latchkey_core::audit::Events,
                ) -> StoreResult<i64> {
                    let mut tx = self.write.begin().await.map_err(map_err)?;
                    let done = sqlx::query(
                        "UPDATE workflows SET name = $1, enabled = $2, version = $3, \
                         definition = $4, updated_at = $5 \
                         WHERE id = $6 AND tenant_id = $7 AND version = $8",
                    )
                    .bind(&write.name)
                    .bind(write.enabled)
                    .bind(version + 1)
                    .bind(&write.definition)
                    .bind(write.at)
                    .bind(id.as_uuid())
                    .bind(write.tenant_id.as_uuid())
                    .bind(version)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    if done.rows_affected() != 1 {
                        return Err(StoreError::Stale);
                    }
                    insert_version(&mut tx, id.as_uuid(), version + 1, write).await?;
                    insert_events(&mut tx, events).await?;
                    tx.commit().await.map_err(map_err)?;
                    Ok(version + 1)
                }

                async fn delete_workflow(
                    &self,
                    tenant: TenantId,
                    id: WorkflowId,
                    events: &latchkey_core::audit::Events,
                ) -> StoreResult<bool> {
                    let mut tx = self.write.begin().await.map_err(map_err)?;
                    // Versions, runs, steps, cursor and secret go with it (ON DELETE CASCADE).
                    let done = sqlx::query("DELETE FROM workflows WHERE id = $1 AND tenant_id = $2")
                        .bind(id.as_uuid())
                        .bind(tenant.as_uuid())
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

                async fn workflow_runs_page(
                    &self,
                    tenant: TenantId,
                    workflow: WorkflowId,
                    after: Option<RunId>,
                    limit: u32,
                ) -> StoreResult<Vec<RunRecord>> {
                    runs_where(&self.read, tenant, Some(workflow), None, after, limit).await
                }
            }
        }
    };
}

pub(crate) use impl_workflow_store;
