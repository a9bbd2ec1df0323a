//! `latchkey tenant …`: tenant-wide settings, directly in the store, as the local operator.

use serde_json::json;

use super::{CliResult, open_directory, resolve_tenant};
use crate::cli::{OnOff, TenantCommand};

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
    }
    Ok(())
}
