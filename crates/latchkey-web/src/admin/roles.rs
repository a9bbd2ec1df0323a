//! Roles: the directory roles (`Directory::list_directory_roles`), a role's members, paged
//! (`list_role_members`), and, for viewers whose role may manage roles, adding a member by
//! user name and removing one (`add_role_member` / `remove_role_member`; core keeps the
//! tenant's last Global Administrator and says so).

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use latchkey_core::authz::Action;
use latchkey_core::directory::UserRef;
use latchkey_core::names::Upn;
use latchkey_core::role::DirectoryRole;
use latchkey_core::store::UserQuery;
use latchkey_identity::browser::csrf_matches;

use super::{
    Chrome, DirectoryError, Form, PAGE_SIZE, SESSION_COOKIE, Viewer, WebState, denied_or_transient,
    html, message, parse_user_id, viewer,
};

#[derive(Template)]
#[template(path = "roles.html")]
struct RolesPage {
    chrome: Chrome,
    roles: Vec<RoleRow>,
}

#[derive(Debug)]
struct RoleRow {
    name: &'static str,
    href: String,
    about: &'static str,
}

#[derive(Template)]
#[template(path = "role.html")]
struct RolePage {
    chrome: Chrome,
    name: &'static str,
    about: &'static str,
    template_id: &'static str,
    members: Vec<Member>,
    next: Option<String>,
    may_manage: bool,
    /// What was typed in "Add member", shown again after a refusal.
    upn: String,
    notice: Option<String>,
    errors: Vec<String>,
}

#[derive(Debug)]
struct Member {
    id: String,
    display_name: String,
    upn: String,
}

fn about(role: DirectoryRole) -> &'static str {
    match role {
        DirectoryRole::GlobalAdministrator => {
            "Can manage everything: users, roles, licences, apps, policies and the audit log."
        }
        DirectoryRole::PrivilegedAuthenticationAdministrator => {
            "Can reset passwords and manage authentication methods of every user, administrators included."
        }
        DirectoryRole::UserAdministrator => {
            "Can create and manage users, and reset passwords of users and of some administrators."
        }
        DirectoryRole::PasswordAdministrator => {
            "Can reset passwords of users without roles and of other password administrators."
        }
        DirectoryRole::HelpdeskAdministrator => {
            "Can reset passwords and revoke sessions of users without roles and of other helpdesk administrators."
        }
        DirectoryRole::LicenseAdministrator => "Can assign and remove licences.",
        DirectoryRole::SaasItReader
        | DirectoryRole::SaasFinanceReader
        | DirectoryRole::SaasSecurityReader => {
            "Can read the SaaS inventory, its renewals and its dashboards; changes nothing."
        }
        DirectoryRole::LifecycleWorkflowsAdministrator => {
            "Can create, change, run and delete lifecycle workflows and read their runs."
        }
    }
}

fn role_href(role: DirectoryRole) -> String {
    format!("/admin/roles/{}", role.template_id())
}

/// `GET /admin/roles`.
pub(super) async fn list(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let v = match viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let roles = match state.directory.list_directory_roles(&v.actor) {
        Ok(r) => r,
        Err(e) => return denied_or_transient(&e),
    };
    let roles = roles
        .iter()
        .map(|r| RoleRow {
            name: r.display_name(),
            href: role_href(*r),
            about: about(*r),
        })
        .collect();
    html(
        StatusCode::OK,
        RolesPage {
            chrome: v.chrome("roles"),
            roles,
        }
        .render(),
    )
}

fn no_such_role() -> Response {
    message(
        StatusCode::NOT_FOUND,
        "Role not found",
        "There is no such directory role. Go to Roles and pick one from the list.",
    )
}

/// The role in a path: its template id (or name, as core's parser accepts).
fn role_in(path: &str) -> Option<DirectoryRole> {
    DirectoryRole::parse(path)
}

/// What the role page says above its members: the user name typed in "Add member" (kept
/// after a refusal), and the outcome of the last change.
#[derive(Debug, Default)]
struct Said {
    upn: String,
    notice: Option<String>,
    errors: Vec<String>,
}

impl Said {
    fn done(notice: String) -> Self {
        Self {
            notice: Some(notice),
            ..Self::default()
        }
    }

    fn refused(upn: String, e: String) -> Self {
        Self {
            upn,
            errors: vec![e],
            ..Self::default()
        }
    }
}

