//! SCIM 2.0 app connections (RFC 7644 client side): where a `scimProvision` /
//! `scimDeprovision` step sends a user, and which of the user's properties become which SCIM
//! attributes. This module is the model (the mapping, the stored form, the store's trait);
//! the directory's operations are in `directory::scim_connections` and the HTTP client in
//! `latchkey-automation`'s `scim` module. No I/O here.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::audit::Events;
use crate::error::DirectoryError;
use crate::ids::TenantId;
use crate::store::StoreResult;
use crate::user::User;

/// The SCIM core user schema (RFC 7643 §4.1).
pub const CORE_USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The enterprise user extension (RFC 7643 §4.3).
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// A SCIM attribute a connection can fill, by the name a mapping uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ScimTarget {
    UserName,
    ExternalId,
    DisplayName,
    GivenName,
    FamilyName,
    /// `emails[type eq "work"].value`.
    WorkEmail,
    Active,
    Title,
    PreferredLanguage,
    /// The enterprise extension's `department`.
    Department,
    /// The enterprise extension's `employeeNumber`.
    EmployeeNumber,
}

impl ScimTarget {
    pub const ALL: [Self; 11] = [
        Self::UserName,
        Self::ExternalId,
        Self::DisplayName,
        Self::GivenName,
        Self::FamilyName,
        Self::WorkEmail,
        Self::Active,
        Self::Title,
        Self::PreferredLanguage,
        Self::Department,
        Self::EmployeeNumber,
    ];

    /// The name a mapping uses.
    pub const fn name(self) -> &'static str {
        match self {
            Self::UserName => "userName",
            Self::ExternalId => "externalId",
            Self::DisplayName => "displayName",
            Self::GivenName => "name.givenName",
            Self::FamilyName => "name.familyName",
            Self::WorkEmail => "emails.work",
            Self::Active => "active",
            Self::Title => "title",
            Self::PreferredLanguage => "preferredLanguage",
            Self::Department => "enterprise.department",
            Self::EmployeeNumber => "enterprise.employeeNumber",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == raw.trim())
    }

    /// Whether the attribute lives in the enterprise extension.
    pub const fn is_enterprise(self) -> bool {
        matches!(self, Self::Department | Self::EmployeeNumber)
    }
}

/// The user properties (Graph names) a mapping can read.
pub const SOURCES: [&str; 16] = [
    "id",
    "userPrincipalName",
    "displayName",
    "givenName",
    "surname",
    "mail",
    "mailNickname",
    "accountEnabled",
    "jobTitle",
    "department",
    "companyName",
    "officeLocation",
    "employeeId",
    "employeeType",
    "mobilePhone",
    "preferredLanguage",
];

/// The value of a source property of `user` (`Null` when unset).
pub fn source_value(user: &User, source: &str) -> Value {
    let p = &user.profile;
    let opt = |v: &Option<String>| v.clone().map_or(Value::Null, Value::String);
    match source {
        "id" => Value::String(user.id.to_string()),
        "userPrincipalName" => Value::String(user.user_principal_name.as_str().to_owned()),
        "displayName" => Value::String(user.display_name.as_str().to_owned()),
        "givenName" => opt(&p.given_name),
        "surname" => opt(&p.surname),
        "mail" => opt(&p.mail),
        "mailNickname" => Value::String(user.mail_nickname.clone()),
        "accountEnabled" => Value::Bool(user.account_enabled),
        "jobTitle" => opt(&p.job_title),
        "department" => opt(&p.department),
        "companyName" => opt(&p.company_name),
        "officeLocation" => opt(&p.office_location),
        "employeeId" => opt(&p.employee_id),
        "employeeType" => opt(&p.employee_type),
        "mobilePhone" => opt(&p.mobile_phone),
        "preferredLanguage" => opt(&p.preferred_language),
        _ => Value::Null,
    }
}

/// Which user property fills which SCIM attribute. `userName` is always mapped; `active`
/// comes only from `accountEnabled` (the one boolean).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimMapping {
    entries: BTreeMap<ScimTarget, String>,
}

