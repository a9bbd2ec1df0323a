//! `latchkey workflows connect-scim | scim-connections | disconnect-scim`: the SCIM 2.0 apps
//! that `scimProvision` / `scimDeprovision` steps act on, through the directory's
//! operations. The token is read from a file or standard input, never from an argument, and
//! never printed.

use std::io::Read as _;

use latchkey_core::directory::{ScimConnectionInput, ScimConnectionSummary};
use latchkey_core::scim_connection::ScimMapping;
use serde_json::{Value, json};

use super::users::{OPERATOR, open};
use super::{CliError, CliResult};
use crate::cli::{
    ScimTokenSource, WorkflowsConnectScimArgs, WorkflowsDisconnectScimArgs,
    WorkflowsScimConnectionsArgs,
};
use crate::output;

fn read_token(source: &ScimTokenSource) -> CliResult<secrecy::SecretString> {
    let mut text = String::new();
    let (read, what) = match &source.token_file {
        Some(path) => (
            std::fs::File::open(path).and_then(|mut f| f.read_to_string(&mut text)),
            format!("--token-file {}", path.display()),
        ),
        None => (
            std::io::stdin().read_to_string(&mut text),
            "the token from standard input".to_owned(),
        ),
    };
    read.map_err(|e| CliError(format!("cannot read {what}: {e}")))?;
    Ok(secrecy::SecretString::from(text.trim().to_owned()))
}

fn mapping_json(mapping: &ScimMapping) -> Value {
    Value::Object(
        mapping
            .entries()
            .map(|(t, s)| (t.name().to_owned(), Value::String(s.to_owned())))
            .collect(),
    )
}

fn mapping_text(mapping: &ScimMapping) -> String {
    mapping
        .entries()
        .map(|(t, s)| format!("{} <- {s}", t.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn connection_json(c: &ScimConnectionSummary) -> Value {
    json!({
        "name": c.name,
        "baseUrl": c.base_url,
        "mapping": mapping_json(&c.mapping),
        "updatedDateTime": c.updated_at.to_rfc3339(),
    })
}

pub async fn connect(a: &WorkflowsConnectScimArgs) -> CliResult<()> {
    let token = read_token(&a.token)?;
    let mapping = ScimMapping::with_overrides(a.map.iter().map(String::as_str))?;
    let key = super::serve::master_key_at(&a.tenant.store.data_dir, None)?;
    let (directory, tenant) = open(&a.tenant).await?;
    let saved = directory
        .with_master_key(key)
        .save_scim_connection(
            &OPERATOR,
            tenant,
            ScimConnectionInput {
                name: a.name.clone(),
                base_url: a.base_url.clone(),
                token,
                mapping,
            },
        )
        .await?;
    if a.tenant.json {
        output::json(&connection_json(&saved));
    } else {
        output::fields(&[
            ("Connected", saved.name.clone()),
            ("Base URL", saved.base_url.clone()),
            ("Mapping", mapping_text(&saved.mapping)),
            ("Token", "stored sealed; it is not shown again".into()),
        ]);
    }
    Ok(())
}

pub async fn list(a: &WorkflowsScimConnectionsArgs) -> CliResult<()> {
    let (directory, tenant) = open(&a.tenant).await?;
    let page = directory
        .list_scim_connections(&OPERATOR, tenant, a.after.as_deref(), a.top)
        .await?;
    // A full page may have a next one.
    let next = (page.len() == a.top.clamp(1, 200) as usize)
        .then(|| page.last().map(|c| c.name.clone()))
        .flatten();
    if a.tenant.json {
        output::json(&json!({
            "value": page.iter().map(connection_json).collect::<Vec<_>>(),
            "next": next,
        }));
    } else {
        let rows: Vec<Vec<String>> = page
            .iter()
            .map(|c| {
                vec![
                    c.name.clone(),
                    c.base_url.clone(),
                    mapping_text(&c.mapping),
                    c.updated_at.to_rfc3339(),
                ]
            })
            .collect();
        output::table(&["NAME", "BASE URL", "MAPPING", "UPDATED"], &rows);
        if let Some(next) = next {
            println!("next: --after {next}");
        }
    }
    Ok(())
}

pub async fn disconnect(a: &WorkflowsDisconnectScimArgs) -> CliResult<()> {
    let (directory, tenant) = open(&a.tenant).await?;
    directory
        .delete_scim_connection(&OPERATOR, tenant, &a.name)
        .await?;
    if a.tenant.json {
        output::json(&json!({ "deleted": a.name.trim() }));
    } else {
        println!("Deleted the SCIM connection {}.", a.name.trim());
    }
    Ok(())
}
