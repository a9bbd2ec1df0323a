//! JSON batching against a stand-in that throttles a request inside the batch, as real Graph
//! does (Latchkey's own `$batch` is tested with this client in
//! crates/latchkey/tests/graph_client_batch.rs): the throttled request and the one that
//! failed because it depended on it are sent again, alone, and the answers come back in the
//! order asked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use latchkey_graph_client::{BatchRequest, Cloud, GraphClient, RetryPolicy};
use secrecy::SecretString;
use serde_json::{Value, json};

/// Every batch body the stand-in received.
type Seen = Arc<Mutex<Vec<Value>>>;

async fn token() -> Response {
    Json(json!({"access_token": "t", "expires_in": 3599, "token_type": "Bearer"})).into_response()
}

async fn batch(State(seen): State<Seen>, Json(body): Json<Value>) -> Response {
    let first = {
        let mut s = seen.lock().unwrap();
        s.push(body.clone());
        s.len() == 1
    };
    let responses: Vec<Value> = body["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let id = r["id"].as_str().unwrap();
            match (first, id) {
                (true, "create") => {
                    json!({"id": id, "status": 429, "headers": {"Retry-After": "0"},
                    "body": {"error": {"code": "TooManyRequests", "message": "slow down"}}})
                }
                (true, "read") => json!({"id": id, "status": 424,
                    "body": {"error": {"code": "FailedDependency", "message": "create failed"}}}),
                (_, "missing") => json!({"id": id, "status": 404,
                    "body": {"error": {"code": "Request_ResourceNotFound", "message": "no"}}}),
                _ => {
                    json!({"id": id, "status": 200, "headers": {"Content-Type": "application/json"},
                    "body": {"id": id}})
                }
            }
        })
        .collect();
    // Graph does not promise any order of the responses.
    let mut responses = responses;
    responses.reverse();
    Json(json!({ "responses": responses })).into_response()
}

#[tokio::test]
async fn requests_throttled_inside_a_batch_are_retried_with_their_dependents_only() {
    let seen: Seen = Arc::default();
    let app = Router::new()
        .route("/contoso.test/oauth2/v2.0/token", post(token))
        .route("/v1.0/$batch", post(batch))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = GraphClient::new(
        Cloud::custom(&base, &base),
        "contoso.test",
        "client",
        SecretString::from("secret".to_owned()),
        None,
        RetryPolicy {
            max_retries: 3,
            base_backoff: Duration::ZERO,
            max_wait: Duration::from_secs(1),
        },
    )
    .unwrap();
    let requests = vec![
        BatchRequest {
            id: "create".into(),
            method: "POST".into(),
            url: "/users".into(),
            body: Some(json!({"displayName": "Ada"})),
            ..BatchRequest::default()
        },
        BatchRequest {
            id: "read".into(),
            method: "GET".into(),
            url: "/users/ada@contoso.test".into(),
            depends_on: vec!["create".into()],
            ..BatchRequest::default()
        },
        BatchRequest {
            id: "missing".into(),
            method: "GET".into(),
            url: "/users/nobody@contoso.test".into(),
            ..BatchRequest::default()
        },
    ];
    let answers = client.batch(&requests).await.unwrap();
    let got: Vec<(&str, u16)> = answers.iter().map(|a| (a.id.as_str(), a.status)).collect();
    assert_eq!(got, [("create", 200), ("read", 200), ("missing", 404)]);
    assert_eq!(answers[0].body["id"], "create");

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "one retry");
    let first = &seen[0]["requests"];
    assert_eq!(
        first[0]["headers"]["Content-Type"], "application/json",
        "a body says its type"
    );
    assert_eq!(first[1]["dependsOn"], json!(["create"]));
    let again: Vec<&str> = seen[1]["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        again,
        ["create", "read"],
        "the 404 is an answer, not retried"
    );
    assert_eq!(seen[1]["requests"][1]["dependsOn"], json!(["create"]));
}
