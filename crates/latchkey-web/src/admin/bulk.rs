//! Bulk actions on the users ticked in Active users: block or unblock sign-in, revoke
//! sessions, require a password change at next sign-in, delete (after a confirmation page),
//! and reset passwords. Each user goes through
//! the same directory operation one at a time, so one refusal (a role that may not act on
//! that user, a user deleted meanwhile) stops nothing else; the answer lists each user's
//! outcome. A bulk reset answers with a CSV file generated in this response: each user's new
//! password once, sent `no-store`, kept nowhere.

use askama::Template;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use latchkey_core::authz::{Action, authorize};
use latchkey_core::directory::{PasswordChoice, SetPassword, UserChanges, UserRef};
use latchkey_core::ids::{SkuId, UserId};
use latchkey_core::license::{AssignedLicense, LicenseChange};
use latchkey_core::role::DirectoryRole;
use latchkey_identity::browser::csrf_matches;
use secrecy::ExposeSecret;

use super::csv_out::{download, record};
use super::{
    Chrome, DirectoryError, Form, ListPosition, SESSION_COOKIE, Viewer, WebState, html, message,
    parse_user_id, viewer,
};

/// Most users one bulk request acts on (a page of the list is 25).
const MAX_SELECTED: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bulk {
    Block,
    Unblock,
    Revoke,
    Delete,
    Reset,
    RequireChange,
    AssignLicense,
    Unlock,
}

impl Bulk {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "block" => Self::Block,
            "unblock" => Self::Unblock,
            "revoke" => Self::Revoke,
            "delete" => Self::Delete,
            "reset" => Self::Reset,
            "require_change" => Self::RequireChange,
            "assign_license" => Self::AssignLicense,
            "unlock" => Self::Unlock,
            _ => return None,
        })
    }

    fn title(self) -> &'static str {
        match self {
            Self::Block => "Block sign-in",
            Self::Unblock => "Unblock sign-in",
            Self::Revoke => "Revoke sessions",
            Self::Delete => "Delete users",
            Self::Reset => "Reset passwords",
            Self::RequireChange => "Require password change",
            Self::AssignLicense => "Assign license",
            Self::Unlock => "Unlock",
        }
    }

    fn done(self) -> &'static str {
        match self {
            Self::Block => "Sign-in blocked",
            Self::Unblock => "Sign-in allowed",
            Self::Revoke => "Sessions revoked",
            Self::Delete => "Deleted (restorable for 30 days from Deleted users)",
            Self::Reset => "Password reset",
            Self::RequireChange => "Must change their password at next sign-in",
            Self::AssignLicense => "License assigned",
            Self::Unlock => "Unlocked: may sign in again",
        }
    }
}

/// Which bulk actions the viewer's roles allow on ordinary users (the command bar shows
/// these; each user is still authorized by core with their own roles).
#[derive(Debug, Clone, Copy)]
pub(super) struct BulkActions {
    pub(super) update: bool,
    pub(super) revoke: bool,
    pub(super) delete: bool,
    pub(super) reset: bool,
    pub(super) assign: bool,
}

impl BulkActions {
    pub(super) fn of(v: &Viewer) -> Self {
        Self {
            update: v.may(Action::UpdateUser),
            revoke: v.may(Action::RevokeSessions),
            delete: v.may(Action::DeleteUser),
            reset: v.may(Action::ResetPassword),
            assign: v.may(Action::AssignLicenses),
        }
    }

    pub(super) fn any(self) -> bool {
        self.update || self.revoke || self.delete || self.reset || self.assign
    }
}

/// The single-user actions of the details pane (posted to the bulk route with one id), as
/// the viewer's roles allow them on this user with this user's roles.
#[derive(Debug)]
pub(super) struct PaneActions {
    pub(super) id: String,
    /// "block" or "unblock", whichever applies, if the viewer may update the user.
    pub(super) toggle: Option<(&'static str, &'static str)>,
    pub(super) revoke: bool,
    pub(super) require_change: bool,
    pub(super) delete: bool,
    /// The user's Edit form, when the viewer may update the user.
    pub(super) edit_href: Option<String>,
    /// Until when smart lockout holds the account ("2026-12-03 15:04 UTC"), when it is
    /// locked now; with `unlock`, the viewer may end it.
    pub(super) locked_until: Option<String>,
    pub(super) unlock: bool,
}

impl PaneActions {
    pub(super) fn of(
        v: &Viewer,
        user: &latchkey_core::user::User,
        roles: &[DirectoryRole],
        locked_until: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Self {
        let may = |a| authorize(&v.actor, a, roles).is_ok();
        Self {
            id: user.id.to_string(),
            toggle: may(Action::UpdateUser).then_some(if user.account_enabled {
                ("block", "Block sign-in")
            } else {
                ("unblock", "Unblock sign-in")
            }),
            revoke: may(Action::RevokeSessions),
            require_change: may(Action::ResetPassword),
            delete: may(Action::DeleteUser),
            edit_href: may(Action::UpdateUser).then(|| format!("/admin/users/{}/edit", user.id)),
            locked_until: locked_until.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()),
            // Whoever may reset the user's password may let them try it again.
            unlock: locked_until.is_some() && may(Action::ResetPassword),
        }
    }

