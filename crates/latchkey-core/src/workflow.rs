//! Lifecycle workflows: the validated model the automation engine runs. A workflow is a
//! trigger, a scope (which users: a condition in Graph's `$filter` language, compiled to the
//! one [`Filter`] AST when the workflow is saved), and ordered steps, each an action with
//! typed arguments and an on-failure policy.
//!
//! A definition arrives as JSON ([`WorkflowDefinition::parse_json`]); everything a workflow
//! can get wrong is refused there, with an error naming the field, so that nothing invalid is
//! ever stored or run. The definition is stored as JSON with a schema version
//! ([`DEFINITION_SCHEMA`]); a run keeps the workflow version it started with.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::error::DirectoryError;
use crate::odata::{QueryError, parse_filter};
use crate::query::Filter;
use crate::user::User;

/// The version of the stored JSON shape; bumped when the shape changes incompatibly.
pub const DEFINITION_SCHEMA: u32 = 1;
/// Most steps in one workflow.
pub const MAX_STEPS: usize = 50;
/// Time offsets are bounded to ten years either way.
pub const MAX_OFFSET_DAYS: i64 = 3650;
/// Longest workflow name, in characters.
pub const MAX_NAME_LEN: usize = 120;

/// What starts a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum Trigger {
    /// `employeeHireDate` + `offsetDays` has been reached (joiner).
    #[serde(rename_all = "camelCase")]
    HireDate { offset_days: i64 },
    /// `employeeLeaveDateTime` + `offsetDays` has been reached (leaver).
    #[serde(rename_all = "camelCase")]
    LeaveDate { offset_days: i64 },
    /// Only run on demand, for a chosen set of users.
    Manual,
}

impl Trigger {
    /// The occurrence of this trigger for `user`, if the user has one: the instant it is due
    /// and its key (unique per workflow and user, so it fires once). The key carries the
    /// attribute's date, so moving a leave date creates a new occurrence.
    pub fn occurrence(&self, user: &User) -> Option<Occurrence> {
        let (date, offset, label) = match self {
            Self::HireDate { offset_days } => {
                (user.profile.employee_hire_date?, *offset_days, "hire")
            }
            Self::LeaveDate { offset_days } => (
                user.profile.employee_leave_date_time?,
                *offset_days,
                "leave",
            ),
            Self::Manual => return None,
        };
        Some(Occurrence {
            due: date + Duration::days(offset),
            key: format!("{label}:{}:{offset}", date.to_rfc3339()),
        })
    }
}

/// One firing of a trigger for one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occurrence {
    pub due: DateTime<Utc>,
    pub key: String,
}

/// What a step does, with its typed arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum Action {
    /// Sets `accountEnabled` to false (a no-op when already disabled).
    DisableAccount,
    /// Ends every session and refresh token.
    RevokeSessions,
    /// Sets a generated password nobody is told, and requires a change at next sign-in.
    ResetPasswordUnknown,
    /// Removes every licence the user holds.
    RemoveAllLicenses,
    /// E-mails the user's manager that the workflow ran for the user.
    NotifyManager,
}

impl Action {
    pub const fn name(&self) -> &'static str {
        match self {
            Self::DisableAccount => "disableAccount",
            Self::RevokeSessions => "revokeSessions",
            Self::ResetPasswordUnknown => "resetPasswordUnknown",
            Self::RemoveAllLicenses => "removeAllLicenses",
            Self::NotifyManager => "notifyManager",
        }
    }

    /// What the step would do to `user`, for a dry run.
    pub fn describe(&self, user: &User) -> String {
        let upn = user.user_principal_name.as_str();
        match self {
            Self::DisableAccount if !user.account_enabled => {
                format!("{upn} is already disabled: nothing to do")
            }
            Self::DisableAccount => format!("disable the account of {upn}"),
            Self::RevokeSessions => format!("revoke every session and refresh token of {upn}"),
            Self::ResetPasswordUnknown => format!(
                "set an unknown generated password on {upn} and require a change at next sign-in"
            ),
            Self::RemoveAllLicenses => format!("remove every licence {upn} holds"),
            Self::NotifyManager => format!("e-mail the manager of {upn}"),
        }
    }
}

