//! The Temporary Access Pass in the details pane: whether the user has one (never the pass),
//! "Create" (the pass is shown on that one response, sent `no-store`, never in a redirect)
//! and "Delete", for administrators whose role may manage the user's authentication methods.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use latchkey_core::authz::{Action, authorize};
use latchkey_core::directory::{NewTemporaryAccessPass, UserRef};
use latchkey_core::ids::UserId;
use latchkey_core::role::DirectoryRole;
use latchkey_core::tap::{DEFAULT_LIFETIME_MINUTES, TapUsability};
use latchkey_identity::browser::csrf_matches;
use secrecy::ExposeSecret;

use super::{
    DirectoryError, Form, ListPosition, PaneBody, SESSION_COOKIE, Viewer, WebState,
    denied_or_transient, html, no_such_user, pane_for, parse_user_id, users_page,
};

const TIME: &str = "%Y-%m-%d %H:%M UTC";

/// What the pane shows of the user's pass, and the forms to create or delete one.
#[derive(Debug)]
pub(super) struct TapSection {
    pub(super) create_href: String,
    pub(super) delete_href: String,
    pub(super) existing: Option<TapSummary>,
    /// No pass stands in the way of a new one (core replaces an expired or used-up pass;
    /// a usable or future one must be deleted first, as in Entra).
    pub(super) may_create: bool,
    /// What was wrong with the last create or delete (each naming the field or the cause).
    pub(super) errors: Vec<String>,
    /// The lifetime and one-time choice to show in the create form.
    pub(super) lifetime: String,
    pub(super) once: bool,
}

#[derive(Debug)]
pub(super) struct TapSummary {
    pub(super) id: String,
    pub(super) state: &'static str,
    pub(super) start: String,
    pub(super) lifetime_minutes: u32,
    pub(super) once: bool,
}

/// A pass just created: shown on this one response and nowhere else.
pub(super) struct TapIssued {
    pub(super) pass: String,
    pub(super) start: String,
    pub(super) end: String,
    pub(super) once: bool,
}

impl std::fmt::Debug for TapIssued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TapIssued")
            .field("pass", &"..")
            .field("start", &self.start)
            .field("end", &self.end)
            .field("once", &self.once)
            .finish()
    }
}

fn words(u: TapUsability) -> &'static str {
    match u {
        TapUsability::EnabledByPolicy => "Usable",
        TapUsability::NotYetValid => "Not yet valid",
        TapUsability::Expired => "Expired",
        TapUsability::OneTimeUsed => "Used",
    }
}

/// The section for the pane, when the viewer's role may manage `id`'s methods.
pub(super) async fn section(
    state: &WebState,
    v: &Viewer,
    pos: &ListPosition,
    id: UserId,
    roles: &[DirectoryRole],
) -> Result<Option<TapSection>, Response> {
    if authorize(&v.actor, Action::ManageAuthMethods, roles).is_err() {
        return Ok(None);
    }
    let passes = state
        .directory
        .temporary_access_passes(&v.actor, v.tenant.id, &UserRef::Id(id))
        .await
        .map_err(|e| denied_or_transient(&e))?;
    let now = state.directory.clock().now();
    let suffix = pos.suffix();
    let may_create = passes.first().is_none_or(|r| {
        matches!(
            r.usability(now),
            TapUsability::Expired | TapUsability::OneTimeUsed
        )
    });
    Ok(Some(TapSection {
        may_create,
        create_href: format!("/admin/users/{id}/temporary-access-pass{suffix}"),
        delete_href: format!("/admin/users/{id}/temporary-access-pass/delete{suffix}"),
        existing: passes.first().map(|r| TapSummary {
            id: r.id.to_string(),
            state: words(r.usability(now)),
            start: r.start.format(TIME).to_string(),
            lifetime_minutes: r.lifetime_minutes,
            once: r.usable_once,
        }),
        errors: vec![],
        lifetime: DEFAULT_LIFETIME_MINUTES.to_string(),
        once: false,
    }))
}

/// Renders the list with `id`'s pane: `body`, and the pass section with its errors (and the
/// lifetime and one-time choice the administrator made, when they are shown again).
async fn pane_page(
    state: &WebState,
    v: &Viewer,
    pos: &ListPosition,
    id: UserId,
    status: StatusCode,
    body: PaneBody,
    (errors, typed): (Vec<String>, Option<(String, bool)>),
) -> Response {
    let (mut pane, _) = match pane_for(state, v, pos, id, PaneBody::Details).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Some(section) = pane.tap.as_mut() else {
        return super::message(
            StatusCode::FORBIDDEN,
            "Not allowed",
            "Your administrator role does not allow you to manage this user's authentication methods.",
        );
    };
    section.errors = errors;
    if let Some((lifetime, once)) = typed {
        section.lifetime = lifetime;
        section.once = once;
    }
    pane.body = body;
    match users_page(state, v, pos, Some(id), Some(pane)).await {
        Ok(page) => html(status, page.render()),
        Err(r) => r,
    }
}

