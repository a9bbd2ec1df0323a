//! What each command does. Every command that changes the directory goes through
//! `latchkey_core::Directory`, exactly as the HTTP surfaces do.

mod apps;
mod apps_inventory;
mod apps_inventory_discover;
pub mod graph;
mod init;
mod licenses;
mod mail;
mod serve;
mod tenant;
mod users;
mod workflows;
mod workflows_scim;

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use latchkey_core::Directory;
use latchkey_core::clock::SystemClock;
use latchkey_core::error::DirectoryError;
use latchkey_core::password::{HashParams, Hasher};
use latchkey_core::tenant::Tenant;
use secrecy::SecretString;

use crate::cli::{Command, StoreArgs};

/// A refusal or failure, printed as one line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CliError(pub String);

impl From<DirectoryError> for CliError {
    fn from(e: DirectoryError) -> Self {
        Self(e.to_string())
    }
}

impl From<latchkey_store::OpenError> for CliError {
    fn from(e: latchkey_store::OpenError) -> Self {
        Self(e.to_string())
    }
}

pub type CliResult<T = ()> = Result<T, CliError>;

pub async fn run(command: Command) -> CliResult {
    match command {
        Command::Init(args) => init::run(args).await,
        Command::Serve(args) => serve::run(args).await,
        Command::Users(cmd) => users::run(cmd).await,
        Command::Apps(cmd) => apps::run(cmd).await,
        Command::Licenses(cmd) => licenses::run(cmd).await,
        Command::Tenant(cmd) => tenant::run(cmd).await,
        Command::Graph(args) => graph::run(args).await,
        Command::Mail(cmd) => mail::run(cmd).await,
        Command::Workflows(cmd) => workflows::run(cmd).await,
        Command::AppsInventory(cmd) => apps_inventory::run(cmd).await,
    }
}

/// Opens the store and the directory over it.
pub async fn open_directory(args: &StoreArgs) -> CliResult<Directory> {
    let store = latchkey_store::open(args.database_url.as_deref(), &args.data_dir).await?;
    let params = HashParams {
        memory_kib: args.argon2_memory_kib,
        iterations: args.argon2_iterations,
        ..HashParams::default()
    };
    let hasher = Hasher::with_defaults(params).map_err(|e| CliError(e.to_string()))?;
    Ok(Directory::new(store, hasher, Arc::new(SystemClock)))
}

/// The tenant a command acts on: the named one, or the only one.
pub async fn resolve_tenant(directory: &Directory, named: Option<&str>) -> CliResult<Tenant> {
    if let Some(name) = named {
        return directory
            .find_tenant(name)
            .await?
            .ok_or_else(|| CliError(format!("no tenant with the id or domain '{name}'")));
    }
    let mut tenants = directory.list_tenants().await?;
    match tenants.len() {
        0 => Err(CliError(
            "the store has no tenant yet: run `latchkey init --domain DOMAIN` first".into(),
        )),
        1 => Ok(tenants.remove(0)),
        n => Err(CliError(format!(
            "the store holds {n} tenants: pass --tenant with a tenant id or domain"
        ))),
    }
}

/// Reads a secret from a file, or from standard input for `-`. One trailing newline is
/// dropped (editors and `echo` add one); nothing else is changed.
pub fn read_secret_file(path: &Path) -> CliResult<SecretString> {
    let mut text = String::new();
    let read = if path == Path::new("-") {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::File::open(path).and_then(|mut f| f.read_to_string(&mut text).map(|_| ()))
    };
    read.map_err(|e| {
        CliError(format!(
            "cannot read the password file {}: {e}",
            path.display()
        ))
    })?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    if text.is_empty() {
        return Err(CliError(format!(
            "the password file {} is empty",
            path.display()
        )));
    }
    Ok(SecretString::from(text))
}
