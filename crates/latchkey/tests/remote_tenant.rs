//! A workflow aimed at "a connected Microsoft 365 tenant": a second, real Latchkey server
//! plays the remote tenant, with an app registered there (User.ReadWrite.All, admin consent);
//! the first instance connects to it with that app's credentials and runs its offboarding
//! steps through Graph. The remote user must end as a local leaver does; a joiner's steps
//! (enable, attributes, licence, role) set a remote user up once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::{BIN, Server, cli, serve};

const OFFBOARD: &str = r#"{
    "name": "Offboard at Fabrikam",
    "trigger": {"kind": "manual"},
    "target": {"tenant": "fabrikam"},
    "scope": "accountEnabled eq true",
    "steps": [
        {"action": "resetPasswordUnknown"},
        {"action": "revokeSessions"},
        {"action": "disableAccount"},
        {"action": "removeAllLicenses"}
    ]
}"#;

struct Remote {
    server: Server,
    data: PathBuf,
    tenant: String,
    client_id: String,
    secret: String,
    public_client: String,
}

impl Remote {
    /// The remote tenant's Graph, as its administrator's own tooling would call it.
    fn graph(&self) -> latchkey_graph_client::GraphClient {
        latchkey_graph_client::GraphClient::new(
            latchkey_graph_client::Cloud::custom(&self.server.base, &self.server.base),
            &self.tenant,
            &self.client_id,
            self.secret.clone().into(),
            Some(&std::fs::read(self.data.join("tls/ca.pem")).unwrap()),
            latchkey_graph_client::RetryPolicy::default(),
        )
        .unwrap()
    }

    /// A password sign-in (ROPC) asking for a refresh token: it, or the AADSTS code refused.
    async fn sign_in(&self, upn: &str, password: &str) -> Result<String, i64> {
        self.token(&[
            ("grant_type", "password"),
            ("username", upn),
            ("password", password),
        ])
        .await
    }

