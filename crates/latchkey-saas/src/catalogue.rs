//! The built-in catalogue: common SaaS apps with their vendor, category, the domains they
//! bill and sign in from, and the other names expense reports give them.

use latchkey_core::saas::CatalogueMatch;

/// A known SaaS app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogueApp {
    /// Stable identifier, stored with inventory entries.
    pub key: &'static str,
    pub name: &'static str,
    pub vendor: &'static str,
    pub category: &'static str,
    /// Domains (a subdomain matches too).
    pub domains: &'static [&'static str],
    /// Other spellings of the vendor, already normalised (`vendor::normalize_vendor`).
    pub aliases: &'static [&'static str],
}

impl CatalogueApp {
    /// The entry as core records it.
    pub fn to_match(&self) -> CatalogueMatch {
        CatalogueMatch {
            key: self.key.to_owned(),
            name: self.name.to_owned(),
            vendor: self.vendor.to_owned(),
            category: self.category.to_owned(),
        }
    }
}

/// Looks an entry up by key.
pub fn find(key: &str) -> Option<&'static CatalogueApp> {
    CATALOGUE.iter().find(|a| a.key == key)
}

macro_rules! app {
    ($key:literal, $name:literal, $vendor:literal, $category:literal, [$($d:literal),*], [$($a:literal),*]) => {
        CatalogueApp {
            key: $key,
            name: $name,
            vendor: $vendor,
            category: $category,
            domains: &[$($d),*],
            aliases: &[$($a),*],
        }
    };
}

