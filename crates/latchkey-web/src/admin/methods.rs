//! Authentication methods in the details pane: the user's registered methods and how many
//! recovery codes are left (`Directory::auth_methods` / `recovery_codes`, for viewers allowed
//! `ReadAuthMethods` on the user), and Remove (`remove_auth_method`, `ManageAuthMethods`).
//! Never a secret: an authenticator shows its name, an e-mail method its address.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use latchkey_core::authz::{Action, authorize};
use latchkey_core::directory::UserRef;
use latchkey_core::ids::UserId;
use latchkey_core::role::DirectoryRole;
use latchkey_identity::browser::csrf_matches;

use super::{
    DirectoryError, Form, ListPosition, PaneBody, SESSION_COOKIE, Viewer, WebState,
    denied_or_transient, html, no_such_user, pane_for, parse_user_id, users_page,
};

const TIME: &str = "%Y-%m-%d %H:%M UTC";

#[derive(Debug)]
pub(super) struct MethodsSection {
    pub(super) methods: Vec<MethodRow>,
    /// "7 of 10 unused", or `None` when the user never generated codes.
    pub(super) recovery_codes: Option<String>,
    pub(super) may_remove: bool,
    pub(super) errors: Vec<String>,
}

#[derive(Debug)]
pub(super) struct MethodRow {
    pub(super) kind: &'static str,
    pub(super) display: String,
    pub(super) created: String,
    pub(super) remove_href: String,
}

pub(super) async fn section(
    state: &WebState,
    v: &Viewer,
    pos: &ListPosition,
    id: UserId,
    roles: &[DirectoryRole],
) -> Result<Option<MethodsSection>, Response> {
    if authorize(&v.actor, Action::ReadAuthMethods, roles).is_err() {
        return Ok(None);
    }
    let target = UserRef::Id(id);
    let methods = state
        .directory
        .auth_methods(&v.actor, v.tenant.id, &target)
        .await
        .map_err(|e| denied_or_transient(&e))?;
    let codes = state
        .directory
        .recovery_codes(&v.actor, v.tenant.id, &target)
        .await
        .map_err(|e| denied_or_transient(&e))?;
    let suffix = pos.suffix();
    Ok(Some(MethodsSection {
        methods: methods
            .iter()
            .map(|m| MethodRow {
                kind: m.kind.display_name(),
                display: m.display.clone(),
                created: m.created.format(TIME).to_string(),
                remove_href: format!("/admin/users/{id}/methods/{}/remove{suffix}", m.id),
            })
            .collect(),
        recovery_codes: codes
            .generated
            .map(|_| format!("{} of {} unused", codes.unused, codes.total)),
        may_remove: authorize(&v.actor, Action::ManageAuthMethods, roles).is_ok(),
        errors: vec![],
    }))
}

/// `POST /admin/users/{id}/methods/{method}/remove`.
pub(super) async fn remove(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path((id, method)): Path<(String, String)>,
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
    let outcome = if !csrf_matches(&headers, SESSION_COOKIE, form.get("csrf")) {
        Err((
            StatusCode::FORBIDDEN,
            "This form has expired or did not come from the admin center. Nothing was removed; try again.".to_owned(),
        ))
    } else {
        match method.parse::<uuid::Uuid>() {
            Err(_) => Err((StatusCode::NOT_FOUND, gone())),
            Ok(m) => match state
                .directory
                .remove_auth_method(&v.actor, v.tenant.id, &UserRef::Id(id), m)
                .await
            {
                Ok(()) => Ok("The authentication method is removed.".to_owned()),
                Err(DirectoryError::NotFound { .. }) => Err((StatusCode::NOT_FOUND, gone())),
                Err(DirectoryError::Denied(d)) => Err((StatusCode::FORBIDDEN, d.0)),
                Err(e) => return denied_or_transient(&e),
            },
        }
    };
    let (mut pane, _) = match pane_for(&state, &v, &pos, id, PaneBody::Details).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let status = match outcome {
        Ok(notice) => {
            pane.notice = Some(notice);
            StatusCode::OK
        }
        Err((status, e)) => {
            match pane.methods.as_mut() {
                Some(m) => m.errors.push(e),
                None => pane.notice = Some(e),
            }
            status
        }
    };
    match users_page(&state, &v, &pos, Some(id), Some(pane)).await {
        Ok(page) => html(status, page.render()),
        Err(r) => r,
    }
}

fn gone() -> String {
    "That method is not registered for this user any more. Nothing was changed.".into()
}
