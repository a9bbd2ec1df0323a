//! View-once delivery of a secret (a temporary password) through a link sent by e-mail.
//!
//! The link carries a 256-bit random token; the store keeps only its SHA-256 digest, and
//! the secret sealed under the master key with the purpose [`VIEW_ONCE_PURPOSE`]. Revealing
//! it wipes the sealed secret in the same transaction that records the opening and its audit
//! event, so it is shown once; an unopened delivery's secret is wiped when it expires.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::audit::Events;
use crate::ids::{TenantId, UserId};
use crate::store::StoreResult;

/// The sealing purpose of a delivered secret.
pub const VIEW_ONCE_PURPOSE: &str = "view-once";

/// How long a link works unless the server is told otherwise (as Entra's default for
/// temporary credentials sent to people: one day).
pub const DEFAULT_LIFETIME: Duration = Duration::hours(24);

/// The shortest and longest lifetime an operator may configure.
pub const MIN_LIFETIME: Duration = Duration::minutes(10);
pub const MAX_LIFETIME: Duration = Duration::days(7);

/// The server's settings for delivery by e-mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliverySettings {
    /// Whether this server has a mail server to send through. Without one, channels do not
    /// offer delivery by e-mail (messages would only wait in the queue).
    pub mail_enabled: bool,
    /// How long a view-once link works, between [`MIN_LIFETIME`] and [`MAX_LIFETIME`].
    pub lifetime: Duration,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            mail_enabled: false,
            lifetime: DEFAULT_LIFETIME,
        }
    }
}

impl DeliverySettings {
    /// Checks the lifetime; the message names the allowed range.
    pub fn validate(&self) -> Result<(), String> {
        if (MIN_LIFETIME..=MAX_LIFETIME).contains(&self.lifetime) {
            Ok(())
        } else {
            Err("a view-once link must live between 10 minutes and 7 days (168 hours)".into())
        }
    }
}

/// A delivery as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct ViewOnceRecord {
    pub id: Uuid,
    pub tenant_id: TenantId,
    /// The user whose password this is.
    pub user_id: UserId,
    /// SHA-256 of the link's token.
    pub digest: [u8; 32],
    /// The secret sealed under the master key; `None` once revealed or expired.
    pub sealed_secret: Option<Vec<u8>>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub opened_at: Option<DateTime<Utc>>,
    /// Who reset the password (the initiator's display name), for the page.
    pub created_by: String,
}

impl fmt::Debug for ViewOnceRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ViewOnceRecord")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .field("opened_at", &self.opened_at)
            .finish_non_exhaustive()
    }
}

/// The storage of view-once deliveries. Part of [`crate::store::Store`]; deliveries are
/// inserted only through [`Events::deliveries`], with the password change they deliver.
#[async_trait]
pub trait DeliveryStore: Send + Sync {
    async fn find_view_once(&self, digest: &[u8; 32]) -> StoreResult<Option<ViewOnceRecord>>;
    /// Records the opening and wipes the sealed secret, with the events, in one transaction;
    /// `false` (and nothing written) if it was already opened or wiped: of two racing
    /// reveals exactly one wins.
    async fn open_view_once(
        &self,
        id: Uuid,
        at: DateTime<Utc>,
        events: &Events,
    ) -> StoreResult<bool>;
    /// Wipes the sealed secret of deliveries that expired before `before`, and deletes
    /// deliveries (opened or not) that expired more than a day before it; returns how many
    /// secrets were wiped.
    async fn purge_view_once(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}
