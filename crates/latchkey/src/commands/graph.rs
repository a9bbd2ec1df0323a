//! `latchkey graph …`: users managed over Microsoft Graph, in Latchkey or in a real Microsoft
//! 365 tenant (the PowerShell method, without PowerShell). `graph login` saves a profile; the
//! other commands use it. Everything goes through `latchkey-graph-client`.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use clap::{Args, Subcommand};
use latchkey_core::password::{PasswordContext, PasswordPolicy, generate_password};
use latchkey_graph_client::{Cloud, GraphClient, GraphClientError, ListQuery, RetryPolicy};
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{CliError, CliResult, read_secret_file};
use crate::output;

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// The saved profile to use (see `graph login`).
    #[arg(
        long,
        env = "LATCHKEY_PROFILE",
        default_value = "default",
        global = true
    )]
    pub profile: String,
    /// Where profiles live; `$XDG_CONFIG_HOME/latchkey` by default.
    #[arg(long, env = "LATCHKEY_CONFIG_DIR", global = true)]
    pub config_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: GraphCommand,
}

#[derive(Debug, Subcommand)]
pub enum GraphCommand {
    /// Check an app's credentials against a tenant and save them as a profile.
    Login(LoginArgs),
    /// Users over Graph.
    #[command(subcommand)]
    Users(GraphUsersCommand),
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Tenant id or verified domain.
    #[arg(long)]
    pub tenant: String,
    /// The app registration's client id.
    #[arg(long)]
    pub client_id: String,
    /// A file holding the client secret (`-` for standard input).
    #[arg(long)]
    pub client_secret_file: PathBuf,
    /// Microsoft cloud: public, usgov or china. Ignored when --authority is given.
    #[arg(long, default_value = "public")]
    pub cloud: String,
    /// The login authority of a Graph-compatible server, e.g. Latchkey's public URL.
    #[arg(long, requires = "graph_url")]
    pub authority: Option<String>,
    /// The Graph base URL of that server (without /v1.0).
    #[arg(long)]
    pub graph_url: Option<String>,
    /// An extra CA certificate (PEM) to trust, e.g. Latchkey's `tls/ca.pem`.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum GraphUsersCommand {
    /// List users, one page or --all.
    List(ListArgs),
    /// Show one user by id or UPN.
    Get(GetArgs),
    /// Create a user; a generated password is printed once.
    Create(CreateArgs),
    /// Reset one user's password, or every user of a CSV file.
    ResetPassword(ResetArgs),
    /// End every session and refresh token of a user.
    RevokeSessions(UserArg),
    /// Block sign-in.
    Disable(UserArg),
    /// Allow sign-in again.
    Enable(UserArg),
    /// Delete a user (restorable for 30 days).
    Delete(UserArg),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// OData $filter, e.g. "startswith(displayName,'A')".
    #[arg(long)]
    pub filter: Option<String>,
    /// Properties to return, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub select: Vec<String>,
    /// Page size (1–999).
    #[arg(long)]
    pub top: Option<u32>,
    /// $search, e.g. "displayName:adele".
    #[arg(long)]
    pub search: Option<String>,
    /// $orderby, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub orderby: Vec<String>,
    /// Every page, not just the first.
    #[arg(long)]
    pub all: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    pub user: String,
    #[arg(long, value_delimiter = ',')]
    pub select: Vec<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct UserArg {
    /// Object id or user principal name.
    pub user: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[arg(long)]
    pub upn: String,
    #[arg(long)]
    pub display_name: String,
    /// Defaults to the UPN's local part.
    #[arg(long)]
    pub mail_nickname: Option<String>,
    /// The password from a file (`-` for standard input); generated when absent.
    #[arg(long)]
    pub password_file: Option<PathBuf>,
    /// Do not require a change at the first sign-in.
    #[arg(long)]
    pub no_force_change: bool,
    /// Create the account with sign-in blocked.
    #[arg(long)]
    pub disabled: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ResetArgs {
    /// Object id or user principal name; or use --from-csv.
    #[arg(required_unless_present = "from_csv", conflicts_with = "from_csv")]
    pub user: Option<String>,
    /// Generate the password (printed once).
    #[arg(long, conflicts_with = "password_file")]
    pub generate: bool,
    /// The password from a file (`-` for standard input).
    #[arg(long)]
    pub password_file: Option<PathBuf>,
    /// Do not require a change at the next sign-in.
    #[arg(long)]
    pub no_force_change: bool,
    /// A CSV with a `userPrincipalName` column and an optional `password` column (empty:
    /// generated). Rows already done in --results are skipped, so a run can be resumed.
    #[arg(long, requires = "results")]
    pub from_csv: Option<PathBuf>,
    /// Where each row's outcome goes, one JSON object per line (created 0600: it holds the
    /// passwords set).
    #[arg(long)]
    pub results: Option<PathBuf>,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=32))]
    pub concurrency: u32,
    #[arg(long)]
    pub json: bool,
}

