//! Licences and the manager relationship over Graph's router, in process, with real tokens
//! and a real store: `subscribedSkus`, `assignLicense`, `licenseDetails`, `assignedLicenses`
//! in `$select` and `$filter`, `manager/$ref`, `manager`, `/me/manager`, `directReports`,
//! `$expand=manager`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Duration;
use latchkey_core::crypto::MasterKey;
use latchkey_core::directory::{NewApp, NewUser, PasswordChoice};
use latchkey_core::license::{NewSku, Sku};
use latchkey_core::names::{DisplayName, Upn};
use latchkey_core::role::DirectoryRole;
use latchkey_core::user::{User, UserProfile};
use latchkey_graph::http::{GraphState, router};
use latchkey_graph::throttle::Throttle;
use latchkey_identity::tokens::{GRAPH_RESOURCE, TokenRequest};
use latchkey_identity::{KeyRing, TokenService};
use latchkey_testkit::{Backend, Harness};
use serde_json::{Value, json};
use tower::ServiceExt;

const PUBLIC: &str = "https://localhost:8443";

struct Api {
    h: Harness,
    router: Router,
    tokens: TokenService,
}

struct Answer {
    status: StatusCode,
    body: Value,
}

impl Answer {
    fn assert_error(&self, status: StatusCode, code: &str, says: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.body["error"]["code"], code, "{}", self.body);
        let message = self.body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{message}");
    }
}

async fn api() -> Api {
    let h = Harness::new(Backend::Sqlite).await;
    let keys = KeyRing::new(
        h.store.clone(),
        MasterKey::generate(),
        h.clock.clone(),
        Duration::hours(1),
    );
    let tokens = TokenService::new(keys, h.clock.clone(), Duration::hours(1));
    let router = router(GraphState {
        directory: h.directory.clone(),
        tokens: tokens.clone(),
        public_url: Arc::from(PUBLIC),
        throttle: Throttle::unlimited(),
    });
    Api { h, router, tokens }
}

impl Api {
    async fn app_token(&self, permissions: &[&str]) -> String {
        let created = self
            .h
            .directory
            .create_app(
                &Harness::operator(),
                self.h.tenant(),
                NewApp {
                    display_name: "Automation".into(),
                    redirect_uris: vec![],
                    public_client: false,
                    application_permissions: permissions.iter().map(|p| (*p).into()).collect(),
                    delegated_permissions: vec![],
                    grant_admin_consent: true,
                },
            )
            .await
            .unwrap();
        let tenant = self.h.tenant().to_string();
        self.tokens
            .issue(TokenRequest {
                audience: GRAPH_RESOURCE.into(),
                issuer: format!("{PUBLIC}/{tenant}/v2.0"),
                tenant_id: tenant,
                object_id: created.app.object_id.to_string(),
                client_id: created.app.app_id.to_string(),
                roles: created.app.granted_roles().to_vec(),
                scopes: None,
                app_only: true,
            })
            .await
            .unwrap()
            .token
    }

    async fn user_token(&self, user: &User, scopes: &str) -> String {
        let tenant = self.h.tenant().to_string();
        self.tokens
            .issue(TokenRequest {
                audience: GRAPH_RESOURCE.into(),
                issuer: format!("{PUBLIC}/{tenant}/v2.0"),
                tenant_id: tenant,
                object_id: user.id.to_string(),
                client_id: "22222222-2222-2222-2222-222222222222".into(),
                roles: vec![],
                scopes: Some(scopes.into()),
                app_only: false,
            })
            .await
            .unwrap()
            .token
    }

    async fn user(
        &self,
        upn: &str,
        usage_location: Option<&str>,
        roles: Vec<DirectoryRole>,
    ) -> User {
        self.h
            .directory
            .create_user(
                &Harness::operator(),
                self.h.tenant(),
                NewUser {
                    user_principal_name: Upn::parse(upn).unwrap(),
                    display_name: DisplayName::parse(upn.split('@').next().unwrap()).unwrap(),
                    mail_nickname: None,
                    account_enabled: true,
                    profile: UserProfile {
                        usage_location: usage_location.map(str::to_owned),
                        ..UserProfile::default()
                    },
                    password_policies: Default::default(),
                    password: PasswordChoice::Generate,
                    force_change_next_sign_in: false,
                    roles,
                },
            )
            .await
            .unwrap()
            .user
    }

