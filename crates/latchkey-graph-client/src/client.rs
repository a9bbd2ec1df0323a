//! The client: tokens, requests with retries, paging, and the user calls the CLI and the
//! connectors need.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::cloud::Cloud;
use crate::error::GraphClientError;

type Result<T> = std::result::Result<T, GraphClientError>;

/// How throttled or unavailable answers (429, 503, 504) are retried: after the server's
/// `Retry-After` when it sends one, otherwise after an exponential backoff; never longer than
/// `max_wait` in one pause, and at most `max_retries` times.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub base_backoff: Duration,
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 4,
            base_backoff: Duration::from_secs(1),
            max_wait: Duration::from_secs(120),
        }
    }
}

/// A `GET /users` request. Graph's "advanced queries" (`$search`, `$count`, `ne`, `not`,
/// `endsWith`, `$orderby` with `$filter`) are sent with `ConsistencyLevel: eventual`, which
/// real Graph requires for them.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub filter: Option<String>,
    pub select: Vec<String>,
    pub top: Option<u32>,
    pub search: Option<String>,
    pub orderby: Vec<String>,
    pub count: bool,
}

impl ListQuery {
    fn is_advanced(&self) -> bool {
        let f = self
            .filter
            .as_deref()
            .unwrap_or_default()
            .to_ascii_lowercase();
        self.search.is_some()
            || self.count
            || (!self.orderby.is_empty() && self.filter.is_some())
            || f.contains(" ne ")
            || f.contains("not(")
            || f.contains("not ")
            || f.contains("endswith(")
    }

    fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if self.count {
            q.push(("$count", "true".to_owned()));
        }
        if let Some(f) = &self.filter {
            q.push(("$filter", f.clone()));
        }
        if !self.orderby.is_empty() {
            q.push(("$orderby", self.orderby.join(",")));
        }
        if let Some(s) = &self.search {
            q.push(("$search", s.clone()));
        }
        if !self.select.is_empty() {
            q.push(("$select", self.select.join(",")));
        }
        if let Some(t) = self.top {
            q.push(("$top", t.to_string()));
        }
        q
    }
}

/// One page of a collection.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub value: Vec<Value>,
    /// The absolute URL of the next page, as Graph gave it.
    pub next_link: Option<String>,
    /// `@odata.count`, when `$count=true` was asked.
    pub count: Option<u64>,
}

#[derive(Debug)]
struct Cached {
    token: SecretString,
    refresh_at: Instant,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    cloud: Cloud,
    graph_base: Url,
    tenant: String,
    client_id: String,
    secret: SecretString,
    retry: RetryPolicy,
    token: Mutex<Option<Cached>>,
}

/// A Graph client acting as an application (client credentials). Cheap to clone.
#[derive(Debug, Clone)]
pub struct GraphClient {
    inner: Arc<Inner>,
}

