//! Command-line interface. Every option can also come from a `LATCHKEY_*` environment
//! variable; secrets only ever come from files (or standard input), never from arguments,
//! which other users of the machine can read in the process list.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "latchkey",
    version,
    about = "A self-hosted identity directory with a Microsoft Graph and Entra-compatible face."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the tenant and its first Global Administrator in an empty data directory.
    Init(InitArgs),
    /// Run the server (HTTPS by default). On an empty data directory it initialises itself.
    Serve(ServeArgs),
    /// Manage users directly in the store (offline administration and recovery).
    #[command(subcommand)]
    Users(UsersCommand),
    /// Manage app registrations (clients that get tokens) directly in the store.
    #[command(subcommand)]
    Apps(AppsCommand),
    /// Manage users over Microsoft Graph, in Latchkey or a Microsoft 365 tenant (`graph login` first).
    Graph(crate::commands::graph::GraphArgs),
    /// Tenant-wide settings, directly in the store.
    #[command(subcommand)]
    Tenant(TenantCommand),
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Require a second factor (an authenticator app) of every user who holds a directory
    /// role; those without one register it at their next sign-in.
    RequireMfaForAdmins(RequireMfaArgs),
}

#[derive(Debug, Args)]
pub struct RequireMfaArgs {
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// `on` or `off`.
    #[arg(value_enum)]
    pub setting: OnOff,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

#[derive(Debug, Subcommand)]
pub enum AppsCommand {
    /// Register an application; prints its appId and, for confidential clients, its first secret once.
    Create(AppsCreateArgs),
    /// List app registrations.
    List(TenantArgs),
    /// Show one app registration (secrets by id and hint only).
    Show(AppTarget),
    /// Add a client secret; prints it once.
    AddSecret(AppsAddSecretArgs),
    /// Remove a client secret by its key id.
    RemoveSecret(AppsRemoveSecretArgs),
    /// Add a certificate credential (PEM or DER); the app then signs client assertions with its key.
    AddCertificate(AppsAddCertificateArgs),
    /// Grant admin consent to the app's application permissions.
    GrantAdminConsent(AppTarget),
    /// Delete an app registration.
    Delete(AppTarget),
}

#[derive(Debug, Args)]
pub struct AppsCreateArgs {
    #[command(flatten)]
    pub tenant: TenantArgs,
    #[arg(long)]
    pub name: String,
    /// Redirect URI (repeatable).
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
    /// Application permission, e.g. User.ReadWrite.All (repeatable).
    #[arg(long = "application-permission")]
    pub application_permissions: Vec<String>,
    /// Delegated permission, e.g. User.Read (repeatable).
    #[arg(long = "delegated-permission")]
    pub delegated_permissions: Vec<String>,
    /// Grant admin consent right away.
    #[arg(long)]
    pub grant_admin_consent: bool,
    /// A public client (no secret): device code and ROPC.
    #[arg(long)]
    pub public_client: bool,
}

#[derive(Debug, Args)]
pub struct AppTarget {
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// The app's appId (client id).
    pub app_id: String,
}

#[derive(Debug, Args)]
pub struct AppsAddSecretArgs {
    #[command(flatten)]
    pub target: AppTarget,
    /// A name for the secret.
    #[arg(long, default_value = "secret")]
    pub name: String,
    /// Days until it expires (1–730).
    #[arg(long, default_value_t = 180)]
    pub days: i64,
}

#[derive(Debug, Args)]
pub struct AppsAddCertificateArgs {
    #[command(flatten)]
    pub target: AppTarget,
    /// The X.509 certificate (public part only), PEM or DER.
    #[arg(long)]
    pub certificate_file: PathBuf,
    /// A name for the credential.
    #[arg(long, default_value = "certificate")]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct AppsRemoveSecretArgs {
    #[command(flatten)]
    pub target: AppTarget,
    /// The secret's key id.
    #[arg(long)]
    pub key_id: String,
}

/// Where the directory lives.
#[derive(Debug, Args, Clone)]
pub struct StoreArgs {
    /// Data directory: the embedded SQLite database, TLS material.
    #[arg(long, env = "LATCHKEY_DATA_DIR", default_value = "./latchkey-data")]
    pub data_dir: PathBuf,
    /// PostgreSQL (postgres://…) or SQLite (sqlite:…) URL; the embedded SQLite file in the data directory when absent.
    #[arg(long, env = "LATCHKEY_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// argon2id memory cost in KiB for new password hashes.
    #[arg(long, env = "LATCHKEY_ARGON2_MEMORY_KIB", default_value_t = 19_456)]
    pub argon2_memory_kib: u32,
    /// argon2id iterations for new password hashes.
    #[arg(long, env = "LATCHKEY_ARGON2_ITERATIONS", default_value_t = 2)]
    pub argon2_iterations: u32,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The tenant's first verified domain; the administrator is admin@DOMAIN.
    #[arg(long, env = "LATCHKEY_DOMAIN")]
    pub domain: String,
    /// The organisation's display name (defaults to the domain's first label, capitalised).
    #[arg(long)]
    pub organization: Option<String>,
    /// Read the administrator's password from this file ('-' for standard input) instead of generating one.
    #[arg(long)]
    pub admin_password_file: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address to listen on (port 0 picks a free port and prints it).
    #[arg(long, env = "LATCHKEY_LISTEN", default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,
    /// The URL clients reach this server at; used in every URL the server hands out.
    #[arg(long, env = "LATCHKEY_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Domain for the tenant created on an empty data directory.
    #[arg(long, env = "LATCHKEY_DOMAIN", default_value = "contoso.test")]
    pub domain: String,
    /// Serve plain HTTP (only behind a TLS-terminating proxy).
    #[arg(long, env = "LATCHKEY_HTTP")]
    pub http: bool,
    /// PEM certificate chain to serve instead of the generated one.
    #[arg(long, env = "LATCHKEY_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "LATCHKEY_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// File holding the 256-bit master key that seals signing keys at rest (base64). Default:
    /// <data-dir>/master.key, created on first start. Nodes sharing a database share this key.
    #[arg(long, env = "LATCHKEY_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
    /// Log format on standard error.
    #[arg(long, env = "LATCHKEY_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Graph requests a minute each client (an app, or a signed-in user) may send; beyond,
    /// Graph answers 429 TooManyRequests with Retry-After. A token bucket per node holding a
    /// minute's worth; 0 turns throttling off.
    #[arg(long, env = "LATCHKEY_GRAPH_RATE_LIMIT", default_value_t = 6000)]
    pub graph_rate_limit: u32,
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user.
    Create(UsersCreateArgs),
    /// List users, in UPN order.
    List(UsersListArgs),
    /// Show one user with Graph's property names.
    Show(UsersShowArgs),
    /// Set a user's password: generated (shown once) or read from a file.
    SetPassword(UsersSetPasswordArgs),
    /// Move a user to the recycle bin (restorable for 30 days).
    Delete(UsersTargetArgs),
    /// Restore a deleted user (by object id, or by UPN).
    Restore(UsersTargetArgs),
    /// List a user's authentication methods (authenticator app, recovery e-mail).
    Methods(UsersTargetArgs),
    /// Remove one of a user's authentication methods, e.g. the authenticator of a lost phone;
    /// they sign in with the password alone (or register again) afterwards.
    RemoveMethod(UsersRemoveMethodArgs),
}

#[derive(Debug, Args)]
pub struct UsersRemoveMethodArgs {
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// UPN or object id.
    pub user: String,
    /// The method's id, as `users methods` lists it.
    pub method: String,
}

#[derive(Debug, Args)]
pub struct TenantArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Tenant id or domain; needed only when the store holds several tenants.
    #[arg(long, env = "LATCHKEY_TENANT")]
    pub tenant: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Where a new password comes from.
#[derive(Debug, Args)]
#[group(multiple = false)]
pub struct PasswordSource {
    /// Generate a password that satisfies the policy, and print it once.
    #[arg(long)]
    pub generate: bool,
    /// Read the password from this file ('-' for standard input).
    #[arg(long)]
    pub password_file: Option<PathBuf>,
}

/// Whether the user must change the password at next sign-in (default: yes).
#[derive(Debug, Args)]
#[group(multiple = false)]
pub struct ForceChange {
    /// Require a change at the next sign-in (the default).
    #[arg(long)]
    pub force_change: bool,
    /// Do not require a change at the next sign-in.
    #[arg(long)]
    pub no_force_change: bool,
}

impl ForceChange {
    pub fn value(&self) -> bool {
        !self.no_force_change
    }
}

#[derive(Debug, Args)]
pub struct UsersCreateArgs {
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// User principal name, alias@verified-domain.
    #[arg(long)]
    pub upn: String,
    #[arg(long)]
    pub display_name: String,
    #[command(flatten)]
    pub password: PasswordSource,
    #[command(flatten)]
    pub force: ForceChange,
    /// Directory role to assign (repeatable): e.g. "Helpdesk Administrator".
    #[arg(long = "role")]
    pub roles: Vec<String>,
    /// Create the account blocked from signing in.
    #[arg(long)]
    pub disabled: bool,
}

#[derive(Debug, Args)]
pub struct UsersListArgs {
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// Only users whose UPN or display name starts with this (any case).
    #[arg(long)]
    pub search: Option<String>,
    /// Page size (1–999).
    #[arg(long, default_value_t = 100)]
    pub top: u32,
    /// Continue after this cursor (printed as "next" by the previous page).
    #[arg(long)]
    pub after: Option<String>,
    /// Every page, not just the first.
    #[arg(long)]
    pub all: bool,
    /// List the recycle bin instead.
    #[arg(long)]
    pub deleted: bool,
}

#[derive(Debug, Args)]
pub struct UsersShowArgs {
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// UPN or object id.
    pub user: String,
}

#[derive(Debug, Args)]
pub struct UsersSetPasswordArgs {
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// UPN or object id.
    pub user: String,
    #[command(flatten)]
    pub password: PasswordSource,
    #[command(flatten)]
    pub force: ForceChange,
    /// Why, for the audit log.
    #[arg(long)]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct UsersTargetArgs {
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// UPN or object id.
    pub user: String,
}