/// A saved profile; the secret lives beside it in a file only its owner can read.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    tenant: String,
    client_id: String,
    cloud: Cloud,
    ca_file: Option<PathBuf>,
}

pub async fn run(args: GraphArgs) -> CliResult {
    let dir = config_dir(args.config_dir.as_deref())?;
    match args.command {
        GraphCommand::Login(login) => run_login(&dir, &args.profile, login).await,
        GraphCommand::Users(cmd) => {
            let client = open_profile(&dir, &args.profile)?;
            run_users(&client, cmd).await
        }
    }
}

fn config_dir(given: Option<&Path>) -> CliResult<PathBuf> {
    match given {
        Some(p) => Ok(p.to_owned()),
        None => dirs::config_dir()
            .map(|d| d.join("latchkey"))
            .ok_or_else(|| CliError("no configuration directory: pass --config-dir".into())),
    }
}

impl From<GraphClientError> for CliError {
    fn from(e: GraphClientError) -> Self {
        Self(e.to_string())
    }
}

async fn run_login(dir: &Path, name: &str, args: LoginArgs) -> CliResult {
    let cloud = match (&args.authority, &args.graph_url) {
        (Some(a), Some(g)) => Cloud::custom(a, g),
        _ => Cloud::named(&args.cloud).ok_or_else(|| {
            CliError(format!(
                "unknown cloud '{}': use public, usgov or china, or --authority with --graph-url",
                args.cloud
            ))
        })?,
    };
    let secret = read_secret_file(&args.client_secret_file)?;
    let ca_file = args.ca_file.map(|p| std::path::absolute(&p).unwrap_or(p));
    let profile = Profile {
        tenant: args.tenant,
        client_id: args.client_id,
        cloud,
        ca_file,
    };
    // Prove the credentials before saving them.
    let client = client_for(&profile, secret.clone())?;
    client.token().await?;
    save_profile(dir, name, &profile, &secret)?;
    if args.json {
        output::json(
            &json!({ "profile": name, "tenant": profile.tenant, "clientId": profile.client_id }),
        );
    } else {
        println!(
            "Signed in to {} as app {}; saved as profile '{name}'.",
            profile.tenant, profile.client_id
        );
    }
    Ok(())
}

fn client_for(profile: &Profile, secret: SecretString) -> CliResult<GraphClient> {
    let ca = match &profile.ca_file {
        Some(p) => Some(
            std::fs::read(p)
                .map_err(|e| CliError(format!("cannot read the CA file {}: {e}", p.display())))?,
        ),
        None => None,
    };
    GraphClient::new(
        profile.cloud.clone(),
        &profile.tenant,
        &profile.client_id,
        secret,
        ca.as_deref(),
        RetryPolicy::default(),
    )
    .map_err(CliError::from)
}

