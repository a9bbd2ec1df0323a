//! What real Microsoft Graph does and Latchkey's own server does not provoke on demand:
//! throttling (429 + Retry-After), 503s, expired tokens and hostile nextLinks. A small
//! stand-in on loopback plays those parts; everything else is tested against Latchkey itself
//! (crates/latchkey/tests/graph_cli.rs).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use latchkey_graph_client::{Cloud, GraphClient, GraphClientError, ListQuery, RetryPolicy};
use secrecy::SecretString;
use serde_json::json;

#[derive(Default)]
struct Counters {
    tokens: AtomicUsize,
    users: AtomicUsize,
    /// Answer this many `/users` requests with 429 first.
    throttle_first: AtomicUsize,
    /// Hand out a nextLink on another host.
    foreign_next: AtomicBool,
    /// Refuse the first token with 401, as Graph does for a revoked one.
    refuse_first_token: AtomicBool,
}

async fn token(State(c): State<Arc<Counters>>) -> Response {
    let n = c.tokens.fetch_add(1, Ordering::SeqCst);
    Json(
        json!({"access_token": format!("token-{n}"), "expires_in": "3599", "token_type": "Bearer"}),
    )
    .into_response()
}

async fn users(State(c): State<Arc<Counters>>, headers: HeaderMap) -> Response {
    let n = c.users.fetch_add(1, Ordering::SeqCst);
    if n < c.throttle_first.load(Ordering::SeqCst) {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "0")],
            Json(json!({"error": {"code": "TooManyRequests", "message": "slow down"}})),
        )
            .into_response();
    }
    let auth = headers.get("authorization").unwrap().to_str().unwrap();
    if auth == "Bearer token-0" && c.refuse_first_token.load(Ordering::SeqCst) {
        // Plays an access token revoked before its expiry.
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": {"code": "InvalidAuthenticationToken", "message": "expired"}})),
        )
            .into_response();
    }
    let mut body = json!({"value": [{"id": "1", "userPrincipalName": "a@contoso.test"}]});
    if c.foreign_next.load(Ordering::SeqCst) {
        body["@odata.nextLink"] = "https://graph.microsoft.com/v1.0/users?$skiptoken=steal".into();
    }
    if headers.get("consistencylevel").is_some() {
        body["@odata.count"] = 1.into();
    }
    Json(body).into_response()
}

async fn start(c: Arc<Counters>) -> (GraphClient, String) {
    let app = Router::new()
        .route("/contoso.test/oauth2/v2.0/token", post(token))
        .route("/v1.0/users", get(users))
        .with_state(c);
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
    (client, base)
}

#[tokio::test]
async fn throttled_requests_are_retried_after_retry_after_and_then_succeed() {
    let c = Arc::new(Counters::default());
    c.throttle_first.store(2, Ordering::SeqCst);
    let (client, _) = start(c.clone()).await;
    let page = client.list_users(&ListQuery::default()).await.unwrap();
    assert_eq!(page.value.len(), 1);
    assert_eq!(
        c.users.load(Ordering::SeqCst),
        3,
        "two 429s, then the answer"
    );
    assert_eq!(
        c.tokens.load(Ordering::SeqCst),
        1,
        "one token for every attempt"
    );
}

#[tokio::test]
async fn throttling_beyond_the_retry_budget_surfaces_graphs_error() {
    let c = Arc::new(Counters::default());
    c.throttle_first.store(100, Ordering::SeqCst);
    let (client, _) = start(c.clone()).await;
    let err = client.list_users(&ListQuery::default()).await.unwrap_err();
    match err {
        GraphClientError::Graph { status, code, .. } => {
            assert_eq!((status, code.as_str()), (429, "TooManyRequests"));
        }
        other => panic!("{other}"),
    }
    assert_eq!(
        c.users.load(Ordering::SeqCst),
        4,
        "the first try and three retries"
    );
}

#[tokio::test]
async fn a_next_link_to_another_host_is_refused_before_the_token_leaves() {
    let c = Arc::new(Counters::default());
    c.foreign_next.store(true, Ordering::SeqCst);
    let (client, _) = start(c.clone()).await;
    let mut pages = 0;
    let err = client
        .list_all_users(&ListQuery::default(), |_| pages += 1)
        .await
        .unwrap_err();
    assert!(
        matches!(err, GraphClientError::ForeignUrl(ref o) if o == "https://graph.microsoft.com"),
        "{err}"
    );
    assert_eq!(pages, 1);
}

#[tokio::test]
async fn a_token_graph_no_longer_accepts_is_renewed_once() {
    let c = Arc::new(Counters::default());
    c.refuse_first_token.store(true, Ordering::SeqCst);
    let (client, _) = start(c.clone()).await;
    let page = client.list_users(&ListQuery::default()).await.unwrap();
    assert_eq!(page.value.len(), 1);
    assert_eq!(
        c.tokens.load(Ordering::SeqCst),
        2,
        "the refused token was replaced"
    );
}

#[tokio::test]
async fn advanced_queries_carry_consistency_level_eventual() {
    let c = Arc::new(Counters::default());
    let (client, _) = start(c).await;
    let plain = client.list_users(&ListQuery::default()).await.unwrap();
    assert_eq!(plain.count, None);
    let counted = client
        .list_users(&ListQuery {
            count: true,
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(counted.count, Some(1));
}
