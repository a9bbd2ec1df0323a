//! Licences and manager in the details pane: assign or remove a licence
//! (`Directory::assign_licenses`, for viewers allowed `AssignLicenses`) and set or remove
//! the manager by user name (`set_manager` / `remove_manager`, `UpdateUser` with the user's
//! roles; core refuses a loop). The pane shows what happened, or why not.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use latchkey_core::authz::{Action, authorize};
use latchkey_core::directory::{LicenseDetail, UserRef};
use latchkey_core::ids::{SkuId, UserId};
use latchkey_core::license::{AssignedLicense, LicenseChange};
use latchkey_core::names::Upn;
use latchkey_core::role::DirectoryRole;
use latchkey_identity::browser::csrf_matches;

use super::{
    DirectoryError, Form, ListPosition, PaneBody, SESSION_COOKIE, Viewer, WebState,
    denied_or_transient, html, no_such_user, pane_for, parse_user_id, users_page,
};

/// The pane's forms for licences and manager, as far as the viewer may use them.
#[derive(Debug)]
pub(super) struct AssignSection {
    pub(super) licenses_href: String,
    pub(super) manager_href: String,
    /// SKUs the user does not have yet (id, part number); `None`: the viewer may not assign.
    pub(super) addable: Option<Vec<(String, String)>>,
    /// The user's licences (id, part number), with Remove when the viewer may assign.
    pub(super) assigned: Vec<(String, String)>,
    pub(super) may_manager: bool,
    pub(super) has_manager: bool,
    /// The manager's user name as typed, kept after a refusal.
    pub(super) manager_upn: String,
    pub(super) errors: Vec<String>,
}

impl AssignSection {
    pub(super) fn shown(&self) -> bool {
        self.addable.is_some() || self.may_manager
    }
}

pub(super) async fn section(
    state: &WebState,
    v: &Viewer,
    pos: &ListPosition,
    id: UserId,
    roles: &[DirectoryRole],
    licenses: &[LicenseDetail],
    has_manager: bool,
) -> Result<AssignSection, Response> {
    let suffix = pos.suffix();
    let addable = if authorize(&v.actor, Action::AssignLicenses, &[]).is_ok() {
        let skus = state
            .directory
            .list_skus(&v.actor, v.tenant.id)
            .await
            .map_err(|e| denied_or_transient(&e))?;
        Some(
            skus.into_iter()
                .filter(|u| !licenses.iter().any(|d| d.sku.sku_id == u.sku.sku_id))
                .map(|u| (u.sku.sku_id.to_string(), u.sku.sku_part_number))
                .collect(),
        )
    } else {
        None
    };
    Ok(AssignSection {
        licenses_href: format!("/admin/users/{id}/licenses{suffix}"),
        manager_href: format!("/admin/users/{id}/manager{suffix}"),
        addable,
        assigned: licenses
            .iter()
            .map(|d| (d.sku.sku_id.to_string(), d.sku.sku_part_number.clone()))
            .collect(),
        may_manager: authorize(&v.actor, Action::UpdateUser, roles).is_ok(),
        has_manager,
        manager_upn: String::new(),
        errors: vec![],
    })
}

async fn render(
    state: &WebState,
    v: &Viewer,
    pos: &ListPosition,
    id: UserId,
    status: StatusCode,
    outcome: Result<String, (String, String)>,
) -> Response {
    let (mut pane, _) = match pane_for(state, v, pos, id, PaneBody::Details).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    match outcome {
        Ok(notice) => pane.notice = Some(notice),
        Err((error, typed)) => {
            pane.assign.errors.push(error);
            pane.assign.manager_upn = typed;
        }
    }
    match users_page(state, v, pos, Some(id), Some(pane)).await {
        Ok(page) => html(status, page.render()),
        Err(r) => r,
    }
}

const EXPIRED: &str = "This form has expired or did not come from the admin center. Nothing was changed; submit it again.";

fn words(e: DirectoryError) -> Result<(StatusCode, String), DirectoryError> {
    match e {
        DirectoryError::Invalid { message, .. } | DirectoryError::Conflict(message) => {
            Ok((StatusCode::BAD_REQUEST, message))
        }
        DirectoryError::Denied(d) => Ok((StatusCode::FORBIDDEN, d.0)),
        other => Err(other),
    }
}

