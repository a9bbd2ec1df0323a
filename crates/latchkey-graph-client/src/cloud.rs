//! Where a tenant lives: the login authority and the Graph host of each Microsoft cloud, or
//! any other Graph-compatible server such as Latchkey.

use serde::{Deserialize, Serialize};

/// The endpoints of one cloud, without trailing slashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cloud {
    /// `https://login.microsoftonline.com`; the tenant is appended.
    pub authority: String,
    /// `https://graph.microsoft.com`; `/v1.0` is appended.
    pub graph: String,
    /// The scope asked for in client-credentials requests.
    pub scope: String,
}

impl Cloud {
    pub fn public() -> Self {
        Self::national(
            "https://login.microsoftonline.com",
            "https://graph.microsoft.com",
        )
    }

    /// Microsoft's US Government cloud (L4).
    pub fn us_government() -> Self {
        Self::national(
            "https://login.microsoftonline.us",
            "https://graph.microsoft.us",
        )
    }

    /// Microsoft Azure operated by 21Vianet (China).
    pub fn china() -> Self {
        Self::national(
            "https://login.chinacloudapi.cn",
            "https://microsoftgraph.chinacloudapi.cn",
        )
    }

    fn national(authority: &str, graph: &str) -> Self {
        Self {
            authority: authority.into(),
            graph: graph.into(),
            scope: format!("{graph}/.default"),
        }
    }

    /// A Graph-compatible server at its own URLs (Latchkey: both are its public URL). Tokens
    /// are asked for Graph's resource, as Microsoft's SDKs ask, whatever host serves it.
    pub fn custom(authority: &str, graph: &str) -> Self {
        Self {
            authority: authority.trim_end_matches('/').into(),
            graph: graph.trim_end_matches('/').into(),
            scope: "https://graph.microsoft.com/.default".into(),
        }
    }

    /// Looks a cloud up by the names Microsoft's tools use.
    pub fn named(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "public" | "global" | "azurecloud" => Some(Self::public()),
            "usgov" | "usgovernment" | "azureusgovernment" => Some(Self::us_government()),
            "china" | "azurechinacloud" => Some(Self::china()),
            _ => None,
        }
    }
}
