//! `latchkey workflows connect-scim | scim-connections | disconnect-scim`, run as an operator
//! runs them: the real binary on a fresh data directory. The token comes from a file or
//! standard input, is never printed, and is stored only sealed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use support::{BIN, cli};

const TOKEN: &str = "cli-scim-token-FROBOZZ";

fn run(data: &std::path::Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env("LATCHKEY_DATA_DIR", data)
        .env_remove("LATCHKEY_DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input
        .write_all(stdin.unwrap_or_default().as_bytes())
        .unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

#[test]
fn an_operator_connects_lists_and_disconnects_a_scim_app_and_bad_input_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    cli(&data, &["init", "--domain", "contoso.test"]);
    let token_file = dir.path().join("token.txt");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let token_arg = token_file.to_str().unwrap();

    for (args, field) in [
        (
            vec![
                "--name",
                "hr",
                "--base-url",
                "http://hr.example/scim",
                "--token-file",
                token_arg,
            ],
            "baseUrl",
        ),
        (
            vec![
                "--name",
                "h r",
                "--base-url",
                "https://hr.example/scim",
                "--token-file",
                token_arg,
            ],
            "name",
        ),
        (
            vec![
                "--name",
                "hr",
                "--base-url",
                "https://hr.example/scim",
                "--token-file",
                token_arg,
                "--map",
                "shoeSize=id",
            ],
            "mapping.shoeSize",
        ),
    ] {
        let out = run(
            &data,
            &[&["workflows", "connect-scim"], args.as_slice()].concat(),
            None,
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(stderr.contains(field), "{field}: {stderr}");
        assert!(!stderr.contains(TOKEN));
    }
    // One token source, not two.
    let both = run(
        &data,
        &[
            "workflows",
            "connect-scim",
            "--name",
            "hr",
            "--base-url",
            "https://hr.example/scim",
            "--token-file",
            token_arg,
            "--token-stdin",
        ],
        Some(TOKEN),
    );
    assert!(!both.status.success());

    let saved = run(
        &data,
        &[
            "workflows",
            "connect-scim",
            "--name",
            "HR",
            "--base-url",
            "https://hr.example/scim/v2/",
            "--token-stdin",
            "--map",
            "title=",
            "--json",
        ],
        Some(TOKEN),
    );
    assert!(
        saved.status.success(),
        "{}",
        String::from_utf8_lossy(&saved.stderr)
    );
    let stdout = String::from_utf8_lossy(&saved.stdout);
    assert!(!stdout.contains(TOKEN));
    let saved: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(saved["baseUrl"], "https://hr.example/scim/v2");
    assert!(saved["mapping"].get("title").is_none());
    assert_eq!(saved["mapping"]["active"], "accountEnabled");

    let listed = cli(&data, &["workflows", "scim-connections"]);
    assert_eq!(listed["value"].as_array().unwrap().len(), 1);
    assert_eq!(listed["value"][0]["name"], "HR");
    assert!(!listed.to_string().contains(TOKEN));
    let db = std::fs::read(data.join("latchkey.db")).unwrap_or_default();
    let wal = std::fs::read(data.join("latchkey.db-wal")).unwrap_or_default();
    assert!(!String::from_utf8_lossy(&[db, wal].concat()).contains(TOKEN));

    assert_eq!(
        cli(&data, &["workflows", "disconnect-scim", "hr"])["deleted"],
        "hr"
    );
    assert_eq!(
        cli(&data, &["workflows", "scim-connections"])["value"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let again = run(&data, &["workflows", "disconnect-scim", "hr"], None);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("SCIM connection 'hr'"));
}
