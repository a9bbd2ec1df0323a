//! The HTTP server: one listener, path-routed. Operations endpoints live here; the identity
//! platform's routes come from `latchkey-identity`, Graph's from `latchkey-graph`, the admin
//! center's (`/admin`) from `latchkey-web`; the account surface mounts here as it lands.

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use latchkey_core::Directory;
use serde_json::json;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub directory: Directory,
}

/// Graph's name for the per-request id header; clients quote it in support requests.
const REQUEST_ID: HeaderName = HeaderName::from_static("request-id");

pub fn router(
    state: AppState,
    identity: latchkey_identity::http::IdentityState,
    graph: latchkey_graph::http::GraphState,
    web: latchkey_web::WebState,
) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .fallback(not_found)
        .with_state(state)
        .merge(latchkey_identity::http::router(identity))
        .merge(latchkey_graph::http::router(graph))
        .merge(latchkey_web::router(web))
        .layer(
            tower::ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                        let id = req
                            .headers()
                            .get(REQUEST_ID)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-");
                        // The path only: query strings can carry codes and tokens.
                        tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                    })
                    .on_response(DefaultOnResponse::new().level(Level::INFO)),
                )
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    Duration::from_secs(30),
                )),
        )
}

/// 200 when the store answers, 503 otherwise.
async fn healthz(State(state): State<AppState>) -> Response {
    match state.directory.store().ping().await {
        Ok(()) => Json(json!({ "status": "ok" })).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: the store does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable" })),
            )
                .into_response()
        }
    }
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": { "code": "NotFound", "message": "No such endpoint." } })),
    )
        .into_response()
}
