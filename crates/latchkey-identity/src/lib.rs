//! The identity platform: token-signing keys and JWKS, access-token issuance and the one
//! validation function every resource uses, the OAuth 2.0 grants, and the OpenID Connect
//! discovery endpoints, on the paths and in the shapes Microsoft's clients expect.
//!
//! It decides who gets which token; what a token allows inside the directory is decided by
//! `latchkey-core`'s authorization. It writes nothing but through the directory and the
//! store's key methods.

mod assertion;
mod authorize;
pub mod browser;
pub mod error;
pub mod http;
pub mod keys;
mod pages;
mod sspr;
pub mod tokens;
mod user_flows;

pub use keys::KeyRing;
pub use tokens::{AccessClaims, TokenError, TokenService};
