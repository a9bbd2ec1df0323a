//! `latchkey init`: the tenant and its first Global Administrator.

use latchkey_core::names::DomainName;
use secrecy::ExposeSecret;
use serde_json::json;

use super::{CliError, CliResult, open_directory, read_secret_file};
use crate::cli::InitArgs;
use crate::output;

pub async fn run(args: InitArgs) -> CliResult {
    let domain = DomainName::parse(&args.domain).map_err(|e| CliError(e.to_string()))?;
    let directory = open_directory(&args.store).await?;
    let existing = directory.list_tenants().await?;
    if let Some(t) = existing.first() {
        let domain = t
            .default_domain()
            .map(ToString::to_string)
            .unwrap_or_default();
        return Err(CliError(format!(
            "this store already has a tenant ({domain}, {}); refusing to initialise it again",
            t.id
        )));
    }
    let password = args
        .admin_password_file
        .as_deref()
        .map(read_secret_file)
        .transpose()?;
    let organization = args
        .organization
        .unwrap_or_else(|| capitalise(domain.first_label()));
    let boot = directory
        .bootstrap_tenant(&domain, &organization, password)
        .await?;
    print_bootstrap(&boot, args.json);
    Ok(())
}

/// Prints the new tenant and, when it was generated, the administrator's password: the only
/// time it is ever shown.
pub fn print_bootstrap(boot: &latchkey_core::directory::Bootstrapped, as_json: bool) {
    let domain = boot
        .tenant
        .default_domain()
        .map(ToString::to_string)
        .unwrap_or_default();
    let upn = boot.admin.user_principal_name.to_string();
    if as_json {
        let mut v = json!({
            "tenantId": boot.tenant.id.to_string(),
            "domain": domain,
            "adminUserPrincipalName": upn,
        });
        if let Some(pw) = &boot.generated_password {
            v["adminPassword"] = json!(pw.expose_secret());
        }
        output::json(&v);
    } else {
        let mut pairs = vec![
            ("Tenant id", boot.tenant.id.to_string()),
            ("Domain", domain),
            ("Administrator", upn),
        ];
        if let Some(pw) = &boot.generated_password {
            pairs.push(("Password", pw.expose_secret().to_owned()));
        }
        output::fields(&pairs);
        if boot.generated_password.is_some() {
            println!("This password is shown only once and must be changed at the first sign-in.");
        }
    }
}

pub fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}