/// Creates a file that only its owner can read and write, replacing any earlier one.
fn private_file(path: &Path, append: bool) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true);
    if append {
        options.append(true).read(true);
    } else {
        options.write(true).truncate(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

fn save_profile(dir: &Path, name: &str, profile: &Profile, secret: &SecretString) -> CliResult {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        || name.starts_with('.')
    {
        return Err(CliError(format!(
            "the profile name '{name}' may use only letters, digits, '-', '_' and '.'"
        )));
    }
    let profiles = dir.join("profiles");
    let io = |what: &str, e: std::io::Error| CliError(format!("cannot write {what}: {e}"));
    std::fs::create_dir_all(&profiles).map_err(|e| io(&profiles.display().to_string(), e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&profiles, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| io(&profiles.display().to_string(), e))?;
    }
    let secret_path = profiles.join(format!("{name}.secret"));
    let mut f =
        private_file(&secret_path, false).map_err(|e| io(&secret_path.display().to_string(), e))?;
    f.write_all(secret.expose_secret().as_bytes())
        .map_err(|e| io(&secret_path.display().to_string(), e))?;
    let path = profiles.join(format!("{name}.json"));
    let mut f = private_file(&path, false).map_err(|e| io(&path.display().to_string(), e))?;
    let text = serde_json::to_vec_pretty(profile).map_err(|e| CliError(e.to_string()))?;
    f.write_all(&text)
        .map_err(|e| io(&path.display().to_string(), e))?;
    Ok(())
}

fn open_profile(dir: &Path, name: &str) -> CliResult<GraphClient> {
    let profiles = dir.join("profiles");
    let path = profiles.join(format!("{name}.json"));
    let text = std::fs::read(&path).map_err(|_| {
        CliError(format!(
            "no profile '{name}' in {}: run `latchkey graph login` first",
            profiles.display()
        ))
    })?;
    let profile: Profile = serde_json::from_slice(&text)
        .map_err(|e| CliError(format!("the profile {} is damaged: {e}", path.display())))?;
    let secret = read_secret_file(&profiles.join(format!("{name}.secret")))?;
    client_for(&profile, secret)
}

async fn run_users(client: &GraphClient, cmd: GraphUsersCommand) -> CliResult {
    match cmd {
        GraphUsersCommand::List(a) => list(client, a).await,
        GraphUsersCommand::Get(a) => {
            let user = client.get_user(&a.user, &a.select).await?;
            print_user(&user, a.json);
            Ok(())
        }
        GraphUsersCommand::Create(a) => create(client, a).await,
        GraphUsersCommand::ResetPassword(a) => match a.from_csv.clone() {
            Some(csv) => bulk_reset(client, &csv, a).await,
            None => reset_one(client, a).await,
        },
        GraphUsersCommand::RevokeSessions(a) => {
            client.revoke_sign_in_sessions(&a.user).await?;
            done(a.json, &format!("Revoked every session of {}.", a.user))
        }
        GraphUsersCommand::Disable(a) => {
            client.set_account_enabled(&a.user, false).await?;
            done(a.json, &format!("Blocked sign-in for {}.", a.user))
        }
        GraphUsersCommand::Enable(a) => {
            client.set_account_enabled(&a.user, true).await?;
            done(a.json, &format!("Allowed sign-in for {}.", a.user))
        }
        GraphUsersCommand::Delete(a) => {
            client.delete_user(&a.user).await?;
            done(
                a.json,
                &format!("Deleted {} (restorable for 30 days).", a.user),
            )
        }
    }
}

fn done(json: bool, message: &str) -> CliResult {
    if json {
        output::json(&json!({ "ok": true }));
    } else {
        println!("{message}");
    }
    Ok(())
}

fn print_user(user: &Value, json: bool) {
    if json {
        output::json(user);
        return;
    }
    let pairs: Vec<(&str, String)> = user
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, v)| !k.starts_with('@') && !v.is_null())
        .map(|(k, v)| {
            (
                k.as_str(),
                v.as_str().map_or_else(|| v.to_string(), str::to_owned),
            )
        })
        .collect();
    output::fields(&pairs);
}

async fn list(client: &GraphClient, a: ListArgs) -> CliResult {
    let query = ListQuery {
        filter: a.filter,
        select: a.select,
        top: a.top,
        search: a.search.map(|s| {
            if s.starts_with('"') {
                s
            } else {
                format!("\"{s}\"")
            }
        }),
        orderby: a.orderby,
        count: false,
    };
    let mut users = Vec::new();
    let mut next = None;
    if a.all {
        client
            .list_all_users(&query, |p| users.extend(p.value))
            .await?;
    } else {
        let page = client.list_users(&query).await?;
        users = page.value;
        next = page.next_link;
    }
    if a.json {
        output::json(&json!({ "value": users, "@odata.nextLink": next }));
        return Ok(());
    }
    let cell = |u: &Value, k: &str| u[k].as_str().unwrap_or_default().to_owned();
    let rows: Vec<Vec<String>> = users
        .iter()
        .map(|u| {
            vec![
                cell(u, "displayName"),
                cell(u, "userPrincipalName"),
                cell(u, "id"),
            ]
        })
        .collect();
    output::table(&["DISPLAY NAME", "USER PRINCIPAL NAME", "ID"], &rows);
    if next.is_some() {
        println!("(more users: add --all)");
    }
    Ok(())
}

/// A password for a remote tenant: 16 characters, every category, no look-alikes. The
/// tenant's own policy is not known here; this satisfies Entra's default rules.
fn generated(upn: &str, display_name: &str) -> SecretString {
    let ctx = PasswordContext {
        user_principal_name: upn,
        display_name,
        disable_strong_password: false,
    };
    generate_password(&PasswordPolicy::default(), &ctx, &mut OsRng)
}

