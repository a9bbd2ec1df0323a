//! Licences: defining the tenant's SKUs, reading them with their seats, and assigning or
//! removing a user's licences (Graph's `assignLicense`). Seats are enforced by the store in
//! the same transaction as the assignment.

use std::collections::{HashMap, HashSet};

use serde_json::json;

use super::{Change, Directory, UserRef};
use crate::audit::Events;
use crate::authz::{Action, Actor, authorize};
use crate::error::DirectoryError;
use crate::ids::{SkuId, TenantId, UserId};
use crate::license::{AssignedLicense, LicenseChange, NewSku, Sku, SkuUsage};
use crate::store::{LicenseWrite, StoreError};
use crate::user::User;

/// Graph's message when a user without a usage location is given a licence.
pub const NO_USAGE_LOCATION: &str = "License assignment cannot be done for user with invalid usage location (usageLocation is not set).";

/// Most licences one `assignLicense` call may add or remove.
const MAX_CHANGES: usize = 100;

/// A user's licence with its SKU, for Graph's `licenseDetails`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseDetail {
    pub license: AssignedLicense,
    pub sku: Sku,
}

impl Directory {
    /// Defines a SKU with its seats and service plans (tenant administration).
    pub async fn create_sku(
        &self,
        actor: &Actor,
        tenant: TenantId,
        new: NewSku,
    ) -> Result<Sku, DirectoryError> {
        authorize(actor, Action::ManageTenant, &[])?;
        let sku = new.validate(tenant, self.clock.now())?;
        let events = self.events(Change {
            actor,
            tenant,
            category: "DirectoryManagement",
            activity: "Add subscribed SKU",
            operation_type: "Add",
            target: None,
            other_target: Some((sku.sku_id.to_string(), sku.sku_part_number.clone())),
            details: vec![
                ("SkuPartNumber".into(), sku.sku_part_number.clone()),
                ("PrepaidUnits".into(), sku.seats.to_string()),
            ],
            outbox_kind: "sku.created",
            payload: json!({
                "skuId": sku.sku_id.to_string(),
                "skuPartNumber": sku.sku_part_number,
                "seats": sku.seats,
            }),
        });
        self.store
            .insert_sku(&sku, &events)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => DirectoryError::Conflict(format!(
                    "A SKU with the id {} or the part number '{}' already exists in this tenant.",
                    sku.sku_id, sku.sku_part_number
                )),
                other => other.into(),
            })?;
        Ok(sku)
    }

    /// Changes how many seats of a SKU were bought (more bought, or some given back): never
    /// below the seats its assignments hold, which refuses naming `seats` and changes
    /// nothing. The SKU is named by its id or its part number (any case).
    pub async fn set_sku_seats(
        &self,
        actor: &Actor,
        tenant: TenantId,
        sku: &str,
        seats: u32,
    ) -> Result<SkuUsage, DirectoryError> {
        authorize(actor, Action::ManageTenant, &[])?;
        if seats > crate::license::MAX_SEATS {
            return Err(DirectoryError::invalid(
                "seats",
                format!("must be at most {}", crate::license::MAX_SEATS),
            ));
        }
        let wanted = sku.trim();
        let skus = self.store.list_skus(tenant).await?;
        let current = super::find_sku(&skus, wanted)
            .ok_or_else(|| DirectoryError::not_found(format!("SKU '{wanted}'")))?;
        let id = current.sku_id;
        let part = current.sku_part_number.clone();
        let events = self.events(Change {
            actor,
            tenant,
            category: "DirectoryManagement",
            activity: "Update subscribed SKU",
            operation_type: "Update",
            target: None,
            other_target: Some((id.to_string(), part.clone())),
            details: vec![
                ("SkuPartNumber".into(), part.clone()),
                ("PrepaidUnits".into(), seats.to_string()),
            ],
            outbox_kind: "sku.updated",
            payload: json!({ "skuId": id.to_string(), "skuPartNumber": part, "seats": seats }),
        });
        match self.store.set_sku_seats(tenant, id, seats, &events).await {
            Ok(_) => {}
            Err(StoreError::SeatsExhausted(_)) => {
                return Err(DirectoryError::invalid(
                    "seats",
                    format!("{part} has more seats assigned than {seats}: remove licences first"),
                ));
            }
            Err(StoreError::NotFound) => {
                return Err(DirectoryError::not_found(format!("SKU '{wanted}'")));
            }
            Err(e) => return Err(e.into()),
        }
        self.store
            .list_skus(tenant)
            .await?
            .into_iter()
            .find(|u| u.sku.sku_id == id)
            .ok_or_else(|| DirectoryError::not_found(format!("SKU '{wanted}'")))
    }

    /// The tenant's SKUs with the seats their assignments hold (Graph's `subscribedSkus`).
    pub async fn list_skus(
        &self,
        actor: &Actor,
        tenant: TenantId,
    ) -> Result<Vec<SkuUsage>, DirectoryError> {
        authorize(actor, Action::ReadLicenses, &[])?;
        Ok(self.store.list_skus(tenant).await?)
    }

    /// The licences of a page of users, in one store call (Graph's `assignedLicenses` in
    /// `$select`). Users without licences are absent from the map.
    pub async fn licenses_of(
        &self,
        actor: &Actor,
        tenant: TenantId,
        users: &[UserId],
    ) -> Result<HashMap<UserId, Vec<AssignedLicense>>, DirectoryError> {
        if let Err(denied) = authorize(actor, Action::ReadUsers, &[]) {
            // Whoever may read themselves (`User.Read`, `/me`) may read their own licences.
            let me = crate::authz::may_read_self(actor).map_err(|_| denied.clone())?;
            if users.iter().any(|u| *u != me) {
                return Err(denied.into());
            }
        }
        let mut out: HashMap<UserId, Vec<AssignedLicense>> = HashMap::new();
        if users.is_empty() {
            return Ok(out);
        }
        for (user, license) in self.store.list_user_licenses(tenant, users).await? {
            out.entry(user).or_default().push(license);
        }
        Ok(out)
    }

    /// A user's licences with their SKUs (Graph's `licenseDetails`).
    pub async fn license_details(
        &self,
        actor: &Actor,
        tenant: TenantId,
        user: &UserRef,
    ) -> Result<Vec<LicenseDetail>, DirectoryError> {
        // Whoever may read themselves (`User.Read`, `/me`) may read their own licences; any
        // other user stays hidden behind the refusal, existing or not.
        let user = match authorize(actor, Action::ReadUsers, &[]) {
            Ok(()) => self.active_user(tenant, user).await?,
            Err(denied) => {
                let me = crate::authz::may_read_self(actor).map_err(|_| denied.clone())?;
                match self.active_user(tenant, user).await {
                    Ok(found) if found.id == me => found,
                    _ => return Err(denied.into()),
                }
            }
        };
        let licenses = self.store.list_user_licenses(tenant, &[user.id]).await?;
        let skus: HashMap<SkuId, Sku> = self
            .store
            .list_skus(tenant)
            .await?
            .into_iter()
            .map(|u| (u.sku.sku_id, u.sku))
            .collect();
        licenses
            .into_iter()
            .map(|(_, license)| {
                let sku = skus.get(&license.sku_id).cloned().ok_or_else(|| {
                    DirectoryError::Internal(format!(
                        "licence of unknown SKU {} on user {}",
                        license.sku_id, user.id
                    ))
                })?;
                Ok(LicenseDetail { license, sku })
            })
            .collect()
    }

    /// Adds and removes a user's licences (Graph's `assignLicense`), all or nothing, and
    /// returns the user. Each SKU added or removed is audited (`Change user license`) and
    /// announced to the automation engine (`user.licenseAssigned` / `user.licenseRemoved`).
    pub async fn assign_licenses(
        &self,
        actor: &Actor,
        tenant: TenantId,
        user: &UserRef,
        change: LicenseChange,
    ) -> Result<User, DirectoryError> {
        authorize(actor, Action::AssignLicenses, &[])?;
        let user = self.active_user(tenant, user).await?;
        let skus: HashMap<SkuId, Sku> = self
            .store
            .list_skus(tenant)
            .await?
            .into_iter()
            .map(|u| (u.sku.sku_id, u.sku))
            .collect();
        let held: HashSet<SkuId> = self
            .store
            .list_user_licenses(tenant, &[user.id])
            .await?
            .into_iter()
            .map(|(_, l)| l.sku_id)
            .collect();
        let change = check_change(change, &skus, &held)?;
        if !change.add.is_empty() && user.profile.usage_location.is_none() {
            return Err(DirectoryError::invalid("usageLocation", NO_USAGE_LOCATION));
        }
        let mut events: Vec<Events> = Vec::new();
        for license in &change.add {
            let sku = &skus[&license.sku_id];
            let disabled: Vec<String> = license
                .disabled_plans
                .iter()
                .filter_map(|id| sku.plan(*id).map(|p| p.name.clone()))
                .collect();
            events.push(self.events(Change {
                actor,
                tenant,
                category: "UserManagement",
                activity: "Change user license",
                operation_type: "Assign",
                target: Some(&user),
                other_target: None,
                details: vec![
                    ("SkuId".into(), sku.sku_id.to_string()),
                    ("SkuPartNumber".into(), sku.sku_part_number.clone()),
                    ("DisabledPlans".into(), disabled.join(", ")),
                ],
                outbox_kind: "user.licenseAssigned",
                payload: json!({
                    "skuId": sku.sku_id.to_string(),
                    "skuPartNumber": sku.sku_part_number,
                    "disabledPlans": license.disabled_plans.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "update": held.contains(&sku.sku_id),
                }),
            }));
        }
        for sku_id in &change.remove {
            let sku = &skus[sku_id];
            events.push(self.events(Change {
                actor,
                tenant,
                category: "UserManagement",
                activity: "Change user license",
                operation_type: "Unassign",
                target: Some(&user),
                other_target: None,
                details: vec![
                    ("SkuId".into(), sku.sku_id.to_string()),
                    ("SkuPartNumber".into(), sku.sku_part_number.clone()),
                ],
                outbox_kind: "user.licenseRemoved",
                payload: json!({
                    "skuId": sku.sku_id.to_string(),
                    "skuPartNumber": sku.sku_part_number,
                }),
            }));
        }
        let write = LicenseWrite {
            tenant_id: tenant,
            user_id: user.id,
            expected_version: user.version,
            add: change.add,
            remove: change.remove,
            at: self.clock.now(),
        };
        self.store
            .write_user_licenses(&write, &events)
            .await
            .map_err(|e| match e {
                StoreError::SeatsExhausted(sku) => DirectoryError::Conflict(format!(
                    "Subscription with SKU {sku} does not have any available licenses."
                )),
                other => other.into(),
            })?;
        self.active_user(tenant, &UserRef::Id(user.id)).await
    }
}

