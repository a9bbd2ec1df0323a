//! TEMPORARY STUB — being replaced by the full policy module.
use serde::{Deserialize, Serialize};
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordPolicy {
    pub min_length: usize,
    pub max_length: usize,
    pub min_character_categories: u8,
    pub custom_banned_terms: Vec<String>,
    pub generated_length: usize,
}
impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: 8,
            max_length: 256,
            min_character_categories: 3,
            custom_banned_terms: vec![],
            generated_length: 16,
        }
    }
}
impl PasswordPolicy {
    pub fn check(&self, candidate: &str, _ctx: &PasswordContext<'_>) -> Result<(), PolicyError> {
        if candidate.len() < self.min_length {
            return Err(PolicyError {
                violations: vec![Violation::TooShort {
                    min: self.min_length,
                }],
            });
        }
        Ok(())
    }
    pub fn validate_custom_terms(_terms: &[String]) -> Result<(), String> {
        Ok(())
    }
}
#[derive(Debug, Clone, Copy, Default)]
pub struct PasswordContext<'a> {
    pub user_principal_name: &'a str,
    pub display_name: &'a str,
    pub disable_strong_password: bool,
}
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct PolicyError {
    pub violations: Vec<Violation>,
}
impl PolicyError {
    pub fn message(&self) -> String {
        "The password is too short.".into()
    }
}
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    TooShort { min: usize },
}
