//! SaaS licences and renewals through the directory and the real store, on SQLite and
//! PostgreSQL, at an injected clock: seats bought and assigned, idle seats by last use with
//! their saving, reclaiming a seat (with the Latchkey licence it is, through the licence
//! operation, audited, the user told by mail), and renewal alerts before a contract's
//! cancellation deadline, each (contract, deadline, offset) sent once however many passes
//! run. Every test runs once per backend (`both_backends!` below).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Duration;
use latchkey_core::app::App;
use latchkey_core::audit::Events;
use latchkey_core::clock::Clock;
use latchkey_core::directory::{
    NewApp, NewUser, PasswordChoice, ProfileField, UserChanges, UserRef,
};
use latchkey_core::error::DirectoryError;
use latchkey_core::ids::{EventId, SaasAppId, SkuId};
use latchkey_core::license::{AssignedLicense, LicenseChange, NewSku};
use latchkey_core::mail::{MailContent, MailKind, MailQuery};
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::saas::{BillingPeriod, NewContract, SaasQuery};
use latchkey_core::saas_license::SaasLicensingChanges;
use latchkey_core::user::User;
use latchkey_testkit::{Backend, Harness};

async fn user(h: &Harness, upn: &str) -> User {
    let u = h
        .directory
        .create_user(
            &Harness::operator(),
            h.tenant(),
            NewUser {
                user_principal_name: Upn::parse(upn).unwrap(),
                display_name: DisplayName::parse("Seat Holder").unwrap(),
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
        .user;
    h.directory
        .update_user(
            &Harness::operator(),
            h.tenant(),
            &UserRef::Id(u.id),
            UserChanges {
                text: vec![(ProfileField::UsageLocation, Some("FR".into()))],
                ..UserChanges::default()
            },
        )
        .await
        .unwrap();
    u
}

async fn registration(h: &Harness, name: &str) -> App {
    h.directory
        .create_app(
            &Harness::operator(),
            h.tenant(),
            NewApp {
                display_name: name.into(),
                redirect_uris: vec!["https://app.example.test/callback".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .app
}

/// The inventory id of the app `name`, after `users` consented to it (in that order).
async fn app_used_by(h: &Harness, name: &str, users: &[&User]) -> SaasAppId {
    let app = registration(h, name).await;
    for u in users {
        h.directory
            .consent_as_user(u, &app, &["User.Read".into()])
            .await
            .unwrap();
    }
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
        .into_iter()
        .find(|a| a.name == name)
        .unwrap()
        .id
}

/// The registration of an app made by [`app_used_by`].
async fn registration_named(h: &Harness, name: &str) -> App {
    h.directory
        .list_apps(&Harness::operator(), h.tenant())
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.display_name == name)
        .unwrap()
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

async fn mail_of(h: &Harness, kind: MailKind) -> Vec<latchkey_core::mail::QueuedMail> {
    h.directory
        .mail_queue(&MailQuery {
            tenant: Some(h.tenant()),
            statuses: vec![],
            limit: 999,
        })
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.kind == kind)
        .collect()
}

async fn outbox_count(h: &Harness, kind: &str) -> usize {
    h.store
        .list_outbox_events(h.tenant(), 999)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.kind == kind)
        .count()
}

fn refused_on(e: DirectoryError) -> String {
    match e {
        DirectoryError::Invalid { property, .. } => property,
        other => panic!("expected a refusal by field, got {other:?}"),
    }
}

async fn seats_bought_come_from_the_contract_unless_set_on_the_app_and_assigned_are_its_users(
    h: Harness,
) {
    let ada = user(&h, "ada@contoso.test").await;
    let grace = user(&h, "grace@contoso.test").await;
    let id = app_used_by(&h, "Seat Board", &[&ada, &grace]).await;
    // 1,200.00 EUR a year for 10 seats: 100.00 a month, 10.00 a seat.
    h.directory
        .add_saas_contract(
            &Harness::operator(),
            h.tenant(),
            id,
            contract("2026-01-01", "2027-01-01", 30, 120_000, Some(10)),
        )
        .await
        .unwrap();
    let report = h
        .directory
        .saas_licenses(&Harness::operator(), h.tenant(), id)
        .await
        .unwrap();
    assert_eq!(report.seats_assigned, 2);
    let cost = report.cost.unwrap();
    assert_eq!(cost.seats_bought, Some(10));
    assert_eq!(cost.monthly_cost_minor, 10_000);
    assert_eq!(cost.per_seat_monthly_minor, Some(1_000));
    assert!(report.idle.is_empty(), "both used it today");

    let set = h
        .directory
        .set_saas_licensing(
            &Harness::operator(),
            h.tenant(),
            id,
            SaasLicensingChanges {
                seats_bought: Some(Some(4)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(set.seats_bought, Some(4));
    let cost = h
        .directory
        .saas_licenses(&Harness::operator(), h.tenant(), id)
        .await
        .unwrap()
        .cost
        .unwrap();
    assert_eq!(cost.seats_bought, Some(4));
    assert_eq!(cost.per_seat_monthly_minor, Some(2_500));

    // Bad settings are refused by field and change nothing.
    for (changes, field) in [
        (
            SaasLicensingChanges {
                seats_bought: Some(Some(u32::MAX)),
                idle_days: Some(Some(10)),
                ..Default::default()
            },
            "seatsBought",
        ),
        (
            SaasLicensingChanges {
                idle_days: Some(Some(0)),
                ..Default::default()
            },
            "idleDays",
        ),
        (
            SaasLicensingChanges {
                sku: Some(Some(SkuId::new())),
                ..Default::default()
            },
            "skuId",
        ),
    ] {
        let e = h
            .directory
            .set_saas_licensing(&Harness::operator(), h.tenant(), id, changes)
            .await
            .unwrap_err();
        assert_eq!(refused_on(e), field);
    }
    let kept = h
        .directory
        .saas_licenses(&Harness::operator(), h.tenant(), id)
        .await
        .unwrap()
        .licensing;
    assert_eq!(kept, set);
}

async fn a_seat_unused_past_the_apps_threshold_is_idle_with_its_saving_and_a_new_one_is_not(
    h: Harness,
) {
    let ada = user(&h, "ada@contoso.test").await;
    let grace = user(&h, "grace@contoso.test").await;
    let id = app_used_by(&h, "Idle Board", &[&ada]).await;
    h.directory
        .add_saas_contract(
            &Harness::operator(),
            h.tenant(),
            id,
            contract("2026-01-01", "2028-01-01", 30, 120_000, Some(10)),
        )
        .await
        .unwrap();
    // Grace starts two days after Ada.
    h.clock.advance(Duration::days(2));
    let board = registration_named(&h, "Idle Board").await;
    h.directory
        .consent_as_user(&grace, &board, &["User.Read".into()])
        .await
        .unwrap();
    h.clock.advance(Duration::days(59));
    // Ada: 61 days without use. Grace: 59 days, and her seat is 59 days old.
    let report = h
        .directory
        .saas_licenses(&Harness::operator(), h.tenant(), id)
        .await
        .unwrap();
    assert_eq!(
        report.idle.iter().map(|s| s.user_id).collect::<Vec<_>>(),
        [ada.id]
    );
    assert_eq!(report.idle[0].idle_days, 61);
    assert_eq!(report.idle[0].saving_monthly_minor, Some(1_000));
    assert_eq!(report.saving_monthly_minor, 1_000);
    let page = h
        .directory
        .saas_reclamation(&Harness::operator(), h.tenant(), None, 10)
        .await
        .unwrap();
    assert_eq!(
        page.items
            .iter()
            .map(|s| s.user_principal_name.as_deref())
            .collect::<Vec<_>>(),
        [Some("ada@contoso.test")]
    );
    assert_eq!(page.items[0].currency.as_deref(), Some("EUR"));

    // A 30-day threshold on the app makes Grace idle too; the list pages without repeats.
    h.directory
        .set_saas_licensing(
            &Harness::operator(),
            h.tenant(),
            id,
            SaasLicensingChanges {
                idle_days: Some(Some(30)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = h
            .directory
            .saas_reclamation(&Harness::operator(), h.tenant(), after, 1)
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|s| s.user_id));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    seen.sort();
    let mut want = vec![ada.id, grace.id];
    want.sort();
    assert_eq!(seen, want);
    let bad = h
        .directory
        .saas_reclamation(
            &Harness::operator(),
            h.tenant(),
            Some("nonsense".into()),
            10,
        )
        .await
        .unwrap_err();
    assert_eq!(refused_on(bad), "$skiptoken");
}

async fn reclaiming_a_seat_of_an_app_that_is_a_sku_removes_the_licence_audited_and_tells_the_user(
    h: Harness,
) {
    let ada = user(&h, "ada@contoso.test").await;
    let id = app_used_by(&h, "Design Suite", &[&ada]).await;
    let sku = h
        .directory
        .create_sku(
            &Harness::operator(),
            h.tenant(),
            NewSku {
                sku_id: None,
                sku_part_number: "DESIGN_SUITE".into(),
                seats: 5,
                service_plans: vec![],
            },
        )
        .await
        .unwrap();
    h.directory
        .assign_licenses(
            &Harness::operator(),
            h.tenant(),
            &UserRef::Id(ada.id),
            LicenseChange {
                add: vec![AssignedLicense {
                    sku_id: sku.sku_id,
                    disabled_plans: vec![],
                }],
                remove: vec![],
            },
        )
        .await
        .unwrap();
    h.directory
        .set_saas_licensing(
            &Harness::operator(),
            h.tenant(),
            id,
            SaasLicensingChanges {
                sku: Some(Some(sku.sku_id)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    h.clock.advance(Duration::days(61));
    let idle = h
        .directory
        .saas_reclamation(&Harness::operator(), h.tenant(), None, 10)
        .await
        .unwrap()
        .items;
    assert_eq!(idle.len(), 1);

    let reclaimed = h
        .directory
        .reclaim_saas_seat(&Harness::operator(), h.tenant(), id, &UserRef::Id(ada.id))
        .await
        .unwrap();
    assert_eq!(reclaimed.user_id, ada.id);
    assert!(
        h.directory
            .licenses_of(&Harness::operator(), h.tenant(), &[ada.id])
            .await
            .unwrap()
            .is_empty(),
        "the licence is gone"
    );
    let report = h
        .directory
        .saas_licenses(&Harness::operator(), h.tenant(), id)
        .await
        .unwrap();
    assert_eq!(report.seats_assigned, 0);
    assert!(report.idle.is_empty());
    let audit = h.store.list_audit_events(h.tenant(), 999).await.unwrap();
    let removal = audit
        .iter()
        .find(|e| e.activity == "Change user license" && e.operation_type == "Unassign")
        .expect("the licence removal is audited by the licence operation");
    assert_eq!(removal.target_id, Some(ada.id.to_string()));
    assert!(
        removal
            .details
            .contains(&("SkuPartNumber".into(), "DESIGN_SUITE".into()))
    );
    assert!(audit.iter().any(|e| e.activity == "Reclaim SaaS seat"));
    assert_eq!(outbox_count(&h, "user.licenseRemoved").await, 1);
    assert_eq!(outbox_count(&h, "saas.seatReclaimed").await, 1);
    let notices = mail_of(&h, MailKind::SaasNotice).await;
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].to[0].as_str(), "ada@contoso.test");
    let due = h.directory.claim_due_mail(10).await.unwrap();
    let notice = due
        .iter()
        .find(|m| matches!(m.message.content, MailContent::SaasNotice { .. }))
        .unwrap();
    match &notice.message.content {
        MailContent::SaasNotice {
            subject,
            paragraphs,
        } => {
            assert_eq!(subject, "Your Design Suite seat was reclaimed");
            assert!(paragraphs.iter().any(|p| p.contains("licence")));
        }
        other => panic!("{other:?}"),
    }

    // Nothing left to reclaim: refused by field, nothing written.
    let again = h
        .directory
        .reclaim_saas_seat(&Harness::operator(), h.tenant(), id, &UserRef::Id(ada.id))
        .await
        .unwrap_err();
    assert_eq!(refused_on(again), "userId");
    assert_eq!(outbox_count(&h, "saas.seatReclaimed").await, 1);
}

async fn a_contract_alerts_90_60_and_30_days_before_its_cancellation_deadline_once_each(
    h: Harness,
) {
    let ada = user(&h, "ada@contoso.test").await;
    let id = app_used_by(&h, "Renewing Suite", &[&ada]).await;
    // Ends 2027-06-01 with 30 days' notice: cancel by 2027-05-02. Alert days: 2027-02-01,
    // 2027-03-03 and 2027-04-02. The clock starts at 2026-11-24.
    h.directory
        .add_saas_contract(
            &Harness::operator(),
            h.tenant(),
            id,
            contract("2026-06-01", "2027-06-01", 30, 120_000, None),
        )
        .await
        .unwrap();
    let pass = || h.directory.saas_renewal_pass(h.tenant());
    assert_eq!(pass().await.unwrap().alerts_sent, 0);
    let to = |day: &str| {
        let target: chrono::DateTime<chrono::Utc> = format!("{day}T09:00:00Z").parse().unwrap();
        h.clock.advance(target - h.clock.now());
    };
    to("2027-01-31");
    assert_eq!(pass().await.unwrap().alerts_sent, 0, "a day early");
    to("2027-02-01");
    assert_eq!(pass().await.unwrap().alerts_sent, 1, "90 days before");
    assert_eq!(pass().await.unwrap().alerts_sent, 0, "the same day again");
    to("2027-03-02");
    assert_eq!(pass().await.unwrap().alerts_sent, 0);
    to("2027-03-03");
    assert_eq!(pass().await.unwrap().alerts_sent, 1, "60 days before");
    to("2027-04-02");
    // Two passes at once (two nodes): one sends.
    let (a, b) = tokio::join!(pass(), pass());
    assert_eq!(
        a.unwrap().alerts_sent + b.unwrap().alerts_sent,
        1,
        "30 days before, once"
    );
    to("2027-05-02");
    assert_eq!(pass().await.unwrap().alerts_sent, 0, "the deadline itself");
    to("2027-05-03");
    assert_eq!(pass().await.unwrap().alerts_sent, 0, "past the deadline");

    let mail = mail_of(&h, MailKind::SaasNotice).await;
    assert_eq!(mail.len(), 3);
    assert!(
        mail.iter().all(|m| m
            .to
            .iter()
            .any(|a| a.as_str() == h.boot.admin.user_principal_name.as_str())),
        "no owner: the Global Administrators are told"
    );
    assert_eq!(outbox_count(&h, "saas.renewalDue").await, 3);
    let due = h.directory.claim_due_mail(10).await.unwrap();
    let subjects: Vec<String> = due
        .iter()
        .filter_map(|m| match &m.message.content {
            MailContent::SaasNotice { subject, .. } => Some(subject.clone()),
            _ => None,
        })
        .collect();
    assert!(
        subjects.contains(&"Renewing Suite: cancel by 2027-05-02 (30 days left)".to_owned()),
        "{subjects:?}"
    );
}

async fn a_contract_added_inside_the_alert_window_alerts_once_and_offsets_can_be_set(h: Harness) {
    let ada = user(&h, "ada@contoso.test").await;
    let id = app_used_by(&h, "Late Suite", &[&ada]).await;
    h.directory
        .update_saas_app(
            &Harness::operator(),
            h.tenant(),
            id,
            latchkey_core::directory::SaasAppChanges {
                state: None,
                owner: Some(Some(UserRef::Id(ada.id))),
            },
        )
        .await
        .unwrap();
    let refused = h
        .directory
        .set_saas_renewal_offsets(&Harness::operator(), h.tenant(), vec![45, 0])
        .await
        .unwrap_err();
    assert_eq!(refused_on(refused), "renewalAlertDays");
    assert_eq!(
        h.directory
            .saas_renewal_offsets(&Harness::operator(), h.tenant())
            .await
            .unwrap(),
        [90, 60, 30]
    );
    h.directory
        .set_saas_renewal_offsets(&Harness::operator(), h.tenant(), vec![14, 45, 14])
        .await
        .unwrap();
    assert_eq!(
        h.directory
            .saas_renewal_offsets(&Harness::operator(), h.tenant())
            .await
            .unwrap(),
        [45, 14]
    );
    // Cancel by 2026-12-20 (26 days from 2026-11-24): 45 has passed, 14 has not come.
    h.directory
        .add_saas_contract(
            &Harness::operator(),
            h.tenant(),
            id,
            contract("2026-01-01", "2027-01-19", 30, 1_000, None),
        )
        .await
        .unwrap();
    assert_eq!(
        h.directory
            .saas_renewal_pass(h.tenant())
            .await
            .unwrap()
            .alerts_sent,
        1
    );
    h.clock.advance(Duration::days(1));
    assert_eq!(
        h.directory
            .saas_renewal_pass(h.tenant())
            .await
            .unwrap()
            .alerts_sent,
        0
    );
    let mail = mail_of(&h, MailKind::SaasNotice).await;
    assert_eq!(mail.len(), 1);
    assert_eq!(
        mail[0].to[0].as_str(),
        "ada@contoso.test",
        "the owner is told"
    );
    let upcoming = h
        .directory
        .upcoming_saas_renewals(&Harness::operator(), h.tenant(), 10)
        .await
        .unwrap();
    assert_eq!(upcoming.len(), 1);
    assert_eq!(upcoming[0].app_name, "Late Suite");
}

async fn two_claims_of_the_same_renewal_alert_make_one_winner(h: Harness) {
    let ada = user(&h, "ada@contoso.test").await;
    let id = app_used_by(&h, "Claimed Suite", &[&ada]).await;
    let c = h
        .directory
        .add_saas_contract(
            &Harness::operator(),
            h.tenant(),
            id,
            contract("2026-01-01", "2027-01-01", 30, 1_000, None),
        )
        .await
        .unwrap();
    let template = Events::new(
        h.store.list_audit_events(h.tenant(), 1).await.unwrap()[0].clone(),
        h.store.list_outbox_events(h.tenant(), 1).await.unwrap()[0].clone(),
    );
    let fresh = || {
        let mut e = template.clone();
        e.audit.id = EventId::new();
        e.outbox.id = EventId::new();
        e.outbox.kind = "test.alertClaimed".into();
        e
    };
    let deadline = c.cancellation_deadline();
    let now = h.clock.now();
    let (first, second) = (fresh(), fresh());
    let (a, b) = tokio::join!(
        h.store
            .claim_saas_renewal_alert(c.id, deadline, &[30], now, &first),
        h.store
            .claim_saas_renewal_alert(c.id, deadline, &[30], now, &second),
    );
    assert_eq!(
        [a.unwrap(), b.unwrap()].iter().filter(|w| **w).count(),
        1,
        "one claim wins"
    );
    assert_eq!(
        outbox_count(&h, "test.alertClaimed").await,
        1,
        "the loser wrote nothing"
    );
    // Another offset, or the same offset for another deadline, is another alert.
    assert!(
        h.store
            .claim_saas_renewal_alert(c.id, deadline, &[30, 60], now, &fresh())
            .await
            .unwrap()
    );
    assert!(
        h.store
            .claim_saas_renewal_alert(
                c.id,
                deadline + chrono::Days::new(365),
                &[30],
                now,
                &fresh()
            )
            .await
            .unwrap()
    );
    assert!(
        !h.store
            .claim_saas_renewal_alert(c.id, deadline, &[60, 30], now, &fresh())
            .await
            .unwrap()
    );
    assert_eq!(outbox_count(&h, "test.alertClaimed").await, 3);
}

async fn a_directory_without_the_master_key_leaves_renewal_alerts_for_the_server(h: Harness) {
    let ada = user(&h, "ada@contoso.test").await;
    let id = app_used_by(&h, "Unkeyed Suite", &[&ada]).await;
    // Cancel by 2026-12-20, inside the 30-day offset.
    h.directory
        .add_saas_contract(
            &Harness::operator(),
            h.tenant(),
            id,
            contract("2026-01-01", "2027-01-19", 30, 1_000, None),
        )
        .await
        .unwrap();
    // What an offline tool opens: the same store and clock, no master key.
    let offline = latchkey_core::Directory::new(
        h.store.clone(),
        latchkey_core::password::Hasher::new(latchkey_testkit::TEST_HASH, 1, 64).unwrap(),
        h.clock.clone(),
    );
    let refused = offline.saas_renewal_pass(h.tenant()).await.unwrap_err();
    assert!(
        matches!(refused, DirectoryError::Conflict(ref m) if m.contains("master key")),
        "{refused:?}"
    );
    assert_eq!(
        outbox_count(&h, "saas.renewalDue").await,
        0,
        "nothing recorded"
    );
    // The server's pass still sends it.
    assert_eq!(
        h.directory
            .saas_renewal_pass(h.tenant())
            .await
            .unwrap()
            .alerts_sent,
        1
    );
    assert_eq!(mail_of(&h, MailKind::SaasNotice).await.len(), 1);
}

async fn the_overlap_report_prices_seats_set_on_the_app(h: Harness) {
    let ada = user(&h, "ada@contoso.test").await;
    let mut ids = Vec::new();
    for name in ["Board One", "Board Two"] {
        let (app, _) = h
            .directory
            .add_saas_app(
                &Harness::operator(),
                h.tenant(),
                latchkey_core::directory::NewSaasApp {
                    name: name.into(),
                    vendor: None,
                    category: Some("Project management".into()),
                    owner: Some(UserRef::Id(ada.id)),
                    state: None,
                    contract: Some(contract("2026-01-01", "2027-06-01", 0, 120_000, None)),
                },
            )
            .await
            .unwrap();
        ids.push(app.id);
    }
    h.directory
        .set_saas_licensing(
            &Harness::operator(),
            h.tenant(),
            ids[1],
            SaasLicensingChanges {
                seats_bought: Some(Some(4)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let groups = h
        .directory
        .saas_overlaps(&Harness::operator(), h.tenant())
        .await
        .unwrap();
    assert_eq!(groups.len(), 1);
    let costs: Vec<(Option<u32>, Option<i64>)> = groups[0]
        .apps
        .iter()
        .map(|a| {
            let c = a.cost.as_ref().unwrap();
            (c.seats_bought, c.per_seat_monthly_minor)
        })
        .collect();
    // 1,200.00 a year is 100.00 a month; four seats set on the second app.
    assert_eq!(costs, [(None, None), (Some(4), Some(2_500))]);
    let page = h
        .directory
        .saas_overlaps_page(&Harness::operator(), h.tenant(), None, 1)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert!(page.next.is_none());
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
    seats_bought_come_from_the_contract_unless_set_on_the_app_and_assigned_are_its_users,
    a_seat_unused_past_the_apps_threshold_is_idle_with_its_saving_and_a_new_one_is_not,
    reclaiming_a_seat_of_an_app_that_is_a_sku_removes_the_licence_audited_and_tells_the_user,
    a_contract_alerts_90_60_and_30_days_before_its_cancellation_deadline_once_each,
    a_contract_added_inside_the_alert_window_alerts_once_and_offsets_can_be_set,
    two_claims_of_the_same_renewal_alert_make_one_winner,
    a_directory_without_the_master_key_leaves_renewal_alerts_for_the_server,
    the_overlap_report_prices_seats_set_on_the_app,
);