    pub(super) fn any(&self) -> bool {
        self.toggle.is_some() || self.revoke || self.require_change || self.delete || self.unlock
    }
}

#[derive(Template)]
#[template(path = "bulk_result.html")]
struct ResultPage {
    chrome: Chrome,
    title: &'static str,
    rows: Vec<Outcome>,
    done: usize,
    refused: usize,
    back: String,
}

#[derive(Template)]
#[template(path = "bulk_confirm.html")]
struct ConfirmPage {
    chrome: Chrome,
    rows: Vec<Outcome>,
    ids: Vec<String>,
    action: String,
    back: String,
}

#[derive(Debug)]
struct Outcome {
    user: String,
    ok: bool,
    text: String,
}

fn reason(e: &DirectoryError) -> String {
    match e {
        DirectoryError::Denied(d) => d.0.clone(),
        DirectoryError::NotFound { .. } => {
            "This user no longer exists (deleted meanwhile); nothing was done.".into()
        }
        DirectoryError::Stale => {
            "This user was changed by someone else meanwhile; nothing was done. Try again.".into()
        }
        DirectoryError::Busy => "The password service is busy; nothing was done. Try again.".into(),
        DirectoryError::Invalid { message, .. } | DirectoryError::Conflict(message) => {
            message.clone()
        }
        DirectoryError::Policy(p) => p
            .violations
            .iter()
            .map(|v| v.message())
            .collect::<Vec<_>>()
            .join(" "),
        DirectoryError::Internal(_) => {
            tracing::error!(error = %e, "a bulk action failed for one user");
            "A transient error has occurred; nothing was done for this user.".into()
        }
    }
}

