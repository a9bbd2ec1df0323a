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
    /// Manage the tenant's licence SKUs (seats and service plans) directly in the store.
    #[command(subcommand)]
    Licenses(LicensesCommand),
    /// Manage users over Microsoft Graph, in Latchkey or a Microsoft 365 tenant (`graph login` first).
    Graph(crate::commands::graph::GraphArgs),
    /// E-mail: send a test message now, or look at the send queue.
    #[command(subcommand)]
    Mail(MailCommand),
    /// Tenant-wide settings, directly in the store.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Lifecycle workflows (joiner/leaver automation), directly in the store.
    #[command(subcommand)]
    Workflows(WorkflowsCommand),
    /// The SaaS inventory (apps the organisation uses, shadow IT), directly in the store.
    #[command(subcommand)]
    AppsInventory(AppsInventoryCommand),
}

#[derive(Debug, Subcommand)]
pub enum AppsInventoryCommand {
    /// List the inventory by name, with state, category and users.
    List(AppsInventoryListArgs),
    /// Show one app with its users and newest evidence.
    Show(AppsInventoryAppArgs),
    /// Approve an app for use.
    Sanction(AppsInventoryAppArgs),
    /// Mark an app as not approved.
    Unsanction(AppsInventoryAppArgs),
    /// Import expense or card transactions from CSV (header: vendor,amount,currency,date,employee).
    ImportExpenses(AppsInventoryImportArgs),
    /// An app's contracts with their cancellation deadlines.
    Contracts(AppsInventoryAppArgs),
    /// Record a contract for an app.
    AddContract(AppsInventoryAddContractArgs),
    /// The app's users who have not used it for a number of days (60 by default).
    Idle(AppsInventoryIdleArgs),
    /// Set an app's seats bought, idle threshold and the Latchkey SKU its seats are.
    Licensing(AppsInventoryLicensingArgs),
    /// An app's licences: seats bought and assigned, idle seats and the saving per month.
    Licenses(AppsInventoryAppArgs),
    /// The reclamation list (idle seats of every app), or with APP and USER reclaim one seat.
    Reclaim(AppsInventoryReclaimArgs),
    /// Contracts by cancellation deadline, from today.
    Renewals(AppsInventoryPageArgs),
    /// Categories with more than one app in use, with their users and cost.
    Overlaps(AppsInventoryPageArgs),
    /// Show or set the days before a cancellation deadline at which alerts go out.
    RenewalOffsets(AppsInventoryOffsetsArgs),
    /// Enter an app by hand (add its contract with `add-contract`).
    Add(AppsInventoryAddArgs),
    /// Run a discovery pass now over a connected Microsoft 365 tenant (`workflows
    /// connect-tenant`): its service principals, delegated grants and sign-ins.
    Discover(AppsInventoryDiscoverArgs),
}

#[derive(Debug, Args)]
pub struct AppsInventoryDiscoverArgs {
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// The connected tenant's name.
    #[arg(long)]
    pub connection: String,
}

#[derive(Debug, Args)]
pub struct AppsInventoryLicensingArgs {
    #[command(flatten)]
    pub app: AppsInventoryAppArgs,
    /// Seats bought, or `none` to take them from the current contracts.
    #[arg(long)]
    pub seats_bought: Option<String>,
    /// Days without use after which a seat is idle, or `default` (60).
    #[arg(long)]
    pub idle_days: Option<String>,
    /// The Latchkey SKU (part number or id) the app's seats are, or `none`.
    #[arg(long)]
    pub sku: Option<String>,
}

#[derive(Debug, Args)]
pub struct AppsInventoryReclaimArgs {
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// The app's id or name; with USER, reclaim that seat.
    pub app: Option<String>,
    /// The user (UPN or id) whose seat to reclaim.
    pub user: Option<String>,
    /// Page size of the list (1-999).
    #[arg(long, default_value_t = 100)]
    pub top: u32,
    /// The page after this token (printed as `next` by the previous page).
    #[arg(long)]
    pub after: Option<String>,
}

#[derive(Debug, Args)]
pub struct AppsInventoryPageArgs {
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// Page size (1-999).
    #[arg(long, default_value_t = 100)]
    pub top: u32,
    /// The page after this token (printed as `next` by the previous page).
    #[arg(long)]
    pub after: Option<String>,
}

#[derive(Debug, Args)]
pub struct AppsInventoryOffsetsArgs {
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// New offsets in days, e.g. 90,60,30.
    #[arg(long, value_delimiter = ',')]
    pub set: Option<Vec<u32>>,
}

