//! Identifiers. Each is a distinct type so that a tenant id can never be passed where a user
//! id is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! guid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh random (v4) id.
            pub fn new() -> Self {
                Self(Uuid::new_v4())
            }

            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // Lower-case hyphenated, as Graph prints object ids.
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

guid_id!(
    /// A tenant's GUID (`tid` in tokens).
    TenantId
);
guid_id!(
    /// A user's object id (`oid` in tokens, `id` in Graph).
    UserId
);
guid_id!(
    /// An audit event's id.
    EventId
);
guid_id!(
    /// A licence SKU's GUID (Graph's `skuId`), chosen by the tenant when it defines the SKU.
    SkuId
);
guid_id!(
    /// A lifecycle workflow's id.
    WorkflowId
);
guid_id!(
    /// A workflow run's id.
    RunId
);
guid_id!(
    /// An app in the SaaS inventory (not an app registration: that is an `AppId`).
    SaasAppId
);
