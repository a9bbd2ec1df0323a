//! Change tracking for Graph's `users/delta` (migration 0019), written once and expanded per
//! backend like `shared.rs`, whose `Store` methods delegate here.
//!
//! The numbers are handed out by triggers on `users`, so no write path can forget one: on
//! SQLite in the writing statement (one writer, so in commit order), on PostgreSQL by a
//! deferred trigger at commit under the tenant's counter-row lock (see the migration for why).
//! Readers therefore never see a change numbered above one they have not seen yet.

macro_rules! impl_change_store {
    ($store:ident, $db:ty) => {
        mod changes {
            use super::*;

            use latchkey_core::store::{UserChange, UserChangeKind, UserChangeQuery};

            /// `AND (col > seq OR (col = seq AND id_col > id))` for the keyset.
            fn push_after(
                qb: &mut QueryBuilder<'_, $db>,
                seq_col: &str,
                id_col: &str,
                after: Option<(i64, UserId)>,
            ) {
                if let Some((seq, id)) = after {
                    qb.push(format!(" AND ({seq_col} > "));
                    qb.push_bind(seq);
                    qb.push(format!(" OR ({seq_col} = "));
                    qb.push_bind(seq);
                    qb.push(format!(" AND {id_col} > "));
                    qb.push_bind(id.as_uuid());
                    qb.push("))");
                }
            }

            /// `AND col IN (...)` when the round tracks only some users.
            fn push_ids(qb: &mut QueryBuilder<'_, $db>, col: &str, ids: &[UserId]) {
                if ids.is_empty() {
                    return;
                }
                qb.push(format!(" AND {col} IN ("));
                let mut list = qb.separated(", ");
                for id in ids {
                    list.push_bind(id.as_uuid());
                }
                qb.push(")");
            }

            impl $store {
                pub(crate) async fn changes_latest(&self, tenant: TenantId) -> StoreResult<i64> {
                    let seq: Option<i64> = sqlx::query_scalar(
                        "SELECT seq FROM user_change_counters WHERE tenant_id = $1",
                    )
                    .bind(tenant.as_uuid())
                    .fetch_optional(&self.read)
                    .await
                    .map_err(map_err)?;
                    Ok(seq.unwrap_or(0))
                }

                pub(crate) async fn changes_prune(
                    &self,
                    now: DateTime<Utc>,
                    horizon: DateTime<Utc>,
                ) -> StoreResult<u64> {
                    let mut tx = self.write.begin().await.map_err(map_err)?;
                    // `WHERE TRUE`: SQLite reads `ON CONFLICT` after a bare SELECT as a join.
                    sqlx::query(
                        "INSERT INTO user_change_marks (tenant_id, at, seq) \
                         SELECT tenant_id, $1, seq FROM user_change_counters WHERE TRUE \
                         ON CONFLICT (tenant_id, at) DO NOTHING",
                    )
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    let pruned = sqlx::query(
                        "DELETE FROM user_deletions WHERE seq <= (SELECT MAX(m.seq) FROM user_change_marks m \
                         WHERE m.tenant_id = user_deletions.tenant_id AND m.at <= $1)",
                    )
                    .bind(horizon)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?
                    .rows_affected();
                    sqlx::query(
                        "DELETE FROM user_change_marks WHERE at < (SELECT MAX(m.at) FROM user_change_marks m \
                         WHERE m.tenant_id = user_change_marks.tenant_id AND m.at <= $1)",
                    )
                    .bind(horizon)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    tx.commit().await.map_err(map_err)?;
                    Ok(pruned)
                }

                pub(crate) async fn changes_list(
                    &self,
                    tenant: TenantId,
                    q: &UserChangeQuery,
                ) -> StoreResult<(Vec<UserChange>, bool)> {
                    let limit = i64::from(q.limit.clamp(1, 999));
                    // Served by users_by_change.
                    let mut qb: QueryBuilder<'_, $db> = QueryBuilder::new(format!(
                        "SELECT {USER_COLUMNS}, change_seq FROM users WHERE tenant_id = "
                    ));
                    qb.push_bind(tenant.as_uuid());
                    qb.push(" AND change_seq <= ");
                    qb.push_bind(q.upto);
                    match q.since {
                        Some(since) => {
                            qb.push(" AND change_seq > ");
                            qb.push_bind(since);
                        }
                        None => {
                            qb.push(" AND deleted_at IS NULL");
                        }
                    }
                    push_after(&mut qb, "change_seq", "id", q.after);
                    push_ids(&mut qb, "id", &q.ids);
                    qb.push(" ORDER BY change_seq, id LIMIT ");
                    qb.push_bind(limit + 1);
                    let rows = qb.build().fetch_all(&self.read).await.map_err(map_err)?;
                    let mut changes = Vec::with_capacity(rows.len());
                    for row in &rows {
                        let seq: i64 = row.try_get("change_seq").map_err(map_err)?;
                        let user = user_from_row(row)?;
                        let id = user.id;
                        let kind = if user.deleted.is_some() {
                            UserChangeKind::SoftDeleted
                        } else {
                            UserChangeKind::Present(Box::new(user))
                        };
                        changes.push(UserChange { seq, id, kind });
                    }
                    // Rows gone for good exist only as tombstones, and only in later rounds.
                    if let Some(since) = q.since {
                        let mut qb: QueryBuilder<'_, $db> = QueryBuilder::new(
                            "SELECT seq, user_id FROM user_deletions WHERE tenant_id = ",
                        );
                        qb.push_bind(tenant.as_uuid());
                        qb.push(" AND seq > ");
                        qb.push_bind(since);
                        qb.push(" AND seq <= ");
                        qb.push_bind(q.upto);
                        push_after(&mut qb, "seq", "user_id", q.after);
                        push_ids(&mut qb, "user_id", &q.ids);
                        qb.push(" ORDER BY seq, user_id LIMIT ");
                        qb.push_bind(limit + 1);
                        let rows = qb.build().fetch_all(&self.read).await.map_err(map_err)?;
                        for row in &rows {
                            let seq: i64 = row.try_get("seq").map_err(map_err)?;
                            let id: Uuid = row.try_get("user_id").map_err(map_err)?;
                            changes.push(UserChange {
                                seq,
                                id: UserId::from_uuid(id),
                                kind: UserChangeKind::Deleted,
                            });
                        }
                        // Both databases order UUIDs bytewise, as `Uuid`'s `Ord` does.
                        changes.sort_by_key(|c| (c.seq, c.id.as_uuid()));
                    }
                    let more = changes.len() as i64 > limit;
                    changes.truncate(limit as usize);
                    Ok((changes, more))
                }
            }
        }
    };
}

pub(crate) use impl_change_store;
