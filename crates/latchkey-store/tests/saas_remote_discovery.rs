//! Discovery from a connected Microsoft 365 tenant through the directory and the real store,
//! on SQLite and PostgreSQL: what a pass read (service principals, grants, sign-ins) becomes
//! one discovered app with its local users (by UPN), their last use, the scopes and one alert
//! naming the risky ones; Microsoft's own apps are left out; the same pass again adds
//! nothing; a failed pass is recorded on the source and changes nothing else.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Duration, Utc};
use latchkey_core::authz::{Actor, Channel};
use latchkey_core::clock::Clock;
use latchkey_core::directory::{NewUser, PasswordChoice};
use latchkey_core::error::DirectoryError;
use latchkey_core::mail::{MailKind, MailQuery};
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::saas::{EvidenceSource, SaasApp, SaasAppState, SaasQuery};
use latchkey_core::saas_remote::{
    ConsentType, RemoteApp, RemoteGrant, RemoteObservations, RemoteSignIn,
};
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

async fn alerts(h: &Harness) -> usize {
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
        .count()
}

const NOTION: &str = "11111111-0000-0000-0000-000000000001";
const TEAMS: &str = "11111111-0000-0000-0000-000000000002";

fn observations(now: chrono::DateTime<Utc>) -> RemoteObservations {
    RemoteObservations {
        apps: vec![
            RemoteApp {
                app_id: NOTION.into(),
                display_name: "Notion".into(),
                app_owner_organization_id: Some("2f0c5bd4-0000-0000-0000-00000000abcd".into()),
                homepage: None,
                matched: None,
            },
            RemoteApp {
                app_id: TEAMS.into(),
                display_name: "Microsoft Teams".into(),
                app_owner_organization_id: Some("72f988bf-86f1-41af-91ab-2d7cd011db47".into()),
                homepage: None,
                matched: None,
            },
        ],
        grants: vec![
            RemoteGrant {
                id: "grant-ada".into(),
                client_app_id: NOTION.into(),
                consent_type: ConsentType::Principal,
                principal: Some("ADA@contoso.test".into()),
                scopes: vec!["User.Read".into(), "Mail.Read".into()],
            },
            RemoteGrant {
                id: "grant-teams".into(),
                client_app_id: TEAMS.into(),
                consent_type: ConsentType::AllPrincipals,
                principal: None,
                scopes: vec!["Files.ReadWrite.All".into()],
            },
        ],
        sign_ins: vec![
            RemoteSignIn {
                id: "s1".into(),
                app_id: NOTION.into(),
                user_principal_name: "ada@contoso.test".into(),
                at: now - Duration::days(3),
                succeeded: true,
            },
            RemoteSignIn {
                id: "s2".into(),
                app_id: NOTION.into(),
                user_principal_name: "ada@contoso.test".into(),
                at: now - Duration::days(1),
                succeeded: true,
            },
            RemoteSignIn {
                id: "s3".into(),
                app_id: NOTION.into(),
                user_principal_name: "stranger@elsewhere.test".into(),
                at: now - Duration::days(2),
                succeeded: true,
            },
            RemoteSignIn {
                id: "s4".into(),
                app_id: NOTION.into(),
                user_principal_name: "mallory@elsewhere.test".into(),
                at: now - Duration::days(2),
                succeeded: false,
            },
        ],
    }
}

