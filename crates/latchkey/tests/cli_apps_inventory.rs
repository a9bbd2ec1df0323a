//! `latchkey apps-inventory list|show|sanction|unsanction|import-expenses`, run as an operator
//! runs them: the real binary on a fresh data directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;

use support::{BIN, cli};

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

const EXPENSES: &str = "\
vendor,amount,currency,date,employee
Slack Technologies,120.00,USD,2026-11-01,ada@contoso.test
SLACK.COM,80,USD,2026-11-02,grace@contoso.test
slack technologies inc,8.50,EUR,2026-11-03,
Joe's Coffee,4.20,EUR,2026-11-03,ada@contoso.test
Zoom,-10.00,USD,2026-11-04,ada@contoso.test
Zoom,10.00,XYZ,2026-11-04,ada@contoso.test
Zoom,10.00
";

#[test]
fn an_operator_imports_expenses_twice_reviews_the_apps_and_sees_a_consented_app() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    cli(&data, &["init", "--domain", "contoso.test"]);
    let file = dir.path().join("expenses.csv");
    std::fs::write(&file, EXPENSES).unwrap();
    let file = file.to_str().unwrap();

    let first = cli(&data, &["apps-inventory", "import-expenses", file]);
    assert_eq!(first["imported"], 4);
    assert_eq!(first["matched"], 3);
    assert_eq!(first["unmatched"], 1);
    assert_eq!(first["newApps"], 1);
    let problems: Vec<(u64, &str)> = first["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["line"].as_u64().unwrap(), p["message"].as_str().unwrap()))
        .collect();
    assert_eq!(
        problems,
        [
            (6, "the amount -10.00 is negative; refunds are not imported"),
            (7, "'XYZ' is not an ISO 4217 currency code"),
            (8, "expected 5 fields as in the header, found 2"),
        ]
    );
    assert_eq!(first["unmatchedLines"][0]["vendor"], "Joe's Coffee");
    let again = cli(&data, &["apps-inventory", "import-expenses", file]);
    assert_eq!(again["imported"], 0);
    assert_eq!(again["duplicates"], 4);
    assert_eq!(again["newApps"], 0);

    // An app registration an administrator consented to is discovered with its permissions.
    let app = cli(
        &data,
        &[
            "apps",
            "create",
            "--name",
            "Report Robot",
            "--application-permission",
            "Directory.Read.All",
        ],
    );
    let app_id = app["appId"].as_str().unwrap();
    cli(&data, &["apps", "grant-admin-consent", app_id]);

    let list = cli(&data, &["apps-inventory", "list"]);
    let apps = list["value"].as_array().unwrap();
    let names: Vec<&str> = apps
        .iter()
        .map(|a| a["displayName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Report Robot", "Slack"]);
    assert_eq!(apps[0]["state"], "discovered");
    assert_eq!(apps[0]["appId"], app_id);
    assert_eq!(apps[0]["riskyPermissions"][0], "Directory.Read.All");
    assert!(list["next"].is_null());

    let shown = cli(&data, &["apps-inventory", "show", "slack"]);
    assert_eq!(shown["category"], "Communication");
    assert_eq!(shown["evidence"].as_array().unwrap().len(), 3);

    let sanctioned = cli(&data, &["apps-inventory", "sanction", "Slack"]);
    assert_eq!(sanctioned["state"], "sanctioned");
    let says = refused(&data, &["apps-inventory", "sanction", "Slack"]);
    assert!(
        says.contains("an app that is sanctioned cannot become sanctioned"),
        "{says}"
    );
    let unsanctioned = cli(
        &data,
        &[
            "apps-inventory",
            "unsanction",
            sanctioned["id"].as_str().unwrap(),
        ],
    );
    assert_eq!(unsanctioned["state"], "unsanctioned");
    let only = cli(
        &data,
        &["apps-inventory", "list", "--state", "unsanctioned"],
    );
    assert_eq!(only["value"].as_array().unwrap().len(), 1);

    let page = cli(&data, &["apps-inventory", "list", "--top", "1"]);
    let next = page["next"].as_str().unwrap();
    let rest = cli(
        &data,
        &["apps-inventory", "list", "--top", "1", "--after", next],
    );
    assert_eq!(rest["value"][0]["displayName"], "Slack");

    let added = cli(
        &data,
        &[
            "apps-inventory",
            "add-contract",
            "Slack",
            "--start",
            "2026-01-01",
            "--end",
            "2027-01-01",
            "--notice-days",
            "30",
            "--auto-renew",
            "--cost",
            "12000",
            "--currency",
            "usd",
        ],
    );
    assert_eq!(added["cancellationDeadline"], "2026-12-02");
    assert_eq!(added["cost"], "12000.00");
    assert_eq!(added["currency"], "USD");
    let base = [
        "apps-inventory",
        "add-contract",
        "Slack",
        "--start",
        "2026-01-01",
        "--currency",
        "USD",
    ];
    let says = refused(
        &data,
        &[&base[..], &["--end", "2025-12-01", "--cost", "1"]].concat(),
    );
    assert!(
        says.contains("endDate: the contract ends (2025-12-01) before"),
        "{says}"
    );
    let says = refused(
        &data,
        &[&base[..], &["--end", "2027-01-01", "--cost=-1"]].concat(),
    );
    assert!(says.contains("the amount -1 is negative"), "{says}");
    let listed = cli(&data, &["apps-inventory", "contracts", "Slack"]);
    assert_eq!(listed["value"].as_array().unwrap().len(), 1);
    let idle = cli(&data, &["apps-inventory", "idle", "Slack"]);
    assert!(idle["value"].as_array().unwrap().is_empty());

    let says = refused(&data, &["apps-inventory", "show", "Nothing Here"]);
    assert!(
        says.contains("no app 'Nothing Here' in the inventory"),
        "{says}"
    );
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "vendor,amount,date\nSlack,1,2026-11-01\n").unwrap();
    let says = refused(
        &data,
        &["apps-inventory", "import-expenses", bad.to_str().unwrap()],
    );
    assert!(
        says.contains("the header row has no 'currency' column"),
        "{says}"
    );
}

