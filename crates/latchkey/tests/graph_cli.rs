//! `latchkey graph …` against a running Latchkey over HTTPS: log in with an app's secret,
//! then manage users exactly as against a Microsoft 365 tenant, including a bulk reset from a
//! CSV that is killed half-way and resumed without resetting anyone twice.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::Duration;

use latchkey_core::ids::TenantId;
use serde_json::{Value, json};
use support::{BIN, Server, cli, serve};

struct Running {
    _server: Server,
    dir: tempfile::TempDir,
    base: String,
    tenant: String,
    http: reqwest::Client,
    public_client: String,
}

impl Running {
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    /// Runs `latchkey graph …` with the test's profile directory.
    fn graph(&self, args: &[&str]) -> Output {
        std::process::Command::new(BIN)
            .arg("graph")
            .args(args)
            .env("LATCHKEY_CONFIG_DIR", self.config())
            .env_remove("LATCHKEY_PROFILE")
            .output()
            .unwrap()
    }

    fn graph_json(&self, args: &[&str]) -> Value {
        let out = self.graph(&[args, &["--json"]].concat());
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// A password sign-in (ROPC) as a user: the token answer or the AADSTS code refused.
    async fn sign_in(&self, upn: &str, password: &str) -> Result<(), i64> {
        let r = self
            .http
            .post(format!("{}/{}/oauth2/v2.0/token", self.base, self.tenant))
            .form(&[
                ("client_id", self.public_client.as_str()),
                ("grant_type", "password"),
                ("username", upn),
                ("password", password),
                ("scope", "User.Read openid profile offline_access"),
            ])
            .send()
            .await
            .unwrap();
        if r.status().is_success() {
            return Ok(());
        }
        let body: Value = r.json().await.unwrap();
        Err(body["error_codes"][0].as_i64().unwrap())
    }
}

async fn start() -> Running {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let init = cli(&data, &["init", "--domain", "contoso.test"]);
    let app = cli(
        &data,
        &[
            "apps",
            "create",
            "--name",
            "Helpdesk automation",
            "--application-permission",
            "User.ReadWrite.All",
            "--grant-admin-consent",
        ],
    );
    let public = cli(
        &data,
        &[
            "apps",
            "create",
            "--name",
            "Sign-in probe",
            "--public-client",
            "--delegated-permission",
            "User.Read",
            "--grant-admin-consent",
        ],
    );
    let server = serve(&data).await;
    let (base, http) = (server.base.clone(), server.client.clone());
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, app["clientSecret"].as_str().unwrap()).unwrap();
    let running = Running {
        _server: server,
        base: base.clone(),
        tenant: init["tenantId"].as_str().unwrap().to_owned(),
        http,
        public_client: public["appId"].as_str().unwrap().to_owned(),
        dir,
    };
    let login = running.graph_json(&[
        "login",
        "--tenant",
        "contoso.test",
        "--client-id",
        app["appId"].as_str().unwrap(),
        "--client-secret-file",
        secret.to_str().unwrap(),
        "--authority",
        &base,
        "--graph-url",
        &base,
        "--ca-file",
        data.join("tls/ca.pem").to_str().unwrap(),
    ]);
    assert_eq!(login["profile"], "default");
    running
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_manages_users_over_graph_from_the_command_line() {
    let k = start().await;
    // The profile holds no secret in the clear next to the settings; both are owner-only.
    let profiles = k.config().join("profiles");
    let profile = std::fs::read_to_string(profiles.join("default.json")).unwrap();
    assert!(!profile.contains("clientSecret") && !profile.contains("secret\""));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in ["default.json", "default.secret"] {
            let mode = std::fs::metadata(profiles.join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{f} is readable by others");
        }
    }

    let created = k.graph_json(&[
        "users",
        "create",
        "--upn",
        "adele@contoso.test",
        "--display-name",
        "Adele Vance",
    ]);
    let first = created["password"].as_str().unwrap().to_owned();
    assert_eq!(k.sign_in("adele@contoso.test", &first).await, Err(50055));

    let got = k.graph_json(&["users", "get", "adele@contoso.test"]);
    assert_eq!(got["displayName"], "Adele Vance");
    let listed = k.graph_json(&[
        "users",
        "list",
        "--filter",
        "startswith(displayName,'Adele')",
        "--all",
    ]);
    let upns: Vec<&str> = listed["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userPrincipalName"].as_str().unwrap())
        .collect();
    assert_eq!(upns, ["adele@contoso.test"]);

