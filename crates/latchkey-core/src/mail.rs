//! Outgoing e-mail: what the directory asks to send, how it waits in the store's send queue,
//! and when a failed attempt is tried again.
//!
//! A message is queued by the change that causes it, in the same transaction
//! ([`crate::audit::Events::mail`]), so "the password was reset" and "the notice is queued"
//! can never disagree. Its content (the names, and for some kinds a one-time code or a
//! view-once link) is sealed under the server's master key with the purpose [`MAIL_PURPOSE`]
//! before it reaches the store: the queue's rows carry only the kind, the recipients and the
//! delivery state, and the sealed content is wiped once the message is sent. The
//! `latchkey-mail` crate claims due messages with a lease, opens them, renders and sends them
//! over SMTP, and reports back; this module decides nothing about SMTP.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::crypto::{MasterKey, SealError};
use crate::ids::TenantId;
use crate::store::StoreResult;

/// The sealing purpose of a queued message's content.
pub const MAIL_PURPOSE: &str = "mail";

/// After this many failed attempts a message is given up (`failed`), about 10 hours after it
/// was queued with the backoff of [`retry_delay`].
pub const MAX_ATTEMPTS: u32 = 15;

/// How long a claimed message is reserved for the sender that claimed it. An SMTP
/// conversation is bounded well below this, so a message is never claimed twice while its
/// first sender is still talking; a sender that crashed releases it when the lease runs out.
pub const CLAIM_LEASE: Duration = Duration::minutes(5);

/// The wait before attempt `attempts + 1`, after `attempts` failed ones: 30 s doubling to a
/// cap of one hour; `None` once [`MAX_ATTEMPTS`] is reached (the message has failed).
pub fn retry_delay(attempts: u32) -> Option<Duration> {
    if attempts >= MAX_ATTEMPTS {
        return None;
    }
    let exp = attempts.saturating_sub(1).min(7);
    Some((Duration::seconds(30) * (1 << exp)).min(Duration::hours(1)))
}

/// An e-mail address as it goes into an SMTP envelope: `local@domain`, no spaces, no
/// angle brackets or control characters, at most 254 characters.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MailAddress(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not an e-mail address (expected name@domain)")]
pub struct InvalidMailAddress(pub String);

