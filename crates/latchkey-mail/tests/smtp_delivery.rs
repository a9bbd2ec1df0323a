//! Queued mail reaches a real SMTP server (the testkit's sink on loopback) through lettre;
//! a mail server that is down loses nothing, and each message is delivered once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration as StdDuration;

use chrono::Duration;
use latchkey_core::authz::{Actor, Channel};
use latchkey_core::directory::{NewUser, PasswordChoice, SetPassword, ViewOnceLink};
use latchkey_core::mail::{MailAddress, MailQuery, MailStatus};
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::user::{User, UserProfile};
use latchkey_mail::{DeliveryPass, Mailer, Security, SmtpConfig, deliver_due};
use latchkey_testkit::smtp::SmtpSink;
use latchkey_testkit::{Backend, Harness};
use secrecy::{ExposeSecret, SecretString};

fn config(port: u16) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        security: Security::None,
        username: None,
        password: None,
        from: MailAddress::parse("latchkey@contoso.test").unwrap(),
        timeout: StdDuration::from_secs(10),
    }
}

async fn user(h: &Harness) -> User {
    h.directory
        .create_user(
            &Harness::operator(),
            h.tenant(),
            NewUser {
                user_principal_name: Upn::parse("dorothy@contoso.test").unwrap(),
                display_name: DisplayName::parse("Dorothy Vaughan").unwrap(),
                mail_nickname: None,
                account_enabled: true,
                profile: UserProfile {
                    mail: Some("dorothy@mail.contoso.test".into()),
                    ..Default::default()
                },
                password_policies: Default::default(),
                password: PasswordChoice::Provided(SecretString::from("Fortran-Langley-1943")),
                force_change_next_sign_in: false,
                roles: vec![],
            },
        )
        .await
        .unwrap()
        .user
}

async fn reset_with_delivery(h: &Harness, u: &User) {
    let admin = h
        .directory
        .admin_center_caller(h.tenant(), &h.boot.admin)
        .await
        .unwrap();
    h.directory
        .reset_password_with_delivery(
            &admin,
            h.tenant(),
            u.id,
            u.version,
            SetPassword {
                choice: PasswordChoice::Generate,
                force_change_next_sign_in: true,
                force_change_with_mfa: false,
                reason: None,
            },
            ViewOnceLink {
                to: MailAddress::parse("dorothy@mail.contoso.test").unwrap(),
                link_prefix: "https://id.contoso.test/account/delivered/".into(),
                lifetime: None,
            },
        )
        .await
        .unwrap();
}

fn all() -> MailQuery {
    MailQuery {
        tenant: None,
        statuses: vec![],
        limit: 100,
    }
}

async fn a_reset_link_reaches_the_mail_server_through_a_real_smtp_conversation(h: Harness) {
    let sink = SmtpSink::start().await.unwrap();
    let mailer = Mailer::new(&config(sink.port())).unwrap();
    let u = user(&h).await;
    reset_with_delivery(&h, &u).await;

    let pass = deliver_due(&h.directory, &mailer).await.unwrap();
    assert_eq!(pass, DeliveryPass { sent: 1, failed: 0 });
    let got = sink.messages();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].from, "latchkey@contoso.test");
    assert_eq!(got[0].to, ["dorothy@mail.contoso.test"]);
    let data = &got[0].data;
    assert!(
        data.contains("Subject: A temporary password for dorothy@contoso.test is waiting"),
        "{data}"
    );
    assert!(data.contains("Auto-Submitted: auto-generated"), "{data}");
    assert!(data.contains("multipart/alternative"), "{data}");
    assert!(
        data.contains("https://id.contoso.test/account/delivered/"),
        "{data}"
    );
    // The link reveals the password; the message itself does not contain it.
    let token = token_in(data);
    let password = h.directory.reveal_view_once(&token).await.unwrap().password;
    assert!(!data.contains(password.expose_secret()));

    let queue = h.directory.mail_queue(&all()).await.unwrap();
    assert_eq!(queue[0].status, MailStatus::Sent);
    // Nothing more to send.
    assert_eq!(
        deliver_due(&h.directory, &mailer).await.unwrap().claimed(),
        0
    );
}

/// The token from the text part's link (quoted-printable may wrap long lines with `=`).
fn token_in(data: &str) -> String {
    let unwrapped = data.replace("=\r\n", "");
    let at = unwrapped
        .find("/account/delivered/")
        .expect("a link in the message");
    unwrapped[at + "/account/delivered/".len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// Every log line this test process writes, at every level.
fn logs() -> &'static std::sync::Arc<std::sync::Mutex<Vec<u8>>> {
    static LOGS: std::sync::OnceLock<std::sync::Arc<std::sync::Mutex<Vec<u8>>>> =
        std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || LogWriter(sink.clone()))
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buffer
    })
}

