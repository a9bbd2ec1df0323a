//! `auditLogs/directoryAudits` and `auditLogs/signIns` in Graph's shapes, newest first, with
//! `$filter` (a conjunction of the comparisons Graph documents for these logs), `$top` and
//! absolute `@odata.nextLink` paging.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SecondsFormat, Utc};
use latchkey_core::audit::AuditEvent;
use latchkey_core::ids::UserId;
use latchkey_core::sign_in::SignInEvent;
use latchkey_core::store::{AuditQuery, Page, SignInQuery};
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::error::{GraphError, clip};
use crate::http::{GraphState, context, json_response};
use crate::list::decode_skiptoken;
use crate::odata::parse_top;

const DEFAULT_TOP: u32 = 100;

/// A literal on the right of a comparison.
#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Text(String),
    Bare(String),
}

impl Literal {
    fn text(&self, property: &str) -> Result<String, GraphError> {
        match self {
            Self::Text(s) => Ok(s.clone()),
            Self::Bare(b) => Err(GraphError::bad_request(format!(
                "Invalid filter clause: '{property}' compares with a quoted string, not '{}'.",
                clip(b)
            ))),
        }
    }

    fn time(&self, property: &str) -> Result<DateTime<Utc>, GraphError> {
        let raw = match self {
            Self::Text(s) | Self::Bare(s) => s,
        };
        DateTime::parse_from_rfc3339(raw)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| {
                GraphError::bad_request(format!(
                    "Invalid filter clause: '{property}' compares with a date and time such as 2024-05-01T00:00:00Z, not '{}'.",
                    clip(raw)
                ))
            })
    }

    fn integer(&self, property: &str) -> Result<i64, GraphError> {
        match self {
            Self::Bare(b) => b.parse().map_err(|_| {
                GraphError::bad_request(format!(
                    "Invalid filter clause: '{property}' compares with an integer, not '{}'.",
                    clip(b)
                ))
            }),
            Self::Text(t) => Err(GraphError::bad_request(format!(
                "Invalid filter clause: '{property}' compares with an integer, not the string '{}'.",
                clip(t)
            ))),
        }
    }
}

/// One comparison: `property op literal`; `targetResources/any(t:t/id eq 'x')` becomes
/// `targetResources/id eq 'x'`.
#[derive(Debug, Clone, PartialEq)]
struct Comparison {
    property: String,
    op: String,
    value: Literal,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Open,
    Close,
}

fn tokenize(raw: &str) -> Result<Vec<Token>, GraphError> {
    let mut out = Vec::new();
    let mut chars = raw.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                out.push(Token::Open);
            }
            ')' => {
                chars.next();
                out.push(Token::Close);
            }
            '\'' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some('\'') if chars.peek() == Some(&'\'') => {
                            chars.next();
                            s.push('\'');
                        }
                        Some('\'') => break,
                        Some(c) => s.push(c),
                        None => {
                            return Err(GraphError::bad_request(
                                "Invalid filter clause: a string is not closed with a quote.",
                            ));
                        }
                    }
                }
                out.push(Token::Text(s));
            }
            _ => {
                let mut w = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '(' | ')' | '\'') {
                        break;
                    }
                    w.push(c);
                    chars.next();
                }
                out.push(Token::Word(w));
            }
        }
    }
    Ok(out)
}

