//! The admin center under `/admin`: server-rendered pages (askama templates and one style
//! sheet compiled in, no script) where an administrator signs in through the identity
//! platform's authorization code flow with PKCE against Latchkey itself, finds users, sees a
//! user's details and resets their password (showing it once, or sending the user a
//! view-once link by e-mail), and the page behind such a link, `/account/delivered/{token}`.
//!
//! It owns the pages and the admin session's cookie; every decision (who may enter, what an
//! administrator may do to whom, the password rules) is a `latchkey_core::Directory`
//! operation or core's `authz`, and every response carries the identity platform's strict
//! headers (`latchkey_identity::browser`).

mod admin;
mod delivered;

pub use admin::WebState;

/// The admin center's routes and the view-once page's.
pub fn router(state: WebState) -> axum::Router {
    admin::router(state.clone()).merge(delivered::router(state))
}
