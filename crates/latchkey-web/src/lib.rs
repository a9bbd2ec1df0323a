//! The admin center under `/admin`: server-rendered pages (askama templates and one style
//! sheet compiled in, no script) where an administrator signs in through the identity
//! platform's authorization code flow with PKCE against Latchkey itself, finds users, sees a
//! user's details and resets their password.
//!
//! It owns the pages and the admin session's cookie; every decision (who may enter, what an
//! administrator may do to whom, the password rules) is a `latchkey_core::Directory`
//! operation or core's `authz`, and every response carries the identity platform's strict
//! headers (`latchkey_identity::browser`).

mod admin;

pub use admin::{WebState, router};