async fn render(
    state: &WebState,
    v: &Viewer,
    role: DirectoryRole,
    after: Option<String>,
    status: StatusCode,
    said: Said,
) -> Response {
    let Said {
        upn,
        notice,
        errors,
    } = said;
    let query = UserQuery {
        after,
        limit: PAGE_SIZE,
        ..UserQuery::default()
    };
    let page = match state
        .directory
        .list_role_members(&v.actor, v.tenant.id, role, &query)
        .await
    {
        Ok(p) => p,
        Err(e) => return denied_or_transient(&e),
    };
    let members = page
        .items
        .into_iter()
        .map(|u| Member {
            id: u.id.to_string(),
            display_name: u.display_name.to_string(),
            upn: u.user_principal_name.to_string(),
        })
        .collect();
    let next = page.next.map(|n| {
        format!(
            "{}?{}",
            role_href(role),
            serde_urlencoded::to_string([("after", n)]).unwrap_or_default()
        )
    });
    html(
        status,
        RolePage {
            chrome: v.chrome("roles"),
            name: role.display_name(),
            about: about(role),
            template_id: role.template_id(),
            members,
            next,
            may_manage: v.may(Action::ManageRoles),
            upn,
            notice,
            errors,
        }
        .render(),
    )
}

/// `GET /admin/roles/{role}?after=`: the role's members.
pub(super) async fn members(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path(role): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let v = match viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(role) = role_in(&role) else {
        return no_such_role();
    };
    let after = Form::parse_query(query.as_deref())
        .get("after")
        .filter(|a| !a.is_empty())
        .map(str::to_owned);
    render(&state, &v, role, after, StatusCode::OK, Said::default()).await
}

const EXPIRED: &str =
    "This form has expired or did not come from the admin center. Nothing was changed; try again.";

/// `POST /admin/roles/{role}/members`: assigns the role to the user named by `upn`.
pub(super) async fn add_member(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path(role): Path<String>,
    body: Bytes,
) -> Response {
    let v = match viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(role) = role_in(&role) else {
        return no_such_role();
    };
    let form = Form::parse(&body);
    let typed = form.get("upn").unwrap_or_default().trim().to_owned();
    let refuse = async |status: StatusCode, e: String| {
        render(
            &state,
            &v,
            role,
            None,
            status,
            Said::refused(typed.clone(), e),
        )
        .await
    };
    if !csrf_matches(&headers, SESSION_COOKIE, form.get("csrf")) {
        return refuse(StatusCode::FORBIDDEN, EXPIRED.into()).await;
    }
    if typed.is_empty() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "Username: type the user name (such as ada@contoso.com) of the user to add.".into(),
        )
        .await;
    }
    let upn = match Upn::parse(&typed) {
        Ok(u) => u,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, format!("Username: {e}")).await,
    };
    match state
        .directory
        .add_role_member(&v.actor, v.tenant.id, role, &UserRef::Upn(upn))
        .await
    {
        Ok(()) => {
            let notice = format!("{typed} is now a {}.", role.display_name());
            render(&state, &v, role, None, StatusCode::OK, Said::done(notice)).await
        }
        Err(DirectoryError::NotFound { .. }) => {
            refuse(
                StatusCode::NOT_FOUND,
                format!("Username: there is no active user named {typed}."),
            )
            .await
        }
        Err(DirectoryError::Conflict(_)) => {
            refuse(
                StatusCode::CONFLICT,
                format!("{typed} already holds the {} role.", role.display_name()),
            )
            .await
        }
        Err(DirectoryError::Denied(d)) => refuse(StatusCode::FORBIDDEN, d.0).await,
        Err(DirectoryError::Invalid { message, .. }) => {
            refuse(StatusCode::BAD_REQUEST, message).await
        }
        Err(e) => denied_or_transient(&e),
    }
}

/// `POST /admin/roles/{role}/members/{id}/remove`.
pub(super) async fn remove_member(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path((role, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let v = match viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(role) = role_in(&role) else {
        return no_such_role();
    };
    let form = Form::parse(&body);
    let refuse = async |status: StatusCode, e: String| {
        render(
            &state,
            &v,
            role,
            None,
            status,
            Said::refused(String::new(), e),
        )
        .await
    };
    if !csrf_matches(&headers, SESSION_COOKIE, form.get("csrf")) {
        return refuse(StatusCode::FORBIDDEN, EXPIRED.into()).await;
    }
    let gone = format!(
        "That user does not hold the {} role any more (or no longer exists). Nothing was changed.",
        role.display_name()
    );
    let Some(id) = parse_user_id(&id) else {
        return refuse(StatusCode::NOT_FOUND, gone).await;
    };
    match state
        .directory
        .remove_role_member(&v.actor, v.tenant.id, role, &UserRef::Id(id))
        .await
    {
        Ok(()) => {
            let notice = format!(
                "The {} role was removed from the user.",
                role.display_name()
            );
            render(&state, &v, role, None, StatusCode::OK, Said::done(notice)).await
        }
        Err(DirectoryError::NotFound { .. }) => refuse(StatusCode::NOT_FOUND, gone).await,
        Err(DirectoryError::Invalid { message, .. }) => {
            refuse(StatusCode::CONFLICT, format!("Not removed: {message}.")).await
        }
        Err(DirectoryError::Denied(d)) => refuse(StatusCode::FORBIDDEN, d.0).await,
        Err(e) => denied_or_transient(&e),
    }
}