async fn create(client: &GraphClient, a: CreateArgs) -> CliResult {
    let (password, was_generated) = match &a.password_file {
        Some(p) => (read_secret_file(p)?, false),
        None => (generated(&a.upn, &a.display_name), true),
    };
    let nickname = a
        .mail_nickname
        .clone()
        .unwrap_or_else(|| a.upn.split('@').next().unwrap_or_default().to_owned());
    let body = json!({
        "accountEnabled": !a.disabled,
        "displayName": a.display_name,
        "mailNickname": nickname,
        "userPrincipalName": a.upn,
        "passwordProfile": {
            "forceChangePasswordNextSignIn": !a.no_force_change,
            "password": password.expose_secret(),
        }
    });
    let user = client.create_user(&body).await?;
    if a.json {
        let mut out = json!({ "id": user["id"], "userPrincipalName": user["userPrincipalName"] });
        if was_generated {
            out["password"] = password.expose_secret().into();
        }
        output::json(&out);
    } else {
        println!(
            "Created {} ({}).",
            a.upn,
            user["id"].as_str().unwrap_or_default()
        );
        if was_generated {
            println!("Password  {}", password.expose_secret());
            println!("This password is shown only once.");
        }
    }
    Ok(())
}

async fn reset_one(client: &GraphClient, a: ResetArgs) -> CliResult {
    let user = a.user.clone().unwrap_or_default();
    let (password, was_generated) = match (&a.password_file, a.generate) {
        (Some(p), _) => (read_secret_file(p)?, false),
        (None, true) => (generated(&user, ""), true),
        (None, false) => {
            return Err(CliError(
                "say how to set the password: --generate or --password-file FILE".into(),
            ));
        }
    };
    client
        .set_password(&user, &password, !a.no_force_change)
        .await?;
    match (a.json, was_generated) {
        (true, true) => output::json(&json!({ "password": password.expose_secret() })),
        (true, false) => output::json(&json!({ "ok": true })),
        (false, true) => {
            println!("Password  {}", password.expose_secret());
            println!("This password is shown only once.");
        }
        (false, false) => println!("The password of {user} was reset."),
    }
    Ok(())
}

/// One line of the results file. `pending` is written before the reset is sent, with the
/// user's `lastPasswordChangeDateTime` as Graph reported it then; `ok` or `failed` after.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Outcome {
    user_principal_name: String,
    status: String,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    last_change_before: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CsvRow {
    user_principal_name: String,
    #[serde(default)]
    password: Option<String>,
}

/// Appends outcomes one line at a time, synced, so that a run killed at any point can be
/// resumed from the file.
struct Journal {
    file: Mutex<File>,
}

impl Journal {
    fn write(&self, o: &Outcome) -> CliResult {
        let mut line = serde_json::to_vec(o).map_err(|e| CliError(e.to_string()))?;
        line.push(b'\n');
        let f = self
            .file
            .lock()
            .map_err(|_| CliError("the results file lock is poisoned".into()))?;
        let mut f: &File = &f;
        f.write_all(&line)
            .and_then(|()| f.sync_data())
            .map_err(|e| CliError(format!("cannot write the results file: {e}")))
    }
}

async fn bulk_reset(client: &GraphClient, csv_path: &Path, a: ResetArgs) -> CliResult {
    let results = a
        .results
        .clone()
        .ok_or_else(|| CliError("--results is required with --from-csv".into()))?;
    let mut reader = csv::Reader::from_path(csv_path)
        .map_err(|e| CliError(format!("cannot read {}: {e}", csv_path.display())))?;
    let mut rows = Vec::new();
    for (i, row) in reader.deserialize::<CsvRow>().enumerate() {
        let row = row.map_err(|e| {
            CliError(format!(
                "{} row {}: {e} (columns: userPrincipalName, password)",
                csv_path.display(),
                i + 2
            ))
        })?;
        rows.push(row);
    }

    // What earlier runs did: the last line per user wins.
    let mut earlier: HashMap<String, Outcome> = HashMap::new();
    if let Ok(f) = File::open(&results) {
        for line in BufReader::new(f).lines() {
            let line =
                line.map_err(|e| CliError(format!("cannot read {}: {e}", results.display())))?;
            // A line cut short by a crash is ignored: its row is reconciled below.
            if let Ok(o) = serde_json::from_str::<Outcome>(&line) {
                earlier.insert(o.user_principal_name.to_lowercase(), o);
            }
        }
    }
    let file = private_file(&results, true)
        .map_err(|e| CliError(format!("cannot open {}: {e}", results.display())))?;
    let journal = Arc::new(Journal {
        file: Mutex::new(file),
    });

    let todo: Vec<(CsvRow, Option<Outcome>)> = rows
        .into_iter()
        .filter_map(|r| {
            let prior = earlier.get(&r.user_principal_name.to_lowercase()).cloned();
            match prior {
                Some(o) if o.status == "ok" => None,
                other => Some((r, other.filter(|o| o.status == "pending"))),
            }
        })
        .collect();
    let bar = indicatif::ProgressBar::new(todo.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let force = !a.no_force_change;
    let limit = Arc::new(tokio::sync::Semaphore::new(a.concurrency as usize));
    let mut tasks = tokio::task::JoinSet::new();
    for (row, pending) in todo {
        let client = client.clone();
        let journal = journal.clone();
        let limit = limit.clone();
        let bar = bar.clone();
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let outcome = reset_row(&client, &journal, row, pending, force).await;
            bar.inc(1);
            outcome
        });
    }
    let (mut ok, mut failed) = (0u32, 0u32);
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(true)) => ok += 1,
            Ok(Ok(false)) => failed += 1,
            Ok(Err(e)) => return Err(e),
            Err(e) => return Err(CliError(format!("a reset task failed: {e}"))),
        }
    }
    bar.finish_and_clear();
    let skipped = earlier.values().filter(|o| o.status == "ok").count();
    if a.json {
        output::json(
            &json!({ "reset": ok, "failed": failed, "alreadyDone": skipped, "results": results }),
        );
    } else {
        println!(
            "Reset {ok} passwords; {failed} failed; {skipped} were done by an earlier run. Outcomes: {}",
            results.display()
        );
    }
    if failed > 0 {
        return Err(CliError(format!(
            "{failed} resets failed; see {} and run the same command again to retry them",
            results.display()
        )));
    }
    Ok(())
}