struct LogWriter(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn a_message_queued_while_the_mail_server_is_down_is_delivered_once_it_is_back(h: Harness) {
    logs();
    let mut sink = SmtpSink::start().await.unwrap();
    let mailer = Mailer::new(&config(sink.port())).unwrap();
    sink.stop().await;

    let u = user(&h).await;
    reset_with_delivery(&h, &u).await;
    // The reset itself succeeded, whatever the mail server does.
    let after = h.store.find_user(h.tenant(), u.id).await.unwrap().unwrap();
    assert!(after.force_change_password_next_sign_in);

    let pass = deliver_due(&h.directory, &mailer).await.unwrap();
    assert_eq!(pass, DeliveryPass { sent: 0, failed: 1 });
    let queue = h.directory.mail_queue(&all()).await.unwrap();
    assert_eq!(queue[0].status, MailStatus::Pending, "waiting, not lost");
    assert_eq!(queue[0].attempts, 1);
    let error = queue[0].last_error.clone().unwrap();
    assert!(
        error.contains(&format!("127.0.0.1:{}", sink.port())),
        "{error}"
    );

    // Still down at the next attempt.
    h.clock.advance(Duration::seconds(30));
    assert_eq!(deliver_due(&h.directory, &mailer).await.unwrap().failed, 1);

    sink.restart().await.unwrap();
    // Not yet due: the backoff holds it.
    assert_eq!(
        deliver_due(&h.directory, &mailer).await.unwrap().claimed(),
        0
    );
    h.clock.advance(Duration::seconds(60));
    assert_eq!(deliver_due(&h.directory, &mailer).await.unwrap().sent, 1);
    // Later passes find nothing: delivered exactly once.
    h.clock.advance(Duration::hours(2));
    assert_eq!(
        deliver_due(&h.directory, &mailer).await.unwrap().claimed(),
        0
    );
    assert_eq!(sink.messages().len(), 1);
    let token = token_in(&sink.messages()[0].data);
    let password = h.directory.reveal_view_once(&token).await.unwrap().password;
    let logged = String::from_utf8_lossy(&logs().lock().unwrap()).into_owned();
    assert!(logged.contains("mail not sent"), "the capture works");
    assert!(!logged.contains(&token), "the link is in no log line");
    assert!(
        !logged.contains(password.expose_secret()),
        "nor the password"
    );
}

async fn the_password_changed_notice_reaches_the_user(h: Harness) {
    let sink = SmtpSink::start().await.unwrap();
    let mailer = Mailer::new(&config(sink.port())).unwrap();
    let u = user(&h).await;
    let me = Actor::User {
        id: u.id,
        display: u.user_principal_name.to_string(),
        roles: vec![],
        scopes: None,
        channel: Channel::SelfService,
    };
    h.directory
        .set_password(
            &me,
            h.tenant(),
            &latchkey_core::directory::UserRef::Id(u.id),
            SetPassword {
                choice: PasswordChoice::Provided(SecretString::from("Harbour-Lantern-Quay-42")),
                force_change_next_sign_in: false,
                force_change_with_mfa: false,
                reason: None,
            },
        )
        .await
        .unwrap();
    deliver_due(&h.directory, &mailer).await.unwrap();
    let got = sink.messages();
    assert_eq!(got.len(), 1);
    assert!(
        got[0]
            .data
            .contains("Subject: Your Contoso password was changed")
    );
    assert!(!got[0].data.contains("Harbour-Lantern-Quay-42"));
}

async fn a_reset_code_reaches_the_user_and_no_log_line(h: Harness) {
    logs();
    let sink = SmtpSink::start().await.unwrap();
    let mailer = Mailer::new(&config(sink.port())).unwrap();
    let u = user(&h).await;
    h.directory
        .update_user(
            &Harness::operator(),
            h.tenant(),
            &latchkey_core::directory::UserRef::Id(u.id),
            latchkey_core::directory::UserChanges {
                other_mails: Some(vec!["dorothy.home@example.org".into()]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let flow = h
        .directory
        .sspr_start(
            h.tenant(),
            u.user_principal_name.as_str(),
            Some("192.0.2.1"),
        )
        .await
        .unwrap();
    h.directory.sspr_send_email_code(&flow).await.unwrap();
    assert_eq!(deliver_due(&h.directory, &mailer).await.unwrap().sent, 1);
    let got = sink.messages();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].to, ["dorothy.home@example.org"]);
    let data = got[0].data.replace("=\r\n", "");
    // The code follows the text part's "verification code is:" (headers carry digits too).
    let after = data
        .split_once("verification code is:")
        .expect("the code's line in the message")
        .1;
    let code: String = after
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| !w.is_empty())
        .expect("a code after it")
        .to_owned();
    assert_eq!(code.len(), 8, "{after}");
    // The code the message carries is the one that opens the reset.
    h.directory
        .sspr_verify(&flow, latchkey_core::sspr::VerificationMethod::Email, &code)
        .await
        .unwrap();
    let logged = String::from_utf8_lossy(&logs().lock().unwrap()).into_owned();
    assert!(!logged.contains(&code), "the code is in no log line");
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
    a_reset_link_reaches_the_mail_server_through_a_real_smtp_conversation,
    a_message_queued_while_the_mail_server_is_down_is_delivered_once_it_is_back,
    the_password_changed_notice_reaches_the_user,
    a_reset_code_reaches_the_user_and_no_log_line,
    a_server_without_starttls_gets_nothing_in_the_clear_when_starttls_is_required,
);

async fn a_server_without_starttls_gets_nothing_in_the_clear_when_starttls_is_required(h: Harness) {
    // The sink offers no STARTTLS (nor TLS on connect): with `starttls` or `tls` configured,
    // the message must stay queued rather than travel in the clear.
    let sink = SmtpSink::start().await.unwrap();
    let u = user(&h).await;
    reset_with_delivery(&h, &u).await;
    for security in [Security::StartTls, Security::Tls] {
        let mailer = Mailer::new(&SmtpConfig {
            security,
            ..config(sink.port())
        })
        .unwrap();
        let pass = deliver_due(&h.directory, &mailer).await.unwrap();
        assert_eq!(pass, DeliveryPass { sent: 0, failed: 1 }, "{security}");
        h.clock.advance(Duration::hours(1));
    }
    assert!(sink.messages().is_empty());
    let queue = h.directory.mail_queue(&all()).await.unwrap();
    assert_eq!(queue[0].status, MailStatus::Pending);
    assert_eq!(queue[0].attempts, 2);
}