impl Default for ScimMapping {
    /// userName ← userPrincipalName, externalId ← id, displayName, name.givenName ←
    /// givenName, name.familyName ← surname, emails.work ← mail, active ← accountEnabled,
    /// title ← jobTitle, enterprise.department ← department.
    fn default() -> Self {
        let entries = [
            (ScimTarget::UserName, "userPrincipalName"),
            (ScimTarget::ExternalId, "id"),
            (ScimTarget::DisplayName, "displayName"),
            (ScimTarget::GivenName, "givenName"),
            (ScimTarget::FamilyName, "surname"),
            (ScimTarget::WorkEmail, "mail"),
            (ScimTarget::Active, "accountEnabled"),
            (ScimTarget::Title, "jobTitle"),
            (ScimTarget::Department, "department"),
        ]
        .into_iter()
        .map(|(t, s)| (t, s.to_owned()))
        .collect();
        Self { entries }
    }
}

impl ScimMapping {
    /// The default mapping changed by `TARGET=SOURCE` entries (an empty source drops the
    /// target). Errors name the field `mapping.TARGET`.
    pub fn with_overrides<'a>(
        overrides: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, DirectoryError> {
        let mut mapping = Self::default();
        for entry in overrides {
            let (target, source) = entry.split_once('=').ok_or_else(|| {
                DirectoryError::invalid(
                    "mapping",
                    format!("'{}' is not TARGET=SOURCE", entry.trim()),
                )
            })?;
            let t = ScimTarget::parse(target).ok_or_else(|| {
                DirectoryError::invalid(
                    format!("mapping.{}", target.trim()),
                    format!(
                        "'{}' is not a SCIM attribute Latchkey fills (one of: {})",
                        target.trim(),
                        ScimTarget::ALL.map(ScimTarget::name).join(", ")
                    ),
                )
            })?;
            match source.trim() {
                "" => {
                    mapping.entries.remove(&t);
                }
                s => {
                    mapping.entries.insert(t, s.to_owned());
                }
            }
        }
        mapping.check()?;
        Ok(mapping)
    }

    fn check(&self) -> Result<(), DirectoryError> {
        if !self.entries.contains_key(&ScimTarget::UserName) {
            return Err(DirectoryError::invalid(
                "mapping.userName",
                "must be mapped (SCIM requires userName)",
            ));
        }
        for (target, source) in &self.entries {
            let field = format!("mapping.{}", target.name());
            if !SOURCES.contains(&source.as_str()) {
                return Err(DirectoryError::invalid(
                    field,
                    format!(
                        "'{source}' is not a user property a mapping can read (one of: {})",
                        SOURCES.join(", ")
                    ),
                ));
            }
            if (*target == ScimTarget::Active) != (source == "accountEnabled") {
                return Err(DirectoryError::invalid(
                    field,
                    "active comes from accountEnabled, and accountEnabled only fills active",
                ));
            }
        }
        Ok(())
    }

    /// Each mapped target with its source property, in a fixed order.
    pub fn entries(&self) -> impl Iterator<Item = (ScimTarget, &str)> {
        self.entries.iter().map(|(t, s)| (*t, s.as_str()))
    }

    pub fn source(&self, target: ScimTarget) -> Option<&str> {
        self.entries.get(&target).map(String::as_str)
    }

    /// Each mapped target with `user`'s value for it.
    pub fn values(&self, user: &User) -> Vec<(ScimTarget, Value)> {
        self.entries()
            .map(|(t, s)| (t, source_value(user, s)))
            .collect()
    }

    /// The stored form: `{"userName": "userPrincipalName", …}`.
    pub fn to_json(&self) -> String {
        let map: serde_json::Map<String, Value> = self
            .entries()
            .map(|(t, s)| (t.name().to_owned(), Value::String(s.to_owned())))
            .collect();
        Value::Object(map).to_string()
    }