impl GraphClient {
    /// `extra_ca_pem` adds a CA to the system's roots, e.g. Latchkey's local CA.
    pub fn new(
        cloud: Cloud,
        tenant: &str,
        client_id: &str,
        secret: SecretString,
        extra_ca_pem: Option<&[u8]>,
        retry: RetryPolicy,
    ) -> Result<Self> {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .user_agent(concat!("latchkey-graph-client/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60));
        if let Some(pem) = extra_ca_pem {
            let ca = reqwest::Certificate::from_pem(pem).map_err(|e| {
                GraphClientError::Transport(format!("the CA file is unusable: {e}"))
            })?;
            builder = builder.add_root_certificate(ca);
        }
        let http = builder.build()?;
        let graph_base = Url::parse(&format!("{}/v1.0/", cloud.graph))
            .map_err(|e| GraphClientError::Transport(format!("the Graph URL is invalid: {e}")))?;
        if graph_base.scheme() != "https" && !is_loopback(&graph_base) {
            return Err(GraphClientError::Transport(
                "the Graph URL must use https (plain http only on loopback)".into(),
            ));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                cloud,
                graph_base,
                tenant: tenant.to_owned(),
                client_id: client_id.to_owned(),
                secret,
                retry,
                token: Mutex::new(None),
            }),
        })
    }

    pub(crate) fn retry_policy(&self) -> RetryPolicy {
        self.inner.retry
    }

    /// A valid access token, from the cache or freshly requested.
    pub async fn token(&self) -> Result<SecretString> {
        let mut cached = self.inner.token.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| Instant::now() < c.refresh_at) {
            return Ok(c.token.clone());
        }
        let fresh = self.request_token().await?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    async fn request_token(&self) -> Result<Cached> {
        let i = &self.inner;
        let url = format!("{}/{}/oauth2/v2.0/token", i.cloud.authority, i.tenant);
        let form = [
            ("client_id", i.client_id.as_str()),
            ("client_secret", i.secret.expose_secret()),
            ("grant_type", "client_credentials"),
            ("scope", i.cloud.scope.as_str()),
        ];
        let resp = i.http.post(&url).form(&form).send().await?;
        let status = resp.status();
        let body: Value = resp.json().await.map_err(|_| {
            GraphClientError::Transport(format!(
                "the token endpoint answered HTTP {status} without JSON"
            ))
        })?;
        if !status.is_success() {
            return Err(GraphClientError::Token {
                error: str_field(&body, "error")
                    .unwrap_or("unknown_error")
                    .to_owned(),
                description: str_field(&body, "error_description")
                    .unwrap_or_default()
                    .to_owned(),
            });
        }
        let token = str_field(&body, "access_token").ok_or_else(|| {
            GraphClientError::Transport("the token answer has no access_token".into())
        })?;
        let expires_in = match &body["expires_in"] {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
        .unwrap_or(600);
        // Renew five minutes early (at least half-way through a short-lived token).
        let margin = 300.min(expires_in / 2);
        Ok(Cached {
            token: SecretString::from(token.to_owned()),
            refresh_at: Instant::now() + Duration::from_secs(expires_in - margin),
        })
    }

    /// The URL of a Graph path such as `users` or `users/{id}/revokeSignInSessions`.
    pub(crate) fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.inner.graph_base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty();
            for s in segments {
                path.push(s);
            }
        }
        url
    }

    /// Refuses any URL that is not on the Graph host: a `nextLink` naming another host would
    /// otherwise receive the bearer token.
    fn check_same_origin(&self, url: &Url) -> Result<()> {
        let base = &self.inner.graph_base;
        if url.scheme() == base.scheme()
            && url.host_str() == base.host_str()
            && url.port_or_known_default() == base.port_or_known_default()
        {
            Ok(())
        } else {
            Err(GraphClientError::ForeignUrl(
                url.origin().ascii_serialization(),
            ))
        }
    }

    /// Sends one Graph request with the bearer token, retrying throttled and unavailable
    /// answers, and renewing the token once if Graph says it is no longer valid.
    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        eventual: bool,
    ) -> Result<reqwest::Response> {
        self.check_same_origin(&url)?;
        let retry = self.inner.retry;
        let mut attempt = 0u32;
        let mut renewed = false;
        loop {
            let token = self.token().await?;
            let mut req = self
                .inner
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(token.expose_secret())
                .header("Accept", "application/json");
            if eventual {
                req = req.header("ConsistencyLevel", "eventual");
            }
            if attempt > 0 {
                req = req.header("Retry-Attempt", attempt.to_string());
            }
            req = match body {
                Some(b) => req.json(b),
                None if method == Method::POST => req.header("Content-Length", "0"),
                None => req,
            };
            let resp = req.send().await?;
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED && !renewed {
                renewed = true;
                *self.inner.token.lock().await = None;
                continue;
            }
            let retryable = matches!(
                status,
                StatusCode::TOO_MANY_REQUESTS
                    | StatusCode::SERVICE_UNAVAILABLE
                    | StatusCode::GATEWAY_TIMEOUT
            );
            if retryable && attempt < retry.max_retries {
                let wait = retry_after(resp.headers())
                    .unwrap_or_else(|| retry.base_backoff.saturating_mul(1 << attempt.min(16)))
                    .min(retry.max_wait);
                tracing::debug!(
                    status = status.as_u16(),
                    ?wait,
                    attempt,
                    "Graph asked to retry"
                );
                tokio::time::sleep(wait).await;
                attempt += 1;
                continue;
            }
            if status.is_success() {
                return Ok(resp);
            }
            return Err(graph_error(resp).await);
        }
    }

    pub(crate) async fn send_json(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        eventual: bool,
    ) -> Result<Value> {
        let resp = self.send(method, url, body, eventual).await?;
        resp.json().await.map_err(|_| {
            GraphClientError::Transport("Graph answered without the expected JSON".into())
        })
    }

    /// The first page of `GET /users`.
    pub async fn list_users(&self, query: &ListQuery) -> Result<Page> {
        let mut url = self.url(&["users"]);
        for (k, v) in query.pairs() {
            url.query_pairs_mut().append_pair(k, &v);
        }
        let body = self
            .send_json(Method::GET, url, None, query.is_advanced())
            .await?;
        Ok(page(body))
    }

    /// The page a `@odata.nextLink` names; refused if it leaves the Graph host.
    pub async fn next_page(&self, next_link: &str, query: &ListQuery) -> Result<Page> {
        let url = Url::parse(next_link)
            .map_err(|_| GraphClientError::Transport("the nextLink is not a URL".into()))?;
        let body = self
            .send_json(Method::GET, url, None, query.is_advanced())
            .await?;
        Ok(page(body))
    }

    /// Every page of `GET /users`, handed to `each` as it arrives.
    pub async fn list_all_users(
        &self,
        query: &ListQuery,
        mut each: impl FnMut(Page),
    ) -> Result<()> {
        let mut page = self.list_users(query).await?;
        loop {
            let next = page.next_link.take();
            each(page);
            match next {
                Some(link) => page = self.next_page(&link, query).await?,
                None => return Ok(()),
            }
        }
    }

    /// `GET /users/{id | userPrincipalName}`.
    pub async fn get_user(&self, user: &str, select: &[String]) -> Result<Value> {
        let mut url = self.url(&["users", user]);
        if !select.is_empty() {
            url.query_pairs_mut()
                .append_pair("$select", &select.join(","));
        }
        self.send_json(Method::GET, url, None, false).await
    }

    /// `POST /users`; the body is a Graph user with the required properties.
    pub async fn create_user(&self, body: &Value) -> Result<Value> {
        self.send_json(Method::POST, self.url(&["users"]), Some(body), false)
            .await
    }

    /// `PATCH /users/{id}`: Graph answers 204.
    pub async fn update_user(&self, user: &str, body: &Value) -> Result<()> {
        self.send(Method::PATCH, self.url(&["users", user]), Some(body), false)
            .await?;
        Ok(())
    }

    /// Sets a password through `passwordProfile`, as an administrator's reset.
    pub async fn set_password(
        &self,
        user: &str,
        password: &SecretString,
        force_change_next_sign_in: bool,
    ) -> Result<()> {
        let body = json!({
            "passwordProfile": {
                "forceChangePasswordNextSignIn": force_change_next_sign_in,
                "password": password.expose_secret(),
            }
        });
        self.update_user(user, &body).await
    }

    /// Blocks or unblocks sign-in.
    pub async fn set_account_enabled(&self, user: &str, enabled: bool) -> Result<()> {
        self.update_user(user, &json!({ "accountEnabled": enabled }))
            .await
    }

    /// `POST /users/{id}/revokeSignInSessions`.
    pub async fn revoke_sign_in_sessions(&self, user: &str) -> Result<bool> {
        let body = self
            .send_json(
                Method::POST,
                self.url(&["users", user, "revokeSignInSessions"]),
                None,
                false,
            )
            .await?;
        Ok(body["value"].as_bool().unwrap_or(false))
    }

    /// `POST /users/{id}/assignLicense`: adds the SKUs in `add` (no disabled plans) and
    /// removes those in `remove`.
    pub async fn assign_license(
        &self,
        user: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<()> {
        let body = json!({
            "addLicenses": add.iter().map(|sku| json!({ "skuId": sku, "disabledPlans": [] })).collect::<Vec<_>>(),
            "removeLicenses": remove,
        });
        self.send(
            Method::POST,
            self.url(&["users", user, "assignLicense"]),
            Some(&body),
            false,
        )
        .await?;
        Ok(())
    }

    /// `GET /subscribedSkus`: the tenant's SKUs (`skuId`, `skuPartNumber`, seats).
    pub async fn list_subscribed_skus(&self) -> Result<Vec<Value>> {
        let body = self
            .send_json(Method::GET, self.url(&["subscribedSkus"]), None, false)
            .await?;
        Ok(body["value"].as_array().cloned().unwrap_or_default())
    }

    /// `GET /directoryRoles`: the tenant's activated directory roles (`id`,
    /// `roleTemplateId`, `displayName`).
    pub async fn list_directory_roles(&self) -> Result<Vec<Value>> {
        let body = self
            .send_json(Method::GET, self.url(&["directoryRoles"]), None, false)
            .await?;
        Ok(body["value"].as_array().cloned().unwrap_or_default())
    }

    /// `POST /directoryRoles/{id}/members/$ref`: assigns the role to the user. Graph answers
    /// 400 ("One or more added object references already exist") when they hold it.
    pub async fn add_directory_role_member(&self, role: &str, user: &str) -> Result<()> {
        let reference = self.url(&["directoryObjects", user]).to_string();
        self.send(
            Method::POST,
            self.url(&["directoryRoles", role, "members", "$ref"]),
            Some(&json!({ "@odata.id": reference })),
            false,
        )
        .await?;
        Ok(())
    }

    /// `DELETE /directoryRoles/{id}/members/{user}/$ref`: takes the role away; 404 when the
    /// user does not hold it.
    pub async fn remove_directory_role_member(&self, role: &str, user: &str) -> Result<()> {
        self.send(
            Method::DELETE,
            self.url(&["directoryRoles", role, "members", user, "$ref"]),
            None,
            false,
        )
        .await?;
        Ok(())
    }

    /// `DELETE /users/{id}`: to the deleted items, restorable for 30 days.
    pub async fn delete_user(&self, user: &str) -> Result<()> {
        self.send(Method::DELETE, self.url(&["users", user]), None, false)
            .await?;
        Ok(())
    }
}

