//! Directory roles, with the role-template ids Entra uses for them.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DirectoryRole {
    GlobalAdministrator,
    PrivilegedAuthenticationAdministrator,
    UserAdministrator,
    PasswordAdministrator,
    HelpdeskAdministrator,
    /// Assigns and removes licences (and reads users); resets nobody's password.
    LicenseAdministrator,
    /// Latchkey's own: reads the SaaS inventory and its dashboards (IT's view); changes
    /// nothing.
    SaasItReader,
    /// Latchkey's own: reads the SaaS inventory and its dashboards (Finance's view).
    SaasFinanceReader,
    /// Latchkey's own: reads the SaaS inventory and its dashboards (Security's view).
    SaasSecurityReader,
    /// Creates and manages lifecycle workflows and reads their runs; manages no user
    /// directly (the workflow's own steps do, as the workflow).
    LifecycleWorkflowsAdministrator,
}

impl DirectoryRole {
    pub const ALL: [DirectoryRole; 10] = [
        DirectoryRole::GlobalAdministrator,
        DirectoryRole::PrivilegedAuthenticationAdministrator,
        DirectoryRole::UserAdministrator,
        DirectoryRole::PasswordAdministrator,
        DirectoryRole::HelpdeskAdministrator,
        DirectoryRole::LicenseAdministrator,
        DirectoryRole::SaasItReader,
        DirectoryRole::SaasFinanceReader,
        DirectoryRole::SaasSecurityReader,
        DirectoryRole::LifecycleWorkflowsAdministrator,
    ];

    /// The SaaS reader roles: the inventory and its dashboards, read-only.
    pub const SAAS_READERS: [DirectoryRole; 3] = [
        DirectoryRole::SaasItReader,
        DirectoryRole::SaasFinanceReader,
        DirectoryRole::SaasSecurityReader,
    ];

    /// Entra's `roleTemplateId` for the role; Graph clients match roles on it.
    pub const fn template_id(self) -> &'static str {
        match self {
            Self::GlobalAdministrator => "62e90394-69f5-4237-9190-012177145e10",
            Self::PrivilegedAuthenticationAdministrator => "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",
            Self::UserAdministrator => "fe930be7-5e62-47db-91af-98c3a49a38b1",
            Self::PasswordAdministrator => "966707d0-3269-4727-9be2-8c3a10f19b9d",
            Self::HelpdeskAdministrator => "729827e3-9c14-49f7-bb1b-9608f156bbb8",
            Self::LicenseAdministrator => "4d6ac14f-3453-41d0-bef9-a3e0c569773a",
            // Entra has no such roles: these ids are Latchkey's own.
            Self::SaasItReader => "00225e00-ecba-4c4e-beed-f8c4b698b1e1",
            Self::SaasFinanceReader => "54dedbfe-5101-4974-a9be-ed48c2b06ea8",
            Self::SaasSecurityReader => "a490e565-9d43-45d9-942d-0a4dc16c587c",
            Self::LifecycleWorkflowsAdministrator => "59d46f88-662b-457b-bceb-5c3809e5908f",
        }
    }

    pub const fn display_name(self) -> &'static str {
        match self {
            Self::GlobalAdministrator => "Global Administrator",
            Self::PrivilegedAuthenticationAdministrator => {
                "Privileged Authentication Administrator"
            }
            Self::UserAdministrator => "User Administrator",
            Self::PasswordAdministrator => "Password Administrator",
            Self::HelpdeskAdministrator => "Helpdesk Administrator",
            Self::LicenseAdministrator => "License Administrator",
            Self::SaasItReader => "SaaS IT Reader",
            Self::SaasFinanceReader => "SaaS Finance Reader",
            Self::SaasSecurityReader => "SaaS Security Reader",
            Self::LifecycleWorkflowsAdministrator => "Lifecycle Workflows Administrator",
        }
    }

    /// Accepts the template id, the display name, or the display name without spaces, in any
    /// case; what a CLI user or a stored row says.
    pub fn parse(input: &str) -> Option<Self> {
        let squashed: String = input
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        Self::ALL.into_iter().find(|r| {
            r.template_id() == squashed
                || r.display_name().replace(' ', "").to_ascii_lowercase() == squashed
        })
    }
}

impl fmt::Display for DirectoryRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.display_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_from_their_names_and_template_ids() {
        for role in DirectoryRole::ALL {
            assert_eq!(DirectoryRole::parse(role.display_name()), Some(role));
            assert_eq!(DirectoryRole::parse(role.template_id()), Some(role));
        }
        assert_eq!(
            DirectoryRole::parse("helpdeskadministrator"),
            Some(DirectoryRole::HelpdeskAdministrator)
        );
        assert_eq!(DirectoryRole::parse("Janitor"), None);
    }
}
