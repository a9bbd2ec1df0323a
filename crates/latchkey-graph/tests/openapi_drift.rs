//! The OpenAPI document served at `/v1.0/$openapi` against the router itself: every path the
//! router registers is documented with exactly the methods it answers (read from the router's
//! own 405 `Allow` header), and the document names nothing the router does not serve. Adding
//! a route without documenting it, or documenting one that does not exist, fails here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::Duration;
use latchkey_core::crypto::MasterKey;
use latchkey_graph::http::{GraphState, router_and_paths};
use latchkey_graph::throttle::Throttle;
use latchkey_identity::{KeyRing, TokenService};
use latchkey_testkit::{Backend, Harness};
use serde_json::Value;
use tower::ServiceExt;

const PUBLIC: &str = "https://localhost:8443";

async fn graph() -> (Harness, Router, Vec<&'static str>) {
    let h = Harness::new(Backend::Sqlite).await;
    let keys = KeyRing::new(
        h.store.clone(),
        MasterKey::generate(),
        h.clock.clone(),
        Duration::hours(1),
    );
    let tokens = TokenService::new(keys, h.clock.clone(), Duration::hours(1));
    let (router, paths) = router_and_paths(GraphState {
        directory: h.directory.clone(),
        tokens,
        public_url: Arc::from(PUBLIC),
        throttle: Throttle::unlimited(),
    });
    (h, router, paths)
}

async fn get_anonymously(router: &Router, uri: &str) -> (StatusCode, Option<String>, Vec<u8>) {
    let res = router
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let ctype = res
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 22)
        .await
        .unwrap();
    (status, ctype, bytes.to_vec())
}

/// The methods the router answers on `path` (its template, parameters filled in).
async fn methods(router: &Router, path: &str) -> BTreeSet<String> {
    let concrete: String = path
        .split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                "00000000-0000-0000-0000-000000000001"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/");
    let res = router
        .clone()
        .oneshot(
            Request::builder()
                .method("TRACE")
                .uri(format!("/v1.0{concrete}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::METHOD_NOT_ALLOWED,
        "{path} is not matched by its own route"
    );
    res.headers()
        .get(header::ALLOW)
        .expect("a 405 says what is allowed")
        .to_str()
        .unwrap()
        .split(',')
        .map(|m| m.trim().to_ascii_lowercase())
        // HEAD comes with every GET.
        .filter(|m| m != "head" && !m.is_empty())
        .collect()
}

#[tokio::test]
async fn the_document_is_served_anonymously_as_openapi_3_on_the_public_url() {
    let (_h, router, _) = graph().await;
    let (status, ctype, bytes) = get_anonymously(&router, "/v1.0/$openapi").await;
    assert_eq!(status, StatusCode::OK);
    assert!(ctype.unwrap().starts_with("application/json"));
    let doc: Value = serde_json::from_slice(&bytes).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(doc["servers"][0]["url"], format!("{PUBLIC}/v1.0"));
    assert_eq!(
        doc["paths"]["/$openapi"]["get"]["security"],
        serde_json::json!([])
    );
    // Everything else needs a token, as the document says.
    let (status, _, _) = get_anonymously(&router, "/v1.0/users").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn every_route_the_router_serves_is_documented_with_its_methods_and_nothing_more() {
    let (_h, router, paths) = graph().await;
    let (_, _, bytes) = get_anonymously(&router, "/v1.0/$openapi").await;
    let doc: Value = serde_json::from_slice(&bytes).unwrap();
    let documented: BTreeMap<String, BTreeSet<String>> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(path, item)| {
            let ops = item
                .as_object()
                .unwrap()
                .keys()
                .filter(|k| {
                    [
                        "get", "put", "post", "delete", "patch", "options", "head", "trace",
                    ]
                    .contains(&k.as_str())
                })
                .cloned()
                .collect();
            (path.clone(), ops)
        })
        .collect();
    let mut served = BTreeMap::new();
    for path in &paths {
        served.insert((*path).to_owned(), methods(&router, path).await);
    }
    let undocumented: Vec<_> = served
        .iter()
        .filter(|(p, m)| documented.get(*p) != Some(m))
        .collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from openapi.json or with other methods there: {undocumented:?}"
    );
    let unserved: Vec<_> = documented
        .keys()
        .filter(|p| !served.contains_key(*p))
        .collect();
    assert!(
        unserved.is_empty(),
        "openapi.json documents paths the router does not serve: {unserved:?}"
    );
    // Each operation is usable as documentation: an id, a summary, a success response.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            assert!(op["operationId"].is_string(), "{method} {path}");
            assert!(op["summary"].is_string(), "{method} {path}");
            assert!(
                op["responses"].as_object().unwrap().len() >= 2,
                "{method} {path}"
            );
        }
        let templated = path.matches('{').count();
        let declared = item["parameters"].as_array().map_or(0, Vec::len);
        assert_eq!(
            templated, declared,
            "{path}: every path parameter is declared"
        );
    }
}

/// Every `$ref` in `value`, with where it was found.
fn refs(value: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref"
                    && let Some(target) = v.as_str()
                {
                    out.push((at.to_owned(), target.to_owned()));
                }
                refs(v, &format!("{at}/{k}"), out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                refs(v, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn the_user_schema_names_exactly_the_properties_latchkey_returns_and_every_ref_resolves() {
    let (_h, router, _paths) = graph().await;
    let (_, _, body) = get_anonymously(&router, "/v1.0/$openapi").await;
    let doc: Value = serde_json::from_slice(&body).unwrap();

    let mut found = Vec::new();
    refs(&doc, "", &mut found);
    assert!(found.len() > 10, "{found:?}");
    for (at, target) in &found {
        let pointer = target
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{at}: {target} is not local"));
        assert!(
            doc.pointer(pointer).is_some(),
            "{at}: {target} names nothing"
        );
    }

    let documented: BTreeSet<&str> =
        doc["components"]["schemas"]["microsoft.graph.user"]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
    let returned: BTreeSet<&str> = latchkey_graph::user::ALL_PROPERTIES
        .iter()
        .copied()
        .collect();
    assert_eq!(documented, returned);

    // The user operations point at it, in both directions.
    let user = "#/components/schemas/microsoft.graph.user";
    let schema_of = |path: &str, method: &str, code: &str| {
        doc["paths"][path][method]["responses"][code]["content"]["application/json"]["schema"]
            ["$ref"]
            .as_str()
            .map(str::to_owned)
    };
    assert_eq!(
        schema_of("/users/{id}", "get", "200").as_deref(),
        Some(user)
    );
    assert_eq!(schema_of("/me", "get", "200").as_deref(), Some(user));
    assert_eq!(schema_of("/users", "post", "201").as_deref(), Some(user));
    assert_eq!(
        doc["paths"]["/users/{id}"]["patch"]["requestBody"]["content"]["application/json"]["schema"]
            ["$ref"],
        user
    );
    let page = &doc["components"]["schemas"]["microsoft.graph.userCollectionResponse"];
    assert_eq!(page["properties"]["value"]["items"]["$ref"], user);
}