    async fn sku(&self, part: &str, seats: u32, plans: &[&str]) -> Sku {
        self.h
            .directory
            .create_sku(
                &Harness::operator(),
                self.h.tenant(),
                NewSku {
                    sku_id: None,
                    sku_part_number: part.into(),
                    seats,
                    service_plans: plans.iter().map(|p| (*p).to_owned()).collect(),
                },
            )
            .await
            .unwrap()
    }

    async fn send(
        &self,
        method: &str,
        uri: &str,
        token: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {token}"));
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())))
            .unwrap();
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)))
        };
        Answer { status, body }
    }

    async fn get(&self, uri: &str, token: &str) -> Answer {
        self.send("GET", uri, token, None, &[]).await
    }

    async fn post(&self, uri: &str, token: &str, body: &str) -> Answer {
        self.send("POST", uri, token, Some(body), &[]).await
    }
}

fn assign_body(add: &[&Sku], remove: &[&Sku]) -> String {
    json!({
        "addLicenses": add.iter().map(|s| json!({"skuId": s.sku_id.to_string(), "disabledPlans": []})).collect::<Vec<_>>(),
        "removeLicenses": remove.iter().map(|s| s.sku_id.to_string()).collect::<Vec<_>>(),
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribed_skus_show_seats_bought_and_consumed_in_graphs_shape() {
    let api = api().await;
    let e3 = api
        .sku("ENTERPRISEPACK", 25, &["EXCHANGE_S_ENTERPRISE", "TEAMS1"])
        .await;
    let ada = api.user("ada@contoso.test", Some("GB"), vec![]).await;
    let token = api
        .app_token(&["User.ReadWrite.All", "Organization.Read.All"])
        .await;
    let r = api
        .post(
            &format!("/v1.0/users/{}/assignLicense", ada.id),
            &token,
            &assign_body(&[&e3], &[]),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["id"], ada.id.to_string());
    assert_eq!(r.body["userPrincipalName"], "ada@contoso.test");

    let r = api.get("/v1.0/subscribedSkus", &token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let sku = &r.body["value"][0];
    assert_eq!(sku["skuId"], e3.sku_id.to_string());
    assert_eq!(sku["skuPartNumber"], "ENTERPRISEPACK");
    assert_eq!(sku["prepaidUnits"]["enabled"], 25);
    assert_eq!(sku["consumedUnits"], 1);
    assert_eq!(sku["appliesTo"], "User");
    assert_eq!(sku["capabilityStatus"], "Enabled");
    assert_eq!(sku["servicePlans"][1]["servicePlanName"], "TEAMS1");
    assert_eq!(
        sku["id"],
        format!("{}_{}", api.h.tenant(), e3.sku_id),
        "Graph's id is tenant_sku"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn license_details_and_assigned_licenses_show_what_the_user_holds() {
    let api = api().await;
    let e3 = api
        .sku("ENTERPRISEPACK", 25, &["EXCHANGE_S_ENTERPRISE", "TEAMS1"])
        .await;
    let teams = e3.service_plans[1].id;
    let ben = api.user("ben@contoso.test", Some("US"), vec![]).await;
    let token = api.app_token(&["User.ReadWrite.All"]).await;
    let body = json!({
        "addLicenses": [{"skuId": e3.sku_id.to_string(), "disabledPlans": [teams.to_string()]}],
        "removeLicenses": [],
    });
    let r = api
        .post(
            "/v1.0/users/ben%40contoso.test/assignLicense",
            &token,
            &body.to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    let r = api
        .get("/v1.0/users/ben%40contoso.test/licenseDetails", &token)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let detail = &r.body["value"][0];
    assert_eq!(detail["skuPartNumber"], "ENTERPRISEPACK");
    let status: Vec<(&str, &str)> = detail["servicePlans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["servicePlanName"].as_str().unwrap(),
                p["provisioningStatus"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        status,
        vec![("EXCHANGE_S_ENTERPRISE", "Success"), ("TEAMS1", "Disabled")]
    );

    let r = api
        .get(
            &format!("/v1.0/users/{}?$select=id,assignedLicenses", ben.id),
            &token,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body["assignedLicenses"],
        json!([{"skuId": e3.sku_id.to_string(), "disabledPlans": [teams.to_string()]}])
    );
    let r = api.get(&format!("/v1.0/users/{}", ben.id), &token).await;
    assert!(
        r.body.get("assignedLicenses").is_none(),
        "not in the default set"
    );
    // The user reads their own licences with just User.Read.
    let own = api.user_token(&ben, "User.Read").await;
    let r = api.get("/v1.0/me?$select=assignedLicenses", &own).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.body["assignedLicenses"][0]["skuId"],
        e3.sku_id.to_string()
    );
    let r = api.get("/v1.0/me/licenseDetails", &own).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["value"][0]["skuPartNumber"], "ENTERPRISEPACK");
    let other = api.user("other@contoso.test", None, vec![]).await;
    let r = api
        .get(&format!("/v1.0/users/{}/licenseDetails", other.id), &own)
        .await;
    r.assert_error(StatusCode::FORBIDDEN, "Authorization_RequestDenied", "");
    let r = api
        .get(
            "/v1.0/users?$select=userPrincipalName,assignedLicenses",
            &token,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    for u in r.body["value"].as_array().unwrap() {
        let held = u["assignedLicenses"]
            .as_array()
            .expect("every user has the property");
        assert_eq!(
            held.len(),
            usize::from(u["userPrincipalName"] == "ben@contoso.test"),
            "{u}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_filtered_by_the_sku_they_hold() {
    let api = api().await;
    let e3 = api.sku("ENTERPRISEPACK", 25, &[]).await;
    let token = api.app_token(&["User.ReadWrite.All"]).await;
    for name in ["cy", "dee"] {
        let u = api
            .user(&format!("{name}@contoso.test"), Some("FR"), vec![])
            .await;
        let r = api
            .post(
                &format!("/v1.0/users/{}/assignLicense", u.id),
                &token,
                &assign_body(&[&e3], &[]),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    api.user("eve@contoso.test", Some("FR"), vec![]).await;
    let r = api
        .get(
            &format!(
                "/v1.0/users?$filter=assignedLicenses/any(x:x/skuId%20eq%20{})&$select=userPrincipalName",
                e3.sku_id
            ),
            &token,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let upns: Vec<&str> = r.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["userPrincipalName"].as_str().unwrap())
        .collect();
    assert_eq!(upns, vec!["cy@contoso.test", "dee@contoso.test"]);

    // With $count, as Graph's docs show it (an advanced query).
    let r = api
        .send(
            "GET",
            &format!(
                "/v1.0/users?$filter=assignedLicenses/any(x:x/skuId%20eq%20{})&$count=true",
                e3.sku_id
            ),
            &token,
            None,
            &[("ConsistencyLevel", "eventual")],
        )
        .await;
    assert_eq!(r.body["@odata.count"], 2, "{}", r.body);
    let r = api
        .get(
            "/v1.0/users?$filter=assignedLicenses/any(x:x/skuId%20eq%20'E3')",
            &token,
        )
        .await;
    r.assert_error(StatusCode::BAD_REQUEST, "Request_BadRequest", "GUID");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_seat_left_and_no_usage_location_are_refused_as_graph_does() {
    let api = api().await;
    let e3 = api.sku("ENTERPRISEPACK", 1, &[]).await;
    let token = api.app_token(&["User.ReadWrite.All"]).await;
    let fay = api.user("fay@contoso.test", Some("NL"), vec![]).await;
    let gus = api.user("gus@contoso.test", Some("NL"), vec![]).await;
    let hal = api.user("hal@contoso.test", None, vec![]).await;
    let assign = |u: &User| format!("/v1.0/users/{}/assignLicense", u.id);
    let r = api
        .post(&assign(&fay), &token, &assign_body(&[&e3], &[]))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = api
        .post(&assign(&gus), &token, &assign_body(&[&e3], &[]))
        .await;
    r.assert_error(
        StatusCode::BAD_REQUEST,
        "Request_BadRequest",
        "does not have any available licenses",
    );
    let r = api
        .post(&assign(&hal), &token, &assign_body(&[&e3], &[]))
        .await;
    r.assert_error(
        StatusCode::BAD_REQUEST,
        "Request_BadRequest",
        "usage location",
    );
    // Removing frees the seat.
    let r = api
        .post(&assign(&fay), &token, &assign_body(&[], &[&e3]))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = api
        .post(&assign(&gus), &token, &assign_body(&[&e3], &[]))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_assign_license_bodies_are_bad_requests_naming_the_property() {
    let api = api().await;
    api.sku("ENTERPRISEPACK", 1, &[]).await;
    let token = api.app_token(&["User.ReadWrite.All"]).await;
    let ivy = api.user("ivy@contoso.test", Some("US"), vec![]).await;
    let uri = format!("/v1.0/users/{}/assignLicense", ivy.id);
    for (body, says) in [
        (r#"{"addLicenses":[]}"#, "removeLicenses"),
        (
            r#"{"addLicenses":[{"skuId":"E3"}],"removeLicenses":[]}"#,
            "skuId",
        ),
        (
            r#"{"addLicenses":[{"disabledPlans":[]}],"removeLicenses":[]}"#,
            "skuId",
        ),
        (r#"{"addLicenses":{},"removeLicenses":[]}"#, "addLicenses"),
        (
            r#"{"addLicenses":[],"removeLicenses":[],"shoeSize":1}"#,
            "shoeSize",
        ),
        (
            r#"{"addLicenses":[{"skuId":"6fd2c87f-b296-42f0-b197-1e91e994b900"}],"removeLicenses":[]}"#,
            "does not correspond to a valid company License",
        ),
        ("{", "JSON"),
    ] {
        let r = api.post(&uri, &token, body).await;
        r.assert_error(StatusCode::BAD_REQUEST, "Request_BadRequest", says);
    }
    let r = api
        .post(
            "/v1.0/users/nobody%40contoso.test/assignLicense",
            &token,
            r#"{"addLicenses":[],"removeLicenses":[]}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assigning_licences_needs_a_write_permission_or_an_admin_role() {
    let api = api().await;
    let e3 = api.sku("ENTERPRISEPACK", 5, &[]).await;
    let target = api.user("jo@contoso.test", Some("US"), vec![]).await;
    let uri = format!("/v1.0/users/{}/assignLicense", target.id);
    let body = assign_body(&[&e3], &[]);
    for permission in ["User.Read.All", "Directory.Read.All"] {
        let token = api.app_token(&[permission]).await;
        let r = api.post(&uri, &token, &body).await;
        r.assert_error(StatusCode::FORBIDDEN, "Authorization_RequestDenied", "");
    }
    // subscribedSkus needs a directory or organisation read permission.
    let token = api.app_token(&["User.Read.All"]).await;
    let r = api.get("/v1.0/subscribedSkus", &token).await;
    r.assert_error(StatusCode::FORBIDDEN, "Authorization_RequestDenied", "");
    let token = api.app_token(&["LicenseAssignment.ReadWrite.All"]).await;
    let r = api.post(&uri, &token, &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // A signed-in member without a role may not; a User Administrator may.
    let member = api.user("member@contoso.test", None, vec![]).await;
    let token = api.user_token(&member, "User.ReadWrite.All").await;
    let r = api.post(&uri, &token, &assign_body(&[], &[&e3])).await;
    r.assert_error(StatusCode::FORBIDDEN, "Authorization_RequestDenied", "role");
    let admin = api
        .user(
            "useradmin@contoso.test",
            None,
            vec![DirectoryRole::UserAdministrator],
        )
        .await;
    let token = api.user_token(&admin, "User.ReadWrite.All").await;
    let r = api.post(&uri, &token, &assign_body(&[], &[&e3])).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = api.get("/v1.0/subscribedSkus", &token).await;
    r.assert_error(
        StatusCode::FORBIDDEN,
        "Authorization_RequestDenied",
        "scopes",
    );

    // A License Administrator assigns licences, even to administrators, and nothing else.
    let licensing = api
        .user(
            "licensing@contoso.test",
            None,
            vec![DirectoryRole::LicenseAdministrator],
        )
        .await;
    let token = api
        .user_token(
            &licensing,
            "LicenseAssignment.ReadWrite.All User.ReadWrite.All",
        )
        .await;
    let r = api.post(&uri, &token, &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = api
        .post(
            &format!("/v1.0/users/{}/assignLicense", admin.id),
            &token,
            &json!({"addLicenses": [], "removeLicenses": [e3.sku_id.to_string()]}).to_string(),
        )
        .await;
    r.assert_error(
        StatusCode::BAD_REQUEST,
        "Request_BadRequest",
        "does not have a corresponding license",
    );
    let r = api
        .send(
            "PATCH",
            &format!("/v1.0/users/{}", target.id),
            &token,
            Some(r#"{"jobTitle":"Licensed"}"#),
            &[],
        )
        .await;
    r.assert_error(StatusCode::FORBIDDEN, "Authorization_RequestDenied", "role");
    let reader = api.app_token(&["Directory.Read.All"]).await;
    let r = api
        .get(
            "/v1.0/directoryRoles/4d6ac14f-3453-41d0-bef9-a3e0c569773a",
            &reader,
        )
        .await;
    assert_eq!(r.body["displayName"], "License Administrator", "{}", r.body);
}

fn reference(user: &User) -> String {
    json!({ "@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{}", user.id) })
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_is_set_read_expanded_listed_and_removed_by_reference() {
    let api = api().await;
    let token = api.app_token(&["User.ReadWrite.All"]).await;
    let boss = api.user("boss@contoso.test", None, vec![]).await;
    let kim = api.user("kim@contoso.test", None, vec![]).await;
    let lou = api.user("lou@contoso.test", None, vec![]).await;
    for report in [&kim, &lou] {
        let r = api
            .send(
                "PUT",
                &format!("/v1.0/users/{}/manager/$ref", report.id),
                &token,
                Some(&reference(&boss)),
                &[],
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    }
    let r = api
        .get("/v1.0/users/kim%40contoso.test/manager", &token)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["id"], boss.id.to_string());
    assert_eq!(r.body["@odata.type"], "#microsoft.graph.user");
    assert_eq!(r.body["userPrincipalName"], "boss@contoso.test");

    let r = api
        .get(&format!("/v1.0/users/{}?$expand=manager", kim.id), &token)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["userPrincipalName"], "kim@contoso.test");
    assert_eq!(r.body["manager"]["id"], boss.id.to_string());
    let r = api
        .get(&format!("/v1.0/users/{}?$expand=manager", boss.id), &token)
        .await;
    assert!(r.body.get("manager").is_none(), "no manager, no property");
    let r = api
        .get(
            "/v1.0/users?$expand=manager&$select=id,userPrincipalName",
            &token,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    for u in r.body["value"].as_array().unwrap() {
        let want = [kim.id.to_string(), lou.id.to_string()]
            .contains(&u["id"].as_str().unwrap().to_owned());
        assert_eq!(u.get("manager").is_some(), want, "{u}");
        if want {
            assert_eq!(u["manager"]["id"], boss.id.to_string());
        }
    }

    let r = api
        .get(
            &format!("/v1.0/users/{}/directReports?$top=1", boss.id),
            &token,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["value"][0]["userPrincipalName"], "kim@contoso.test");
    assert_eq!(r.body["value"][0]["@odata.type"], "#microsoft.graph.user");
    let next = r.body["@odata.nextLink"].as_str().expect("a second page");
    let r = api.get(next.strip_prefix(PUBLIC).unwrap(), &token).await;
    assert_eq!(r.body["value"][0]["userPrincipalName"], "lou@contoso.test");
    assert!(r.body.get("@odata.nextLink").is_none());

    let r = api
        .send(
            "DELETE",
            &format!("/v1.0/users/{}/manager/$ref", kim.id),
            &token,
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let r = api
        .get(&format!("/v1.0/users/{}/manager", kim.id), &token)
        .await;
    r.assert_error(StatusCode::NOT_FOUND, "Request_ResourceNotFound", "manager");
    let r = api
        .send(
            "DELETE",
            &format!("/v1.0/users/{}/manager/$ref", kim.id),
            &token,
            None,
            &[],
        )
        .await;
    r.assert_error(StatusCode::NOT_FOUND, "Request_ResourceNotFound", "manager");

    let audit = api
        .h
        .store
        .list_audit_events(api.h.tenant(), 999)
        .await
        .unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.activity == "Set user manager")
            .count(),
        2
    );
    assert!(audit.iter().any(|e| e.activity == "Remove user manager"
        && e.target_id.as_deref() == Some(kim.id.to_string().as_str())));
    let outbox = api
        .h
        .store
        .list_outbox_events(api.h.tenant(), 999)
        .await
        .unwrap();
    assert_eq!(
        outbox
            .iter()
            .filter(|e| e.kind == "user.managerChanged")
            .count(),
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reporting_loop_and_bad_references_are_refused() {
    let api = api().await;
    let token = api.app_token(&["User.ReadWrite.All"]).await;
    let amy = api.user("amy@contoso.test", None, vec![]).await;
    let bo = api.user("bo@contoso.test", None, vec![]).await;
    let cal = api.user("cal@contoso.test", None, vec![]).await;
    let put = |user: &User, body: String| {
        let uri = format!("/v1.0/users/{}/manager/$ref", user.id);
        let api = &api;
        let token = token.clone();
        async move { api.send("PUT", &uri, &token, Some(&body), &[]).await }
    };
    // amy reports to bo, bo to cal: cal reporting to amy would close the loop.
    assert_eq!(
        put(&amy, reference(&bo)).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        put(&bo, reference(&cal)).await.status,
        StatusCode::NO_CONTENT
    );
    put(&cal, reference(&amy)).await.assert_error(
        StatusCode::BAD_REQUEST,
        "Request_BadRequest",
        "loop",
    );
    put(&cal, reference(&cal)).await.assert_error(
        StatusCode::BAD_REQUEST,
        "Request_BadRequest",
        "loop",
    );
    let r = api
        .get(&format!("/v1.0/users/{}/manager", cal.id), &token)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "nothing was written");

    put(
        &cal,
        json!({"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/6fd2c87f-b296-42f0-b197-1e91e994b900"}).to_string(),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "Request_ResourceNotFound", "");
    put(
        &cal,
        json!({"@odata.id": "https://example.com/groups/x"}).to_string(),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "Request_BadRequest", "@odata.id");
    put(&cal, "{}".into()).await.assert_error(
        StatusCode::BAD_REQUEST,
        "Request_BadRequest",
        "@odata.id",
    );
    let r = api
        .get(&format!("/v1.0/users/{}?$expand=memberOf", cal.id), &token)
        .await;
    r.assert_error(
        StatusCode::BAD_REQUEST,
        "Request_UnsupportedQuery",
        "manager",
    );

    let reader = api.app_token(&["User.Read.All"]).await;
    let r = api
        .send(
            "PUT",
            &format!("/v1.0/users/{}/manager/$ref", cal.id),
            &reader,
            Some(&reference(&amy)),
            &[],
        )
        .await;
    r.assert_error(StatusCode::FORBIDDEN, "Authorization_RequestDenied", "");
    let r = api
        .get(&format!("/v1.0/users/{}/manager", amy.id), &reader)
        .await;
    assert_eq!(r.status, StatusCode::OK, "reading needs only User.Read.All");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_in_user_reads_their_own_manager_at_me_manager() {
    let api = api().await;
    let token = api.app_token(&["User.ReadWrite.All"]).await;
    let boss = api.user("chief@contoso.test", None, vec![]).await;
    let kim = api.user("kimberly@contoso.test", None, vec![]).await;
    let r = api
        .send(
            "PUT",
            &format!("/v1.0/users/{}/manager/$ref", kim.id),
            &token,
            Some(&reference(&boss)),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);

    let own = api.user_token(&kim, "User.Read").await;
    let r = api.get("/v1.0/me/manager", &own).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["id"], boss.id.to_string());
    assert_eq!(r.body["@odata.type"], "#microsoft.graph.user");
    assert_eq!(r.body["userPrincipalName"], "chief@contoso.test");

    // The boss has no manager: Graph's 404.
    let boss_token = api.user_token(&boss, "User.Read").await;
    api.get("/v1.0/me/manager", &boss_token).await.assert_error(
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
        "manager",
    );
    // An app has no "me".
    api.get("/v1.0/me/manager", &token).await.assert_error(
        StatusCode::BAD_REQUEST,
        "Request_BadRequest",
        "delegated",
    );
    // A token that may not even read its own user reads no manager either.
    let mail_only = api.user_token(&kim, "Mail.Read").await;
    let r = api.get("/v1.0/me/manager", &mail_only).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
}
