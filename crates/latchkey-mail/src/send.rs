//! One SMTP conversation per message, through lettre (tokio, rustls).

use latchkey_core::mail::MailAddress;
use lettre::message::{Mailbox, MultiPart, header};
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use crate::config::{ConfigError, Security, SmtpConfig};
use crate::render::Rendered;

/// Why a message was not accepted. The text is the mail server's reply or the connection
/// error (never the message); `permanent` when trying again cannot help (a 5xx reply).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    pub message: String,
    pub permanent: bool,
}

/// Sends rendered messages to the configured mail server.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    server: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("server", &self.server)
            .field("from", &self.from.email.to_string())
            .finish_non_exhaustive()
    }
}

impl Mailer {
    pub fn new(config: &SmtpConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let tls = |host: &str| {
            TlsParameters::new(host.to_owned())
                .map_err(|e| ConfigError(format!("cannot set up TLS for {host}: {e}")))
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port)
            .timeout(Some(config.timeout));
        builder = match config.security {
            Security::None => builder.tls(Tls::None),
            Security::StartTls => builder.tls(Tls::Required(tls(&config.host)?)),
            Security::Tls => builder.tls(Tls::Wrapper(tls(&config.host)?)),
        };
        if let (Some(user), Some(password)) = (&config.username, &config.password) {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose_secret().to_owned(),
            ));
        }
        let from = config.from.as_str().parse::<Mailbox>().map_err(|e| {
            ConfigError(format!(
                "the sender address {} is not usable: {e}",
                config.from
            ))
        })?;
        Ok(Self {
            transport: builder.build(),
            from,
            server: format!("{}:{} ({})", config.host, config.port, config.security),
        })
    }

    /// Where this mailer sends, for messages to the operator: `host:port (security)`.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Sends one message to `to`, with `message_id` as its `Message-ID` so that a message
    /// sent twice (a crash between the server's acceptance and our record of it) can be told
    /// apart as a duplicate by the recipient's mail system.
    pub async fn send(
        &self,
        to: &[MailAddress],
        message_id: &str,
        rendered: &Rendered,
    ) -> Result<(), SendError> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(rendered.subject.clone())
            .message_id(Some(format!("<{message_id}@latchkey>")))
            .header(AutoSubmitted);
        for address in to {
            let mailbox = address.as_str().parse::<Mailbox>().map_err(|e| SendError {
                message: format!("the recipient {address} is not usable: {e}"),
                permanent: true,
            })?;
            builder = builder.to(mailbox);
        }
        let message = builder
            .multipart(MultiPart::alternative_plain_html(
                rendered.text.clone(),
                rendered.html.clone(),
            ))
            .map_err(|e| SendError {
                message: format!("the message could not be built: {e}"),
                permanent: true,
            })?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| SendError {
                message: format!("{} refused or failed: {e}", self.server),
                permanent: e.is_permanent(),
            })
    }
}

/// `Auto-Submitted: auto-generated` (RFC 3834), so that out-of-office replies stay away.
#[derive(Debug, Clone, Copy)]
struct AutoSubmitted;

impl header::Header for AutoSubmitted {
    fn name() -> header::HeaderName {
        header::HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }

    fn display(&self) -> header::HeaderValue {
        header::HeaderValue::new(Self::name(), "auto-generated".to_owned())
    }
}
