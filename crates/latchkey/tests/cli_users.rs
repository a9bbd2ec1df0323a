//! The offline CLI, run as a user runs it: the real binary against a fresh data directory
//! (SQLite) or a fresh PostgreSQL database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

use latchkey_testkit::PgServer;
use serde_json::Value;
use tempfile::TempDir;

/// A data directory and, for PostgreSQL, a database URL; every command runs against both.
struct Env {
    dir: TempDir,
    database_url: Option<String>,
}

impl Env {
    fn sqlite() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
            database_url: None,
        }
    }

    fn postgres() -> Env {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let url = rt.block_on(PgServer::shared().fresh_database());
        Env {
            dir: tempfile::tempdir().unwrap(),
            database_url: Some(url),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with_stdin(args, None)
    }

    fn run_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        use std::io::Write;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_latchkey"));
        cmd.args(args)
            .env("LATCHKEY_DATA_DIR", self.dir.path().join("data"))
            // Cheap hashing: these tests are about behaviour, benches measure cost.
            .env("LATCHKEY_ARGON2_MEMORY_KIB", "256")
            .env("LATCHKEY_ARGON2_ITERATIONS", "1")
            .env_remove("LATCHKEY_DATABASE_URL")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        if let Some(url) = &self.database_url {
            cmd.env("LATCHKEY_DATABASE_URL", url);
        }
        let mut child = cmd.spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).unwrap();
        }
        drop(input);
        child.wait_with_output().unwrap()
    }

    /// Runs a command that must succeed and print JSON.
    fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{args:?} printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Runs a command that must be refused; returns its one-line reason.
    fn refused(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?} should be refused");
        let err = String::from_utf8_lossy(&out.stderr).trim_end().to_owned();
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.starts_with("error: "), "{err}");
        err
    }

    fn init(&self) -> Value {
        self.json(&["init", "--domain", "contoso.test", "--json"])
    }

    fn write(&self, name: &str, contents: &str) -> String {
        let p = self.dir.path().join(name);
        std::fs::write(&p, contents).unwrap();
        p.display().to_string()
    }

    /// Everything the store holds, as bytes: the SQLite files, or every PostgreSQL row.
    fn stored_bytes(&self) -> Vec<u8> {
        match &self.database_url {
            None => {
                let mut all = Vec::new();
                collect_files(&self.dir.path().join("data"), &mut all);
                all
            }
            Some(url) => {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    use sqlx::Connection;
                    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
                    let mut all = String::new();
                    for table in [
                        "tenants",
                        "tenant_domains",
                        "users",
                        "user_roles",
                        "audit_events",
                        "outbox_events",
                    ] {
                        let rows: Vec<String> = sqlx::query_scalar(&format!(
                            "SELECT row_to_json(t)::text FROM {table} t"
                        ))
                        .fetch_all(&mut conn)
                        .await
                        .unwrap();
                        all.push_str(&rows.join("\n"));
                    }
                    all.into_bytes()
                })
            }
        }
    }
}

fn collect_files(dir: &Path, out: &mut Vec<u8>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            out.extend(std::fs::read(&path).unwrap());
        }
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fn init_prints_the_tenant_and_a_one_time_admin_password_and_refuses_a_second_init(env: &Env) {
    let out = env.init();
    assert_eq!(out["domain"], "contoso.test");
    assert_eq!(out["adminUserPrincipalName"], "admin@contoso.test");
    assert!(out["tenantId"].as_str().unwrap().len() == 36);
    let pw = out["adminPassword"].as_str().unwrap();
    assert_eq!(pw.chars().count(), 16);
    let admin = env.json(&["users", "show", "admin@contoso.test", "--json"]);
    assert_eq!(admin["forceChangePasswordNextSignIn"], true);
    assert_eq!(
        admin["directoryRoles"],
        serde_json::json!(["Global Administrator"])
    );
    let err = env.refused(&["init", "--domain", "fabrikam.test"]);
    assert!(err.contains("already has a tenant"), "{err}");
}

