//! The SCIM 2.0 connector (RFC 7644, client side): `scimProvision` creates the run's user in
//! a SaaS app's SCIM service, or updates the app's user so that its mapped attributes match;
//! `scimDeprovision` deactivates (`active: false`) or deletes it. Both are idempotent: the
//! app's user is looked up first (`filter=externalId eq "…"`, then `userName eq "…"`,
//! RFC 7644 §3.4.2) and only what differs is written, with `PATCH` (a PatchOp) or, when the
//! service says in `/ServiceProviderConfig` that it lacks PATCH, a `PUT` of the whole user.
//! A `409 uniqueness` on create (someone else created it meanwhile) is looked up again and
//! treated as already provisioned.
//!
//! Failures: 429, 5xx and network errors are transient and left to the engine's backoff, no
//! sooner than `Retry-After` (at most an hour); other answers fail the step with the
//! service's error (`status`, `scimType`, `detail`, RFC 7644 §3.12) in the run history. The
//! bearer token is sent on every request and written nowhere: not to the history, the log
//! or an error (a service echoing it has it cut out).

use chrono::Duration;
use latchkey_core::Directory;
use latchkey_core::directory::{ActionResult, ScimConnection, UserRef};
use latchkey_core::error::DirectoryError;
use latchkey_core::scim_connection::{
    CORE_USER_SCHEMA, ENTERPRISE_USER_SCHEMA, ScimMapping, ScimTarget,
};
use latchkey_core::workflow::{Action, ScimDeprovisionMode};
use latchkey_core::workflow_store::ClaimedStep;
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};

use crate::workflow_actor;

/// SCIM's media type (RFC 7644 §3.1).
pub const SCIM_JSON: &str = "application/scim+json";
pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// Longest `Retry-After` honoured.
const MAX_RETRY_AFTER_SECONDS: i64 = 3600;
/// Longest service `detail` kept in the run history.
const MAX_DETAIL_CHARS: usize = 300;

/// What went wrong talking to a SCIM service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScimError {
    /// A non-2xx answer, with the RFC 7644 §3.12 error body's fields when it had one.
    Status {
        status: u16,
        scim_type: Option<String>,
        detail: Option<String>,
        retry_after: Option<Duration>,
    },
    /// No answer (connection refused, timeout, TLS).
    Network(String),
    /// A 2xx answer that is not the SCIM JSON expected.
    Unexpected(String),
}

impl ScimError {
    /// Whether trying again later may succeed: 429, 5xx and network failures.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Status { status, .. } => *status == 429 || *status >= 500,
            Self::Network(_) => true,
            Self::Unexpected(_) => false,
        }
    }

    fn is_status(&self, code: u16) -> bool {
        matches!(self, Self::Status { status, .. } if *status == code)
    }
}

impl std::fmt::Display for ScimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Status {
                status,
                scim_type,
                detail,
                ..
            } => {
                write!(f, "{status}")?;
                if let Some(t) = scim_type {
                    write!(f, " ({t})")?;
                }
                if let Some(d) = detail {
                    write!(f, ": {d}")?;
                }
                Ok(())
            }
            Self::Network(e) => write!(f, "no answer: {e}"),
            Self::Unexpected(e) => write!(f, "an unexpected answer: {e}"),
        }
    }
}

/// A SCIM string value in a filter (RFC 7644 §3.4.2.2: a JSON string), quotes and
/// backslashes escaped.
pub fn filter_string(value: &str) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "\"\"".to_owned())
}

/// `ATTRIBUTE eq "VALUE"`.
pub fn filter_eq(attribute: &str, value: &str) -> String {
    format!("{attribute} eq {}", filter_string(value))
}

/// A service's error answer as [`ScimError::Status`]: the body's `scimType` and `detail`
/// (RFC 7644 §3.12) when it is JSON, clipped and stripped of control characters.
pub fn error_from(status: u16, retry_after: Option<&str>, body: &[u8]) -> ScimError {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let clean = |v: &Value| {
        v.as_str().map(|s| {
            s.chars()
                .filter(|c| !c.is_control())
                .take(MAX_DETAIL_CHARS)
                .collect::<String>()
        })
    };
    ScimError::Status {
        status,
        scim_type: clean(&parsed["scimType"]).filter(|s| !s.is_empty()),
        detail: clean(&parsed["detail"]).filter(|s| !s.is_empty()),
        retry_after: retry_after
            .and_then(|v| v.trim().parse::<i64>().ok())
            .map(|s| Duration::seconds(s.clamp(0, MAX_RETRY_AFTER_SECONDS))),
    }
}

