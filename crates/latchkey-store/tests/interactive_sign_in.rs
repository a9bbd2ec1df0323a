//! Interactive sign-in through the real store, on SQLite and PostgreSQL: browser sessions
//! and their revocation, the forced password change at sign-in, users' consent, and
//! single-use authorization codes bound to client, redirect URI and PKCE.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use base64::Engine;
use chrono::Duration;
use latchkey_core::app::App;
use latchkey_core::clock::Clock;
use latchkey_core::directory::{
    ClientRef, CodeError, DeviceCodeError, NewApp, NewAuthorizationCode, NewUser,
    PasswordChangeError, PasswordChoice, SetPassword, SignInError, UserRef,
};
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::sign_in::RefreshTokenRecord;
use latchkey_core::user::User;
use latchkey_testkit::{Backend, Harness};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

const PW: &str = "Blue-Harbour-Lantern-7";
const NEW_PW: &str = "Green-Meadow-Compass-42";
const REDIRECT: &str = "http://localhost:5000/callback";

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

fn client() -> ClientRef {
    ClientRef {
        app_id: None,
        display_name: Some("Pages".into()),
    }
}

async fn user(h: &Harness, upn: &str, force_change: bool) -> User {
    h.directory
        .create_user(
            &Harness::operator(),
            h.tenant(),
            NewUser {
                user_principal_name: Upn::parse(upn).unwrap(),
                display_name: DisplayName::parse("Pat Example").unwrap(),
                mail_nickname: None,
                account_enabled: true,
                profile: Default::default(),
                password_policies: Default::default(),
                password: PasswordChoice::Provided(secret(PW)),
                force_change_next_sign_in: force_change,
                roles: vec![],
            },
        )
        .await
        .unwrap()
        .user
}

