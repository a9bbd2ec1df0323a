//! The directory operations' error type. Every surface (Graph JSON, OAuth JSON, HTML, CLI)
//! maps it to its wire format in one place.

use crate::authz::Denied;
use crate::names::InvalidName;
use crate::password::{HashError, PolicyError};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The object does not exist (or is deleted, where that counts as gone).
    #[error("{what} does not exist")]
    NotFound { what: String },
    /// A property's value is malformed or not allowed; `property` uses Graph's names.
    #[error("{property}: {message}")]
    Invalid { property: String, message: String },
    /// A uniqueness rule refused the change, e.g. a UPN already in use.
    #[error("{0}")]
    Conflict(String),
    /// The password does not satisfy the tenant's policy; the message names each rule.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Denied(#[from] Denied),
    /// The object changed since it was read; nothing was written.
    #[error("the user was changed by someone else meanwhile; reload and try again")]
    Stale,
    /// The password-hashing pool is saturated; nothing was written.
    #[error("the password service is busy; try again in a moment")]
    Busy,
    /// A failure that is not the caller's fault. The text is for logs only; surfaces show a
    /// generic message.
    #[error("internal error: {0}")]
    Internal(String),
}

impl DirectoryError {
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound { what: what.into() }
    }

    pub fn invalid(property: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            property: property.into(),
            message: message.into(),
        }
    }
}

impl From<InvalidName> for DirectoryError {
    fn from(e: InvalidName) -> Self {
        Self::invalid(e.property, e.reason)
    }
}

impl From<HashError> for DirectoryError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => Self::Busy,
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<StoreError> for DirectoryError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => Self::Conflict(m),
            StoreError::Stale => Self::Stale,
            StoreError::NotFound => Self::not_found("The object"),
            StoreError::BadCursor => Self::invalid(
                "$skiptoken",
                "is not a page token of this listing; start again from the first page",
            ),
            other => Self::Internal(other.to_string()),
        }
    }
}
