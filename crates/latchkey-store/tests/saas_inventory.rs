//! The SaaS inventory through the directory and the real store, on SQLite and PostgreSQL:
//! discovery from consents (with the user, the permissions, one alert), the review states,
//! keyset paging, expense imports (three spellings, one app; a second import adds nothing)
//! and who may read and review. Every test runs once per backend (`both_backends!` below).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use latchkey_core::app::App;
use latchkey_core::authz::{Actor, Channel};
use latchkey_core::directory::{NewApp, NewUser, PasswordChoice, SaasAppChanges, UserRef};
use latchkey_core::error::DirectoryError;
use latchkey_core::mail::{MailKind, MailQuery};
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::saas::{EvidenceSource, SaasApp, SaasAppState, SaasQuery};
use latchkey_core::user::User;
use latchkey_testkit::{Backend, Harness};

async fn user(h: &Harness, upn: &str) -> User {
    h.directory
        .create_user(
            &Harness::operator(),
            h.tenant(),
            NewUser {
                user_principal_name: Upn::parse(upn).unwrap(),
                display_name: DisplayName::parse("App User").unwrap(),
                mail_nickname: None,
                account_enabled: true,
                profile: Default::default(),
                password_policies: Default::default(),
                password: PasswordChoice::Generate,
                force_change_next_sign_in: false,
                roles: vec![],
            },
        )
        .await
        .unwrap()
        .user
}

