//! The SaaS dashboard's spend through the directory and the real store, on SQLite and
//! PostgreSQL, at an injected clock: imported expense lines and contracts' monthly cost
//! (spread over the months each contract covers) by month and by category, a contract not
//! counted in a month with an expense line of its app (nothing counted twice), and amounts
//! in another currency kept apart, never converted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Duration;
use latchkey_core::directory::{NewSaasApp, Spend};
use latchkey_core::saas::{BillingPeriod, CatalogueMatch, ExpenseLine, NewContract, SaasQuery};
use latchkey_testkit::{Backend, Harness};

fn line(n: u32, vendor: &str, minor: i64, date: &str, app: Option<(&str, &str)>) -> ExpenseLine {
    ExpenseLine {
        line: n,
        fingerprint: format!("spend-{n}"),
        vendor: vendor.into(),
        amount_minor: minor,
        currency: "EUR".into(),
        exponent: 2,
        date: date.parse().unwrap(),
        employee: None,
        matched: app.map(|(name, category)| CatalogueMatch {
            key: name.to_lowercase(),
            name: name.into(),
            vendor: name.into(),
            category: category.into(),
        }),
    }
}

fn contract(
    start: &str,
    end: &str,
    cost: i64,
    currency: &str,
    period: BillingPeriod,
) -> NewContract {
    NewContract {
        start: start.parse().unwrap(),
        end: end.parse().unwrap(),
        notice_days: 30,
        auto_renew: true,
        cost_minor: cost,
        currency: currency.into(),
        exponent: 2,
        billing_period: period,
        seats: None,
    }
}

fn amount(rows: &[Spend], key: &str, currency: &str) -> Option<i64> {
    rows.iter()
        .find(|s| s.key == key && s.currency == currency)
        .map(|s| s.total_minor)
}

async fn contracts_count_as_spend_in_the_months_without_an_expense_line_of_their_app(h: Harness) {
    let op = Harness::operator();
    // The clock starts on 2026-11-24; the dashboard is read on 2027-01-24, its twelve
    // months 2026-02 to 2027-01.
    h.clock.advance(Duration::days(61));
    h.directory
        .import_expenses(
            &op,
            h.tenant(),
            vec![
                line(
                    2,
                    "Slack",
                    45_000,
                    "2026-12-15",
                    Some(("Slack", "Collaboration")),
                ),
                line(
                    3,
                    "Slack",
                    12_345,
                    "2027-01-10",
                    Some(("Slack", "Collaboration")),
                ),
                line(4, "Corner Cafe", 999, "2027-01-05", None),
            ],
        )
        .await
        .unwrap();
    let slack = h
        .directory
        .list_saas_apps(
            &op,
            h.tenant(),
            &SaasQuery {
                limit: 999,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|a| a.name == "Slack")
        .unwrap();
    // 1,200.00 EUR a year from June: 100.00 a month, June to January, but December and
    // January have Slack's own expense lines.
    h.directory
        .add_saas_contract(
            &op,
            h.tenant(),
            slack.id,
            contract(
                "2026-06-01",
                "2027-06-01",
                120_000,
                "EUR",
                BillingPeriod::Annual,
            ),
        )
        .await
        .unwrap();
    // 20.00 USD a month from November, entered by hand: kept in dollars.
    h.directory
        .add_saas_app(
            &op,
            h.tenant(),
            NewSaasApp {
                name: "Sketch Board".into(),
                vendor: Some("Sketch".into()),
                category: Some("Design".into()),
                owner: None,
                state: None,
                contract: Some(contract(
                    "2026-11-01",
                    "2027-11-01",
                    2_000,
                    "USD",
                    BillingPeriod::Monthly,
                )),
            },
        )
        .await
        .unwrap();

    let d = h.directory.saas_dashboard(&op, h.tenant()).await.unwrap();
    let m = &d.spend_by_month;
    assert_eq!(amount(m, "2026-05", "EUR"), Some(0));
    for month in [
        "2026-06", "2026-07", "2026-08", "2026-09", "2026-10", "2026-11",
    ] {
        assert_eq!(amount(m, month, "EUR"), Some(10_000), "{month}");
    }
    assert_eq!(
        amount(m, "2026-12", "EUR"),
        Some(45_000),
        "the expense, not both"
    );
    assert_eq!(amount(m, "2027-01", "EUR"), Some(13_344));
    assert_eq!(amount(m, "2026-10", "USD"), Some(0));
    for month in ["2026-11", "2026-12", "2027-01"] {
        assert_eq!(amount(m, month, "USD"), Some(2_000), "{month}");
    }
    assert_eq!(m.len(), 24, "twelve months for each currency");

    let c = &d.spend_by_category;
    assert_eq!(
        amount(c, "Collaboration", "EUR"),
        Some(45_000 + 12_345 + 60_000)
    );
    assert_eq!(amount(c, "Uncategorised", "EUR"), Some(999));
    assert_eq!(amount(c, "Design", "USD"), Some(6_000));
    assert_eq!(amount(c, "Design", "EUR"), None, "never converted");
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(super::Harness::new(super::Backend::Sqlite).await).await
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(super::Harness::new(super::Backend::Postgres).await).await
            })*
        }
    };
}

both_backends!(contracts_count_as_spend_in_the_months_without_an_expense_line_of_their_app);
