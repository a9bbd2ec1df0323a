//! Shadow-IT discovery on the real sign-in pages: a user who consents to an app that is not
//! in the SaaS inventory puts it there, in the same request, as discovered with that user and
//! the permissions, and the Global Administrators' alert naming the risky permissions reaches
//! a real SMTP server (the testkit's sink). A sign-in to an app nobody consented to on the
//! pages (admin-consented) discovers it too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration as StdDuration;

use axum::http::StatusCode;
use latchkey_core::mail::MailAddress;
use latchkey_core::saas::{EvidenceSource, SaasApp, SaasAppState, SaasQuery};
use latchkey_mail::{DeliveryPass, Mailer, Security, SmtpConfig, deliver_due};
use latchkey_testkit::Harness;
use latchkey_testkit::browser::Browser;
use latchkey_testkit::smtp::SmtpSink;
use support::*;

mod support;

async fn inventory(w: &World) -> Vec<SaasApp> {
    w.h.directory
        .list_saas_apps(
            &Harness::operator(),
            w.h.tenant(),
            &SaasQuery {
                limit: 50,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .items
}

/// A message's text with quoted-printable soft breaks and folded headers undone.
fn unfolded(data: &str) -> String {
    data.replace("=\r\n", "").replace("\r\n ", " ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consenting_to_an_unknown_app_lists_it_as_discovered_and_alerts_the_admins_naming_risky_permissions()
 {
    // An administrator consented to the app's directory permissions; the user still has to
    // consent to reading their profile, on the consent page.
    let w = world(&["User.ReadWrite.All", "Directory.Read.All"], true).await;
    user(&w, "pat@contoso.test", false).await;
    assert!(inventory(&w).await.is_empty());
    let mut b = Browser::default();
    let scope = "openid profile User.Read User.ReadWrite.All Directory.Read.All";
    let sign_in = b.get(&w.app, &authorize_uri(&w, &[("scope", scope)])).await;
    let consent = b
        .submit(
            &w,
            &sign_in,
            "",
            &[("username", "pat@contoso.test"), ("password", PW)],
        )
        .await;
    assert!(
        consent.body.contains("Permissions requested"),
        "{}",
        consent.body
    );
    let back = b
        .submit(&w, &consent, "/consent", &[("decision", "accept")])
        .await;
    assert_eq!(back.status, StatusCode::FOUND, "{}", back.body);
    assert!(back.location().starts_with(REDIRECT));

    // Right after the consent's response, before any scan: the app is in the inventory.
    let apps = inventory(&w).await;
    assert_eq!(apps.len(), 1);
    let app = &apps[0];
    assert_eq!(app.name, "Contoso Web");
    assert_eq!(app.state, SaasAppState::Discovered);
    assert_eq!(app.latchkey_app_id.unwrap().to_string(), w.client_id);
    for p in ["User.Read", "User.ReadWrite.All", "Directory.Read.All"] {
        assert!(
            app.permissions.iter().any(|g| g == p),
            "{:?}",
            app.permissions
        );
    }
    let detail =
        w.h.directory
            .get_saas_app(&Harness::operator(), w.h.tenant(), app.id)
            .await
            .unwrap();
    let pat =
        w.h.store
            .find_user_by_upn(
                w.h.tenant(),
                &latchkey_core::names::Upn::parse("pat@contoso.test").unwrap(),
            )
            .await
            .unwrap()
            .unwrap();
    assert_eq!(detail.users.len(), 1);
    assert_eq!(detail.users[0].user_id, pat.id);
    let sources: Vec<EvidenceSource> = detail.evidence.iter().map(|e| e.source).collect();
    // Newest first: the sign-in that followed the consent, then the consent.
    assert_eq!(
        sources,
        [EvidenceSource::SignIn, EvidenceSource::UserConsent]
    );

    // The alert goes out through the real sender to the Global Administrator.
    let sink = SmtpSink::start().await.unwrap();
    let mailer = Mailer::new(&SmtpConfig {
        host: "127.0.0.1".into(),
        port: sink.port(),
        security: Security::None,
        username: None,
        password: None,
        from: MailAddress::parse("latchkey@contoso.test").unwrap(),
        timeout: StdDuration::from_secs(10),
    })
    .unwrap();
    let pass = deliver_due(&w.h.directory, &mailer).await.unwrap();
    assert_eq!(pass, DeliveryPass { sent: 1, failed: 0 });
    let got = sink.messages();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].to, ["admin@contoso.test"]);
    let data = unfolded(&got[0].data);
    assert!(
        data.contains(
            "Subject: New app discovered: Contoso Web (risky permissions: User.ReadWrite.All, Directory.Read.All)"
        ),
        "{data}"
    );
    assert!(
        data.contains("Risky permissions: User.ReadWrite.All, Directory.Read.All"),
        "{data}"
    );
    assert!(data.contains("pat@contoso.test"), "{data}");

    // Signing in again adds no second alert.
    let mut again = Browser::default();
    let page = again
        .get(&w.app, &authorize_uri(&w, &[("scope", scope)]))
        .await;
    let done = again
        .submit(
            &w,
            &page,
            "",
            &[("username", "pat@contoso.test"), ("password", PW)],
        )
        .await;
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.body);
    let pass = deliver_due(&w.h.directory, &mailer).await.unwrap();
    assert_eq!(pass, DeliveryPass { sent: 0, failed: 0 });
    assert_eq!(inventory(&w).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_to_an_admin_consented_app_discovers_it_with_the_user() {
    let w = world(&["User.Read"], true).await;
    user(&w, "pat@contoso.test", false).await;
    let mut b = Browser::default();
    let page = b.get(&w.app, &authorize_uri(&w, &[])).await;
    let done = b
        .submit(
            &w,
            &page,
            "",
            &[("username", "pat@contoso.test"), ("password", PW)],
        )
        .await;
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.body);
    let apps = inventory(&w).await;
    assert_eq!(apps.len(), 1);
    assert_eq!(apps[0].user_count, 1);
    let detail =
        w.h.directory
            .get_saas_app(&Harness::operator(), w.h.tenant(), apps[0].id)
            .await
            .unwrap();
    assert_eq!(detail.evidence[0].source, EvidenceSource::SignIn);
    assert!(
        detail.evidence[0]
            .detail
            .starts_with("pat@contoso.test signed in"),
        "{}",
        detail.evidence[0].detail
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_sign_in_after_consent_is_recorded_as_a_sign_in_too() {
    let w = world(&["User.Read"], false).await;
    user(&w, "pat@contoso.test", false).await;
    let started = Browser::default()
        .post(
            &w.app,
            &format!("/{}/oauth2/v2.0/devicecode", w.tid),
            &[
                ("client_id", w.client_id.as_str()),
                ("client_secret", w.secret.as_str()),
                ("scope", "openid profile User.Read"),
            ],
        )
        .await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    let started: serde_json::Value = serde_json::from_str(&started.body).unwrap();
    let mut b = Browser::default();
    let entry = b.get(&w.app, &format!("/{}/devicelogin", w.tid)).await;
    let sign_in = b
        .post(
            &w.app,
            &format!("/{}/devicelogin", w.tid),
            &[
                ("csrf", entry.hidden("csrf").as_str()),
                ("user_code", started["user_code"].as_str().unwrap()),
            ],
        )
        .await;
    let consent = b
        .submit(
            &w,
            &sign_in,
            "",
            &[("username", "pat@contoso.test"), ("password", PW)],
        )
        .await;
    assert!(
        consent.body.contains("Permissions requested"),
        "{}",
        consent.body
    );
    let done = b
        .submit(&w, &consent, "/consent", &[("decision", "accept")])
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let apps = inventory(&w).await;
    assert_eq!(apps.len(), 1);
    let detail =
        w.h.directory
            .get_saas_app(&Harness::operator(), w.h.tenant(), apps[0].id)
            .await
            .unwrap();
    let sources: Vec<EvidenceSource> = detail.evidence.iter().map(|e| e.source).collect();
    assert_eq!(
        sources,
        [EvidenceSource::SignIn, EvidenceSource::UserConsent]
    );
}