/// A `$filter` of these logs: comparisons joined by `and`.
fn parse_filter(raw: &str) -> Result<Vec<Comparison>, GraphError> {
    let tokens = tokenize(raw)?;
    let mut out = Vec::new();
    let mut i = 0;
    let unsupported = |what: &str| {
        GraphError::unsupported(format!(
            "Unsupported query: '{}' in $filter; these logs take comparisons joined by 'and'.",
            clip(what)
        ))
    };
    loop {
        let Some(Token::Word(property)) = tokens.get(i) else {
            return Err(GraphError::bad_request(
                "Invalid filter clause: expected a property name.",
            ));
        };
        let lower = property.to_ascii_lowercase();
        if lower == "not" || lower.contains("startswith") || lower.contains("contains") {
            return Err(unsupported(property));
        }
        let comparison = if let Some(collection) = property.strip_suffix("/any") {
            // collection/any(v:v/prop eq 'x')
            let (Some(Token::Open), Some(Token::Word(inner)), Some(Token::Word(op))) =
                (tokens.get(i + 1), tokens.get(i + 2), tokens.get(i + 3))
            else {
                return Err(GraphError::bad_request(format!(
                    "Invalid filter clause: expected {collection}/any(t:t/id eq '...')."
                )));
            };
            let (var, path) = inner.split_once(':').unwrap_or_default();
            let member = path.strip_prefix(var).and_then(|p| p.strip_prefix('/'));
            let (Some(member), false) = (member, var.is_empty()) else {
                return Err(GraphError::bad_request(format!(
                    "Invalid filter clause: expected {collection}/any(t:t/id eq '...')."
                )));
            };
            let value = match tokens.get(i + 4) {
                Some(Token::Text(t)) => Literal::Text(t.clone()),
                Some(Token::Word(w)) => Literal::Bare(w.clone()),
                _ => {
                    return Err(GraphError::bad_request(
                        "Invalid filter clause: a comparison has no value.",
                    ));
                }
            };
            if tokens.get(i + 5) != Some(&Token::Close) {
                return Err(GraphError::bad_request(
                    "Invalid filter clause: any(...) is not closed.",
                ));
            }
            i += 6;
            Comparison {
                property: format!("{collection}/{member}"),
                op: op.to_ascii_lowercase(),
                value,
            }
        } else {
            let Some(Token::Word(op)) = tokens.get(i + 1) else {
                return Err(GraphError::bad_request(format!(
                    "Invalid filter clause: '{}' is not followed by an operator.",
                    clip(property)
                )));
            };
            let value = match tokens.get(i + 2) {
                Some(Token::Text(t)) => Literal::Text(t.clone()),
                Some(Token::Word(w)) => Literal::Bare(w.clone()),
                _ => {
                    return Err(GraphError::bad_request(
                        "Invalid filter clause: a comparison has no value.",
                    ));
                }
            };
            i += 3;
            Comparison {
                property: property.clone(),
                op: op.to_ascii_lowercase(),
                value,
            }
        };
        out.push(comparison);
        match tokens.get(i) {
            None => return Ok(out),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("and") => i += 1,
            Some(Token::Word(w)) => return Err(unsupported(w)),
            Some(_) => return Err(unsupported("(")),
        }
    }
}

fn set_once<T>(slot: &mut Option<T>, property: &str, value: T) -> Result<(), GraphError> {
    if slot.is_some() {
        return Err(GraphError::unsupported(format!(
            "Unsupported query: '{property}' is compared twice in $filter."
        )));
    }
    *slot = Some(value);
    Ok(())
}

fn time_bound(
    c: &Comparison,
    from: &mut Option<DateTime<Utc>>,
    to: &mut Option<DateTime<Utc>>,
) -> Result<(), GraphError> {
    let t = c.value.time(&c.property)?;
    match c.op.as_str() {
        "ge" => set_once(from, &c.property, t),
        "le" => set_once(to, &c.property, t),
        other => Err(GraphError::unsupported(format!(
            "Unsupported query: '{}' with '{}'; use ge and le.",
            c.property,
            clip(other)
        ))),
    }
}

fn equality(c: &Comparison) -> Result<(), GraphError> {
    if c.op == "eq" {
        Ok(())
    } else {
        Err(GraphError::unsupported(format!(
            "Unsupported query: '{}' with '{}'; use eq.",
            c.property,
            clip(&c.op)
        )))
    }
}

fn unknown_property(c: &Comparison, resource: &str) -> GraphError {
    GraphError::bad_request(format!(
        "Invalid filter clause: could not find a property named '{}' on type 'microsoft.graph.{resource}' that can be filtered.",
        clip(&c.property)
    ))
}