/// The JSON path a PATCH operation names for a target (RFC 7644 §3.5.2).
fn patch_path(target: ScimTarget) -> String {
    match target {
        ScimTarget::Department => format!("{ENTERPRISE_USER_SCHEMA}:department"),
        ScimTarget::EmployeeNumber => format!("{ENTERPRISE_USER_SCHEMA}:employeeNumber"),
        ScimTarget::WorkEmail => "emails".to_owned(),
        other => other.name().to_owned(),
    }
}

/// Where a target sits in a user resource: (container key, attribute key).
fn location(target: ScimTarget) -> (Option<&'static str>, &'static str) {
    match target {
        ScimTarget::UserName => (None, "userName"),
        ScimTarget::ExternalId => (None, "externalId"),
        ScimTarget::DisplayName => (None, "displayName"),
        ScimTarget::GivenName => (Some("name"), "givenName"),
        ScimTarget::FamilyName => (Some("name"), "familyName"),
        ScimTarget::WorkEmail => (None, "emails"),
        ScimTarget::Active => (None, "active"),
        ScimTarget::Title => (None, "title"),
        ScimTarget::PreferredLanguage => (None, "preferredLanguage"),
        ScimTarget::Department => (Some(ENTERPRISE_USER_SCHEMA), "department"),
        ScimTarget::EmployeeNumber => (Some(ENTERPRISE_USER_SCHEMA), "employeeNumber"),
    }
}

fn is_work_email(e: &Value) -> bool {
    e["type"].as_str() == Some("work")
}

/// A user resource's value for a target (`Null` when absent). The work e-mail is the
/// `emails` entry of type `work`.
pub fn remote_value(resource: &Value, target: ScimTarget) -> Value {
    if target == ScimTarget::WorkEmail {
        return resource["emails"]
            .as_array()
            .and_then(|all| all.iter().find(|e| is_work_email(e)))
            .map_or(Value::Null, |e| e["value"].clone());
    }
    let (container, key) = location(target);
    let holder = match container {
        Some(c) => &resource[c],
        None => resource,
    };
    holder.get(key).cloned().unwrap_or(Value::Null)
}

/// The `emails` a resource should have: its other addresses, then the work one (if any).
fn emails_with(resource: &Value, work: &Value) -> Vec<Value> {
    let mut emails: Vec<Value> = resource["emails"]
        .as_array()
        .map(|all| all.iter().filter(|e| !is_work_email(e)).cloned().collect())
        .unwrap_or_default();
    if let Some(address) = work.as_str() {
        emails.push(json!({"value": address, "type": "work", "primary": true}));
    }
    emails
}

/// Sets (or, for `Null`, removes) a target on a user resource, adding the enterprise
/// extension's schema when one of its attributes is set.
pub fn apply(resource: &mut Value, target: ScimTarget, value: &Value) {
    if !resource.is_object() {
        *resource = json!({});
    }
    if target == ScimTarget::WorkEmail {
        let emails = emails_with(resource, value);
        if emails.is_empty() {
            remove_key(resource, "emails");
        } else {
            resource["emails"] = Value::Array(emails);
        }
        return;
    }
    let (container, key) = location(target);
    if value.is_null() {
        match container {
            Some(c) => remove_key(&mut resource[c], key),
            None => remove_key(resource, key),
        }
        return;
    }
    match container {
        Some(c) => {
            if !resource[c].is_object() {
                resource[c] = json!({});
            }
            resource[c][key] = value.clone();
        }
        None => resource[key] = value.clone(),
    }
    if target.is_enterprise() {
        let schemas = resource["schemas"].as_array().cloned().unwrap_or_default();
        if !schemas.iter().any(|s| s == ENTERPRISE_USER_SCHEMA) {
            let mut schemas = schemas;
            schemas.push(Value::from(ENTERPRISE_USER_SCHEMA));
            resource["schemas"] = Value::Array(schemas);
        }
    }
}

fn remove_key(v: &mut Value, key: &str) {
    if let Some(map) = v.as_object_mut() {
        map.remove(key);
    }
}

/// A new user resource from the mapped values (unset ones left out).
pub fn new_resource(values: &[(ScimTarget, Value)]) -> Value {
    let mut resource = json!({ "schemas": [CORE_USER_SCHEMA] });
    for (target, value) in values {
        if !value.is_null() {
            apply(&mut resource, *target, value);
        }
    }
    resource
}