impl MailAddress {
    pub fn parse(s: &str) -> Result<Self, InvalidMailAddress> {
        let bad = || InvalidMailAddress(s.chars().take(80).collect());
        let s = s.trim();
        if s.is_empty() || s.len() > 254 {
            return Err(bad());
        }
        if s.chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'))
        {
            return Err(bad());
        }
        let (local, domain) = s.rsplit_once('@').ok_or_else(bad)?;
        if local.is_empty()
            || local.len() > 64
            || domain.is_empty()
            || !domain.contains('.')
            || domain.contains('@')
            || domain.starts_with('.')
            || domain.ends_with('.')
        {
            return Err(bad());
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for MailAddress {
    type Error = InvalidMailAddress;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<MailAddress> for String {
    fn from(a: MailAddress) -> Self {
        a.0
    }
}

impl fmt::Display for MailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for MailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MailAddress({})", self.0)
    }
}

/// Which template a message is rendered with; stored in the clear for the queue's listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailKind {
    /// A one-time code (self-service reset, recovery address verification).
    OneTimeCode,
    /// A link to a page that reveals a temporary password once.
    ViewOnceLink,
    /// "Your password was changed".
    PasswordChanged,
    /// `latchkey mail test`.
    Test,
    /// A lifecycle workflow tells a user's manager that it ran for the user.
    WorkflowNotice,
    /// The SaaS inventory tells the Global Administrators of an app newly seen in use.
    SaasAppDiscovered,
    /// SaaS management tells someone of a licence or contract matter (a seat reclaimed, a
    /// renewal deadline coming).
    SaasNotice,
    /// A lifecycle workflow's `sendEmail` step: an administrator's template, rendered.
    WorkflowMessage,
}

impl MailKind {
    pub const ALL: [Self; 8] = [
        Self::OneTimeCode,
        Self::ViewOnceLink,
        Self::PasswordChanged,
        Self::Test,
        Self::WorkflowNotice,
        Self::SaasAppDiscovered,
        Self::SaasNotice,
        Self::WorkflowMessage,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OneTimeCode => "oneTimeCode",
            Self::ViewOnceLink => "viewOnceLink",
            Self::PasswordChanged => "passwordChanged",
            Self::Test => "test",
            Self::WorkflowNotice => "workflowNotice",
            Self::SaasAppDiscovered => "saasAppDiscovered",
            Self::SaasNotice => "saasNotice",
            Self::WorkflowMessage => "workflowMessage",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// What a message says. The secret parts (`code`, `link`) are `SecretString`s; the whole
/// content is sealed before it is queued.
pub enum MailContent {
    OneTimeCode {
        /// The person the code is for.
        display_name: String,
        code: SecretString,
        /// For how long the code works, in minutes.
        valid_minutes: u32,
    },
    ViewOnceLink {
        /// The user whose password the link reveals.
        display_name: String,
        user_principal_name: String,
        link: SecretString,
        expires_at: DateTime<Utc>,
        /// The administrator (or workflow) that reset the password.
        sent_by: String,
    },
    PasswordChanged {
        display_name: String,
        user_principal_name: String,
        changed_at: DateTime<Utc>,
    },
    Test {
        sent_by: String,
    },
    /// To a manager: the workflow `workflow` ran for their report.
    WorkflowNotice {
        manager_display_name: String,
        display_name: String,
        user_principal_name: String,
        workflow: String,
    },
    /// To the Global Administrators: an app not in the inventory was seen in use.
    SaasAppDiscovered {
        app_name: String,
        /// Who used it (a UPN), or the administrator who consented.
        seen_by: String,
        /// How it was seen (`userConsent`, `adminConsent`, `signIn`).
        source: String,
        permissions: Vec<String>,
        /// The risky ones among `permissions`.
        risky: Vec<String>,
    },
    /// From SaaS management: a subject and paragraphs of plain text.
    SaasNotice {
        subject: String,
        paragraphs: Vec<String>,
    },
    /// A workflow's `sendEmail` step: its rendered subject and plain-text body.
    WorkflowMessage {
        subject: String,
        body: String,
    },
}

impl fmt::Debug for MailContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only the kind: even the names are nobody's business in a log line.
        write!(f, "MailContent::{}(..)", self.kind().as_str())
    }
}

impl MailContent {
    pub const fn kind(&self) -> MailKind {
        match self {
            Self::OneTimeCode { .. } => MailKind::OneTimeCode,
            Self::ViewOnceLink { .. } => MailKind::ViewOnceLink,
            Self::PasswordChanged { .. } => MailKind::PasswordChanged,
            Self::Test { .. } => MailKind::Test,
            Self::WorkflowNotice { .. } => MailKind::WorkflowNotice,
            Self::SaasAppDiscovered { .. } => MailKind::SaasAppDiscovered,
            Self::SaasNotice { .. } => MailKind::SaasNotice,
            Self::WorkflowMessage { .. } => MailKind::WorkflowMessage,
        }
    }

