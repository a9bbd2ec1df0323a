//! latchkey-graph-client's JSON batching against a running Latchkey over HTTPS: a user
//! created, read by a request that depends on the creation, changed, and a missing user
//! answered 404, all in one `$batch`, each answer in the order asked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use latchkey_graph_client::{BatchRequest, Cloud, GraphClient, RetryPolicy};
use secrecy::SecretString;
use serde_json::json;
use support::{cli, serve};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_batch_creates_reads_and_changes_a_user_with_dependencies() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    cli(&data, &["init", "--domain", "contoso.test"]);
    let app = cli(
        &data,
        &[
            "apps",
            "create",
            "--name",
            "Batch automation",
            "--application-permission",
            "User.ReadWrite.All",
            "--grant-admin-consent",
        ],
    );
    let server = serve(&data).await;
    let ca = std::fs::read(data.join("tls/ca.pem")).unwrap();
    let client = GraphClient::new(
        Cloud::custom(&server.base, &server.base),
        "contoso.test",
        app["appId"].as_str().unwrap(),
        SecretString::from(app["clientSecret"].as_str().unwrap().to_owned()),
        Some(&ca),
        RetryPolicy::default(),
    )
    .unwrap();
    let requests = vec![
        BatchRequest {
            id: "create".into(),
            method: "POST".into(),
            url: "/users".into(),
            body: Some(json!({
                "accountEnabled": true,
                "displayName": "Batch Person",
                "mailNickname": "batch",
                "userPrincipalName": "batch@contoso.test",
                "passwordProfile": {"password": "Harbour-Lantern-42", "forceChangePasswordNextSignIn": true},
            })),
            ..BatchRequest::default()
        },
        BatchRequest {
            id: "change".into(),
            method: "PATCH".into(),
            url: "/users/batch@contoso.test".into(),
            body: Some(json!({"jobTitle": "Batch Tester"})),
            depends_on: vec!["create".into()],
            ..BatchRequest::default()
        },
        BatchRequest {
            id: "read".into(),
            method: "GET".into(),
            url: "/users/batch@contoso.test?$select=displayName,jobTitle".into(),
            depends_on: vec!["change".into()],
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
    assert_eq!(
        got,
        [
            ("create", 201),
            ("change", 204),
            ("read", 200),
            ("missing", 404)
        ],
        "{answers:?}"
    );
    assert_eq!(answers[2].body["jobTitle"], "Batch Tester");
    assert_eq!(answers[3].body["error"]["code"], "Request_ResourceNotFound");
}
