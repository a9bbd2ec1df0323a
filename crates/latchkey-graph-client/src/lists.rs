//! Typed reads of the collections SaaS discovery needs: `servicePrincipals`,
//! `oauth2PermissionGrants` and `auditLogs/signIns`, every page followed through
//! `@odata.nextLink` (never off the Graph host) with the client's retry and throttling
//! behaviour. Unknown properties are ignored; missing optional ones are `None`.

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::client::{GraphClient, ListQuery, page};
use crate::error::GraphClientError;

type Result<T> = std::result::Result<T, GraphClientError>;

/// A `servicePrincipal`, the properties discovery reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipal {
    pub id: String,
    pub app_id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub service_principal_type: Option<String>,
    #[serde(default)]
    pub account_enabled: Option<bool>,
    #[serde(default)]
    pub app_owner_organization_id: Option<String>,
    #[serde(default)]
    pub homepage: Option<String>,
    #[serde(default)]
    pub reply_urls: Vec<String>,
}

/// An `oauth2PermissionGrant` (a delegated consent).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionGrant {
    pub id: String,
    /// The client's service principal id.
    pub client_id: String,
    /// `AllPrincipals` or `Principal`.
    pub consent_type: String,
    #[serde(default)]
    pub principal_id: Option<String>,
    pub resource_id: String,
    /// Space-separated scopes.
    #[serde(default)]
    pub scope: Option<String>,
}

impl PermissionGrant {
    pub fn scopes(&self) -> Vec<String> {
        self.scope
            .as_deref()
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }
}

/// A `signIn` from the sign-in log.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignIn {
    pub id: String,
    pub created_date_time: DateTime<Utc>,
    #[serde(default)]
    pub user_principal_name: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub app_id: Option<String>,
    #[serde(default)]
    pub app_display_name: Option<String>,
    #[serde(default)]
    pub status: Option<SignInStatus>,
}

/// A sign-in's outcome: `errorCode` 0 is a success.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInStatus {
    #[serde(default)]
    pub error_code: i64,
}

fn decode<T: DeserializeOwned>(what: &str, v: serde_json::Value) -> Result<T> {
    serde_json::from_value(v).map_err(|e| {
        GraphClientError::Transport(format!("Graph answered a {what} that does not parse: {e}"))
    })
}

impl GraphClient {
    /// Every item of the collection at `segments` (with `pairs` on the first request).
    async fn list_every<T: DeserializeOwned>(
        &self,
        what: &str,
        segments: &[&str],
        pairs: &[(&str, String)],
    ) -> Result<Vec<T>> {
        let mut url = self.url(segments);
        for (k, v) in pairs {
            url.query_pairs_mut().append_pair(k, v);
        }
        let mut out = Vec::new();
        let mut current = page(self.send_json(Method::GET, url, None, false).await?);
        loop {
            for v in current.value.drain(..) {
                out.push(decode(what, v)?);
            }
            match current.next_link.take() {
                Some(link) => current = self.next_page(&link, &ListQuery::default()).await?,
                None => return Ok(out),
            }
        }
    }

    /// `GET /servicePrincipals`, every page.
    pub async fn list_service_principals(&self) -> Result<Vec<ServicePrincipal>> {
        self.list_every(
            "service principal",
            &["servicePrincipals"],
            &[("$top", "999".to_owned())],
        )
        .await
    }

    /// `GET /oauth2PermissionGrants`, every page.
    pub async fn list_permission_grants(&self) -> Result<Vec<PermissionGrant>> {
        self.list_every("permission grant", &["oauth2PermissionGrants"], &[])
            .await
    }

    /// `GET /auditLogs/signIns`, every page, those at or after `since` when given.
    pub async fn list_sign_ins(&self, since: Option<DateTime<Utc>>) -> Result<Vec<SignIn>> {
        let mut pairs = vec![("$top", "999".to_owned())];
        if let Some(t) = since {
            pairs.push((
                "$filter",
                format!(
                    "createdDateTime ge {}",
                    t.to_rfc3339_opts(SecondsFormat::Millis, true)
                ),
            ));
        }
        self.list_every("sign-in", &["auditLogs", "signIns"], &pairs)
            .await
    }
}
