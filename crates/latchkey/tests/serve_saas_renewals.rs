//! `latchkey serve` sends SaaS renewal alerts: a contract whose cancellation deadline is
//! inside an alert offset when the server starts is alerted by mail at start (the pass
//! catches up after downtime), through a real SMTP server; a restart sends no second mail.
//! Two nodes on one PostgreSQL database starting together send it once. The real binary on
//! fresh data directories, the contract entered through the CLI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use latchkey_testkit::smtp::SmtpSink;
use support::{BIN, cli};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A server started with the sink as its mail server, and the `alerts` of its first
/// renewal pass (read from its JSON log).
async fn serve(data: &Path, sink: &SmtpSink) -> (Child, u32) {
    serve_on(data, None, &[], sink).await
}

/// [`serve`] on a PostgreSQL database (`database`) or the data directory's SQLite, with
/// extra arguments.
async fn serve_on(
    data: &Path,
    database: Option<&str>,
    extra: &[&str],
    sink: &SmtpSink,
) -> (Child, u32) {
    let port = sink.port().to_string();
    let mut command = Command::new(BIN);
    command.env_remove("LATCHKEY_DATABASE_URL");
    if let Some(url) = database {
        command.env("LATCHKEY_DATABASE_URL", url);
    }
    let mut child = command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .args(extra)
        .args([
            "--smtp-host",
            "127.0.0.1",
            "--smtp-port",
            &port,
            "--smtp-security",
            "none",
            "--mail-from",
            "latchkey@contoso.test",
            "--log-format",
            "json",
        ])
        .env("LATCHKEY_ARGON2_MEMORY_KIB", "256")
        .env("LATCHKEY_ARGON2_ITERATIONS", "1")
        .env("LATCHKEY_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let alerts = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let line = lines
                .next_line()
                .await
                .unwrap()
                .expect("the server exited before its renewal pass");
            assert!(!line.contains("SaaS renewal pass failed"), "{line}");
            if line.contains("SaaS renewal pass done") {
                let event: serde_json::Value = serde_json::from_str(&line).unwrap();
                break u32::try_from(event["alerts"].as_u64().expect("the pass logs its alerts"))
                    .unwrap();
            }
        }
    })
    .await
    .expect("no renewal pass within 60 s of the start");
    // Keep draining the log so that the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, alerts)
}

/// SIGTERM and a clean exit (a delivery under way finishes first).
async fn stop(mut child: Child) {
    let pid = child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the server did not stop within 30 s")
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_alerts_a_renewal_once_at_start_and_not_again_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    cli(&data, &["init", "--domain", "contoso.test"]);
    cli(
        &data,
        &[
            "apps-inventory",
            "add",
            "Renewing Suite",
            "--category",
            "Productivity",
        ],
    );
    // The server's clock is the real one: the deadline is 45 days from today, inside the
    // 90- and 60-day offsets (one message for both).
    let today = chrono::Utc::now().date_naive();
    let end = today + chrono::Days::new(45);
    let start = today - chrono::Days::new(300);
    let added = cli(
        &data,
        &[
            "apps-inventory",
            "add-contract",
            "Renewing Suite",
            "--start",
            &start.to_string(),
            "--end",
            &end.to_string(),
            "--auto-renew",
            "--cost",
            "1200",
            "--currency",
            "EUR",
        ],
    );
    assert_eq!(added["cancellationDeadline"], end.to_string());

    let sink = SmtpSink::start().await.unwrap();
    let (server, alerts) = serve(&data, &sink).await;
    assert_eq!(alerts, 1, "the alert is sent by the pass at start");
    let mail = sink.wait_for(1, Duration::from_secs(60)).await;
    assert_eq!(mail.len(), 1, "the alert reaches the mail server");
    assert_eq!(mail[0].to, ["admin@contoso.test"], "no owner: the admins");
    let subject = format!("Renewing Suite: cancel by {end} (45 days left)");
    assert!(mail[0].data.contains(&subject), "{}", mail[0].data);
    stop(server).await;

    let (server, alerts) = serve(&data, &sink).await;
    assert_eq!(alerts, 0, "a restart sends the alert no second time");
    stop(server).await;
    assert_eq!(sink.messages().len(), 1);
}

/// `latchkey ARGS --json` on a PostgreSQL database; it must succeed.
fn cli_pg(data: &Path, database: &str, args: &[&str]) -> serde_json::Value {
    let out = std::process::Command::new(BIN)
        .args(args)
        .arg("--json")
        .env("LATCHKEY_DATA_DIR", data)
        .env("LATCHKEY_DATABASE_URL", database)
        .env("LATCHKEY_ARGON2_MEMORY_KIB", "256")
        .env("LATCHKEY_ARGON2_ITERATIONS", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_postgresql_starting_together_send_the_alert_once() {
    use base64::Engine;
    let database = latchkey_testkit::PgServer::shared().fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    cli_pg(&data, &database, &["init", "--domain", "contoso.test"]);
    cli_pg(&data, &database, &["apps-inventory", "add", "Shared Suite"]);
    let today = chrono::Utc::now().date_naive();
    let end = today + chrono::Days::new(20);
    cli_pg(
        &data,
        &database,
        &[
            "apps-inventory",
            "add-contract",
            "Shared Suite",
            "--start",
            &(today - chrono::Days::new(300)).to_string(),
            "--end",
            &end.to_string(),
            "--cost",
            "99",
            "--currency",
            "EUR",
        ],
    );
    // The nodes of one directory share its master key.
    let key = dir.path().join("cluster.key");
    let bytes = latchkey_core::crypto::MasterKey::generate().to_bytes();
    std::fs::write(
        &key,
        base64::engine::general_purpose::STANDARD.encode(bytes),
    )
    .unwrap();
    let key = key.to_str().unwrap();
    let sink = SmtpSink::start().await.unwrap();
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    let extra = ["--http", "--master-key-file", key];
    let ((a, sent_a), (b, sent_b)) = tokio::join!(
        serve_on(&one, Some(&database), &extra, &sink),
        serve_on(&two, Some(&database), &extra, &sink),
    );
    assert_eq!(
        sent_a + sent_b,
        1,
        "one node sends the alert: {sent_a} + {sent_b}"
    );
    let mail = sink.wait_for(1, Duration::from_secs(60)).await;
    assert_eq!(mail.len(), 1);
    assert!(
        mail[0]
            .data
            .contains(&format!("Shared Suite: cancel by {end} (20 days left)")),
        "{}",
        mail[0].data
    );
    stop(a).await;
    stop(b).await;
    assert_eq!(sink.messages().len(), 1, "and the mail goes once");
}
