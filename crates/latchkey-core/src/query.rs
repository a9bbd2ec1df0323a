//! The one typed filter every channel compiles to: Graph's `$filter` (parsed in
//! `latchkey-graph`), and next the admin center's search, SCIM filters and workflow scopes.
//! The store turns it into parameterised SQL; nothing else looks inside it.
//!
//! A value of these types is already checked: properties are known, literals have the
//! property's type, so the store never has to refuse a filter.

use chrono::{DateTime, Utc};

use crate::ids::{SkuId, UserId};

/// What a property holds, which decides which literals and operators fit it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropertyKind {
    /// Compared case-insensitively, as Graph does for directory strings.
    Text,
    Bool,
    DateTime,
    Id,
}

/// The user properties a filter or an ordering can name. Graph's names are in
/// [`UserProperty::graph_name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserProperty {
    Id,
    UserPrincipalName,
    DisplayName,
    GivenName,
    Surname,
    Mail,
    MailNickname,
    JobTitle,
    Department,
    CompanyName,
    OfficeLocation,
    City,
    State,
    Country,
    UsageLocation,
    EmployeeId,
    EmployeeType,
    UserType,
    AccountEnabled,
    CreatedDateTime,
    EmployeeHireDate,
    EmployeeLeaveDateTime,
    LastPasswordChangeDateTime,
}

impl UserProperty {
    pub const ALL: [UserProperty; 23] = [
        Self::Id,
        Self::UserPrincipalName,
        Self::DisplayName,
        Self::GivenName,
        Self::Surname,
        Self::Mail,
        Self::MailNickname,
        Self::JobTitle,
        Self::Department,
        Self::CompanyName,
        Self::OfficeLocation,
        Self::City,
        Self::State,
        Self::Country,
        Self::UsageLocation,
        Self::EmployeeId,
        Self::EmployeeType,
        Self::UserType,
        Self::AccountEnabled,
        Self::CreatedDateTime,
        Self::EmployeeHireDate,
        Self::EmployeeLeaveDateTime,
        Self::LastPasswordChangeDateTime,
    ];

    pub const fn graph_name(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::UserPrincipalName => "userPrincipalName",
            Self::DisplayName => "displayName",
            Self::GivenName => "givenName",
            Self::Surname => "surname",
            Self::Mail => "mail",
            Self::MailNickname => "mailNickname",
            Self::JobTitle => "jobTitle",
            Self::Department => "department",
            Self::CompanyName => "companyName",
            Self::OfficeLocation => "officeLocation",
            Self::City => "city",
            Self::State => "state",
            Self::Country => "country",
            Self::UsageLocation => "usageLocation",
            Self::EmployeeId => "employeeId",
            Self::EmployeeType => "employeeType",
            Self::UserType => "userType",
            Self::AccountEnabled => "accountEnabled",
            Self::CreatedDateTime => "createdDateTime",
            Self::EmployeeHireDate => "employeeHireDate",
            Self::EmployeeLeaveDateTime => "employeeLeaveDateTime",
            Self::LastPasswordChangeDateTime => "lastPasswordChangeDateTime",
        }
    }

    /// Graph's property names are case-insensitive in queries.
    pub fn from_graph_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.graph_name().eq_ignore_ascii_case(name))
    }

    pub const fn kind(self) -> PropertyKind {
        match self {
            Self::Id => PropertyKind::Id,
            Self::AccountEnabled => PropertyKind::Bool,
            Self::CreatedDateTime
            | Self::EmployeeHireDate
            | Self::EmployeeLeaveDateTime
            | Self::LastPasswordChangeDateTime => PropertyKind::DateTime,
            _ => PropertyKind::Text,
        }
    }

    /// Whether a listing can be ordered by it (Graph: `displayName`, `userPrincipalName`,
    /// `createdDateTime` and a few more).
    pub const fn sortable(self) -> bool {
        matches!(
            self,
            Self::DisplayName | Self::UserPrincipalName | Self::CreatedDateTime
        )
    }
}

/// A literal, already of the property's kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    Text(String),
    Bool(bool),
    DateTime(DateTime<Utc>),
    Id(UserId),
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Eq,
    Ne,
    Ge,
    Le,
    Gt,
    Lt,
}

/// A filter over users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    Compare {
        property: UserProperty,
        op: Comparison,
        value: Literal,
    },
    In {
        property: UserProperty,
        values: Vec<Literal>,
    },
    /// Case-insensitive prefix match on a text property.
    StartsWith {
        property: UserProperty,
        prefix: String,
    },
    /// Case-insensitive suffix match on a text property.
    EndsWith {
        property: UserProperty,
        suffix: String,
    },
    /// A word of a text property starts with `word` (Graph's `$search="displayName:word"`).
    WordStartsWith {
        property: UserProperty,
        word: String,
    },
    /// The user holds a licence of this SKU (Graph's
    /// `assignedLicenses/any(x:x/skuId eq {id})`).
    HasLicense(SkuId),
    /// The user's manager is this user (Graph's `directReports`).
    ReportsTo(UserId),
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
}

