//! `latchkey apps-inventory discover --connection NAME` and the hourly discovery pass of
//! `latchkey serve`: both run `latchkey_automation::saas_discovery`, which hands what it read
//! to core.

use std::time::Duration;

use latchkey_automation::remote::Clients;
use latchkey_automation::saas_discovery::{PassOutcome, discover, discover_all};
use latchkey_core::Directory;
use serde_json::json;

use super::users::open;
use super::{CliError, CliResult};
use crate::cli::AppsInventoryDiscoverArgs;
use crate::output;

/// Runs one pass now and prints what it found and added; a remote that could not be read
/// is an error (recorded on the source, the inventory unchanged).
pub(super) async fn run(a: AppsInventoryDiscoverArgs) -> CliResult {
    let (directory, tenant) = open(&a.tenant).await?;
    // The connection's client secret is sealed under the data directory's master key.
    let directory =
        directory.with_master_key(super::serve::master_key_at(&a.tenant.store.data_dir, None)?);
    match discover(&directory, &Clients::default(), tenant, &a.connection).await? {
        PassOutcome::Recorded(c) => {
            if a.tenant.json {
                output::json(&json!({
                    "connection": a.connection,
                    "appsSeen": c.apps_seen,
                    "added": c.added,
                    "evidence": c.evidence,
                }));
            } else {
                println!(
                    "{} apps in use at '{}'; {} added to the inventory{}; {} new evidence rows.",
                    c.apps_seen,
                    a.connection,
                    c.added.len(),
                    if c.added.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", c.added.join(", "))
                    },
                    c.evidence
                );
            }
            Ok(())
        }
        PassOutcome::Failed(e) => Err(CliError(format!(
            "{e}; recorded, the inventory is unchanged and the next pass tries again"
        ))),
    }
}

/// At start and then hourly: a discovery pass over every connected tenant.
pub(super) async fn hourly(directory: Directory) {
    let clients = Clients::default();
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let done = discover_all(&directory, &clients).await;
        if !done.is_empty() {
            tracing::info!(connections = done.len(), "SaaS discovery pass done");
        }
    }
}
