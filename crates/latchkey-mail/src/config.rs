//! How to reach the mail server, validated before the server starts.

use std::fmt;
use std::str::FromStr;

use latchkey_core::mail::MailAddress;
use secrecy::SecretString;

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain SMTP (a relay on the same host or a trusted network; tests).
    None,
    /// Plain connection upgraded with STARTTLS, which is then required (port 587).
    StartTls,
    /// TLS from the first byte (SMTPS, port 465).
    Tls,
}

impl Security {
    /// The port usually used with this security.
    pub const fn default_port(self) -> u16 {
        match self {
            Self::None => 25,
            Self::StartTls => 587,
            Self::Tls => 465,
        }
    }
}

impl FromStr for Security {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Ok(Self::None),
            "starttls" => Ok(Self::StartTls),
            "tls" => Ok(Self::Tls),
            other => Err(ConfigError(format!(
                "SMTP security must be none, starttls or tls, not '{other}'"
            ))),
        }
    }
}

impl fmt::Display for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::None => "none",
            Self::StartTls => "starttls",
            Self::Tls => "tls",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The mail server and the sender address. `Debug` never prints the password.
#[derive(Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    /// The `From:` address (and the envelope sender).
    pub from: MailAddress,
    /// How long one SMTP conversation may take before it counts as failed.
    pub timeout: std::time::Duration,
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| ".."))
            .field("from", &self.from)
            .finish()
    }
}

impl SmtpConfig {
    /// Checks the combination: a host, and a username and password together or not at all.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.host.trim().is_empty() {
            return Err(ConfigError("the SMTP host is empty".into()));
        }
        if self.port == 0 {
            return Err(ConfigError(
                "the SMTP port must be between 1 and 65535".into(),
            ));
        }
        let loopback = matches!(
            self.host.as_str(),
            "localhost" | "127.0.0.1" | "::1" | "[::1]"
        );
        if self.username.is_some() && self.security == Security::None && !loopback {
            return Err(ConfigError(format!(
                "SMTP credentials are not sent to {} without TLS: use --smtp-security starttls or tls",
                self.host
            )));
        }
        match (&self.username, &self.password) {
            (Some(_), None) => Err(ConfigError(
                "an SMTP username needs a password (--smtp-password-file or LATCHKEY_SMTP_PASSWORD)"
                    .into(),
            )),
            (None, Some(_)) => Err(ConfigError(
                "an SMTP password was given without a username (--smtp-username)".into(),
            )),
            _ => Ok(()),
        }
    }
}