async fn app(h: &Harness, delegated: &[&str], admin_consent: bool) -> App {
    h.directory
        .create_app(
            &Harness::operator(),
            h.tenant(),
            NewApp {
                display_name: "Web app".into(),
                redirect_uris: vec![REDIRECT.into()],
                delegated_permissions: delegated.iter().map(|s| (*s).to_owned()).collect(),
                grant_admin_consent: admin_consent,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .app
}

fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

const VERIFIER: &str = "a-long-enough-code-verifier-for-pkce-0123456789";

async fn code_for(h: &Harness, u: &User, a: &App) -> SecretString {
    h.directory
        .issue_authorization_code(NewAuthorizationCode {
            tenant_id: h.tenant(),
            user_id: u.id,
            client_id: a.app_id,
            redirect_uri: REDIRECT.into(),
            code_challenge: challenge(VERIFIER),
            nonce: Some("n-0S6_WzA2Mj".into()),
            scopes: "openid profile offline_access User.Read".into(),
            auth_time: h.clock.now(),
            mfa: false,
        })
        .await
        .unwrap()
}

async fn a_session_opens_with_its_cookie_and_only_its_digest_is_stored(h: Harness) {
    let u = user(&h, "pat@contoso.test", false).await;
    let (cookie, record) = h.directory.start_sign_in_session(&u).await.unwrap();
    assert_ne!(record.digest.to_vec(), cookie.expose_secret().as_bytes());
    let (found, who) = h
        .directory
        .find_sign_in_session(h.tenant(), &cookie)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((found.id, who.id), (record.id, u.id));
    assert!(
        h.directory
            .find_sign_in_session(h.tenant(), &secret("not-a-session"))
            .await
            .unwrap()
            .is_none()
    );
}

async fn a_session_dies_at_sign_out_expiry_and_password_change(h: Harness) {
    let u = user(&h, "pat@contoso.test", false).await;
    let (ended, _) = h.directory.start_sign_in_session(&u).await.unwrap();
    h.directory.end_sign_in_session(&ended).await.unwrap();
    assert!(
        h.directory
            .find_sign_in_session(h.tenant(), &ended)
            .await
            .unwrap()
            .is_none()
    );

    let (old, _) = h.directory.start_sign_in_session(&u).await.unwrap();
    h.clock.advance(Duration::seconds(1));
    h.directory
        .set_password(
            &Harness::operator(),
            h.tenant(),
            &UserRef::Id(u.id),
            SetPassword {
                choice: PasswordChoice::Provided(secret(NEW_PW)),
                force_change_next_sign_in: false,
                force_change_with_mfa: false,
                reason: None,
            },
        )
        .await
        .unwrap();
    assert!(
        h.directory
            .find_sign_in_session(h.tenant(), &old)
            .await
            .unwrap()
            .is_none(),
        "a password reset ends every earlier session"
    );

    let u = h
        .directory
        .find_active_user(h.tenant(), u.id)
        .await
        .unwrap()
        .unwrap();
    let (late, _) = h.directory.start_sign_in_session(&u).await.unwrap();
    h.clock.advance(Duration::hours(12));
    assert!(
        h.directory
            .find_sign_in_session(h.tenant(), &late)
            .await
            .unwrap()
            .is_none(),
        "sessions expire"
    );
}

async fn the_forced_change_sets_the_new_password_clears_the_flag_and_is_audited(h: Harness) {
    let u = user(&h, "new@contoso.test", true).await;
    let changed = h
        .directory
        .change_password_at_sign_in(
            h.tenant(),
            "new@contoso.test",
            &secret(PW),
            &secret(NEW_PW),
            &client(),
            false,
        )
        .await
        .unwrap();
    assert_eq!(changed.id, u.id);
    assert!(!changed.force_change_password_next_sign_in);
    h.directory
        .sign_in_with_password(h.tenant(), "new@contoso.test", &secret(NEW_PW), &client())
        .await
        .unwrap();
    assert!(matches!(
        h.directory
            .sign_in_with_password(h.tenant(), "new@contoso.test", &secret(PW), &client())
            .await,
        Err(SignInError::WrongPassword)
    ));
    let audit = h.store.list_audit_events(h.tenant(), 5).await.unwrap();
    let change = audit
        .iter()
        .find(|a| a.activity == "Change user password")
        .unwrap();
    assert_eq!(
        change.initiated_by.id.as_deref(),
        Some(u.id.to_string().as_str())
    );
    assert_eq!(change.channel.as_str(), "selfService");
    assert!(
        !format!("{audit:?}").contains("Compass"),
        "no password in the audit log"
    );
}

async fn the_forced_change_refuses_a_wrong_current_password_and_writes_nothing(h: Harness) {
    let u = user(&h, "new@contoso.test", true).await;
    let e = h
        .directory
        .change_password_at_sign_in(
            h.tenant(),
            "new@contoso.test",
            &secret("Wrong-Current-1"),
            &secret(NEW_PW),
            &client(),
            false,
        )
        .await
        .unwrap_err();
    assert!(matches!(
        e,
        PasswordChangeError::SignIn(SignInError::WrongPassword)
    ));
    let same = h
        .directory
        .change_password_at_sign_in(
            h.tenant(),
            "new@contoso.test",
            &secret(PW),
            &secret(PW),
            &client(),
            false,
        )
        .await
        .unwrap_err();
    assert!(matches!(same, PasswordChangeError::SameAsCurrent));
    let weak = h
        .directory
        .change_password_at_sign_in(
            h.tenant(),
            "new@contoso.test",
            &secret(PW),
            &secret("short"),
            &client(),
            false,
        )
        .await
        .unwrap_err();
    assert!(matches!(
        weak,
        PasswordChangeError::Directory(latchkey_core::DirectoryError::Policy(_))
    ));
    let after = h
        .directory
        .find_active_user(h.tenant(), u.id)
        .await
        .unwrap()
        .unwrap();
    assert!(after.force_change_password_next_sign_in);
    assert_eq!(after.version, u.version, "nothing was written");
}

async fn a_user_consents_to_low_impact_permissions_only(h: Harness) {
    let u = user(&h, "pat@contoso.test", false).await;
    let a = app(&h, &["User.Read", "User.ReadWrite.All"], false).await;
    assert!(h.directory.user_consent(&u, &a).await.unwrap().is_none());
    let scopes = vec!["openid".to_owned(), "User.Read".to_owned()];
    h.directory.consent_as_user(&u, &a, &scopes).await.unwrap();
    let more = vec!["offline_access".to_owned()];
    h.directory.consent_as_user(&u, &a, &more).await.unwrap();
    let c = h.directory.user_consent(&u, &a).await.unwrap().unwrap();
    assert_eq!(c.scopes, vec!["openid", "User.Read", "offline_access"]);
    let e = h
        .directory
        .consent_as_user(&u, &a, &["User.ReadWrite.All".to_owned()])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("administrator"), "{e}");
    let audit = h.store.list_audit_events(h.tenant(), 3).await.unwrap();
    assert_eq!(audit[0].activity, "Consent to application");
    assert_eq!(
        latchkey_core::directory::missing_consent(
            &a,
            Some(&c),
            &["User.Read".into(), "email".into()]
        ),
        vec!["email"]
    );
}

async fn a_code_redeems_once_for_its_client_redirect_and_verifier(h: Harness) {
    let u = user(&h, "pat@contoso.test", false).await;
    let a = app(&h, &["User.Read"], true).await;
    let code = code_for(&h, &u, &a).await;
    let (record, who) = h
        .directory
        .redeem_authorization_code(h.tenant(), &code, a.app_id, REDIRECT, &secret(VERIFIER))
        .await
        .unwrap();
    assert_eq!(who.id, u.id);
    assert_eq!(record.nonce.as_deref(), Some("n-0S6_WzA2Mj"));
    assert_ne!(record.digest.to_vec(), code.expose_secret().as_bytes());
    // The tokens issued from it, then a replay: refused, and those tokens revoked.
    let refresh = RefreshTokenRecord {
        id: uuid::Uuid::new_v4(),
        family_id: record.family_id,
        tenant_id: h.tenant(),
        user_id: u.id,
        client_id: a.app_id.to_string(),
        scopes: record.scopes.clone(),
        digest: [7; 32],
        issued_at: record.issued_at,
        expires_at: record.issued_at + Duration::days(90),
        used_at: None,
        revoked_at: None,
    };
    h.store.insert_refresh_token(&refresh).await.unwrap();
    let again = h
        .directory
        .redeem_authorization_code(h.tenant(), &code, a.app_id, REDIRECT, &secret(VERIFIER))
        .await
        .unwrap_err();
    assert!(matches!(again, CodeError::Replayed));
    assert_eq!(again.aadsts(), 54005);
    let revoked = h.store.find_refresh_token(&[7; 32]).await.unwrap().unwrap();
    assert!(revoked.revoked_at.is_some());
}

async fn a_code_is_refused_for_another_redirect_a_wrong_verifier_or_after_ten_minutes(h: Harness) {
    let u = user(&h, "pat@contoso.test", false).await;
    let a = app(&h, &["User.Read"], true).await;
    let other = app(&h, &["User.Read"], true).await;

    let code = code_for(&h, &u, &a).await;
    let e = h
        .directory
        .redeem_authorization_code(h.tenant(), &code, other.app_id, REDIRECT, &secret(VERIFIER))
        .await
        .unwrap_err();
    assert!(matches!(e, CodeError::WrongClient));

    let e = h
        .directory
        .redeem_authorization_code(
            h.tenant(),
            &code,
            a.app_id,
            "http://localhost:5000/other",
            &secret(VERIFIER),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, CodeError::WrongRedirect));

    let code = code_for(&h, &u, &a).await;
    let e = h
        .directory
        .redeem_authorization_code(
            h.tenant(),
            &code,
            a.app_id,
            REDIRECT,
            &secret("b-long-enough-code-verifier-for-pkce-0123456789"),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, CodeError::PkceMismatch));
    assert_eq!(e.aadsts(), 501481);

    let code = code_for(&h, &u, &a).await;
    h.clock.advance(Duration::minutes(10));
    let e = h
        .directory
        .redeem_authorization_code(h.tenant(), &code, a.app_id, REDIRECT, &secret(VERIFIER))
        .await
        .unwrap_err();
    assert!(matches!(e, CodeError::Expired));

    let e = h
        .directory
        .redeem_authorization_code(
            h.tenant(),
            &secret("made-up"),
            a.app_id,
            REDIRECT,
            &secret(VERIFIER),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, CodeError::Unknown));
}

