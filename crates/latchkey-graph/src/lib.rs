//! The Microsoft Graph v1.0 surface. For now: the JSON shapes of Graph resources, which the
//! CLI already prints; the HTTP routes, OData parsing and Graph error mapping come next.
//!
//! This crate turns domain values into Graph's wire form and back; it holds no business rule.

pub mod user;