#[derive(Debug, Args)]
pub struct AppsInventoryAddArgs {
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// The app's name.
    pub name: String,
    #[arg(long)]
    pub vendor: Option<String>,
    #[arg(long)]
    pub category: Option<String>,
    /// The owner's UPN or id.
    #[arg(long)]
    pub owner: Option<String>,
    /// discovered (default), underReview, sanctioned, unsanctioned or retired.
    #[arg(long)]
    pub state: Option<String>,
}

#[derive(Debug, Args)]
pub struct AppsInventoryAddContractArgs {
    #[command(flatten)]
    pub app: AppsInventoryAppArgs,
    /// First day, e.g. 2026-01-01.
    #[arg(long)]
    pub start: chrono::NaiveDate,
    /// Last day, e.g. 2026-12-31.
    #[arg(long)]
    pub end: chrono::NaiveDate,
    /// Days of notice the vendor needs before the end.
    #[arg(long, default_value_t = 0)]
    pub notice_days: u32,
    /// The contract renews itself unless cancelled.
    #[arg(long)]
    pub auto_renew: bool,
    /// The cost of one billing period, e.g. 1200.00.
    #[arg(long)]
    pub cost: String,
    /// ISO 4217 code, e.g. EUR.
    #[arg(long)]
    pub currency: String,
    /// monthly, quarterly or annual.
    #[arg(long, default_value = "annual")]
    pub billing_period: String,
    /// Seats the contract buys (the cost per seat is the cost over them).
    #[arg(long)]
    pub seats: Option<u32>,
}

#[derive(Debug, Args)]
pub struct AppsInventoryIdleArgs {
    #[command(flatten)]
    pub app: AppsInventoryAppArgs,
    /// Days without use after which a user counts as idle.
    #[arg(long)]
    pub days: Option<u32>,
}

#[derive(Debug, Args)]
pub struct AppsInventoryListArgs {
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// Only apps in this state (discovered, underReview, sanctioned, unsanctioned, retired).
    #[arg(long)]
    pub state: Option<String>,
    /// Page size (1-999).
    #[arg(long, default_value_t = 100)]
    pub top: u32,
    /// The page after this token (printed as `next` by the previous page).
    #[arg(long)]
    pub after: Option<String>,
}

#[derive(Debug, Args)]
pub struct AppsInventoryAppArgs {
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// The app's id or its name (any case).
    pub app: String,
}

