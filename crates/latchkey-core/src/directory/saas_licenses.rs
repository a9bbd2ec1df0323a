//! SaaS licences, renewals and manual entry: an app's seats and idle users, the tenant's
//! reclamation list and overlap report, reclaiming a seat (with the Latchkey SKU it is, and a
//! notice to the user), renewal alerts before cancellation deadlines (the periodic
//! [`Directory::saas_renewal_pass`]), and apps entered by hand.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;

use super::{Change, Directory, UserRef};
use crate::audit::Events;
use crate::authz::{Action, Actor, Channel, authorize};
use crate::error::DirectoryError;
use crate::ids::{SaasAppId, TenantId, UserId};
use crate::license::LicenseChange;
use crate::mail::{MailAddress, MailContent};
use crate::query::{Filter, Literal, UserProperty};
use crate::role::DirectoryRole;
use crate::saas::{NewContract, SaasApp, SaasAppState, SaasContract, SaasQuery, format_amount};
use crate::saas_license::RenewalRow;
use crate::saas_license::{
    DEFAULT_RENEWAL_OFFSETS, IdleSeat, MAX_SEATS, OverlapApp, OverlapGroup, SaasLicenseReport,
    SaasLicensing, SaasLicensingChanges, SeatCost, SeatReclaim, SeatRow, due_offsets, is_idle,
    seat_cost,
};
use crate::store::{Page, StoreError, UserQuery};

/// Most apps the overlap report reads.
const OVERLAP_APPS: usize = 5_000;
/// Contracts a renewal pass reads per query.
const RENEWAL_PAGE: u32 = 500;

/// An app entered by hand, with an optional first contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSaasApp {
    pub name: String,
    pub vendor: Option<String>,
    pub category: Option<String>,
    pub owner: Option<UserRef>,
    /// `None`: discovered.
    pub state: Option<SaasAppState>,
    pub contract: Option<NewContract>,
}

/// What one renewal pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RenewalPass {
    pub contracts_read: u32,
    pub alerts_sent: u32,
}

fn not_found(id: SaasAppId) -> DirectoryError {
    DirectoryError::not_found(format!("SaaS app '{id}'"))
}

fn check_limit(limit: u32) -> Result<(), DirectoryError> {
    if (1..=999).contains(&limit) {
        Ok(())
    } else {
        Err(DirectoryError::invalid(
            "$top",
            "the page size must be between 1 and 999",
        ))
    }
}

fn bad_token() -> DirectoryError {
    DirectoryError::invalid("$skiptoken", "the page token is not valid")
}

/// A user's own addresses, else the UPN when it parses as one.
fn alert_addresses(u: &crate::user::User) -> Vec<MailAddress> {
    let mut a = super::mail::user_addresses(u);
    if a.is_empty()
        && let Ok(x) = MailAddress::parse(u.user_principal_name.as_str())
    {
        a.push(x);
    }
    a
}

fn money(minor: i64, cost: &SeatCost) -> String {
    format!("{} {}", format_amount(minor, cost.exponent), cost.currency)
}

impl Directory {
    async fn saas_app(&self, tenant: TenantId, id: SaasAppId) -> Result<SaasApp, DirectoryError> {
        self.store
            .find_saas_app(tenant, id)
            .await?
            .ok_or_else(|| not_found(id))
    }

