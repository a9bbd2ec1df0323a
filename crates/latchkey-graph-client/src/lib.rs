//! A typed async client for Microsoft Graph v1.0 and the identity platform's token endpoint.
//! It talks to Latchkey and to a real Microsoft 365 tenant alike: client-credentials tokens
//! cached until shortly before they expire, `@odata.nextLink` paging that never follows a link
//! off the Graph host (the bearer token would go with it), 429/503/504 retried after
//! `Retry-After` with bounded backoff (also for single requests of a JSON batch), `ConsistencyLevel:
//! eventual` for advanced queries, JSON batching (`$batch`), and national-cloud endpoints.
//!
//! It owns the wire protocol only: no directory rule lives here. The CLI and the automation
//! connectors use it.

mod batch;
mod client;
mod cloud;
mod error;
mod lists;

pub use batch::{BatchRequest, BatchResponse, MAX_BATCH_REQUESTS};
pub use client::{GraphClient, ListQuery, Page, RetryPolicy};
pub use cloud::Cloud;
pub use error::GraphClientError;
pub use lists::{PermissionGrant, ServicePrincipal, SignIn, SignInStatus};
