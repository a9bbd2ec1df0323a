//! Latchkey's directory core: domain types (tenants, users, roles, licences), the password engine
//! (policy, generation, hashing on a bounded pool), authorization decisions, the directory
//! operations every channel calls, and the `Store` trait they write through.
//!
//! Core does no I/O of its own: no sockets, no files, no database driver. Time and
//! randomness come in through [`clock::Clock`] and the callers' RNG. This is checked by a
//! test that reads `cargo metadata`.

pub mod app;
pub mod approval;
pub mod audit;
pub mod auth_method;
pub mod authz;
pub mod clock;
pub mod crypto;
pub mod delivery;
pub mod directory;
pub mod error;
pub mod ids;
pub mod interactive;
pub mod license;
pub mod mail;
pub mod names;
pub mod odata;
pub mod password;
pub mod query;
pub mod role;
pub mod saas;
pub mod saas_license;
pub mod saas_remote;
pub mod scim_connection;
pub mod sign_in;
pub mod sspr;
pub mod store;
pub mod tap;
pub mod tenant;
pub mod user;
pub mod workflow;
pub mod workflow_http;
pub mod workflow_store;

pub use directory::Directory;
pub use error::DirectoryError;