/// Resets one row. A row left `pending` by an interrupted run is first reconciled: if the
/// user's password changed since the pending line was written, that reset went through and
/// is not sent again.
async fn reset_row(
    client: &GraphClient,
    journal: &Journal,
    row: CsvRow,
    pending: Option<Outcome>,
    force: bool,
) -> CliResult<bool> {
    let upn = row.user_principal_name.trim().to_owned();
    let select = ["lastPasswordChangeDateTime".to_owned()];
    let before = match client.get_user(&upn, &select).await {
        Ok(u) => u["lastPasswordChangeDateTime"].as_str().map(str::to_owned),
        Err(e) => {
            journal.write(&Outcome {
                user_principal_name: upn,
                status: "failed".into(),
                password: None,
                last_change_before: None,
                error: Some(e.to_string()),
            })?;
            return Ok(false);
        }
    };
    if let Some(p) = pending
        && p.last_change_before != before
    {
        journal.write(&Outcome {
            status: "ok".into(),
            ..p
        })?;
        return Ok(true);
    }
    wait_past(before.as_deref()).await;
    let password = match row.password.filter(|p| !p.is_empty()) {
        Some(p) => SecretString::from(p),
        None => generated(&upn, ""),
    };
    // The pending line carries the password so that a reset that lands just before a crash
    // is not lost: the file is the one place it is shown (0600).
    journal.write(&Outcome {
        user_principal_name: upn.clone(),
        status: "pending".into(),
        password: Some(password.expose_secret().to_owned()),
        last_change_before: before.clone(),
        error: None,
    })?;
    let outcome = match client.set_password(&upn, &password, force).await {
        Ok(()) => Outcome {
            user_principal_name: upn,
            status: "ok".into(),
            password: Some(password.expose_secret().to_owned()),
            last_change_before: before,
            error: None,
        },
        // No answer: the reset may or may not have landed. The pending line stays the last
        // word, and the next run reconciles it instead of resetting blindly.
        Err(GraphClientError::Transport(_)) => return Ok(false),
        Err(e) => Outcome {
            user_principal_name: upn,
            status: "failed".into(),
            password: None,
            last_change_before: before,
            error: Some(e.to_string()),
        },
    };
    let ok = outcome.status == "ok";
    journal.write(&outcome)?;
    Ok(ok)
}

/// Graph reports `lastPasswordChangeDateTime` to the second. A reset sent within the same
/// second as the previous change could land with the same value, and a resumed run would then
/// not see that it landed and reset again; so such a reset waits for the next second (at most
/// one second, and only for users changed just now).
async fn wait_past(before: Option<&str>) {
    let Some(at) = before.and_then(|b| chrono::DateTime::parse_from_rfc3339(b).ok()) else {
        return;
    };
    let next = at.with_timezone(&chrono::Utc) + chrono::Duration::seconds(1);
    if let Ok(wait) = (next - chrono::Utc::now()).to_std() {
        tokio::time::sleep(wait.min(std::time::Duration::from_secs(1))).await;
    }
}
