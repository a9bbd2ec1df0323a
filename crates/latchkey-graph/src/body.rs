//! Request bodies of the user resource, turned into core's typed requests. Every refusal
//! names the property: malformed JSON, a wrong type, an unknown or read-only property.

use chrono::{DateTime, Utc};
use latchkey_core::directory::{NewUser, PasswordChoice, ProfileField, SetPassword, UserChanges};
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::user::{PasswordPolicies, UserProfile, UserType};
use secrecy::SecretString;
use serde_json::{Map, Value};

use crate::error::{GraphError, clip};

/// Properties Graph computes; a body that sets one is refused.
const READ_ONLY: &[&str] = &[
    "id",
    "createdDateTime",
    "deletedDateTime",
    "lastPasswordChangeDateTime",
    "signInSessionsValidFromDateTime",
];

const TEXT_FIELDS: &[(&str, ProfileField)] = &[
    ("givenName", ProfileField::GivenName),
    ("surname", ProfileField::Surname),
    ("mail", ProfileField::Mail),
    ("mobilePhone", ProfileField::MobilePhone),
    ("jobTitle", ProfileField::JobTitle),
    ("department", ProfileField::Department),
    ("companyName", ProfileField::CompanyName),
    ("officeLocation", ProfileField::OfficeLocation),
    ("preferredLanguage", ProfileField::PreferredLanguage),
    ("streetAddress", ProfileField::StreetAddress),
    ("city", ProfileField::City),
    ("state", ProfileField::State),
    ("postalCode", ProfileField::PostalCode),
    ("country", ProfileField::Country),
    ("usageLocation", ProfileField::UsageLocation),
    ("employeeId", ProfileField::EmployeeId),
    ("employeeType", ProfileField::EmployeeType),
];

/// Parses a JSON object body.
pub fn object(body: &[u8]) -> Result<Map<String, Value>, GraphError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(GraphError::bad_request(
            "The request body is empty: send a JSON object.",
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(GraphError::bad_request(
            "The request body must be a JSON object.",
        )),
        Err(e) => Err(GraphError::bad_request(format!(
            "Unable to read JSON request payload: {} (line {}, column {}). Please ensure the payload is valid JSON.",
            match e.classify() {
                serde_json::error::Category::Eof => "it ends too early",
                serde_json::error::Category::Syntax => "syntax error",
                _ => "invalid data",
            },
            e.line(),
            e.column()
        ))),
    }
}

fn wrong_type(property: &str, want: &str) -> GraphError {
    GraphError::bad_request(format!(
        "Invalid value specified for property '{property}' of resource 'User': expected {want}."
    ))
}

fn string(property: &str, v: &Value) -> Result<String, GraphError> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| wrong_type(property, "a string"))
}

fn opt_string(property: &str, v: &Value) -> Result<Option<String>, GraphError> {
    if v.is_null() {
        Ok(None)
    } else {
        string(property, v).map(Some)
    }
}

fn boolean(property: &str, v: &Value) -> Result<bool, GraphError> {
    v.as_bool()
        .ok_or_else(|| wrong_type(property, "true or false"))
}

fn string_list(property: &str, v: &Value) -> Result<Vec<String>, GraphError> {
    match v {
        Value::Null => Ok(vec![]),
        Value::Array(items) => items
            .iter()
            .map(|i| string(property, i))
            .collect::<Result<_, _>>(),
        _ => Err(wrong_type(property, "an array of strings")),
    }
}

fn opt_time(property: &str, v: &Value) -> Result<Option<DateTime<Utc>>, GraphError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| wrong_type(property, "a date-time such as 2026-01-31T00:00:00Z")),
        _ => Err(wrong_type(property, "a date-time string")),
    }
}

/// `passwordProfile`: the new password and the force-change flags, or the flags alone.
struct PasswordProfile {
    password: Option<SecretString>,
    force_change: Option<bool>,
    force_change_with_mfa: Option<bool>,
}

