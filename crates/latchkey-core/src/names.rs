//! Validated names: user principal names, domain names, display names. Each has a `parse`
//! constructor, so a value of the type is always valid.

use std::fmt;

use serde::Serialize;

/// Why a name was refused. The message names the property, in Graph's terms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{property}: {reason}")]
pub struct InvalidName {
    pub property: &'static str,
    pub reason: String,
}

impl InvalidName {
    fn new(property: &'static str, reason: impl Into<String>) -> Self {
        Self {
            property,
            reason: reason.into(),
        }
    }
}

/// A DNS domain name such as `contoso.test`, stored lower-case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct DomainName(String);

impl DomainName {
    pub fn parse(input: &str) -> Result<Self, InvalidName> {
        const PROP: &str = "domain";
        let s = input.trim().to_ascii_lowercase();
        if s.is_empty() {
            return Err(InvalidName::new(PROP, "the domain name is empty"));
        }
        if s.len() > 253 {
            return Err(InvalidName::new(
                PROP,
                "the domain name is longer than 253 characters",
            ));
        }
        let labels: Vec<&str> = s.split('.').collect();
        if labels.len() < 2 {
            return Err(InvalidName::new(
                PROP,
                format!("'{s}' is not a domain name with at least two labels, such as contoso.com"),
            ));
        }
        for label in &labels {
            let ok = !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-');
            if !ok {
                return Err(InvalidName::new(
                    PROP,
                    format!(
                        "'{s}' is not a valid domain name (letters, digits and inner hyphens only, dot-separated)"
                    ),
                ));
            }
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first label, commonly the organisation's name (`contoso` for `contoso.test`).
    pub fn first_label(&self) -> &str {
        self.0.split('.').next().unwrap_or(&self.0)
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user principal name `alias@domain`. The alias keeps the case it was given (Entra does
/// too); comparisons and uniqueness are case-insensitive, through [`Upn::normalized`].
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Upn(String);

impl Upn {
    /// Entra's rules: the alias may use letters, digits and `' . - _ ! # ^ ~`, must not start
    /// or end with a dot nor contain two in a row, and is at most 64 characters; the domain
    /// at most 48; the whole at most 113.
    pub fn parse(input: &str) -> Result<Self, InvalidName> {
        const PROP: &str = "userPrincipalName";
        let s = input.trim();
        let Some((alias, domain)) = s.rsplit_once('@') else {
            return Err(InvalidName::new(
                PROP,
                "must have the form alias@domain, such as adele@contoso.com",
            ));
        };
        if alias.is_empty() {
            return Err(InvalidName::new(PROP, "the part before '@' is empty"));
        }
        if alias.chars().count() > 64 {
            return Err(InvalidName::new(
                PROP,
                "the part before '@' is longer than 64 characters",
            ));
        }
        if let Some(c) = alias
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "'.-_!#^~".contains(*c)))
        {
            return Err(InvalidName::new(
                PROP,
                format!(
                    "the character '{c}' is not allowed before '@' (letters, digits and ' . - _ ! # ^ ~ only)"
                ),
            ));
        }
        if alias.starts_with('.') || alias.ends_with('.') || alias.contains("..") {
            return Err(InvalidName::new(
                PROP,
                "the part before '@' must not start or end with a dot or contain two dots in a row",
            ));
        }
        let domain = DomainName::parse(domain).map_err(|e| InvalidName::new(PROP, e.reason))?;
        if domain.as_str().len() > 48 {
            return Err(InvalidName::new(
                PROP,
                "the domain after '@' is longer than 48 characters",
            ));
        }
        if alias.len() + 1 + domain.as_str().len() > 113 {
            return Err(InvalidName::new(PROP, "is longer than 113 characters"));
        }
        Ok(Self(format!("{alias}@{domain}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The alias before `@`.
    pub fn alias(&self) -> &str {
        self.0.rsplit_once('@').map_or(&self.0, |(a, _)| a)
    }

    /// The domain after `@`, already lower-case.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, d)| d)
    }

    /// The case-folded form used for uniqueness and look-up.
    pub fn normalized(&self) -> String {
        self.0.to_lowercase()
    }
}

impl PartialEq for Upn {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}
impl Eq for Upn {}

impl fmt::Display for Upn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A display name: not blank, at most 256 characters, trimmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(input: &str) -> Result<Self, InvalidName> {
        const PROP: &str = "displayName";
        let s = input.trim();
        if s.is_empty() {
            return Err(InvalidName::new(PROP, "must not be empty"));
        }
        if s.chars().count() > 256 {
            return Err(InvalidName::new(PROP, "is longer than 256 characters"));
        }
        if s.chars().any(char::is_control) {
            return Err(InvalidName::new(
                PROP,
                "must not contain control characters",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `mailNickname`: the alias Exchange uses. Graph requires it on create; when a channel does
/// not ask for one, it is derived from the UPN's alias.
pub fn mail_nickname_from(upn: &Upn) -> String {
    upn.alias()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_upn_keeps_its_case_but_compares_case_insensitively() {
        let a = Upn::parse("Adele.Vance@Contoso.Test").unwrap();
        assert_eq!(a.as_str(), "Adele.Vance@contoso.test");
        assert_eq!(a, Upn::parse("adele.vance@contoso.test").unwrap());
        assert_eq!(a.normalized(), "adele.vance@contoso.test");
        assert_eq!(a.alias(), "Adele.Vance");
        assert_eq!(a.domain(), "contoso.test");
    }

    #[test]
    fn malformed_upns_are_refused_with_a_reason() {
        for bad in [
            "",
            "no-at-sign",
            "@contoso.test",
            "a b@contoso.test",
            ".lead@contoso.test",
            "trail.@contoso.test",
            "two..dots@contoso.test",
            "user@nodot",
            "user@-bad-.test",
            "üser@contoso.test",
        ] {
            let err = Upn::parse(bad).unwrap_err();
            assert_eq!(err.property, "userPrincipalName", "{bad}");
            assert!(!err.reason.is_empty());
        }
        let long_alias = format!("{}@contoso.test", "a".repeat(65));
        assert!(Upn::parse(&long_alias).is_err());
        assert!(Upn::parse(&format!("{}@contoso.test", "a".repeat(64))).is_ok());
    }

    #[test]
    fn domains_are_lower_cased_and_validated() {
        assert_eq!(
            DomainName::parse("Contoso.TEST").unwrap().as_str(),
            "contoso.test"
        );
        assert_eq!(
            DomainName::parse("contoso.test").unwrap().first_label(),
            "contoso"
        );
        assert!(DomainName::parse("localhost").is_err());
        assert!(DomainName::parse("a..b").is_err());
        assert!(DomainName::parse("under_score.test").is_err());
    }

    #[test]
    fn display_names_must_not_be_blank() {
        assert!(DisplayName::parse("   ").is_err());
        assert_eq!(DisplayName::parse(" Adele ").unwrap().as_str(), "Adele");
        assert!(DisplayName::parse(&"x".repeat(257)).is_err());
        assert!(DisplayName::parse("bad\u{7}bell").is_err());
    }

    #[test]
    fn a_mail_nickname_is_derived_from_the_alias() {
        let upn = Upn::parse("o'neil.x#1@contoso.test").unwrap();
        assert_eq!(mail_nickname_from(&upn), "oneil.x1");
    }
}
