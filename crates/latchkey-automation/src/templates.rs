//! Built-in workflow templates: definitions an administrator installs as they are
//! (`latchkey workflows import --template NAME`) or starts from. Each is validated by the
//! same parser as any definition when it is saved.

/// A built-in template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Template {
    /// What `--template` takes.
    pub name: &'static str,
    pub description: &'static str,
    /// The definition (JSON).
    pub definition: &'static str,
}

pub const TEMPLATES: &[Template] = &[
    Template {
        name: "offboarding",
        description: "On the leave date: reset the password to an unknown value, revoke sessions, \
                      disable the account, remove licences, notify the manager; delete the user 30 days later",
        definition: r#"{
    "name": "Offboarding at leave date",
    "trigger": {"kind": "leaveDate", "offsetDays": 0},
    "steps": [
        {"action": "resetPasswordUnknown"},
        {"action": "revokeSessions"},
        {"action": "disableAccount"},
        {"action": "removeAllLicenses", "onFailure": "continue"},
        {"action": "notifyManager", "onFailure": "continue"},
        {"action": "wait", "days": 30},
        {"action": "deleteUser"}
    ]
}"#,
    },
    Template {
        name: "credential-review",
        description: "Every year on the hire date's anniversary (tenant time zone): require a \
                      password change at next sign-in",
        definition: r#"{
    "name": "Yearly credential review",
    "trigger": {"kind": "anniversary", "attribute": "employeeHireDate", "offsetDays": 0},
    "steps": [
        {"action": "requirePasswordChange"}
    ]
}"#,
    },
    Template {
        name: "inactivity",
        description: "After 90 days without a sign-in: revoke sessions and disable the account \
                      (install inactivity-warning beside it for the e-mail at 76 days)",
        definition: r#"{
    "name": "Disable after 90 days inactive",
    "trigger": {"kind": "inactivity", "days": 90},
    "scope": "accountEnabled eq true",
    "steps": [
        {"action": "revokeSessions"},
        {"action": "disableAccount"}
    ]
}"#,
    },
    Template {
        name: "inactivity-warning",
        description: "After 76 days without a sign-in: e-mail the user that the account will be \
                      disabled at 90 (the inactivity template) unless they sign in",
        definition: r#"{
    "name": "Warn after 76 days inactive",
    "trigger": {"kind": "inactivity", "days": 76},
    "scope": "accountEnabled eq true",
    "steps": [
        {"action": "sendEmail", "to": "user",
         "subject": "Your account {{ user.userPrincipalName }} will be disabled in 14 days",
         "body": "Hello {{ user.displayName }},\n\nNobody has signed in to {{ user.userPrincipalName }} for 76 days. Accounts unused for 90 days are disabled: sign in within the next 14 days to keep yours.\n\n{{ workflow.name }}"}
    ]
}"#,
    },
    Template {
        name: "joiner",
        description: "When a user is created: set the company name, require a password change \
                      at next sign-in, and e-mail the manager a welcome notice (add \
                      assignLicense / addRole steps for your SKUs and roles)",
        definition: r#"{
    "name": "Joiner on creation",
    "trigger": {"kind": "userCreated"},
    "steps": [
        {"action": "setAttributes", "attributes": {"companyName": "Contoso"}},
        {"action": "requirePasswordChange"},
        {"action": "sendEmail", "to": "manager", "onFailure": "continue",
         "subject": "{{ user.displayName }} joins {{ user.department or 'the company' }}",
         "body": "Hello {{ user.manager.displayName }},\n\n{{ user.displayName }} ({{ user.userPrincipalName }}) now has an account. They will be asked to choose a new password at their first sign-in.\n\n{{ workflow.name }}"}
    ]
}"#,
    },
    Template {
        name: "pre-hire",
        description: "The day before a user's employeeHireDate: enable the account, set a \
                      generated temporary password that must be changed at the first sign-in, \
                      and e-mail the manager a view-once link to it (the new hire has no \
                      mailbox yet; the server needs mail delivery)",
        definition: r#"{
    "name": "Pre-hire temporary password",
    "trigger": {"kind": "hireDate", "offsetDays": -1},
    "steps": [
        {"action": "enableAccount"},
        {"action": "resetPassword", "deliverTo": "manager"}
    ]
}"#,
    },
];

/// The template named `name` (case-insensitive).
pub fn find(name: &str) -> Option<&'static Template> {
    TEMPLATES
        .iter()
        .find(|t| t.name.eq_ignore_ascii_case(name.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use latchkey_core::workflow::WorkflowDefinition;

    #[test]
    fn every_template_is_a_valid_definition_with_a_unique_name() {
        let mut names = std::collections::HashSet::new();
        for t in TEMPLATES {
            let w = WorkflowDefinition::parse_json(t.definition)
                .unwrap_or_else(|e| panic!("template {}: {e}", t.name));
            assert!(names.insert(w.definition.name.clone()), "{}", t.name);
        }
        assert_eq!(
            find("Credential-Review").map(|t| t.name),
            Some("credential-review")
        );
        assert!(find("nope").is_none());
    }
}