impl Filter {
    /// Whether Graph counts the filter as an *advanced query* (`ne`, `not`, `endsWith`, …),
    /// which it serves only with `ConsistencyLevel: eventual`.
    pub fn is_advanced(&self) -> bool {
        match self {
            Self::Compare { op, value, .. } => {
                matches!(op, Comparison::Ne) || matches!(value, Literal::Null)
            }
            Self::EndsWith { .. } | Self::Not(_) | Self::WordStartsWith { .. } => true,
            Self::In { .. }
            | Self::StartsWith { .. }
            | Self::HasLicense(_)
            | Self::ReportsTo(_) => false,
            Self::And(a, b) | Self::Or(a, b) => a.is_advanced() || b.is_advanced(),
        }
    }

    /// How deep the tree is, so that callers can bound what they accept.
    pub fn depth(&self) -> usize {
        match self {
            Self::And(a, b) | Self::Or(a, b) => 1 + a.depth().max(b.depth()),
            Self::Not(a) => 1 + a.depth(),
            _ => 1,
        }
    }
}

/// Which way a listing is sorted. Ties are broken by object id, so paging is stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderBy {
    pub property: UserProperty,
    pub descending: bool,
}

impl Default for OrderBy {
    fn default() -> Self {
        Self {
            property: UserProperty::UserPrincipalName,
            descending: false,
        }
    }
}

impl OrderBy {
    /// The order of a listing whose client asked for none. Graph promises no order then, so
    /// Latchkey picks the one its indexes serve: by the property a top-level
    /// `startswith(displayName, …)` narrows, where the index that finds the matching users
    /// also yields them in order and a page stops after `$top` rows (ordering them by UPN
    /// would read and sort every match first); by UPN otherwise.
    pub fn unrequested(filter: Option<&Filter>) -> Self {
        fn narrows_display_name(f: &Filter) -> bool {
            match f {
                Filter::StartsWith {
                    property: UserProperty::DisplayName,
                    ..
                } => true,
                Filter::And(a, b) => narrows_display_name(a) || narrows_display_name(b),
                _ => false,
            }
        }
        match filter {
            Some(f) if narrows_display_name(f) => Self {
                property: UserProperty::DisplayName,
                descending: false,
            },
            _ => Self::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_without_an_order_follows_a_display_name_prefix_and_is_by_upn_otherwise() {
        let prefix = |property| Filter::StartsWith {
            property,
            prefix: "meg".into(),
        };
        let enabled = Filter::Compare {
            property: UserProperty::AccountEnabled,
            op: Comparison::Eq,
            value: Literal::Bool(true),
        };
        let by_name = OrderBy {
            property: UserProperty::DisplayName,
            descending: false,
        };
        assert_eq!(OrderBy::unrequested(None), OrderBy::default());
        assert_eq!(
            OrderBy::unrequested(Some(&prefix(UserProperty::DisplayName))),
            by_name
        );
        let both = Filter::And(
            Box::new(enabled.clone()),
            Box::new(prefix(UserProperty::DisplayName)),
        );
        assert_eq!(OrderBy::unrequested(Some(&both)), by_name);
        // Either side of an `or` may match users outside the prefix: no shortcut.
        let either = Filter::Or(
            Box::new(enabled.clone()),
            Box::new(prefix(UserProperty::DisplayName)),
        );
        assert_eq!(OrderBy::unrequested(Some(&either)), OrderBy::default());
        assert_eq!(
            OrderBy::unrequested(Some(&prefix(UserProperty::UserPrincipalName))),
            OrderBy::default()
        );
        assert_eq!(OrderBy::unrequested(Some(&enabled)), OrderBy::default());
    }

    #[test]
    fn property_names_round_trip_case_insensitively() {
        for p in UserProperty::ALL {
            assert_eq!(UserProperty::from_graph_name(p.graph_name()), Some(p));
            assert_eq!(
                UserProperty::from_graph_name(&p.graph_name().to_uppercase()),
                Some(p)
            );
        }
        assert_eq!(UserProperty::from_graph_name("passwordProfile"), None);
    }

    #[test]
    fn ne_not_endswith_and_null_comparisons_are_advanced_queries() {
        let eq = Filter::Compare {
            property: UserProperty::DisplayName,
            op: Comparison::Eq,
            value: Literal::Text("a".into()),
        };
        assert!(!eq.is_advanced());
        let ne = Filter::Compare {
            property: UserProperty::DisplayName,
            op: Comparison::Ne,
            value: Literal::Text("a".into()),
        };
        assert!(ne.is_advanced());
        assert!(Filter::And(Box::new(eq.clone()), Box::new(ne)).is_advanced());
        assert!(Filter::Not(Box::new(eq.clone())).is_advanced());
        assert!(
            Filter::EndsWith {
                property: UserProperty::Mail,
                suffix: "x".into()
            }
            .is_advanced()
        );
    }
}