/// `$filter`, `$top`, `$skiptoken`; the other pairs, for the next link.
struct Paging {
    filter: Vec<Comparison>,
    top: u32,
    after: Option<String>,
    pairs: Vec<(String, String)>,
}

fn paging(raw: Option<&str>) -> Result<Paging, GraphError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or_default())
        .map_err(|_| GraphError::bad_request("The query string is not valid."))?;
    let mut filter = None;
    let mut top = None;
    let mut after = None;
    for (key, value) in &pairs {
        match key.to_ascii_lowercase().as_str() {
            "$filter" => set_once(&mut filter, "$filter", parse_filter(value)?)?,
            "$top" => set_once(&mut top, "$top", parse_top(value)?)?,
            "$skiptoken" => set_once(&mut after, "$skiptoken", decode_skiptoken(value)?)?,
            k if k.starts_with('$') => {
                return Err(GraphError::unsupported(format!(
                    "Query option '{}' is not supported on audit logs.",
                    clip(key)
                )));
            }
            _ => {}
        }
    }
    Ok(Paging {
        filter: filter.unwrap_or_default(),
        top: top.unwrap_or(DEFAULT_TOP),
        after,
        pairs: pairs
            .into_iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("$skiptoken"))
            .collect(),
    })
}

fn audit_query(p: &Paging) -> Result<AuditQuery, GraphError> {
    let mut q = AuditQuery {
        after: p.after.clone(),
        limit: p.top,
        ..AuditQuery::default()
    };
    for c in &p.filter {
        match c.property.as_str() {
            "activityDateTime" => time_bound(c, &mut q.from, &mut q.to)?,
            "initiatedBy/user/id" | "initiatedBy/app/appId" => {
                equality(c)?;
                set_once(&mut q.initiated_by, &c.property, c.value.text(&c.property)?)?;
            }
            "activityDisplayName" => {
                equality(c)?;
                set_once(&mut q.activity, &c.property, c.value.text(&c.property)?)?;
            }
            "category" => {
                equality(c)?;
                set_once(&mut q.category, &c.property, c.value.text(&c.property)?)?;
            }
            "targetResources/id" => {
                equality(c)?;
                set_once(&mut q.target_id, &c.property, c.value.text(&c.property)?)?;
            }
            _ => return Err(unknown_property(c, "directoryAudit")),
        }
    }
    Ok(q)
}