async fn two_racing_redemptions_of_one_code_succeed_once(h: Harness) {
    let u = user(&h, "pat@contoso.test", false).await;
    let a = app(&h, &["User.Read"], true).await;
    let code = code_for(&h, &u, &a).await;
    let h = Arc::new(h);
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (h, code, app_id) = (h.clone(), code.clone(), a.app_id);
        tasks.push(tokio::spawn(async move {
            h.directory
                .redeem_authorization_code(h.tenant(), &code, app_id, REDIRECT, &secret(VERIFIER))
                .await
                .is_ok()
        }));
    }
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap());
    }
    assert_eq!(wins, 1);
}

async fn a_device_code_is_approved_once_and_redeemed_once(h: Harness) {
    let u = user(&h, "pat@contoso.test", false).await;
    let a = app(&h, &["User.Read"], true).await;
    let (device_code, record) = h
        .directory
        .start_device_authorization(&a, "openid User.Read")
        .await
        .unwrap();
    assert_ne!(
        record.digest.to_vec(),
        device_code.expose_secret().as_bytes()
    );
    assert!(matches!(
        h.directory
            .redeem_device_code(h.tenant(), &device_code, &a)
            .await,
        Err(DeviceCodeError::Pending)
    ));
    let typed = record.user_code.to_lowercase();
    let pending = h
        .directory
        .pending_device_code(h.tenant(), &typed)
        .await
        .unwrap()
        .unwrap();
    assert!(
        h.directory
            .decide_device_code(&pending, &u, true, h.clock.now())
            .await
            .unwrap()
    );
    assert!(
        !h.directory
            .decide_device_code(&pending, &u, false, h.clock.now())
            .await
            .unwrap(),
        "a decision is final"
    );
    assert!(
        h.directory
            .pending_device_code(h.tenant(), &typed)
            .await
            .unwrap()
            .is_none()
    );
    let other = app(&h, &["User.Read"], true).await;
    assert!(matches!(
        h.directory
            .redeem_device_code(h.tenant(), &device_code, &other)
            .await,
        Err(DeviceCodeError::Unknown)
    ));
    let (redeemed, who) = h
        .directory
        .redeem_device_code(h.tenant(), &device_code, &a)
        .await
        .unwrap();
    assert_eq!((redeemed.id, who.id), (record.id, u.id));
    assert!(matches!(
        h.directory
            .redeem_device_code(h.tenant(), &device_code, &a)
            .await,
        Err(DeviceCodeError::Redeemed)
    ));
}