    fn to_wire(&self, organization: &str) -> Wire {
        let content = match self {
            Self::OneTimeCode {
                display_name,
                code,
                valid_minutes,
            } => WireContent::OneTimeCode {
                display_name: display_name.clone(),
                code: code.expose_secret().to_owned(),
                valid_minutes: *valid_minutes,
            },
            Self::ViewOnceLink {
                display_name,
                user_principal_name,
                link,
                expires_at,
                sent_by,
            } => WireContent::ViewOnceLink {
                display_name: display_name.clone(),
                user_principal_name: user_principal_name.clone(),
                link: link.expose_secret().to_owned(),
                expires_at: *expires_at,
                sent_by: sent_by.clone(),
            },
            Self::PasswordChanged {
                display_name,
                user_principal_name,
                changed_at,
            } => WireContent::PasswordChanged {
                display_name: display_name.clone(),
                user_principal_name: user_principal_name.clone(),
                changed_at: *changed_at,
            },
            Self::Test { sent_by } => WireContent::Test {
                sent_by: sent_by.clone(),
            },
            Self::WorkflowNotice {
                manager_display_name,
                display_name,
                user_principal_name,
                workflow,
            } => WireContent::WorkflowNotice {
                manager_display_name: manager_display_name.clone(),
                display_name: display_name.clone(),
                user_principal_name: user_principal_name.clone(),
                workflow: workflow.clone(),
            },
            Self::SaasAppDiscovered {
                app_name,
                seen_by,
                source,
                permissions,
                risky,
            } => WireContent::SaasAppDiscovered {
                app_name: app_name.clone(),
                seen_by: seen_by.clone(),
                source: source.clone(),
                permissions: permissions.clone(),
                risky: risky.clone(),
            },
            Self::SaasNotice {
                subject,
                paragraphs,
            } => WireContent::SaasNotice {
                subject: subject.clone(),
                paragraphs: paragraphs.clone(),
            },
            Self::WorkflowMessage { subject, body } => WireContent::WorkflowMessage {
                subject: subject.clone(),
                body: body.clone(),
            },
        };
        Wire {
            organization: organization.to_owned(),
            content,
        }
    }
}

/// The sealed form of a message's content.
#[derive(Serialize, Deserialize)]
struct Wire {
    organization: String,
    content: WireContent,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
enum WireContent {
    #[serde(rename_all = "camelCase")]
    OneTimeCode {
        display_name: String,
        code: String,
        valid_minutes: u32,
    },
    #[serde(rename_all = "camelCase")]
    ViewOnceLink {
        display_name: String,
        user_principal_name: String,
        link: String,
        expires_at: DateTime<Utc>,
        sent_by: String,
    },
    #[serde(rename_all = "camelCase")]
    PasswordChanged {
        display_name: String,
        user_principal_name: String,
        changed_at: DateTime<Utc>,
    },
    #[serde(rename_all = "camelCase")]
    Test { sent_by: String },
    #[serde(rename_all = "camelCase")]
    WorkflowNotice {
        manager_display_name: String,
        display_name: String,
        user_principal_name: String,
        workflow: String,
    },
    #[serde(rename_all = "camelCase")]
    SaasAppDiscovered {
        app_name: String,
        seen_by: String,
        source: String,
        permissions: Vec<String>,
        risky: Vec<String>,
    },
    #[serde(rename_all = "camelCase")]
    SaasNotice {
        subject: String,
        paragraphs: Vec<String>,
    },
    #[serde(rename_all = "camelCase")]
    WorkflowMessage { subject: String, body: String },
}

impl From<WireContent> for MailContent {
    fn from(w: WireContent) -> Self {
        match w {
            WireContent::OneTimeCode {
                display_name,
                code,
                valid_minutes,
            } => Self::OneTimeCode {
                display_name,
                code: code.into(),
                valid_minutes,
            },
            WireContent::ViewOnceLink {
                display_name,
                user_principal_name,
                link,
                expires_at,
                sent_by,
            } => Self::ViewOnceLink {
                display_name,
                user_principal_name,
                link: link.into(),
                expires_at,
                sent_by,
            },
            WireContent::PasswordChanged {
                display_name,
                user_principal_name,
                changed_at,
            } => Self::PasswordChanged {
                display_name,
                user_principal_name,
                changed_at,
            },
            WireContent::Test { sent_by } => Self::Test { sent_by },
            WireContent::WorkflowNotice {
                manager_display_name,
                display_name,
                user_principal_name,
                workflow,
            } => Self::WorkflowNotice {
                manager_display_name,
                display_name,
                user_principal_name,
                workflow,
            },
            WireContent::SaasAppDiscovered {
                app_name,
                seen_by,
                source,
                permissions,
                risky,
            } => Self::SaasAppDiscovered {
                app_name,
                seen_by,
                source,
                permissions,
                risky,
            },
            WireContent::SaasNotice {
                subject,
                paragraphs,
            } => Self::SaasNotice {
                subject,
                paragraphs,
            },
            WireContent::WorkflowMessage { subject, body } => {
                Self::WorkflowMessage { subject, body }
            }
        }
    }
}

/// A message with its content opened, ready to render: who it comes from (the tenant's
/// name) and what it says.
#[derive(Debug)]
pub struct OpenedMail {
    pub organization: String,
    pub content: MailContent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MailId(pub Uuid);

impl fmt::Display for MailId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A message to queue: written by the store in the same transaction as the change that
/// causes it. Build it with [`OutgoingMail::seal`].
#[derive(Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    pub id: MailId,
    pub tenant_id: TenantId,
    pub to: Vec<MailAddress>,
    pub kind: MailKind,
    /// The content sealed under the master key ([`MAIL_PURPOSE`]).
    pub sealed_content: Vec<u8>,
    pub created_at: DateTime<Utc>,
}

impl fmt::Debug for OutgoingMail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingMail")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("to", &self.to)
            .finish_non_exhaustive()
    }
}

