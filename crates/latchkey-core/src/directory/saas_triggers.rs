//! The SaaS inventory's side of workflow triggers: the idle seats and the contracts due for
//! renewal at the directory's clock, each an occurrence for one user (the seat holder, the
//! app's owner), so that the engine's tick starts one run per occurrence and the store's
//! unique (workflow, user, occurrence) key refuses a second. Being read from the inventory's
//! state, an occurrence that came due while no tick ran is still there at the next one.

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::Directory;
use crate::authz::{Action, Actor, authorize};
use crate::error::DirectoryError;
use crate::ids::{TenantId, UserId};
use crate::saas_license::{RenewalRow, SeatRow, is_idle};
use crate::workflow::{Occurrence, Trigger};

/// Seats or contracts read per query.
const PAGE: u32 = 500;

/// The occurrence of `licenseIdle` for a seat, if it is idle at `now`: due when the spell
/// reached the threshold; keyed by the app and the last use, so a use starts a new spell.
pub fn idle_occurrence(
    seat: &SeatRow,
    days: Option<u32>,
    now: DateTime<Utc>,
) -> Option<Occurrence> {
    let days = days.unwrap_or_else(|| seat.licensing.idle_days());
    if !is_idle(seat.first_seen, seat.last_used, now, days) {
        return None;
    }
    let since = seat.last_used.max(seat.first_seen);
    Some(Occurrence {
        due: since + Duration::days(i64::from(days)),
        key: format!("idle:{}:{}", seat.app_id, seat.last_used.to_rfc3339()),
    })
}

/// The occurrence of `contractRenewalDue` for a contract on `today`, if its deadline has
/// not passed and is at most `offset_days` away: keyed by the contract, its deadline and the
/// offset, so a contract whose end moves is a new occurrence.
pub fn renewal_occurrence(
    row: &RenewalRow,
    offset_days: u32,
    today: NaiveDate,
) -> Option<Occurrence> {
    let deadline = row.contract.cancellation_deadline();
    let alert_day = deadline - chrono::Days::new(u64::from(offset_days));
    if today > deadline || today < alert_day {
        return None;
    }
    Some(Occurrence {
        due: alert_day.and_time(chrono::NaiveTime::MIN).and_utc(),
        key: format!(
            "renewal:{}:{}:{deadline}:{offset_days}",
            row.contract.app_id, row.contract.id
        ),
    })
}

impl Directory {
    /// What a run started by a SaaS trigger knows of its occurrence, for templates and
    /// webhooks (`saas` in their context): the app (name, vendor, category, state, the
    /// permissions granted and the risky ones), and the seat's last use or the contract
    /// (dates, deadline, cost). `None` for other runs, or when the app is gone. Nothing secret.
    pub async fn saas_run_context(
        &self,
        actor: &Actor,
        tenant: TenantId,
        occurrence: &str,
    ) -> Result<Option<serde_json::Value>, DirectoryError> {
        authorize(actor, Action::ManageWorkflows, &[])?;
        let parts: Vec<&str> = occurrence.splitn(3, ':').collect();
        let (kind, app) = match parts.as_slice() {
            ["discovered", _, app] => ("discovered", *app),
            ["idle", app, _] | ["renewal", app, _] => (parts[0], *app),
            _ => return Ok(None),
        };
        let Ok(app_id) = app.parse::<crate::ids::SaasAppId>() else {
            return Ok(None);
        };
        let Some(app) = self.store.find_saas_app(tenant, app_id).await? else {
            return Ok(None);
        };
        let mut out = serde_json::json!({
            "event": kind,
            "app": {
                "id": app.id.to_string(),
                "name": app.name,
                "vendor": app.vendor,
                "category": app.category,
                "state": app.state.as_str(),
                "permissions": app.permissions,
                "riskyPermissions": crate::saas::risky_permissions(&app.permissions),
                "users": app.user_count,
            },
        });
        match (kind, parts.get(2)) {
            ("idle", Some(last)) => out["lastUsed"] = serde_json::json!(last),
            ("renewal", Some(rest)) => {
                let contract = rest
                    .split(':')
                    .next()
                    .and_then(|c| c.parse::<uuid::Uuid>().ok());
                let contracts = self.store.list_saas_contracts(tenant, app_id).await?;
                if let Some(c) = contracts.iter().find(|c| Some(c.id) == contract) {
                    out["contract"] = serde_json::json!({
                        "id": c.id.to_string(),
                        "start": c.start.to_string(),
                        "end": c.end.to_string(),
                        "noticeDays": c.notice_days,
                        "cancellationDeadline": c.cancellation_deadline().to_string(),
                        "autoRenew": c.auto_renew,
                        "cost": crate::saas::format_amount(c.cost_minor, c.exponent),
                        "currency": c.currency,
                        "billingPeriod": c.billing_period.as_str(),
                    });
                }
            }
            _ => {}
        }
        Ok(Some(out))
    }

