//! The delivery loop: claim due messages from the queue (with a lease, so that two nodes
//! never send one message at once), render, send, and report each outcome to the directory,
//! which decides about retries.

use std::time::Duration;

use latchkey_core::Directory;
use latchkey_core::error::DirectoryError;

use crate::render::render;
use crate::send::Mailer;

/// How many messages one pass claims.
const BATCH: u32 = 20;

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryPass {
    /// Claimed and accepted by the mail server.
    pub sent: u32,
    /// Failed this time; queued again for later (or given up: see the queue).
    pub failed: u32,
}

impl DeliveryPass {
    pub fn claimed(&self) -> u32 {
        self.sent + self.failed
    }
}

/// One pass over the queue: every message due now (up to a batch) is sent or rescheduled.
/// Errors are the store's; a mail server's refusal is an outcome, recorded on the message.
pub async fn deliver_due(
    directory: &Directory,
    mailer: &Mailer,
) -> Result<DeliveryPass, DirectoryError> {
    let mut pass = DeliveryPass::default();
    for due in directory.claim_due_mail(BATCH).await? {
        let outcome = match render(&due.message) {
            Ok(rendered) => mailer
                .send(&due.to, &due.id.to_string(), &rendered)
                .await
                .map_err(|e| (e.message, e.permanent)),
            Err(e) => Err((e.to_string(), true)),
        };
        match outcome {
            Ok(()) => {
                if !directory.mail_sent(&due).await? {
                    tracing::warn!(mail = %due.id, "a message was sent after its lease ran out; it may be sent twice");
                }
                tracing::info!(mail = %due.id, kind = due.message.content.kind().as_str(), "mail sent");
                pass.sent += 1;
            }
            Err((error, permanent)) => {
                tracing::warn!(mail = %due.id, attempt = due.attempts + 1, permanent, %error, "mail not sent");
                directory.mail_failed(&due, &error, permanent).await?;
                pass.failed += 1;
            }
        }
    }
    Ok(pass)
}

/// Sends queued mail until `stop` turns true: a pass whenever this node queues a message
/// ([`Directory::mail_wakeup`]) and every `tick` (for messages due for a retry, and those
/// queued by other nodes). A pass under way is finished before it returns, so that a server
/// stopping does not cut a conversation short (which would send a message again later).
pub async fn run_delivery_loop(
    directory: Directory,
    mailer: Mailer,
    tick: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let wakeup = directory.mail_wakeup();
    tracing::info!(server = mailer.server(), "mail delivery started");
    while !*stop.borrow() {
        // Registered before the pass, so a message queued during it wakes the next one.
        let woken = wakeup.notified();
        while !*stop.borrow() {
            match deliver_due(&directory, &mailer).await {
                // A full batch: there may be more due right now.
                Ok(pass) if pass.claimed() >= BATCH && pass.sent > 0 => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "mail delivery: the queue cannot be read");
                    break;
                }
            }
        }
        tokio::select! {
            () = woken => {}
            () = tokio::time::sleep(tick) => {}
            _ = stop.changed() => {}
        }
    }
    tracing::info!("mail delivery stopped");
}
