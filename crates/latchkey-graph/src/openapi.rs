//! The OpenAPI 3 document of what Latchkey's Graph surface implements, served anonymously at
//! `GET /v1.0/$openapi` (it describes the surface, not the directory). The document is
//! checked in (`openapi.json`, compiled in) and kept honest by a test
//! (`tests/openapi_drift.rs`): every path the router registers, with the methods it answers,
//! must be in the document and nothing else, so a route added without documenting it fails CI.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::MethodRouter;
use serde_json::{Value, json};

use crate::error::GraphError;
use crate::http::{GraphState, json_response};

const DOCUMENT: &str = include_str!("../openapi.json");

/// A router under construction that remembers the paths it registers.
#[derive(Debug)]
pub(crate) struct Routes {
    router: Router<GraphState>,
    paths: Vec<&'static str>,
}

impl Routes {
    pub(crate) fn new() -> Self {
        Self {
            router: Router::new(),
            paths: Vec::new(),
        }
    }

    pub(crate) fn route(mut self, path: &'static str, methods: MethodRouter<GraphState>) -> Self {
        self.paths.push(path);
        self.router = self.router.route(path, methods);
        self
    }

    pub(crate) fn finish(self) -> (Router<GraphState>, Vec<&'static str>) {
        (self.router, self.paths)
    }
}

/// `GET /v1.0/$openapi`: the document, its server set to this node's public URL.
pub(crate) async fn document(State(state): State<GraphState>) -> Result<Response, GraphError> {
    let mut doc: Value = serde_json::from_str(DOCUMENT).map_err(|e| GraphError::internal(&e))?;
    if let Value::Object(map) = &mut doc {
        map.insert(
            "servers".into(),
            json!([{ "url": format!("{}/v1.0", state.public_url) }]),
        );
    }
    Ok(json_response(StatusCode::OK, &doc))
}
