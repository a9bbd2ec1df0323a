//! `latchkey tenant …`: tenant-wide settings, directly in the store, as the local operator.

use serde_json::json;

use super::{CliResult, open_directory, resolve_tenant};
use crate::cli::{OnOff, SelfServiceResetFor, TenantCommand};
use crate::output;
use latchkey_core::sspr::SelfServiceResetScope;

const OPERATOR: latchkey_core::authz::Actor = latchkey_core::authz::Actor::Operator {
    channel: latchkey_core::authz::Channel::Cli,
};

pub async fn run(cmd: TenantCommand) -> CliResult {
    match cmd {
        TenantCommand::RequireMfaForAdmins(a) => {
            let directory = open_directory(&a.tenant.store).await?;
            let tenant = resolve_tenant(&directory, a.tenant.tenant.as_deref()).await?;
            let require = a.setting == OnOff::On;
            directory
                .set_require_mfa_for_admins(&OPERATOR, tenant.id, require)
                .await?;
            if a.tenant.json {
                println!(
                    "{}",
                    json!({ "tenantId": tenant.id.to_string(), "requireMfaForAdmins": require })
                );
            } else if require {
                println!(
                    "Users holding a directory role in {} now sign in with an authenticator app; those without one register it at their next sign-in.",
                    tenant.display_name
                );
            } else {
                println!(
                    "A second factor is no longer required of administrators in {}.",
                    tenant.display_name
                );
            }
        }
        TenantCommand::SelfServiceReset(a) => {
            let directory = open_directory(&a.tenant.store).await?;
            let tenant = resolve_tenant(&directory, a.tenant.tenant.as_deref()).await?;
            let mut policy = tenant.password_policy.clone();
            let mut setting = policy.self_service_reset;
            if let Some(to) = a.enabled_for {
                setting.enabled_for = match to {
                    SelfServiceResetFor::All => SelfServiceResetScope::All,
                    SelfServiceResetFor::None => SelfServiceResetScope::None,
                };
            }
            if let Some(n) = a.methods_required {
                setting.methods_required = n;
            }
            if setting != policy.self_service_reset {
                policy.self_service_reset = setting;
                directory
                    .update_password_policy(&OPERATOR, tenant.id, policy)
                    .await?;
            }
            let enabled_for = match setting.enabled_for {
                SelfServiceResetScope::All => "all",
                SelfServiceResetScope::None => "none",
            };
            if a.tenant.json {
                output::json(&json!({
                    "enabledFor": enabled_for,
                    "methodsRequired": setting.methods_required,
                }));
            } else {
                output::fields(&[
                    ("Enabled for", enabled_for.to_owned()),
                    ("Methods required", setting.methods_required.to_string()),
                ]);
            }
        }
    }
    Ok(())
}
