//! The e-mail send queue through the real store, on SQLite and PostgreSQL: messages are
//! queued with the change that causes them or not at all, claimed under a lease, retried
//! with backoff, given up after the last attempt, and their content is sealed at rest.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Duration;
use latchkey_core::authz::{Actor, Channel};
use latchkey_core::directory::{NewUser, PasswordChoice, SetPassword, UserRef};
use latchkey_core::mail::{
    CLAIM_LEASE, MAX_ATTEMPTS, MailAddress, MailContent, MailKind, MailQuery, MailStatus,
    OutgoingMail,
};
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::store::PasswordWrite;
use latchkey_core::user::{User, UserProfile};
use latchkey_testkit::{Backend, Harness};

use secrecy::SecretString;

async fn user_with_mail(h: &Harness, upn: &str, mail: &str) -> User {
    h.directory
        .create_user(
            &Harness::operator(),
            h.tenant(),
            NewUser {
                user_principal_name: Upn::parse(upn).unwrap(),
                display_name: DisplayName::parse("Grace Hopper").unwrap(),
                mail_nickname: None,
                account_enabled: true,
                profile: UserProfile {
                    mail: Some(mail.into()),
                    ..Default::default()
                },
                password_policies: Default::default(),
                password: PasswordChoice::Provided(SecretString::from("Compiler-Moth-1947")),
                force_change_next_sign_in: false,
                roles: vec![],
            },
        )
        .await
        .unwrap()
        .user
}

fn pending() -> MailQuery {
    MailQuery {
        tenant: None,
        statuses: vec![MailStatus::Pending],
        limit: 100,
    }
}

fn self_service(u: &User) -> Actor {
    Actor::User {
        id: u.id,
        display: u.user_principal_name.to_string(),
        roles: vec![],
        scopes: None,
        channel: Channel::SelfService,
    }
}

/// A user changes their own password: the notice is queued with the change.
async fn change_own_password(h: &Harness, u: &User) {
    h.directory
        .set_password(
            &self_service(u),
            h.tenant(),
            &UserRef::Id(u.id),
            SetPassword {
                choice: PasswordChoice::Provided(SecretString::from("Harbour-Lantern-Quay-42")),
                force_change_next_sign_in: false,
                force_change_with_mfa: false,
                reason: None,
            },
        )
        .await
        .unwrap();
}

async fn a_self_service_change_queues_a_notice_to_the_user_with_the_change(h: Harness) {
    let u = user_with_mail(&h, "grace@contoso.test", "grace@mail.contoso.test").await;
    assert!(h.directory.mail_queue(&pending()).await.unwrap().is_empty());
    change_own_password(&h, &u).await;
    let queued = h.directory.mail_queue(&pending()).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].kind, MailKind::PasswordChanged);
    assert_eq!(queued[0].to[0].as_str(), "grace@mail.contoso.test");
    assert_eq!(queued[0].status, MailStatus::Pending);
    assert_eq!(queued[0].attempts, 0);
    assert_eq!(queued[0].tenant_id, h.tenant());
}

async fn an_admin_reset_queues_no_notice(h: Harness) {
    let u = user_with_mail(&h, "grace@contoso.test", "grace@mail.contoso.test").await;
    h.directory
        .set_password(
            &Harness::operator(),
            h.tenant(),
            &UserRef::Id(u.id),
            SetPassword {
                choice: PasswordChoice::Generate,
                force_change_next_sign_in: true,
                force_change_with_mfa: false,
                reason: None,
            },
        )
        .await
        .unwrap();
    assert!(h.directory.mail_queue(&pending()).await.unwrap().is_empty());
}