#[derive(Debug, Args)]
pub struct AppsInventoryImportArgs {
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// The CSV file.
    pub file: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum WorkflowsCommand {
    /// Save a workflow from a JSON or YAML file (`-` reads standard input): a new version of
    /// the workflow with its name, or its first.
    Import(WorkflowsImportArgs),
    /// Write a workflow's definition as JSON or YAML, ready for `import` here or elsewhere.
    Export(WorkflowsExportArgs),
    /// Enable a workflow (a new version): its trigger fires from the next tick.
    Enable(WorkflowsEnableArgs),
    /// Disable a workflow (a new version): its trigger stops firing; started runs go on.
    Disable(WorkflowsNameArgs),
    /// List the workflows with their trigger, version and state.
    List(TenantArgs),
    /// Show a workflow's definition (JSON, as stored).
    Show(WorkflowsNameArgs),
    /// Which users the workflow would touch now and what each step would do; changes nothing.
    DryRun(WorkflowsNameArgs),
    /// Start a run of the workflow now for the given users; the server's worker performs it.
    Run(WorkflowsRunArgs),
    /// The run history, newest first, with each step's state.
    Runs(WorkflowsRunsArgs),
    /// List the built-in templates (install one with `import --template NAME`).
    Templates(WorkflowsTemplatesArgs),
    /// Show or change the tenant's workflow settings: time zone, share of users a run may touch.
    Settings(WorkflowsSettingsArgs),
    /// Generate a new secret for the workflow's webhook steps (printed once; stored sealed
    /// under <data-dir>/master.key, which `latchkey serve` creates).
    WebhookSecret(WorkflowsNameArgs),
    /// Cancel a running run: none of its remaining steps will run.
    Cancel(WorkflowsRunIdArgs),
    /// Start a finished run's workflow again for the same user (a new run).
    Rerun(WorkflowsRunIdArgs),
    /// Connect a Microsoft 365 tenant (or another Latchkey) that workflows can target with
    /// "target": {"tenant": NAME}; the client secret is stored sealed under the master key.
    ConnectTenant(WorkflowsConnectTenantArgs),
    /// Perform the due workflow steps now, as the server's worker does every minute, and exit.
    Work(TenantArgs),
    /// Connect a SCIM 2.0 app that scimProvision / scimDeprovision steps name; the bearer
    /// token is stored sealed under the master key and never shown again.
    ConnectScim(WorkflowsConnectScimArgs),
    /// List the SCIM app connections (base URL and mapping; never the token).
    ScimConnections(WorkflowsScimConnectionsArgs),
    /// Delete a SCIM app connection (steps naming it then fail when they run).
    DisconnectScim(WorkflowsDisconnectScimArgs),
}

#[derive(Debug, Args)]
#[group(id = "scim_token", required = true, multiple = false)]
pub struct ScimTokenSource {
    /// A file holding the app's bearer token (kept out of the shell history).
    #[arg(long, group = "scim_token")]
    pub token_file: Option<PathBuf>,
    /// Read the bearer token from standard input.
    #[arg(long, group = "scim_token")]
    pub token_stdin: bool,
}

#[derive(Debug, Args)]
pub struct WorkflowsConnectScimArgs {
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// The connection's name, as steps' "connection" names it.
    #[arg(long)]
    pub name: String,
    /// The SCIM service's base URL (https; http only on loopback), e.g. https://app.example/scim/v2.
    #[arg(long)]
    pub base_url: String,
    #[command(flatten)]
    pub token: ScimTokenSource,
    /// Change the default attribute mapping: TARGET=SOURCE (a user property), or TARGET= to
    /// leave a SCIM attribute out. Repeatable.
    #[arg(long = "map", value_name = "TARGET=SOURCE")]
    pub map: Vec<String>,
}

#[derive(Debug, Args)]
pub struct WorkflowsScimConnectionsArgs {
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// Page size (1-200).
    #[arg(long, default_value_t = 100)]
    pub top: u32,
    /// The page after this connection name (printed as `next` by the previous page).
    #[arg(long)]
    pub after: Option<String>,
}

#[derive(Debug, Args)]
pub struct WorkflowsDisconnectScimArgs {
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// The connection's name.
    pub name: String,
}

#[derive(Debug, Args)]
pub struct WorkflowsConnectTenantArgs {
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// The connection's name, as workflows' "target": {"tenant": NAME} names it.
    pub name: String,
    /// The remote tenant's id (GUID) or a verified domain of it.
    #[arg(long)]
    pub tenant_id: String,
    /// The application (client) id registered in the remote tenant.
    #[arg(long)]
    pub client_id: String,
    /// A file holding the application's client secret (kept out of the shell history).
    #[arg(long)]
    pub client_secret_file: PathBuf,
    /// The token endpoint's host (default https://login.microsoftonline.com).
    #[arg(long)]
    pub authority: Option<String>,
    /// Graph's base URL (default https://graph.microsoft.com).
    #[arg(long)]
    pub graph_url: Option<String>,
    /// An extra CA certificate (PEM) to trust, e.g. another Latchkey's `tls/ca.pem`.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Save without first getting a token and reading one user through Graph with these
    /// credentials (for a tenant not reachable from here yet).
    #[arg(long)]
    pub no_verify: bool,
}

#[derive(Debug, Args)]
pub struct WorkflowsRunIdArgs {
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// The run's id (see `latchkey workflows runs`).
    pub run: String,
}

#[derive(Debug, Args)]
pub struct WorkflowsTemplatesArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct WorkflowsSettingsArgs {
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// The IANA time zone anniversaries and schedules fall due in (e.g. Europe/Paris; default UTC).
    #[arg(long)]
    pub time_zone: Option<String>,
    /// A run start touching more than this share of the tenant's users (1–100 %, default 50)
    /// needs a confirmation.
    #[arg(long)]
    pub max_run_share: Option<u32>,
}

#[derive(Debug, Args)]
pub struct WorkflowsImportArgs {
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// The workflow definition: JSON, or YAML (by the extension `.yaml`/`.yml`, or when it
    /// does not start with `{`); `-` reads standard input.
    #[arg(required_unless_present = "template", conflicts_with = "template")]
    pub file: Option<PathBuf>,
    /// The definition's format, when neither its extension nor its first character tells.
    #[arg(long, value_parser = ["json", "yaml"])]
    pub format: Option<String>,
    /// Install a built-in template instead (see `latchkey workflows templates`).
    #[arg(long)]
    pub template: Option<String>,
    /// Save the workflow with "confirmShare": its triggers may start runs for more than the
    /// tenant's share of users at once.
    #[arg(long)]
    pub confirm_share: bool,
}

#[derive(Debug, Args)]
pub struct WorkflowsEnableArgs {
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// The workflow's name (case-insensitive).
    pub name: String,
    /// Go ahead even if its trigger would start runs for more than the tenant's share of its
    /// users at once (saved with the workflow as "confirmShare").
    #[arg(long)]
    pub confirm_share: bool,
}

#[derive(Debug, Args)]
pub struct WorkflowsExportArgs {
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// The workflow's name (case-insensitive).
    pub name: String,
    /// The format written.
    #[arg(long, default_value = "yaml", value_parser = ["json", "yaml"])]
    pub format: String,
    /// Write to this file instead of standard output (refused if it exists).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct WorkflowsNameArgs {
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// The workflow's name (case-insensitive).
    pub name: String,
}

#[derive(Debug, Args)]
pub struct WorkflowsRunArgs {
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// The workflow's name (case-insensitive).
    pub name: String,
    /// A user's UPN or object id (repeatable).
    #[arg(long = "user", required = true)]
    pub users: Vec<String>,
    /// Go ahead even if the run touches more than the tenant's share of its users at once.
    #[arg(long)]
    pub confirm_share: bool,
}

#[derive(Debug, Args)]
pub struct WorkflowsRunsArgs {
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// Only this workflow's runs.
    #[arg(long)]
    pub workflow: Option<String>,
    /// Only runs in this state.
    #[arg(long, value_parser = ["running", "succeeded", "failed"])]
    pub status: Option<String>,
    /// Only this user's runs (UPN or object id).
    #[arg(long)]
    pub user: Option<String>,
    /// Most runs shown (1–500; 1–200 with --status or --user, filtered from the newest 500).
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
}

#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Send a test message now through the configured SMTP server; reports its error if it fails.
    Test(MailTestArgs),
    /// List queued messages that are pending or failed (kind, recipients, attempts, last error; never content).
    Queue(MailQueueArgs),
}