fn sign_in_query(p: &Paging) -> Result<SignInQuery, GraphError> {
    let mut q = SignInQuery {
        after: p.after.clone(),
        limit: p.top,
        ..SignInQuery::default()
    };
    for c in &p.filter {
        match c.property.as_str() {
            "createdDateTime" => time_bound(c, &mut q.from, &mut q.to)?,
            "userPrincipalName" => {
                equality(c)?;
                set_once(
                    &mut q.user_principal_name,
                    &c.property,
                    c.value.text(&c.property)?,
                )?;
            }
            "userId" => {
                equality(c)?;
                let id: UserId = c.value.text(&c.property)?.parse().map_err(|_| {
                    GraphError::bad_request("Invalid filter clause: 'userId' is a GUID.")
                })?;
                set_once(&mut q.user_id, &c.property, id)?;
            }
            "appId" => {
                equality(c)?;
                set_once(&mut q.app_id, &c.property, c.value.text(&c.property)?)?;
            }
            "status/errorCode" => {
                equality(c)?;
                set_once(
                    &mut q.error_code,
                    &c.property,
                    c.value.integer(&c.property)?,
                )?;
            }
            _ => return Err(unknown_property(c, "signIn")),
        }
    }
    Ok(q)
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn collection<T>(
    state: &GraphState,
    set: &str,
    p: &Paging,
    page: Page<T>,
    render: impl Fn(&T) -> Value,
) -> Value {
    let mut out = json!({
        "@odata.context": context(state, &format!("auditLogs/{set}")),
        "value": page.items.iter().map(render).collect::<Vec<_>>(),
    });
    if let (Some(next), Value::Object(map)) = (page.next, &mut out) {
        let mut pairs = p.pairs.clone();
        pairs.push(("$skiptoken".into(), URL_SAFE_NO_PAD.encode(next)));
        let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        map.insert(
            "@odata.nextLink".into(),
            json!(format!("{}/v1.0/auditLogs/{set}?{query}", state.public_url)),
        );
    }
    out
}

fn audit_json(e: &AuditEvent) -> Value {
    let initiated_by = match e.initiated_by.kind.as_str() {
        "user" => json!({
            "user": { "id": e.initiated_by.id, "displayName": e.initiated_by.display },
            "app": null,
        }),
        _ => json!({
            "user": null,
            "app": { "appId": e.initiated_by.id, "displayName": e.initiated_by.display },
        }),
    };
    let target_type = if e.category == "ApplicationManagement" {
        "Application"
    } else {
        "User"
    };
    let targets: Vec<Value> = e
        .target_id
        .iter()
        .map(|id| {
            json!({
                "id": id,
                "displayName": e.target_display,
                "type": target_type,
                "userPrincipalName": if target_type == "User" { e.target_display.clone() } else { None },
                "modifiedProperties": [],
            })
        })
        .collect();
    json!({
        "id": e.id.to_string(),
        "category": e.category,
        "correlationId": e.id.to_string(),
        "result": e.result,
        "resultReason": "",
        "activityDisplayName": e.activity,
        "activityDateTime": time(e.activity_date_time),
        "loggedByService": "Core Directory",
        "operationType": e.operation_type,
        "initiatedBy": initiated_by,
        "targetResources": targets,
        "additionalDetails": e.details.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>(),
    })
}

fn sign_in_json(e: &SignInEvent) -> Value {
    json!({
        "id": e.id.to_string(),
        "createdDateTime": time(e.created),
        "userPrincipalName": e.user_principal_name,
        "userId": e.user_id.map(|u| u.to_string()),
        "appId": e.app_id,
        "appDisplayName": e.app_display_name,
        "status": {
            "errorCode": e.error_code,
            "failureReason": e.failure_reason,
            "additionalDetails": null,
        },
    })
}

pub(crate) async fn directory_audits(
    caller: Caller,
    State(state): State<GraphState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    let p = paging(raw.as_deref())?;
    let page = state
        .directory
        .directory_audits(&caller.actor, caller.tenant, &audit_query(&p)?)
        .await?;
    let body = collection(&state, "directoryAudits", &p, page, audit_json);
    Ok(json_response(StatusCode::OK, &body))
}

pub(crate) async fn sign_ins(
    caller: Caller,
    State(state): State<GraphState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, GraphError> {
    let p = paging(raw.as_deref())?;
    let page = state
        .directory
        .sign_in_log(&caller.actor, caller.tenant, &sign_in_query(&p)?)
        .await?;
    let body = collection(&state, "signIns", &p, page, sign_in_json);
    Ok(json_response(StatusCode::OK, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_is_comparisons_joined_by_and_with_any_on_targets() {
        let f = parse_filter(
            "activityDateTime ge 2024-05-01T00:00:00Z and targetResources/any(t:t/id eq 'a''b')",
        )
        .unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].property, "activityDateTime");
        assert_eq!(f[1].property, "targetResources/id");
        assert_eq!(f[1].value, Literal::Text("a'b".into()));
    }

    #[test]
    fn or_not_and_functions_are_unsupported_and_broken_clauses_are_bad() {
        for raw in [
            "category eq 'a' or category eq 'b'",
            "not category eq 'a'",
            "startswith(activityDisplayName,'Reset')",
        ] {
            assert_eq!(
                parse_filter(raw).unwrap_err().code,
                "Request_UnsupportedQuery",
                "{raw}"
            );
        }
        for raw in [
            "",
            "category",
            "category eq",
            "category eq 'open",
            "t/any(x eq 'a')",
        ] {
            assert_eq!(
                parse_filter(raw).unwrap_err().code,
                "Request_BadRequest",
                "{raw}"
            );
        }
    }
}
