//! JSON batching (`POST /v1.0/$batch`): up to 20 requests in one round trip, each run
//! through the same routes (and so the same authentication, throttling and directory
//! operations) as if it had been sent alone, with the batch's `Authorization`.
//!
//! Requests run one after another, in an order that puts every request after those it
//! `dependsOn`; a request whose dependency did not succeed is answered 424 without running.
//! Graph does not promise an order for independent requests; running them in the order
//! given is one of the orders it allows, and keeps a batch's writes predictable.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tower::ServiceExt;

use crate::error::{GraphError, clip};
use crate::http::json_response;

/// Graph's limit on requests in one batch.
pub const MAX_REQUESTS: usize = 20;
/// A sub-response body larger than this is not buffered into the batch response.
const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// What the batch route needs: the Graph routes to run each request through.
#[derive(Clone)]
pub(crate) struct BatchState {
    pub(crate) routes: Router,
    pub(crate) public_url: std::sync::Arc<str>,
}

#[derive(Debug, Deserialize)]
struct Batch {
    requests: Vec<Value>,
}

/// One request of the batch, checked.
#[derive(Debug)]
struct Item {
    id: String,
    method: Method,
    url: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Option<Vec<u8>>,
    depends_on: Vec<String>,
}

pub(crate) async fn batch(
    State(state): State<BatchState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, GraphError> {
    let Some(authorization) = headers.get(header::AUTHORIZATION).cloned() else {
        return Err(GraphError::unauthenticated(
            &state.public_url,
            "Access token is empty.",
        ));
    };
    let batch: Batch = serde_json::from_slice(&body).map_err(|_| {
        GraphError::bad_request("Invalid batch payload format: expected {\"requests\": [...]}.")
    })?;
    if batch.requests.is_empty() {
        return Err(GraphError::bad_request("The batch contains no requests."));
    }
    if batch.requests.len() > MAX_REQUESTS {
        return Err(GraphError::bad_request(format!(
            "The batch contains {} requests; the limit is {MAX_REQUESTS}.",
            batch.requests.len()
        )));
    }
    let items = batch
        .requests
        .iter()
        .map(parse_item)
        .collect::<Result<Vec<_>, _>>()?;
    let order = execution_order(&items)?;

    let mut outcomes: Vec<Option<u16>> = vec![None; items.len()];
    let mut responses = Vec::with_capacity(items.len());
    for i in order {
        let item = &items[i];
        let failed_dependency = item.depends_on.iter().find(|d| {
            items
                .iter()
                .position(|other| &other.id == *d)
                .and_then(|j| outcomes[j])
                .is_none_or(|status| !(200..300).contains(&status))
        });
        let response = if let Some(dep) = failed_dependency {
            outcomes[i] = Some(424);
            json!({
                "id": item.id,
                "status": 424,
                "headers": {"Content-Type": "application/json"},
                "body": {"error": {
                    "code": "FailedDependency",
                    "message": format!("The request it depends on ('{}') failed.", clip(dep)),
                }},
            })
        } else {
            let (status, rendered) = run(&state.routes, item, &authorization).await;
            outcomes[i] = Some(status);
            rendered
        };
        responses.push(response);
    }
    Ok(json_response(StatusCode::OK, &json!({ "responses": responses })).into_response())
}

fn parse_item(v: &Value) -> Result<Item, GraphError> {
    let bad = |m: String| GraphError::bad_request(m);
    let obj = v
        .as_object()
        .ok_or_else(|| bad("Every entry of 'requests' must be an object.".into()))?;
    let id = match obj.get("id") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(bad("Every request in a batch needs an 'id'.".into())),
    };
    let method = obj
        .get("method")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("Request '{}' has no 'method'.", clip(&id))))?;
    let method = match method.to_ascii_uppercase().as_str() {
        "GET" => Method::GET,
        "POST" => Method::POST,
        "PATCH" => Method::PATCH,
        "PUT" => Method::PUT,
        "DELETE" => Method::DELETE,
        other => {
            return Err(bad(format!(
                "Request '{}' has the method '{}'; a batch takes GET, POST, PATCH, PUT and DELETE.",
                clip(&id),
                clip(other)
            )));
        }
    };
    let url = obj
        .get("url")
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("Request '{}' has no 'url'.", clip(&id))))?;
    let url = relative_url(url).ok_or_else(|| {
        bad(format!(
            "Request '{}' has the url '{}'; a batch takes URLs relative to the version, such as '/users/{{id}}'.",
            clip(&id),
            clip(url)
        ))
    })?;
    let mut headers = vec![];
    if let Some(h) = obj.get("headers").filter(|h| !h.is_null()) {
        let h = h.as_object().ok_or_else(|| {
            bad(format!(
                "Request '{}': 'headers' must be an object.",
                clip(&id)
            ))
        })?;
        for (name, value) in h {
            // A string, or (as msgraph-sdk for Python writes them) a list of strings.
            let value = match value {
                Value::String(s) => s.clone(),
                Value::Array(parts) if parts.iter().all(Value::is_string) => parts
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
                _ => {
                    return Err(bad(format!(
                        "Request '{}': the header '{}' must be a string.",
                        clip(&id),
                        clip(name)
                    )));
                }
            };
            let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) else {
                return Err(bad(format!(
                    "Request '{}': the header '{}' is not valid.",
                    clip(&id),
                    clip(name)
                )));
            };
            // The batch's own credentials apply; a request cannot bring others.
            if n != header::AUTHORIZATION {
                headers.push((n, v));
            }
        }
    }
    let body = match obj.get("body") {
        None | Some(Value::Null) => None,
        // Graph: a body that is not JSON travels base64-encoded.
        Some(Value::String(s)) => Some(STANDARD.decode(s).map_err(|_| {
            bad(format!(
                "Request '{}': a string 'body' must be base64.",
                clip(&id)
            ))
        })?),
        Some(other) => Some(other.to_string().into_bytes()),
    };
    if body.is_some() && !headers.iter().any(|(n, _)| n == header::CONTENT_TYPE) {
        return Err(bad(format!(
            "Request '{}' has a body but no Content-Type header.",
            clip(&id)
        )));
    }
    // Graph's name, and the one msgraph-sdk for Python writes.
    let depends_on = match obj.get("dependsOn").or_else(|| obj.get("depends_on")) {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(a)) => a
            .iter()
            .map(|d| {
                d.as_str().map(str::to_owned).ok_or_else(|| {
                    bad(format!(
                        "Request '{}': 'dependsOn' must list request ids.",
                        clip(&id)
                    ))
                })
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(bad(format!(
                "Request '{}': 'dependsOn' must be an array.",
                clip(&id)
            )));
        }
    };
    Ok(Item {
        id,
        method,
        url,
        headers,
        body,
        depends_on,
    })
}