async fn expired_sessions_and_codes_are_purged_a_day_later(h: Harness) {
    let u = user(&h, "pat@contoso.test", false).await;
    let a = app(&h, &["User.Read"], true).await;
    let (cookie, _) = h.directory.start_sign_in_session(&u).await.unwrap();
    let code = code_for(&h, &u, &a).await;
    h.directory
        .start_device_authorization(&a, "openid")
        .await
        .unwrap();
    h.clock.advance(Duration::hours(12));
    assert_eq!(
        h.directory.purge_expired_sign_in_records().await.unwrap(),
        0,
        "kept a day past expiry"
    );
    h.clock.advance(Duration::days(1) + Duration::minutes(1));
    assert_eq!(
        h.directory.purge_expired_sign_in_records().await.unwrap(),
        3
    );
    let e = h
        .directory
        .redeem_authorization_code(h.tenant(), &code, a.app_id, REDIRECT, &secret(VERIFIER))
        .await
        .unwrap_err();
    assert!(matches!(e, CodeError::Unknown));
    assert!(
        h.store
            .find_sign_in_session(&latchkey_core::interactive::token_digest(&cookie))
            .await
            .unwrap()
            .is_none()
    );
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
    a_session_opens_with_its_cookie_and_only_its_digest_is_stored,
    a_session_dies_at_sign_out_expiry_and_password_change,
    the_forced_change_sets_the_new_password_clears_the_flag_and_is_audited,
    the_forced_change_refuses_a_wrong_current_password_and_writes_nothing,
    a_user_consents_to_low_impact_permissions_only,
    a_code_redeems_once_for_its_client_redirect_and_verifier,
    a_code_is_refused_for_another_redirect_a_wrong_verifier_or_after_ten_minutes,
    two_racing_redemptions_of_one_code_succeed_once,
    a_device_code_is_approved_once_and_redeemed_once,
    expired_sessions_and_codes_are_purged_a_day_later,
);