fn is_loopback(url: &Url) -> bool {
    matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"))
}

fn str_field<'a>(v: &'a Value, name: &str) -> Option<&'a str> {
    v.get(name).and_then(Value::as_str)
}

pub(crate) fn page(mut body: Value) -> Page {
    Page {
        next_link: str_field(&body, "@odata.nextLink").map(str::to_owned),
        count: body.get("@odata.count").and_then(Value::as_u64),
        value: match body.get_mut("value").map(Value::take) {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        },
    }
}

/// `Retry-After` in seconds or as an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get("retry-after")?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let secs = (at.timestamp() - chrono::Utc::now().timestamp()).max(0);
    Some(Duration::from_secs(u64::try_from(secs).unwrap_or(0)))
}

async fn graph_error(resp: reqwest::Response) -> GraphClientError {
    let status = resp.status().as_u16();
    let retry_after = retry_after(resp.headers());
    let request_id = resp
        .headers()
        .get("request-id")
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .map(str::to_owned);
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    let err = &body["error"];
    GraphClientError::Graph {
        status,
        code: str_field(err, "code").unwrap_or("UnknownError").to_owned(),
        message: str_field(err, "message")
            .unwrap_or("Graph gave no error message")
            .to_owned(),
        request_id: request_id
            .or_else(|| str_field(&err["innerError"], "request-id").map(str::to_owned)),
        retry_after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advanced_queries_are_recognised_as_graph_defines_them() {
        let q = |f: &str| ListQuery {
            filter: Some(f.into()),
            ..ListQuery::default()
        };
        assert!(!q("startswith(displayName,'a')").is_advanced());
        assert!(!q("accountEnabled eq true").is_advanced());
        assert!(q("department ne 'Sales'").is_advanced());
        assert!(q("endswith(mail,'@contoso.test')").is_advanced());
        assert!(q("not(accountEnabled eq true)").is_advanced());
        assert!(
            ListQuery {
                count: true,
                ..ListQuery::default()
            }
            .is_advanced()
        );
        assert!(
            ListQuery {
                search: Some("\"displayName:ad\"".into()),
                ..ListQuery::default()
            }
            .is_advanced()
        );
        assert!(
            ListQuery {
                orderby: vec!["displayName".into()],
                ..q("accountEnabled eq true")
            }
            .is_advanced()
        );
    }

    #[test]
    fn retry_after_is_read_in_seconds_or_as_a_date() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn user_paths_are_percent_encoded_and_foreign_links_refused() {
        let c = GraphClient::new(
            Cloud::custom("https://localhost:8443", "https://localhost:8443"),
            "contoso.test",
            "client",
            SecretString::from("s".to_owned()),
            None,
            RetryPolicy::default(),
        )
        .unwrap();
        let u = c.url(&["users", "adele@contoso.test"]);
        assert_eq!(
            u.as_str(),
            "https://localhost:8443/v1.0/users/adele@contoso.test"
        );
        let u = c.url(&["users", "a/b?c#d"]);
        assert_eq!(
            u.as_str(),
            "https://localhost:8443/v1.0/users/a%2Fb%3Fc%23d"
        );
        assert!(
            c.check_same_origin(
                &Url::parse("https://localhost:8443/v1.0/users?$skiptoken=x").unwrap()
            )
            .is_ok()
        );
        for foreign in [
            "https://graph.microsoft.com/v1.0/users",
            "https://localhost:9443/v1.0/users",
            "http://localhost:8443/v1.0/users",
        ] {
            let err = c
                .check_same_origin(&Url::parse(foreign).unwrap())
                .unwrap_err();
            assert!(matches!(err, GraphClientError::ForeignUrl(_)), "{foreign}");
        }
    }

    #[test]
    fn plain_http_is_refused_off_loopback() {
        let make = |graph: &str| {
            GraphClient::new(
                Cloud::custom("https://login.example", graph),
                "t",
                "c",
                SecretString::from("s".to_owned()),
                None,
                RetryPolicy::default(),
            )
        };
        assert!(make("http://graph.example").is_err());
        assert!(make("http://127.0.0.1:8080").is_ok());
    }
}