fn init_with_a_password_file_prints_no_password_and_needs_no_change(env: &Env) {
    let file = env.write("admin.txt", "Adm1n-Chosen-Passw0rd!\n");
    let out = env.json(&[
        "init",
        "--domain",
        "contoso.test",
        "--admin-password-file",
        &file,
        "--json",
    ]);
    assert!(out.get("adminPassword").is_none());
    let admin = env.json(&["users", "show", "admin@contoso.test", "--json"]);
    assert_eq!(admin["forceChangePasswordNextSignIn"], false);
}

fn users_are_created_shown_and_listed_with_graph_property_names(env: &Env) {
    env.init();
    let created = env.json(&[
        "users",
        "create",
        "--upn",
        "Adele.Vance@contoso.test",
        "--display-name",
        "Adele Vance",
        "--json",
    ]);
    assert_eq!(created["userPrincipalName"], "Adele.Vance@contoso.test");
    assert_eq!(created["displayName"], "Adele Vance");
    assert!(
        created["password"].as_str().is_some(),
        "a generated password is printed once"
    );
    let shown = env.json(&["users", "show", "adele.vance@CONTOSO.test", "--json"]);
    assert_eq!(shown["id"], created["id"]);
    assert_eq!(shown["accountEnabled"], true);
    assert_eq!(shown["forceChangePasswordNextSignIn"], true);
    assert_eq!(shown["passwordProfile"], Value::Null);
    assert!(shown["createdDateTime"].as_str().unwrap().ends_with('Z'));
    assert!(shown.get("password").is_none());

    let list = env.json(&["users", "list", "--json"]);
    let upns: Vec<&str> = list["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userPrincipalName"].as_str().unwrap())
        .collect();
    assert_eq!(upns, vec!["Adele.Vance@contoso.test", "admin@contoso.test"]);

    let table = env.run(&["users", "list"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.starts_with("DISPLAY NAME"), "{text}");
    assert!(text.contains("Adele Vance"));
}

fn listing_pages_with_top_and_all(env: &Env) {
    env.init();
    for i in 0..5 {
        env.json(&[
            "users",
            "create",
            "--upn",
            &format!("p{i}@contoso.test"),
            "--display-name",
            &format!("P {i}"),
            "--json",
        ]);
    }
    let first = env.json(&["users", "list", "--top", "2", "--json"]);
    assert_eq!(first["value"].as_array().unwrap().len(), 2);
    let next = first["next"].as_str().unwrap().to_owned();
    let second = env.json(&["users", "list", "--top", "2", "--after", &next, "--json"]);
    assert_ne!(second["value"][0]["id"], first["value"][0]["id"]);
    let all = env.json(&["users", "list", "--top", "2", "--all", "--json"]);
    assert_eq!(all["value"].as_array().unwrap().len(), 6);
    assert!(all.get("next").is_none());
}

fn a_generated_password_is_printed_once_and_is_nowhere_in_the_store(env: &Env) {
    env.init();
    env.json(&[
        "users",
        "create",
        "--upn",
        "diego@contoso.test",
        "--display-name",
        "Diego Siciliani",
        "--json",
    ]);
    let out = env.run(&[
        "users",
        "set-password",
        "diego@contoso.test",
        "--generate",
        "--json",
    ]);
    assert!(out.status.success());
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let pw = printed["password"].as_str().unwrap().to_owned();
    assert_eq!(printed["forceChangePasswordNextSignIn"], true);
    assert!(!contains(&out.stderr, &pw), "not on standard error");
    assert!(
        !contains(&env.stored_bytes(), &pw),
        "the password is stored nowhere in plaintext"
    );
    // Showing the user afterwards never shows it again.
    let shown = env.run(&["users", "show", "diego@contoso.test", "--json"]);
    assert!(!contains(&shown.stdout, &pw));
}

fn a_password_from_a_file_is_checked_against_the_policy_and_a_refusal_changes_nothing(env: &Env) {
    env.init();
    env.json(&[
        "users",
        "create",
        "--upn",
        "lee@contoso.test",
        "--display-name",
        "Lee Gu",
        "--json",
    ]);
    let before = env.json(&["users", "show", "lee@contoso.test", "--json"]);
    let weak = env.write("weak.txt", "password\n");
    let err = env.refused(&[
        "users",
        "set-password",
        "lee@contoso.test",
        "--password-file",
        &weak,
    ]);
    assert!(err.to_lowercase().contains("password"), "{err}");
    assert!(!err.contains("password\n"));
    let after = env.json(&["users", "show", "lee@contoso.test", "--json"]);
    assert_eq!(before, after);

    let good = env.write("good.txt", "Blue-Harbour-Kite-42\n");
    let ok = env.json(&[
        "users",
        "set-password",
        "lee@contoso.test",
        "--password-file",
        &good,
        "--no-force-change",
        "--json",
    ]);
    assert!(
        ok.get("password").is_none(),
        "a provided password is never echoed"
    );
    let after = env.json(&["users", "show", "lee@contoso.test", "--json"]);
    assert_eq!(after["forceChangePasswordNextSignIn"], false);
}

