//! Deleted users: the tenant's recycle bin (users deleted in the last 30 days, paged), each
//! with Restore for viewers whose role may restore (`Directory::restore_user`).

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use latchkey_core::authz::Action;
use latchkey_core::store::UserQuery;
use latchkey_core::user::DELETED_RETENTION_DAYS;
use latchkey_identity::browser::csrf_matches;

use super::{
    Chrome, DirectoryError, Form, ListPosition, PAGE_SIZE, SESSION_COOKIE, Viewer, WebState,
    denied_or_transient, html, parse_user_id, search_filter, viewer,
};

const TIME: &str = "%Y-%m-%d %H:%M UTC";

#[derive(Template)]
#[template(path = "deleted.html")]
struct DeletedPage {
    chrome: Chrome,
    q: String,
    rows: Vec<DeletedRow>,
    next: Option<String>,
    may_restore: bool,
    /// Where Restore posts back to (keeps the search and page).
    suffix: String,
    notice: Option<String>,
    errors: Vec<String>,
}

#[derive(Debug)]
struct DeletedRow {
    id: String,
    display_name: String,
    upn: String,
    deleted: String,
    purge: String,
}

fn href(q: &str, after: Option<&str>) -> String {
    let pos = ListPosition {
        q: q.to_owned(),
        after: after.map(str::to_owned),
        ..ListPosition::default()
    };
    format!("/admin/users/deleted{}", pos.suffix())
}

async fn render(
    state: &WebState,
    v: &Viewer,
    pos: &ListPosition,
    status: StatusCode,
    notice: Option<String>,
    errors: Vec<String>,
) -> Response {
    let query = UserQuery {
        filter: search_filter(&pos.q),
        after: pos.after.clone(),
        limit: PAGE_SIZE,
        ..UserQuery::default()
    };
    let page = match state
        .directory
        .list_deleted_users(&v.actor, v.tenant.id, &query)
        .await
    {
        Ok(p) => p,
        Err(e) => return denied_or_transient(&e),
    };
    let rows = page
        .items
        .into_iter()
        .map(|u| DeletedRow {
            id: u.id.to_string(),
            display_name: u.display_name.to_string(),
            upn: u.user_principal_name.to_string(),
            deleted: u
                .deleted
                .map(|t| t.format(TIME).to_string())
                .unwrap_or_default(),
            purge: u
                .deleted
                .map(|t| {
                    (t + chrono::Duration::days(DELETED_RETENTION_DAYS))
                        .format(TIME)
                        .to_string()
                })
                .unwrap_or_default(),
        })
        .collect();
    html(
        status,
        DeletedPage {
            chrome: v.chrome("deleted"),
            q: pos.q.clone(),
            rows,
            next: page.next.as_deref().map(|n| href(&pos.q, Some(n))),
            may_restore: v.may(Action::RestoreUser),
            suffix: pos.suffix(),
            notice,
            errors,
        }
        .render(),
    )
}

/// `GET /admin/users/deleted?q=&after=`.
pub(super) async fn list(
    State(state): State<WebState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let v = match viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let pos = ListPosition::from_form(&Form::parse_query(query.as_deref()));
    render(&state, &v, &pos, StatusCode::OK, None, vec![]).await
}

/// `POST /admin/users/deleted/{id}/restore`: brings the user back, or says why not (the
/// user name now belongs to an active user; the user is no longer in the recycle bin).
pub(super) async fn restore(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let v = match viewer(&state, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let pos = ListPosition::from_form(&Form::parse_query(query.as_deref()));
    let form = Form::parse(&body);
    if !csrf_matches(&headers, SESSION_COOKIE, form.get("csrf")) {
        let e = "This form has expired or did not come from the admin center. Nothing was restored; try again.";
        return render(
            &state,
            &v,
            &pos,
            StatusCode::FORBIDDEN,
            None,
            vec![e.into()],
        )
        .await;
    }
    let gone = "This user is no longer in Deleted users: they were restored already, or permanently deleted. Nothing was changed.";
    let Some(id) = parse_user_id(&id) else {
        return render(
            &state,
            &v,
            &pos,
            StatusCode::NOT_FOUND,
            None,
            vec![gone.into()],
        )
        .await;
    };
    match state
        .directory
        .restore_user(&v.actor, v.tenant.id, id)
        .await
    {
        Ok(user) => {
            let notice = format!(
                "{} ({}) is restored and is in Active users again.",
                user.display_name, user.user_principal_name
            );
            render(&state, &v, &pos, StatusCode::OK, Some(notice), vec![]).await
        }
        Err(DirectoryError::Conflict(m)) => {
            let e = format!("Not restored. {m}");
            render(&state, &v, &pos, StatusCode::CONFLICT, None, vec![e]).await
        }
        Err(DirectoryError::NotFound { .. }) => {
            render(
                &state,
                &v,
                &pos,
                StatusCode::NOT_FOUND,
                None,
                vec![gone.into()],
            )
            .await
        }
        Err(DirectoryError::Denied(d)) => {
            render(&state, &v, &pos, StatusCode::FORBIDDEN, None, vec![d.0]).await
        }
        Err(e) => denied_or_transient(&e),
    }
}