impl OutgoingMail {
    pub fn seal(
        key: &MasterKey,
        tenant_id: TenantId,
        to: Vec<MailAddress>,
        organization: &str,
        content: &MailContent,
        now: DateTime<Utc>,
    ) -> Result<Self, SealError> {
        let json =
            serde_json::to_vec(&content.to_wire(organization)).map_err(|_| SealError::Seal)?;
        let json = SecretBytes(json);
        Ok(Self {
            id: MailId(Uuid::new_v4()),
            tenant_id,
            to,
            kind: content.kind(),
            sealed_content: key.seal(MAIL_PURPOSE, &json.0)?,
            created_at: now,
        })
    }
}

/// Opens a queued message's sealed content.
pub fn open_content(key: &MasterKey, sealed: &[u8]) -> Result<OpenedMail, SealError> {
    let json = SecretBytes(key.open(MAIL_PURPOSE, sealed)?);
    let wire: Wire = serde_json::from_slice(&json.0).map_err(|_| SealError::Open)?;
    Ok(OpenedMail {
        organization: wire.organization,
        content: wire.content.into(),
    })
}

/// Plaintext bytes wiped when dropped (best effort: serde's copies are not).
struct SecretBytes(Vec<u8>);

impl Drop for SecretBytes {
    fn drop(&mut self) {
        for b in &mut self.0 {
            // A volatile-free wipe may be optimised away in theory; the allocation is freed
            // right after, and the master key, not this, is what protects the store.
            *b = 0;
        }
    }
}

/// Where a queued message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailStatus {
    /// Waiting for its next attempt (or being sent under a lease).
    Pending,
    Sent,
    /// Given up after [`MAX_ATTEMPTS`], or content that cannot be opened.
    Failed,
}

impl MailStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Sent, Self::Failed]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A message as the queue holds it. `sealed_content` is `None` once sent or failed.
#[derive(Clone, PartialEq, Eq)]
pub struct QueuedMail {
    pub id: MailId,
    pub tenant_id: TenantId,
    pub to: Vec<MailAddress>,
    pub kind: MailKind,
    pub sealed_content: Option<Vec<u8>>,
    pub status: MailStatus,
    /// Failed attempts so far.
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    /// The last attempt's error (an SMTP reply or a connection error; never content).
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

impl fmt::Debug for QueuedMail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueuedMail")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("to", &self.to)
            .field("status", &self.status)
            .field("attempts", &self.attempts)
            .field("next_attempt_at", &self.next_attempt_at)
            .field("last_error", &self.last_error)
            .finish_non_exhaustive()
    }
}

