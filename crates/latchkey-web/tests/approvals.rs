//! The approval page behind a workflow's e-mailed link, through the real routers (the
//! identity platform's and the web crate's), in process, as a browser sees it, on SQLite and
//! PostgreSQL at an injected clock: the link from the approver's e-mail (a real SMTP sink)
//! leads through My account's sign-in and back; the `GET` shows who and what is asking and
//! decides nothing; a `POST` without the CSRF token decides nothing; another signed-in user
//! is refused; the approver's `POST` decides and the run goes on; decided and expired
//! requests show their state; a bad token gets the same not-found page as an unknown one;
//! the token is nowhere in the store in plaintext.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::StatusCode;
use chrono::Duration;
use latchkey_automation::Engine;
use latchkey_core::approval::ApprovalStatus;
use latchkey_core::directory::UserRef;
use latchkey_core::mail::MailAddress;
use latchkey_core::workflow_store::RunStatus;
use latchkey_mail::{Mailer, Security, SmtpConfig, deliver_due};
use latchkey_testkit::browser::{Browser, Page};
use latchkey_testkit::smtp::SmtpSink;
use latchkey_testkit::{Backend, Harness};
use support::{PW, World, contains, stored_bytes, user};

mod support;

const PUBLIC: &str = "https://id.contoso.test";

async fn world(backend: Backend) -> World {
    let h = Harness::new(backend).await;
    let app = support::app(&h, PUBLIC);
    World { h, app }
}

fn sink_mailer(sink: &SmtpSink) -> Mailer {
    Mailer::new(&SmtpConfig {
        host: "127.0.0.1".into(),
        port: sink.port(),
        security: Security::None,
        username: None,
        password: None,
        from: MailAddress::parse("latchkey@contoso.test").unwrap(),
        timeout: std::time::Duration::from_secs(10),
    })
    .unwrap()
}

/// The link's path from the text part (quoted-printable may wrap long lines with `=`).
fn link_in(data: &str) -> String {
    let unwrapped = data.replace("=\r\n", "");
    let at = unwrapped
        .find("/account/approvals/")
        .expect("a link in the message");
    let token: String = unwrapped[at + "/account/approvals/".len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    assert!(unwrapped.contains(&format!("{PUBLIC}/account/approvals/{token}")));
    format!("/account/approvals/{token}")
}

/// Ada, whose manager is Morgan (with a mailbox), and Sam; a manual workflow asking the
/// manager to approve (`timeoutDays` days) before setting Ada's department. Returns the
/// engine and the link's path from Morgan's e-mail.
async fn asked(w: &World, timeout_days: i64) -> (Engine, String) {
    let op = Harness::operator();
    let ada = user(w, "ada@contoso.test", "Ada <b>Lovelace</b>", vec![]).await;
    let morgan = user(w, "morgan@contoso.test", "Morgan Manager", vec![]).await;
    user(w, "sam@contoso.test", "Sam Other", vec![]).await;
    let ada: latchkey_core::ids::UserId = ada.parse().unwrap();
    let morgan: latchkey_core::ids::UserId = morgan.parse().unwrap();
    w.h.directory
        .update_user(
            &op,
            w.h.tenant(),
            &UserRef::Id(morgan),
            latchkey_core::directory::UserChanges {
                text: vec![(
                    latchkey_core::directory::ProfileField::Mail,
                    Some("morgan@mail.contoso.test".into()),
                )],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    w.h.directory
        .set_manager(&op, w.h.tenant(), &UserRef::Id(ada), morgan)
        .await
        .unwrap();
    w.h.directory
        .save_workflow(
            &op,
            w.h.tenant(),
            &format!(
                r#"{{"name": "Lab access", "trigger": {{"kind": "manual"}}, "steps": [
                {{"action": "requestApproval", "approver": "manager", "timeoutDays": {timeout_days},
                  "message": "{{{{ user.displayName }}}} needs the lab."}},
                {{"action": "setAttributes", "attributes": {{"department": "Lab"}}}}]}}"#
            ),
        )
        .await
        .unwrap();
    let engine = Engine::new(w.h.directory.clone()).with_public_url(PUBLIC);
    engine
        .run_manually(w.h.tenant(), "lab access", &[UserRef::Id(ada)], false)
        .await
        .unwrap();
    engine.run_until_idle().await.unwrap();
    let sink = SmtpSink::start().await.unwrap();
    deliver_due(&w.h.directory, &sink_mailer(&sink))
        .await
        .unwrap();
    let got = sink.messages();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].to, ["morgan@mail.contoso.test"]);
    (engine, link_in(&got[0].data))
}