/// What happens to the run when a step fails for good.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OnFailure {
    /// The run stops; later steps are skipped.
    #[default]
    Stop,
    /// The failure is recorded and the next step runs.
    Continue,
}

/// One step. (serde cannot refuse unknown keys next to a flattened enum, so an unknown key
/// in a step is ignored; the action's name is still checked.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    #[serde(flatten)]
    pub action: Action,
    #[serde(default)]
    pub on_failure: OnFailure,
}

/// A workflow as written by an administrator (JSON), before validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkflowDefinition {
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub trigger: Trigger,
    /// A `$filter` over users; absent means every user of the tenant.
    #[serde(default)]
    pub scope: Option<String>,
    pub steps: Vec<Step>,
}

fn yes() -> bool {
    true
}

/// A definition that passed validation, with its scope compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidWorkflow {
    pub definition: WorkflowDefinition,
    pub scope: Option<Filter>,
}

impl WorkflowDefinition {
    /// Parses and validates a JSON definition. A field of the wrong type or unknown to the
    /// model is refused by the parser, whose message names it; the rest is checked by
    /// [`Self::validate`].
    pub fn parse_json(raw: &str) -> Result<ValidWorkflow, DirectoryError> {
        let def: Self = serde_json::from_str(raw).map_err(|e| {
            DirectoryError::invalid("workflow", format!("is not a valid definition: {e}"))
        })?;
        def.validate()
    }

    /// Checks every field and compiles the scope.
    pub fn validate(self) -> Result<ValidWorkflow, DirectoryError> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err(DirectoryError::invalid("name", "must not be empty"));
        }
        if name.chars().count() > MAX_NAME_LEN {
            return Err(DirectoryError::invalid(
                "name",
                format!("must be at most {MAX_NAME_LEN} characters"),
            ));
        }
        if let Trigger::HireDate { offset_days } | Trigger::LeaveDate { offset_days } =
            &self.trigger
            && offset_days.abs() > MAX_OFFSET_DAYS
        {
            return Err(DirectoryError::invalid(
                "trigger.offsetDays",
                format!("must be between -{MAX_OFFSET_DAYS} and {MAX_OFFSET_DAYS}"),
            ));
        }
        if self.steps.is_empty() {
            return Err(DirectoryError::invalid(
                "steps",
                "must name at least one step",
            ));
        }
        if self.steps.len() > MAX_STEPS {
            return Err(DirectoryError::invalid(
                "steps",
                format!("must have at most {MAX_STEPS} steps"),
            ));
        }
        let scope = match self.scope.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => Some(parse_filter(raw).map_err(|e| {
                let (QueryError::Bad(m) | QueryError::Unsupported(m)) = e;
                DirectoryError::invalid("scope", m)
            })?),
        };
        let definition = Self {
            name: name.to_owned(),
            ..self
        };
        Ok(ValidWorkflow { definition, scope })
    }

    /// The stored form: the definition with its schema version.
    pub fn to_stored_json(&self) -> Result<String, DirectoryError> {
        serde_json::to_string(&StoredDefinition {
            schema: DEFINITION_SCHEMA,
            definition: self.clone(),
        })
        .map_err(|e| DirectoryError::Internal(format!("workflow definition: {e}")))
    }

    /// Reads a stored definition back, validating it again (a scope names properties that a
    /// later version might not know).
    pub fn from_stored_json(raw: &str) -> Result<ValidWorkflow, DirectoryError> {
        let stored: StoredDefinition = serde_json::from_str(raw)
            .map_err(|e| DirectoryError::Internal(format!("stored workflow definition: {e}")))?;
        if stored.schema != DEFINITION_SCHEMA {
            return Err(DirectoryError::Internal(format!(
                "stored workflow definition has schema {}, this version reads {DEFINITION_SCHEMA}",
                stored.schema
            )));
        }
        stored.definition.validate()
    }
}