    async fn refresh(&self, refresh_token: &str) -> Result<String, i64> {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    async fn token(&self, form: &[(&str, &str)]) -> Result<String, i64> {
        let mut form = form.to_vec();
        form.push(("client_id", &self.public_client));
        form.push(("scope", "User.Read openid profile offline_access"));
        let r = self
            .server
            .client
            .post(format!(
                "{}/{}/oauth2/v2.0/token",
                self.server.base, self.tenant
            ))
            .form(&form)
            .send()
            .await
            .unwrap();
        let ok = r.status().is_success();
        let body: Value = r.json().await.unwrap();
        if ok {
            return Ok(body["refresh_token"].as_str().unwrap().to_owned());
        }
        Err(body["error_codes"][0].as_i64().unwrap())
    }

    /// A licensed user of the remote tenant, with its password.
    fn licensed_user(&self, upn: &str) -> String {
        let created = cli(
            &self.data,
            &[
                "users",
                "create",
                "--upn",
                upn,
                "--display-name",
                "Remote Leaver",
                "--generate",
                "--no-force-change",
            ],
        );
        cli(
            &self.data,
            &[
                "users",
                "assign-license",
                upn,
                "--sku",
                "E3",
                "--usage-location",
                "GB",
            ],
        );
        created["password"].as_str().unwrap().to_owned()
    }
}

async fn remote(dir: &Path) -> Remote {
    let data = dir.join("remote");
    let init = cli(&data, &["init", "--domain", "fabrikam.test"]);
    let app = cli(
        &data,
        &[
            "apps",
            "create",
            "--name",
            "Contoso lifecycle workflows",
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
    cli(
        &data,
        &[
            "licenses",
            "create",
            "--sku-part-number",
            "E3",
            "--seats",
            "5",
        ],
    );
    let server = serve(&data).await;
    Remote {
        server,
        tenant: init["tenantId"].as_str().unwrap().to_owned(),
        client_id: app["appId"].as_str().unwrap().to_owned(),
        secret: app["clientSecret"].as_str().unwrap().to_owned(),
        public_client: public["appId"].as_str().unwrap().to_owned(),
        data,
    }
}

/// The arguments of `latchkey workflows connect-tenant fabrikam …` with `secret` (written
/// to a file) and the remote's tenant id `tenant_id`.
fn connect_args(dir: &Path, remote: &Remote, tenant_id: &str, secret: &str) -> Vec<String> {
    let file = dir.join("client-secret.txt");
    std::fs::write(&file, secret).unwrap();
    let ca = remote.data.join("tls/ca.pem");
    [
        "workflows",
        "connect-tenant",
        "fabrikam",
        "--tenant-id",
        tenant_id,
        "--client-id",
        &remote.client_id,
        "--client-secret-file",
        file.to_str().unwrap(),
        "--authority",
        &remote.server.base,
        "--graph-url",
        &remote.server.base,
        "--ca-file",
        ca.to_str().unwrap(),
    ]
    .map(str::to_owned)
    .to_vec()
}

/// `latchkey workflows connect-tenant fabrikam …` on the local instance with `secret`,
/// which the remote must accept (the credentials are tried before the connection is saved).
fn connect(local: &Path, dir: &Path, remote: &Remote, secret: &str) -> Value {
    let args = connect_args(dir, remote, &remote.tenant, secret);
    cli(local, &args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// As [`connect`], saved without trying the credentials (`--no-verify`): a secret the
/// remote will refuse, as when it is rotated there after the connection was saved.
fn connect_unverified(local: &Path, dir: &Path, remote: &Remote, secret: &str) -> Value {
    let mut args = connect_args(dir, remote, &remote.tenant, secret);
    args.push("--no-verify".into());
    cli(local, &args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// `connect-tenant` that must fail: its standard error.
fn connect_refused(
    local: &Path,
    dir: &Path,
    remote: &Remote,
    tenant_id: &str,
    secret: &str,
) -> String {
    let out = Command::new(BIN)
        .args(connect_args(dir, remote, tenant_id, secret))
        .env("LATCHKEY_DATA_DIR", local)
        .env_remove("LATCHKEY_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Every byte under `dir`, for looking for a secret in the clear.
fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(all_bytes(&path));
        } else {
            out.extend(std::fs::read(&path).unwrap());
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fn latest_run(local: &Path) -> Value {
    cli(local, &["workflows", "runs"])["value"][0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offboarding_workflow_aimed_at_a_connected_tenant_leaves_the_remote_user_locked_out() {
    let dir = tempfile::tempdir().unwrap();
    let remote = remote(dir.path()).await;
    let password = remote.licensed_user("adele@fabrikam.test");
    let refresh_token = remote
        .sign_in("adele@fabrikam.test", &password)
        .await
        .unwrap();

    let local = dir.path().join("local");
    cli(&local, &["init", "--domain", "contoso.test"]);
    let connected = connect(&local, dir.path(), &remote, &remote.secret);
    assert_eq!(connected["name"], "fabrikam");
    let file = dir.path().join("offboard.json");
    std::fs::write(&file, OFFBOARD).unwrap();
    cli(&local, &["workflows", "import", file.to_str().unwrap()]);

    // The preview lists the remote tenant's users in scope, not the local ones.
    let preview = cli(&local, &["workflows", "dry-run", "Offboard at Fabrikam"]);
    let upns: Vec<&str> = preview["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userPrincipalName"].as_str().unwrap())
        .collect();
    assert!(upns.contains(&"adele@fabrikam.test"), "{upns:?}");
    assert!(
        !upns.iter().any(|u| u.ends_with("contoso.test")),
        "{upns:?}"
    );

    let started = cli(
        &local,
        &[
            "workflows",
            "run",
            "Offboard at Fabrikam",
            "--user",
            "adele@fabrikam.test",
        ],
    );
    assert_eq!(started["started"], 1);
    let worked = cli(&local, &["workflows", "work"]);
    assert_eq!(worked["steps"], 4);

    // Run history on the local instance: each step, with what it did.
    let run = latest_run(&local);
    assert_eq!(run["status"], "succeeded", "{run}");
    let steps: Vec<(&str, &str)> = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["action"].as_str().unwrap(), s["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps,
        [
            ("resetPasswordUnknown", "succeeded"),
            ("revokeSessions", "succeeded"),
            ("disableAccount", "succeeded"),
            ("removeAllLicenses", "succeeded"),
        ]
    );
    assert_eq!(run["steps"][3]["output"], "removed 1 licence(s)");

    // On the remote instance: disabled, the old password and the old session refused,
    // the licence freed.
    let user = cli(&remote.data, &["users", "show", "adele@fabrikam.test"]);
    assert_eq!(user["accountEnabled"], false, "{user}");
    assert!(
        remote
            .sign_in("adele@fabrikam.test", &password)
            .await
            .is_err()
    );
    assert!(remote.refresh(&refresh_token).await.is_err());
    let skus = cli(&remote.data, &["licenses", "list"]);
    assert_eq!(skus["value"][0]["consumedUnits"], 0);
    // The password really changed: re-enabled, the old one is still wrong (not "disabled").
    let graph = remote.graph();
    graph
        .set_account_enabled("adele@fabrikam.test", true)
        .await
        .unwrap();
    assert_eq!(
        remote.sign_in("adele@fabrikam.test", &password).await,
        Err(50126)
    );

    // Running it again finds the work done and says so.
    cli(
        &local,
        &[
            "workflows",
            "run",
            "Offboard at Fabrikam",
            "--user",
            "adele@fabrikam.test",
        ],
    );
    graph
        .set_account_enabled("adele@fabrikam.test", false)
        .await
        .unwrap();
    cli(&local, &["workflows", "work"]);
    let again = latest_run(&local);
    assert_eq!(again["status"], "succeeded", "{again}");
    assert_eq!(
        again["steps"][2]["output"],
        "the account was already disabled"
    );
    assert_eq!(again["steps"][3]["output"], "the user holds no licence");

    // The client secret is sealed: in no local file in the clear.
    assert!(!contains(&all_bytes(&local), &remote.secret));
}

const JOINER: &str = r#"{
    "name": "Joiner at Fabrikam",
    "trigger": {"kind": "manual"},
    "target": {"tenant": "fabrikam"},
    "steps": [
        {"action": "enableAccount"},
        {"action": "setAttributes", "attributes": {"department": "Engineering", "usageLocation": "GB"}},
        {"action": "assignLicense", "sku": "E3"},
        {"action": "addRole", "role": "Helpdesk Administrator"}
    ]
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joiner_workflow_aimed_at_a_connected_tenant_sets_up_the_remote_user_once() {
    let dir = tempfile::tempdir().unwrap();
    let remote = remote(dir.path()).await;
    // An app that may also read the SKUs and manage roles.
    let app = cli(
        &remote.data,
        &[
            "apps",
            "create",
            "--name",
            "Contoso joiner workflows",
            "--application-permission",
            "User.ReadWrite.All",
            "--application-permission",
            "Organization.Read.All",
            "--application-permission",
            "RoleManagement.ReadWrite.Directory",
            "--grant-admin-consent",
        ],
    );
    let remote = Remote {
        client_id: app["appId"].as_str().unwrap().to_owned(),
        secret: app["clientSecret"].as_str().unwrap().to_owned(),
        ..remote
    };
    cli(
        &remote.data,
        &[
            "users",
            "create",
            "--upn",
            "jo@fabrikam.test",
            "--display-name",
            "Jo Joiner",
            "--generate",
            "--disabled",
        ],
    );
    let local = dir.path().join("local");
    cli(&local, &["init", "--domain", "contoso.test"]);
    connect(&local, dir.path(), &remote, &remote.secret);
    let file = dir.path().join("joiner.json");
    std::fs::write(&file, JOINER).unwrap();
    cli(&local, &["workflows", "import", file.to_str().unwrap()]);
    let run = || {
        cli(
            &local,
            &[
                "workflows",
                "run",
                "Joiner at Fabrikam",
                "--user",
                "jo@fabrikam.test",
            ],
        );
        cli(&local, &["workflows", "work"]);
        latest_run(&local)
    };

    let first = run();
    assert_eq!(first["status"], "succeeded", "{first}");
    let outputs: Vec<&str> = first["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["output"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(outputs[0], "enabled the account", "{outputs:?}");
    assert!(
        outputs[2].starts_with("assigned the licence"),
        "{outputs:?}"
    );
    assert_eq!(outputs[3], "assigned the role Helpdesk Administrator");
    let user = cli(&remote.data, &["users", "show", "jo@fabrikam.test"]);
    assert_eq!(user["accountEnabled"], true, "{user}");
    assert_eq!(user["department"], "Engineering", "{user}");
    assert_eq!(user["usageLocation"], "GB", "{user}");
    assert!(
        user["directoryRoles"]
            .as_array()
            .unwrap()
            .contains(&Value::from("Helpdesk Administrator")),
        "{user}"
    );
    let skus = cli(&remote.data, &["licenses", "list"]);
    assert_eq!(skus["value"][0]["consumedUnits"], 1);

    // Again: everything is found done, nothing is applied twice.
    let again = run();
    assert_eq!(again["status"], "succeeded", "{again}");
    let outputs: Vec<&str> = again["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["output"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        outputs,
        [
            "the account was already enabled",
            "every property already had its value: nothing to do",
            outputs[2],
            "the user already holds Helpdesk Administrator",
        ]
    );
    assert!(outputs[2].contains("already holds"), "{outputs:?}");
    let skus = cli(&remote.data, &["licenses", "list"]);
    assert_eq!(skus["value"][0]["consumedUnits"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connected_tenant_refusing_the_credentials_fails_the_step_by_name_and_the_run_is_resumable()
 {
    let dir = tempfile::tempdir().unwrap();
    let remote = remote(dir.path()).await;
    let password = remote.licensed_user("ben@fabrikam.test");
    let local = dir.path().join("local");
    cli(&local, &["init", "--domain", "contoso.test"]);
    // A workflow naming a connection that does not exist is refused at save, by field.
    let file = dir.path().join("offboard.json");
    std::fs::write(&file, OFFBOARD).unwrap();
    let out = Command::new(BIN)
        .args(["workflows", "import", file.to_str().unwrap()])
        .env("LATCHKEY_DATA_DIR", &local)
        .env_remove("LATCHKEY_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let says = String::from_utf8_lossy(&out.stderr);
    assert!(
        says.contains("target.tenant") && says.contains("fabrikam"),
        "{says}"
    );

    // A wrong secret, or a tenant the remote does not know, is refused when connecting,
    // naming the field, without the secret; nothing is saved.
    let wrong = "not-the-secret-0123456789";
    let says = connect_refused(&local, dir.path(), &remote, &remote.tenant, wrong);
    assert!(
        says.contains("clientSecret") && says.contains("AADSTS"),
        "{says}"
    );
    assert!(!says.contains(wrong), "{says}");
    let says = connect_refused(
        &local,
        dir.path(),
        &remote,
        "00000000-0000-0000-0000-00000000beef",
        &remote.secret,
    );
    assert!(says.contains("tenantId"), "{says}");
    assert!(!says.contains(&remote.secret), "{says}");
    let out = Command::new(BIN)
        .args(["workflows", "import", file.to_str().unwrap()])
        .env("LATCHKEY_DATA_DIR", &local)
        .env_remove("LATCHKEY_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success(), "no connection was saved");

    // Saved with the wrong secret anyway (--no-verify): the run's first step fails naming
    // the remote's refusal.
    connect_unverified(&local, dir.path(), &remote, wrong);
    cli(&local, &["workflows", "import", file.to_str().unwrap()]);
    let started = Command::new(BIN)
        .args([
            "workflows",
            "run",
            "Offboard at Fabrikam",
            "--user",
            "ben@fabrikam.test",
            "--json",
        ])
        .env("LATCHKEY_DATA_DIR", &local)
        .env_remove("LATCHKEY_DATABASE_URL")
        .output()
        .unwrap();
    // Resolving the user already needs the remote: refused, naming it, nothing started.
    assert!(!started.status.success());
    let says = String::from_utf8_lossy(&started.stderr);
    assert!(
        says.contains("fabrikam") && says.contains("refused"),
        "{says}"
    );
    assert!(!says.contains(wrong), "{says}");
    assert_eq!(
        cli(&local, &["workflows", "runs"])["value"]
            .as_array()
            .unwrap()
            .len(),
        0
    );

    // Connected right, the run starts; then the remote app's secret is wrong again (the
    // connection re-saved with a bad one): the step fails with the remote error recorded.
    connect(&local, dir.path(), &remote, &remote.secret);
    cli(
        &local,
        &[
            "workflows",
            "run",
            "Offboard at Fabrikam",
            "--user",
            "ben@fabrikam.test",
        ],
    );
    connect_unverified(&local, dir.path(), &remote, wrong);
    cli(&local, &["workflows", "work"]);
    let run = latest_run(&local);
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(run["steps"][0]["status"], "failed");
    let error = run["steps"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("fabrikam") && error.contains("refused the credentials"),
        "{error}"
    );
    assert!(error.contains("AADSTS"), "{error}");
    assert!(
        !error.contains(wrong) && !error.contains(&remote.secret),
        "{error}"
    );
    assert_eq!(run["steps"][1]["status"], "skipped");
    // Nothing happened remotely.
    assert!(remote.sign_in("ben@fabrikam.test", &password).await.is_ok());

    // Fixed, the run is taken up again (re-run) and completes.
    connect(&local, dir.path(), &remote, &remote.secret);
    let id = run["id"].as_str().unwrap().to_owned();
    cli(&local, &["workflows", "rerun", &id]);
    cli(&local, &["workflows", "work"]);
    let run = latest_run(&local);
    assert_eq!(run["status"], "succeeded", "{run}");
    let user = cli(&remote.data, &["users", "show", "ben@fabrikam.test"]);
    assert_eq!(user["accountEnabled"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leave_date_reached_in_the_connected_tenant_starts_the_run_once() {
    let dir = tempfile::tempdir().unwrap();
    let remote = remote(dir.path()).await;
    remote.licensed_user("cleo@fabrikam.test");
    remote.licensed_user("dan@fabrikam.test");
    let graph = remote.graph();
    let leave = |at: &str| serde_json::json!({ "employeeLeaveDateTime": at });
    graph
        .update_user("cleo@fabrikam.test", &leave("2020-01-31T17:00:00Z"))
        .await
        .unwrap();
    graph
        .update_user("dan@fabrikam.test", &leave("2999-01-31T17:00:00Z"))
        .await
        .unwrap();

    let local = dir.path().join("local");
    cli(&local, &["init", "--domain", "contoso.test"]);
    connect(&local, dir.path(), &remote, &remote.secret);
    let file = dir.path().join("leaver.json");
    std::fs::write(
        &file,
        OFFBOARD.replace(
            r#"{"kind": "manual"}"#,
            r#"{"kind": "leaveDate", "offsetDays": 0}"#,
        ),
    )
    .unwrap();
    cli(&local, &["workflows", "import", file.to_str().unwrap()]);

    let worked = cli(&local, &["workflows", "work"]);
    assert_eq!(
        worked["started"], 1,
        "only the leaver whose date has passed"
    );
    assert_eq!(worked["steps"], 4);
    let cleo = cli(&remote.data, &["users", "show", "cleo@fabrikam.test"]);
    assert_eq!(cleo["accountEnabled"], false);
    let run = latest_run(&local);
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["userId"], cleo["id"]);
    let dan = cli(&remote.data, &["users", "show", "dan@fabrikam.test"]);
    assert_eq!(dan["accountEnabled"], true);

    // The next tick finds the occurrence already run (Cleo is out of scope now, too).
    graph
        .set_account_enabled("cleo@fabrikam.test", true)
        .await
        .unwrap();
    assert_eq!(cli(&local, &["workflows", "work"])["started"], 0);
}
