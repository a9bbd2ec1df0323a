//! The approval page behind a workflow's e-mailed link, `/account/approvals/{token}`. The
//! approver signs in to My account (the sign-in comes back here) and sees who and what is
//! asking, with Approve and Reject buttons. A `GET` never decides (mail scanners prefetch
//! links); the decision is a `POST` carrying My account's CSRF token, and it is the core
//! operation [`latchkey_core::Directory::decide_approval`]'s. Another signed-in user is
//! refused; a decided or expired request shows its state; every link that leads to no
//! request gets the same page.

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use latchkey_core::DirectoryError;
use latchkey_core::approval::ApprovalStatus;
use latchkey_core::directory::ApprovalView;

use crate::account::{account_csrf_ok, viewer_or_sign_in};
use crate::admin::{Form, WebState, html_without_script as html};

pub fn router(state: WebState) -> Router {
    Router::new()
        .route("/account/approvals/{token}", get(show).post(decide))
        .layer(axum::extract::DefaultBodyLimit::max(4 * 1024))
        .with_state(state)
}

#[derive(Template)]
#[template(path = "approval.html")]
struct ApprovalPage<'a> {
    heading: &'a str,
    body: Body,
}

enum Body {
    /// The request, waiting for this approver, with the form's CSRF token.
    Ask(ApprovalView, String),
    /// The request's state once decided (or expired).
    State(ApprovalView, &'static str),
    /// A signed-in user who is not the approver.
    NotYours,
    Gone,
    Retry,
}

fn page(status: StatusCode, heading: &str, body: Body) -> Response {
    html(status, ApprovalPage { heading, body }.render())
}

fn gone() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "This approval link does not work",
        Body::Gone,
    )
}

fn not_yours() -> Response {
    page(
        StatusCode::FORBIDDEN,
        "This request is not yours to decide",
        Body::NotYours,
    )
}

/// The page for a request that cannot be decided any more.
fn state_page(view: ApprovalView) -> Response {
    let (heading, said) = match view.status {
        ApprovalStatus::Approved => ("Approved", "approved"),
        ApprovalStatus::Rejected => ("Rejected", "rejected"),
        ApprovalStatus::Pending => ("This request has expired", "expired"),
    };
    page(StatusCode::OK, heading, Body::State(view, said))
}

/// `GET`: who and what is asking, and the buttons; nothing is decided.
async fn show(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    let Ok(view) = state.directory.approval_by_token(&token).await else {
        return gone();
    };
    let viewer =
        match viewer_or_sign_in(&state, &headers, &format!("/account/approvals/{token}")).await {
            Ok(v) => v,
            Err(r) => return r,
        };
    if viewer.user.id != view.approver_id {
        return not_yours();
    }
    if view.status != ApprovalStatus::Pending || view.expired {
        return state_page(view);
    }
    page(
        StatusCode::OK,
        "Approval requested",
        Body::Ask(view, viewer.csrf),
    )
}

/// `POST`: the approver's decision, if the form came from their page.
async fn decide(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path(token): Path<String>,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    if !account_csrf_ok(&headers, form.get("csrf")) {
        return page(StatusCode::FORBIDDEN, "Nothing was decided", Body::Retry);
    }
    let viewer =
        match viewer_or_sign_in(&state, &headers, &format!("/account/approvals/{token}")).await {
            Ok(v) => v,
            Err(r) => return r,
        };
    let approve = match form.get("decision") {
        Some("approve") => true,
        Some("reject") => false,
        _ => {
            return page(StatusCode::BAD_REQUEST, "Nothing was decided", Body::Retry);
        }
    };
    match state
        .directory
        .decide_approval(&viewer.actor, &token, approve)
        .await
    {
        Ok(view) => state_page(view),
        Err(DirectoryError::NotFound { .. }) => gone(),
        Err(DirectoryError::Denied(_)) => not_yours(),
        Err(DirectoryError::Invalid { .. }) => {
            match state.directory.approval_by_token(&token).await {
                Ok(view) => state_page(view),
                Err(_) => gone(),
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "approval decision failed");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                Body::Retry,
            )
        }
    }
}