/// A message claimed for sending: only the holder of `lease` may report its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedMail {
    pub mail: QueuedMail,
    pub lease: Uuid,
}

/// The outcome of a failed attempt, decided by core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailRetry {
    /// Failed attempts including this one.
    pub attempts: u32,
    /// When to try again; `None`: give up (`failed`).
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub error: String,
}

/// Which messages a listing returns, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailQuery {
    /// `None`: every tenant (the operator's view).
    pub tenant: Option<TenantId>,
    pub statuses: Vec<MailStatus>,
    pub limit: u32,
}

/// The send queue's storage. Part of [`crate::store::Store`]; messages are inserted only
/// through [`crate::audit::Events::mail`], with the change that causes them.
#[async_trait]
pub trait MailStore: Send + Sync {
    /// Reserves up to `limit` pending messages due at `now` (and not leased by another
    /// sender) until `lease_until`, under one fresh lease id. On PostgreSQL, nodes claiming
    /// together skip each other's rows (`FOR UPDATE SKIP LOCKED`).
    async fn claim_due_mail(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<ClaimedMail>>;
    /// Marks a claimed message sent and wipes its content; `false` if the lease was lost.
    async fn mark_mail_sent(&self, id: MailId, lease: Uuid, at: DateTime<Utc>)
    -> StoreResult<bool>;
    /// Records a failed attempt: back to pending at `next_attempt_at`, or `failed` (content
    /// wiped) when there is none; `false` if the lease was lost.
    async fn reschedule_mail(
        &self,
        id: MailId,
        lease: Uuid,
        retry: &MailRetry,
    ) -> StoreResult<bool>;
    async fn list_mail(&self, query: &MailQuery) -> StoreResult<Vec<QueuedMail>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_from_thirty_seconds_to_an_hour_then_give_up() {
        assert_eq!(retry_delay(1), Some(Duration::seconds(30)));
        assert_eq!(retry_delay(2), Some(Duration::seconds(60)));
        assert_eq!(retry_delay(4), Some(Duration::seconds(240)));
        assert_eq!(retry_delay(8), Some(Duration::hours(1)));
        assert_eq!(retry_delay(14), Some(Duration::hours(1)));
        assert_eq!(retry_delay(MAX_ATTEMPTS), None);
    }

    #[test]
    fn addresses_are_checked_and_errors_name_the_value() {
        assert!(MailAddress::parse("ada@contoso.test").is_ok());
        for bad in [
            "",
            "ada",
            "ada@",
            "@contoso.test",
            "ada@localhost",
            "a da@contoso.test",
            "ada@contoso.test>",
            "ada@contoso.test\r\nRCPT TO:<x@y.z>",
        ] {
            assert!(MailAddress::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            MailAddress::parse("nope").unwrap_err().to_string(),
            "'nope' is not an e-mail address (expected name@domain)"
        );
    }

    #[test]
    fn sealed_content_opens_to_the_same_message_and_hides_the_code() {
        let key = MasterKey::generate();
        let content = MailContent::OneTimeCode {
            display_name: "Ada".into(),
            code: SecretString::from("12345678"),
            valid_minutes: 10,
        };
        let mail = OutgoingMail::seal(
            &key,
            TenantId::new(),
            vec![MailAddress::parse("ada@contoso.test").unwrap()],
            "Contoso",
            &content,
            Utc::now(),
        )
        .unwrap();
        assert!(!mail.sealed_content.windows(8).any(|w| w == b"12345678"));
        assert!(!format!("{mail:?}{content:?}").contains("12345678"));
        let opened = open_content(&key, &mail.sealed_content).unwrap();
        assert_eq!(opened.organization, "Contoso");
        match opened.content {
            MailContent::OneTimeCode { code, .. } => assert_eq!(code.expose_secret(), "12345678"),
            other => panic!("{other:?}"),
        }
        assert!(open_content(&MasterKey::generate(), &mail.sealed_content).is_err());
    }
}