    /// The due occurrences of a SaaS state trigger ([`Trigger::follows_saas`]) in the
    /// tenant, with the user each run is for: every idle seat (`licenseIdle`), or every
    /// contract inside its renewal window whose app has an owner (`contractRenewalDue`).
    /// Other triggers have none. Reads a page of seats or contracts per query.
    pub async fn saas_trigger_occurrences(
        &self,
        actor: &Actor,
        tenant: TenantId,
        trigger: &Trigger,
    ) -> Result<Vec<(UserId, Occurrence)>, DirectoryError> {
        authorize(actor, Action::ManageWorkflows, &[])?;
        let now = self.clock.now();
        let mut out = Vec::new();
        match trigger {
            Trigger::LicenseIdle { days } => {
                // With the app's own thresholds, the shortest an app may have (a day).
                let before = now - Duration::days(i64::from(days.unwrap_or(1)));
                let mut after = None;
                loop {
                    let page = self
                        .store
                        .list_saas_seats_unused_since(tenant, None, before, after, PAGE)
                        .await?;
                    out.extend(
                        page.items
                            .iter()
                            .filter_map(|s| Some((s.user_id, idle_occurrence(s, *days, now)?))),
                    );
                    match page.next {
                        Some(next) => after = Some(next),
                        None => break,
                    }
                }
            }
            Trigger::ContractRenewalDue { offset_days } => {
                let today = now.date_naive();
                let mut after = None;
                loop {
                    let rows = self
                        .store
                        .list_saas_contracts_ending_from(tenant, today, after, PAGE)
                        .await?;
                    let full = rows.len() == PAGE as usize;
                    after = rows.last().map(|r| r.contract.id);
                    out.extend(rows.iter().filter_map(|r| {
                        Some((r.app_owner?, renewal_occurrence(r, *offset_days, today)?))
                    }));
                    if !full {
                        break;
                    }
                }
            }
            _ => {}
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::SaasAppId;
    use crate::saas::{BillingPeriod, SaasContract};
    use crate::saas_license::SaasLicensing;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_seat_is_due_once_per_idle_spell_at_its_threshold() {
        let seat = SeatRow {
            app_id: SaasAppId::new(),
            app_name: "Board".into(),
            user_id: UserId::new(),
            user_principal_name: None,
            first_seen: at("2026-01-01T00:00:00Z"),
            last_used: at("2026-01-01T00:00:00Z"),
            licensing: SaasLicensing::default(),
        };
        assert!(idle_occurrence(&seat, None, at("2026-02-20T00:00:00Z")).is_none());
        let o = idle_occurrence(&seat, None, at("2026-03-03T00:00:00Z")).unwrap();
        assert_eq!(o.due, at("2026-03-02T00:00:00Z"));
        assert!(idle_occurrence(&seat, Some(90), at("2026-03-03T00:00:00Z")).is_none());
        let later = SeatRow {
            last_used: at("2026-01-02T00:00:00Z"),
            ..seat.clone()
        };
        let o2 = idle_occurrence(&later, None, at("2026-04-03T00:00:00Z")).unwrap();
        assert_ne!(o.key, o2.key, "a use starts a new spell");
    }

    #[test]
    fn a_contract_is_due_from_its_offset_until_its_deadline() {
        let row = RenewalRow {
            contract: SaasContract {
                id: uuid::Uuid::new_v4(),
                tenant_id: TenantId::new(),
                app_id: SaasAppId::new(),
                start: "2026-01-01".parse().unwrap(),
                end: "2027-01-01".parse().unwrap(),
                notice_days: 31,
                auto_renew: true,
                cost_minor: 100,
                currency: "EUR".into(),
                exponent: 2,
                billing_period: BillingPeriod::Annual,
                seats: None,
                created: at("2026-01-01T00:00:00Z"),
            },
            app_name: "Board".into(),
            app_owner: None,
        };
        let day = |s: &str| s.parse::<NaiveDate>().unwrap();
        // Deadline 2026-12-01; 30 days before is 2026-11-01.
        assert!(renewal_occurrence(&row, 30, day("2026-10-31")).is_none());
        let o = renewal_occurrence(&row, 30, day("2026-11-01")).unwrap();
        assert_eq!(renewal_occurrence(&row, 30, day("2026-11-20")).unwrap(), o);
        assert!(renewal_occurrence(&row, 30, day("2026-12-02")).is_none());
    }
}
