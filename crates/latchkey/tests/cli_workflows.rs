//! `latchkey workflows …`, run as an operator runs them: the real binary on a fresh data
//! directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;

use support::{BIN, cli};

const MANUAL: &str = r#"{
    "name": "Lock out",
    "trigger": {"kind": "manual"},
    "scope": "accountEnabled eq true",
    "steps": [{"action": "revokeSessions"}, {"action": "disableAccount"}]
}"#;

#[test]
fn an_operator_imports_previews_and_starts_a_workflow_and_a_bad_scope_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    cli(&data, &["init", "--domain", "contoso.test"]);
    let file = dir.path().join("lock-out.json");
    std::fs::write(&file, MANUAL).unwrap();
    let saved = cli(&data, &["workflows", "import", file.to_str().unwrap()]);
    assert_eq!(saved["version"], 1);

    let preview = cli(&data, &["workflows", "dry-run", "lock out"]);
    let users = preview["value"].as_array().unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["userPrincipalName"], "admin@contoso.test");
    assert_eq!(users[0]["steps"].as_array().unwrap().len(), 2);

    let started = cli(
        &data,
        &[
            "workflows",
            "run",
            "Lock out",
            "--user",
            "admin@contoso.test",
        ],
    );
    assert_eq!(started["started"], 1);
    let runs = cli(&data, &["workflows", "runs"]);
    let runs = runs["value"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["status"], "running");
    assert_eq!(runs[0]["steps"][0]["status"], "pending");

    // The operator cancels it, then starts it over.
    let id = runs[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(cli(&data, &["workflows", "cancel", &id])["cancelled"], true);
    let runs = cli(&data, &["workflows", "runs"]);
    assert_eq!(runs["value"][0]["cancelled"], true);
    assert_eq!(runs["value"][0]["steps"][0]["status"], "skipped");
    let rerun = cli(&data, &["workflows", "rerun", &id]);
    assert_ne!(rerun["id"].as_str().unwrap(), id);
    assert_eq!(
        cli(&data, &["workflows", "runs"])["value"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, MANUAL.replace("accountEnabled", "shoeSize")).unwrap();
    let out = Command::new(BIN)
        .args(["workflows", "import", bad.to_str().unwrap()])
        .env("LATCHKEY_DATA_DIR", &data)
        .env_remove("LATCHKEY_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let says = String::from_utf8_lossy(&out.stderr);
    assert!(
        says.contains("scope") && says.contains("shoeSize"),
        "{says}"
    );
    let listed = cli(&data, &["workflows", "list"]);
    assert_eq!(
        listed["value"][0]["version"], 1,
        "the bad import saved nothing"
    );
}

#[test]
fn an_operator_lists_and_installs_a_template_and_sets_the_tenant_time_zone() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    cli(&data, &["init", "--domain", "contoso.test"]);
    let listed = cli(&data, &["workflows", "templates"]);
    let names: Vec<_> = listed["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "offboarding",
            "credential-review",
            "inactivity",
            "joiner",
            "pre-hire"
        ]
    );

    let saved = cli(
        &data,
        &["workflows", "import", "--template", "credential-review"],
    );
    assert_eq!(saved["name"], "Yearly credential review");
    let shown = cli(&data, &["workflows", "show", "yearly credential review"]);
    assert_eq!(shown["definition"]["trigger"]["kind"], "anniversary");
    assert_eq!(
        shown["definition"]["steps"][0]["action"],
        "requirePasswordChange"
    );
    let saved = cli(
        &data,
        &[
            "workflows",
            "import",
            "--template",
            "inactivity",
            "--confirm-share",
        ],
    );
    let shown = cli(
        &data,
        &["workflows", "show", saved["name"].as_str().unwrap()],
    );
    assert_eq!(shown["definition"]["confirmShare"], true);

    assert_eq!(cli(&data, &["workflows", "settings"])["timeZone"], "UTC");
    let set = cli(
        &data,
        &["workflows", "settings", "--time-zone", "Europe/Paris"],
    );
    assert_eq!(set["timeZone"], "Europe/Paris");
    assert_eq!(set["maxRunSharePercent"], 50);

    for (args, says) in [
        (
            vec!["workflows", "settings", "--time-zone", "Mars/Olympus"],
            "timeZone",
        ),
        (
            vec!["workflows", "import", "--template", "no-such"],
            "no-such",
        ),
    ] {
        let out = Command::new(BIN)
            .args(&args)
            .env("LATCHKEY_DATA_DIR", &data)
            .env_remove("LATCHKEY_DATABASE_URL")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    assert_eq!(
        cli(&data, &["workflows", "settings"])["timeZone"],
        "Europe/Paris",
        "the bad zone changed nothing"
    );

    // A webhook secret is printed once and stored sealed under the data directory's key.
    std::fs::write(
        data.join("master.key"),
        "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    )
    .unwrap();
    let secret = cli(
        &data,
        &["workflows", "webhook-secret", "yearly credential review"],
    );
    let secret = secret["secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 43, "{secret}");
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "the secret is in {}",
                path.display()
            );
        }
    }
}