async fn a_change_that_fails_to_commit_queues_nothing_and_a_bad_message_undoes_the_change(
    h: Harness,
) {
    let u = user_with_mail(&h, "grace@contoso.test", "grace@mail.contoso.test").await;
    let before = h.store.find_password_hash(h.tenant(), u.id).await.unwrap();
    // A message for a tenant that does not exist: its insert fails inside the transaction,
    // after the credential was updated, and the whole change must roll back.
    let key = latchkey_core::crypto::MasterKey::generate();
    let orphan = OutgoingMail::seal(
        &key,
        latchkey_core::ids::TenantId::new(),
        vec![MailAddress::parse("x@contoso.test").unwrap()],
        "Nobody",
        &MailContent::Test {
            sent_by: "test".into(),
        },
        h.clock.now_for_tests(),
    )
    .unwrap();
    let mut events = latchkey_core::audit::Events::new(
        h.store.list_audit_events(h.tenant(), 1).await.unwrap()[0].clone(),
        h.store.list_outbox_events(h.tenant(), 1).await.unwrap()[0].clone(),
    );
    events.audit.id = latchkey_core::ids::EventId::new();
    events.outbox.id = latchkey_core::ids::EventId::new();
    events.mail.push(orphan);
    let write = PasswordWrite {
        tenant_id: h.tenant(),
        user_id: u.id,
        expected_version: u.version,
        hash: h
            .directory
            .hasher()
            .hash(&SecretString::from("Another-Harbour-Lantern-9"))
            .await
            .unwrap(),
        changed_at: h.clock.now_for_tests(),
        force_change_next_sign_in: false,
        force_change_with_mfa: false,
        revoke_sessions_from: None,
    };
    assert!(h.store.write_password(&write, &events).await.is_err());
    assert_eq!(
        h.store.find_password_hash(h.tenant(), u.id).await.unwrap(),
        before
    );
    assert!(h.directory.mail_queue(&pending()).await.unwrap().is_empty());
}

async fn a_claimed_message_is_leased_to_one_sender_until_the_lease_runs_out(h: Harness) {
    let u = user_with_mail(&h, "grace@contoso.test", "grace@mail.contoso.test").await;
    change_own_password(&h, &u).await;
    let first = h.directory.claim_due_mail(10).await.unwrap();
    assert_eq!(first.len(), 1);
    assert!(matches!(
        first[0].message.content,
        MailContent::PasswordChanged { .. }
    ));
    assert_eq!(first[0].message.organization, "Contoso");
    // Another sender (another node) finds nothing while the lease holds.
    assert!(h.directory.claim_due_mail(10).await.unwrap().is_empty());
    h.clock.advance(CLAIM_LEASE + Duration::seconds(1));
    let second = h.directory.claim_due_mail(10).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_ne!(second[0].lease, first[0].lease);
    // The first sender lost its lease: its report is refused, the second one's counts.
    assert!(!h.directory.mail_sent(&first[0]).await.unwrap());
    assert!(h.directory.mail_sent(&second[0]).await.unwrap());
    assert!(h.directory.mail_queue(&pending()).await.unwrap().is_empty());
    let sent = h
        .directory
        .mail_queue(&MailQuery {
            tenant: Some(h.tenant()),
            statuses: vec![MailStatus::Sent],
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].sealed_content, None, "sent content is wiped");
    assert_eq!(sent[0].sent_at, Some(h.clock.now_for_tests()));
}

