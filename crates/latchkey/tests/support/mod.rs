//! What the binary's HTTP tests share: running a CLI command against a data directory with
//! cheap test hashing, and starting `latchkey serve` on a free loopback port with a client that
//! trusts its CA.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const BIN: &str = env!("CARGO_BIN_EXE_latchkey");

/// Runs `latchkey ARGS --json` on the data directory and returns its JSON; the command must
/// succeed.
pub fn cli(data: &Path, args: &[&str]) -> Value {
    let out = std::process::Command::new(BIN)
        .args(args)
        .arg("--json")
        .env("LATCHKEY_DATA_DIR", data)
        .env("LATCHKEY_ARGON2_MEMORY_KIB", "256")
        .env("LATCHKEY_ARGON2_ITERATIONS", "1")
        .env_remove("LATCHKEY_DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A running `latchkey serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    /// `https://localhost:PORT`.
    pub base: String,
    /// Trusts the data directory's CA.
    pub client: reqwest::Client,
}

/// Starts `latchkey serve` on 127.0.0.1:0 over the data directory (test hashing parameters)
/// and waits for the line that says where it listens.
pub async fn serve(data: &Path) -> Server {
    serve_with(data, &[]).await
}

/// [`serve`] with extra arguments (e.g. the workflow worker's interval and lease).
pub async fn serve_with(data: &Path, extra: &[&str]) -> Server {
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .args(extra)
        .env("LATCHKEY_ARGON2_MEMORY_KIB", "256")
        .env("LATCHKEY_ARGON2_ITERATIONS", "1")
        .env_remove("LATCHKEY_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let line = lines.next_line().await.unwrap().expect("server exited");
            if let Some(rest) = line.strip_prefix("Latchkey is listening on ") {
                break rest
                    .split(' ')
                    .next()
                    .unwrap()
                    .replace("127.0.0.1", "localhost");
            }
        }
    })
    .await
    .unwrap();
    let ca = std::fs::read(data.join("tls/ca.pem")).unwrap();
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .build()
        .unwrap();
    Server {
        child,
        base,
        client,
    }
}
