//! Tenants: the unit of isolation. Every row in the store carries its tenant.

use chrono::{DateTime, Utc};

use crate::ids::TenantId;
use crate::names::DomainName;
use crate::password::PasswordPolicy;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: TenantId,
    pub display_name: String,
    /// Verified domains; the first is the default (used for new users' UPNs by default).
    pub domains: Vec<DomainName>,
    pub password_policy: PasswordPolicy,
    pub created: DateTime<Utc>,
    /// Users holding a directory role must sign in with a second factor (and register one
    /// at sign-in if they have none).
    pub require_mfa_for_admins: bool,
}

impl Tenant {
    pub fn default_domain(&self) -> Option<&DomainName> {
        self.domains.first()
    }

    /// Whether `domain` (any case) is one of the tenant's verified domains.
    pub fn has_domain(&self, domain: &str) -> bool {
        self.domains
            .iter()
            .any(|d| d.as_str().eq_ignore_ascii_case(domain))
    }
}