fn password_profile(v: &Value) -> Result<PasswordProfile, GraphError> {
    let map = v
        .as_object()
        .ok_or_else(|| wrong_type("passwordProfile", "an object"))?;
    let mut password = None;
    let mut force_change = None;
    let mut force_change_with_mfa = None;
    for (key, value) in map {
        match key.as_str() {
            "password" => {
                password = Some(SecretString::from(string(
                    "passwordProfile.password",
                    value,
                )?));
            }
            "forceChangePasswordNextSignIn" => {
                force_change = Some(boolean(
                    "passwordProfile.forceChangePasswordNextSignIn",
                    value,
                )?);
            }
            "forceChangePasswordNextSignInWithMfa" => {
                force_change_with_mfa = Some(boolean(
                    "passwordProfile.forceChangePasswordNextSignInWithMfa",
                    value,
                )?);
            }
            k if k.starts_with('@') => {}
            other => {
                return Err(GraphError::bad_request(format!(
                    "Property 'passwordProfile.{}' does not exist on type 'microsoft.graph.passwordProfile'.",
                    clip(other)
                )));
            }
        }
    }
    if password.is_none() && force_change.is_none() && force_change_with_mfa.is_none() {
        return Err(GraphError::bad_request(
            "Property 'passwordProfile' must carry 'password' or 'forceChangePasswordNextSignIn'.",
        ));
    }
    Ok(PasswordProfile {
        password,
        force_change,
        force_change_with_mfa,
    })
}

fn refuse_unknown(key: &str) -> GraphError {
    if READ_ONLY.contains(&key) {
        GraphError::bad_request(format!("Property '{key}' is read-only and cannot be set."))
    } else {
        GraphError::bad_request(format!(
            "Property '{}' does not exist on type 'microsoft.graph.user' or cannot be set.",
            clip(key)
        ))
    }
}

/// A `PATCH /users/{id}` body.
pub fn changes(body: &[u8]) -> Result<UserChanges, GraphError> {
    let map = object(body)?;
    let mut c = UserChanges::default();
    for (key, value) in &map {
        let key = key.as_str();
        if let Some((_, field)) = TEXT_FIELDS.iter().find(|(n, _)| *n == key) {
            c.text.push((*field, opt_string(key, value)?));
            continue;
        }
        match key {
            "@odata.type" => {}
            "userPrincipalName" => {
                c.user_principal_name =
                    Some(Upn::parse(&string(key, value)?).map_err(GraphError::from_name)?);
            }
            "displayName" => {
                c.display_name =
                    Some(DisplayName::parse(&string(key, value)?).map_err(GraphError::from_name)?);
            }
            "mailNickname" => c.mail_nickname = Some(string(key, value)?),
            "accountEnabled" => c.account_enabled = Some(boolean(key, value)?),
            "userType" => {
                let raw = string(key, value)?;
                c.user_type = Some(UserType::parse(&raw).ok_or_else(|| {
                    GraphError::bad_request(format!(
                        "Invalid value specified for property 'userType' of resource 'User': '{}' is not Member or Guest.",
                        clip(&raw)
                    ))
                })?);
            }
            "passwordPolicies" => {
                let raw = opt_string(key, value)?.unwrap_or_default();
                c.password_policies =
                    Some(PasswordPolicies::parse(&raw).map_err(GraphError::bad_request)?);
            }
            "businessPhones" => c.business_phones = Some(string_list(key, value)?),
            "otherMails" => c.other_mails = Some(string_list(key, value)?),
            "employeeHireDate" => c.employee_hire_date = Some(opt_time(key, value)?),
            "employeeLeaveDateTime" => c.employee_leave_date_time = Some(opt_time(key, value)?),
            "passwordProfile" if value.is_null() => {}
            "passwordProfile" => {
                let p = password_profile(value)?;
                match p.password {
                    Some(password) => {
                        c.password = Some(SetPassword {
                            choice: PasswordChoice::Provided(password),
                            force_change_next_sign_in: p.force_change.unwrap_or(false),
                            force_change_with_mfa: p.force_change_with_mfa.unwrap_or(false),
                            reason: None,
                        });
                    }
                    // The flags alone, as Graph takes them: the password stays.
                    None => {
                        c.force_change_next_sign_in = p.force_change;
                        c.force_change_with_mfa = p.force_change_with_mfa;
                    }
                }
            }
            other => return Err(refuse_unknown(other)),
        }
    }
    Ok(c)
}

fn required<'a>(map: &'a Map<String, Value>, key: &str) -> Result<&'a Value, GraphError> {
    map.get(key).filter(|v| !v.is_null()).ok_or_else(|| {
        GraphError::bad_request(format!(
            "Property '{key}' is required when creating a user."
        ))
    })
}