    /// Reads the stored form back (validated again).
    pub fn from_json(raw: &str) -> Result<Self, DirectoryError> {
        let bad = |m: String| DirectoryError::Internal(format!("stored SCIM mapping: {m}"));
        let map: BTreeMap<String, String> =
            serde_json::from_str(raw).map_err(|e| bad(e.to_string()))?;
        let mut entries = BTreeMap::new();
        for (t, s) in map {
            let target = ScimTarget::parse(&t).ok_or_else(|| bad(format!("unknown target {t}")))?;
            entries.insert(target, s);
        }
        let mapping = Self { entries };
        mapping.check().map_err(|e| bad(e.to_string()))?;
        Ok(mapping)
    }
}

/// A SCIM connection as stored (migration 0032): the bearer token sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredScimConnection {
    pub tenant_id: TenantId,
    /// As the administrator wrote it; look-ups ignore case.
    pub name: String,
    pub base_url: String,
    /// [`ScimMapping::to_json`].
    pub mapping: String,
    pub sealed_token: Vec<u8>,
    pub updated_at: DateTime<Utc>,
}

/// SCIM app connections.
#[async_trait]
pub trait ScimConnectionStore {
    /// Saves the connection (replacing one of the same name, ignoring case), with its events,
    /// in one transaction.
    async fn save_scim_connection(
        &self,
        connection: &StoredScimConnection,
        events: &Events,
    ) -> StoreResult<()>;
    /// The tenant's connection of that name (ignoring case).
    async fn find_scim_connection(
        &self,
        tenant: TenantId,
        name: &str,
    ) -> StoreResult<Option<StoredScimConnection>>;
    /// Up to `limit` connections ordered by (lower-cased) name, after the name `after`.
    async fn list_scim_connections(
        &self,
        tenant: TenantId,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<StoredScimConnection>>;
    /// Deletes the connection with its events; false (nothing written) if there is none.
    async fn delete_scim_connection(
        &self,
        tenant: TenantId,
        name: &str,
        events: &Events,
    ) -> StoreResult<bool>;
}

#[cfg(test)]
mod tests {
    use crate::error::DirectoryError;
    use crate::workflow::{Action, ScimDeprovisionMode, WorkflowDefinition};

    fn parse(steps: &str, target: &str) -> Result<WorkflowDefinition, DirectoryError> {
        WorkflowDefinition::parse_json(&format!(
            r#"{{"name": "S", "trigger": {{"kind": "manual"}}{target}, "steps": [{steps}]}}"#
        ))
        .map(|w| w.definition)
    }

    fn field(e: DirectoryError) -> String {
        match e {
            DirectoryError::Invalid { property, .. } => property,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn scim_steps_parse_with_deactivate_by_default_and_are_refused_naming_the_field() {
        let w = parse(
            r#"{"action": "scimProvision", "connection": "slack"},
               {"action": "scimDeprovision", "connection": "slack"},
               {"action": "scimDeprovision", "connection": "slack", "mode": "delete"}"#,
            "",
        )
        .unwrap();
        assert_eq!(w.steps[0].action.scim_connection(), Some("slack"));
        assert_eq!(
            w.steps[1].action,
            Action::ScimDeprovision {
                connection: "slack".into(),
                mode: ScimDeprovisionMode::Deactivate
            }
        );
        assert_eq!(w.steps[2].action.name(), "scimDeprovision");
        assert_eq!(
            field(parse(r#"{"action": "scimProvision", "connection": " "}"#, "").unwrap_err()),
            "steps[0].connection"
        );
        let e = parse(
            r#"{"action": "scimDeprovision", "connection": "x", "mode": "shred"}"#,
            "",
        )
        .unwrap_err();
        assert!(e.to_string().contains("shred"), "{e}");
        // The app's user mirrors this directory's: not a step for a connected tenant.
        assert_eq!(
            field(
                parse(
                    r#"{"action": "scimProvision", "connection": "x"}"#,
                    r#", "target": {"tenant": "fabrikam"}"#
                )
                .unwrap_err()
            ),
            "steps[0].action"
        );
    }
}