    let reset = k.graph_json(&[
        "users",
        "reset-password",
        "adele@contoso.test",
        "--generate",
        "--no-force-change",
    ]);
    let second = reset["password"].as_str().unwrap();
    assert_ne!(second, first);
    assert_eq!(k.sign_in("adele@contoso.test", &first).await, Err(50126));
    assert_eq!(k.sign_in("adele@contoso.test", second).await, Ok(()));

    k.graph_json(&["users", "disable", "adele@contoso.test"]);
    assert_eq!(k.sign_in("adele@contoso.test", second).await, Err(50057));
    k.graph_json(&["users", "enable", "adele@contoso.test"]);
    assert_eq!(k.sign_in("adele@contoso.test", second).await, Ok(()));
    k.graph_json(&["users", "revoke-sessions", "adele@contoso.test"]);
    k.graph_json(&["users", "delete", "adele@contoso.test"]);

    // Refusals come back as one line carrying Graph's own code.
    let out = k.graph(&["users", "get", "nobody@contoso.test"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Request_ResourceNotFound"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    let weak = k.dir.path().join("weak.txt");
    std::fs::write(&weak, "password1").unwrap();
    let out = k.graph(&[
        "users",
        "create",
        "--upn",
        "weak@contoso.test",
        "--display-name",
        "Weak",
        "--password-file",
        weak.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("Request_BadRequest"),
        "{err}"
    );
    assert!(!err.contains("password1"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_reset_killed_half_way_resumes_without_resetting_anyone_twice() {
    let k = start().await;
    const USERS: usize = 200;
    // Create the users through Graph with an app token, as a provisioning script would.
    let token = {
        let secret = std::fs::read_to_string(k.dir.path().join("secret.txt")).unwrap();
        let profile: Value = serde_json::from_str(
            &std::fs::read_to_string(k.config().join("profiles/default.json")).unwrap(),
        )
        .unwrap();
        let r: Value = k
            .http
            .post(format!("{}/{}/oauth2/v2.0/token", k.base, k.tenant))
            .form(&[
                ("client_id", profile["clientId"].as_str().unwrap()),
                ("client_secret", secret.as_str()),
                ("grant_type", "client_credentials"),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["access_token"].as_str().unwrap().to_owned()
    };
    let mut csv = String::from("userPrincipalName,password\n");
    for i in 0..USERS {
        let upn = format!("bulk{i:03}@contoso.test");
        let r = k
            .http
            .post(format!("{}/v1.0/users", k.base))
            .bearer_auth(&token)
            .json(&json!({
                "accountEnabled": true,
                "displayName": format!("Bulk User {i:03}"),
                "mailNickname": format!("bulk{i:03}"),
                "userPrincipalName": upn,
                "passwordProfile": {"password": "Kx9#vTq2mW!first", "forceChangePasswordNextSignIn": false},
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        // Every other row brings its own password; the rest are generated.
        if i % 2 == 0 {
            csv.push_str(&format!("{upn},Hv7%rPz3Lq!x\n"));
        } else {
            csv.push_str(&format!("{upn},\n"));
        }
    }
    let csv_path = k.dir.path().join("resets.csv");
    std::fs::write(&csv_path, csv).unwrap();
    let results = k.dir.path().join("results.jsonl");
    let args = [
        "graph",
        "users",
        "reset-password",
        "--from-csv",
        csv_path.to_str().unwrap(),
        "--results",
        results.to_str().unwrap(),
        "--concurrency",
        "4",
        "--no-force-change",
        "--json",
    ];

    // First run: killed once a quarter of the rows are done.
    let mut first = std::process::Command::new(BIN)
        .args(args)
        .env("LATCHKEY_CONFIG_DIR", k.config())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ok_lines = |text: &str| {
        text.lines()
            .filter(|l| l.contains("\"status\":\"ok\""))
            .count()
    };
    tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            let text = std::fs::read_to_string(&results).unwrap_or_default();
            if ok_lines(&text) >= USERS / 4 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the first run made no progress");
    first.kill().unwrap();
    first.wait().unwrap();
    let interrupted = ok_lines(&std::fs::read_to_string(&results).unwrap());
    assert!(
        interrupted < USERS,
        "the first run finished before it was killed"
    );

    // Second run: completes the rest.
    let out = std::process::Command::new(BIN)
        .args(args)
        .env("LATCHKEY_CONFIG_DIR", k.config())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(&results)
            .unwrap()
            .lines()
            .filter(|l| l.contains("failed"))
            .take(3)
            .collect::<Vec<_>>()
            .join("\n")
    );
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(summary["alreadyDone"].as_u64().unwrap() >= interrupted as u64);
    assert_eq!(summary["failed"], 0);

    // The server's audit log is the judge: exactly one reset per user.
    let store = latchkey_store::open(None, &k.data()).await.unwrap();
    let tenant: TenantId = k.tenant.parse().unwrap();
    let audits = store.list_audit_events(tenant, 10_000).await.unwrap();
    for i in 0..USERS {
        let upn = format!("bulk{i:03}@contoso.test");
        let resets = audits
            .iter()
            .filter(|a| a.activity == "Reset user password")
            .filter(|a| a.target_display.as_deref() == Some(upn.as_str()))
            .count();
        assert_eq!(resets, 1, "{upn} was reset {resets} times");
    }

    // Every user can sign in with the password the results file records for them.
    let text = std::fs::read_to_string(&results).unwrap();
    let mut last = std::collections::HashMap::new();
    for line in text.lines() {
        if let Ok(v) = serde_json::from_str::<Value>(line) {
            last.insert(v["userPrincipalName"].as_str().unwrap().to_owned(), v);
        }
    }
    for i in [0usize, 1, USERS / 2, USERS - 1] {
        let upn = format!("bulk{i:03}@contoso.test");
        let outcome = &last[&upn];
        assert_eq!(outcome["status"], "ok");
        let password = outcome["password"].as_str().unwrap();
        if i % 2 == 0 {
            assert_eq!(password, "Hv7%rPz3Lq!x");
        }
        assert_eq!(k.sign_in(&upn, password).await, Ok(()), "{upn}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&results).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the results file holds passwords");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_left_pending_is_reset_only_if_its_reset_never_landed() {
    let k = start().await;
    for upn in ["landed@contoso.test", "lost@contoso.test"] {
        k.graph_json(&[
            "users",
            "create",
            "--upn",
            upn,
            "--display-name",
            "Pending Row",
        ]);
    }
    let lost = k.graph_json(&[
        "users",
        "get",
        "lost@contoso.test",
        "--select",
        "lastPasswordChangeDateTime",
    ]);
    // As an interrupted run leaves them: "landed" changed since its pending line was written
    // (its recorded time is older than the current one); "lost" did not.
    let results = k.dir.path().join("results.jsonl");
    let pending = |upn: &str, before: &str, password: &str| {
        json!({"userPrincipalName": upn, "status": "pending", "password": password, "lastChangeBefore": before})
            .to_string()
    };
    std::fs::write(
        &results,
        format!(
            "{}\n{}\n",
            pending(
                "landed@contoso.test",
                "2000-01-01T00:00:00Z",
                "Xq4#Landed-Pw"
            ),
            pending(
                "lost@contoso.test",
                lost["lastPasswordChangeDateTime"].as_str().unwrap(),
                "Xq4#Lost-Pw-1"
            ),
        ),
    )
    .unwrap();
    let csv = k.dir.path().join("rows.csv");
    std::fs::write(
        &csv,
        "userPrincipalName,password\nlanded@contoso.test,\nlost@contoso.test,\n",
    )
    .unwrap();
    let summary = k.graph_json(&[
        "users",
        "reset-password",
        "--from-csv",
        csv.to_str().unwrap(),
        "--results",
        results.to_str().unwrap(),
        "--no-force-change",
    ]);
    assert_eq!(summary["reset"], 2);
    let store = latchkey_store::open(None, &k.data()).await.unwrap();
    let audits = store
        .list_audit_events(k.tenant.parse().unwrap(), 1000)
        .await
        .unwrap();
    let resets = |upn: &str| {
        audits
            .iter()
            .filter(|a| a.activity == "Reset user password")
            .filter(|a| a.target_display.as_deref() == Some(upn))
            .count()
    };
    assert_eq!(
        resets("landed@contoso.test"),
        0,
        "its reset had landed already"
    );
    assert_eq!(resets("lost@contoso.test"), 1);
    // The one that landed keeps the password of its pending line.
    let text = std::fs::read_to_string(&results).unwrap();
    let last_landed: Value = text
        .lines()
        .rfind(|l| l.contains("landed@"))
        .map(|l| serde_json::from_str(l).unwrap())
        .unwrap();
    assert_eq!(last_landed["status"], "ok");
    assert_eq!(last_landed["password"], "Xq4#Landed-Pw");
}
