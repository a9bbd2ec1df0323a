//! Approval requests (migration 0031): a workflow's `requestApproval` step asks a person to
//! approve or reject through an e-mailed link, `/account/approvals/{token}`. The link's token
//! is 256 random bits; the store keeps only its SHA-256 digest. A request belongs to one run
//! step (its id derived from the run and the step, so a step taken over after a crash finds
//! the request it made and sends no second e-mail). The decision is the approver's alone,
//! once, before the expiry; the worker then reads it (or the expiry, at the directory's clock)
//! when the step comes up again.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::audit::Events;
use crate::ids::{TenantId, UserId};
use crate::names::Upn;
use crate::store::StoreResult;
use crate::workflow_store::RunId;

/// Longest an approval may wait, in days.
pub const MAX_TIMEOUT_DAYS: i64 = 90;
/// How long an approval waits when the step does not say.
pub const DEFAULT_TIMEOUT_DAYS: i64 = 7;

/// Who is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApproverRef {
    /// The run's user's manager.
    Manager,
    /// A user of the tenant, by user principal name.
    User(Upn),
}

impl ApproverRef {
    /// `manager`, or a user principal name.
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "manager" => Ok(Self::Manager),
            other => Upn::parse(other)
                .map(Self::User)
                .map_err(|_| format!("'{other}' is neither \"manager\" nor a user principal name")),
        }
    }
}

/// What a request that nobody decided in time becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnTimeout {
    /// The run stops as rejected; its remaining steps are skipped.
    Reject,
    /// The step succeeds and the run goes on.
    Approve,
    /// The step fails; the step's `onFailure` says whether the run goes on.
    Fail,
}

impl OnTimeout {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "reject" => Ok(Self::Reject),
            "approve" => Ok(Self::Approve),
            "fail" => Ok(Self::Fail),
            other => Err(format!(
                "'{other}' is not one of \"reject\", \"approve\" or \"fail\""
            )),
        }
    }
}

/// A request's state as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Rejected,
}

impl ApprovalStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Approved, Self::Rejected]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// A request to write. The digest is the link token's; the token itself goes only into the
/// (sealed) e-mail.
#[derive(Debug, Clone)]
pub struct NewApproval {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub token_digest: [u8; 32],
    pub run_id: RunId,
    pub position: i32,
    pub workflow_name: String,
    /// The user the run is for.
    pub subject_id: UserId,
    pub approver_id: UserId,
    /// The rendered message (may be empty).
    pub message: String,
    /// What the step is, for the page ("step 2 of the run").
    pub step_label: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A request as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredApproval {
    pub id: Uuid,
    pub tenant_id: TenantId,
    pub run_id: RunId,
    pub position: i32,
    pub workflow_name: String,
    pub subject_id: UserId,
    pub approver_id: UserId,
    pub message: String,
    pub step_label: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub status: ApprovalStatus,
    pub decided_at: Option<DateTime<Utc>>,
}

#[async_trait]
pub trait ApprovalStore {
    /// Writes the request with its events (audit, the e-mail) in one transaction; `false`
    /// (nothing written) when a request of that id exists already.
    async fn create_approval(&self, approval: &NewApproval, events: &Events) -> StoreResult<bool>;
    async fn find_approval(&self, id: Uuid) -> StoreResult<Option<StoredApproval>>;
    async fn find_approval_by_digest(
        &self,
        digest: &[u8; 32],
    ) -> StoreResult<Option<StoredApproval>>;
    /// Records the decision if the request is still pending and not expired at `at`, wakes
    /// its step (due at `at`), with the events, in one transaction; `false` when it was not.
    async fn decide_approval(
        &self,
        id: Uuid,
        status: ApprovalStatus,
        decided_by: UserId,
        at: DateTime<Utc>,
        events: &Events,
    ) -> StoreResult<bool>;
}
