//! `latchkey users …`: offline administration straight on the store, through the same
//! directory operations as every other channel, as the local operator.

use latchkey_core::Directory;
use latchkey_core::authz::{Actor, Channel};
use latchkey_core::directory::{NewUser, PasswordChoice, SetPassword, UserRef};
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::role::DirectoryRole;
use latchkey_core::store::UserQuery;
use latchkey_core::user::User;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::{CliError, CliResult, open_directory, read_secret_file, resolve_tenant};
use crate::cli::{PasswordSource, TenantArgs, UsersCommand};
use crate::output;

pub(super) const OPERATOR: Actor = Actor::Operator {
    channel: Channel::Cli,
};

pub async fn run(cmd: UsersCommand) -> CliResult {
    match cmd {
        UsersCommand::Create(a) => {
            let (directory, tenant) = open(&a.tenant).await?;
            let roles = a
                .roles
                .iter()
                .map(|r| {
                    DirectoryRole::parse(r).ok_or_else(|| {
                        CliError(format!(
                            "unknown role '{r}': use one of {}",
                            DirectoryRole::ALL.map(|r| r.display_name()).join(", ")
                        ))
                    })
                })
                .collect::<CliResult<Vec<_>>>()?;
            let created = directory
                .create_user(
                    &OPERATOR,
                    tenant,
                    NewUser {
                        user_principal_name: Upn::parse(&a.upn)
                            .map_err(|e| CliError(e.to_string()))?,
                        display_name: DisplayName::parse(&a.display_name)
                            .map_err(|e| CliError(e.to_string()))?,
                        mail_nickname: None,
                        account_enabled: !a.disabled,
                        profile: Default::default(),
                        password_policies: Default::default(),
                        password: choice(&a.password)?,
                        force_change_next_sign_in: a.force.value(),
                        roles,
                    },
                )
                .await?;
            let user = &created.user;
            if a.tenant.json {
                let mut v = latchkey_graph::user::to_json(user, None);
                if let Some(pw) = &created.generated_password {
                    v["password"] = json!(pw.expose_secret());
                }
                output::json(&v);
            } else {
                let mut pairs = vec![
                    ("Created", user.user_principal_name.to_string()),
                    ("Id", user.id.to_string()),
                ];
                if let Some(pw) = &created.generated_password {
                    pairs.push(("Password", pw.expose_secret().to_owned()));
                }
                output::fields(&pairs);
                once_notice(created.generated_password.is_some(), user);
            }
        }
        UsersCommand::List(a) => {
            let (directory, tenant) = open(&a.tenant).await?;
            let mut query = UserQuery {
                search: a.search.clone(),
                deleted: false,
                deleted_after: None,
                after: a.after.clone(),
                limit: a.top,
                ..Default::default()
            };
            let mut users = Vec::new();
            let next = loop {
                let page = if a.deleted {
                    directory
                        .list_deleted_users(&OPERATOR, tenant, &query)
                        .await?
                } else {
                    directory.list_users(&OPERATOR, tenant, &query).await?
                };
                users.extend(page.items);
                match page.next {
                    Some(next) if a.all => query.after = Some(next),
                    other => break other,
                }
            };
            if a.tenant.json {
                let mut v = json!({
                    "value": users.iter().map(|u| latchkey_graph::user::to_json(u, Some(&LIST_PROPERTIES))).collect::<Vec<_>>(),
                });
                if let Some(next) = next {
                    v["next"] = json!(next);
                }
                output::json(&v);
            } else {
                let rows: Vec<Vec<String>> = users
                    .iter()
                    .map(|u| {
                        vec![
                            u.display_name.to_string(),
                            u.user_principal_name.to_string(),
                            if u.account_enabled {
                                "enabled"
                            } else {
                                "blocked"
                            }
                            .into(),
                            u.id.to_string(),
                        ]
                    })
                    .collect();
                output::table(
                    &["DISPLAY NAME", "USER PRINCIPAL NAME", "SIGN-IN", "ID"],
                    &rows,
                );
                if let Some(next) = next {
                    println!("More users: --after '{next}' (or --all)");
                }
            }
        }
        UsersCommand::Show(a) => {
            let (directory, tenant) = open(&a.tenant).await?;
            let r = UserRef::parse(&a.user)?;
            let user = directory.get_user(&OPERATOR, tenant, &r).await?;
            let roles = directory.user_roles(&OPERATOR, tenant, &r).await?;
            let mut v =
                latchkey_graph::user::to_json(&user, Some(latchkey_graph::user::ALL_PROPERTIES));
            v["forceChangePasswordNextSignIn"] = json!(user.force_change_password_next_sign_in);
            v["directoryRoles"] = json!(roles.iter().map(|r| r.display_name()).collect::<Vec<_>>());
            if a.tenant.json {
                output::json(&v);
            } else {
                let Value::Object(map) = v else { return Ok(()) };
                let pairs: Vec<(&str, String)> = map
                    .iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| {
                        (
                            k.as_str(),
                            v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                        )
                    })
                    .collect();
                output::fields(&pairs);
            }
        }
        UsersCommand::SetPassword(a) => {
            let (directory, tenant) = open(&a.tenant).await?;
            let r = UserRef::parse(&a.user)?;
            let done = directory
                .set_password(
                    &OPERATOR,
                    tenant,
                    &r,
                    SetPassword {
                        choice: choice(&a.password)?,
                        force_change_next_sign_in: a.force.value(),
                        force_change_with_mfa: false,
                        reason: a.reason.clone(),
                    },
                )
                .await?;
            if a.tenant.json {
                let mut v = json!({ "id": done.user_id.to_string(), "forceChangePasswordNextSignIn": a.force.value() });
                if let Some(pw) = &done.generated_password {
                    v["password"] = json!(pw.expose_secret());
                }
                output::json(&v);
            } else if let Some(pw) = &done.generated_password {
                output::fields(&[("Password", pw.expose_secret().to_owned())]);
                println!("This password is shown only once.");
            } else {
                println!("Password set for {}.", a.user);
            }
        }
        UsersCommand::Delete(a) => {
            let (directory, tenant) = open(&a.tenant).await?;
            let r = UserRef::parse(&a.user)?;
            directory.delete_user(&OPERATOR, tenant, &r).await?;
            if a.tenant.json {
                output::json(&json!({ "deleted": a.user }));
            } else {
                println!(
                    "Deleted {}; restorable for 30 days with `latchkey users restore`.",
                    a.user
                );
            }
        }
        UsersCommand::Unlock(a) => {
            let (directory, tenant) = open(&a.tenant).await?;
            let r = UserRef::parse(&a.user)?;
            let unlocked = directory.unlock_user(&OPERATOR, tenant, &r).await?;
            if a.tenant.json {
                output::json(&json!({ "user": a.user, "unlocked": unlocked }));
            } else if unlocked {
                println!("Unlocked {}: they may sign in again.", a.user);
            } else {
                println!("{} was not locked; nothing changed.", a.user);
            }
        }
        UsersCommand::AssignLicense(a) => super::licenses::assign(a).await?,
        UsersCommand::RemoveLicense(a) => super::licenses::remove(a).await?,
        UsersCommand::Methods(a) => {
            let (directory, tenant) = open(&a.tenant).await?;
            let r = UserRef::parse(&a.user)?;
            let methods = directory.auth_methods(&OPERATOR, tenant, &r).await?;
            let rows: Vec<Value> = methods
                .iter()
                .map(|m| {
                    json!({
                        "id": m.id.to_string(),
                        "kind": m.kind.display_name(),
                        "detail": m.display,
                        "createdDateTime": latchkey_graph::user::timestamp(m.created),
                    })
                })
                .collect();
            if a.tenant.json {
                output::json(&json!({ "value": rows }));
            } else if methods.is_empty() {
                println!("No authentication methods besides the password.");
            } else {
                for m in &methods {
                    println!("{}  {}  {}", m.id, m.kind.display_name(), m.display);
                }
            }
        }
        UsersCommand::RemoveMethod(a) => {
            let (directory, tenant) = open(&a.tenant).await?;
            let r = UserRef::parse(&a.user)?;
            let id = a.method.parse::<uuid::Uuid>().map_err(|_| {
                CliError(format!(
                    "'{}' is not a method id; `latchkey users methods {}` lists them",
                    a.method, a.user
                ))
            })?;
            directory
                .remove_auth_method(&OPERATOR, tenant, &r, id)
                .await?;
            println!("Removed the method {id} of {}.", a.user);
        }
        UsersCommand::ImportAuthenticator(a) => {
            let secret = read_secret_file(&a.secret_file)?;
            let (directory, tenant) = open(&a.tenant).await?;
            let r = UserRef::parse(&a.user)?;
            let m = directory
                .import_totp_method(&OPERATOR, tenant, &r, &secret)
                .await?;
            if a.tenant.json {
                output::json(&json!({ "id": m.id.to_string(), "kind": m.kind.display_name() }));
            } else {
                println!(
                    "Imported an authenticator for {} (method {}).",
                    a.user, m.id
                );
            }
        }
        UsersCommand::Restore(a) => {
            let (directory, tenant) = open(&a.tenant).await?;
            let id = deleted_user_id(&directory, tenant, &a.user).await?;
            let user = directory.restore_user(&OPERATOR, tenant, id).await?;
            if a.tenant.json {
                output::json(&latchkey_graph::user::to_json(&user, None));
            } else {
                println!("Restored {}.", user.user_principal_name);
            }
        }
    }
    Ok(())
}

