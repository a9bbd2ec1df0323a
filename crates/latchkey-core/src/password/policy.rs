//! The tenant's password policy, with Entra's rules as the defaults: 8–256 characters from
//! Entra's allowed set, no spaces at the ends, three of the four character categories (unless
//! the user's `DisableStrongPassword` lifts it), nothing of the user's own name, and the
//! banned-password check of Entra password protection. Every rule that fails is reported, in
//! words an end user understands and without echoing any part of the candidate.

use serde::{Deserialize, Serialize};

use super::banned;
use super::common::is_breached;

/// Entra's symbols for cloud passwords; space is allowed too, but not at either end.
pub const ALLOWED_SYMBOLS: &str = "@#$%^&*-_!+=[]{}|\\:',.?/`~\"();<> ";

/// A tenant's password rules. Stored as JSON; fields added later carry serde defaults so that
/// older rows keep loading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordPolicy {
    pub min_length: usize,
    pub max_length: usize,
    /// How many of lowercase, uppercase, digits and symbols a password needs (1–4).
    pub min_character_categories: u8,
    /// The tenant's own banned terms (4–16 characters each, at most 1,000).
    pub custom_banned_terms: Vec<String>,
    /// Length of generated passwords.
    pub generated_length: usize,
    /// Days a password stays valid; `None` means passwords never expire (Entra's default
    /// for new tenants).
    #[serde(default)]
    pub validity_days: Option<u32>,
    /// Who may reset a forgotten password themselves, and with how many methods.
    #[serde(default)]
    pub self_service_reset: crate::sspr::SelfServiceReset,
    /// When repeated failed sign-ins lock an account, and for how long.
    #[serde(default)]
    pub lockout: crate::sign_in::SmartLockout,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: 8,
            max_length: 256,
            min_character_categories: 3,
            custom_banned_terms: vec![],
            generated_length: 16,
            validity_days: None,
            self_service_reset: crate::sspr::SelfServiceReset::default(),
            lockout: crate::sign_in::SmartLockout::default(),
        }
    }
}

/// What the policy knows about the user whose password is being checked.
#[derive(Debug, Clone, Copy, Default)]
pub struct PasswordContext<'a> {
    pub user_principal_name: &'a str,
    pub display_name: &'a str,
    /// The user's `passwordPolicies` contains `DisableStrongPassword`.
    pub disable_strong_password: bool,
}

/// One rule the candidate does not satisfy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    TooShort { min: usize },
    TooLong { max: usize },
    DisallowedCharacter,
    SpaceAtEnd,
    TooFewCategories { required: u8 },
    ContainsUserName,
    Banned,
    Breached,
}

impl Violation {
    /// The rule, worded for the person choosing the password.
    pub fn message(&self) -> String {
        match self {
            Self::TooShort { min } => format!("The password must be at least {min} characters long."),
            Self::TooLong { max } => format!("The password must be at most {max} characters long."),
            Self::DisallowedCharacter => format!(
                "The password may contain only letters A–Z and a–z, digits, spaces and these symbols: {}",
                ALLOWED_SYMBOLS.trim_end()
            ),
            Self::SpaceAtEnd => "The password must not begin or end with a space.".into(),
            Self::TooFewCategories { required } => format!(
                "The password must contain characters from at least {required} of these groups: lowercase letters, uppercase letters, digits and symbols."
            ),
            Self::ContainsUserName => {
                "The password must not contain the user's sign-in name or parts of their name.".into()
            }
            Self::Banned => "The password contains a word or pattern that is too easy to guess, such as a common password or a term banned by your organisation. Add more unrelated words or characters.".into(),
            Self::Breached => "This password appears in lists of passwords exposed in data breaches. Choose a different one.".into(),
        }
    }

    /// A short stable name for the rule, for APIs and live feedback.
    pub const fn rule(&self) -> &'static str {
        match self {
            Self::TooShort { .. } => "minLength",
            Self::TooLong { .. } => "maxLength",
            Self::DisallowedCharacter => "allowedCharacters",
            Self::SpaceAtEnd => "noSpaceAtEnds",
            Self::TooFewCategories { .. } => "characterCategories",
            Self::ContainsUserName => "noUserName",
            Self::Banned => "bannedPasswords",
            Self::Breached => "breachedPasswords",
        }
    }
}

/// The candidate breaks one or more rules; the message lists each.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct PolicyError {
    pub violations: Vec<Violation>,
}

