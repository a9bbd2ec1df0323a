//! `latchkey mail test` (one message now, straight to the SMTP server, its error reported as
//! the server gave it) and `latchkey mail queue` (the send queue, without content).

use std::time::Duration;

use latchkey_core::mail::{MailAddress, MailContent, MailQuery, MailStatus, OpenedMail};
use latchkey_mail::{Mailer, Security, SmtpConfig};
use secrecy::SecretString;
use serde_json::json;

use super::{CliError, CliResult, open_directory, read_secret_file};
use crate::cli::{MailCommand, MailQueueArgs, MailTestArgs, SmtpArgs};

pub async fn run(command: MailCommand) -> CliResult {
    match command {
        MailCommand::Test(args) => test(args).await,
        MailCommand::Queue(args) => queue(args).await,
    }
}

/// The SMTP configuration from flags and environment, validated; `None` without a host.
pub fn smtp_config(args: &SmtpArgs) -> CliResult<Option<SmtpConfig>> {
    let Some(host) = args.smtp_host.clone().filter(|h| !h.trim().is_empty()) else {
        return Ok(None);
    };
    let security: Security = args
        .smtp_security
        .parse()
        .map_err(|e: latchkey_mail::ConfigError| CliError(e.to_string()))?;
    let from = args.mail_from.as_deref().ok_or_else(|| {
        CliError("--mail-from (or LATCHKEY_MAIL_FROM) is needed with --smtp-host".into())
    })?;
    let from = MailAddress::parse(from).map_err(|e| CliError(format!("--mail-from: {e}")))?;
    let password = match (
        &args.smtp_password_file,
        std::env::var("LATCHKEY_SMTP_PASSWORD"),
    ) {
        (Some(file), _) => Some(read_secret_file(file)?),
        (None, Ok(p)) if !p.is_empty() => Some(SecretString::from(p)),
        _ => None,
    };
    let config = SmtpConfig {
        host,
        port: args.smtp_port.unwrap_or(security.default_port()),
        security,
        username: args.smtp_username.clone(),
        password,
        from,
        timeout: Duration::from_secs(60),
    };
    config.validate().map_err(|e| CliError(e.to_string()))?;
    Ok(Some(config))
}

async fn test(args: MailTestArgs) -> CliResult {
    let config = smtp_config(&args.smtp)?
        .ok_or_else(|| CliError("--smtp-host (or LATCHKEY_SMTP_HOST) is needed".into()))?;
    let to = MailAddress::parse(&args.to).map_err(|e| CliError(format!("--to: {e}")))?;
    let mailer = Mailer::new(&config).map_err(|e| CliError(e.to_string()))?;
    let message = OpenedMail {
        organization: "Latchkey".into(),
        content: MailContent::Test {
            sent_by: "the operator (latchkey mail test)".into(),
        },
    };
    let rendered = latchkey_mail::render(&message).map_err(|e| CliError(e.to_string()))?;
    let id = uuid::Uuid::new_v4().to_string();
    mailer
        .send(std::slice::from_ref(&to), &id, &rendered)
        .await
        .map_err(|e| CliError(format!("the test message was not sent: {e}")))?;
    println!("Sent a test message to {to} through {}.", mailer.server());
    Ok(())
}

async fn queue(args: MailQueueArgs) -> CliResult {
    let directory = open_directory(&args.store).await?;
    let statuses = if args.all {
        vec![]
    } else {
        vec![MailStatus::Pending, MailStatus::Failed]
    };
    let mail = directory
        .mail_queue(&MailQuery {
            tenant: None,
            statuses,
            limit: args.limit.clamp(1, 1000),
        })
        .await?;
    let to = |m: &latchkey_core::mail::QueuedMail| {
        m.to.iter()
            .map(MailAddress::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if args.json {
        let items: Vec<_> = mail
            .iter()
            .map(|m| {
                json!({
                    "id": m.id.to_string(),
                    "tenantId": m.tenant_id.to_string(),
                    "kind": m.kind.as_str(),
                    "to": m.to.iter().map(MailAddress::as_str).collect::<Vec<_>>(),
                    "status": m.status.as_str(),
                    "attempts": m.attempts,
                    "nextAttemptDateTime": m.next_attempt_at,
                    "lastError": m.last_error,
                    "createdDateTime": m.created_at,
                    "sentDateTime": m.sent_at,
                })
            })
            .collect();
        crate::output::json(&json!({ "value": items }));
        return Ok(());
    }
    if mail.is_empty() {
        println!(
            "No messages {}.",
            if args.all {
                "queued"
            } else {
                "pending or failed"
            }
        );
        return Ok(());
    }
    for m in &mail {
        let when = match m.status {
            MailStatus::Pending => format!("next attempt {}", m.next_attempt_at.to_rfc3339()),
            MailStatus::Sent => format!(
                "sent {}",
                m.sent_at.map(|t| t.to_rfc3339()).unwrap_or_default()
            ),
            MailStatus::Failed => "given up".into(),
        };
        println!(
            "{}  {:<8} {:<16} to {}  attempts {}  {}{}",
            m.id,
            m.status.as_str(),
            m.kind.as_str(),
            to(m),
            m.attempts,
            when,
            m.last_error
                .as_deref()
                .map(|e| format!("\n    last error: {e}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}