async fn a_pass_discovers_the_app_with_its_user_scopes_and_one_alert_and_again_adds_nothing(
    h: Harness,
) {
    let ada = user(&h, "ada@contoso.test").await;
    let now = h.clock.now();
    let op = Harness::operator();
    let counts = h
        .directory
        .record_remote_saas_discovery(&op, h.tenant(), "Fabrikam", observations(now))
        .await
        .unwrap();
    assert_eq!(counts.apps_seen, 1);
    assert_eq!(counts.added, ["Notion"]);
    assert_eq!(counts.evidence, 3);
    let apps = all_apps(&h).await;
    assert_eq!(apps.len(), 1, "Microsoft's own apps are left out: {apps:?}");
    let detail = h
        .directory
        .get_saas_app(&op, h.tenant(), apps[0].id)
        .await
        .unwrap();
    assert_eq!(detail.app.state, SaasAppState::Discovered);
    assert_eq!(detail.app.permissions, ["User.Read", "Mail.Read"]);
    assert_eq!(detail.users.len(), 1);
    assert_eq!(detail.users[0].user_id, ada.id);
    assert_eq!(detail.users[0].last_used, now - Duration::days(1));
    assert_eq!(detail.users[0].permissions, ["User.Read", "Mail.Read"]);
    assert!(
        detail
            .evidence
            .iter()
            .all(|e| e.source == EvidenceSource::Microsoft365
                && e.detail.starts_with("microsoft365:Fabrikam: "))
    );
    let mut details: Vec<&str> = detail.evidence.iter().map(|e| e.detail.as_str()).collect();
    details.sort_unstable();
    assert_eq!(
        details,
        [
            "microsoft365:Fabrikam: ADA@contoso.test consented to User.Read Mail.Read",
            "microsoft365:Fabrikam: ada@contoso.test signed in 2 times",
            "microsoft365:Fabrikam: stranger@elsewhere.test signed in once",
        ]
    );
    assert_eq!(alerts(&h).await, 1);
    let source = h
        .directory
        .saas_discovery_source(&op, h.tenant(), "fabrikam")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(source.last_success, Some(now));
    assert_eq!(source.sign_in_cursor, Some(now - Duration::days(1)));
    assert_eq!(source.last_error, None);

    h.clock.advance(Duration::hours(1));
    let again = h
        .directory
        .record_remote_saas_discovery(&op, h.tenant(), "fabrikam", observations(now))
        .await
        .unwrap();
    assert!(again.added.is_empty());
    assert_eq!(again.evidence, 0);
    let after = h
        .directory
        .get_saas_app(&op, h.tenant(), apps[0].id)
        .await
        .unwrap();
    assert_eq!(after.users, detail.users);
    assert_eq!(after.evidence, detail.evidence);
    assert_eq!(all_apps(&h).await.len(), 1);
    assert_eq!(alerts(&h).await, 1);
}

async fn a_failed_pass_is_recorded_on_the_source_and_changes_nothing_else(h: Harness) {
    let op = Harness::operator();
    let now = h.clock.now();
    h.directory
        .record_remote_saas_discovery(&op, h.tenant(), "fabrikam", observations(now))
        .await
        .unwrap();
    let before = all_apps(&h).await;
    h.clock.advance(Duration::hours(1));
    let long = format!(
        "the connected tenant 'fabrikam' could not be read: {}",
        "x".repeat(500)
    );
    h.directory
        .record_remote_saas_failure(&op, h.tenant(), "Fabrikam", &long)
        .await
        .unwrap();
    let source = h
        .directory
        .saas_discovery_source(&op, h.tenant(), "fabrikam")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(source.last_success, Some(now));
    assert_eq!(source.last_error_at, Some(now + Duration::hours(1)));
    let error = source.last_error.unwrap();
    assert!(error.starts_with("the connected tenant 'fabrikam' could not be read"));
    assert_eq!(error.chars().count(), 300);
    assert_eq!(all_apps(&h).await, before);

    // The next successful pass clears the error.
    h.directory
        .record_remote_saas_discovery(&op, h.tenant(), "fabrikam", observations(now))
        .await
        .unwrap();
    let source = h
        .directory
        .saas_discovery_source(&op, h.tenant(), "fabrikam")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(source.last_error, None);
    assert_eq!(source.last_success, Some(now + Duration::hours(1)));
}

async fn recording_a_pass_needs_the_right_to_manage_the_inventory(h: Harness) {
    let reader = user(&h, "reader@contoso.test").await;
    let actor = Actor::User {
        id: reader.id,
        display: "reader@contoso.test".into(),
        roles: vec![latchkey_core::role::DirectoryRole::SaasSecurityReader],
        scopes: None,
        channel: Channel::AdminCenter,
    };
    let now = h.clock.now();
    let refused = h
        .directory
        .record_remote_saas_discovery(&actor, h.tenant(), "fabrikam", observations(now))
        .await
        .unwrap_err();
    assert!(matches!(refused, DirectoryError::Denied(_)), "{refused:?}");
    assert!(all_apps(&h).await.is_empty());
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
    a_pass_discovers_the_app_with_its_user_scopes_and_one_alert_and_again_adds_nothing,
    a_failed_pass_is_recorded_on_the_source_and_changes_nothing_else,
    recording_a_pass_needs_the_right_to_manage_the_inventory,
);
