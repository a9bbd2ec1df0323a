//! The admin center under `/admin` and My account under `/account`: server-rendered pages
//! (askama templates and one style sheet compiled in, no script) signed in through the
//! identity platform's authorization code flow with PKCE against Latchkey itself. In the
//! admin center an administrator finds users, sees a user's details and resets their
//! password; in My account any user sees their profile, changes their password, manages
//! their security info (authenticator app, recovery e-mail, recovery codes), sees their
//! sign-ins and signs out everywhere.
//! An administrator may also send a reset password as a view-once link by e-mail; the page
//! behind such a link is `/account/delivered/{token}`. A workflow's approver decides behind
//! `/account/approvals/{token}`, signed in to My account.
//!
//! It owns the pages and their session cookies; every decision (who may enter, what an
//! administrator may do to whom, the password rules) is a `latchkey_core::Directory`
//! operation or core's `authz`, and every response carries the identity platform's strict
//! headers (`latchkey_identity::browser`).

mod account;
mod admin;
mod approvals;
mod delivered;

pub use admin::{PreviewUser, WebState, WorkflowEngine, WorkflowTemplate};

/// The admin center's, My account's and the view-once page's routes.
pub fn router(state: WebState) -> axum::Router {
    admin::router(state.clone())
        .merge(account::router(state.clone()))
        .merge(delivered::router(state.clone()))
        .merge(approvals::router(state))
}
