//! `latchkey licenses …` and `latchkey users assign-license|remove-license`, run as an
//! operator runs them: the real binary on a fresh data directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;

use support::{BIN, cli};

/// Runs a command that must fail; returns what it printed on standard error.
fn refused(data: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .env("LATCHKEY_DATA_DIR", data)
        .env("LATCHKEY_ARGON2_MEMORY_KIB", "256")
        .env("LATCHKEY_ARGON2_ITERATIONS", "1")
        .env_remove("LATCHKEY_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success(), "{args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn an_operator_defines_a_sku_assigns_its_seats_and_frees_them() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    cli(&data, &["init", "--domain", "contoso.test"]);
    let sku = cli(
        &data,
        &[
            "licenses",
            "create",
            "--sku-part-number",
            "E3",
            "--seats",
            "1",
            "--service-plan",
            "EXCHANGE_S_ENTERPRISE",
            "--service-plan",
            "TEAMS1",
        ],
    );
    assert_eq!(sku["skuPartNumber"], "E3");
    assert_eq!(sku["prepaidUnits"]["enabled"], 1);
    for upn in ["ada@contoso.test", "ben@contoso.test"] {
        cli(
            &data,
            &[
                "users",
                "create",
                "--upn",
                upn,
                "--display-name",
                "Licence Holder",
            ],
        );
    }
    let says = refused(
        &data,
        &["users", "assign-license", "ada@contoso.test", "--sku", "e3"],
    );
    assert!(says.contains("usage location"), "{says}");
    let done = cli(
        &data,
        &[
            "users",
            "assign-license",
            "ada@contoso.test",
            "--sku",
            "e3",
            "--usage-location",
            "GB",
            "--disable-plan",
            "teams1",
        ],
    );
    assert_eq!(done["assigned"], sku["skuId"]);
    let listed = cli(&data, &["licenses", "list"]);
    assert_eq!(listed["value"][0]["consumedUnits"], 1);
    let says = refused(
        &data,
        &[
            "users",
            "assign-license",
            "ben@contoso.test",
            "--sku",
            "E3",
            "--usage-location",
            "GB",
        ],
    );
    assert!(
        says.contains("does not have any available licenses"),
        "{says}"
    );
    cli(
        &data,
        &["users", "remove-license", "ada@contoso.test", "--sku", "E3"],
    );
    let listed = cli(&data, &["licenses", "list"]);
    assert_eq!(listed["value"][0]["consumedUnits"], 0);
    let says = refused(
        &data,
        &["users", "assign-license", "ada@contoso.test", "--sku", "E5"],
    );
    assert!(says.contains("no SKU 'E5'"), "{says}");
    let says = refused(
        &data,
        &[
            "licenses",
            "create",
            "--sku-part-number",
            "E3;",
            "--seats",
            "1",
        ],
    );
    assert!(says.contains("skuPartNumber"), "{says}");
}

#[test]
fn an_operator_buys_more_seats_and_cannot_give_back_seats_still_assigned() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    cli(&data, &["init", "--domain", "contoso.test"]);
    cli(
        &data,
        &[
            "licenses",
            "create",
            "--sku-part-number",
            "E3",
            "--seats",
            "1",
        ],
    );
    for upn in ["ada@contoso.test", "ben@contoso.test"] {
        cli(
            &data,
            &["users", "create", "--upn", upn, "--display-name", "Holder"],
        );
        let args = [
            "users",
            "assign-license",
            upn,
            "--sku",
            "E3",
            "--usage-location",
            "GB",
        ];
        if upn.starts_with("ada") {
            cli(&data, &args);
        } else {
            let says = refused(&data, &args);
            assert!(
                says.contains("does not have any available licenses"),
                "{says}"
            );
        }
    }
    let more = cli(
        &data,
        &["licenses", "set-seats", "--sku", "e3", "--seats", "2"],
    );
    assert_eq!(more["prepaidUnits"]["enabled"], 2);
    assert_eq!(more["consumedUnits"], 1);
    cli(
        &data,
        &[
            "users",
            "assign-license",
            "ben@contoso.test",
            "--sku",
            "E3",
            "--usage-location",
            "GB",
        ],
    );
    let says = refused(
        &data,
        &["licenses", "set-seats", "--sku", "E3", "--seats", "1"],
    );
    assert!(
        says.contains("seats") && says.contains("remove licences first"),
        "{says}"
    );
    let listed = cli(&data, &["licenses", "list"]);
    assert_eq!(listed["value"][0]["prepaidUnits"]["enabled"], 2);
    assert_eq!(listed["value"][0]["consumedUnits"], 2);
    let says = refused(
        &data,
        &["licenses", "set-seats", "--sku", "E5", "--seats", "3"],
    );
    assert!(says.contains("E5"), "{says}");
}