const LIST_PROPERTIES: [&str; 5] = [
    "id",
    "userPrincipalName",
    "displayName",
    "accountEnabled",
    "deletedDateTime",
];

pub(super) async fn open(
    args: &TenantArgs,
) -> CliResult<(Directory, latchkey_core::ids::TenantId)> {
    let directory = open_directory(&args.store).await?;
    let tenant = resolve_tenant(&directory, args.tenant.as_deref()).await?;
    Ok((directory, tenant.id))
}

fn choice(source: &PasswordSource) -> CliResult<PasswordChoice> {
    match &source.password_file {
        Some(path) => Ok(PasswordChoice::Provided(read_secret_file(path)?)),
        // Generating is the default, as in the admin center.
        None => Ok(PasswordChoice::Generate),
    }
}

fn once_notice(generated: bool, user: &User) {
    if generated {
        println!("This password is shown only once.");
    }
    if user.force_change_password_next_sign_in {
        println!(
            "{} must change it at the next sign-in.",
            user.user_principal_name
        );
    }
}

/// A deleted user named by object id, or by UPN when exactly one deleted user has it.
async fn deleted_user_id(
    directory: &Directory,
    tenant: latchkey_core::ids::TenantId,
    name: &str,
) -> CliResult<latchkey_core::ids::UserId> {
    match UserRef::parse(name)? {
        UserRef::Id(id) => Ok(id),
        UserRef::Upn(upn) => {
            let page = directory
                .list_deleted_users(
                    &OPERATOR,
                    tenant,
                    &UserQuery {
                        search: Some(upn.normalized()),
                        limit: 999,
                        ..Default::default()
                    },
                )
                .await?;
            let matches: Vec<_> = page
                .items
                .iter()
                .filter(|u| u.user_principal_name == upn)
                .collect();
            match matches.as_slice() {
                [one] => Ok(one.id),
                [] => Err(CliError(format!("no deleted user '{upn}' can be restored"))),
                _ => Err(CliError(format!(
                    "several deleted users were '{upn}': restore one by its object id (see `latchkey users list --deleted`)"
                ))),
            }
        }
    }
}
