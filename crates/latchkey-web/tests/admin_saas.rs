//! The admin center's SaaS apps pages in process, on both backends, at an injected clock:
//! the inventory (search, state filter, pages), an app's page (state, owner, users, licences
//! with the idle seats and their saving, Reclaim per idle seat, contracts), the renewal
//! calendar, the overlap report, and the dashboard, whose SVG charts show the numbers of the
//! tables they are drawn from and whose CSV exports neutralise formulas. Markup in names is
//! escaped; a form without the CSRF token changes nothing; an administrator whose roles do
//! not cover the SaaS inventory neither sees the section nor reclaims a seat.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::{StatusCode, header};
use chrono::Duration;
use latchkey_core::app::App;
use latchkey_core::directory::{NewApp, NewSaasApp};
use latchkey_core::ids::SaasAppId;
use latchkey_core::names::Upn;
use latchkey_core::role::DirectoryRole;
use latchkey_core::saas::{BillingPeriod, CatalogueMatch, ExpenseLine, NewContract, SaasQuery};
use latchkey_core::user::User;
use latchkey_testkit::browser::Browser;
use latchkey_testkit::{Backend, Harness};
use support::{ADMIN_PUBLIC, World, admin_csrf, admin_signed_in, admin_world, user};

mod support;

const BOARD: &str = "Board <b>&co";

async fn the_user(w: &World, id: &str) -> User {
    w.h.store
        .find_user(w.h.tenant(), id.parse().unwrap())
        .await
        .unwrap()
        .unwrap()
}