/// The mapped values the remote user does not have yet.
pub fn differences(resource: &Value, values: &[(ScimTarget, Value)]) -> Vec<(ScimTarget, Value)> {
    values
        .iter()
        .filter(|(target, value)| remote_value(resource, *target) != *value)
        .cloned()
        .collect()
}

/// The PatchOp operations that make `resource` have `changes`.
pub fn patch_operations(resource: &Value, changes: &[(ScimTarget, Value)]) -> Vec<Value> {
    changes
        .iter()
        .map(|(target, value)| {
            let path = patch_path(*target);
            let value = if *target == ScimTarget::WorkEmail {
                let emails = emails_with(resource, value);
                if emails.is_empty() {
                    Value::Null
                } else {
                    Value::Array(emails)
                }
            } else {
                value.clone()
            };
            if value.is_null() {
                json!({"op": "remove", "path": path})
            } else {
                json!({"op": "replace", "path": path, "value": value})
            }
        })
        .collect()
}

/// A client for one connection's service.
#[derive(Debug)]
pub struct ScimClient<'a> {
    http: &'a reqwest::Client,
    connection: &'a ScimConnection,
}

impl<'a> ScimClient<'a> {
    pub fn new(http: &'a reqwest::Client, connection: &'a ScimConnection) -> Self {
        Self { http, connection }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.connection.base_url)
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(self.connection.token.expose_secret())
            .header(
                reqwest::header::ACCEPT,
                format!("{SCIM_JSON}, application/json"),
            )
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        body: Option<&Value>,
    ) -> Result<(u16, Value), ScimError> {
        let request = match body {
            Some(b) => request
                .header(reqwest::header::CONTENT_TYPE, SCIM_JSON)
                .body(b.to_string()),
            None => request,
        };
        let response = request
            .send()
            .await
            .map_err(|e| ScimError::Network(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ScimError::Network(e.without_url().to_string()))?;
        if !(200..300).contains(&status) {
            return Err(error_from(status, retry_after.as_deref(), &bytes));
        }
        if bytes.is_empty() {
            return Ok((status, Value::Null));
        }
        let value = serde_json::from_slice(&bytes).map_err(|e| {
            ScimError::Unexpected(format!("{status} with a body that is not JSON: {e}"))
        })?;
        Ok((status, value))
    }

    /// The one user matching `filter`, if any; more than one is an error.
    pub async fn find_user(&self, filter: &str) -> Result<Option<Value>, ScimError> {
        let request = self.request(reqwest::Method::GET, "/Users").query(&[
            ("filter", filter),
            ("startIndex", "1"),
            ("count", "2"),
        ]);
        let (_, list) = self.send(request, None).await?;
        let resources = list["Resources"].as_array().cloned().unwrap_or_default();
        match resources.len() {
            0 => Ok(None),
            1 => Ok(resources.into_iter().next()),
            n => Err(ScimError::Unexpected(format!(
                "{n} users match {filter}: the app's user is ambiguous"
            ))),
        }
    }

    /// The app's user for these mapped values: by `externalId`, then by `userName`.
    pub async fn find_mapped(
        &self,
        values: &[(ScimTarget, Value)],
    ) -> Result<Option<Value>, ScimError> {
        for target in [ScimTarget::ExternalId, ScimTarget::UserName] {
            let Some(value) = values
                .iter()
                .find(|(t, _)| *t == target)
                .and_then(|(_, v)| v.as_str())
            else {
                continue;
            };
            if let Some(found) = self.find_user(&filter_eq(target.name(), value)).await? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    pub async fn create_user(&self, resource: &Value) -> Result<Value, ScimError> {
        let (_, created) = self
            .send(
                self.request(reqwest::Method::POST, "/Users"),
                Some(resource),
            )
            .await?;
        Ok(created)
    }

    /// Whether the service takes PATCH (its `/ServiceProviderConfig`); a service that does
    /// not answer that is assumed to (RFC 7644 requires both).
    pub async fn supports_patch(&self) -> Result<bool, ScimError> {
        match self
            .send(
                self.request(reqwest::Method::GET, "/ServiceProviderConfig"),
                None,
            )
            .await
        {
            Ok((_, config)) => Ok(config["patch"]["supported"].as_bool().unwrap_or(true)),
            Err(e) if e.is_transient() => Err(e),
            Err(_) => Ok(true),
        }
    }

    /// Makes the app's user `resource` have `changes`: PATCH, or PUT of the whole user.
    pub async fn update_user(
        &self,
        resource: &Value,
        changes: &[(ScimTarget, Value)],
    ) -> Result<(), ScimError> {
        let id = resource_id(resource)?;
        let path = format!("/Users/{}", urlencode(&id));
        if self.supports_patch().await? {
            let body = json!({
                "schemas": [PATCH_OP_SCHEMA],
                "Operations": patch_operations(resource, changes),
            });
            self.send(self.request(reqwest::Method::PATCH, &path), Some(&body))
                .await?;
        } else {
            let mut whole = resource.clone();
            remove_key(&mut whole, "meta");
            for (target, value) in changes {
                apply(&mut whole, *target, value);
            }
            self.send(self.request(reqwest::Method::PUT, &path), Some(&whole))
                .await?;
        }
        Ok(())
    }

    /// Deletes the app's user; false if it was already gone (404).
    pub async fn delete_user(&self, resource: &Value) -> Result<bool, ScimError> {
        let id = resource_id(resource)?;
        match self
            .send(
                self.request(
                    reqwest::Method::DELETE,
                    &format!("/Users/{}", urlencode(&id)),
                ),
                None,
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.is_status(404) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

fn resource_id(resource: &Value) -> Result<String, ScimError> {
    resource["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| ScimError::Unexpected("a user without an id".into()))
}

/// Percent-encodes a path segment (a service's user id).
fn urlencode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Performs a `scimProvision` / `scimDeprovision` step.
pub async fn perform(
    directory: &Directory,
    http: &reqwest::Client,
    step: &ClaimedStep,
) -> ActionResult {
    let Some(name) = step.step.action.scim_connection() else {
        return ActionResult::Failed(DirectoryError::Internal("not a SCIM step".into()));
    };
    let actor = workflow_actor();
    let connection = match directory
        .scim_connection(&actor, step.tenant_id, name)
        .await
    {
        Ok(c) => c,
        Err(DirectoryError::NotFound { .. }) => {
            return ActionResult::Failed(DirectoryError::invalid(
                format!("steps[{}].connection", step.position),
                format!("no SCIM connection '{name}' (it was deleted?)"),
            ));
        }
        Err(e) => return ActionResult::Failed(e),
    };
    let user = match directory
        .get_user(&actor, step.tenant_id, &UserRef::Id(step.user_id))
        .await
    {
        Ok(u) => Some(u),
        Err(DirectoryError::NotFound { .. }) => None,
        Err(e) => return ActionResult::Failed(e),
    };
    let client = ScimClient::new(http, &connection);
    let outcome = match (&step.step.action, user) {
        (Action::ScimProvision { .. }, Some(user)) => {
            provision(&client, &connection.mapping.values(&user)).await
        }
        (Action::ScimProvision { .. }, None) => {
            return ActionResult::Failed(DirectoryError::not_found("The run's user"));
        }
        (Action::ScimDeprovision { mode, .. }, user) => {
            // A user deleted here is still found by the object id it was given as externalId.
            let values = match user {
                Some(u) => connection.mapping.values(&u),
                None => deleted_user_values(&connection.mapping, step),
            };
            deprovision(&client, &values, *mode).await
        }
        _ => return ActionResult::Failed(DirectoryError::Internal("not a SCIM step".into())),
    };
    match outcome {
        Ok(output) => ActionResult::Done {
            output: format!("{output} in the SCIM app '{}'", connection.name),
        },
        Err(e) => {
            let retry_after = match &e {
                ScimError::Status { retry_after, .. } => *retry_after,
                _ => None,
            };
            let error = format!("the SCIM app '{}' answered {e}", connection.name);
            ActionResult::Remote {
                error: scrub(&error, connection.token.expose_secret()),
                transient: e.is_transient(),
                retry_after,
            }
        }
    }
}

fn deleted_user_values(mapping: &ScimMapping, step: &ClaimedStep) -> Vec<(ScimTarget, Value)> {
    match mapping.source(ScimTarget::ExternalId) {
        Some("id") => vec![(
            ScimTarget::ExternalId,
            Value::String(step.user_id.to_string()),
        )],
        _ => Vec::new(),
    }
}

/// `text` with every occurrence of `secret` cut out.
pub fn scrub(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        return text.to_owned();
    }
    text.replace(secret, "[redacted]")
}

fn user_name(values: &[(ScimTarget, Value)]) -> String {
    values
        .iter()
        .find(|(t, _)| *t == ScimTarget::UserName)
        .and_then(|(_, v)| v.as_str())
        .unwrap_or("the user")
        .to_owned()
}

fn changed_names(changes: &[(ScimTarget, Value)]) -> String {
    changes
        .iter()
        .map(|(t, _)| t.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Creates the app's user or brings it up to date.
pub async fn provision(
    client: &ScimClient<'_>,
    values: &[(ScimTarget, Value)],
) -> Result<String, ScimError> {
    let who = user_name(values);
    let existing = match client.find_mapped(values).await? {
        Some(found) => found,
        None => match client.create_user(&new_resource(values)).await {
            Ok(created) => {
                return Ok(format!(
                    "created {who} (id {})",
                    created["id"].as_str().unwrap_or("?")
                ));
            }
            // Created meanwhile (another run, or by hand): the user is there; match it.
            Err(e) if e.is_status(409) => client.find_mapped(values).await?.ok_or(e)?,
            Err(e) => return Err(e),
        },
    };
    let changes = differences(&existing, values);
    if changes.is_empty() {
        return Ok(format!("{who} was already up to date"));
    }
    client.update_user(&existing, &changes).await?;
    Ok(format!("updated {} of {who}", changed_names(&changes)))
}

/// Deactivates or deletes the app's user; done if it is not there.
pub async fn deprovision(
    client: &ScimClient<'_>,
    values: &[(ScimTarget, Value)],
    mode: ScimDeprovisionMode,
) -> Result<String, ScimError> {
    let Some(existing) = client.find_mapped(values).await? else {
        return Ok(format!(
            "{} is not in the app: nothing to do",
            user_name(values)
        ));
    };
    let who = existing["userName"]
        .as_str()
        .unwrap_or("the user")
        .to_owned();
    match mode {
        ScimDeprovisionMode::Deactivate => {
            if existing["active"] == Value::Bool(false) {
                return Ok(format!("{who} was already inactive"));
            }
            client
                .update_user(&existing, &[(ScimTarget::Active, Value::Bool(false))])
                .await?;
            Ok(format!("deactivated {who}"))
        }
        ScimDeprovisionMode::Delete => Ok(if client.delete_user(&existing).await? {
            format!("deleted {who}")
        } else {
            format!("{who} was already deleted")
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_values_are_json_strings_with_quotes_and_backslashes_escaped() {
        assert_eq!(
            filter_eq("userName", "adele@contoso.test"),
            r#"userName eq "adele@contoso.test""#
        );
        assert_eq!(
            filter_eq("userName", r#"a"b\c"#),
            r#"userName eq "a\"b\\c""#
        );
        // A value cannot close the string and add a clause of its own.
        assert_eq!(
            filter_eq("externalId", r#"x" or userName pr or "a"#),
            r#"externalId eq "x\" or userName pr or \"a""#
        );
        assert_eq!(filter_string("tab\there"), r#""tab\there""#);
    }

    #[test]
    fn errors_are_classified_transient_for_429_5xx_and_the_network_only() {
        let body = br#"{"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status": "409", "scimType": "uniqueness", "detail": "userName taken"}"#;
        let e = error_from(409, None, body);
        assert!(!e.is_transient());
        assert_eq!(e.to_string(), "409 (uniqueness): userName taken");
        let throttled = error_from(429, Some("120"), b"");
        assert!(throttled.is_transient());
        assert!(matches!(
            throttled,
            ScimError::Status { retry_after: Some(d), .. } if d == Duration::seconds(120)
        ));
        // An absurd Retry-After is held to an hour.
        assert!(matches!(
            error_from(503, Some("99999999"), b"<html>"),
            ScimError::Status { retry_after: Some(d), scim_type: None, detail: None, .. }
                if d == Duration::hours(1)
        ));
        assert!(error_from(500, None, b"").is_transient());
        assert!(!error_from(400, None, br#"{"scimType": "invalidFilter"}"#).is_transient());
        assert!(!error_from(401, None, b"").is_transient());
        assert!(ScimError::Network("refused".into()).is_transient());
        assert!(!ScimError::Unexpected("odd".into()).is_transient());
        // Control characters in a detail do not reach the history.
        let e = error_from(
            400,
            None,
            "{\"detail\": \"bad\\u001b[31m\\nline\"}".as_bytes(),
        );
        assert_eq!(e.to_string(), "400: bad[31mline");
    }

    #[test]
    fn a_secret_echoed_by_a_service_is_cut_out() {
        assert_eq!(
            scrub("token s3cr3t is not valid", "s3cr3t"),
            "token [redacted] is not valid"
        );
    }

    /// A user built by hand (the mapping needs no store).
    fn user() -> latchkey_core::user::User {
        use latchkey_core::user::*;
        let now = chrono::Utc::now();
        User {
            id: latchkey_core::ids::UserId::new(),
            tenant_id: latchkey_core::ids::TenantId::new(),
            user_principal_name: latchkey_core::names::Upn::parse("adele@contoso.test").unwrap(),
            display_name: latchkey_core::names::DisplayName::parse("Adele Vance").unwrap(),
            mail_nickname: "adele".into(),
            account_enabled: true,
            user_type: UserType::Member,
            profile: UserProfile {
                given_name: Some("Adele".into()),
                surname: Some("Vance".into()),
                mail: Some("adele@contoso.test".into()),
                job_title: None,
                department: Some("Sales".into()),
                ..UserProfile::default()
            },
            password_policies: PasswordPolicies::default(),
            force_change_password_next_sign_in: false,
            force_change_password_next_sign_in_with_mfa: false,
            last_password_change: None,
            sign_in_sessions_valid_from: now,
            created: now,
            deleted: None,
            version: 1,
        }
    }

    #[test]
    fn the_default_mapping_makes_a_core_user_with_the_enterprise_department() {
        let user = user();
        let values = ScimMapping::default().values(&user);
        let resource = new_resource(&values);
        assert_eq!(
            resource,
            json!({
                "schemas": [CORE_USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
                "userName": "adele@contoso.test",
                "externalId": user.id.to_string(),
                "displayName": "Adele Vance",
                "name": {"givenName": "Adele", "familyName": "Vance"},
                "emails": [{"value": "adele@contoso.test", "type": "work", "primary": true}],
                "active": true,
                ENTERPRISE_USER_SCHEMA: {"department": "Sales"},
            })
        );
        // What it creates is what it then finds up to date.
        assert!(differences(&resource, &values).is_empty());
    }

    #[test]
    fn only_what_differs_is_patched_keeping_the_other_addresses() {
        let user = user();
        let values = ScimMapping::default().values(&user);
        let mut remote = new_resource(&values);
        remote["title"] = json!("Intern");
        remote["emails"] = json!([
            {"value": "home@example.com", "type": "home"},
            {"value": "old@contoso.test", "type": "work"}
        ]);
        remote["active"] = json!(false);
        let changes = differences(&remote, &values);
        let names: Vec<_> = changes.iter().map(|(t, _)| t.name()).collect();
        assert_eq!(names, ["emails.work", "active", "title"]);
        assert_eq!(
            patch_operations(&remote, &changes),
            vec![
                json!({"op": "replace", "path": "emails", "value": [
                    {"value": "home@example.com", "type": "home"},
                    {"value": "adele@contoso.test", "type": "work", "primary": true}
                ]}),
                json!({"op": "replace", "path": "active", "value": true}),
                json!({"op": "remove", "path": "title"}),
            ]
        );
        // The PUT form of the same change.
        for (t, v) in &changes {
            apply(&mut remote, *t, v);
        }
        assert!(differences(&remote, &values).is_empty());
        assert!(remote.get("title").is_none());
    }

    #[test]
    fn a_mapping_is_changed_by_name_and_refuses_what_it_cannot_fill_naming_the_field() {
        let m =
            ScimMapping::with_overrides(["title=department", "enterprise.department="]).unwrap();
        assert_eq!(m.source(ScimTarget::Title), Some("department"));
        assert_eq!(m.source(ScimTarget::Department), None);
        assert_eq!(ScimMapping::from_json(&m.to_json()).unwrap(), m);
        let field = |o: &str| match ScimMapping::with_overrides([o]).unwrap_err() {
            DirectoryError::Invalid { property, .. } => property,
            other => panic!("{other:?}"),
        };
        assert_eq!(field("userName="), "mapping.userName");
        assert_eq!(field("shoeSize=id"), "mapping.shoeSize");
        assert_eq!(field("title=passwordHash"), "mapping.title");
        assert_eq!(field("active=displayName"), "mapping.active");
        assert_eq!(field("title"), "mapping");
    }
}
