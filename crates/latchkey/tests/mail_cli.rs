//! `latchkey mail test` and `latchkey mail queue`, and the server's mail settings, run as an
//! operator runs them, against a real SMTP server on loopback (the testkit's sink).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Output;

use latchkey_testkit::smtp::SmtpSink;
use tokio::process::Command;

async fn latchkey(args: &[&str], env: &[(&str, &str)], data: &std::path::Path) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_latchkey"));
    cmd.args(args)
        .env("LATCHKEY_DATA_DIR", data)
        .env("LATCHKEY_ARGON2_MEMORY_KIB", "256")
        .env("LATCHKEY_ARGON2_ITERATIONS", "1")
        .env_remove("LATCHKEY_DATABASE_URL")
        .env_remove("LATCHKEY_SMTP_PASSWORD")
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().await.unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_test_sends_a_message_through_the_smtp_server_now() {
    let sink = SmtpSink::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = sink.port().to_string();
    let out = latchkey(
        &[
            "mail",
            "test",
            "--to",
            "ops@contoso.test",
            "--smtp-host",
            "127.0.0.1",
            "--smtp-port",
            &port,
            "--smtp-security",
            "none",
            "--mail-from",
            "latchkey@contoso.test",
        ],
        &[],
        dir.path(),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("Sent a test message to ops@contoso.test"));
    let got = sink.messages();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].to, ["ops@contoso.test"]);
    assert!(got[0].data.contains("Subject: Latchkey test message"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_test_authenticates_with_the_password_from_the_environment_and_never_prints_it() {
    let sink = SmtpSink::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = sink.port().to_string();
    let out = latchkey(
        &[
            "mail",
            "test",
            "--to",
            "ops@contoso.test",
            "--smtp-host",
            "127.0.0.1",
            "--smtp-port",
            &port,
            "--smtp-security",
            "none",
            "--mail-from",
            "latchkey@contoso.test",
            "--smtp-username",
            "relay-user",
        ],
        &[("LATCHKEY_SMTP_PASSWORD", "Relay-Secret-Value-55")],
        dir.path(),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        sink.messages()[0].authenticated_as.as_deref(),
        Some("relay-user")
    );
    let printed = text(&out.stdout) + &text(&out.stderr);
    assert!(!printed.contains("Relay-Secret-Value-55"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_test_reports_an_unreachable_server_clearly() {
    let mut sink = SmtpSink::start().await.unwrap();
    sink.stop().await;
    let dir = tempfile::tempdir().unwrap();
    let port = sink.port().to_string();
    let out = latchkey(
        &[
            "mail",
            "test",
            "--to",
            "ops@contoso.test",
            "--smtp-host",
            "127.0.0.1",
            "--smtp-port",
            &port,
            "--smtp-security",
            "none",
            "--mail-from",
            "latchkey@contoso.test",
        ],
        &[],
        dir.path(),
    )
    .await;
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("the test message was not sent"), "{err}");
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_mail_settings_are_refused_naming_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    for (args, expected) in [
        (
            vec![
                "--smtp-host",
                "127.0.0.1",
                "--mail-from",
                "latchkey@contoso.test",
                "--smtp-security",
                "ssl",
            ],
            "SMTP security must be none, starttls or tls, not 'ssl'",
        ),
        (
            vec!["--smtp-host", "127.0.0.1"],
            "--mail-from (or LATCHKEY_MAIL_FROM) is needed",
        ),
        (
            vec!["--smtp-host", "127.0.0.1", "--mail-from", "not-an-address"],
            "--mail-from: 'not-an-address' is not an e-mail address",
        ),
        (
            vec![
                "--smtp-host",
                "127.0.0.1",
                "--mail-from",
                "latchkey@contoso.test",
                "--smtp-username",
                "u",
            ],
            "an SMTP username needs a password",
        ),
        (
            vec![
                "--smtp-host",
                "mail.contoso.test",
                "--smtp-security",
                "none",
                "--mail-from",
                "latchkey@contoso.test",
                "--smtp-username",
                "u",
            ],
            "SMTP credentials are not sent to mail.contoso.test without TLS",
        ),
    ] {
        let mut all = vec!["mail", "test", "--to", "ops@contoso.test"];
        all.extend(args.iter().copied());
        let out = latchkey(&all, &[], dir.path()).await;
        assert!(!out.status.success(), "{args:?}");
        assert!(
            text(&out.stderr).contains(expected),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    // The server refuses to start with them too, before listening.
    let out = latchkey(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--smtp-host",
            "127.0.0.1",
        ],
        &[],
        dir.path(),
    )
    .await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--mail-from"),
        "{}",
        text(&out.stderr)
    );
    let out = latchkey(
        &["serve", "--listen", "127.0.0.1:0", "--view-once-hours", "0"],
        &[],
        dir.path(),
    )
    .await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--view-once-hours"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_queue_lists_nothing_on_a_new_directory() {
    let dir = tempfile::tempdir().unwrap();
    let init = latchkey(&["init", "--domain", "contoso.test"], &[], dir.path()).await;
    assert!(init.status.success(), "{}", text(&init.stderr));
    let out = latchkey(&["mail", "queue"], &[], dir.path()).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "No messages pending or failed.");
    let out = latchkey(&["mail", "queue", "--json"], &[], dir.path()).await;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["value"], serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_a_mail_server_starts_its_delivery_and_stops_it_on_sigterm() {
    use std::process::Stdio;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
    let sink = SmtpSink::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = sink.port().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--smtp-host",
            "127.0.0.1",
            "--smtp-port",
            &port,
            "--smtp-security",
            "none",
            "--mail-from",
            "latchkey@contoso.test",
        ])
        .env("LATCHKEY_DATA_DIR", dir.path().join("data"))
        .env("LATCHKEY_ARGON2_MEMORY_KIB", "256")
        .env("LATCHKEY_ARGON2_ITERATIONS", "1")
        .env_remove("LATCHKEY_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.starts_with("Latchkey is listening on ") {
                return;
            }
        }
        panic!("the server exited before listening");
    })
    .await
    .unwrap();
    let pid = child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::time::timeout(std::time::Duration::from_secs(30), child.wait())
        .await
        .expect("the server did not stop within 30 s")
        .unwrap();
    assert!(status.success());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    assert!(stderr.contains("mail delivery started"), "{stderr}");
    assert!(stderr.contains("mail delivery stopped"), "{stderr}");
}