async fn registration(w: &World, name: &str) -> App {
    w.h.directory
        .create_app(
            &Harness::operator(),
            w.h.tenant(),
            NewApp {
                display_name: name.into(),
                redirect_uris: vec!["https://board.example.test/callback".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .app
}

async fn saas_id(w: &World, name: &str) -> SaasAppId {
    w.h.directory
        .list_saas_apps(
            &Harness::operator(),
            w.h.tenant(),
            &SaasQuery {
                limit: 999,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|a| a.name == name)
        .unwrap()
        .id
}

fn contract(start: &str, end: &str, notice: u32, cost: i64, seats: Option<u32>) -> NewContract {
    NewContract {
        start: start.parse().unwrap(),
        end: end.parse().unwrap(),
        notice_days: notice,
        auto_renew: true,
        cost_minor: cost,
        currency: "EUR".into(),
        exponent: 2,
        billing_period: BillingPeriod::Annual,
        seats,
    }
}

fn line(
    n: u32,
    vendor: &str,
    minor: i64,
    date: &str,
    matched: Option<(&str, &str)>,
) -> ExpenseLine {
    ExpenseLine {
        line: n,
        fingerprint: format!("test-{n}"),
        vendor: vendor.into(),
        amount_minor: minor,
        currency: "EUR".into(),
        exponent: 2,
        date: date.parse().unwrap(),
        employee: None,
        matched: matched.map(|(name, category)| CatalogueMatch {
            key: name.to_lowercase(),
            name: name.into(),
            vendor: name.into(),
            category: category.into(),
        }),
    }
}

/// The inventory the tests look at, 61 days after it starts (2026-11-24 + 61 = 2027-01-24):
/// - `Board <b>&co`, discovered from consents: Grace (unused for 61 days: idle) and Alan
///   (59 days: not idle); a contract of 1,200.00 EUR a year for 10 seats (10.00 a seat a
///   month) ending 2027-06-01 with 30 days' notice (cancel by 2027-05-02).
/// - `Slack` (Collaboration), added by an expense import: 450.00 EUR in December and
///   123.45 EUR in January, with 9.99 EUR unmatched in January.
/// - `Teams Chat` (Collaboration), entered by hand, sanctioned, with a contract ending
///   2027-03-31 with 30 days' notice (cancel by 2027-03-01).
async fn seeded(w: &World) -> SaasAppId {
    let grace = user(w, "grace@contoso.test", "Grace Hopper", vec![]).await;
    let alan = user(w, "alan@contoso.test", "Alan Turing", vec![]).await;
    let board = registration(w, BOARD).await;
    w.h.directory
        .consent_as_user(&the_user(w, &grace).await, &board, &["User.Read".into()])
        .await
        .unwrap();
    w.h.clock.advance(Duration::days(2));
    w.h.directory
        .consent_as_user(&the_user(w, &alan).await, &board, &["User.Read".into()])
        .await
        .unwrap();
    let id = saas_id(w, BOARD).await;
    w.h.directory
        .add_saas_contract(
            &Harness::operator(),
            w.h.tenant(),
            id,
            contract("2026-01-01", "2027-06-01", 30, 120_000, Some(10)),
        )
        .await
        .unwrap();
    w.h.clock.advance(Duration::days(59));
    w.h.directory
        .import_expenses(
            &Harness::operator(),
            w.h.tenant(),
            vec![
                line(
                    2,
                    "SLACK TECHNOLOGIES",
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
    w.h.directory
        .add_saas_app(
            &Harness::operator(),
            w.h.tenant(),
            NewSaasApp {
                name: "Teams Chat".into(),
                vendor: Some("Contoso".into()),
                category: Some("Collaboration".into()),
                owner: None,
                state: Some(latchkey_core::saas::SaasAppState::Sanctioned),
                contract: Some(contract("2026-04-01", "2027-03-31", 30, 60_000, None)),
            },
        )
        .await
        .unwrap();
    id
}

async fn global_admin(w: &World, b: &mut Browser) -> String {
    let home = admin_signed_in(
        w,
        b,
        "ada@contoso.test",
        vec![DirectoryRole::GlobalAdministrator],
    )
    .await;
    assert!(home.body.contains("id=\"nav-saas\""), "{}", home.body);
    assert!(home.body.contains("id=\"nav-saas-dashboard\""));
    admin_csrf(&home)
}

async fn the_app_page_shows_licences_and_reclaim_removes_the_idle_seat(backend: Backend) {
    let w = admin_world(backend).await;
    let id = seeded(&w).await;
    let mut b = Browser::at(ADMIN_PUBLIC);
    let csrf = global_admin(&w, &mut b).await;
    let base = format!("/admin/saas/apps/{id}");

    let page = b.get(&w.app, &base).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("Board &#60;b&#62;&#38;co")
            || page.body.contains("Board &lt;b&gt;&amp;co")
    );
    assert!(!page.body.contains("<b>&co"));
    assert!(page.body.contains("<dd id=\"seats-bought\">10</dd>"));
    assert!(page.body.contains("<dd id=\"seats-assigned\">2</dd>"));
    assert!(page.body.contains("<dd id=\"seats-idle\">1</dd>"));
    assert!(page.body.contains("<dd id=\"per-seat\">10.00 EUR</dd>"));
    assert!(page.body.contains("<dd id=\"saving\">10.00 EUR</dd>"));
    assert!(
        page.body
            .contains("<td class=\"idle-user\">grace@contoso.test</td>")
    );
    assert!(
        !page
            .body
            .contains("<td class=\"idle-user\">alan@contoso.test</td>")
    );
    assert!(
        page.body.contains("<td>alan@contoso.test</td>"),
        "the users list"
    );
    assert!(page.body.contains("<td class=\"deadline\">2027-05-02</td>"));
    let grace =
        w.h.store
            .find_user_by_upn(w.h.tenant(), &Upn::parse("grace@contoso.test").unwrap())
            .await
            .unwrap()
            .unwrap()
            .id;
    assert!(page.body.contains(&format!("id=\"reclaim-{grace}\"")));

    // Without the CSRF token nothing is reclaimed.
    let forged = b
        .post(
            &w.app,
            &format!("{base}/reclaim"),
            &[("user", &grace.to_string())],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(forged.body.contains("Nothing was changed"));
    assert!(forged.body.contains("<dd id=\"seats-assigned\">2</dd>"));

    let done = b
        .post(
            &w.app,
            &format!("{base}/reclaim"),
            &[("csrf", &csrf), ("user", &grace.to_string())],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(
        done.body
            .contains("The seat of grace@contoso.test is reclaimed: 10.00 EUR a month saved.")
    );
    assert!(done.body.contains("<dd id=\"seats-assigned\">1</dd>"));
    assert!(done.body.contains("<dd id=\"seats-idle\">0</dd>"));
    assert!(done.body.contains("id=\"no-idle\""));
    let report =
        w.h.directory
            .saas_licenses(&Harness::operator(), w.h.tenant(), id)
            .await
            .unwrap();
    assert_eq!(report.seats_assigned, 1);
    assert!(report.idle.is_empty());

    // Reclaiming it again is refused by field, and nothing changes.
    let again = b
        .post(
            &w.app,
            &format!("{base}/reclaim"),
            &[("csrf", &csrf), ("user", &grace.to_string())],
        )
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(again.body.contains("has no seat of"), "{}", again.body);
}

async fn the_review_moves_the_state_and_sets_the_owner_by_user_name(backend: Backend) {
    let w = admin_world(backend).await;
    let id = seeded(&w).await;
    let mut b = Browser::at(ADMIN_PUBLIC);
    let csrf = global_admin(&w, &mut b).await;
    let base = format!("/admin/saas/apps/{id}");
    let page = b.get(&w.app, &base).await;
    assert!(
        page.body
            .contains("<dd id=\"saas-app-state\">Discovered</dd>")
    );
    assert!(page.body.contains("id=\"move-sanctioned\""));
    assert!(
        !page.body.contains("id=\"move-retired\""),
        "only a decided app retires"
    );

    let forged = b
        .post(&w.app, &format!("{base}/state"), &[("state", "sanctioned")])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let sanctioned = b
        .post(
            &w.app,
            &format!("{base}/state"),
            &[("csrf", &csrf), ("state", "sanctioned")],
        )
        .await;
    assert_eq!(sanctioned.status, StatusCode::OK, "{}", sanctioned.body);
    assert!(sanctioned.body.contains("The app is now sanctioned."));
    assert!(
        sanctioned
            .body
            .contains("<dd id=\"saas-app-state\">Sanctioned</dd>")
    );
    assert!(sanctioned.body.contains("id=\"move-retired\""));

    let refused = b
        .post(
            &w.app,
            &format!("{base}/state"),
            &[("csrf", &csrf), ("state", "discovered")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused
            .body
            .contains("State: an app that is sanctioned cannot become discovered")
    );

    let nobody = b
        .post(
            &w.app,
            &format!("{base}/owner"),
            &[("csrf", &csrf), ("owner", "nobody@contoso.test")],
        )
        .await;
    assert_eq!(nobody.status, StatusCode::BAD_REQUEST);
    assert!(
        nobody.body.contains("Owner: no active user"),
        "{}",
        nobody.body
    );
    let owned = b
        .post(
            &w.app,
            &format!("{base}/owner"),
            &[("csrf", &csrf), ("owner", "alan@contoso.test")],
        )
        .await;
    assert_eq!(owned.status, StatusCode::OK, "{}", owned.body);
    assert!(
        owned
            .body
            .contains("<dd id=\"saas-owner\">alan@contoso.test</dd>")
    );
    let app =
        w.h.directory
            .get_saas_app(&Harness::operator(), w.h.tenant(), id)
            .await
            .unwrap()
            .app;
    assert_eq!(app.state, latchkey_core::saas::SaasAppState::Sanctioned);
    assert!(app.owner.is_some());
}

async fn the_inventory_searches_filters_by_state_and_pages(backend: Backend) {
    let w = admin_world(backend).await;
    seeded(&w).await;
    for i in 0..26 {
        w.h.directory
            .add_saas_app(
                &Harness::operator(),
                w.h.tenant(),
                NewSaasApp {
                    name: format!("Tool {i:02}"),
                    vendor: Some("Acme 100%".into()),
                    category: None,
                    owner: None,
                    state: None,
                    contract: None,
                },
            )
            .await
            .unwrap();
    }
    let mut b = Browser::at(ADMIN_PUBLIC);
    global_admin(&w, &mut b).await;
    let found = b.get(&w.app, "/admin/saas?q=BOARD").await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    assert_eq!(found.body.matches("class=\"saas-app-link\"").count(), 1);
    assert!(
        found.body.contains("Board &#60;b&#62;&#38;co")
            || found.body.contains("Board &lt;b&gt;&amp;co")
    );
    assert!(!found.body.contains("<b>&co"));
    // A vendor's `%` is a character, not a wildcard.
    let by_vendor = b.get(&w.app, "/admin/saas?q=acme%20100%25").await;
    assert_eq!(
        by_vendor.body.matches("class=\"saas-app-link\"").count(),
        25
    );
    assert_eq!(
        b.get(&w.app, "/admin/saas?q=1%250")
            .await
            .body
            .matches("class=\"saas-app-link\"")
            .count(),
        0
    );
    let sanctioned = b.get(&w.app, "/admin/saas?state=sanctioned").await;
    assert_eq!(
        sanctioned.body.matches("class=\"saas-app-link\"").count(),
        1
    );
    assert!(sanctioned.body.contains(">Teams Chat</a>"));
    assert!(
        sanctioned
            .body
            .contains("<option value=\"sanctioned\" selected>")
    );
    let bad = b.get(&w.app, "/admin/saas?state=approved").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("State:"));

    // 29 apps: a page of 25, then 4, with the filters kept.
    let first = b.get(&w.app, "/admin/saas").await;
    assert_eq!(first.body.matches("class=\"saas-app-link\"").count(), 25);
    let next = first.link("next-page").unwrap();
    let second = b.get(&w.app, &next).await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(second.body.matches("class=\"saas-app-link\"").count(), 4);
    assert!(!second.body.contains("id=\"next-page\""));
    assert!(second.body.contains("id=\"first-page\""));
}

async fn the_dashboard_draws_its_tables_and_exports_them_as_csv(backend: Backend) {
    let w = admin_world(backend).await;
    seeded(&w).await;
    // A category that a spreadsheet would run as a formula.
    w.h.directory
        .import_expenses(
            &Harness::operator(),
            w.h.tenant(),
            vec![line(
                9,
                "Evil Corp",
                100,
                "2027-01-02",
                Some(("Evil", "=HYPERLINK(\"x\")")),
            )],
        )
        .await
        .unwrap();
    let mut b = Browser::at(ADMIN_PUBLIC);
    global_admin(&w, &mut b).await;
    let d = b.get(&w.app, "/admin/saas/dashboard").await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.body);
    // The charts are the server's SVG: the page's one script is the admin center's own
    // enhancements file, nothing inline and nothing for the charts.
    let ours = "<script src=\"/admin/assets/admin.js\" defer></script>";
    assert_eq!(d.body.matches("<script").count(), 1);
    assert!(d.body.contains(ours));
    assert!(
        d.body
            .contains("<span class=\"tile-value\" id=\"tile-discovered\">3</span>"),
        "Slack, Evil and Teams Chat were added this month"
    );
    assert!(
        d.body
            .contains("<span class=\"tile-value\" id=\"tile-idle\">1</span>")
    );
    assert!(
        d.body
            .contains("<span class=\"tile-value\" id=\"tile-saving\">10.00 EUR</span>")
    );
    assert!(d.body.contains(
        "<span class=\"tile-value\" id=\"tile-deadline\">2027-03-01 (Teams Chat)</span>"
    ));

    let section = |id: &str| {
        let start = d.body.find(&format!("id=\"chart-{id}\"")).unwrap();
        let end = d.body[start..].find("</section>").unwrap();
        d.body[start..start + end].to_owned()
    };
    let svg_values = |s: &str| -> Vec<String> {
        s.split("class=\"bar-value\">")
            .skip(1)
            .map(|t| t[..t.find("</text>").unwrap()].to_owned())
            .collect()
    };
    // Spend by month: twelve months from 2026-02; the bars say what the table says. The
    // expense lines, and the contracts' monthly cost (Board's 100.00 all year, Teams Chat's
    // 50.00 from April; neither app has an expense line to count instead).
    let month = section("spend-by-month");
    assert!(month.contains("<svg class=\"chart\""));
    assert!(month.contains("<tr><td>2026-12</td><td>EUR</td><td>600.00</td></tr>"));
    assert!(month.contains("<tr><td>2027-01</td><td>EUR</td><td>284.44</td></tr>"));
    assert!(month.contains("<tr><td>2026-02</td><td>EUR</td><td>100.00</td></tr>"));
    assert!(month.contains("<tr><td>2026-04</td><td>EUR</td><td>150.00</td></tr>"));
    let values = svg_values(&month);
    assert_eq!(values.len(), 12);
    assert_eq!(values[10], "600.00 EUR");
    assert_eq!(values[11], "284.44 EUR");
    // The largest bar is the full length, the others in proportion.
    assert!(month.contains("width=\"300\" height=\"18\""));
    assert!(
        month.contains("width=\"142\" height=\"18\""),
        "284.44 / 600.00 of 300"
    );

    let category = section("spend-by-category");
    assert!(category.contains("<tr><td>Collaboration</td><td>EUR</td><td>1073.45</td></tr>"));
    assert!(category.contains("<tr><td>Uncategorised</td><td>EUR</td><td>1209.99</td></tr>"));
    assert_eq!(
        svg_values(&category),
        ["1209.99 EUR", "1073.45 EUR", "1.00 EUR"]
    );

    let states = section("apps-by-state");
    assert!(states.contains("<tr><td>Discovered</td><td>3</td><td>2</td></tr>"));
    assert!(states.contains("<tr><td>Sanctioned</td><td>1</td><td>1</td></tr>"));
    assert!(states.contains("<tr><td>Retired</td><td>0</td><td>0</td></tr>"));
    assert_eq!(svg_values(&states), ["3", "0", "1", "0", "0"]);

    let idle = section("idle-seats");
    assert!(
        idle.contains("<td>Board &#60;b&#62;&#38;co</td>")
            || idle.contains("<td>Board &lt;b&gt;&amp;co</td>"),
        "{idle}"
    );
    assert!(idle.contains("<td>1</td><td>10.00 EUR</td><td>10.00 EUR</td>"));
    assert!(!d.body.contains("<b>&co"));

    let renewals = section("renewals");
    assert!(renewals.contains("<tr><td>2027-03</td><td>1</td></tr>"));
    assert!(renewals.contains("<tr><td>2027-05</td><td>1</td></tr>"));
    assert_eq!(svg_values(&renewals), ["1", "1"]);

    // The CSV is the table, formulas neutralised.
    let csv = b
        .get(&w.app, "/admin/saas/dashboard/spend-by-category.csv")
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    assert!(
        csv.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains("saas-spend-by-category.csv")
    );
    assert_eq!(
        csv.body,
        "Category,Currency,Spend\r\nUncategorised,EUR,1209.99\r\nCollaboration,EUR,1073.45\r\n\"'=HYPERLINK(\"\"x\"\")\",EUR,1.00\r\n"
    );
    let idle_csv = b.get(&w.app, "/admin/saas/dashboard/idle-seats.csv").await;
    assert_eq!(
        idle_csv.body,
        "App,Idle seats,Per seat per month,Saving per month\r\nBoard <b>&co,1,10.00 EUR,10.00 EUR\r\n"
    );
    assert_eq!(
        b.get(&w.app, "/admin/saas/dashboard/passwords.csv")
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // The renewal calendar and the overlap report.
    let cal = b.get(&w.app, "/admin/saas/renewals").await;
    assert_eq!(cal.status, StatusCode::OK);
    let march = cal.body.find("March 2027").unwrap();
    let may = cal.body.find("May 2027").unwrap();
    assert!(march < may);
    assert!(
        cal.body
            .contains("<td class=\"deadline\">2027-03-01</td><td>36</td>")
    );
    let overlaps = b.get(&w.app, "/admin/saas/overlaps").await;
    assert!(
        overlaps
            .body
            .contains("<h2 class=\"overlap-category\">Collaboration</h2>")
    );
    assert!(overlaps.body.contains(">Slack</a>"));
    assert!(overlaps.body.contains(">Teams Chat</a>"));
    assert!(overlaps.body.contains("50.00 EUR a month"));
}

async fn an_administrator_without_the_saas_inventory_neither_sees_it_nor_reclaims(
    backend: Backend,
) {
    let w = admin_world(backend).await;
    let id = seeded(&w).await;
    let grace =
        w.h.store
            .find_user_by_upn(w.h.tenant(), &Upn::parse("grace@contoso.test").unwrap())
            .await
            .unwrap()
            .unwrap()
            .id;
    let mut b = Browser::at(ADMIN_PUBLIC);
    let home = admin_signed_in(
        &w,
        &mut b,
        "uma@contoso.test",
        vec![DirectoryRole::UserAdministrator],
    )
    .await;
    assert!(!home.body.contains("nav-saas"));
    for page in [
        "/admin/saas".to_owned(),
        "/admin/saas/dashboard".to_owned(),
        "/admin/saas/dashboard/idle-seats.csv".to_owned(),
        "/admin/saas/renewals".to_owned(),
        format!("/admin/saas/apps/{id}"),
    ] {
        assert_eq!(
            b.get(&w.app, &page).await.status,
            StatusCode::FORBIDDEN,
            "{page}"
        );
    }
    let posted = b
        .post(
            &w.app,
            &format!("/admin/saas/apps/{id}/reclaim"),
            &[("csrf", &admin_csrf(&home)), ("user", &grace.to_string())],
        )
        .await;
    assert_eq!(posted.status, StatusCode::FORBIDDEN);
    let report =
        w.h.directory
            .saas_licenses(&Harness::operator(), w.h.tenant(), id)
            .await
            .unwrap();
    assert_eq!(report.seats_assigned, 2);
    assert_eq!(report.idle.len(), 1);
}

async fn a_saas_reader_reads_every_saas_page_without_a_form_and_cannot_reclaim(backend: Backend) {
    let w = admin_world(backend).await;
    let id = seeded(&w).await;
    let grace =
        w.h.store
            .find_user_by_upn(w.h.tenant(), &Upn::parse("grace@contoso.test").unwrap())
            .await
            .unwrap()
            .unwrap()
            .id;
    for (n, role) in DirectoryRole::SAAS_READERS.into_iter().enumerate() {
        let mut b = Browser::at(ADMIN_PUBLIC);
        let home =
            admin_signed_in(&w, &mut b, &format!("reader{n}@contoso.test"), vec![role]).await;
        assert!(home.body.contains("id=\"nav-saas-dashboard\""), "{role:?}");
        // Nothing in the rail that the role cannot open.
        for hidden in ["nav-mail", "nav-apps", "nav-audit", "nav-add-user"] {
            assert!(!home.body.contains(hidden), "{role:?} sees {hidden}");
        }
        let page = b.get(&w.app, &format!("/admin/saas/apps/{id}")).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(
            page.body
                .contains("<td class=\"idle-user\">grace@contoso.test</td>")
        );
        assert!(page.body.contains("<dd id=\"saving\">10.00 EUR</dd>"));
        assert!(
            !page
                .body
                .contains("<form method=\"post\" action=\"/admin/saas"),
            "no forms"
        );
        assert!(!page.body.contains("Reclaim</button>"));
        for path in [
            "/admin/saas",
            "/admin/saas/dashboard",
            "/admin/saas/renewals",
            "/admin/saas/overlaps",
        ] {
            assert_eq!(
                b.get(&w.app, path).await.status,
                StatusCode::OK,
                "{role:?} {path}"
            );
        }
        // The operations refuse what the page does not offer.
        let csrf = admin_csrf(&home);
        let reclaim = b
            .post(
                &w.app,
                &format!("/admin/saas/apps/{id}/reclaim"),
                &[("csrf", &csrf), ("user", &grace.to_string())],
            )
            .await;
        assert_eq!(reclaim.status, StatusCode::FORBIDDEN);
        let sanction = b
            .post(
                &w.app,
                &format!("/admin/saas/apps/{id}/state"),
                &[("csrf", &csrf), ("state", "sanctioned")],
            )
            .await;
        assert_eq!(sanction.status, StatusCode::FORBIDDEN);
    }
    let report =
        w.h.directory
            .saas_licenses(&Harness::operator(), w.h.tenant(), id)
            .await
            .unwrap();
    assert_eq!(report.seats_assigned, 2);
    assert_eq!(report.idle.len(), 1);
    let app =
        w.h.directory
            .get_saas_app(&Harness::operator(), w.h.tenant(), id)
            .await
            .unwrap()
            .app;
    assert_eq!(app.state, latchkey_core::saas::SaasAppState::Discovered);
}

/// The charts a dashboard page shows, in order.
fn chart_ids(body: &str) -> Vec<String> {
    body.split("<section class=\"chart-card\" id=\"chart-")
        .skip(1)
        .map(|t| t[..t.find('"').unwrap()].to_owned())
        .collect()
}

async fn each_saas_reader_sees_the_dashboard_of_its_role_read_only(backend: Backend) {
    let w = admin_world(backend).await;
    seeded(&w).await;
    // An app granted Directory.Read.All by an administrator, then used by Alan: risky, not
    // sanctioned.
    let snoop =
        w.h.directory
            .create_app(
                &Harness::operator(),
                w.h.tenant(),
                NewApp {
                    display_name: "Mail Snoop".into(),
                    redirect_uris: vec!["https://snoop.example.test/callback".into()],
                    delegated_permissions: vec!["Directory.Read.All".into(), "User.Read".into()],
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .app;
    w.h.directory
        .grant_admin_consent(&Harness::operator(), w.h.tenant(), snoop.app_id)
        .await
        .unwrap();
    let alan =
        w.h.store
            .find_user_by_upn(w.h.tenant(), &Upn::parse("alan@contoso.test").unwrap())
            .await
            .unwrap()
            .unwrap();
    w.h.directory
        .consent_as_user(&alan, &snoop, &["User.Read".into()])
        .await
        .unwrap();

    let all = [
        "spend-by-month",
        "spend-by-category",
        "apps-by-state",
        "idle-seats",
        "renewals",
        "risky-apps",
        "overlaps",
    ];
    let views: [(DirectoryRole, &str, &[&str], &[&str]); 3] = [
        (
            DirectoryRole::SaasFinanceReader,
            "Finance",
            &[
                "spend-by-month",
                "spend-by-category",
                "idle-seats",
                "renewals",
            ],
            &["tile-idle", "tile-saving", "tile-deadline"],
        ),
        (
            DirectoryRole::SaasSecurityReader,
            "Security",
            &["apps-by-state", "risky-apps"],
            &["tile-discovered"],
        ),
        (
            DirectoryRole::SaasItReader,
            "IT",
            &["apps-by-state", "idle-seats", "overlaps"],
            &["tile-discovered", "tile-idle"],
        ),
    ];
    for (n, (role, name, charts, tiles)) in views.into_iter().enumerate() {
        let mut b = Browser::at(ADMIN_PUBLIC);
        admin_signed_in(&w, &mut b, &format!("view{n}@contoso.test"), vec![role]).await;
        let d = b.get(&w.app, "/admin/saas/dashboard").await;
        assert_eq!(d.status, StatusCode::OK, "{}", d.body);
        assert_eq!(chart_ids(&d.body), charts, "{role:?}");
        assert!(
            d.body
                .contains(&format!("The {name} view of the SaaS apps, read-only.")),
            "{role:?}"
        );
        for tile in [
            "tile-discovered",
            "tile-idle",
            "tile-saving",
            "tile-deadline",
        ] {
            assert_eq!(
                d.body.contains(&format!("id=\"{tile}\"")),
                tiles.contains(&tile),
                "{role:?} {tile}"
            );
        }
        assert!(
            !d.body
                .contains("<form method=\"post\" action=\"/admin/saas")
        );
        assert!(!d.body.contains("Reclaim</button>"));
        // Each chart of the view exports; the others are not the viewer's.
        for chart in all {
            let csv = b
                .get(&w.app, &format!("/admin/saas/dashboard/{chart}.csv"))
                .await;
            let expected = if charts.contains(&chart) {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            };
            assert_eq!(csv.status, expected, "{role:?} {chart}");
        }
        if role == DirectoryRole::SaasSecurityReader {
            let csv = b.get(&w.app, "/admin/saas/dashboard/risky-apps.csv").await;
            assert_eq!(
                csv.body,
                "App,State,Risky permissions,Users\r\nMail Snoop,Discovered,Directory.Read.All,alan@contoso.test\r\n"
            );
        }
        if role == DirectoryRole::SaasItReader {
            assert!(
                d.body.contains("<td>Collaboration</td><td>Slack</td>"),
                "{}",
                d.body
            );
            assert!(
                d.body.contains(
                    "<td>Collaboration</td><td>Teams Chat</td><td>0</td><td>50.00 EUR</td>"
                )
            );
        }
    }
    // A Global Administrator sees the whole dashboard, without a view's name.
    let mut b = Browser::at(ADMIN_PUBLIC);
    global_admin(&w, &mut b).await;
    let d = b.get(&w.app, "/admin/saas/dashboard").await;
    assert_eq!(chart_ids(&d.body), all);
    assert!(!d.body.contains("id=\"dashboard-view\""));
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Postgres).await })*
        }
    };
}

both_backends!(
    the_app_page_shows_licences_and_reclaim_removes_the_idle_seat,
    the_review_moves_the_state_and_sets_the_owner_by_user_name,
    the_inventory_searches_filters_by_state_and_pages,
    the_dashboard_draws_its_tables_and_exports_them_as_csv,
    an_administrator_without_the_saas_inventory_neither_sees_it_nor_reclaims,
    a_saas_reader_reads_every_saas_page_without_a_form_and_cannot_reclaim,
    each_saas_reader_sees_the_dashboard_of_its_role_read_only,
);