/// Checks a change against the tenant's SKUs and the user's licences: every SKU known, each
/// named once, plans of their SKU, removals of licences the user holds.
fn check_change(
    change: LicenseChange,
    skus: &HashMap<SkuId, Sku>,
    held: &HashSet<SkuId>,
) -> Result<LicenseChange, DirectoryError> {
    if change.add.is_empty() && change.remove.is_empty() {
        return Err(DirectoryError::invalid(
            "addLicenses",
            "name at least one licence in addLicenses or removeLicenses",
        ));
    }
    if change.add.len() + change.remove.len() > MAX_CHANGES {
        return Err(DirectoryError::invalid(
            "addLicenses",
            format!("at most {MAX_CHANGES} licences can be changed at once"),
        ));
    }
    let mut seen: HashSet<SkuId> = HashSet::new();
    let mut add = Vec::with_capacity(change.add.len());
    for mut license in change.add {
        let sku = skus.get(&license.sku_id).ok_or_else(|| {
            DirectoryError::invalid(
                "addLicenses",
                format!(
                    "License {} does not correspond to a valid company License.",
                    license.sku_id
                ),
            )
        })?;
        if !seen.insert(license.sku_id) {
            return Err(DirectoryError::invalid(
                "addLicenses",
                format!("the SKU {} is named more than once", license.sku_id),
            ));
        }
        license.disabled_plans.sort();
        license.disabled_plans.dedup();
        if let Some(plan) = license
            .disabled_plans
            .iter()
            .find(|p| sku.plan(**p).is_none())
        {
            return Err(DirectoryError::invalid(
                "disabledPlans",
                format!(
                    "the service plan {plan} is not part of the SKU {} ({})",
                    sku.sku_id, sku.sku_part_number
                ),
            ));
        }
        add.push(license);
    }
    let mut remove = Vec::with_capacity(change.remove.len());
    for sku_id in change.remove {
        if !skus.contains_key(&sku_id) {
            return Err(DirectoryError::invalid(
                "removeLicenses",
                format!("License {sku_id} does not correspond to a valid company License."),
            ));
        }
        if !seen.insert(sku_id) {
            return Err(DirectoryError::invalid(
                "removeLicenses",
                format!(
                    "the SKU {sku_id} is named more than once in addLicenses and removeLicenses"
                ),
            ));
        }
        if !held.contains(&sku_id) {
            return Err(DirectoryError::invalid(
                "removeLicenses",
                format!("User does not have a corresponding license for the SKU {sku_id}."),
            ));
        }
        remove.push(sku_id);
    }
    // A fixed order, so that concurrent writers lock SKUs in the same order.
    add.sort_by_key(|l| l.sku_id);
    remove.sort();
    Ok(LicenseChange { add, remove })
}