impl PolicyError {
    pub fn message(&self) -> String {
        self.violations
            .iter()
            .map(Violation::message)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Name parts shorter than this are too common to forbid (Windows' rule is the same).
const MIN_NAME_TOKEN: usize = 3;

impl PasswordPolicy {
    /// Checks a candidate against every rule and reports all that fail.
    pub fn check(&self, candidate: &str, ctx: &PasswordContext<'_>) -> Result<(), PolicyError> {
        let mut v = Vec::new();
        let len = candidate.chars().count();
        if len < self.min_length {
            v.push(Violation::TooShort {
                min: self.min_length,
            });
        }
        if len > self.max_length {
            // Nothing more is worth computing on an oversized input.
            v.push(Violation::TooLong {
                max: self.max_length,
            });
            return Err(PolicyError { violations: v });
        }
        if !candidate
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ALLOWED_SYMBOLS.contains(c))
        {
            v.push(Violation::DisallowedCharacter);
        }
        if candidate.starts_with(' ') || candidate.ends_with(' ') {
            v.push(Violation::SpaceAtEnd);
        }
        if !ctx.disable_strong_password && categories(candidate) < self.min_character_categories {
            v.push(Violation::TooFewCategories {
                required: self.min_character_categories,
            });
        }
        if contains_user_name(candidate, ctx) {
            v.push(Violation::ContainsUserName);
        }
        if is_breached(candidate) {
            v.push(Violation::Breached);
        } else if !banned::score(candidate, &self.custom_banned_terms).passes() {
            v.push(Violation::Banned);
        }
        if v.is_empty() {
            Ok(())
        } else {
            Err(PolicyError { violations: v })
        }
    }

    /// The rules in one sentence, for the hint beside a form's password box.
    pub fn summary(&self) -> String {
        let groups = match self.min_character_categories {
            1 => "at least one of",
            2 => "at least two of",
            3 => "at least three of",
            _ => "all four of",
        };
        format!(
            "Use {} to {} characters with {groups}: upper-case letters, lower-case letters, digits, symbols. Avoid the user's name, user name and common passwords.",
            self.min_length, self.max_length
        )
    }

    /// Checks a tenant's custom banned list.
    pub fn validate_custom_terms(terms: &[String]) -> Result<(), String> {
        banned::validate_custom_terms(terms)
    }

    /// Checks the policy itself before it is stored: lengths within Entra's bounds, a
    /// sensible category count, a generated length the policy accepts, a valid custom list.
    pub fn validate(&self) -> Result<(), String> {
        if self.min_length < 8 || self.max_length > 256 || self.min_length > self.max_length {
            return Err("the minimum length must be at least 8 and not more than the maximum, which is at most 256".into());
        }
        if !(1..=4).contains(&self.min_character_categories) {
            return Err("the number of required character categories must be 1 to 4".into());
        }
        if self.generated_length < self.min_length || self.generated_length > self.max_length {
            return Err(
                "generated passwords must be between the minimum and the maximum length".into(),
            );
        }
        if self.validity_days.is_some_and(|d| !(1..=730).contains(&d)) {
            return Err("a password validity period must be 1 to 730 days".into());
        }
        self.self_service_reset.validate()?;
        self.lockout.validate()?;
        Self::validate_custom_terms(&self.custom_banned_terms)
    }
}

/// How many of lowercase, uppercase, digits and symbols appear.
fn categories(s: &str) -> u8 {
    let has = |f: fn(&char) -> bool| u8::from(s.chars().any(|c| f(&c)));
    has(char::is_ascii_lowercase)
        + has(char::is_ascii_uppercase)
        + has(char::is_ascii_digit)
        + has(|c| !c.is_ascii_alphanumeric())
}

/// Whether the candidate contains the UPN's local part or a token of the display name
/// (split where Windows splits names), case-insensitively.
fn contains_user_name(candidate: &str, ctx: &PasswordContext<'_>) -> bool {
    let lower = candidate.to_lowercase();
    let local = ctx
        .user_principal_name
        .split('@')
        .next()
        .unwrap_or_default();
    let tokens =
        std::iter::once(local).chain(ctx.display_name.split([',', '.', '-', '_', ' ', '#', '\t']));
    tokens
        .map(str::to_lowercase)
        .filter(|t| t.chars().count() >= MIN_NAME_TOKEN)
        .any(|t| lower.contains(&t))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> PasswordContext<'static> {
        PasswordContext {
            user_principal_name: "adele.vance@contoso.test",
            display_name: "Adele Vance",
            disable_strong_password: false,
        }
    }

    fn violations(p: &str) -> Vec<Violation> {
        PasswordPolicy::default()
            .check(p, &ctx())
            .err()
            .map(|e| e.violations)
            .unwrap_or_default()
    }

    #[test]
    fn a_strong_unrelated_password_passes() {
        assert_eq!(violations("Kx9#vTq2mW"), vec![]);
        assert_eq!(violations("correct Horse battery 7"), vec![]);
    }

    #[test]
    fn length_is_8_to_256_characters() {
        assert!(violations("Kx9#vT").contains(&Violation::TooShort { min: 8 }));
        let long = format!("Kx9#{}", "vTq2".repeat(64));
        assert_eq!(violations(&long), vec![Violation::TooLong { max: 256 }]);
        let max = format!("Kx9#{}", "vTq2".repeat(63));
        assert_eq!(max.chars().count(), 256);
        assert_eq!(violations(&max), vec![]);
    }

    #[test]
    fn only_entras_allowed_characters_are_accepted() {
        assert_eq!(
            violations("Kx9#vTq2é"),
            vec![Violation::DisallowedCharacter]
        );
        assert_eq!(
            violations("Kx9\u{0}vTq2m"),
            vec![Violation::DisallowedCharacter]
        );
        for symbol in ALLOWED_SYMBOLS.trim().chars() {
            assert_eq!(violations(&format!("Kx9vTq2m{symbol}")), vec![], "{symbol}");
        }
    }

    #[test]
    fn spaces_are_allowed_inside_but_not_at_the_ends() {
        assert_eq!(violations(" Kx9#vTq2m"), vec![Violation::SpaceAtEnd]);
        assert_eq!(violations("Kx9#vTq2m "), vec![Violation::SpaceAtEnd]);
        assert_eq!(violations("Kx9# vTq2m"), vec![]);
    }

    #[test]
    fn three_of_four_categories_unless_strong_passwords_are_disabled() {
        let weak = "kxvtqzmwrp";
        assert_eq!(
            violations(weak),
            vec![Violation::TooFewCategories { required: 3 }]
        );
        assert_eq!(
            violations("kxvtqzmw92"),
            vec![Violation::TooFewCategories { required: 3 }]
        );
        assert_eq!(violations("kxvtqzmw9#"), vec![]);
        let lifted = PasswordContext {
            disable_strong_password: true,
            ..ctx()
        };
        assert!(PasswordPolicy::default().check(weak, &lifted).is_ok());
        // Disabling strong passwords lifts the category rule only, not the length.
        assert!(PasswordPolicy::default().check("kxvtqz", &lifted).is_err());
    }

    #[test]
    fn the_users_sign_in_name_and_name_parts_are_refused_in_any_case() {
        assert!(violations("xADELE.VANCE#9z").contains(&Violation::ContainsUserName));
        assert!(violations("Kx9#vance2026").contains(&Violation::ContainsUserName));
        assert!(violations("Adele!Kx9#vT2").contains(&Violation::ContainsUserName));
        // Parts of fewer than three characters do not count.
        let short = PasswordContext {
            user_principal_name: "al@contoso.test",
            display_name: "Al Wu",
            disable_strong_password: false,
        };
        assert!(
            PasswordPolicy::default()
                .check("Kx9#AlWu2m", &short)
                .is_ok()
        );
    }

    #[test]
    fn banned_terms_are_refused_through_substitutions_and_typos() {
        assert_eq!(violations("P@ssw0rd!"), vec![Violation::Banned]);
        assert_eq!(violations("Welcome123!"), vec![Violation::Banned]);
        assert_eq!(violations("Qwerty12#"), vec![Violation::Banned]);
        // A banned term inside enough other characters scores enough points.
        assert_eq!(violations("Summer!Kx9#vT2"), vec![]);
    }

    #[test]
    fn the_tenants_custom_terms_are_banned_too() {
        let policy = PasswordPolicy {
            custom_banned_terms: vec!["contoso".into()],
            ..PasswordPolicy::default()
        };
        let err = policy.check("C0nt0s0!26", &ctx()).unwrap_err();
        assert_eq!(err.violations, vec![Violation::Banned]);
        assert!(
            PasswordPolicy::default()
                .check("C0nt0s0!26", &ctx())
                .is_ok()
        );
    }

    #[test]
    fn breached_passwords_are_refused_even_when_complexity_is_lifted() {
        let lifted = PasswordContext {
            disable_strong_password: true,
            ..ctx()
        };
        let err = PasswordPolicy::default()
            .check("qwertyuiop", &lifted)
            .unwrap_err();
        assert_eq!(err.violations, vec![Violation::Breached]);
    }

    #[test]
    fn messages_name_every_failed_rule_and_never_echo_the_password() {
        let err = PasswordPolicy::default()
            .check("vance", &ctx())
            .unwrap_err();
        let m = err.to_string();
        assert!(m.contains("at least 8 characters"), "{m}");
        assert!(m.contains("at least 3 of these groups"), "{m}");
        assert!(m.contains("sign-in name"), "{m}");
        assert!(!m.to_lowercase().contains("vance"), "{m}");
    }

    #[test]
    fn policies_are_validated_before_they_are_stored() {
        assert!(PasswordPolicy::default().validate().is_ok());
        let bad = |p: PasswordPolicy| p.validate().unwrap_err();
        assert!(
            bad(PasswordPolicy {
                min_length: 6,
                ..Default::default()
            })
            .contains("at least 8")
        );
        assert!(
            bad(PasswordPolicy {
                min_character_categories: 5,
                ..Default::default()
            })
            .contains("1 to 4")
        );
        assert!(
            bad(PasswordPolicy {
                generated_length: 300,
                ..Default::default()
            })
            .contains("generated")
        );
        assert!(
            bad(PasswordPolicy {
                validity_days: Some(0),
                ..Default::default()
            })
            .contains("validity")
        );
        assert!(
            bad(PasswordPolicy {
                custom_banned_terms: vec!["ab".into()],
                ..Default::default()
            })
            .contains("'ab'")
        );
    }

    #[test]
    fn a_policy_stored_before_expiry_existed_still_loads() {
        let old = r#"{"min_length":8,"max_length":256,"min_character_categories":3,"custom_banned_terms":[],"generated_length":16}"#;
        let p: PasswordPolicy = serde_json::from_str(old).unwrap();
        assert_eq!(p, PasswordPolicy::default());
    }
}
