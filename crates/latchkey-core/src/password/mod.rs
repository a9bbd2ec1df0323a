//! The password engine: the tenant's policy and the banned-password check, generation of
//! passwords that satisfy the policy by construction, and argon2id hashing on a bounded pool.
//!
//! Nothing here sees storage; the directory operations decide when to call what.

pub mod banned;
mod common;
pub mod generate;
pub mod hash;
pub mod policy;

pub use generate::{generate_passphrase, generate_password};
pub use hash::{HashError, HashParams, Hasher, PasswordHash, Verification};
pub use policy::{PasswordContext, PasswordPolicy, PolicyError, Violation};
