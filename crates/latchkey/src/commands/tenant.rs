//! `latchkey tenant …`: tenant-wide settings, straight on the store, as the local operator.

use latchkey_core::authz::{Actor, Channel};
use latchkey_core::sspr::SelfServiceResetScope;
use serde_json::json;

use super::{CliResult, open_directory, resolve_tenant};
use crate::cli::{SelfServiceResetFor, TenantCommand};
use crate::output;

const OPERATOR: Actor = Actor::Operator {
    channel: Channel::Cli,
};

pub async fn run(cmd: TenantCommand) -> CliResult {
    match cmd {
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