/// `POST /admin/users/{id}/licenses`: `op` is `add` or `remove`, `sku` the SKU's id.
pub(super) async fn licenses(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let v = match super::viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(id) = parse_user_id(&id) else {
        return no_such_user();
    };
    let pos = ListPosition::from_form(&Form::parse_query(query.as_deref()));
    let form = Form::parse(&body);
    let refuse = async |status, e: String| {
        render(&state, &v, &pos, id, status, Err((e, String::new()))).await
    };
    if !csrf_matches(&headers, SESSION_COOKIE, form.get("csrf")) {
        return refuse(StatusCode::FORBIDDEN, EXPIRED.into()).await;
    }
    let Some(sku) = form.get("sku").and_then(|s| s.parse::<SkuId>().ok()) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "License: pick a license from the list.".into(),
        )
        .await;
    };
    let add = form.get("op") != Some("remove");
    let change = if add {
        LicenseChange {
            add: vec![AssignedLicense {
                sku_id: sku,
                disabled_plans: vec![],
            }],
            remove: vec![],
        }
    } else {
        LicenseChange {
            add: vec![],
            remove: vec![sku],
        }
    };
    match state
        .directory
        .assign_licenses(&v.actor, v.tenant.id, &UserRef::Id(id), change)
        .await
    {
        Ok(_) => {
            let notice = if add {
                "The license is assigned."
            } else {
                "The license is removed."
            };
            render(&state, &v, &pos, id, StatusCode::OK, Ok(notice.into())).await
        }
        Err(DirectoryError::NotFound { .. }) => {
            refuse(
                StatusCode::NOT_FOUND,
                "That license does not exist any more, or the user no longer has it. Nothing was changed.".into(),
            )
            .await
        }
        Err(e) => match words(e) {
            Ok((status, m)) => refuse(status, format!("Not changed: {m}")).await,
            Err(e) => denied_or_transient(&e),
        },
    }
}

/// `POST /admin/users/{id}/manager`: `op` is `set` (with `upn`) or `remove`.
pub(super) async fn manager(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let v = match super::viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(id) = parse_user_id(&id) else {
        return no_such_user();
    };
    let pos = ListPosition::from_form(&Form::parse_query(query.as_deref()));
    let form = Form::parse(&body);
    let typed = form.get("upn").unwrap_or_default().trim().to_owned();
    let refuse = async |status, e: String| {
        render(&state, &v, &pos, id, status, Err((e, typed.clone()))).await
    };
    if !csrf_matches(&headers, SESSION_COOKIE, form.get("csrf")) {
        return refuse(StatusCode::FORBIDDEN, EXPIRED.into()).await;
    }
    let target = UserRef::Id(id);
    let result = if form.get("op") == Some("remove") {
        state
            .directory
            .remove_manager(&v.actor, v.tenant.id, &target)
            .await
            .map(|()| "The manager is removed.".to_owned())
    } else {
        let upn = match Upn::parse(&typed) {
            Ok(u) => u,
            Err(e) => {
                return refuse(StatusCode::BAD_REQUEST, format!("Manager: {}", e.reason)).await;
            }
        };
        let boss = match state
            .directory
            .get_user(&v.actor, v.tenant.id, &UserRef::Upn(upn))
            .await
        {
            Ok(b) => b,
            Err(DirectoryError::NotFound { .. }) => {
                return refuse(
                    StatusCode::NOT_FOUND,
                    format!("Manager: there is no active user named {typed}."),
                )
                .await;
            }
            Err(e) => return denied_or_transient(&e),
        };
        state
            .directory
            .set_manager(&v.actor, v.tenant.id, &target, boss.id)
            .await
            .map(|()| format!("{} is now the manager.", boss.user_principal_name))
    };
    match result {
        Ok(notice) => render(&state, &v, &pos, id, StatusCode::OK, Ok(notice)).await,
        Err(DirectoryError::NotFound { .. }) => {
            refuse(
                StatusCode::NOT_FOUND,
                "This user has no manager, or no longer exists. Nothing was changed.".into(),
            )
            .await
        }
        Err(e) => match words(e) {
            Ok((status, m)) => refuse(status, format!("Manager not changed: {m}")).await,
            Err(e) => denied_or_transient(&e),
        },
    }
}