#[derive(Debug, Args)]
pub struct MailTestArgs {
    #[command(flatten)]
    pub smtp: SmtpArgs,
    /// Where to send the test message.
    #[arg(long)]
    pub to: String,
}

#[derive(Debug, Args)]
pub struct MailQueueArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Also list messages already sent.
    #[arg(long)]
    pub all: bool,
    /// At most this many messages, oldest first.
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// The mail server. The password comes from `--smtp-password-file` or the environment
/// variable `LATCHKEY_SMTP_PASSWORD`, never from an argument.
#[derive(Debug, Args, Clone)]
pub struct SmtpArgs {
    /// SMTP server host. Without it the server sends no mail (and offers no delivery by e-mail).
    #[arg(long, env = "LATCHKEY_SMTP_HOST")]
    pub smtp_host: Option<String>,
    /// SMTP port; by default 25, 587 or 465 for --smtp-security none, starttls or tls.
    #[arg(long, env = "LATCHKEY_SMTP_PORT")]
    pub smtp_port: Option<u16>,
    /// How the connection is protected: none, starttls (required once offered) or tls.
    #[arg(long, env = "LATCHKEY_SMTP_SECURITY", default_value = "starttls")]
    pub smtp_security: String,
    /// SMTP user name, if the server wants authentication.
    #[arg(long, env = "LATCHKEY_SMTP_USERNAME")]
    pub smtp_username: Option<String>,
    /// File holding the SMTP password (or set LATCHKEY_SMTP_PASSWORD).
    #[arg(long, env = "LATCHKEY_SMTP_PASSWORD_FILE")]
    pub smtp_password_file: Option<PathBuf>,
    /// The sender address of every message, e.g. no-reply@contoso.com.
    #[arg(long, env = "LATCHKEY_MAIL_FROM")]
    pub mail_from: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Require a second factor (an authenticator app) of every user who holds a directory
    /// role; those without one register it at their next sign-in.
    RequireMfaForAdmins(RequireMfaArgs),
    /// Show or change who may reset a forgotten password themselves, and how many
    /// verification methods they must prove (users holding a role always need two).
    SelfServiceReset(SelfServiceResetArgs),
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

#[derive(Debug, Args)]
pub struct SelfServiceResetArgs {
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// `all` or `none`.
    #[arg(long, value_enum)]
    pub enabled_for: Option<SelfServiceResetFor>,
    /// 1 or 2.
    #[arg(long)]
    pub methods_required: Option<u8>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SelfServiceResetFor {
    All,
    None,
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
    #[command(flatten)]
    pub smtp: SmtpArgs,
    /// How long a view-once password link sent by e-mail works, in hours (1–168).
    #[arg(long, env = "LATCHKEY_VIEW_ONCE_HOURS", default_value_t = 24)]
    pub view_once_hours: u32,
    /// How often the workflow worker evaluates triggers and performs due steps, in seconds.
    #[arg(long, env = "LATCHKEY_WORKFLOW_INTERVAL_SECONDS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub workflow_interval_seconds: u64,
    /// How long the worker holds a step it performs, in seconds: after a crash the restarted
    /// node (or another) takes the step over once this has passed. Longer than a pass of 20
    /// steps takes.
    #[arg(long, env = "LATCHKEY_WORKFLOW_LEASE_SECONDS", default_value_t = 300,
          value_parser = clap::value_parser!(i64).range(2..=86_400))]
    pub workflow_lease_seconds: i64,
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
    /// End a smart lockout (too many failed sign-ins) before it runs out; nothing changes
    /// for a user who is not locked.
    Unlock(UsersTargetArgs),
    /// Restore a deleted user (by object id, or by UPN).
    Restore(UsersTargetArgs),
    /// Assign a licence (a SKU by part number or id); the user needs a usage location.
    AssignLicense(UsersAssignLicenseArgs),
    /// Remove a licence from a user, freeing its seat.
    RemoveLicense(UsersRemoveLicenseArgs),
    /// List a user's authentication methods (authenticator app, recovery e-mail).
    Methods(UsersTargetArgs),
    /// Remove one of a user's authentication methods, e.g. the authenticator of a lost phone;
    /// they sign in with the password alone (or register again) afterwards.
    RemoveMethod(UsersRemoveMethodArgs),
    /// Import an authenticator (TOTP) secret from another system, active at once: base32,
    /// read from a file (or - for standard input), never from an argument.
    ImportAuthenticator(UsersImportAuthenticatorArgs),
}