#[test]
fn an_operator_enters_apps_sets_licensing_and_reads_renewals_overlaps_and_idle_seats() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    cli(&data, &["init", "--domain", "contoso.test"]);
    let one = cli(
        &data,
        &[
            "apps-inventory",
            "add",
            "Chat One",
            "--vendor",
            "Chat Inc",
            "--category",
            "Communication",
            "--state",
            "sanctioned",
            "--owner",
            "admin@contoso.test",
        ],
    );
    assert_eq!(one["displayName"], "Chat One");
    assert_eq!(one["state"], "sanctioned");
    let two = cli(
        &data,
        &[
            "apps-inventory",
            "add",
            "Chat Two",
            "--category",
            "communication",
        ],
    );
    assert_eq!(two["state"], "discovered");
    let says = refused(&data, &["apps-inventory", "add", "chat one"]);
    assert!(says.contains("displayName"), "{says}");
    let says = refused(
        &data,
        &["apps-inventory", "add", "X", "--state", "approved"],
    );
    assert!(says.contains("--state 'approved' is not a state"), "{says}");

    let today = chrono::Utc::now().date_naive();
    for (app, days, cost) in [("Chat Two", 200, "600"), ("Chat One", 45, "1200")] {
        cli(
            &data,
            &[
                "apps-inventory",
                "add-contract",
                app,
                "--start",
                &(today - chrono::Days::new(100)).to_string(),
                "--end",
                &(today + chrono::Days::new(days)).to_string(),
                "--cost",
                cost,
                "--currency",
                "EUR",
            ],
        );
    }

    let set = cli(
        &data,
        &[
            "apps-inventory",
            "licensing",
            "Chat Two",
            "--seats-bought",
            "5",
            "--idle-days",
            "30",
        ],
    );
    assert_eq!(set["seatsBought"], 5);
    assert_eq!(set["idleDays"], 30);
    let cleared = cli(
        &data,
        &[
            "apps-inventory",
            "licensing",
            "Chat Two",
            "--idle-days",
            "default",
        ],
    );
    assert_eq!(cleared["idleDays"], 60);
    assert_eq!(cleared["seatsBought"], 5, "left as it was");
    let says = refused(
        &data,
        &[
            "apps-inventory",
            "licensing",
            "Chat Two",
            "--idle-days",
            "0",
        ],
    );
    assert!(says.contains("idleDays"), "{says}");
    let says = refused(
        &data,
        &["apps-inventory", "licensing", "Chat Two", "--sku", "NOPE"],
    );
    assert!(says.contains("NOPE"), "{says}");

    let licenses = cli(&data, &["apps-inventory", "licenses", "Chat Two"]);
    assert_eq!(licenses["seatsBought"], 5);
    assert_eq!(licenses["seatsAssigned"], 0);
    assert_eq!(licenses["idleSeats"], 0);
    // 600.00 a year over five seats.
    assert_eq!(licenses["cost"]["costPerSeatPerMonth"], "10.00");

    let idle = cli(&data, &["apps-inventory", "reclaim"]);
    assert!(idle["value"].as_array().unwrap().is_empty());
    assert!(idle["next"].is_null());
    let says = refused(
        &data,
        &[
            "apps-inventory",
            "reclaim",
            "Chat Two",
            "admin@contoso.test",
        ],
    );
    assert!(
        says.contains("has no seat of Chat Two to reclaim"),
        "{says}"
    );
    let says = refused(&data, &["apps-inventory", "reclaim", "Chat Two"]);
    assert!(says.contains("give the user"), "{says}");

    let renewals = cli(&data, &["apps-inventory", "renewals", "--top", "1"]);
    assert_eq!(renewals["value"][0]["appDisplayName"], "Chat One");
    assert_eq!(renewals["value"][0]["daysLeft"], 45);
    let next = renewals["next"].as_str().unwrap();
    let rest = cli(
        &data,
        &["apps-inventory", "renewals", "--top", "1", "--after", next],
    );
    assert_eq!(rest["value"][0]["appDisplayName"], "Chat Two");
    assert!(rest["next"].is_null());

    let overlaps = cli(&data, &["apps-inventory", "overlaps"]);
    assert_eq!(overlaps["value"][0]["category"], "Communication");
    assert_eq!(overlaps["value"][0]["apps"].as_array().unwrap().len(), 2);
    assert_eq!(overlaps["value"][0]["apps"][1]["cost"]["seatsBought"], 5);

    let offsets = cli(&data, &["apps-inventory", "renewal-offsets"]);
    assert_eq!(offsets["renewalAlertDays"], serde_json::json!([90, 60, 30]));
    let offsets = cli(
        &data,
        &["apps-inventory", "renewal-offsets", "--set", "14,45,14"],
    );
    assert_eq!(offsets["renewalAlertDays"], serde_json::json!([45, 14]));
    let says = refused(&data, &["apps-inventory", "renewal-offsets", "--set", "0"]);
    assert!(says.contains("renewalAlertDays"), "{says}");
}