async fn registration(h: &Harness, name: &str, delegated: &[&str], consented: bool) -> App {
    h.directory
        .create_app(
            &Harness::operator(),
            h.tenant(),
            NewApp {
                display_name: name.into(),
                redirect_uris: vec!["https://app.example.test/callback".into()],
                delegated_permissions: delegated.iter().map(|s| (*s).to_owned()).collect(),
                grant_admin_consent: consented,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .app
}

async fn all_apps(h: &Harness) -> Vec<SaasApp> {
    h.directory
        .list_saas_apps(
            &Harness::operator(),
            h.tenant(),
            &SaasQuery {
                limit: 999,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .items
}

async fn alerts(h: &Harness) -> Vec<latchkey_core::mail::QueuedMail> {
    h.directory
        .mail_queue(&MailQuery {
            tenant: Some(h.tenant()),
            statuses: vec![],
            limit: 100,
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.kind == MailKind::SaasAppDiscovered)
        .collect()
}

async fn outbox_kinds(h: &Harness) -> Vec<String> {
    h.store
        .list_outbox_events(h.tenant(), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

async fn an_app_a_user_consents_to_is_discovered_with_the_user_and_the_permissions_and_alerts_once(
    h: Harness,
) {
    let app = registration(
        &h,
        "Shadow Notes",
        &["User.ReadWrite.All", "Directory.Read.All"],
        true,
    )
    .await;
    assert!(
        all_apps(&h).await.is_empty(),
        "registering is not discovering"
    );
    let ada = user(&h, "ada@contoso.test").await;
    h.directory
        .consent_as_user(&ada, &app, &["openid".into(), "User.Read".into()])
        .await
        .unwrap();

    let apps = all_apps(&h).await;
    assert_eq!(apps.len(), 1);
    let found = &apps[0];
    assert_eq!(found.name, "Shadow Notes");
    assert_eq!(found.state, SaasAppState::Discovered);
    assert_eq!(found.latchkey_app_id, Some(app.app_id));
    assert_eq!(found.user_count, 1);
    assert_eq!(
        found.permissions,
        [
            "openid",
            "User.Read",
            "User.ReadWrite.All",
            "Directory.Read.All"
        ]
    );
    let detail = h
        .directory
        .get_saas_app(&Harness::operator(), h.tenant(), found.id)
        .await
        .unwrap();
    assert_eq!(detail.users.len(), 1);
    assert_eq!(detail.users[0].user_id, ada.id);
    assert_eq!(detail.evidence.len(), 1);
    assert_eq!(detail.evidence[0].source, EvidenceSource::UserConsent);
    assert_eq!(detail.evidence[0].user_id, Some(ada.id));
    assert!(
        detail.evidence[0]
            .detail
            .contains("ada@contoso.test consented to")
    );

    let sent = alerts(&h).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to[0].as_str(), "admin@contoso.test");
    assert_eq!(
        outbox_kinds(&h)
            .await
            .iter()
            .filter(|k| *k == "saas.appDiscovered")
            .count(),
        1
    );

    // A second user: one more user and evidence row, no second alert.
    let grace = user(&h, "grace@contoso.test").await;
    h.directory
        .consent_as_user(&grace, &app, &["User.Read".into()])
        .await
        .unwrap();
    let apps = all_apps(&h).await;
    assert_eq!(apps.len(), 1);
    assert_eq!(apps[0].user_count, 2);
    assert_eq!(alerts(&h).await.len(), 1);
}

async fn admin_consent_discovers_the_app_with_the_granted_permissions_and_no_user(h: Harness) {
    let app = registration(&h, "Report Robot", &["Directory.Read.All"], false).await;
    h.directory
        .grant_admin_consent(&Harness::operator(), h.tenant(), app.app_id)
        .await
        .unwrap();
    let apps = all_apps(&h).await;
    assert_eq!(apps.len(), 1);
    assert_eq!(apps[0].permissions, ["Directory.Read.All"]);
    assert_eq!(apps[0].user_count, 0);
    let detail = h
        .directory
        .get_saas_app(&Harness::operator(), h.tenant(), apps[0].id)
        .await
        .unwrap();
    assert_eq!(detail.evidence[0].source, EvidenceSource::AdminConsent);
    assert_eq!(alerts(&h).await.len(), 1);
}

async fn the_review_moves_only_along_allowed_states_and_a_refusal_changes_nothing(h: Harness) {
    let app = registration(&h, "Whiteboard X", &[], false).await;
    let ada = user(&h, "ada@contoso.test").await;
    h.directory
        .consent_as_user(&ada, &app, &["User.Read".into()])
        .await
        .unwrap();
    let id = all_apps(&h).await[0].id;
    let review = |state| SaasAppChanges {
        state: Some(state),
        owner: None,
    };
    let sanctioned = h
        .directory
        .update_saas_app(
            &Harness::operator(),
            h.tenant(),
            id,
            review(SaasAppState::Sanctioned),
        )
        .await
        .unwrap();
    assert_eq!(sanctioned.state, SaasAppState::Sanctioned);

    let err = h
        .directory
        .update_saas_app(
            &Harness::operator(),
            h.tenant(),
            id,
            review(SaasAppState::Discovered),
        )
        .await
        .unwrap_err();
    match err {
        DirectoryError::Invalid { property, message } => {
            assert_eq!(property, "state");
            assert_eq!(
                message,
                "an app that is sanctioned cannot become discovered; it can become: unsanctioned, retired"
            );
        }
        other => panic!("{other:?}"),
    }
    let after = &all_apps(&h).await[0];
    assert_eq!(after.state, SaasAppState::Sanctioned);
    assert_eq!(after.version, sanctioned.version);

    // The owner is set by UPN; an unknown owner is refused by name.
    let owned = h
        .directory
        .update_saas_app(
            &Harness::operator(),
            h.tenant(),
            id,
            SaasAppChanges {
                state: None,
                owner: Some(Some(UserRef::parse("ada@contoso.test").unwrap())),
            },
        )
        .await
        .unwrap();
    assert_eq!(owned.owner, Some(ada.id));
    let err = h
        .directory
        .update_saas_app(
            &Harness::operator(),
            h.tenant(),
            id,
            SaasAppChanges {
                state: None,
                owner: Some(Some(UserRef::parse("nobody@contoso.test").unwrap())),
            },
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("no active user 'nobody@contoso.test'"),
        "{err}"
    );

    // A sanctioned app's use updates its users but adds no evidence.
    let before = h
        .directory
        .get_saas_app(&Harness::operator(), h.tenant(), id)
        .await
        .unwrap();
    let grace = user(&h, "grace@contoso.test").await;
    h.directory
        .consent_as_user(&grace, &app, &["User.Read".into()])
        .await
        .unwrap();
    let now = h
        .directory
        .get_saas_app(&Harness::operator(), h.tenant(), id)
        .await
        .unwrap();
    assert_eq!(now.users.len(), 2);
    assert_eq!(now.evidence.len(), before.evidence.len());
}

const EXPENSES: &str = "\
vendor,amount,currency,date,employee
Slack Technologies,120.00,USD,2026-11-01,ada@contoso.test
SLACK.COM,80,USD,2026-11-02,grace@contoso.test
slack technologies inc,8.50,EUR,2026-11-03,
Joe's Coffee,4.20,EUR,2026-11-03,ada@contoso.test
Figma,15,USD,2026-11-04,ada@contoso.test
Zoom,-10.00,USD,2026-11-04,ada@contoso.test
Zoom,10.00,XYZ,2026-11-04,ada@contoso.test
";

async fn importing_the_same_expenses_twice_adds_nothing_and_three_spellings_match_one_app(
    h: Harness,
) {
    let parsed = latchkey_saas::parse_expenses(EXPENSES.as_bytes()).unwrap();
    assert_eq!(
        parsed.problems.iter().map(|p| p.line).collect::<Vec<_>>(),
        [7, 8]
    );
    let first = h
        .directory
        .import_expenses(&Harness::operator(), h.tenant(), parsed.lines.clone())
        .await
        .unwrap();
    assert_eq!(
        (
            first.imported,
            first.duplicates,
            first.matched,
            first.unmatched,
            first.new_apps
        ),
        (5, 0, 4, 1, 2)
    );
    let apps = all_apps(&h).await;
    let names: Vec<&str> = apps.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["Figma", "Slack"]);
    let slack = &apps[1];
    assert_eq!(slack.category.as_deref(), Some("Communication"));
    assert_eq!(slack.state, SaasAppState::Discovered);
    let detail = h
        .directory
        .get_saas_app(&Harness::operator(), h.tenant(), slack.id)
        .await
        .unwrap();
    assert_eq!(detail.evidence.len(), 3);
    assert!(
        detail
            .evidence
            .iter()
            .all(|e| e.source == EvidenceSource::Expense)
    );
    assert!(
        detail.evidence.iter().any(|e| e
            .detail
            .contains("120.00 USD on 2026-11-01 by ada@contoso.test")),
        "{:?}",
        detail.evidence
    );
    let unmatched = h
        .directory
        .unmatched_expenses(&Harness::operator(), h.tenant(), 10)
        .await
        .unwrap();
    assert_eq!(unmatched.len(), 1);
    assert_eq!(unmatched[0].vendor, "Joe's Coffee");
    assert_eq!(unmatched[0].line, 5);

    let again = h
        .directory
        .import_expenses(&Harness::operator(), h.tenant(), parsed.lines)
        .await
        .unwrap();
    assert_eq!(
        (again.imported, again.duplicates, again.new_apps),
        (0, 5, 0)
    );
    assert_eq!(all_apps(&h).await.len(), 2);
    let detail = h
        .directory
        .get_saas_app(&Harness::operator(), h.tenant(), slack.id)
        .await
        .unwrap();
    assert_eq!(detail.evidence.len(), 3);
}

async fn a_negative_amount_reaching_core_is_refused_and_nothing_is_written(h: Harness) {
    let mut lines = latchkey_saas::parse_expenses(EXPENSES.as_bytes())
        .unwrap()
        .lines;
    lines[1].amount_minor = -1;
    let err = h
        .directory
        .import_expenses(&Harness::operator(), h.tenant(), lines)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "amount: line 3: the amount must not be negative"
    );
    assert!(all_apps(&h).await.is_empty());
}

async fn the_inventory_pages_by_name_without_gaps_or_repeats(h: Harness) {
    let csv = "vendor,amount,currency,date\nZoom,1,USD,2026-11-01\nSlack,1,USD,2026-11-01\n\
               Notion,1,USD,2026-11-01\nAsana,1,USD,2026-11-01\nMiro,1,USD,2026-11-01\n";
    let lines = latchkey_saas::parse_expenses(csv.as_bytes()).unwrap().lines;
    h.directory
        .import_expenses(&Harness::operator(), h.tenant(), lines)
        .await
        .unwrap();
    let mut names = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = h
            .directory
            .list_saas_apps(
                &Harness::operator(),
                h.tenant(),
                &SaasQuery {
                    state: None,
                    after: after.clone(),
                    limit: 2,
                },
            )
            .await
            .unwrap();
        pages += 1;
        names.extend(page.items.into_iter().map(|a| a.name));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names, ["Asana", "Miro", "Notion", "Slack", "Zoom"]);
    let bad = h
        .directory
        .list_saas_apps(
            &Harness::operator(),
            h.tenant(),
            &SaasQuery {
                state: None,
                after: Some("garbage".into()),
                limit: 2,
            },
        )
        .await
        .unwrap_err();
    assert!(bad.to_string().contains("$skiptoken"), "{bad}");
    let sanctioned = h
        .directory
        .list_saas_apps(
            &Harness::operator(),
            h.tenant(),
            &SaasQuery {
                state: Some(SaasAppState::Sanctioned),
                after: None,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert!(sanctioned.items.is_empty());
}

async fn reading_needs_directory_read_and_reviewing_directory_write_or_a_global_admin(h: Harness) {
    let app = |permissions: &[&str]| Actor::App {
        app_id: "00000000-0000-0000-0000-000000000001".into(),
        display: "Auditor".into(),
        permissions: permissions.iter().map(|s| (*s).to_owned()).collect(),
        roles: vec![],
        channel: Channel::Graph,
    };
    let q = SaasQuery {
        limit: 10,
        ..Default::default()
    };
    let csv = "vendor,amount,currency,date\nSlack,1,USD,2026-11-01\n";
    let lines = latchkey_saas::parse_expenses(csv.as_bytes()).unwrap().lines;
    h.directory
        .import_expenses(&Harness::operator(), h.tenant(), lines)
        .await
        .unwrap();
    let id = all_apps(&h).await[0].id;
    let sanction = SaasAppChanges {
        state: Some(SaasAppState::Sanctioned),
        owner: None,
    };

    let reader = app(&["Directory.Read.All"]);
    assert!(
        h.directory
            .list_saas_apps(&reader, h.tenant(), &q)
            .await
            .is_ok()
    );
    let err = h
        .directory
        .update_saas_app(&reader, h.tenant(), id, sanction.clone())
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::Denied(_)), "{err:?}");
    assert!(
        h.directory
            .list_saas_apps(&app(&["User.Read.All"]), h.tenant(), &q)
            .await
            .is_err()
    );

    let plain = user(&h, "plain@contoso.test").await;
    let member = Actor::User {
        id: plain.id,
        display: "plain@contoso.test".into(),
        roles: vec![],
        scopes: Some(vec!["Directory.Read.All".into()]),
        channel: Channel::Graph,
    };
    assert!(
        h.directory
            .list_saas_apps(&member, h.tenant(), &q)
            .await
            .is_err()
    );

    let admin = h
        .directory
        .admin_center_caller(h.tenant(), &h.boot.admin)
        .await
        .unwrap();
    let done = h
        .directory
        .update_saas_app(&admin, h.tenant(), id, sanction.clone())
        .await
        .unwrap();
    assert_eq!(done.state, SaasAppState::Sanctioned);
    let writer = app(&["Directory.ReadWrite.All"]);
    let done = h
        .directory
        .update_saas_app(
            &writer,
            h.tenant(),
            id,
            SaasAppChanges {
                state: Some(SaasAppState::Retired),
                owner: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(done.state, SaasAppState::Retired);
    assert!(
        outbox_kinds(&h)
            .await
            .contains(&"saas.appStateChanged".to_owned())
    );
}

async fn a_contract_is_kept_with_its_deadline_and_bad_ones_are_refused_by_field(h: Harness) {
    use latchkey_core::saas::{BillingPeriod, NewContract};
    let csv = "vendor,amount,currency,date\nSlack,1,USD,2026-11-01\n";
    let lines = latchkey_saas::parse_expenses(csv.as_bytes()).unwrap().lines;
    h.directory
        .import_expenses(&Harness::operator(), h.tenant(), lines)
        .await
        .unwrap();
    let id = all_apps(&h).await[0].id;
    let contract = |start: &str, end: &str, cost: i64| NewContract {
        start: start.parse().unwrap(),
        end: end.parse().unwrap(),
        notice_days: 30,
        auto_renew: true,
        cost_minor: cost,
        currency: "USD".into(),
        exponent: 2,
        billing_period: BillingPeriod::Annual,
        seats: None,
    };
    let added = h
        .directory
        .add_saas_contract(
            &Harness::operator(),
            h.tenant(),
            id,
            contract("2026-01-01", "2027-01-01", 1_200_000),
        )
        .await
        .unwrap();
    assert_eq!(added.cancellation_deadline().to_string(), "2026-12-02");
    for (c, property) in [
        (contract("2026-01-01", "2025-12-31", 100), "endDate"),
        (contract("2026-01-01", "2027-01-01", -5), "cost"),
    ] {
        match h
            .directory
            .add_saas_contract(&Harness::operator(), h.tenant(), id, c)
            .await
            .unwrap_err()
        {
            DirectoryError::Invalid { property: p, .. } => assert_eq!(p, property),
            other => panic!("{other:?}"),
        }
    }
    let listed = h
        .directory
        .saas_contracts(&Harness::operator(), h.tenant(), id)
        .await
        .unwrap();
    assert_eq!(listed, [added]);
    let missing = h
        .directory
        .add_saas_contract(
            &Harness::operator(),
            h.tenant(),
            latchkey_core::ids::SaasAppId::new(),
            contract("2026-01-01", "2027-01-01", 1),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(missing, DirectoryError::NotFound { .. }),
        "{missing:?}"
    );
}

async fn a_user_who_has_not_used_the_app_for_61_days_is_idle(h: Harness) {
    let app = registration(&h, "Idle Board", &[], false).await;
    let ada = user(&h, "ada@contoso.test").await;
    let grace = user(&h, "grace@contoso.test").await;
    h.directory
        .consent_as_user(&ada, &app, &["User.Read".into()])
        .await
        .unwrap();
    h.clock.advance(chrono::Duration::days(2));
    h.directory
        .consent_as_user(&grace, &app, &["User.Read".into()])
        .await
        .unwrap();
    let id = all_apps(&h).await[0].id;
    h.clock.advance(chrono::Duration::days(59));
    // Ada's last use is 61 days old, Grace's 59.
    let idle = h
        .directory
        .idle_saas_users(&Harness::operator(), h.tenant(), id, None)
        .await
        .unwrap();
    assert_eq!(idle.iter().map(|u| u.user_id).collect::<Vec<_>>(), [ada.id]);
    let idle = h
        .directory
        .idle_saas_users(&Harness::operator(), h.tenant(), id, Some(30))
        .await
        .unwrap();
    assert_eq!(idle.len(), 2);
}

async fn users_consenting_at_once_to_a_new_app_make_one_entry_and_one_alert(h: Harness) {
    let app = registration(&h, "Racing Notes", &[], false).await;
    let mut people = Vec::new();
    for i in 0..6 {
        people.push(user(&h, &format!("racer{i}@contoso.test")).await);
    }
    let consents = people.iter().map(|u| {
        let d = h.directory.clone();
        let (u, app) = (u.clone(), app.clone());
        tokio::spawn(async move { d.consent_as_user(&u, &app, &["User.Read".into()]).await })
    });
    for done in futures_join(consents).await {
        done.unwrap().unwrap();
    }
    let apps = all_apps(&h).await;
    assert_eq!(apps.len(), 1);
    assert_eq!(apps[0].user_count, 6);
    assert_eq!(alerts(&h).await.len(), 1);
}

async fn futures_join<T>(
    handles: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<Result<T, tokio::task::JoinError>> {
    let mut out = Vec::new();
    for h in handles.collect::<Vec<_>>() {
        out.push(h.await);
    }
    out
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(latchkey_testkit::Harness::new(super::Backend::Sqlite).await).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(latchkey_testkit::Harness::new(super::Backend::Postgres).await).await })*
        }
    };
}

both_backends!(
    an_app_a_user_consents_to_is_discovered_with_the_user_and_the_permissions_and_alerts_once,
    admin_consent_discovers_the_app_with_the_granted_permissions_and_no_user,
    the_review_moves_only_along_allowed_states_and_a_refusal_changes_nothing,
    importing_the_same_expenses_twice_adds_nothing_and_three_spellings_match_one_app,
    a_negative_amount_reaching_core_is_refused_and_nothing_is_written,
    the_inventory_pages_by_name_without_gaps_or_repeats,
    reading_needs_directory_read_and_reviewing_directory_write_or_a_global_admin,
    a_contract_is_kept_with_its_deadline_and_bad_ones_are_refused_by_field,
    a_user_who_has_not_used_the_app_for_61_days_is_idle,
    users_consenting_at_once_to_a_new_app_make_one_entry_and_one_alert,
);
