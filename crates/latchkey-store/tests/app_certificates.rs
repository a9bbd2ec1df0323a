//! Certificate credentials on app registrations, through the real store, on SQLite and
//! PostgreSQL: added with their audit event, read back by `find_app` and `list_apps`, and the
//! refusals named.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use latchkey_core::directory::NewApp;
use latchkey_testkit::{Backend, Harness};

const CERT: &[u8] = include_bytes!("../../latchkey-core/src/testdata/rsa-cert.pem");

async fn app(h: &Harness, public_client: bool) -> latchkey_core::app::App {
    h.directory
        .create_app(
            &Harness::operator(),
            h.tenant(),
            NewApp {
                display_name: "Automation".into(),
                public_client,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .app
}

async fn a_certificate_is_stored_with_the_app_and_read_back_everywhere(h: Harness) {
    let a = app(&h, false).await;
    let added = h
        .directory
        .add_app_certificate(&Harness::operator(), h.tenant(), a.app_id, CERT, "ci")
        .await
        .unwrap();
    let found = h
        .directory
        .find_client(h.tenant(), a.app_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.certificates, vec![added.clone()]);
    assert_eq!(found.secrets.len(), 1, "the secret is kept beside it");
    let listed = h
        .directory
        .list_apps(&Harness::operator(), h.tenant())
        .await
        .unwrap();
    assert_eq!(listed[0].certificates, vec![added]);
    let audit = h.store.list_audit_events(h.tenant(), 1).await.unwrap();
    assert!(audit[0].activity.contains("Certificates and secrets"));
}

async fn the_same_certificate_twice_or_on_a_public_client_is_refused(h: Harness) {
    let a = app(&h, false).await;
    h.directory
        .add_app_certificate(&Harness::operator(), h.tenant(), a.app_id, CERT, "ci")
        .await
        .unwrap();
    let twice = h
        .directory
        .add_app_certificate(&Harness::operator(), h.tenant(), a.app_id, CERT, "again")
        .await
        .unwrap_err();
    assert!(twice.to_string().contains("already"), "{twice}");
    let public = app(&h, true).await;
    let e = h
        .directory
        .add_app_certificate(&Harness::operator(), h.tenant(), public.app_id, CERT, "ci")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("public client"), "{e}");
    let junk = h
        .directory
        .add_app_certificate(
            &Harness::operator(),
            h.tenant(),
            a.app_id,
            b"not a certificate",
            "x",
        )
        .await
        .unwrap_err();
    assert!(junk.to_string().contains("keyCredentials"), "{junk}");
    let found = h
        .directory
        .find_client(h.tenant(), a.app_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.certificates.len(), 1, "nothing else was written");
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
    a_certificate_is_stored_with_the_app_and_read_back_everywhere,
    the_same_certificate_twice_or_on_a_public_client_is_refused,
);
