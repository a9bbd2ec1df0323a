//! The audit and sign-in logs, for Graph's `auditLogs` (permission `AuditLog.Read.All`; for
//! signed-in users, a Global Administrator). Neither log ever holds a password.

use super::Directory;
use crate::audit::AuditEvent;
use crate::authz::{Action, Actor, authorize};
use crate::error::DirectoryError;
use crate::ids::TenantId;
use crate::sign_in::SignInEvent;
use crate::store::{AuditQuery, Page, SignInQuery};

impl Directory {
    pub async fn directory_audits(
        &self,
        actor: &Actor,
        tenant: TenantId,
        query: &AuditQuery,
    ) -> Result<Page<AuditEvent>, DirectoryError> {
        authorize(actor, Action::ReadAuditLogs, &[])?;
        Ok(self.store.query_audit_events(tenant, query).await?)
    }

    pub async fn sign_in_log(
        &self,
        actor: &Actor,
        tenant: TenantId,
        query: &SignInQuery,
    ) -> Result<Page<SignInEvent>, DirectoryError> {
        authorize(actor, Action::ReadAuditLogs, &[])?;
        Ok(self.store.query_sign_in_events(tenant, query).await?)
    }
}
