//! The `user` resource as Graph v1.0 returns it.

use chrono::{DateTime, SecondsFormat, Utc};
use latchkey_core::user::User;
use serde_json::{Map, Value, json};

/// Properties Graph returns when no `$select` is given.
pub const DEFAULT_PROPERTIES: &[&str] = &[
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
];

/// Every property Latchkey can return, in Graph's names.
pub const ALL_PROPERTIES: &[&str] = &[
    "id",
    "userPrincipalName",
    "displayName",
    "givenName",
    "surname",
    "mail",
    "mailNickname",
    "otherMails",
    "mobilePhone",
    "businessPhones",
    "jobTitle",
    "department",
    "companyName",
    "officeLocation",
    "preferredLanguage",
    "streetAddress",
    "city",
    "state",
    "postalCode",
    "country",
    "usageLocation",
    "employeeId",
    "employeeType",
    "employeeHireDate",
    "employeeLeaveDateTime",
    "accountEnabled",
    "userType",
    "passwordPolicies",
    "passwordProfile",
    "lastPasswordChangeDateTime",
    "signInSessionsValidFromDateTime",
    "createdDateTime",
    "deletedDateTime",
    // Not a column of the user: `licenses::fill_assigned` adds it for a whole page.
    "assignedLicenses",
];

/// Graph's timestamp form: UTC, `Z`, whole seconds.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn opt_time(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| Value::String(timestamp(t)))
}

/// The value of one property, or `None` for a name Graph does not know.
pub fn property(user: &User, name: &str) -> Option<Value> {
    let p = &user.profile;
    let s = |v: &Option<String>| v.as_ref().map_or(Value::Null, |v| json!(v));
    Some(match name {
        "id" => json!(user.id.to_string()),
        "userPrincipalName" => json!(user.user_principal_name.as_str()),
        "displayName" => json!(user.display_name.as_str()),
        "givenName" => s(&p.given_name),
        "surname" => s(&p.surname),
        "mail" => s(&p.mail),
        "mailNickname" => json!(user.mail_nickname),
        "otherMails" => json!(p.other_mails),
        "mobilePhone" => s(&p.mobile_phone),
        "businessPhones" => json!(p.business_phones),
        "jobTitle" => s(&p.job_title),
        "department" => s(&p.department),
        "companyName" => s(&p.company_name),
        "officeLocation" => s(&p.office_location),
        "preferredLanguage" => s(&p.preferred_language),
        "streetAddress" => s(&p.street_address),
        "city" => s(&p.city),
        "state" => s(&p.state),
        "postalCode" => s(&p.postal_code),
        "country" => s(&p.country),
        "usageLocation" => s(&p.usage_location),
        "employeeId" => s(&p.employee_id),
        "employeeType" => s(&p.employee_type),
        "employeeHireDate" => opt_time(p.employee_hire_date),
        "employeeLeaveDateTime" => opt_time(p.employee_leave_date_time),
        "accountEnabled" => json!(user.account_enabled),
        "userType" => json!(user.user_type.as_str()),
        "passwordPolicies" => user
            .password_policies
            .to_graph()
            .map_or(Value::Null, Value::String),
        // Write-only: reads always return null.
        "passwordProfile" => Value::Null,
        "lastPasswordChangeDateTime" => opt_time(user.last_password_change),
        "signInSessionsValidFromDateTime" => json!(timestamp(user.sign_in_sessions_valid_from)),
        "createdDateTime" => json!(timestamp(user.created)),
        "deletedDateTime" => opt_time(user.deleted),
        _ => return None,
    })
}

/// The user as a Graph JSON object with the given properties (Graph's default set when
/// `select` is `None`). Unknown names are skipped here; the Graph surface rejects them first.
pub fn to_json(user: &User, select: Option<&[&str]>) -> Value {
    let names = select.unwrap_or(DEFAULT_PROPERTIES);
    let mut out = Map::new();
    for name in names {
        if let Some(v) = property(user, name) {
            out.insert((*name).to_owned(), v);
        }
    }
    Value::Object(out)
}