pub const CATALOGUE: &[CatalogueApp] = &[
    app!(
        "slack",
        "Slack",
        "Slack Technologies, LLC",
        "Communication",
        ["slack.com"],
        ["slack technologies", "slack hq"]
    ),
    app!(
        "zoom",
        "Zoom",
        "Zoom Video Communications, Inc.",
        "Video conferencing",
        ["zoom.us", "zoom.com"],
        ["zoom video communications", "zoom video"]
    ),
    app!(
        "webex",
        "Webex",
        "Cisco Systems, Inc.",
        "Video conferencing",
        ["webex.com"],
        ["cisco webex"]
    ),
    app!(
        "salesforce",
        "Salesforce",
        "Salesforce, Inc.",
        "CRM",
        ["salesforce.com", "force.com"],
        ["sfdc"]
    ),
    app!(
        "hubspot",
        "HubSpot",
        "HubSpot, Inc.",
        "Marketing",
        ["hubspot.com"],
        []
    ),
    app!(
        "mailchimp",
        "Mailchimp",
        "Intuit Inc.",
        "Marketing",
        ["mailchimp.com"],
        ["mail chimp", "intuit mailchimp"]
    ),
    app!(
        "dropbox",
        "Dropbox",
        "Dropbox, Inc.",
        "File storage",
        ["dropbox.com"],
        []
    ),
    app!("box", "Box", "Box, Inc.", "File storage", ["box.com"], []),
    app!(
        "github",
        "GitHub",
        "GitHub, Inc.",
        "Developer tools",
        ["github.com"],
        ["git hub"]
    ),
    app!(
        "gitlab",
        "GitLab",
        "GitLab Inc.",
        "Developer tools",
        ["gitlab.com"],
        []
    ),
    app!(
        "atlassian",
        "Atlassian Cloud",
        "Atlassian Pty Ltd",
        "Project management",
        ["atlassian.com", "atlassian.net"],
        ["atlassian"]
    ),
    app!(
        "jira",
        "Jira",
        "Atlassian Pty Ltd",
        "Project management",
        [],
        ["atlassian jira", "jira software"]
    ),
    app!(
        "confluence",
        "Confluence",
        "Atlassian Pty Ltd",
        "Knowledge base",
        [],
        ["atlassian confluence"]
    ),
    app!(
        "trello",
        "Trello",
        "Atlassian Pty Ltd",
        "Project management",
        ["trello.com"],
        []
    ),
    app!(
        "asana",
        "Asana",
        "Asana, Inc.",
        "Project management",
        ["asana.com"],
        []
    ),
    app!(
        "monday",
        "monday.com",
        "monday.com Ltd.",
        "Project management",
        ["monday.com"],
        []
    ),
    app!(
        "smartsheet",
        "Smartsheet",
        "Smartsheet Inc.",
        "Project management",
        ["smartsheet.com"],
        []
    ),
    app!(
        "linear",
        "Linear",
        "Linear Orbit, Inc.",
        "Project management",
        ["linear.app"],
        ["linear orbit"]
    ),
    app!(
        "notion",
        "Notion",
        "Notion Labs, Inc.",
        "Knowledge base",
        ["notion.so", "notion.com"],
        ["notion labs"]
    ),
    app!(
        "airtable",
        "Airtable",
        "Formagrid, Inc.",
        "Productivity",
        ["airtable.com"],
        ["formagrid"]
    ),
    app!("figma", "Figma", "Figma, Inc.", "Design", ["figma.com"], []),
    app!(
        "canva",
        "Canva",
        "Canva Pty Ltd",
        "Design",
        ["canva.com"],
        []
    ),
    app!(
        "miro",
        "Miro",
        "RealtimeBoard, Inc.",
        "Whiteboard",
        ["miro.com"],
        ["realtimeboard", "realtime board"]
    ),
    app!(
        "adobe-cc",
        "Adobe Creative Cloud",
        "Adobe Inc.",
        "Design",
        ["adobe.com"],
        ["adobe", "adobe systems", "creative cloud"]
    ),
    app!(
        "docusign",
        "DocuSign",
        "DocuSign, Inc.",
        "E-signature",
        ["docusign.com", "docusign.net"],
        ["docu sign"]
    ),
    app!(
        "google-workspace",
        "Google Workspace",
        "Google LLC",
        "Productivity suite",
        ["workspace.google.com", "google.com"],
        ["google", "g suite", "gsuite", "google gsuite"]
    ),
    app!(
        "microsoft-365",
        "Microsoft 365",
        "Microsoft Corporation",
        "Productivity suite",
        ["microsoft.com", "office.com"],
        ["microsoft", "msft", "office 365", "microsoft office 365"]
    ),
    app!(
        "zendesk",
        "Zendesk",
        "Zendesk, Inc.",
        "Customer support",
        ["zendesk.com"],
        []
    ),
    app!(
        "intercom",
        "Intercom",
        "Intercom, Inc.",
        "Customer support",
        ["intercom.com", "intercom.io"],
        []
    ),
    app!(
        "1password",
        "1Password",
        "AgileBits Inc.",
        "Security",
        ["1password.com"],
        ["agilebits", "1 password"]
    ),
    app!("okta", "Okta", "Okta, Inc.", "Security", ["okta.com"], []),
    app!(
        "datadog",
        "Datadog",
        "Datadog, Inc.",
        "Monitoring",
        ["datadoghq.com"],
        ["datadog hq"]
    ),
    app!(
        "loom",
        "Loom",
        "Loom, Inc.",
        "Video messaging",
        ["loom.com"],
        []
    ),
    app!(
        "calendly",
        "Calendly",
        "Calendly LLC",
        "Scheduling",
        ["calendly.com"],
        []
    ),
    app!(
        "workday",
        "Workday",
        "Workday, Inc.",
        "HR",
        ["workday.com", "myworkday.com"],
        []
    ),
    app!(
        "bamboohr",
        "BambooHR",
        "Bamboo HR LLC",
        "HR",
        ["bamboohr.com"],
        ["bamboo hr"]
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vendor::normalize_vendor;

    #[test]
    fn keys_and_normalised_names_and_aliases_are_unique_and_already_normalised() {
        let mut seen: Vec<String> = Vec::new();
        let mut keys: Vec<&str> = Vec::new();
        for app in CATALOGUE {
            assert!(!keys.contains(&app.key), "duplicate key {}", app.key);
            keys.push(app.key);
            for a in app.aliases {
                assert_eq!(
                    normalize_vendor(a),
                    *a,
                    "alias {a} of {} is not normalised",
                    app.key
                );
            }
            for n in std::iter::once(normalize_vendor(app.name))
                .chain(app.aliases.iter().map(|a| (*a).to_owned()))
            {
                assert!(!seen.contains(&n), "{n} names two apps");
                seen.push(n);
            }
        }
    }
}