async fn a_failed_attempt_is_retried_later_and_given_up_after_the_last(h: Harness) {
    let u = user_with_mail(&h, "grace@contoso.test", "grace@mail.contoso.test").await;
    change_own_password(&h, &u).await;
    let due = h.directory.claim_due_mail(10).await.unwrap();
    assert!(
        h.directory
            .mail_failed(&due[0], "Connection refused", false)
            .await
            .unwrap()
    );
    let queued = h.directory.mail_queue(&pending()).await.unwrap();
    assert_eq!(queued[0].attempts, 1);
    assert_eq!(queued[0].last_error.as_deref(), Some("Connection refused"));
    assert_eq!(
        queued[0].next_attempt_at,
        h.clock.now_for_tests() + Duration::seconds(30)
    );
    // Not before its time.
    assert!(h.directory.claim_due_mail(10).await.unwrap().is_empty());
    for attempt in 1..MAX_ATTEMPTS {
        h.clock.advance(Duration::hours(1));
        let due = h.directory.claim_due_mail(10).await.unwrap();
        assert_eq!(due.len(), 1, "attempt {}", attempt + 1);
        assert_eq!(due[0].attempts, attempt);
        h.directory
            .mail_failed(&due[0], "Connection refused", false)
            .await
            .unwrap();
    }
    h.clock.advance(Duration::hours(2));
    assert!(h.directory.claim_due_mail(10).await.unwrap().is_empty());
    let failed = h
        .directory
        .mail_queue(&MailQuery {
            tenant: Some(h.tenant()),
            statuses: vec![MailStatus::Failed],
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].attempts, MAX_ATTEMPTS);
    assert_eq!(failed[0].sealed_content, None);
}

async fn a_permanent_refusal_fails_the_message_at_once(h: Harness) {
    let u = user_with_mail(&h, "grace@contoso.test", "grace@mail.contoso.test").await;
    change_own_password(&h, &u).await;
    let due = h.directory.claim_due_mail(10).await.unwrap();
    h.directory
        .mail_failed(&due[0], "550 5.1.1 no such mailbox", true)
        .await
        .unwrap();
    let all = h
        .directory
        .mail_queue(&MailQuery {
            tenant: None,
            statuses: vec![],
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(all[0].status, MailStatus::Failed);
    assert_eq!(all[0].attempts, 1);
}

async fn queued_content_is_sealed_in_the_queue(h: Harness) {
    let u = user_with_mail(&h, "grace@contoso.test", "grace@mail.contoso.test").await;
    change_own_password(&h, &u).await;
    // The display name is in the content only: the queued row holds it sealed.
    let queued = h.directory.mail_queue(&pending()).await.unwrap();
    let sealed = queued[0].sealed_content.as_deref().unwrap();
    assert!(!sealed.windows(5).any(|w| w == b"Grace"));
    assert!(!format!("{queued:?}").contains("Grace"));
    let due = h.directory.claim_due_mail(1).await.unwrap();
    match &due[0].message.content {
        MailContent::PasswordChanged { display_name, .. } => {
            assert_eq!(display_name, "Grace Hopper")
        }
        other => panic!("{other:?}"),
    }
}

async fn two_senders_claiming_at_once_never_get_the_same_message(h: Harness) {
    for n in 0..12 {
        let u = user_with_mail(
            &h,
            &format!("grace{n}@contoso.test"),
            &format!("grace{n}@mail.contoso.test"),
        )
        .await;
        change_own_password(&h, &u).await;
    }
    let (a, b) = tokio::join!(h.directory.claim_due_mail(8), h.directory.claim_due_mail(8));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.len() + b.len(), 12, "every due message is claimed once");
    for x in &a {
        assert!(b.iter().all(|y| y.id != x.id), "{} claimed twice", x.id);
    }
}

trait NowForTests {
    fn now_for_tests(&self) -> chrono::DateTime<chrono::Utc>;
}

impl NowForTests for latchkey_core::clock::ManualClock {
    fn now_for_tests(&self) -> chrono::DateTime<chrono::Utc> {
        use latchkey_core::clock::Clock;
        self.now()
    }
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
    a_self_service_change_queues_a_notice_to_the_user_with_the_change,
    an_admin_reset_queues_no_notice,
    a_change_that_fails_to_commit_queues_nothing_and_a_bad_message_undoes_the_change,
    a_claimed_message_is_leased_to_one_sender_until_the_lease_runs_out,
    a_failed_attempt_is_retried_later_and_given_up_after_the_last,
    a_permanent_refusal_fails_the_message_at_once,
    queued_content_is_sealed_in_the_queue,
    two_senders_claiming_at_once_never_get_the_same_message,
);
