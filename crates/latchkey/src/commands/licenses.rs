//! `latchkey licenses …` and `latchkey users assign-license|remove-license`: offline licence
//! administration through the same directory operations as Graph's `subscribedSkus` and
//! `assignLicense`, as the local operator.

use latchkey_core::Directory;
use latchkey_core::directory::{ProfileField, UserChanges, UserRef};
use latchkey_core::ids::TenantId;
use latchkey_core::license::{AssignedLicense, LicenseChange, NewSku, Sku};
use serde_json::json;

use super::users::{OPERATOR, open};
use super::{CliError, CliResult};
use crate::cli::{LicensesCommand, UsersAssignLicenseArgs, UsersRemoveLicenseArgs};
use crate::output;

pub async fn run(cmd: LicensesCommand) -> CliResult {
    match cmd {
        LicensesCommand::Create(a) => {
            let (directory, tenant) = open(&a.tenant).await?;
            let sku_id = a
                .sku_id
                .as_deref()
                .map(|s| {
                    s.parse()
                        .map_err(|_| CliError(format!("--sku-id '{s}' is not a GUID")))
                })
                .transpose()?;
            let sku = directory
                .create_sku(
                    &OPERATOR,
                    tenant,
                    NewSku {
                        sku_id,
                        sku_part_number: a.sku_part_number.clone(),
                        seats: a.seats,
                        service_plans: a.service_plans.clone(),
                    },
                )
                .await?;
            if a.tenant.json {
                output::json(&sku_json(&sku, 0));
            } else {
                output::fields(&[
                    ("Created", sku.sku_part_number.clone()),
                    ("SkuId", sku.sku_id.to_string()),
                    ("Seats", sku.seats.to_string()),
                    (
                        "Service plans",
                        sku.service_plans
                            .iter()
                            .map(|p| p.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    ),
                ]);
            }
        }
        LicensesCommand::List(a) => {
            let (directory, tenant) = open(&a).await?;
            let skus = directory.list_skus(&OPERATOR, tenant).await?;
            if a.json {
                output::json(&json!({
                    "value": skus.iter().map(|u| sku_json(&u.sku, u.consumed)).collect::<Vec<_>>(),
                }));
            } else {
                let rows: Vec<Vec<String>> = skus
                    .iter()
                    .map(|u| {
                        vec![
                            u.sku.sku_part_number.clone(),
                            format!("{}/{}", u.consumed, u.sku.seats),
                            u.sku.service_plans.len().to_string(),
                            u.sku.sku_id.to_string(),
                        ]
                    })
                    .collect();
                output::table(&["SKU", "SEATS USED", "PLANS", "SKU ID"], &rows);
            }
        }
        LicensesCommand::SetSeats(a) => {
            let (directory, tenant) = open(&a.tenant).await?;
            let u = directory
                .set_sku_seats(&OPERATOR, tenant, &a.sku, a.seats)
                .await?;
            if a.tenant.json {
                output::json(&sku_json(&u.sku, u.consumed));
            } else {
                output::fields(&[
                    ("Updated", u.sku.sku_part_number.clone()),
                    ("Seats", format!("{} used of {}", u.consumed, u.sku.seats)),
                ]);
            }
        }
    }
    Ok(())
}

fn sku_json(sku: &Sku, consumed: u64) -> serde_json::Value {
    json!({
        "skuId": sku.sku_id.to_string(),
        "skuPartNumber": sku.sku_part_number,
        "prepaidUnits": { "enabled": sku.seats },
        "consumedUnits": consumed,
        "servicePlans": sku.service_plans.iter().map(|p| json!({
            "servicePlanId": p.id.to_string(),
            "servicePlanName": p.name,
        })).collect::<Vec<_>>(),
    })
}

/// The SKU named by part number (any case) or id.
pub(super) async fn find_sku(
    directory: &Directory,
    tenant: TenantId,
    name: &str,
) -> CliResult<Sku> {
    let skus = directory.list_skus(&OPERATOR, tenant).await?;
    skus.into_iter()
        .map(|u| u.sku)
        .find(|s| s.sku_part_number.eq_ignore_ascii_case(name) || s.sku_id.to_string() == name)
        .ok_or_else(|| {
            CliError(format!(
                "no SKU '{name}' in this tenant: see `latchkey licenses list`"
            ))
        })
}

pub async fn assign(a: UsersAssignLicenseArgs) -> CliResult {
    let (directory, tenant) = open(&a.tenant).await?;
    let user = UserRef::parse(&a.user)?;
    let sku = find_sku(&directory, tenant, &a.sku).await?;
    let disabled_plans = a
        .disabled_plans
        .iter()
        .map(|p| {
            sku.service_plans
                .iter()
                .find(|plan| plan.name.eq_ignore_ascii_case(p) || plan.id.to_string() == *p)
                .map(|plan| plan.id)
                .ok_or_else(|| {
                    CliError(format!(
                        "the SKU {} has no service plan '{p}'",
                        sku.sku_part_number
                    ))
                })
        })
        .collect::<CliResult<Vec<_>>>()?;
    if let Some(location) = &a.usage_location {
        directory
            .update_user(
                &OPERATOR,
                tenant,
                &user,
                UserChanges {
                    text: vec![(ProfileField::UsageLocation, Some(location.clone()))],
                    ..UserChanges::default()
                },
            )
            .await?;
    }
    let updated = directory
        .assign_licenses(
            &OPERATOR,
            tenant,
            &user,
            LicenseChange {
                add: vec![AssignedLicense {
                    sku_id: sku.sku_id,
                    disabled_plans,
                }],
                remove: vec![],
            },
        )
        .await?;
    if a.tenant.json {
        output::json(&json!({
            "id": updated.id.to_string(),
            "userPrincipalName": updated.user_principal_name.as_str(),
            "assigned": sku.sku_id.to_string(),
        }));
    } else {
        println!(
            "Assigned {} to {}.",
            sku.sku_part_number, updated.user_principal_name
        );
    }
    Ok(())
}

pub async fn remove(a: UsersRemoveLicenseArgs) -> CliResult {
    let (directory, tenant) = open(&a.tenant).await?;
    let user = UserRef::parse(&a.user)?;
    let sku = find_sku(&directory, tenant, &a.sku).await?;
    let updated = directory
        .assign_licenses(
            &OPERATOR,
            tenant,
            &user,
            LicenseChange {
                add: vec![],
                remove: vec![sku.sku_id],
            },
        )
        .await?;
    if a.tenant.json {
        output::json(&json!({
            "id": updated.id.to_string(),
            "userPrincipalName": updated.user_principal_name.as_str(),
            "removed": sku.sku_id.to_string(),
        }));
    } else {
        println!(
            "Removed {} from {}.",
            sku.sku_part_number, updated.user_principal_name
        );
    }
    Ok(())
}
