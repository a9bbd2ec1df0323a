//! `common` and `organizations` as the authority: a request names no tenant, so its client's
//! registration says which tenant it is for (Microsoft's clients default to these authorities:
//! azure-identity's user credentials to `organizations`, many MSAL samples to `common`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::http::StatusCode;
use latchkey_testkit::browser::Browser;
use serde_json::Value;
use support::*;

mod support;

fn at(authority: &str, uri: &str, tid: &str) -> String {
    uri.replacen(&format!("/{tid}/"), &format!("/{authority}/"), 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_flow_started_at_organizations_signs_in_to_the_clients_tenant_and_redeems_at_common()
{
    let w = world(&["User.Read"], true).await;
    user(&w, "pat@contoso.test", false).await;
    let mut b = Browser::default();

    let page = b
        .get(
            &w.app,
            &at("organizations", &authorize_uri(&w, &[]), &w.tid),
        )
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Contoso Web"));
    // The pages that follow post to the tenant's own paths.
    assert!(
        page.body.contains(&format!("action=\"/{}/login\"", w.tid)),
        "{}",
        page.body
    );
    let done = b
        .submit(
            &w,
            &page,
            "",
            &[("username", "pat@contoso.test"), ("password", PW)],
        )
        .await;
    assert_eq!(done.status, StatusCode::FOUND, "{}", done.body);
    let code = done.query()["code"].clone();

    let mut c = Browser::default();
    let redeemed = c
        .post(
            &w.app,
            "/common/oauth2/v2.0/token",
            &[
                ("grant_type", "authorization_code"),
                ("client_id", &w.client_id),
                ("client_secret", &w.secret),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
            ],
        )
        .await;
    assert_eq!(redeemed.status, StatusCode::OK, "{}", redeemed.body);
    let tokens: Value = serde_json::from_str(&redeemed.body).unwrap();
    let id = claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["tid"], w.tid);
    assert_eq!(id["iss"], format!("{PUBLIC}/{}/v2.0", w.tid));

    let refreshed = c
        .post(
            &w.app,
            "/organizations/oauth2/v2.0/token",
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &w.client_id),
                ("client_secret", &w.secret),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_grant_at_organizations_signs_in_and_still_honours_the_forced_change() {
    let w = world(&["User.Read"], true).await;
    user(&w, "pat@contoso.test", false).await;
    user(&w, "sam@contoso.test", true).await;
    let mut c = Browser::default();
    let grant = |who: &'static str| {
        vec![
            ("grant_type", "password"),
            ("client_id", w.client_id.as_str()),
            ("client_secret", w.secret.as_str()),
            ("username", who),
            ("password", PW),
            ("scope", "openid User.Read"),
        ]
    };
    let ok = c
        .post(
            &w.app,
            "/organizations/oauth2/v2.0/token",
            &grant("pat@contoso.test"),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let tokens: Value = serde_json::from_str(&ok.body).unwrap();
    assert_eq!(
        claims(tokens["access_token"].as_str().unwrap())["tid"],
        w.tid
    );

    let must_change = c
        .post(
            &w.app,
            "/common/oauth2/v2.0/token",
            &grant("sam@contoso.test"),
        )
        .await;
    assert_eq!(must_change.status, StatusCode::BAD_REQUEST);
    let err: Value = serde_json::from_str(&must_change.body).unwrap();
    assert_eq!(err["error"], "invalid_grant");
    assert_eq!(err["error_codes"][0], 50055);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_or_missing_client_at_common_is_an_error_page_and_never_a_redirect() {
    let w = world(&["User.Read"], true).await;
    let mut b = Browser::default();
    let unknown = authorize_uri(&w, &[("client_id", "6f0c3a55-1d7e-4c1b-9a52-000000000000")]);
    let page = b.get(&w.app, &at("common", &unknown, &w.tid)).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("AADSTS700016"), "{}", page.body);
    assert!(page.body.contains("was not found in the directory"));

    let missing = authorize_uri(&w, &[("client_id", "")]);
    let page = b.get(&w.app, &at("organizations", &missing, &w.tid)).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("client_id"), "{}", page.body);

    let mut c = Browser::default();
    let token = c
        .post(
            &w.app,
            "/organizations/oauth2/v2.0/token",
            &[
                ("grant_type", "password"),
                ("client_id", "not-a-guid"),
                ("username", "pat@contoso.test"),
                ("password", PW),
                ("scope", "User.Read"),
            ],
        )
        .await;
    assert_eq!(token.status, StatusCode::BAD_REQUEST, "{}", token.body);
    let err: Value = serde_json::from_str(&token.body).unwrap();
    assert_eq!(err["error"], "unauthorized_client");
    assert_eq!(err["error_codes"][0], 700016);

    // Client credentials still need a tenant, as in Entra.
    let cc = c
        .post(
            &w.app,
            "/organizations/oauth2/v2.0/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &w.client_id),
                ("client_secret", &w.secret),
                ("scope", "https://graph.microsoft.com/.default"),
            ],
        )
        .await;
    assert_eq!(cc.status, StatusCode::BAD_REQUEST, "{}", cc.body);
    assert!(cc.body.contains("needs a tenant"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_code_asked_at_organizations_points_the_person_at_the_clients_tenant() {
    let w = world(&["User.Read"], true).await;
    let mut c = Browser::default();
    let started = c
        .post(
            &w.app,
            "/organizations/oauth2/v2.0/devicecode",
            &[
                ("client_id", &w.client_id),
                ("client_secret", &w.secret),
                ("scope", "User.Read"),
            ],
        )
        .await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    let body: Value = serde_json::from_str(&started.body).unwrap();
    let uri = body["verification_uri"].as_str().unwrap();
    assert_eq!(uri, format!("{PUBLIC}/{}/devicelogin", w.tid));
    let page = c.get(&w.app, uri.strip_prefix(PUBLIC).unwrap()).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_at_common_finds_the_tenant_ends_the_session_and_redirects_only_when_registered() {
    let w = world(&["User.Read"], true).await;
    user(&w, "pat@contoso.test", false).await;
    let logout = |authority: &str, query: &str| format!("/{authority}/oauth2/v2.0/logout?{query}");

    // The app's registration names the tenant: back to its registered address, with state.
    let mut b = Browser::default();
    signed_in_code(&w, &mut b).await;
    let session = b.cookies["lk_session"].clone();
    let out = b
        .get(
            &w.app,
            &logout(
                "common",
                &format!(
                    "client_id={}&post_logout_redirect_uri={}&state=bye",
                    w.client_id,
                    urlencode(REDIRECT)
                ),
            ),
        )
        .await;
    assert_eq!(out.status, StatusCode::FOUND, "{}", out.body);
    assert_eq!(out.location(), format!("{REDIRECT}?state=bye"));
    let mut replay = Browser::default();
    replay.cookies.insert("lk_session".into(), session);
    let silent = replay
        .get(&w.app, &authorize_uri(&w, &[("prompt", "none")]))
        .await;
    assert_eq!(silent.query()["error"], "login_required");

    // The id_token the app got names it (and its tenant) instead of client_id.
    let code = signed_in_code(&w, &mut b).await;
    let (_, tokens) = redeem(&w, &code, VERIFIER).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let hinted = b
        .get(
            &w.app,
            &logout(
                "organizations",
                &format!(
                    "id_token_hint={id_token}&post_logout_redirect_uri={}",
                    urlencode(REDIRECT)
                ),
            ),
        )
        .await;
    assert_eq!(hinted.status, StatusCode::FOUND, "{}", hinted.body);
    assert_eq!(hinted.location(), REDIRECT);
    // A forged hint names no one: the person signs out and stays on the page.
    let forged = b
        .get(
            &w.app,
            &logout(
                "common",
                &format!(
                    "id_token_hint={id_token}x&post_logout_redirect_uri={}",
                    urlencode(REDIRECT)
                ),
            ),
        )
        .await;
    assert_eq!(forged.status, StatusCode::OK);
    assert!(forged.headers.get("location").is_none());

    // With only the session cookie the page is the tenant's; an address nobody registered
    // is never followed.
    signed_in_code(&w, &mut b).await;
    let plain = b
        .get(
            &w.app,
            &logout(
                "common",
                &format!("post_logout_redirect_uri={}", urlencode(REDIRECT)),
            ),
        )
        .await;
    assert_eq!(plain.status, StatusCode::OK, "{}", plain.body);
    assert!(plain.headers.get("location").is_none());
    assert!(plain.body.contains("You signed out of your account"));
    assert!(plain.body.contains("Contoso"), "{}", plain.body);
    let elsewhere = b
        .get(
            &w.app,
            &logout(
                "common",
                &format!(
                    "client_id={}&post_logout_redirect_uri={}",
                    w.client_id,
                    urlencode("https://evil.example/")
                ),
            ),
        )
        .await;
    assert_eq!(elsewhere.status, StatusCode::OK);
    assert!(elsewhere.headers.get("location").is_none());

    // Nothing names a tenant: a plain signed-out page, not an error.
    let nobody = Browser::default()
        .get(
            &w.app,
            &logout(
                "common",
                &format!(
                    "client_id=00000000-0000-0000-0000-000000000001&post_logout_redirect_uri={}",
                    urlencode(REDIRECT)
                ),
            ),
        )
        .await;
    assert_eq!(nobody.status, StatusCode::OK, "{}", nobody.body);
    assert!(nobody.headers.get("location").is_none());
    assert!(nobody.body.contains("You signed out of your account"));
}
