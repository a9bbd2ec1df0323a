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

    // The history filtered by state and by user.
    let count = |args: &[&str]| {
        let mut all = vec!["workflows", "runs"];
        all.extend_from_slice(args);
        cli(&data, &all)["value"].as_array().unwrap().len()
    };
    assert_eq!(count(&["--status", "running"]), 1);
    assert_eq!(count(&["--status", "succeeded"]), 0);
    assert_eq!(
        count(&["--user", "ADMIN@contoso.test", "--status", "running"]),
        1
    );
    let out = Command::new(BIN)
        .args(["workflows", "runs", "--user", "nobody@contoso.test"])
        .env("LATCHKEY_DATA_DIR", &data)
        .env_remove("LATCHKEY_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nobody@contoso.test"));

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
            "inactivity-warning",
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

/// Runs `latchkey ARGS` (no `--json`) and returns its exit status, standard output and error.
fn raw(data: &std::path::Path, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    use std::io::Write as _;
    let mut child = Command::new(BIN)
        .args(args)
        .env("LATCHKEY_DATA_DIR", data)
        .env_remove("LATCHKEY_DATABASE_URL")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_workflow_exported_as_yaml_or_json_imports_back_as_the_same_definition() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    cli(&data, &["init", "--domain", "contoso.test"]);
    cli(&data, &["workflows", "import", "--template", "offboarding"]);
    let name = "Offboarding at leave date";
    let original = cli(&data, &["workflows", "show", name])["definition"].clone();

    // YAML on standard output, by default.
    let (ok, yaml, err) = raw(&data, &["workflows", "export", name], None);
    assert!(ok, "{err}");
    assert!(yaml.contains("kind: leaveDate"), "{yaml}");
    assert!(!yaml.trim_start().starts_with('{'), "{yaml}");

    // Edited by hand and fed back on standard input: a new version, the edit applied, the
    // rest unchanged.
    let edited = yaml.replace("offsetDays: 0", "offsetDays: 1");
    assert_ne!(edited, yaml, "the edit must apply:\n{yaml}");
    let (ok, out, err) = raw(&data, &["workflows", "import", "-"], Some(&edited));
    assert!(ok, "{err}");
    assert!(out.contains("Version") && out.contains('2'), "{out}");
    let shown = cli(&data, &["workflows", "show", name]);
    assert_eq!(shown["version"], 2);
    let mut expected = original.clone();
    expected["trigger"]["offsetDays"] = 1.into();
    assert_eq!(shown["definition"], expected);

    // JSON to a file, and the file imported unchanged gives the same definition again.
    let file = dir.path().join("offboarding.json");
    let written = cli(
        &data,
        &[
            "workflows",
            "export",
            name,
            "--format",
            "json",
            "--output",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(written["written"], file.display().to_string());
    let from_file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(from_file, expected);
    assert_eq!(
        cli(&data, &["workflows", "import", file.to_str().unwrap()])["version"],
        3
    );
    assert_eq!(
        cli(&data, &["workflows", "show", name])["definition"],
        expected
    );

    // An existing file is never overwritten.
    let (ok, _, err) = raw(
        &data,
        &[
            "workflows",
            "export",
            name,
            "--output",
            file.to_str().unwrap(),
        ],
        None,
    );
    assert!(!ok && err.contains(file.to_str().unwrap()), "{err}");
    assert_eq!(
        std::fs::read_to_string(&file)
            .unwrap()
            .trim_start()
            .chars()
            .next(),
        Some('{')
    );

    // A YAML mistake names the field and where it is; nothing is saved.
    let wrong = edited.replace("offsetDays: 1", "offsetDays: tomorrow");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, wrong).unwrap();
    let (ok, _, err) = raw(&data, &["workflows", "import", bad.to_str().unwrap()], None);
    assert!(!ok);
    assert!(
        err.contains("trigger: ") && err.contains("tomorrow"),
        "{err}"
    );
    assert_eq!(cli(&data, &["workflows", "show", name])["version"], 3);
}

#[test]
fn an_operator_disables_and_enables_a_workflow_and_a_broad_one_needs_the_share_confirmed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    cli(&data, &["init", "--domain", "contoso.test"]);
    // The 76-day warning: an e-mail to the user, disabled and enabled again by name.
    cli(
        &data,
        &["workflows", "import", "--template", "inactivity-warning"],
    );
    let shown = cli(&data, &["workflows", "show", "warn after 76 days inactive"]);
    assert_eq!(shown["definition"]["trigger"]["days"], 76);
    assert_eq!(shown["definition"]["steps"][0]["action"], "sendEmail");
    assert_eq!(shown["definition"]["steps"][0]["to"], "user");

    let off = cli(
        &data,
        &["workflows", "disable", "Warn after 76 days inactive"],
    );
    assert_eq!(off["enabled"], false);
    assert_eq!(off["version"], 2);
    let listed = cli(&data, &["workflows", "list"]);
    assert_eq!(listed["value"][0]["enabled"], false);
    let on = cli(
        &data,
        &["workflows", "enable", "warn after 76 days inactive"],
    );
    assert_eq!(on["enabled"], true);
    assert_eq!(on["version"], 3);

    // A manual workflow touching every one of a dozen users: enabling it is refused until
    // confirmed (starts of ten users or fewer never are), and nothing changes meanwhile.
    let password = dir.path().join("password.txt");
    std::fs::write(&password, "Quartz-Lantern-Meadow-4").unwrap();
    for i in 0..11 {
        cli(
            &data,
            &[
                "users",
                "create",
                "--upn",
                &format!("u{i}@contoso.test"),
                "--display-name",
                &format!("User {i}"),
                "--password-file",
                password.to_str().unwrap(),
            ],
        );
    }
    let file = dir.path().join("everyone.json");
    std::fs::write(
        &file,
        r#"{"name": "Everyone", "enabled": false, "trigger": {"kind": "manual"},
            "steps": [{"action": "revokeSessions"}]}"#,
    )
    .unwrap();
    cli(&data, &["workflows", "import", file.to_str().unwrap()]);
    let out = Command::new(BIN)
        .args(["workflows", "enable", "Everyone"])
        .env("LATCHKEY_DATA_DIR", &data)
        .env_remove("LATCHKEY_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let says = String::from_utf8_lossy(&out.stderr);
    assert!(
        says.contains("12 of the tenant's 12 users") && says.contains("--confirm-share"),
        "{says}"
    );
    let shown = cli(&data, &["workflows", "show", "everyone"]);
    assert_eq!(shown["definition"]["enabled"], false);
    assert_eq!(shown["version"], 1);
    let on = cli(
        &data,
        &["workflows", "enable", "everyone", "--confirm-share"],
    );
    assert_eq!(on["enabled"], true);
    let shown = cli(&data, &["workflows", "show", "everyone"]);
    assert_eq!(shown["definition"]["confirmShare"], true);

    let out = Command::new(BIN)
        .args(["workflows", "disable", "No such workflow"])
        .env("LATCHKEY_DATA_DIR", &data)
        .env_remove("LATCHKEY_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("No such workflow"));
}
