//! The invariants ARCHITECTURE.md states, checked against `cargo metadata` and the sources,
//! so that the document cannot drift from the code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn metadata() -> Value {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Each workspace crate's normal (non-dev, non-build) dependencies, by name.
fn normal_dependencies(meta: &Value) -> BTreeMap<String, Vec<(String, Vec<String>)>> {
    let members: Vec<&str> = meta["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| members.contains(&p["id"].as_str().unwrap()))
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["kind"].is_null())
                .map(|d| {
                    let features = d["features"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|f| f.as_str().unwrap().to_owned())
                        .collect();
                    (d["name"].as_str().unwrap().to_owned(), features)
                })
                .collect();
            (p["name"].as_str().unwrap().to_owned(), deps)
        })
        .collect()
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn our_crates_depend_on_each_other_only_in_the_documented_directions() {
    let deps = normal_dependencies(&metadata());
    let ours = |c: &str| -> Vec<String> {
        deps[c]
            .iter()
            .map(|(n, _)| n.clone())
            .filter(|n| n.starts_with("latchkey"))
            .collect()
    };
    assert_eq!(
        ours("latchkey-core"),
        Vec::<String>::new(),
        "core depends on none of ours"
    );
    assert_eq!(ours("latchkey-store"), vec!["latchkey-core"]);
    // Graph uses the identity platform only for its one token validation, and SaaS
    // management's parsers (money in a contract) as the CLI does.
    assert_eq!(
        ours("latchkey-graph"),
        vec!["latchkey-core", "latchkey-identity", "latchkey-saas"]
    );
    assert_eq!(ours("latchkey-identity"), vec!["latchkey-core"]);
    // The admin center signs in through the identity platform and shares its page headers.
    assert_eq!(
        ours("latchkey-web"),
        vec!["latchkey-core", "latchkey-identity"]
    );
    assert_eq!(ours("latchkey-graph-client"), Vec::<String>::new());
    // E-mail renders and sends what core queued; it decides nothing about the directory.
    assert_eq!(ours("latchkey-mail"), vec!["latchkey-core"]);
    // The automation engine acts only through the directory's operations, and on a connected
    // tenant through the Graph client; its discovery pass matches a remote tenant's apps to
    // SaaS management's catalogue.
    assert_eq!(
        ours("latchkey-automation"),
        vec!["latchkey-core", "latchkey-graph-client", "latchkey-saas"]
    );
    // SaaS management's pure parts (catalogue, vendor matching, CSV parsing) know only core.
    assert_eq!(ours("latchkey-saas"), vec!["latchkey-core"]);
    let testkit_users: Vec<&String> = deps
        .keys()
        .filter(|c| ours(c).contains(&"latchkey-testkit".to_owned()))
        .collect();
    assert!(
        testkit_users.is_empty(),
        "the test kit is a dev-dependency only: {testkit_users:?}"
    );
}

#[test]
fn core_does_no_io() {
    let deps = normal_dependencies(&metadata());
    for (name, features) in &deps["latchkey-core"] {
        for banned in [
            "sqlx",
            "axum",
            "hyper",
            "reqwest",
            "rustls",
            "tower",
            "tower-http",
            "lettre",
        ] {
            assert_ne!(name, banned, "latchkey-core must not depend on {banned}");
        }
        if name == "tokio" {
            for f in features {
                assert!(
                    ["sync"].contains(&f.as_str()),
                    "latchkey-core may use tokio's sync primitives only, not '{f}'"
                );
            }
        }
    }
    // And no I/O through the standard library either.
    let mut offenders = Vec::new();
    visit(
        &workspace_root().join("crates/latchkey-core/src"),
        &mut |path, text| {
            for needle in [
                "std::fs",
                "std::net",
                "std::process",
                "tokio::fs",
                "tokio::net",
                "File::open",
            ] {
                if text.contains(needle) {
                    offenders.push(format!("{}: {needle}", path.display()));
                }
            }
        },
    );
    assert!(offenders.is_empty(), "I/O in core: {offenders:?}");
}

#[test]
fn sql_lives_only_in_the_store() {
    let mut offenders = Vec::new();
    for krate in [
        "latchkey-core",
        "latchkey-graph",
        "latchkey-web",
        "latchkey-mail",
        "latchkey-automation",
        "latchkey-saas",
        "latchkey",
    ] {
        visit(
            &workspace_root().join("crates").join(krate).join("src"),
            &mut |path, text| {
                for needle in ["sqlx::query", "SELECT ", "INSERT INTO", "UPDATE users"] {
                    if text.contains(needle) {
                        offenders.push(format!("{}: {needle}", path.display()));
                    }
                }
            },
        );
    }
    assert!(
        offenders.is_empty(),
        "SQL outside latchkey-store: {offenders:?}"
    );
}

#[test]
fn every_crate_starts_with_a_doc_comment_saying_what_it_owns() {
    for entry in std::fs::read_dir(workspace_root().join("crates")).unwrap() {
        let dir = entry.unwrap().path();
        let root = if dir.join("src/lib.rs").exists() {
            dir.join("src/lib.rs")
        } else {
            dir.join("src/main.rs")
        };
        let text = std::fs::read_to_string(&root).unwrap();
        assert!(
            text.trim_start().starts_with("//!"),
            "{} has no //! header",
            root.display()
        );
    }
}

#[test]
fn architecture_md_names_every_crate() {
    let doc = std::fs::read_to_string(workspace_root().join("ARCHITECTURE.md")).unwrap();
    for entry in std::fs::read_dir(workspace_root().join("crates")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            doc.contains(&format!("`{name}`")),
            "ARCHITECTURE.md does not describe {name}"
        );
    }
}

fn visit(dir: &Path, f: &mut dyn FnMut(&Path, &str)) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            visit(&path, f);
        } else if path.extension().is_some_and(|e| e == "rs") {
            f(&path, &std::fs::read_to_string(&path).unwrap());
        }
    }
}