    /// Sets an app's seats bought, idle threshold (days) and the Latchkey SKU its seats are.
    pub async fn set_saas_licensing(
        &self,
        actor: &Actor,
        tenant: TenantId,
        id: SaasAppId,
        changes: SaasLicensingChanges,
    ) -> Result<SaasLicensing, DirectoryError> {
        authorize(actor, Action::ManageSaasApps, &[])?;
        let app = self.saas_app(tenant, id).await?;
        let mut licensing = self
            .store
            .find_saas_licensing(tenant, id)
            .await?
            .ok_or_else(|| not_found(id))?;
        if let Some(seats) = changes.seats_bought {
            if seats.is_some_and(|s| s > MAX_SEATS) {
                return Err(DirectoryError::invalid(
                    "seatsBought",
                    format!("at most {MAX_SEATS} seats"),
                ));
            }
            licensing.seats_bought = seats;
        }
        if let Some(days) = changes.idle_days {
            if days.is_some_and(|d| !(1..=3650).contains(&d)) {
                return Err(DirectoryError::invalid(
                    "idleDays",
                    "the idle threshold must be from 1 to 3650 days",
                ));
            }
            licensing.idle_days = days;
        }
        if let Some(sku) = changes.sku {
            if let Some(sku) = sku {
                let skus = self.store.list_skus(tenant).await?;
                if !skus.iter().any(|s| s.sku.sku_id == sku) {
                    return Err(DirectoryError::invalid(
                        "skuId",
                        format!("no SKU '{sku}' in this tenant"),
                    ));
                }
            }
            licensing.sku = sku;
        }
        let events = self.events(Change {
            actor,
            tenant,
            category: "ApplicationManagement",
            activity: "Update SaaS app licensing",
            operation_type: "Update",
            target: None,
            other_target: Some((app.id.to_string(), app.name.clone())),
            details: vec![
                (
                    "seatsBought".into(),
                    licensing
                        .seats_bought
                        .map_or_else(String::new, |s| s.to_string()),
                ),
                ("idleDays".into(), licensing.idle_days().to_string()),
                (
                    "skuId".into(),
                    licensing.sku.map_or_else(String::new, |s| s.to_string()),
                ),
            ],
            outbox_kind: "saas.licensingUpdated",
            payload: json!({
                "appId": app.id.to_string(),
                "seatsBought": licensing.seats_bought,
                "idleDays": licensing.idle_days(),
                "skuId": licensing.sku.map(|s| s.to_string()),
            }),
        });
        self.store
            .set_saas_licensing(tenant, id, &licensing, &events)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => not_found(id),
                other => other.into(),
            })?;
        Ok(licensing)
    }

    fn today(&self) -> NaiveDate {
        self.clock.now().date_naive()
    }

    /// Seat costs for `apps` (one query for their current contracts).
    pub(super) async fn seat_costs(
        &self,
        tenant: TenantId,
        apps: &[(SaasAppId, SaasLicensing)],
    ) -> Result<Vec<(SaasAppId, Option<SeatCost>)>, DirectoryError> {
        let ids: Vec<SaasAppId> = apps.iter().map(|(id, _)| *id).collect();
        let contracts = self
            .store
            .current_saas_contracts(tenant, &ids, self.today())
            .await?;
        Ok(apps
            .iter()
            .map(|(id, licensing)| {
                let mine: Vec<SaasContract> = contracts
                    .iter()
                    .filter(|c| c.app_id == *id)
                    .cloned()
                    .collect();
                (*id, seat_cost(licensing, &mine))
            })
            .collect())
    }

    fn idle_seat(&self, row: SeatRow, cost: Option<&SeatCost>, now: DateTime<Utc>) -> IdleSeat {
        IdleSeat {
            app_id: row.app_id,
            app_name: row.app_name,
            user_id: row.user_id,
            user_principal_name: row.user_principal_name,
            first_seen: row.first_seen,
            last_used: row.last_used,
            idle_days: (now - row.last_used).num_days(),
            saving_monthly_minor: cost.and_then(|c| c.per_seat_monthly_minor),
            currency: cost.map(|c| c.currency.clone()),
            exponent: cost.map(|c| c.exponent),
        }
    }

    /// An app's licences: seats bought (set, else from its current contracts), seats
    /// assigned (its users), and its idle seats with the saving per month.
    pub async fn saas_licenses(
        &self,
        actor: &Actor,
        tenant: TenantId,
        id: SaasAppId,
    ) -> Result<SaasLicenseReport, DirectoryError> {
        authorize(actor, Action::ReadSaasApps, &[])?;
        let app = self.saas_app(tenant, id).await?;
        let licensing = self
            .store
            .find_saas_licensing(tenant, id)
            .await?
            .ok_or_else(|| not_found(id))?;
        let cost = self
            .seat_costs(tenant, &[(id, licensing)])
            .await?
            .pop()
            .and_then(|(_, c)| c);
        let now = self.clock.now();
        let before = now - chrono::Duration::days(i64::from(licensing.idle_days()));
        let mut idle = Vec::new();
        let mut after = None;
        // An app's idle seats, every page of them (bounded by its users).
        loop {
            let page = self
                .store
                .list_saas_seats_unused_since(tenant, Some(id), before, after, 999)
                .await?;
            for row in page.items {
                if is_idle(row.first_seen, row.last_used, now, licensing.idle_days()) {
                    idle.push(self.idle_seat(row, cost.as_ref(), now));
                }
            }
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        idle.sort_by_key(|s| s.last_used);
        let saving = idle.iter().filter_map(|s| s.saving_monthly_minor).sum();
        Ok(SaasLicenseReport {
            app_id: id,
            licensing,
            seats_assigned: app.user_count,
            cost,
            idle,
            saving_monthly_minor: saving,
        })
    }

    /// One page of the tenant's idle seats (every app, by app then user), each with what
    /// reclaiming it saves a month. A page may hold fewer than `limit` seats; follow `next`.
    pub async fn saas_reclamation(
        &self,
        actor: &Actor,
        tenant: TenantId,
        after: Option<String>,
        limit: u32,
    ) -> Result<Page<IdleSeat>, DirectoryError> {
        authorize(actor, Action::ReadSaasApps, &[])?;
        if !(1..=999).contains(&limit) {
            return Err(DirectoryError::invalid(
                "$top",
                "the page size must be between 1 and 999",
            ));
        }
        let now = self.clock.now();
        // The store reads seats unused for a day or more (the shortest threshold an app may
        // have); each app's own threshold is applied here.
        let page = self
            .store
            .list_saas_seats_unused_since(
                tenant,
                None,
                now - chrono::Duration::days(1),
                after,
                limit,
            )
            .await
            .map_err(|e| match e {
                StoreError::BadCursor => {
                    DirectoryError::invalid("$skiptoken", "the page token is not valid")
                }
                other => other.into(),
            })?;
        let mut apps: Vec<(SaasAppId, SaasLicensing)> = Vec::new();
        for row in &page.items {
            if !apps.iter().any(|(id, _)| *id == row.app_id) {
                apps.push((row.app_id, row.licensing));
            }
        }
        let costs = self.seat_costs(tenant, &apps).await?;
        let items = page
            .items
            .into_iter()
            .filter(|r| is_idle(r.first_seen, r.last_used, now, r.licensing.idle_days()))
            .map(|r| {
                let cost = costs
                    .iter()
                    .find(|(id, _)| *id == r.app_id)
                    .and_then(|(_, c)| c.as_ref());
                self.idle_seat(r, cost, now)
            })
            .collect();
        Ok(Page {
            items,
            next: page.next,
        })
    }

    /// Reclaims a user's seat of an app: when the app's seats are a Latchkey SKU the user
    /// holds, that licence is removed first through the licence operation itself
    /// ([`Directory::assign_licenses`]: its authorization, its `Change user license` audit
    /// event and `user.licenseRemoved`); then the user leaves the app's users with a
    /// `Reclaim SaaS seat` audit event, `saas.seatReclaimed` and a notice to the user, in one
    /// transaction. Should the second write fail after the first, the licence stays removed
    /// and running the reclaim again finishes it (the licence is no longer held).
    pub async fn reclaim_saas_seat(
        &self,
        actor: &Actor,
        tenant: TenantId,
        id: SaasAppId,
        user: &UserRef,
    ) -> Result<IdleSeat, DirectoryError> {
        authorize(actor, Action::ManageSaasApps, &[])?;
        let app = self.saas_app(tenant, id).await?;
        let licensing = self
            .store
            .find_saas_licensing(tenant, id)
            .await?
            .ok_or_else(|| not_found(id))?;
        let user = self.active_user(tenant, user).await?;
        let now = self.clock.now();
        let no_seat = || {
            DirectoryError::invalid(
                "userId",
                format!(
                    "{} has no seat of {} to reclaim",
                    user.user_principal_name, app.name
                ),
            )
        };
        let seat = self
            .store
            .find_saas_seat(tenant, id, user.id)
            .await?
            .ok_or_else(no_seat)?;
        let cost = self
            .seat_costs(tenant, &[(id, licensing)])
            .await?
            .pop()
            .and_then(|(_, c)| c);
        let held = match licensing.sku {
            Some(sku) => self
                .store
                .list_user_licenses(tenant, &[user.id])
                .await?
                .iter()
                .any(|(_, l)| l.sku_id == sku)
                .then_some(sku),
            None => None,
        };
        if held.is_some() {
            // Refused here, before anything is written, rather than halfway.
            authorize(actor, Action::AssignLicenses, &[])?;
        }
        let saving = cost.as_ref().and_then(|c| c.per_seat_monthly_minor);
        let mut events = self.events(Change {
            actor,
            tenant,
            category: "ApplicationManagement",
            activity: "Reclaim SaaS seat",
            operation_type: "Unassign",
            target: Some(&user),
            other_target: Some((app.id.to_string(), app.name.clone())),
            details: vec![
                ("app".into(), app.name.clone()),
                ("lastUsed".into(), seat.last_used.to_rfc3339()),
                (
                    "skuId".into(),
                    held.map_or_else(String::new, |s| s.to_string()),
                ),
                (
                    "savingPerMonth".into(),
                    match (&cost, saving) {
                        (Some(c), Some(s)) => money(s, c),
                        _ => String::new(),
                    },
                ),
            ],
            outbox_kind: "saas.seatReclaimed",
            payload: json!({
                "appId": app.id.to_string(),
                "userId": user.id.to_string(),
                "skuId": held.map(|s| s.to_string()),
                "savingPerMonthMinor": saving,
            }),
        });
        if self.master.is_some() {
            let mut to = super::mail::user_addresses(&user);
            if to.is_empty()
                && let Ok(a) = MailAddress::parse(user.user_principal_name.as_str())
            {
                to.push(a);
            }
            if !to.is_empty() {
                let tenant_record = self.tenant(tenant).await?;
                let mut paragraphs = vec![format!(
                    "Your seat of {} was reclaimed: it had not been used since {}.",
                    app.name,
                    seat.last_used.format("%Y-%m-%d")
                )];
                if held.is_some() {
                    paragraphs.push(format!(
                        "The licence that came with it was removed from {}.",
                        user.user_principal_name
                    ));
                }
                paragraphs.push(
                    "If you still need it, ask your IT department to assign it again.".into(),
                );
                let mail = self.seal_mail(
                    &tenant_record,
                    to,
                    &MailContent::SaasNotice {
                        subject: format!("Your {} seat was reclaimed", app.name),
                        paragraphs,
                    },
                )?;
                events.mail.push(mail);
            }
        }
        if let Some(sku) = held {
            self.assign_licenses(
                actor,
                tenant,
                &UserRef::Id(user.id),
                LicenseChange {
                    add: vec![],
                    remove: vec![sku],
                },
            )
            .await?;
        }
        self.store
            .reclaim_saas_seat(
                &SeatReclaim {
                    tenant_id: tenant,
                    app_id: id,
                    user_id: user.id,
                    at: now,
                },
                &events,
            )
            .await
            .map_err(|e| match e {
                StoreError::NotFound => no_seat(),
                other => other.into(),
            })?;
        self.mail_queued(&events);
        Ok(IdleSeat {
            app_id: id,
            app_name: app.name,
            user_id: user.id,
            user_principal_name: Some(user.user_principal_name.to_string()),
            first_seen: seat.first_seen,
            last_used: seat.last_used,
            idle_days: (now - seat.last_used).num_days(),
            saving_monthly_minor: saving,
            currency: cost.as_ref().map(|c| c.currency.clone()),
            exponent: cost.as_ref().map(|c| c.exponent),
        })
    }

    /// Categories with more than one app that is not retired, each app with its users and
    /// its current cost, so that redundant tools can be retired. By category, then name.
    pub async fn saas_overlaps(
        &self,
        actor: &Actor,
        tenant: TenantId,
    ) -> Result<Vec<OverlapGroup>, DirectoryError> {
        authorize(actor, Action::ReadSaasApps, &[])?;
        let mut apps: Vec<SaasApp> = Vec::new();
        let mut query = SaasQuery {
            limit: 999,
            ..SaasQuery::default()
        };
        loop {
            let page = self.store.list_saas_apps(tenant, &query).await?;
            apps.extend(
                page.items
                    .into_iter()
                    .filter(|a| a.state != SaasAppState::Retired && a.category.is_some()),
            );
            match page.next {
                Some(n) if apps.len() < OVERLAP_APPS => query.after = Some(n),
                _ => break,
            }
        }
        let mut groups: Vec<(String, Vec<SaasApp>)> = Vec::new();
        for app in apps {
            let category = app.category.clone().unwrap_or_default();
            match groups
                .iter_mut()
                .find(|(c, _)| c.eq_ignore_ascii_case(&category))
            {
                Some((_, list)) => list.push(app),
                None => groups.push((category, vec![app])),
            }
        }
        groups.retain(|(_, list)| list.len() > 1);
        groups.sort_by_key(|g| g.0.to_lowercase());
        // Each app's own licensing (seats bought set on the app), in one query per 500 apps.
        let app_ids: Vec<SaasAppId> = groups
            .iter()
            .flat_map(|(_, list)| list.iter().map(|a| a.id))
            .collect();
        let licensings = self.store.find_saas_licensings(tenant, &app_ids).await?;
        let ids: Vec<(SaasAppId, SaasLicensing)> = app_ids
            .iter()
            .map(|id| {
                let l = licensings
                    .iter()
                    .find(|(a, _)| a == id)
                    .map(|(_, l)| *l)
                    .unwrap_or_default();
                (*id, l)
            })
            .collect();
        let costs = self.seat_costs(tenant, &ids).await?;
        Ok(groups
            .into_iter()
            .map(|(category, list)| OverlapGroup {
                category,
                apps: list
                    .into_iter()
                    .map(|app| {
                        let cost = costs
                            .iter()
                            .find(|(id, _)| *id == app.id)
                            .and_then(|(_, c)| c.clone());
                        OverlapApp { app, cost }
                    })
                    .collect(),
            })
            .collect())
    }

    /// One page of [`Directory::saas_overlaps`]: at most `limit` categories after the
    /// category `after` (the previous page's `next`).
    pub async fn saas_overlaps_page(
        &self,
        actor: &Actor,
        tenant: TenantId,
        after: Option<String>,
        limit: u32,
    ) -> Result<Page<OverlapGroup>, DirectoryError> {
        check_limit(limit)?;
        let after = after
            .map(|a| {
                a.strip_prefix("c:")
                    .map(str::to_owned)
                    .ok_or_else(bad_token)
            })
            .transpose()?;
        let groups = self.saas_overlaps(actor, tenant).await?;
        let mut rest = groups.into_iter().filter(|g| {
            after
                .as_ref()
                .is_none_or(|a| g.category.to_lowercase() > *a)
        });
        let items: Vec<OverlapGroup> = rest.by_ref().take(limit as usize).collect();
        let next = match (rest.next(), items.last()) {
            (Some(_), Some(last)) => Some(format!("c:{}", last.category.to_lowercase())),
            _ => None,
        };
        Ok(Page { items, next })
    }

    /// The days before a cancellation deadline at which renewal alerts go out.
    pub async fn saas_renewal_offsets(
        &self,
        actor: &Actor,
        tenant: TenantId,
    ) -> Result<Vec<u32>, DirectoryError> {
        authorize(actor, Action::ReadSaasApps, &[])?;
        Ok(self
            .store
            .find_saas_renewal_offsets(tenant)
            .await?
            .unwrap_or_else(|| DEFAULT_RENEWAL_OFFSETS.to_vec()))
    }

    /// Sets the renewal alert offsets: 1 to 10 of them, each 1–730 days.
    pub async fn set_saas_renewal_offsets(
        &self,
        actor: &Actor,
        tenant: TenantId,
        mut offsets: Vec<u32>,
    ) -> Result<Vec<u32>, DirectoryError> {
        authorize(actor, Action::ManageSaasApps, &[])?;
        if offsets.is_empty() || offsets.len() > 10 {
            return Err(DirectoryError::invalid(
                "renewalAlertDays",
                "give from 1 to 10 offsets",
            ));
        }
        if let Some(bad) = offsets.iter().find(|o| !(1..=730).contains(*o)) {
            return Err(DirectoryError::invalid(
                "renewalAlertDays",
                format!("{bad} is not from 1 to 730 days"),
            ));
        }
        offsets.sort_unstable_by(|a, b| b.cmp(a));
        offsets.dedup();
        let events = self.events(Change {
            actor,
            tenant,
            category: "ApplicationManagement",
            activity: "Update SaaS renewal alerts",
            operation_type: "Update",
            target: None,
            other_target: None,
            details: vec![(
                "renewalAlertDays".into(),
                offsets
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            )],
            outbox_kind: "saas.renewalAlertsUpdated",
            payload: json!({ "renewalAlertDays": offsets }),
        });
        self.store
            .set_saas_renewal_offsets(tenant, &offsets, &events)
            .await?;
        Ok(offsets)
    }

    /// Contracts whose cancellation deadline is today or later, by deadline: the renewal
    /// calendar. At most `limit`.
    pub async fn upcoming_saas_renewals(
        &self,
        actor: &Actor,
        tenant: TenantId,
        limit: u32,
    ) -> Result<Vec<RenewalRow>, DirectoryError> {
        authorize(actor, Action::ReadSaasApps, &[])?;
        let mut out = self.renewal_calendar(tenant).await?;
        out.truncate(limit.clamp(1, 999) as usize);
        Ok(out)
    }

    /// One page of the renewal calendar (by cancellation deadline, then contract): at most
    /// `limit` contracts after `after` (the previous page's `next`).
    pub async fn upcoming_saas_renewals_page(
        &self,
        actor: &Actor,
        tenant: TenantId,
        after: Option<String>,
        limit: u32,
    ) -> Result<Page<RenewalRow>, DirectoryError> {
        authorize(actor, Action::ReadSaasApps, &[])?;
        check_limit(limit)?;
        let after = after
            .map(|a| {
                a.strip_prefix("d:")
                    .and_then(|r| r.split_once(' '))
                    .and_then(|(d, id)| {
                        Some((d.parse::<NaiveDate>().ok()?, id.parse::<uuid::Uuid>().ok()?))
                    })
                    .ok_or_else(bad_token)
            })
            .transpose()?;
        let all = self.renewal_calendar(tenant).await?;
        let mut rest = all.into_iter().filter(|r| {
            after.is_none_or(|a| (r.contract.cancellation_deadline(), r.contract.id) > a)
        });
        let items: Vec<RenewalRow> = rest.by_ref().take(limit as usize).collect();
        let next = match (rest.next(), items.last()) {
            (Some(_), Some(last)) => Some(format!(
                "d:{} {}",
                last.contract.cancellation_deadline(),
                last.contract.id
            )),
            _ => None,
        };
        Ok(Page { items, next })
    }

    /// Every contract whose cancellation deadline is today or later (at most 10,000 read),
    /// by deadline then id; read a page of contracts at a time, never per row.
    async fn renewal_calendar(&self, tenant: TenantId) -> Result<Vec<RenewalRow>, DirectoryError> {
        let today = self.today();
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let rows = self
                .store
                .list_saas_contracts_ending_from(tenant, today, after, RENEWAL_PAGE)
                .await?;
            let full = rows.len() == RENEWAL_PAGE as usize;
            after = rows.last().map(|r| r.contract.id);
            out.extend(
                rows.into_iter()
                    .filter(|r| r.contract.cancellation_deadline() >= today),
            );
            if !full || out.len() >= 10_000 {
                break;
            }
        }
        out.sort_by_key(|r| (r.contract.cancellation_deadline(), r.contract.id));
        Ok(out)
    }

    /// The enabled Global Administrators' addresses (`mail`, `otherMails`, else the UPN),
    /// each once: where a SaaS alert goes when its app has no owner with an address.
    async fn saas_admin_addresses(
        &self,
        tenant: TenantId,
    ) -> Result<Vec<MailAddress>, DirectoryError> {
        let admins = self
            .store
            .list_users(
                tenant,
                &UserQuery {
                    role: Some(DirectoryRole::GlobalAdministrator),
                    limit: 100,
                    ..Default::default()
                },
            )
            .await?;
        let mut to: Vec<MailAddress> = Vec::new();
        for admin in admins.items.iter().filter(|u| u.account_enabled) {
            for a in alert_addresses(admin) {
                if !to
                    .iter()
                    .any(|o| o.as_str().eq_ignore_ascii_case(a.as_str()))
                {
                    to.push(a);
                }
            }
        }
        Ok(to)
    }

    /// The enabled users among `ids`, with their alert addresses, in one query per 100.
    async fn saas_owner_addresses(
        &self,
        tenant: TenantId,
        ids: &[UserId],
    ) -> Result<Vec<(UserId, Vec<MailAddress>)>, DirectoryError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(100) {
            let page = self
                .store
                .list_users(
                    tenant,
                    &UserQuery {
                        filter: Some(Filter::In {
                            property: UserProperty::Id,
                            values: chunk.iter().map(|id| Literal::Id(*id)).collect(),
                        }),
                        limit: 999,
                        ..Default::default()
                    },
                )
                .await?;
            out.extend(
                page.items
                    .iter()
                    .filter(|u| u.account_enabled)
                    .map(|u| (u.id, alert_addresses(u))),
            );
        }
        Ok(out)
    }

    /// One renewal pass over a tenant at the directory's clock: for each contract whose
    /// alert day (cancellation deadline less an offset) has come and whose deadline has not
    /// passed, the alerts not yet sent are recorded and one message goes to the app's owner
    /// (else the Global Administrators) with a `saas.renewalDue` event for workflows. The
    /// store's unique (contract, offset) key makes each alert go once, however many passes
    /// or nodes run; offsets passed while no pass ran are recorded with the next one.
    ///
    /// A directory without the master key (an offline tool) cannot seal the message, so it
    /// refuses rather than record alerts that no one would receive: they stay due for the
    /// server's next pass.
    pub async fn saas_renewal_pass(&self, tenant: TenantId) -> Result<RenewalPass, DirectoryError> {
        if self.master.is_none() {
            return Err(DirectoryError::Conflict(
                "renewal alerts need the master key to seal their mail; `latchkey serve` sends them"
                    .into(),
            ));
        }
        let actor = Actor::Operator {
            channel: Channel::Workflow,
        };
        let offsets = self
            .store
            .find_saas_renewal_offsets(tenant)
            .await?
            .unwrap_or_else(|| DEFAULT_RENEWAL_OFFSETS.to_vec());
        let today = self.today();
        let mut pass = RenewalPass::default();
        let mut after = None;
        let mut tenant_record = None;
        // Read once a pass when an alert needs them.
        let mut admins: Option<Vec<MailAddress>> = None;
        loop {
            let rows = self
                .store
                .list_saas_contracts_ending_from(tenant, today, after, RENEWAL_PAGE)
                .await?;
            let full = rows.len() == RENEWAL_PAGE as usize;
            after = rows.last().map(|r| r.contract.id);
            // The owners of this page's due contracts, in one query (not one per contract).
            let mut owner_ids: Vec<UserId> = rows
                .iter()
                .filter(|r| {
                    !due_offsets(r.contract.cancellation_deadline(), today, &offsets).is_empty()
                })
                .filter_map(|r| r.app_owner)
                .collect();
            owner_ids.sort_unstable();
            owner_ids.dedup();
            let owners = self.saas_owner_addresses(tenant, &owner_ids).await?;
            for row in rows {
                pass.contracts_read += 1;
                let c = &row.contract;
                let deadline = c.cancellation_deadline();
                let due = due_offsets(deadline, today, &offsets);
                let Some(&nearest) = due.last() else {
                    continue;
                };
                let days_left = (deadline - today).num_days();
                let mut events: Events = self.events(Change {
                    actor: &actor,
                    tenant,
                    category: "ApplicationManagement",
                    activity: "Send SaaS renewal alert",
                    operation_type: "Other",
                    target: None,
                    other_target: Some((c.app_id.to_string(), row.app_name.clone())),
                    details: vec![
                        ("contractId".into(), c.id.to_string()),
                        ("cancellationDeadline".into(), deadline.to_string()),
                        ("offsetDays".into(), nearest.to_string()),
                    ],
                    outbox_kind: "saas.renewalDue",
                    payload: json!({
                        "appId": c.app_id.to_string(),
                        "appName": row.app_name,
                        "contractId": c.id.to_string(),
                        "endDate": c.end.to_string(),
                        "cancellationDeadline": deadline.to_string(),
                        "autoRenew": c.auto_renew,
                        "offsetDays": nearest,
                        "daysLeft": days_left,
                    }),
                });
                {
                    let owned = row
                        .app_owner
                        .and_then(|o| owners.iter().find(|(id, _)| *id == o))
                        .map(|(_, a)| a.clone())
                        .filter(|a| !a.is_empty());
                    let to = match owned {
                        Some(a) => a,
                        None => {
                            if admins.is_none() {
                                admins = Some(self.saas_admin_addresses(tenant).await?);
                            }
                            admins.clone().unwrap_or_default()
                        }
                    };
                    if !to.is_empty() {
                        if tenant_record.is_none() {
                            tenant_record = Some(self.tenant(tenant).await?);
                        }
                        if let Some(t) = &tenant_record {
                            let mail = self.seal_mail(
                                t,
                                to,
                                &MailContent::SaasNotice {
                                    subject: format!(
                                        "{}: cancel by {deadline} ({days_left} days left)",
                                        row.app_name
                                    ),
                                    paragraphs: vec![
                                        format!(
                                            "The {} contract ends on {}{}. Its notice period is {} days, so the last day to cancel is {deadline}: {days_left} days from today.",
                                            row.app_name,
                                            c.end,
                                            if c.auto_renew {
                                                " and renews itself unless cancelled"
                                            } else {
                                                ""
                                            },
                                            c.notice_days
                                        ),
                                        format!(
                                            "It costs {} {} per {} period.",
                                            format_amount(c.cost_minor, c.exponent),
                                            c.currency,
                                            c.billing_period.as_str()
                                        ),
                                    ],
                                },
                            )?;
                            events.mail.push(mail);
                        }
                    }
                }
                if self
                    .store
                    .claim_saas_renewal_alert(c.id, deadline, &due, self.clock.now(), &events)
                    .await?
                {
                    pass.alerts_sent += 1;
                    self.mail_queued(&events);
                }
            }
            if !full {
                break;
            }
        }
        Ok(pass)
    }

    /// Renewal passes over every tenant (what `latchkey serve` runs hourly); a tenant's
    /// failure is logged and the others go on.
    pub async fn saas_renewal_pass_all(&self) -> Result<RenewalPass, DirectoryError> {
        let mut total = RenewalPass::default();
        for tenant in self.list_tenants().await? {
            match self.saas_renewal_pass(tenant.id).await {
                Ok(p) => {
                    total.contracts_read += p.contracts_read;
                    total.alerts_sent += p.alerts_sent;
                }
                Err(e) => {
                    tracing::warn!(tenant = %tenant.id, error = %e, "SaaS renewal pass failed");
                }
            }
        }
        Ok(total)
    }

    /// Adds an app entered by hand (evidence `manual`), with its first contract if given;
    /// a name already in the inventory, an unknown owner or a bad contract is refused by
    /// field and nothing is written.
    pub async fn add_saas_app(
        &self,
        actor: &Actor,
        tenant: TenantId,
        new: NewSaasApp,
    ) -> Result<(SaasApp, Option<SaasContract>), DirectoryError> {
        authorize(actor, Action::ManageSaasApps, &[])?;
        let name = new.name.split_whitespace().collect::<Vec<_>>().join(" ");
        if name.is_empty() || name.chars().count() > 256 {
            return Err(DirectoryError::invalid(
                "displayName",
                "the name must be 1 to 256 characters",
            ));
        }
        let clean =
            |v: Option<String>, field: &'static str| -> Result<Option<String>, DirectoryError> {
                match v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()) {
                    Some(s) if s.chars().count() > 256 => {
                        Err(DirectoryError::invalid(field, "at most 256 characters"))
                    }
                    other => Ok(other),
                }
            };
        let vendor = clean(new.vendor, "vendor")?;
        let category = clean(new.category, "category")?;
        let owner = match &new.owner {
            None => None,
            Some(r) => Some(self.active_user(tenant, r).await.map_err(|e| match e {
                DirectoryError::NotFound { .. } => {
                    DirectoryError::invalid("owner", format!("no active user '{r}' in this tenant"))
                }
                other => other,
            })?),
        };
        let state = new.state.unwrap_or(SaasAppState::Discovered);
        let now = self.clock.now();
        let id = SaasAppId::new();
        let contract = match new.contract {
            Some(c) => Some(
                c.validate(tenant, id, now)
                    .map_err(|(property, message)| DirectoryError::invalid(property, message))?,
            ),
            None => None,
        };
        let app = SaasApp {
            id,
            tenant_id: tenant,
            name: name.clone(),
            vendor,
            category,
            catalogue_key: None,
            owner: owner.as_ref().map(|u| u.id),
            state,
            latchkey_app_id: None,
            permissions: vec![],
            user_count: 0,
            created: now,
            updated: now,
            version: 1,
        };
        let events = self.events(Change {
            actor,
            tenant,
            category: "ApplicationManagement",
            activity: "Add SaaS app",
            operation_type: "Add",
            target: None,
            other_target: Some((id.to_string(), name.clone())),
            details: vec![
                ("state".into(), state.as_str().into()),
                ("source".into(), "manual".into()),
            ],
            outbox_kind: "saas.appAdded",
            payload: json!({
                "id": id.to_string(),
                "name": name,
                "category": app.category,
                "state": state.as_str(),
                "source": "manual",
                "contractId": contract.as_ref().map(|c| c.id.to_string()),
            }),
        });
        let seen_by = crate::audit::Initiator::of(actor).display;
        self.store
            .insert_manual_saas_app(&app, contract.as_ref(), &seen_by, &events)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => DirectoryError::invalid(
                    "displayName",
                    format!("an app named '{name}' is already in the inventory"),
                ),
                other => other.into(),
            })?;
        Ok((app, contract))
    }
}