/// `POST /admin/users/bulk?q=&after=`: `action` and the ticked `ids`.
pub(super) async fn act(
    State(state): State<WebState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let v = match viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let pos = ListPosition::from_form(&Form::parse_query(query.as_deref()));
    let back = format!("/admin/users{}", pos.suffix());
    let form = Form::parse(&body);
    if !csrf_matches(&headers, SESSION_COOKIE, form.get("csrf")) {
        return message(
            StatusCode::FORBIDDEN,
            "Nothing was changed",
            "This form has expired or did not come from the admin center. Go back to Active users, tick the users again and choose the action.",
        );
    }
    let Some(action) = form.get("action").and_then(Bulk::parse) else {
        return message(
            StatusCode::BAD_REQUEST,
            "Nothing was changed",
            "Choose an action from the command bar above the list.",
        );
    };
    let mut ids: Vec<UserId> = Vec::new();
    for s in form.get_all("ids") {
        match parse_user_id(s) {
            Some(id) if !ids.contains(&id) => ids.push(id),
            Some(_) => {}
            None => {
                return message(
                    StatusCode::BAD_REQUEST,
                    "Nothing was changed",
                    "The selection holds something that is not a user. Go back to Active users and tick the users again.",
                );
            }
        }
    }
    if ids.is_empty() {
        return message(
            StatusCode::BAD_REQUEST,
            "Nothing was changed",
            "Tick at least one user in the list, then choose the action.",
        );
    }
    if ids.len() > MAX_SELECTED {
        return message(
            StatusCode::BAD_REQUEST,
            "Nothing was changed",
            &format!("Choose at most {MAX_SELECTED} users at a time."),
        );
    }
    // Each user's name for the outcome list (and the CSV); a user who is gone is an outcome.
    let mut users = Vec::with_capacity(ids.len());
    for id in &ids {
        let u = state
            .directory
            .get_user(&v.actor, v.tenant.id, &UserRef::Id(*id))
            .await;
        users.push((*id, u));
    }
    if action == Bulk::Delete && form.get("confirm") != Some("yes") {
        let rows = users
            .iter()
            .map(|(id, u)| match u {
                Ok(u) => Outcome {
                    user: format!("{} ({})", u.display_name, u.user_principal_name),
                    ok: true,
                    text: String::new(),
                },
                Err(e) => Outcome {
                    user: id.to_string(),
                    ok: false,
                    text: reason(e),
                },
            })
            .collect();
        return html(
            StatusCode::OK,
            ConfirmPage {
                chrome: v.chrome("users"),
                rows,
                ids: ids.iter().map(ToString::to_string).collect(),
                action: "delete".into(),
                back: back.clone(),
            }
            .render(),
        );
    }
    let sku = match (action, form.get("sku").map(str::parse::<SkuId>)) {
        (Bulk::AssignLicense, Some(Ok(s))) => Some(s),
        (Bulk::AssignLicense, _) => {
            return message(
                StatusCode::BAD_REQUEST,
                "Nothing was changed",
                "Choose the license to assign from the list beside Assign license.",
            );
        }
        _ => None,
    };
    if action == Bulk::Reset {
        return reset(&state, &v, users, form.get("require_change") == Some("on")).await;
    }
    let mut rows = Vec::with_capacity(users.len());
    for (id, found) in users {
        let mut done = action.done();
        let (name, result) = match found {
            Err(e) => (id.to_string(), Err(e)),
            Ok(u) => {
                let target = UserRef::Id(id);
                let result = match action {
                    Bulk::Block | Bulk::Unblock => {
                        let changes = UserChanges {
                            account_enabled: Some(action == Bulk::Unblock),
                            ..UserChanges::default()
                        };
                        state
                            .directory
                            .update_user(&v.actor, v.tenant.id, &target, changes)
                            .await
                    }
                    Bulk::Revoke => {
                        state
                            .directory
                            .revoke_sign_in_sessions(&v.actor, v.tenant.id, &target)
                            .await
                    }
                    Bulk::Delete => {
                        state
                            .directory
                            .delete_user(&v.actor, v.tenant.id, &target)
                            .await
                    }
                    Bulk::RequireChange => state
                        .directory
                        .require_password_change(&v.actor, v.tenant.id, &target)
                        .await
                        .map(|_| ()),
                    Bulk::AssignLicense => match sku {
                        Some(sku_id) => {
                            let change = LicenseChange {
                                add: vec![AssignedLicense {
                                    sku_id,
                                    disabled_plans: vec![],
                                }],
                                remove: vec![],
                            };
                            state
                                .directory
                                .assign_licenses(&v.actor, v.tenant.id, &target, change)
                                .await
                                .map(|_| ())
                        }
                        None => Ok(()),
                    },
                    Bulk::Unlock => match state
                        .directory
                        .unlock_user(&v.actor, v.tenant.id, &target)
                        .await
                    {
                        Ok(true) => Ok(()),
                        Ok(false) => {
                            done = "Was not locked: nothing changed";
                            Ok(())
                        }
                        Err(e) => Err(e),
                    },
                    Bulk::Reset => Ok(()),
                };
                (
                    format!("{} ({})", u.display_name, u.user_principal_name),
                    result,
                )
            }
        };
        rows.push(match result {
            Ok(()) => Outcome {
                user: name,
                ok: true,
                text: done.into(),
            },
            Err(e) => Outcome {
                user: name,
                ok: false,
                text: reason(&e),
            },
        });
    }
    let done = rows.iter().filter(|r| r.ok).count();
    html(
        StatusCode::OK,
        ResultPage {
            chrome: v.chrome("users"),
            title: action.title(),
            refused: rows.len() - done,
            done,
            rows,
            back,
        }
        .render(),
    )
}

/// Resets each user's password to a generated one and answers with the CSV: user name,
/// display name, the new password (exactly as generated, so it is not neutralised; it is
/// ours, not typed by anyone) and the outcome.
async fn reset(
    state: &WebState,
    v: &Viewer,
    users: Vec<(UserId, Result<latchkey_core::user::User, DirectoryError>)>,
    require_change: bool,
) -> Response {
    let mut out = Vec::new();
    record(
        &mut out,
        &[
            ("userPrincipalName", false),
            ("displayName", false),
            ("password", false),
            ("result", false),
        ],
    );
    for (id, found) in users {
        let u = match found {
            Ok(u) => u,
            Err(e) => {
                record(
                    &mut out,
                    &[
                        (&id.to_string(), false),
                        ("", false),
                        ("", true),
                        (&reason(&e), false),
                    ],
                );
                continue;
            }
        };
        let request = SetPassword {
            choice: PasswordChoice::Generate,
            force_change_next_sign_in: require_change,
            force_change_with_mfa: false,
            reason: Some("Bulk reset in the admin center".into()),
        };
        let upn = u.user_principal_name.to_string();
        let name = u.display_name.to_string();
        match state
            .directory
            .set_password(&v.actor, v.tenant.id, &UserRef::Id(id), request)
            .await
        {
            Ok(set) => {
                let pw = set.generated_password;
                let pw = pw.as_ref().map(|p| p.expose_secret()).unwrap_or_default();
                record(
                    &mut out,
                    &[
                        (&upn, false),
                        (&name, false),
                        (pw, true),
                        ("Password reset", false),
                    ],
                );
            }
            Err(e) => record(
                &mut out,
                &[
                    (&upn, false),
                    (&name, false),
                    ("", true),
                    (&reason(&e), false),
                ],
            ),
        }
    }
    let stamp = state.directory.clock().now().format("%Y%m%d-%H%M%S");
    download(Body::from(out), &format!("reset-passwords-{stamp}.csv"))
}