/// What every post here starts with: the administrator, the user, where the list was, the
/// form; or the response to send.
async fn begin(
    state: &WebState,
    headers: &HeaderMap,
    id: &str,
    query: Option<&str>,
    body: &[u8],
) -> Result<(Viewer, UserId, ListPosition, Form), Response> {
    let v = super::viewer(state, headers).await?;
    let id = parse_user_id(id).ok_or_else(no_such_user)?;
    Ok((
        v,
        id,
        ListPosition::from_form(&Form::parse_query(query)),
        Form::parse(body),
    ))
}

const EXPIRED_FORM: &str = "This form has expired or did not come from the admin center. Nothing was changed; submit it again.";

/// `POST /admin/users/{id}/temporary-access-pass`: creates a pass and answers with the
/// pane showing it once.
pub(super) async fn create_pass(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let (v, id, pos, form) = match begin(&state, &headers, &id, query.as_deref(), &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let lifetime_text = form.get("lifetime").unwrap_or_default().trim().to_owned();
    let once = form.get("once") == Some("on");
    let typed = Some((lifetime_text.clone(), once));
    let refuse = async |status: StatusCode, error: String| {
        pane_page(
            &state,
            &v,
            &pos,
            id,
            status,
            PaneBody::Details,
            (vec![error], typed.clone()),
        )
        .await
    };
    if !csrf_matches(&headers, SESSION_COOKIE, form.get("csrf")) {
        return refuse(StatusCode::FORBIDDEN, EXPIRED_FORM.into()).await;
    }
    let Ok(lifetime) = lifetime_text.parse::<u32>() else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "Lifetime (minutes) must be a whole number of minutes, from 10 to 43200.".into(),
        )
        .await;
    };
    let issued = state
        .directory
        .create_temporary_access_pass(
            &v.actor,
            v.tenant.id,
            &UserRef::Id(id),
            NewTemporaryAccessPass {
                start: None,
                lifetime_minutes: Some(lifetime),
                usable_once: Some(once),
            },
        )
        .await;
    match issued {
        Ok(issued) => {
            let shown = TapIssued {
                pass: issued.pass.expose_secret().to_owned(),
                start: issued.record.start.format(TIME).to_string(),
                end: issued.record.end().format(TIME).to_string(),
                once: issued.record.usable_once,
            };
            pane_page(
                &state,
                &v,
                &pos,
                id,
                StatusCode::OK,
                PaneBody::TapIssued(shown),
                (vec![], None),
            )
            .await
        }
        Err(DirectoryError::Invalid { message, .. }) => {
            refuse(
                StatusCode::BAD_REQUEST,
                format!("Lifetime (minutes): {message}"),
            )
            .await
        }
        Err(DirectoryError::Conflict(_)) => {
            refuse(
                StatusCode::CONFLICT,
                "This user already has a Temporary Access Pass. Delete it before creating another."
                    .into(),
            )
            .await
        }
        Err(e) => denied_or_transient(&e),
    }
}

/// `POST /admin/users/{id}/temporary-access-pass/delete`: deletes the pass the form names
/// (a pass replaced meanwhile is not deleted: the form is stale).
pub(super) async fn delete_pass(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let (v, id, pos, form) = match begin(&state, &headers, &id, query.as_deref(), &body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let page = async |status: StatusCode, errors: Vec<String>| {
        pane_page(
            &state,
            &v,
            &pos,
            id,
            status,
            PaneBody::Details,
            (errors, None),
        )
        .await
    };
    if !csrf_matches(&headers, SESSION_COOKIE, form.get("csrf")) {
        return page(StatusCode::FORBIDDEN, vec![EXPIRED_FORM.into()]).await;
    }
    let stale = "This Temporary Access Pass was deleted or replaced since this page was opened. Nothing was deleted; check the pass below.";
    let Some(pass_id) = form.get("pass").and_then(|p| p.parse::<uuid::Uuid>().ok()) else {
        return page(StatusCode::CONFLICT, vec![stale.into()]).await;
    };
    match state
        .directory
        .delete_temporary_access_pass(&v.actor, v.tenant.id, &UserRef::Id(id), pass_id)
        .await
    {
        Ok(()) => page(StatusCode::OK, vec![]).await,
        Err(DirectoryError::NotFound { .. }) => {
            page(StatusCode::CONFLICT, vec![stale.into()]).await
        }
        Err(e) => denied_or_transient(&e),
    }
}