#[derive(Debug, Args)]
pub struct UsersImportAuthenticatorArgs {
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// UPN or object id.
    pub user: String,
    /// File holding the base32 secret (- for standard input).
    #[arg(long)]
    pub secret_file: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum LicensesCommand {
    /// Define a SKU with its seats and service plans.
    Create(LicensesCreateArgs),
    /// List the SKUs with their seats used and bought.
    List(TenantArgs),
    /// Change how many seats of a SKU were bought (never below the seats assigned).
    SetSeats(LicensesSetSeatsArgs),
}

#[derive(Debug, Args)]
pub struct LicensesSetSeatsArgs {
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// The SKU: its skuPartNumber (any case) or its skuId.
    #[arg(long)]
    pub sku: String,
    /// Seats bought from now on.
    #[arg(long)]
    pub seats: u32,
}

#[derive(Debug, Args)]
pub struct LicensesCreateArgs {
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// Graph's skuPartNumber, e.g. ENTERPRISEPACK or E3.
    #[arg(long)]
    pub sku_part_number: String,
    /// Seats bought.
    #[arg(long)]
    pub seats: u32,
    /// A service plan name, e.g. EXCHANGE_S_ENTERPRISE (repeatable).
    #[arg(long = "service-plan")]
    pub service_plans: Vec<String>,
    /// The SKU's GUID (to mirror a Microsoft SKU); generated when absent.
    #[arg(long)]
    pub sku_id: Option<String>,
}

#[derive(Debug, Args)]
pub struct UsersAssignLicenseArgs {
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// UPN or object id.
    pub user: String,
    /// The SKU: part number (any case) or skuId.
    #[arg(long)]
    pub sku: String,
    /// A service plan of the SKU to leave out (repeatable), by name or id.
    #[arg(long = "disable-plan")]
    pub disabled_plans: Vec<String>,
    /// Set the user's usage location (two-letter country code) first.
    #[arg(long)]
    pub usage_location: Option<String>,
}

#[derive(Debug, Args)]
pub struct UsersRemoveLicenseArgs {
    #[command(flatten)]
    pub tenant: TenantArgs,
    /// UPN or object id.
    pub user: String,
    /// The SKU: part number (any case) or skuId.
    #[arg(long)]
    pub sku: String,
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
