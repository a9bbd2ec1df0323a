//! What can go wrong talking to Graph, with Graph's own code and message kept intact.

#[derive(Debug, thiserror::Error)]
pub enum GraphClientError {
    /// Graph answered with its error envelope (or a status without one).
    #[error("{message} ({code}, HTTP {status}{})", request_id.as_deref().map(|r| format!(", request-id {r}")).unwrap_or_default())]
    Graph {
        status: u16,
        code: String,
        message: String,
        request_id: Option<String>,
        /// The answer's `Retry-After` (429, 503), for a caller that retries on its own.
        retry_after: Option<std::time::Duration>,
    },
    /// The token endpoint refused the credentials; `description` is its `error_description`.
    #[error("the token request was refused: {error}: {description}")]
    Token { error: String, description: String },
    /// A link or URL that would take the bearer token off the Graph host.
    #[error("refusing to send the token to {0}: it is not on the Graph host")]
    ForeignUrl(String),
    /// A JSON batch Graph would refuse: too many requests, a repeated id, a `dependsOn`
    /// naming no request of the batch.
    #[error("invalid batch: {0}")]
    InvalidBatch(String),
    /// The connection failed or the answer was not what Graph sends.
    #[error("{0}")]
    Transport(String),
}

impl GraphClientError {
    /// The HTTP status, when Graph answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Graph { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl From<reqwest::Error> for GraphClientError {
    fn from(e: reqwest::Error) -> Self {
        // Without the URL: query strings may hold filters with personal data.
        Self::Transport(e.without_url().to_string())
    }
}
