//! Licences: the SKUs a tenant defines (Graph's `subscribedSku`: a product with a number of
//! seats bought and the service plans it contains) and the licences assigned to users
//! (Graph's `assignedLicense`: a SKU with some of its plans disabled).
//!
//! A seat is held by every assignment of the SKU, including those of users in the recycle
//! bin (Entra keeps a deleted user's licences so that a restore brings them back); it is
//! freed when the licence is removed or the user is deleted for good.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::DirectoryError;
use crate::ids::{SkuId, TenantId};

/// Most seats a SKU can have; far beyond any directory Latchkey serves, and within `i64`.
pub const MAX_SEATS: u32 = 1_000_000;
/// Most service plans in one SKU.
pub const MAX_SERVICE_PLANS: usize = 100;

/// One service plan of a SKU (Graph's `servicePlanInfo`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServicePlan {
    pub id: Uuid,
    /// Graph's `servicePlanName`, e.g. `EXCHANGE_S_ENTERPRISE`.
    pub name: String,
}

/// A tenant-defined SKU (Graph's `subscribedSku`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sku {
    pub tenant_id: TenantId,
    pub sku_id: SkuId,
    /// Graph's `skuPartNumber`, e.g. `ENTERPRISEPACK`; unique in the tenant, any case.
    pub sku_part_number: String,
    /// Seats bought (Graph's `prepaidUnits.enabled`).
    pub seats: u32,
    pub service_plans: Vec<ServicePlan>,
    pub created: DateTime<Utc>,
}

impl Sku {
    /// Graph's `subscribedSku.id`: the tenant id and the SKU id joined by `_`.
    pub fn graph_id(&self) -> String {
        format!("{}_{}", self.tenant_id, self.sku_id)
    }

    pub fn plan(&self, id: Uuid) -> Option<&ServicePlan> {
        self.service_plans.iter().find(|p| p.id == id)
    }
}

/// A SKU with the number of seats its assignments hold (Graph's `consumedUnits`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkuUsage {
    pub sku: Sku,
    pub consumed: u64,
}

/// A licence assigned to a user (Graph's `assignedLicense`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignedLicense {
    pub sku_id: SkuId,
    /// Service plans of the SKU the user does not get.
    pub disabled_plans: Vec<Uuid>,
}

/// What a channel asks of `assignLicense`: licences to add (or to update, for a SKU the user
/// already has: its disabled plans are replaced) and SKUs to remove.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LicenseChange {
    pub add: Vec<AssignedLicense>,
    pub remove: Vec<SkuId>,
}

/// A new SKU as a channel asks for it; checked by [`NewSku::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSku {
    /// Chosen by the caller (to match a real Microsoft SKU) or generated.
    pub sku_id: Option<SkuId>,
    pub sku_part_number: String,
    pub seats: u32,
    /// Service plan names; their ids are generated.
    pub service_plans: Vec<String>,
}

/// A SKU part number or service plan name: 1–64 characters of letters, digits, `_`, `-`, `.`.
fn check_code(property: &str, value: &str) -> Result<String, DirectoryError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > 64 {
        return Err(DirectoryError::invalid(
            property,
            "must be 1 to 64 characters long",
        ));
    }
    if !v
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(DirectoryError::invalid(
            property,
            "may contain only letters, digits, '_', '-' and '.'",
        ));
    }
    Ok(v.to_owned())
}

impl NewSku {
    /// The SKU to store, or the first rule it breaks.
    pub fn validate(self, tenant_id: TenantId, now: DateTime<Utc>) -> Result<Sku, DirectoryError> {
        let sku_part_number = check_code("skuPartNumber", &self.sku_part_number)?;
        if self.seats > MAX_SEATS {
            return Err(DirectoryError::invalid(
                "prepaidUnits",
                format!("a SKU has at most {MAX_SEATS} seats"),
            ));
        }
        if self.service_plans.len() > MAX_SERVICE_PLANS {
            return Err(DirectoryError::invalid(
                "servicePlans",
                format!("a SKU has at most {MAX_SERVICE_PLANS} service plans"),
            ));
        }
        let mut service_plans: Vec<ServicePlan> = Vec::new();
        for name in &self.service_plans {
            let name = check_code("servicePlanName", name)?;
            if service_plans
                .iter()
                .any(|p| p.name.eq_ignore_ascii_case(&name))
            {
                return Err(DirectoryError::invalid(
                    "servicePlanName",
                    format!("'{name}' is named twice"),
                ));
            }
            service_plans.push(ServicePlan {
                id: Uuid::new_v4(),
                name,
            });
        }
        Ok(Sku {
            tenant_id,
            sku_id: self.sku_id.unwrap_or_default(),
            sku_part_number,
            seats: self.seats,
            service_plans,
            created: now,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_sku(part: &str, plans: &[&str]) -> NewSku {
        NewSku {
            sku_id: None,
            sku_part_number: part.into(),
            seats: 25,
            service_plans: plans.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    #[test]
    fn a_sku_gets_an_id_and_ids_for_its_plans() {
        let sku = new_sku("ENTERPRISEPACK", &["EXCHANGE_S_ENTERPRISE", "TEAMS1"])
            .validate(TenantId::new(), Utc::now())
            .unwrap();
        assert_eq!(sku.sku_part_number, "ENTERPRISEPACK");
        assert_eq!(sku.service_plans.len(), 2);
        assert_ne!(sku.service_plans[0].id, sku.service_plans[1].id);
        assert!(sku.graph_id().ends_with(&sku.sku_id.to_string()));
    }

    #[test]
    fn bad_part_numbers_and_repeated_plans_are_refused_naming_the_property() {
        for bad in ["", "E3 plus", "E3;DROP", &"X".repeat(65)] {
            let e = new_sku(bad, &[])
                .validate(TenantId::new(), Utc::now())
                .unwrap_err();
            assert!(e.to_string().starts_with("skuPartNumber"), "{e}");
        }
        let e = new_sku("E3", &["TEAMS1", "teams1"])
            .validate(TenantId::new(), Utc::now())
            .unwrap_err();
        assert!(e.to_string().contains("named twice"), "{e}");
        let mut many = new_sku("E3", &[]);
        many.seats = MAX_SEATS + 1;
        assert!(many.validate(TenantId::new(), Utc::now()).is_err());
    }
}
