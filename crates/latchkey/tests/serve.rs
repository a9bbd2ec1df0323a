//! `latchkey serve` as the README runs it: on an empty data directory it initialises itself,
//! prints the admin's one-time password and the CA to trust, answers /healthz over HTTPS,
//! and stops cleanly on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running server and what it printed before it started listening.
struct Server {
    child: Child,
    stdout: Vec<String>,
    base: String,
    ca: Option<PathBuf>,
}

async fn start(data_dir: &Path, extra: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .env_remove("LATCHKEY_DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stdout = Vec::new();
    let mut ca = None;
    let base = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let line = lines
                .next_line()
                .await
                .unwrap()
                .expect("server exited before listening");
            if let Some(path) = line.strip_prefix("Clients must trust the CA certificate at ") {
                ca = Some(PathBuf::from(path));
            }
            if let Some(rest) = line.strip_prefix("Latchkey is listening on ") {
                let url = rest.split(' ').next().unwrap().to_owned();
                stdout.push(line);
                // The certificate names localhost; use the name clients use.
                break url.replace("127.0.0.1", "localhost");
            }
            stdout.push(line);
        }
    })
    .await
    .expect("server did not start within 60 s");
    Server {
        child,
        stdout,
        base,
        ca,
    }
}

impl Server {
    fn client(&self) -> reqwest::Client {
        let mut builder = reqwest::Client::builder().use_rustls_tls();
        if let Some(ca) = &self.ca {
            let pem = std::fs::read(ca).unwrap();
            builder = builder.add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap());
        }
        builder.build().unwrap()
    }

    /// SIGTERM, then the exit status and everything logged on standard error.
    async fn stop(mut self) -> (std::process::ExitStatus, String) {
        let pid = self.child.id().unwrap();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("server did not stop within 30 s of SIGTERM")
            .unwrap();
        let mut stderr = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .await
            .unwrap();
        (status, stderr)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_data_directory_becomes_a_working_https_server_with_a_one_time_admin_password() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = start(&data, &[]).await;
    assert!(
        server.base.starts_with("https://localhost:"),
        "{}",
        server.base
    );
    let password = server
        .stdout
        .iter()
        .find_map(|l| l.strip_prefix("Password"))
        .map(|p| p.trim().to_owned())
        .expect("the admin password is printed");
    assert_eq!(password.chars().count(), 16);
    assert!(
        server
            .stdout
            .iter()
            .any(|l| l.contains("admin@contoso.test"))
    );
    let ca = server.ca.clone().expect("the CA path is printed");
    assert!(ca.starts_with(&data));

    let response = server
        .client()
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("request-id"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");

    let missing = server
        .client()
        .get(format!("{}/no/such/thing", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert!(
        missing.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );

    let (status, stderr) = server.stop().await;
    assert!(status.success(), "graceful shutdown exits 0: {status}");
    assert!(!stderr.contains(&password), "the password is never logged");
    assert!(stderr.contains("shutting down"), "{stderr}");

    // A restart keeps the tenant and the CA: no second password, same CA to trust.
    let ca_before = std::fs::read(&ca).unwrap();
    let again = start(&data, &[]).await;
    assert!(
        !again.stdout.iter().any(|l| l.starts_with("Password")),
        "{:?}",
        again.stdout
    );
    assert_eq!(
        std::fs::read(again.ca.as_ref().unwrap()).unwrap(),
        ca_before
    );
    let ok = again
        .client()
        .get(format!("{}/healthz", again.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    again.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_keys_and_the_data_directory_are_readable_only_by_their_owner() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = start(&data, &[]).await;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("tls/ca-key.pem")), 0o600);
    assert_eq!(mode(&data.join("tls/server-key.pem")), 0o600);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_json_object_per_line_and_plain_http_works_behind_a_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        &dir.path().join("data"),
        &["--http", "--log-format", "json"],
    )
    .await;
    assert!(server.base.starts_with("http://"), "{}", server.base);
    assert!(server.ca.is_none());
    let ok = reqwest::get(format!("{}/healthz", server.base))
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let (status, stderr) = server.stop().await;
    assert!(status.success());
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    for line in lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v.get("level").is_some(), "{line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provided_certificate_is_served_instead_of_the_generated_one() {
    let dir = tempfile::tempdir().unwrap();
    // Make a certificate the way an operator would, with openssl-free rcgen, in a separate
    // directory, then serve it.
    let own = dir.path().join("own");
    std::fs::create_dir_all(&own).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.is_ca = rcgen::IsCa::NoCa;
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(own.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(own.join("key.pem"), key.serialize_pem()).unwrap();
    let mut server = start(
        &dir.path().join("data"),
        &[
            "--tls-cert",
            own.join("cert.pem").to_str().unwrap(),
            "--tls-key",
            own.join("key.pem").to_str().unwrap(),
        ],
    )
    .await;
    assert!(
        server.ca.is_none(),
        "no local CA when the operator brings a certificate"
    );
    server.ca = Some(own.join("cert.pem"));
    let ok = server
        .client()
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert!(!dir.path().join("data/tls").exists());
    server.stop().await;
}
