//! The send queue's operations: what a sender (the `latchkey-mail` delivery loop) claims,
//! and how an attempt's outcome is recorded. Messages enter the queue only through a change's
//! [`crate::audit::Events::mail`]; see [`crate::mail`].

use std::sync::Arc;

use tokio::sync::Notify;
use uuid::Uuid;

use super::Directory;
use crate::authz::{Action, Actor, authorize};
use crate::error::DirectoryError;
use crate::ids::TenantId;
use crate::mail::{
    CLAIM_LEASE, MAX_ATTEMPTS, MailAddress, MailContent, MailId, MailQuery, MailRetry, MailStatus,
    OpenedMail, OutgoingMail, QueuedMail, open_content, retry_delay,
};
use crate::tenant::Tenant;
use crate::user::User;

/// A claimed message, opened and ready to render and send. Report the outcome with
/// [`Directory::mail_sent`] or [`Directory::mail_failed`].
#[derive(Debug)]
pub struct DueMail {
    pub id: MailId,
    pub lease: Uuid,
    pub to: Vec<MailAddress>,
    /// Failed attempts before this one.
    pub attempts: u32,
    pub message: OpenedMail,
}

impl Directory {
    /// Notified whenever this node queues a message, so that the delivery loop sends it now
    /// rather than at its next tick. (Other nodes' messages wait for the tick.)
    pub fn mail_wakeup(&self) -> Arc<Notify> {
        self.mail_wakeup.clone()
    }

    /// Tells the delivery loop that a committed change queued mail.
    pub(super) fn mail_queued(&self, events: &crate::audit::Events) {
        if !events.mail.is_empty() {
            self.mail_wakeup.notify_one();
        }
    }

    /// Seals a message for the queue, from the tenant's name.
    pub(super) fn seal_mail(
        &self,
        tenant: &Tenant,
        to: Vec<MailAddress>,
        content: &MailContent,
    ) -> Result<OutgoingMail, DirectoryError> {
        OutgoingMail::seal(
            self.master_key()?,
            tenant.id,
            to,
            &tenant.display_name,
            content,
            self.clock.now(),
        )
        .map_err(|e| DirectoryError::Internal(e.to_string()))
    }

    /// Claims up to `limit` due messages for [`crate::mail::CLAIM_LEASE`] and opens them. A
    /// message whose content this server cannot open (another master key) is failed at once:
    /// retrying cannot help.
    pub async fn claim_due_mail(&self, limit: u32) -> Result<Vec<DueMail>, DirectoryError> {
        // Without the key nothing could be opened: claim nothing rather than lease in vain.
        let key = self.master_key()?;
        let now = self.clock.now();
        let claimed = self
            .store
            .claim_due_mail(now, now + CLAIM_LEASE, limit)
            .await?;
        let mut due = Vec::with_capacity(claimed.len());
        for c in claimed {
            let opened = c
                .mail
                .sealed_content
                .as_deref()
                .ok_or(crate::crypto::SealError::Open)
                .and_then(|sealed| open_content(key, sealed));
            match opened {
                Ok(message) => due.push(DueMail {
                    id: c.mail.id,
                    lease: c.lease,
                    to: c.mail.to,
                    attempts: c.mail.attempts,
                    message,
                }),
                Err(e) => {
                    tracing::error!(mail = %c.mail.id, "a queued message cannot be opened: {e}");
                    let retry = MailRetry {
                        attempts: MAX_ATTEMPTS,
                        next_attempt_at: None,
                        error: "the message cannot be opened with this server's master key".into(),
                    };
                    self.store
                        .reschedule_mail(c.mail.id, c.lease, &retry)
                        .await?;
                }
            }
        }
        Ok(due)
    }

    /// Records that a claimed message was accepted by the mail server; `false` if its lease
    /// ran out meanwhile (another sender may then send it again).
    pub async fn mail_sent(&self, due: &DueMail) -> Result<bool, DirectoryError> {
        Ok(self
            .store
            .mark_mail_sent(due.id, due.lease, self.clock.now())
            .await?)
    }

    /// Records a failed attempt: tried again after a growing delay, or given up after
    /// [`MAX_ATTEMPTS`]. `error` is the mail server's reply or the connection error, never
    /// content. `permanent` (e.g. a recipient the server refuses for good) gives up at once.
    pub async fn mail_failed(
        &self,
        due: &DueMail,
        error: &str,
        permanent: bool,
    ) -> Result<bool, DirectoryError> {
        let attempts = due.attempts.saturating_add(1);
        let next_attempt_at = if permanent {
            None
        } else {
            retry_delay(attempts).map(|d| self.clock.now() + d)
        };
        let retry = MailRetry {
            attempts,
            next_attempt_at,
            error: error.to_owned(),
        };
        Ok(self
            .store
            .reschedule_mail(due.id, due.lease, &retry)
            .await?)
    }

    /// The queue as an operator sees it (kinds, recipients, states; never content).
    pub async fn mail_queue(&self, query: &MailQuery) -> Result<Vec<QueuedMail>, DirectoryError> {
        Ok(self.store.list_mail(query).await?)
    }

    /// A tenant's pending and failed messages, oldest first, for an administrator: whoever
    /// may reset passwords may see whether the links they sent went out.
    pub async fn undelivered_mail(
        &self,
        actor: &Actor,
        tenant: TenantId,
        limit: u32,
    ) -> Result<Vec<QueuedMail>, DirectoryError> {
        authorize(actor, Action::ResetPassword, &[])?;
        self.mail_queue(&MailQuery {
            tenant: Some(tenant),
            statuses: vec![MailStatus::Pending, MailStatus::Failed],
            limit,
        })
        .await
    }

    /// The "your password was changed" notice for a user, when they have an address to send
    /// it to and this directory can seal mail (the server can; offline tools cannot).
    pub(super) fn password_changed_notice(
        &self,
        tenant: &Tenant,
        user: &User,
        changed_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<OutgoingMail>, DirectoryError> {
        if self.master.is_none() {
            return Ok(None);
        }
        let to = user_addresses(user);
        if to.is_empty() {
            return Ok(None);
        }
        let content = MailContent::PasswordChanged {
            display_name: user.display_name.to_string(),
            user_principal_name: user.user_principal_name.to_string(),
            changed_at,
        };
        self.seal_mail(tenant, to, &content).map(Some)
    }
}

/// A user's own addresses: `mail`, then `otherMails`, each once; unparseable ones skipped.
pub fn user_addresses(user: &User) -> Vec<MailAddress> {
    let mut out: Vec<MailAddress> = Vec::new();
    for a in user.profile.mail.iter().chain(&user.profile.other_mails) {
        if let Ok(a) = MailAddress::parse(a)
            && !out
                .iter()
                .any(|o| o.as_str().eq_ignore_ascii_case(a.as_str()))
        {
            out.push(a);
        }
    }
    out
}
