//! What the directory writes beside every change: an audit event (who did what to whom,
//! never a secret) and an outbox event for the automation engine. Both go into the same
//! transaction as the change itself.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::authz::{Actor, Channel};
use crate::delivery::ViewOnceRecord;
use crate::ids::{EventId, TenantId, UserId};
use crate::mail::OutgoingMail;

/// Graph's `directoryAudit`, reduced to what Latchkey records.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub id: EventId,
    pub tenant_id: TenantId,
    pub activity_date_time: DateTime<Utc>,
    /// Graph's category, e.g. `UserManagement`, `RoleManagement`.
    pub category: String,
    /// Graph's activity names, e.g. `Reset user password`, `Add user`.
    pub activity: String,
    /// `Add`, `Update`, `Delete`, `Restore`.
    pub operation_type: String,
    pub result: String,
    pub initiated_by: Initiator,
    pub target_id: Option<String>,
    pub target_display: Option<String>,
    pub channel: Channel,
    /// Extra key/value facts (method, reason, flags). Never a password or secret.
    pub details: Vec<(String, String)>,
}

/// Who initiated an audited change, as Graph's `initiatedBy` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Initiator {
    /// `user`, `app` or `operator`.
    pub kind: String,
    pub id: Option<String>,
    pub display: String,
}

impl Initiator {
    pub fn of(actor: &Actor) -> Self {
        match actor {
            Actor::Operator { channel } => Self {
                kind: "operator".into(),
                id: None,
                display: format!("local operator ({})", channel.as_str()),
            },
            Actor::User { id, display, .. } => Self {
                kind: "user".into(),
                id: Some(id.to_string()),
                display: display.clone(),
            },
            Actor::App {
                app_id, display, ..
            } => Self {
                kind: "app".into(),
                id: Some(app_id.clone()),
                display: display.clone(),
            },
        }
    }
}

/// An event for the automation engine, delivered at least once from the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEvent {
    pub id: EventId,
    pub tenant_id: TenantId,
    pub occurred_at: DateTime<Utc>,
    /// `user.created`, `user.passwordSet`, `user.deleted`, `user.restored`, `user.roleAssigned`.
    pub kind: String,
    pub subject: Option<UserId>,
    /// Non-secret facts about the change.
    pub payload: Value,
}

/// The audit and outbox events that accompany one change, and what else the change causes
/// that must be written with it or not at all: e-mail to queue, view-once deliveries.
#[derive(Debug, Clone, PartialEq)]
pub struct Events {
    pub audit: AuditEvent,
    pub outbox: OutboxEvent,
    /// Messages for the send queue (`mail_outbox`), inserted in the same transaction.
    pub mail: Vec<OutgoingMail>,
    /// View-once deliveries of a secret, inserted in the same transaction.
    pub deliveries: Vec<ViewOnceRecord>,
    /// Apps seen in use by this change (a consent), added to the SaaS inventory in the same
    /// transaction.
    pub saas: Vec<crate::saas::SaasDiscovery>,
}

impl Events {
    /// A change's audit and outbox events, with no mail and no delivery.
    pub fn new(audit: AuditEvent, outbox: OutboxEvent) -> Self {
        Self {
            audit,
            outbox,
            mail: Vec::new(),
            deliveries: Vec::new(),
            saas: Vec::new(),
        }
    }
}
