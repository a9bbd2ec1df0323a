//! The Microsoft Graph v1.0 surface: the `/v1.0` routes, bearer authentication through the
//! identity platform's one token validation, OData query parsing into core's typed query
//! (`latchkey_core::query`), the JSON shapes of Graph resources, and Graph's error envelope.
//!
//! This crate translates between Graph's wire form and the directory's operations; it holds
//! no business rule and no SQL. Who may do what is decided by `latchkey-core`.

pub mod audit_logs;
pub mod auth;
pub mod auth_methods;
mod batch;
pub mod body;
mod delta;
pub mod error;
pub mod fuzz;
pub mod http;
pub mod licenses;
pub mod lifecycle;
pub mod list;
pub mod manager;
pub mod odata;
mod openapi;
pub mod roles;
mod saas;
mod saas_licenses;
mod service_principals;
mod tap;
pub mod throttle;
pub mod user;