/// A `POST /users` body. Graph requires `accountEnabled`, `displayName`, `mailNickname`,
/// `userPrincipalName` and `passwordProfile`.
pub fn new_user(body: &[u8]) -> Result<NewUser, GraphError> {
    let map = object(body)?;
    for key in [
        "accountEnabled",
        "displayName",
        "mailNickname",
        "userPrincipalName",
        "passwordProfile",
    ] {
        required(&map, key)?;
    }
    let mut profile = UserProfile::default();
    let mut policies = PasswordPolicies::default();
    let mut upn = None;
    let mut display = None;
    let mut nickname = None;
    let mut enabled = true;
    let mut password = None;
    for (key, value) in &map {
        let key = key.as_str();
        if let Some((_, field)) = TEXT_FIELDS.iter().find(|(n, _)| *n == key) {
            field.set(&mut profile, opt_string(key, value)?);
            continue;
        }
        match key {
            "@odata.type" => {}
            "userPrincipalName" => {
                upn = Some(Upn::parse(&string(key, value)?).map_err(GraphError::from_name)?);
            }
            "displayName" => {
                display =
                    Some(DisplayName::parse(&string(key, value)?).map_err(GraphError::from_name)?);
            }
            "mailNickname" => nickname = Some(string(key, value)?),
            "accountEnabled" => enabled = boolean(key, value)?,
            "passwordPolicies" => {
                let raw = opt_string(key, value)?.unwrap_or_default();
                policies = PasswordPolicies::parse(&raw).map_err(GraphError::bad_request)?;
            }
            "businessPhones" => profile.business_phones = string_list(key, value)?,
            "otherMails" => profile.other_mails = string_list(key, value)?,
            "employeeHireDate" => profile.employee_hire_date = opt_time(key, value)?,
            "employeeLeaveDateTime" => profile.employee_leave_date_time = opt_time(key, value)?,
            "passwordProfile" => password = Some(password_profile(value)?),
            other => return Err(refuse_unknown(other)),
        }
    }
    let (Some(upn), Some(display), Some(password)) = (upn, display, password) else {
        return Err(GraphError::bad_request(
            "userPrincipalName, displayName and passwordProfile are required when creating a user.",
        ));
    };
    Ok(NewUser {
        user_principal_name: upn,
        display_name: display,
        mail_nickname: nickname,
        account_enabled: enabled,
        profile,
        password_policies: policies,
        password: PasswordChoice::Provided(password.password.ok_or_else(|| {
            GraphError::bad_request(
                "Property 'passwordProfile.password' is required when creating a user.",
            )
        })?),
        force_change_next_sign_in: password.force_change.unwrap_or(false),
        roles: vec![],
    })
}

/// `POST /me/changePassword` {currentPassword, newPassword}.
pub fn change_password(body: &[u8]) -> Result<(SecretString, SecretString), GraphError> {
    let map = object(body)?;
    let mut current = None;
    let mut new = None;
    for (key, value) in &map {
        match key.as_str() {
            "currentPassword" => current = Some(SecretString::from(string(key, value)?)),
            "newPassword" => new = Some(SecretString::from(string(key, value)?)),
            k if k.starts_with('@') => {}
            other => {
                return Err(GraphError::bad_request(format!(
                    "Property '{}' is not a parameter of changePassword; send currentPassword and newPassword.",
                    clip(other)
                )));
            }
        }
    }
    match (current, new) {
        (Some(c), Some(n)) => Ok((c, n)),
        (None, _) => Err(GraphError::bad_request(
            "Property 'currentPassword' is required.",
        )),
        (_, None) => Err(GraphError::bad_request(
            "Property 'newPassword' is required.",
        )),
    }
}

/// `resetPassword`'s body: `{"newPassword"?}`. An empty body, `{}` or a null
/// `newPassword` ask for a generated password.
pub fn reset_password(body: &[u8]) -> Result<Option<SecretString>, GraphError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let map = object(body)?;
    let mut new = None;
    for (key, value) in &map {
        match key.as_str() {
            "newPassword" if value.is_null() => {}
            "newPassword" => new = Some(SecretString::from(string(key, value)?)),
            k if k.starts_with('@') => {}
            other => {
                return Err(GraphError::bad_request(format!(
                    "Property '{}' is not a parameter of resetPassword; send newPassword, or nothing to have one generated.",
                    clip(other)
                )));
            }
        }
    }
    Ok(new)
}

impl GraphError {
    #[allow(clippy::needless_pass_by_value)] // used as `map_err(GraphError::from_name)`
    fn from_name(e: latchkey_core::names::InvalidName) -> Self {
        GraphError::bad_request(format!(
            "Invalid value specified for property '{}' of resource 'User': {}",
            e.property, e.reason
        ))
    }
}
