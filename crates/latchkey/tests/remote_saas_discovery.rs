//! SaaS discovery from "a connected Microsoft 365 tenant": a second, real Latchkey server
//! plays the remote tenant, with a third-party app (Slack) an administrator consented to
//! with a risky delegated permission and a user who signed in to it. The local instance
//! connects with a reader app's credentials and runs `apps-inventory discover`: the app is
//! discovered with that user, its scopes and evidence naming the connection; a second pass
//! adds nothing; with the remote stopped the pass fails, is recorded and changes nothing;
//! with the remote back the pass succeeds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use support::{BIN, Server, cli, serve};

/// `latchkey ARGS --json`, for a command that may fail: (success, stdout, stderr).
fn try_cli(data: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg("--json")
        .env("LATCHKEY_DATA_DIR", data)
        .env("LATCHKEY_ARGON2_MEMORY_KIB", "256")
        .env("LATCHKEY_ARGON2_ITERATIONS", "1")
        .env_remove("LATCHKEY_DATABASE_URL")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn connect(local: &Path, dir: &Path, remote: &Path, server: &Server, tenant: &str, app: &Value) {
    let file = dir.join("client-secret.txt");
    std::fs::write(&file, app["clientSecret"].as_str().unwrap()).unwrap();
    let ca = remote.join("tls/ca.pem");
    cli(
        local,
        &[
            "workflows",
            "connect-tenant",
            "fabrikam",
            "--tenant-id",
            tenant,
            "--client-id",
            app["appId"].as_str().unwrap(),
            "--client-secret-file",
            file.to_str().unwrap(),
            "--authority",
            &server.base,
            "--graph-url",
            &server.base,
            "--ca-file",
            ca.to_str().unwrap(),
        ],
    );
}

/// A password sign-in (ROPC) to the app, as the user's own client would.
async fn sign_in(server: &Server, tenant: &str, client_id: &str, upn: &str, password: &str) {
    let r = server
        .client
        .post(format!("{}/{tenant}/oauth2/v2.0/token", server.base))
        .form(&[
            ("grant_type", "password"),
            ("username", upn),
            ("password", password),
            ("client_id", client_id),
            ("scope", "User.Read openid profile"),
        ])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connected_tenants_app_is_discovered_once_and_an_unreachable_tenant_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let remote = dir.path().join("remote");
    let init = cli(&remote, &["init", "--domain", "fabrikam.test"]);
    let tenant = init["tenantId"].as_str().unwrap().to_owned();
    let reader = cli(
        &remote,
        &[
            "apps",
            "create",
            "--name",
            "Contoso discovery",
            "--application-permission",
            "Directory.Read.All",
            "--application-permission",
            "AuditLog.Read.All",
            "--grant-admin-consent",
        ],
    );
    let slack = cli(
        &remote,
        &[
            "apps",
            "create",
            "--name",
            "Slack",
            "--public-client",
            "--delegated-permission",
            "User.Read",
            "--delegated-permission",
            "Directory.Read.All",
            "--grant-admin-consent",
        ],
    );
    let created = cli(
        &remote,
        &[
            "users",
            "create",
            "--upn",
            "adele@fabrikam.test",
            "--display-name",
            "Adele Vance",
            "--generate",
            "--no-force-change",
        ],
    );
    let password = created["password"].as_str().unwrap().to_owned();
    let server = serve(&remote).await;
    sign_in(
        &server,
        &tenant,
        slack["appId"].as_str().unwrap(),
        "adele@fabrikam.test",
        &password,
    )
    .await;

    // The remote's own Graph lists the app and the administrator's grant to it.
    let graph = latchkey_graph_client::GraphClient::new(
        latchkey_graph_client::Cloud::custom(&server.base, &server.base),
        &tenant,
        reader["appId"].as_str().unwrap(),
        reader["clientSecret"].as_str().unwrap().to_owned().into(),
        Some(&std::fs::read(remote.join("tls/ca.pem")).unwrap()),
        latchkey_graph_client::RetryPolicy::default(),
    )
    .unwrap();
    let principals = graph.list_service_principals().await.unwrap();
    let slack_sp = principals
        .iter()
        .find(|p| p.app_id == slack["appId"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        slack_sp.app_owner_organization_id.as_deref(),
        Some(&*tenant)
    );
    let grants = graph.list_permission_grants().await.unwrap();
    let grant = grants.iter().find(|g| g.client_id == slack_sp.id).unwrap();
    assert_eq!(grant.consent_type, "AllPrincipals");
    assert_eq!(grant.scopes(), ["User.Read", "Directory.Read.All"]);

    let local = dir.path().join("local");
    cli(&local, &["init", "--domain", "fabrikam.test"]);
    let adele = cli(
        &local,
        &[
            "users",
            "create",
            "--upn",
            "adele@fabrikam.test",
            "--display-name",
            "Adele Vance",
            "--generate",
        ],
    );
    connect(&local, dir.path(), &remote, &server, &tenant, &reader);

    let first = cli(
        &local,
        &["apps-inventory", "discover", "--connection", "fabrikam"],
    );
    let added: Vec<&str> = first["added"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(added.contains(&"Slack"), "{first}");
    // Latchkey's own page sets play Microsoft's first-party apps and are left out.
    assert!(!added.iter().any(|a| a.contains("Latchkey")), "{first}");

    let shown = cli(&local, &["apps-inventory", "show", "Slack"]);
    assert_eq!(shown["state"], "discovered");
    assert_eq!(
        shown["riskyPermissions"],
        serde_json::json!(["Directory.Read.All"])
    );
    let users = shown["users"].as_array().unwrap();
    assert_eq!(users.len(), 1, "{shown}");
    assert_eq!(users[0]["userId"], adele["id"]);
    let evidence = shown["evidence"].as_array().unwrap();
    assert_eq!(evidence.len(), 2, "{shown}");
    assert!(evidence.iter().all(|e| e["source"] == "microsoft365"));
    let details: Vec<&str> = evidence
        .iter()
        .map(|e| e["detail"].as_str().unwrap())
        .collect();
    assert!(
        details.contains(
            &"microsoft365:fabrikam: an administrator granted consent for the organisation to User.Read Directory.Read.All"
        ),
        "{details:?}"
    );
    assert!(
        details.contains(&"microsoft365:fabrikam: adele@fabrikam.test signed in once"),
        "{details:?}"
    );

    // Again: nothing new.
    let second = cli(
        &local,
        &["apps-inventory", "discover", "--connection", "fabrikam"],
    );
    assert_eq!(second["added"], serde_json::json!([]), "{second}");
    assert_eq!(second["evidence"], 0, "{second}");
    assert_eq!(cli(&local, &["apps-inventory", "show", "Slack"]), shown);
    let inventory = cli(&local, &["apps-inventory", "list"]);

    // The remote goes away: the pass fails, says so without the secret, changes nothing.
    drop(server);
    let (ok, _, stderr) = try_cli(
        &local,
        &["apps-inventory", "discover", "--connection", "fabrikam"],
    );
    assert!(!ok);
    assert!(
        stderr.contains("the connected tenant 'fabrikam' could not be read"),
        "{stderr}"
    );
    assert!(!stderr.contains(reader["clientSecret"].as_str().unwrap()));
    assert_eq!(cli(&local, &["apps-inventory", "list"]), inventory);
    assert_eq!(cli(&local, &["apps-inventory", "show", "Slack"]), shown);

    // Back (on a new port, so the connection is saved again): the pass succeeds.
    let server = serve(&remote).await;
    connect(&local, dir.path(), &remote, &server, &tenant, &reader);
    let third = cli(
        &local,
        &["apps-inventory", "discover", "--connection", "fabrikam"],
    );
    assert_eq!(third["added"], serde_json::json!([]), "{third}");
    assert_eq!(cli(&local, &["apps-inventory", "list"]), inventory);
}