/// `/users/x`, `users/x`, `/v1.0/users/x` or an absolute URL on any host whose path starts
/// with `/v1.0/`: the path and query under `/v1.0`. Nested batches are refused.
fn relative_url(url: &str) -> Option<String> {
    let path = match url.split_once("://") {
        Some((_, rest)) => {
            let at = rest.find('/')?;
            rest[at..].strip_prefix("/v1.0")?.to_owned()
        }
        None => {
            let p = if url.starts_with('/') {
                url.to_owned()
            } else {
                format!("/{url}")
            };
            p.strip_prefix("/v1.0").map_or(p.clone(), str::to_owned)
        }
    };
    if !path.starts_with('/') || path.starts_with("/$batch") || path.contains(char::is_whitespace) {
        return None;
    }
    Some(path)
}

/// Indexes in an order where every request comes after its dependencies (otherwise the
/// order given); unknown ids, duplicates and cycles are refused.
fn execution_order(items: &[Item]) -> Result<Vec<usize>, GraphError> {
    for (i, item) in items.iter().enumerate() {
        if items[..i].iter().any(|o| o.id == item.id) {
            return Err(GraphError::bad_request(format!(
                "Two requests in the batch have the id '{}'.",
                clip(&item.id)
            )));
        }
    }
    for item in items {
        for d in &item.depends_on {
            if !items.iter().any(|o| &o.id == d) || d == &item.id {
                return Err(GraphError::bad_request(format!(
                    "Request '{}' depends on '{}', which is not another request in this batch.",
                    clip(&item.id),
                    clip(d)
                )));
            }
        }
    }
    let mut done = vec![false; items.len()];
    let mut order = Vec::with_capacity(items.len());
    while order.len() < items.len() {
        let next = (0..items.len()).find(|&i| {
            !done[i]
                && items[i].depends_on.iter().all(|d| {
                    items
                        .iter()
                        .position(|o| &o.id == d)
                        .is_some_and(|j| done[j])
                })
        });
        match next {
            Some(i) => {
                done[i] = true;
                order.push(i);
            }
            None => {
                return Err(GraphError::bad_request(
                    "The requests' dependsOn form a cycle.",
                ));
            }
        }
    }
    Ok(order)
}