/// Opens `link` signed out: My account's sign-in, as `upn`, and back to the link.
async fn open_signed_in(w: &World, b: &mut Browser, link: &str, upn: &str) -> Page {
    let start = b.get(&w.app, link).await;
    assert_eq!(start.status, StatusCode::SEE_OTHER, "{}", start.body);
    assert!(start.location().contains("/oauth2/v2.0/authorize?"));
    let page = b.get(&w.app, start.location()).await;
    let csrf = page.hidden("csrf");
    let request = page.hidden("request");
    let done = b
        .post(
            &w.app,
            &format!("/{}/login", w.h.tenant()),
            &[
                ("csrf", csrf.as_str()),
                ("request", request.as_str()),
                ("username", upn),
                ("password", PW),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.body);
    let back = b.get(&w.app, done.location()).await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
    assert_eq!(back.location(), link, "the sign-in comes back to the link");
    b.get(&w.app, link).await
}

async fn status_of(w: &World, link: &str) -> ApprovalStatus {
    let token = link.rsplit('/').next().unwrap();
    w.h.directory.approval_by_token(token).await.unwrap().status
}

async fn the_approver_signs_in_sees_the_request_and_decides_with_a_post(backend: Backend) {
    let w = world(backend).await;
    let (engine, link) = asked(&w, 3).await;

    let mut b = Browser::at(PUBLIC);
    let page = open_signed_in(&w, &mut b, &link, "morgan@contoso.test").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.text("workflow"), "Lab access");
    assert_eq!(
        page.text("subject"),
        "Ada &#60;b&#62;Lovelace&#60;/b&#62;",
        "shown as text"
    );
    assert!(!page.body.contains("<b>Lovelace"), "escaped");
    assert_eq!(page.text("subject-upn"), "ada@contoso.test");
    assert!(page.body.contains("needs the lab."));
    assert!(page.body.contains("id=\"approve\"") && page.body.contains("id=\"reject\""));
    assert!(!page.body.contains("<script"));
    // Loading the page (as a mail scanner would, twice) decides nothing.
    b.get(&w.app, &link).await;
    assert_eq!(status_of(&w, &link).await, ApprovalStatus::Pending);

    // A POST without the CSRF token decides nothing.
    let forged = b.post(&w.app, &link, &[("decision", "approve")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(forged.text("heading"), "Nothing was decided");
    assert_eq!(status_of(&w, &link).await, ApprovalStatus::Pending);

    // Another signed-in user is refused, on GET and on POST with their own token.
    let mut sam = Browser::at(PUBLIC);
    let theirs = open_signed_in(&w, &mut sam, &link, "sam@contoso.test").await;
    assert_eq!(theirs.status, StatusCode::FORBIDDEN);
    assert_eq!(
        theirs.text("heading"),
        "This request is not yours to decide"
    );
    assert!(!theirs.body.contains("needs the lab."));
    let home = sam.get(&w.app, "/account").await;
    let sam_csrf = home.hidden("csrf");
    let refused = sam
        .post(
            &w.app,
            &link,
            &[("csrf", sam_csrf.as_str()), ("decision", "approve")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(status_of(&w, &link).await, ApprovalStatus::Pending);

    // The approver approves; the run goes on.
    let csrf = page.hidden("csrf");
    let done = b
        .post(
            &w.app,
            &link,
            &[("csrf", csrf.as_str()), ("decision", "approve")],
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.text("heading"), "Approved");
    assert_eq!(done.text("state"), "approved");
    engine.run_until_idle().await.unwrap();
    let runs =
        w.h.directory
            .list_workflow_runs(&Harness::operator(), w.h.tenant(), None, 10)
            .await
            .unwrap();
    assert_eq!(runs[0].status, RunStatus::Succeeded);

    // Decided: the link shows the decision, and a second POST changes nothing.
    let again = b.get(&w.app, &link).await;
    assert_eq!(again.text("heading"), "Approved");
    assert!(!again.body.contains("id=\"approve\""));
    let late = b
        .post(
            &w.app,
            &link,
            &[("csrf", csrf.as_str()), ("decision", "reject")],
        )
        .await;
    assert_eq!(late.text("state"), "approved");
    assert_eq!(status_of(&w, &link).await, ApprovalStatus::Approved);

    // The token is nowhere in the store in plaintext.
    let token = link.rsplit('/').next().unwrap();
    assert!(!contains(&stored_bytes(&w).await, token));
}

async fn an_expired_request_shows_it_and_decides_nothing(backend: Backend) {
    let w = world(backend).await;
    let (_, link) = asked(&w, 1).await;
    w.h.clock.advance(Duration::days(1) + Duration::minutes(1));
    let mut b = Browser::at(PUBLIC);
    let expired = open_signed_in(&w, &mut b, &link, "morgan@contoso.test").await;
    assert_eq!(expired.status, StatusCode::OK);
    assert_eq!(expired.text("heading"), "This request has expired");
    assert!(!expired.body.contains("id=\"approve\""));
    let csrf = b.get(&w.app, "/account").await.hidden("csrf");
    let post = b
        .post(
            &w.app,
            &link,
            &[("csrf", csrf.as_str()), ("decision", "approve")],
        )
        .await;
    assert_eq!(post.text("heading"), "This request has expired");
    assert_eq!(status_of(&w, &link).await, ApprovalStatus::Pending);
}

async fn a_bad_or_unknown_token_gets_the_same_not_found_page(backend: Backend) {
    let w = world(backend).await;
    let (_, link) = asked(&w, 3).await;
    let mut b = Browser::at(PUBLIC);
    open_signed_in(&w, &mut b, &link, "morgan@contoso.test").await;
    let unknown = format!("/account/approvals/{}", "A".repeat(43));
    let pages = [
        b.get(&w.app, "/account/approvals/nope").await,
        b.get(&w.app, &unknown).await,
        b.get(&w.app, &format!("{link}x")).await,
    ];
    for p in &pages {
        assert_eq!(p.status, StatusCode::NOT_FOUND);
        assert_eq!(p.body, pages[0].body);
        assert_eq!(p.text("heading"), "This approval link does not work");
    }
    let csrf = b.get(&w.app, "/account").await.hidden("csrf");
    let post = b
        .post(
            &w.app,
            &unknown,
            &[("csrf", csrf.as_str()), ("decision", "approve")],
        )
        .await;
    assert_eq!(post.status, StatusCode::NOT_FOUND);
    assert_eq!(post.body, pages[0].body);
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
    the_approver_signs_in_sees_the_request_and_decides_with_a_post,
    an_expired_request_shows_it_and_decides_nothing,
    a_bad_or_unknown_token_gets_the_same_not_found_page,
);
