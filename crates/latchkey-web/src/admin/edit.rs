//! Edit in the details pane: the user's names, job title, department and usage location,
//! changed through `Directory::update_user` (`UpdateUser` with the user's roles). The form
//! carries the user's `version`; a form older than the user is refused as stale, changing
//! nothing, and bad input is shown again with a message naming the field.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use latchkey_core::authz::{Action, authorize};
use latchkey_core::directory::{ProfileField, UserChanges, UserRef};
use latchkey_core::ids::UserId;
use latchkey_core::names::DisplayName;
use latchkey_core::user::User;
use latchkey_identity::browser::csrf_matches;

use super::{
    DirectoryError, Form, ListPosition, PaneBody, SESSION_COOKIE, Viewer, WebState,
    denied_or_transient, html, message, no_such_user, pane_for, parse_user_id, users_page,
};

/// The edit form's fields, as stored or as typed.
#[derive(Debug, Default, Clone)]
pub(super) struct EditForm {
    pub(super) version: i64,
    pub(super) href: String,
    pub(super) display: String,
    pub(super) given: String,
    pub(super) surname: String,
    pub(super) job_title: String,
    pub(super) department: String,
    pub(super) usage_location: String,
    pub(super) errors: Vec<String>,
}

const FIELDS: [(&str, ProfileField, &str); 5] = [
    ("given", ProfileField::GivenName, "First name"),
    ("surname", ProfileField::Surname, "Last name"),
    ("job_title", ProfileField::JobTitle, "Job title"),
    ("department", ProfileField::Department, "Department"),
    (
        "usage_location",
        ProfileField::UsageLocation,
        "Usage location",
    ),
];

fn of_user(u: &User, href: String) -> EditForm {
    let o = |s: &Option<String>| s.clone().unwrap_or_default();
    EditForm {
        version: u.version,
        href,
        display: u.display_name.to_string(),
        given: o(&u.profile.given_name),
        surname: o(&u.profile.surname),
        job_title: o(&u.profile.job_title),
        department: o(&u.profile.department),
        usage_location: o(&u.profile.usage_location),
        errors: vec![],
    }
}

async fn render(
    state: &WebState,
    v: &Viewer,
    pos: &ListPosition,
    id: UserId,
    status: StatusCode,
    form: Option<EditForm>,
    notice: Option<String>,
) -> Response {
    let (mut pane, user) = match pane_for(state, v, pos, id, PaneBody::Details).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    pane.notice = notice;
    if let Some(f) = form {
        pane.body = PaneBody::Edit(f);
    } else if status == StatusCode::OK && pane.notice.is_none() {
        let href = format!("/admin/users/{id}/edit{}", pos.suffix());
        pane.body = PaneBody::Edit(of_user(&user, href));
    }
    match users_page(state, v, pos, Some(id), Some(pane)).await {
        Ok(page) => html(status, page.render()),
        Err(r) => r,
    }
}

async fn may_edit(state: &WebState, v: &Viewer, id: UserId) -> Result<(), Response> {
    let roles = state
        .directory
        .user_roles(&v.actor, v.tenant.id, &UserRef::Id(id))
        .await
        .map_err(|e| denied_or_transient(&e))?;
    authorize(&v.actor, Action::UpdateUser, &roles).map_err(|_| {
        message(
            StatusCode::FORBIDDEN,
            "Not allowed",
            "Your administrator role does not allow you to edit this user.",
        )
    })
}

/// `GET /admin/users/{id}/edit`.
pub(super) async fn form(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let v = match super::viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(id) = parse_user_id(&id) else {
        return no_such_user();
    };
    if let Err(r) = may_edit(&state, &v, id).await {
        return r;
    }
    let pos = ListPosition::from_form(&Form::parse_query(query.as_deref()));
    render(&state, &v, &pos, id, StatusCode::OK, None, None).await
}

/// `POST /admin/users/{id}/edit`.
pub(super) async fn save(
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
    let text = |n: &str| form.get(n).unwrap_or_default().trim().to_owned();
    let typed = EditForm {
        version: form
            .get("version")
            .and_then(|s| s.parse().ok())
            .unwrap_or_default(),
        href: format!("/admin/users/{id}/edit{}", pos.suffix()),
        display: text("display"),
        given: text("given"),
        surname: text("surname"),
        job_title: text("job_title"),
        department: text("department"),
        usage_location: text("usage_location").to_ascii_uppercase(),
        errors: vec![],
    };
    let refuse = async |status: StatusCode, e: String, keep: bool| {
        let mut typed = typed.clone();
        typed.errors = vec![e];
        let form = keep.then(|| typed.clone());
        let form = match form {
            Some(f) => Some(f),
            None => {
                // Stale: show the user as they are now, with the message.
                let user = state
                    .directory
                    .get_user(&v.actor, v.tenant.id, &UserRef::Id(id))
                    .await;
                user.ok().map(|u| {
                    let mut f = of_user(&u, typed.href.clone());
                    f.errors = typed.errors.clone();
                    f
                })
            }
        };
        render(&state, &v, &pos, id, status, form, None).await
    };
    if !csrf_matches(&headers, SESSION_COOKIE, form.get("csrf")) {
        return refuse(
            StatusCode::FORBIDDEN,
            "This form has expired or did not come from the admin center. Nothing was changed; check the values and save again.".into(),
            true,
        )
        .await;
    }
    let current = match state
        .directory
        .get_user(&v.actor, v.tenant.id, &UserRef::Id(id))
        .await
    {
        Ok(u) => u,
        Err(e) => return denied_or_transient(&e),
    };
    if current.version != typed.version {
        return refuse(
            StatusCode::CONFLICT,
            "This user was changed since this form was opened. Nothing was changed; the form now shows the user as they are.".into(),
            false,
        )
        .await;
    }
    let display = match DisplayName::parse(&typed.display) {
        Ok(d) => d,
        Err(e) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                format!("Display name: {}", e.reason),
                true,
            )
            .await;
        }
    };
    let mut changes = UserChanges {
        display_name: (display.as_str() != current.display_name.as_str()).then_some(display),
        ..UserChanges::default()
    };
    let now = [
        &current.profile.given_name,
        &current.profile.surname,
        &current.profile.job_title,
        &current.profile.department,
        &current.profile.usage_location,
    ];
    let new = [
        &typed.given,
        &typed.surname,
        &typed.job_title,
        &typed.department,
        &typed.usage_location,
    ];
    for (((_, field, _), old), value) in FIELDS.iter().zip(now).zip(new) {
        let value = (!value.is_empty()).then(|| value.clone());
        if &value != old {
            changes.text.push((*field, value));
        }
    }
    match state
        .directory
        .update_user(&v.actor, v.tenant.id, &UserRef::Id(id), changes)
        .await
    {
        Ok(()) => {
            render(
                &state,
                &v,
                &pos,
                id,
                StatusCode::OK,
                None,
                Some("The user's details are saved.".into()),
            )
            .await
        }
        Err(DirectoryError::Invalid { property, message }) => {
            let label = FIELDS
                .iter()
                .find(|(_, f, _)| f.graph_name() == property)
                .map_or(property.as_str(), |(_, _, l)| l);
            refuse(StatusCode::BAD_REQUEST, format!("{label}: {message}"), true).await
        }
        Err(DirectoryError::Stale) => {
            refuse(
                StatusCode::CONFLICT,
                "This user was changed since this form was opened. Nothing was changed; the form now shows the user as they are.".into(),
                false,
            )
            .await
        }
        Err(e) => denied_or_transient(&e),
    }
}