/// Runs one request through the Graph routes; its status and its entry in `responses`.
async fn run(routes: &Router, item: &Item, authorization: &HeaderValue) -> (u16, Value) {
    let mut req = Request::builder()
        .method(item.method.clone())
        .uri(format!("/v1.0{}", item.url));
    if let Some(h) = req.headers_mut() {
        for (n, v) in &item.headers {
            h.append(n.clone(), v.clone());
        }
        h.insert(header::AUTHORIZATION, authorization.clone());
    }
    let req = match req.body(Body::from(item.body.clone().unwrap_or_default())) {
        Ok(r) => r,
        Err(_) => {
            return (
                400,
                json!({"id": item.id, "status": 400, "headers": {"Content-Type": "application/json"},
                       "body": {"error": {"code": "BadRequest", "message": "The request's url is not valid."}}}),
            );
        }
    };
    let response = match routes.clone().oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let status = response.status().as_u16();
    let mut headers = Map::new();
    for name in [
        header::CONTENT_TYPE,
        header::LOCATION,
        header::RETRY_AFTER,
        HeaderName::from_static("odata-version"),
    ] {
        if let Some(v) = response.headers().get(&name).and_then(|v| v.to_str().ok()) {
            headers.insert(canonical(&name), Value::String(v.to_owned()));
        }
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let bytes = axum::body::to_bytes(response.into_body(), MAX_RESPONSE_BYTES)
        .await
        .unwrap_or_default();
    let mut entry = json!({ "id": item.id, "status": status, "headers": headers });
    if !bytes.is_empty() {
        entry["body"] = match (is_json, serde_json::from_slice::<Value>(&bytes)) {
            (true, Ok(v)) => v,
            _ => Value::String(STANDARD.encode(&bytes)),
        };
    }
    (status, entry)
}

/// `content-type` → `Content-Type`, as Graph writes header names in batch responses.
fn canonical(name: &HeaderName) -> String {
    name.as_str()
        .split('-')
        .map(|part| {
            let mut c = part.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, deps: &[&str]) -> Item {
        Item {
            id: id.into(),
            method: Method::GET,
            url: "/me".into(),
            headers: vec![],
            body: None,
            depends_on: deps.iter().map(|d| (*d).to_owned()).collect(),
        }
    }

    #[test]
    fn dependencies_run_first_and_cycles_or_strangers_are_refused() {
        let items = [item("1", &["3"]), item("2", &[]), item("3", &["2"])];
        assert_eq!(execution_order(&items).unwrap(), vec![1, 2, 0]);
        let cycle = [item("a", &["b"]), item("b", &["a"])];
        assert!(
            execution_order(&cycle)
                .unwrap_err()
                .message
                .contains("cycle")
        );
        let stranger = [item("a", &["zz"])];
        assert!(
            execution_order(&stranger)
                .unwrap_err()
                .message
                .contains("'zz'")
        );
        let twice = [item("a", &[]), item("a", &[])];
        assert!(execution_order(&twice).unwrap_err().message.contains("'a'"));
    }

    #[test]
    fn urls_are_taken_relative_to_the_version() {
        assert_eq!(
            relative_url("/users/x?$select=id").unwrap(),
            "/users/x?$select=id"
        );
        assert_eq!(relative_url("users/x").unwrap(), "/users/x");
        assert_eq!(relative_url("/v1.0/me").unwrap(), "/me");
        assert_eq!(
            relative_url("https://graph.microsoft.com/v1.0/users").unwrap(),
            "/users"
        );
        assert!(relative_url("https://graph.microsoft.com/beta/users").is_none());
        assert!(relative_url("/$batch").is_none());
        assert!(relative_url("/users/a b").is_none());
    }
}