fn a_password_can_come_from_standard_input(env: &Env) {
    env.init();
    env.json(&[
        "users",
        "create",
        "--upn",
        "in@contoso.test",
        "--display-name",
        "Std In",
        "--json",
    ]);
    let out = env.run_with_stdin(
        &[
            "users",
            "set-password",
            "in@contoso.test",
            "--password-file",
            "-",
            "--json",
        ],
        Some("Piped-Secret-Value-7\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn bad_input_is_refused_with_a_reason_naming_what_is_wrong(env: &Env) {
    env.init();
    let err = env.refused(&[
        "users",
        "create",
        "--upn",
        "not-an-upn",
        "--display-name",
        "X",
    ]);
    assert!(err.contains("userPrincipalName"), "{err}");
    let err = env.refused(&[
        "users",
        "create",
        "--upn",
        "x@fabrikam.test",
        "--display-name",
        "X",
    ]);
    assert!(err.contains("verified domain"), "{err}");
    let err = env.refused(&[
        "users",
        "create",
        "--upn",
        "x@contoso.test",
        "--display-name",
        "  ",
    ]);
    assert!(err.contains("displayName"), "{err}");
    env.json(&[
        "users",
        "create",
        "--upn",
        "dup@contoso.test",
        "--display-name",
        "Dup",
        "--json",
    ]);
    let err = env.refused(&[
        "users",
        "create",
        "--upn",
        "DUP@contoso.test",
        "--display-name",
        "Dup",
    ]);
    assert!(err.contains("already exists"), "{err}");
    let err = env.refused(&["users", "set-password", "nobody@contoso.test", "--generate"]);
    assert!(err.contains("does not exist"), "{err}");
    let err = env.refused(&[
        "users",
        "create",
        "--upn",
        "r@contoso.test",
        "--display-name",
        "R",
        "--role",
        "Janitor",
    ]);
    assert!(err.contains("unknown role"), "{err}");
    let list = env.json(&["users", "list", "--json"]);
    assert_eq!(
        list["value"].as_array().unwrap().len(),
        2,
        "nothing half-written"
    );
}

fn a_deleted_user_is_restored_by_upn(env: &Env) {
    env.init();
    env.json(&[
        "users",
        "create",
        "--upn",
        "gone@contoso.test",
        "--display-name",
        "Gone Soon",
        "--json",
    ]);
    env.json(&["users", "delete", "gone@contoso.test", "--json"]);
    let err = env.refused(&["users", "show", "gone@contoso.test"]);
    assert!(err.contains("does not exist"), "{err}");
    let bin = env.json(&["users", "list", "--deleted", "--json"]);
    assert_eq!(bin["value"][0]["userPrincipalName"], "gone@contoso.test");
    assert!(bin["value"][0]["deletedDateTime"].is_string());
    let back = env.json(&["users", "restore", "gone@contoso.test", "--json"]);
    assert_eq!(back["userPrincipalName"], "gone@contoso.test");
    env.json(&["users", "show", "gone@contoso.test", "--json"]);
}

fn commands_before_init_explain_what_to_do(env: &Env) {
    let err = env.refused(&["users", "list"]);
    assert!(err.contains("latchkey init"), "{err}");
}

fn the_operator_turns_the_second_factor_for_administrators_on_and_off(env: &Env) {
    env.json(&["init", "--domain", "contoso.test", "--json"]);
    let on = env.json(&["tenant", "require-mfa-for-admins", "on", "--json"]);
    assert_eq!(on["requireMfaForAdmins"], true);
    let off = env.run(&["tenant", "require-mfa-for-admins", "off"]);
    assert!(off.status.success());
    assert!(String::from_utf8_lossy(&off.stdout).contains("no longer required"));
    let bad = env.run(&["tenant", "require-mfa-for-admins", "maybe"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("maybe"));
}

fn methods_are_listed_and_a_bad_method_id_is_named(env: &Env) {
    env.json(&["init", "--domain", "contoso.test", "--json"]);
    let listed = env.json(&["users", "methods", "admin@contoso.test", "--json"]);
    assert_eq!(listed["value"], serde_json::json!([]));
    let bad = env.run(&["users", "remove-method", "admin@contoso.test", "not-an-id"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("'not-an-id' is not a method id"));
    let unknown = env.run(&[
        "users",
        "remove-method",
        "admin@contoso.test",
        "6f1c2d3e-0000-4000-8000-000000000001",
    ]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("does not exist"));
}

/// Signs in to `upn` through the directory over the CLI's own store, as the token endpoint
/// would: `Ok` or the refusal.
fn sign_in(env: &Env, tenant: &str, upn: &str, password: &str) -> Result<(), String> {
    use latchkey_core::directory::ClientRef;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = latchkey_store::open(env.database_url.as_deref(), &env.dir.path().join("data"))
            .await
            .unwrap();
        let hasher =
            latchkey_core::password::Hasher::new(latchkey_testkit::TEST_HASH, 1, 8).unwrap();
        let directory = latchkey_core::Directory::new(
            store,
            hasher,
            std::sync::Arc::new(latchkey_core::clock::SystemClock),
        );
        directory
            .sign_in_with_password(
                tenant.parse().unwrap(),
                upn,
                &secrecy::SecretString::from(password.to_owned()),
                &ClientRef::default(),
            )
            .await
            .map(|_| ())
            .map_err(|e| format!("{e:?}"))
    })
}

fn unlock_ends_a_lockout_and_says_when_there_was_none(env: &Env) {
    let tenant = env.init()["tenantId"].as_str().unwrap().to_owned();
    let pw = env.write("pw.txt", "Harbour-Lantern-Quartz-8\n");
    env.json(&[
        "users",
        "create",
        "--upn",
        "pat@contoso.test",
        "--display-name",
        "Pat Example",
        "--password-file",
        &pw,
        "--no-force-change",
        "--json",
    ]);
    let none = env.json(&["users", "unlock", "pat@contoso.test", "--json"]);
    assert_eq!(none["unlocked"], false);
    for _ in 0..10 {
        assert!(sign_in(env, &tenant, "pat@contoso.test", "Wrong-Guess-Again-1").is_err());
    }
    let locked = sign_in(env, &tenant, "pat@contoso.test", "Harbour-Lantern-Quartz-8");
    assert_eq!(locked.unwrap_err(), "Locked");
    let out = env.run(&["users", "unlock", "pat@contoso.test"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "Unlocked pat@contoso.test: they may sign in again."
    );
    sign_in(env, &tenant, "pat@contoso.test", "Harbour-Lantern-Quartz-8").unwrap();
    let err = env.refused(&["users", "unlock", "nobody@contoso.test"]);
    assert!(
        err.contains("nobody@contoso.test") || err.to_lowercase().contains("not found"),
        "{err}"
    );
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { super::$name(&super::Env::sqlite()) })*
        }
        mod postgres {
            $(#[test] fn $name() { super::$name(&super::Env::postgres()) })*
        }
    };
}

both_backends!(
    init_prints_the_tenant_and_a_one_time_admin_password_and_refuses_a_second_init,
    init_with_a_password_file_prints_no_password_and_needs_no_change,
    users_are_created_shown_and_listed_with_graph_property_names,
    listing_pages_with_top_and_all,
    a_generated_password_is_printed_once_and_is_nowhere_in_the_store,
    a_password_from_a_file_is_checked_against_the_policy_and_a_refusal_changes_nothing,
    a_password_can_come_from_standard_input,
    bad_input_is_refused_with_a_reason_naming_what_is_wrong,
    a_deleted_user_is_restored_by_upn,
    commands_before_init_explain_what_to_do,
    the_operator_turns_the_second_factor_for_administrators_on_and_off,
    methods_are_listed_and_a_bad_method_id_is_named,
    unlock_ends_a_lockout_and_says_when_there_was_none,
);