#[derive(Serialize, Deserialize)]
struct StoredDefinition {
    schema: u32,
    definition: WorkflowDefinition,
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFBOARDING: &str = r#"{
        "name": "Offboarding",
        "trigger": {"kind": "leaveDate", "offsetDays": 0},
        "scope": "department eq 'Sales'",
        "steps": [
            {"action": "resetPasswordUnknown"},
            {"action": "revokeSessions"},
            {"action": "disableAccount"},
            {"action": "removeAllLicenses", "onFailure": "continue"},
            {"action": "notifyManager", "onFailure": "continue"}
        ]
    }"#;

    fn invalid_property(e: DirectoryError) -> (String, String) {
        match e {
            DirectoryError::Invalid { property, message } => (property, message),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn an_offboarding_definition_parses_with_its_scope_compiled() {
        let w = WorkflowDefinition::parse_json(OFFBOARDING).unwrap();
        assert_eq!(w.definition.name, "Offboarding");
        assert!(w.definition.enabled);
        assert_eq!(w.definition.steps.len(), 5);
        assert_eq!(w.definition.steps[3].on_failure, OnFailure::Continue);
        assert_eq!(w.definition.steps[0].on_failure, OnFailure::Stop);
        assert!(matches!(w.scope, Some(Filter::Compare { .. })));
    }

    #[test]
    fn a_scope_naming_an_unknown_attribute_is_refused_naming_it() {
        let raw = OFFBOARDING.replace("department eq", "shoeSize eq");
        let (property, message) =
            invalid_property(WorkflowDefinition::parse_json(&raw).unwrap_err());
        assert_eq!(property, "scope");
        assert!(message.contains("shoeSize"), "{message}");
    }

    #[test]
    fn an_unknown_action_or_a_wrong_type_is_refused_naming_it() {
        let raw = OFFBOARDING.replace("revokeSessions", "formatHardDisk");
        let (_, message) = invalid_property(WorkflowDefinition::parse_json(&raw).unwrap_err());
        assert!(message.contains("formatHardDisk"), "{message}");
        let raw = OFFBOARDING.replace("\"offsetDays\": 0", "\"offsetDays\": \"soon\"");
        let (_, message) = invalid_property(WorkflowDefinition::parse_json(&raw).unwrap_err());
        assert!(
            message.contains("soon") || message.contains("integer"),
            "{message}"
        );
    }

    #[test]
    fn empty_names_no_steps_and_huge_offsets_are_refused_naming_the_field() {
        let raw = OFFBOARDING.replace("\"Offboarding\"", "\"  \"");
        assert_eq!(
            invalid_property(WorkflowDefinition::parse_json(&raw).unwrap_err()).0,
            "name"
        );
        let def = WorkflowDefinition {
            steps: vec![],
            ..WorkflowDefinition::parse_json(OFFBOARDING)
                .unwrap()
                .definition
        };
        assert_eq!(invalid_property(def.validate().unwrap_err()).0, "steps");
        let raw = OFFBOARDING.replace("\"offsetDays\": 0", "\"offsetDays\": 99999");
        assert_eq!(
            invalid_property(WorkflowDefinition::parse_json(&raw).unwrap_err()).0,
            "trigger.offsetDays"
        );
    }

    #[test]
    fn the_stored_form_round_trips_with_its_schema_version() {
        let w = WorkflowDefinition::parse_json(OFFBOARDING).unwrap();
        let stored = w.definition.to_stored_json().unwrap();
        assert!(stored.contains("\"schema\":1"));
        assert_eq!(WorkflowDefinition::from_stored_json(&stored).unwrap(), w);
    }
}
