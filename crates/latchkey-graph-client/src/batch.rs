//! JSON batching (`POST /$batch`): up to 20 requests in one round trip, with `dependsOn`.
//! Graph throttles the requests of a batch one by one, so a 429/503/504 inside the answer is
//! retried like a single request: after the longest `Retry-After` among them (or the
//! backoff), only those requests and the ones that failed (424) because they depended on
//! them are sent again, up to the retry policy's limit.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;
use serde_json::{Value, json};

use crate::client::{GraphClient, retry_after};
use crate::error::GraphClientError;

/// Graph's limit on the requests of one batch.
pub const MAX_BATCH_REQUESTS: usize = 20;

/// One request of a batch. `url` is relative to the version root, e.g. `/users/{id}`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BatchRequest {
    pub id: String,
    pub method: String,
    pub url: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    #[serde(rename = "dependsOn", skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
}

/// One answer of a batch, as Graph gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchResponse {
    pub id: String,
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: Value,
}

fn retryable(status: u16) -> bool {
    matches!(status, 429 | 503 | 504)
}

fn check(requests: &[BatchRequest]) -> Result<(), GraphClientError> {
    let bad = |m: String| Err(GraphClientError::InvalidBatch(m));
    if requests.is_empty() || requests.len() > MAX_BATCH_REQUESTS {
        return bad(format!(
            "a batch holds 1 to {MAX_BATCH_REQUESTS} requests, not {}",
            requests.len()
        ));
    }
    let mut ids = HashSet::new();
    for r in requests {
        if r.id.is_empty() || !ids.insert(r.id.as_str()) {
            return bad(format!("request id '{}' is empty or repeated", r.id));
        }
    }
    for r in requests {
        if let Some(d) = r.depends_on.iter().find(|d| !ids.contains(d.as_str())) {
            return bad(format!(
                "request '{}' depends on '{d}', which is not in the batch",
                r.id
            ));
        }
    }
    Ok(())
}

fn parse_response(v: &Value) -> Option<BatchResponse> {
    let headers = v["headers"]
        .as_object()
        .map(|h| {
            h.iter()
                .filter_map(|(k, v)| Some((k.to_ascii_lowercase(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    Some(BatchResponse {
        id: v["id"].as_str()?.to_owned(),
        status: u16::try_from(v["status"].as_u64()?).ok()?,
        headers,
        body: v.get("body").cloned().unwrap_or(Value::Null),
    })
}

impl GraphClient {
    /// Sends `requests` as one JSON batch and returns their answers in the same order.
    /// Each answer's status is the request's own: a 4xx inside a batch is not an `Err`.
    pub async fn batch(
        &self,
        requests: &[BatchRequest],
    ) -> Result<Vec<BatchResponse>, GraphClientError> {
        check(requests)?;
        let retry = self.retry_policy();
        let mut done: BTreeMap<String, BatchResponse> = BTreeMap::new();
        let mut pending: Vec<BatchRequest> = requests.to_vec();
        let mut attempt = 0u32;
        loop {
            let sent: HashSet<String> = pending.iter().map(|r| r.id.clone()).collect();
            let body = json!({
                "requests": pending.iter().map(|r| {
                    let mut r = r.clone();
                    // Requests already answered are no longer in the batch.
                    r.depends_on.retain(|d| sent.contains(d));
                    if r.body.is_some() && !r.headers.keys().any(|k| k.eq_ignore_ascii_case("content-type")) {
                        r.headers.insert("Content-Type".into(), "application/json".into());
                    }
                    r
                }).collect::<Vec<_>>(),
            });
            let answer = self
                .send_json(Method::POST, self.url(&["$batch"]), Some(&body), false)
                .await?;
            let responses: Vec<BatchResponse> = answer["responses"]
                .as_array()
                .map(|a| a.iter().filter_map(parse_response).collect())
                .unwrap_or_default();
            let throttled: HashSet<String> = responses
                .iter()
                .filter(|r| retryable(r.status))
                .map(|r| r.id.clone())
                .collect();
            let again = attempt < retry.max_retries && !throttled.is_empty();
            let mut wait: Option<Duration> = None;
            let mut retry_ids: HashSet<String> = HashSet::new();
            for r in responses {
                let failed_on_throttled = r.status == 424
                    && pending
                        .iter()
                        .find(|p| p.id == r.id)
                        .is_some_and(|p| p.depends_on.iter().any(|d| throttled.contains(d)));
                if again && (throttled.contains(&r.id) || failed_on_throttled) {
                    if throttled.contains(&r.id) {
                        let mut h = HeaderMap::new();
                        if let (Ok(n), Some(v)) = (
                            HeaderName::from_bytes(b"retry-after"),
                            r.headers.get("retry-after"),
                        ) && let Ok(v) = HeaderValue::from_str(v)
                        {
                            h.insert(n, v);
                        }
                        let w = retry_after(&h).unwrap_or_else(|| {
                            retry.base_backoff.saturating_mul(1 << attempt.min(16))
                        });
                        wait = Some(wait.map_or(w, |x| x.max(w)));
                    }
                    retry_ids.insert(r.id.clone());
                } else {
                    done.insert(r.id.clone(), r);
                }
            }
            pending.retain(|p| retry_ids.contains(&p.id));
            if pending.is_empty() {
                break;
            }
            let wait = wait.unwrap_or(retry.base_backoff).min(retry.max_wait);
            tracing::debug!(
                ?wait,
                attempt,
                n = pending.len(),
                "Graph throttled requests of a batch"
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
        requests
            .iter()
            .map(|r| {
                done.remove(&r.id).ok_or_else(|| {
                    GraphClientError::Transport(format!(
                        "the batch answer has no response for request '{}'",
                        r.id
                    ))
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(id: &str, depends: &[&str]) -> BatchRequest {
        BatchRequest {
            id: id.into(),
            method: "GET".into(),
            url: "/me".into(),
            depends_on: depends.iter().map(|d| (*d).to_owned()).collect(),
            ..BatchRequest::default()
        }
    }

    #[test]
    fn batches_graph_would_refuse_are_refused_before_sending() {
        assert!(check(&[req("1", &[]), req("2", &["1"])]).is_ok());
        for bad in [
            vec![],
            (0..21).map(|i| req(&i.to_string(), &[])).collect(),
            vec![req("1", &[]), req("1", &[])],
            vec![req("1", &["9"])],
            vec![req("", &[])],
        ] {
            assert!(
                matches!(check(&bad), Err(GraphClientError::InvalidBatch(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_request_is_serialised_with_graphs_names_and_nothing_empty() {
        let v = serde_json::to_value(req("2", &["1"])).unwrap();
        assert_eq!(
            v,
            json!({"id": "2", "method": "GET", "url": "/me", "dependsOn": ["1"]})
        );
    }
}
