//! Authorization decisions: who may do what to whom. Pure functions over roles and
//! permissions; the directory operations call them before touching anything.

use serde::Serialize;

use crate::ids::UserId;
use crate::role::DirectoryRole;

/// Where a request came from, recorded in audit events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Channel {
    Cli,
    Graph,
    AdminCenter,
    SelfService,
    Workflow,
    Scim,
    Bootstrap,
}

impl Channel {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Cli => "cli",
            Self::Graph => "graph",
            Self::AdminCenter => "adminCenter",
            Self::SelfService => "selfService",
            Self::Workflow => "workflow",
            Self::Scim => "scim",
            Self::Bootstrap => "bootstrap",
        }
    }
}

/// Who is acting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// Someone with direct access to the data directory or database (the offline CLI), or
    /// Latchkey itself during bootstrap. Whoever can read the store can do anything anyway.
    Operator { channel: Channel },
    /// A signed-in user, with the directory roles they hold.
    User {
        id: UserId,
        display: String,
        roles: Vec<DirectoryRole>,
        /// Delegated scopes of the token, when the request came with one; `None` for the
        /// first-party admin center, which is not a delegated client.
        scopes: Option<Vec<String>>,
        channel: Channel,
    },
    /// An application acting as itself (client credentials), with its granted application
    /// permissions and the directory roles its service principal holds.
    App {
        app_id: String,
        display: String,
        permissions: Vec<String>,
        roles: Vec<DirectoryRole>,
        channel: Channel,
    },
}

impl Actor {
    pub fn channel(&self) -> Channel {
        match self {
            Self::Operator { channel } | Self::User { channel, .. } | Self::App { channel, .. } => {
                *channel
            }
        }
    }
}

/// What the actor wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    ReadUsers,
    /// Read the directory roles, their members and a user's `memberOf`.
    ReadRoles,
    /// Read the audit and sign-in logs (Graph's `auditLogs`).
    ReadAuditLogs,
    CreateUser,
    UpdateUser,
    DeleteUser,
    RestoreUser,
    ResetPassword,
    /// Reset a password through the user's password authentication method (Graph's
    /// `authentication/methods/{id}/resetPassword`): who may do it to whom is the same as
    /// [`Action::ResetPassword`], but the permission that allows it is
    /// `UserAuthenticationMethod.ReadWrite.All`, not `passwordProfile`'s.
    ResetPasswordMethod,
    /// End a user's sessions and refresh tokens (Graph's `revokeSignInSessions`).
    RevokeSessions,
    ManageRoles,
    /// Tenant-wide settings such as the password policy.
    ManageTenant,
    /// App registrations: create, secrets, consent, delete.
    ManageApps,
    /// A user changing their own password after proving the current one (the sign-in pages'
    /// forced change). Only the self-service channel offers it.
    ChangeOwnPassword,
    /// Read the tenant's SKUs (Graph's `subscribedSkus`).
    ReadLicenses,
    /// Assign or remove a user's licences (Graph's `assignLicense`).
    AssignLicenses,
    /// Read a user's authentication methods (Graph's `authentication/methods`).
    ReadAuthMethods,
    /// Register or remove a user's authentication methods and recovery codes.
    ManageAuthMethods,
    /// Read the tenant's service principals and delegated permission grants (Graph's
    /// `servicePrincipals`, `oauth2PermissionGrants`).
    ReadApps,
    /// Read the SaaS inventory (`/v1.0/latchkey/saas/apps`).
    ReadSaasApps,
    /// Review the SaaS inventory (state, owner) and import expenses.
    ManageSaasApps,
    /// Read lifecycle workflows and their runs (Graph's `LifecycleWorkflows.Read.All`).
    ReadWorkflows,
    /// Create, change, delete and run lifecycle workflows, and run their steps
    /// (`LifecycleWorkflows.ReadWrite.All`).
    ManageWorkflows,
}

/// The refusal, worded for the person who asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub String);

/// Entra's rule for who may reset whose password (and take the other sensitive actions on a
/// user: delete, disable, change the UPN). A target holding several roles is resettable only
/// if every one of its roles is allowed. Users without admin roles are everyone's to reset.
pub fn may_act_on_privileged(
    actor_roles: &[DirectoryRole],
    target_roles: &[DirectoryRole],
) -> bool {
    use DirectoryRole::*;
    let allowed_for = |actor: DirectoryRole, target: DirectoryRole| -> bool {
        match actor {
            GlobalAdministrator | PrivilegedAuthenticationAdministrator => true,
            // The SaaS readers are limited administrators, like the License Administrator.
            UserAdministrator => matches!(
                target,
                HelpdeskAdministrator
                    | PasswordAdministrator
                    | UserAdministrator
                    | LicenseAdministrator
                    | SaasItReader
                    | SaasFinanceReader
                    | SaasSecurityReader
            ),
            HelpdeskAdministrator | PasswordAdministrator => {
                matches!(target, HelpdeskAdministrator | PasswordAdministrator)
            }
            LicenseAdministrator
            | SaasItReader
            | SaasFinanceReader
            | SaasSecurityReader
            | LifecycleWorkflowsAdministrator => false,
        }
    };
    let can_reset_at_all = !actor_roles.is_empty();
    can_reset_at_all
        && target_roles
            .iter()
            .all(|t| actor_roles.iter().any(|a| allowed_for(*a, *t)))
}

/// Which roles allow an action on ordinary users at all.
fn role_allows(role: DirectoryRole, action: Action) -> bool {
    use Action::*;
    use DirectoryRole::*;
    match role {
        GlobalAdministrator => true,
        // As in Entra, a User Administrator does not manage authentication methods.
        UserAdministrator => !matches!(
            action,
            ManageRoles
                | ManageTenant
                | ManageApps
                | ReadApps
                | ReadAuditLogs
                | ReadAuthMethods
                | ManageAuthMethods
                | ReadSaasApps
                | ManageSaasApps
                | ReadWorkflows
                | ManageWorkflows
        ),
        PrivilegedAuthenticationAdministrator => matches!(
            action,
            ReadUsers
                | ResetPassword
                | ResetPasswordMethod
                | RevokeSessions
                | ReadAuthMethods
                | ManageAuthMethods
        ),
        PasswordAdministrator | HelpdeskAdministrator => {
            matches!(
                action,
                ReadUsers | ResetPassword | ResetPasswordMethod | RevokeSessions
            )
        }
        LicenseAdministrator => matches!(action, ReadUsers | ReadLicenses | AssignLicenses),
        // IT's, Finance's and Security's view of the SaaS inventory: read-only.
        SaasItReader | SaasFinanceReader | SaasSecurityReader => matches!(action, ReadSaasApps),
        // As in Entra: the workflows and their runs, and reading the users they act on.
        LifecycleWorkflowsAdministrator => {
            matches!(action, ReadUsers | ReadWorkflows | ManageWorkflows)
        }
    }
}

/// Which application permissions (or delegated scopes) allow an action on ordinary users.
fn permission_allows(permission: &str, action: Action) -> bool {
    use Action::*;
    match permission {
        // The SaaS inventory: read with the directory's read permission, changed with its
        // write permission.
        "Directory.Read.All" | "Directory.ReadWrite.All" if action == ReadSaasApps => true,
        "Directory.ReadWrite.All" if action == ManageSaasApps => true,
        // Service principals: the application and directory read permissions; grants also
        // DelegatedPermissionGrant.Read.All.
        "Application.Read.All"
        | "Application.ReadWrite.All"
        | "Directory.Read.All"
        | "Directory.ReadWrite.All"
        | "DelegatedPermissionGrant.Read.All"
            if action == ReadApps =>
        {
            true
        }
        "Directory.ReadWrite.All" if action == ReadRoles => true,
        // Graph's assignLicense: User.ReadWrite.All or Directory.ReadWrite.All, and the
        // least privileged LicenseAssignment.ReadWrite.All; subscribedSkus: the
        // Organization and Directory read permissions.
        "User.ReadWrite.All" | "Directory.ReadWrite.All" | "LicenseAssignment.ReadWrite.All"
            if action == AssignLicenses =>
        {
            true
        }
        "Directory.Read.All"
        | "Directory.ReadWrite.All"
        | "Organization.Read.All"
        | "Organization.ReadWrite.All"
        | "LicenseAssignment.Read.All"
        | "LicenseAssignment.ReadWrite.All"
            if action == ReadLicenses =>
        {
            true
        }
        "User.ReadWrite.All" | "Directory.ReadWrite.All" => {
            matches!(
                action,
                ReadUsers
                    | CreateUser
                    | UpdateUser
                    | DeleteUser
                    | RestoreUser
                    | ResetPassword
                    | RevokeSessions
            )
        }
        "User.RevokeSessions.All" => matches!(action, RevokeSessions),
        "UserAuthenticationMethod.ReadWrite.All" => matches!(
            action,
            ResetPasswordMethod | ReadAuthMethods | ManageAuthMethods
        ),
        "UserAuthenticationMethod.Read.All" => matches!(action, ReadAuthMethods),
        "User-PasswordProfile.ReadWrite.All" => matches!(action, ReadUsers | ResetPassword),
        "Directory.Read.All" => matches!(action, ReadUsers | ReadRoles),
        "User.Read.All" | "User.ReadBasic.All" => matches!(action, ReadUsers),
        "RoleManagement.ReadWrite.Directory" => {
            matches!(action, ReadUsers | ReadRoles | ManageRoles)
        }
        "RoleManagement.Read.Directory" => matches!(action, ReadRoles),
        "AuditLog.Read.All" => matches!(action, ReadAuditLogs),
        "LifecycleWorkflows.ReadWrite.All" => matches!(action, ReadWorkflows | ManageWorkflows),
        "LifecycleWorkflows.Read.All" => matches!(action, ReadWorkflows),
        _ => false,
    }
}

/// Whether an action changes something sensitive about its target, so that a privileged
/// target needs a privileged actor.
fn is_sensitive(action: Action) -> bool {
    matches!(
        action,
        Action::ResetPassword
            | Action::ResetPasswordMethod
            | Action::DeleteUser
            | Action::UpdateUser
            | Action::RevokeSessions
            | Action::ReadAuthMethods
            | Action::ManageAuthMethods
    )
}

/// Whether a signed-in user may read (`write` false) or change their own authentication
/// methods: on the self-service pages (My account), or through a delegated token carrying
/// `UserAuthenticationMethod.Read` / `.ReadWrite` (Graph's `/me/authentication`).
pub fn may_use_own_methods(actor: &Actor, write: bool) -> Result<UserId, Denied> {
    match actor {
        Actor::User {
            id,
            scopes: None,
            channel: Channel::SelfService,
            ..
        } => Ok(*id),
        Actor::User {
            id,
            scopes: Some(scopes),
            ..
        } => {
            let allowed: &[&str] = if write {
                &[
                    "UserAuthenticationMethod.ReadWrite",
                    "UserAuthenticationMethod.ReadWrite.All",
                ]
            } else {
                &[
                    "UserAuthenticationMethod.Read",
                    "UserAuthenticationMethod.ReadWrite",
                    "UserAuthenticationMethod.Read.All",
                    "UserAuthenticationMethod.ReadWrite.All",
                ]
            };
            if scopes.iter().any(|s| allowed.contains(&s.as_str())) {
                Ok(*id)
            } else {
                Err(Denied(
                    "Insufficient privileges to complete the operation: the token's scopes do not include UserAuthenticationMethod.Read or .ReadWrite.".into(),
                ))
            }
        }
        _ => Err(Denied(
            "Only the signed-in user may change their own security info here.".into(),
        )),
    }
}

/// Who may read their own user (Graph's `/me`): a signed-in user, through a delegated
/// token carrying any user-reading scope when the request came with a token.
pub fn may_read_self(actor: &Actor) -> Result<UserId, Denied> {
    const READS_SELF: [&str; 8] = [
        "User.Read",
        "User.ReadWrite",
        "User.ReadBasic.All",
        "User.Read.All",
        "User.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
        "Directory.AccessAsUser.All",
    ];
    match actor {
        Actor::User { id, scopes, .. } => {
            if scopes
                .as_ref()
                .is_none_or(|s| s.iter().any(|s| READS_SELF.contains(&s.as_str())))
            {
                Ok(*id)
            } else {
                Err(Denied(
                    "Insufficient privileges to complete the operation: the token's scopes do not include User.Read.".into(),
                ))
            }
        }
        Actor::App { .. } | Actor::Operator { .. } => Err(Denied(
            "Only a signed-in user has a user of their own to read.".into(),
        )),
    }
}

/// Who may change their own password with the current one (Graph's `/me/changePassword`):
/// a signed-in user, through a delegated token carrying `Directory.AccessAsUser.All` when
/// the request came with a token. Applications have no password of their own to change.
pub fn may_change_own_password(actor: &Actor) -> Result<UserId, Denied> {
    match actor {
        Actor::User { id, scopes, .. } => {
            let allowed = scopes
                .as_ref()
                .is_none_or(|s| s.iter().any(|s| s == "Directory.AccessAsUser.All"));
            if allowed {
                Ok(*id)
            } else {
                Err(Denied(
                    "Insufficient privileges to complete the operation: changing your password needs the delegated permission Directory.AccessAsUser.All.".into(),
                ))
            }
        }
        Actor::App { .. } | Actor::Operator { .. } => Err(Denied(
            "Only a signed-in user can change their own password; use passwordProfile to set another user's.".into(),
        )),
    }
}

/// The one authorization decision. `target_roles` are the directory roles the target user
/// holds (empty for ordinary users and for actions without a target).
pub fn authorize(
    actor: &Actor,
    action: Action,
    target_roles: &[DirectoryRole],
) -> Result<(), Denied> {
    let privileged_target = is_sensitive(action) && !target_roles.is_empty();
    match actor {
        Actor::Operator { .. } => Ok(()),
        Actor::User {
            scopes, channel, ..
        } if action == Action::ChangeOwnPassword => {
            if *channel == Channel::SelfService && scopes.is_none() {
                Ok(())
            } else {
                Err(Denied(
                    "Users change their own password on the sign-in pages, which ask for the current one."
                        .into(),
                ))
            }
        }
        Actor::User { roles, scopes, .. } => {
            if let Some(scopes) = scopes {
                // A delegated token only carries what both the app and the user may do.
                if !scopes.iter().any(|s| {
                    permission_allows(s, action)
                        || (s == "Directory.AccessAsUser.All"
                            && !matches!(
                                action,
                                Action::ManageRoles
                                    | Action::ManageTenant
                                    | Action::ManageApps
                                    | Action::ReadAuditLogs
                                    | Action::ReadWorkflows
                                    | Action::ManageWorkflows
                            ))
                }) {
                    return Err(Denied(
                        "Insufficient privileges to complete the operation: the token's scopes do not allow it."
                            .into(),
                    ));
                }
            }
            // As in Entra's default user permissions, members may read the directory's
            // users, roles and SKUs (the token's scopes still have to allow it); everything
            // else needs a role.
            if !matches!(
                action,
                Action::ReadUsers | Action::ReadRoles | Action::ReadLicenses
            ) && !roles.iter().any(|r| role_allows(*r, action))
            {
                return Err(Denied(
                    "Insufficient privileges to complete the operation: none of your directory roles allows it."
                        .into(),
                ));
            }
            if privileged_target && !may_act_on_privileged(roles, target_roles) {
                return Err(Denied(
                    "Insufficient privileges to complete the operation: the target user holds an administrator role that your roles may not manage."
                        .into(),
                ));
            }
            Ok(())
        }
        Actor::App {
            permissions, roles, ..
        } => {
            if !permissions.iter().any(|p| permission_allows(p, action)) {
                return Err(Denied(
                    "Insufficient privileges to complete the operation: the application has no permission that allows it."
                        .into(),
                ));
            }
            if privileged_target && !may_act_on_privileged(roles, target_roles) {
                return Err(Denied(
                    "Insufficient privileges to complete the operation: the target user holds an administrator role; the application's service principal needs a directory role allowed to manage it."
                        .into(),
                ));
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DirectoryRole::*;

    /// Every actor role against every single target role, and against an ordinary user,
    /// straight from Entra's table ("Who can reset passwords").
    #[test]
    fn the_password_reset_matrix_matches_entra_for_every_role_pair() {
        // (actor, target, allowed); `None` target = a user without admin roles.
        let table: &[(DirectoryRole, Option<DirectoryRole>, bool)] = &[
            (HelpdeskAdministrator, None, true),
            (HelpdeskAdministrator, Some(HelpdeskAdministrator), true),
            (HelpdeskAdministrator, Some(PasswordAdministrator), true),
            (HelpdeskAdministrator, Some(UserAdministrator), false),
            (
                HelpdeskAdministrator,
                Some(PrivilegedAuthenticationAdministrator),
                false,
            ),
            (HelpdeskAdministrator, Some(GlobalAdministrator), false),
            (PasswordAdministrator, None, true),
            (PasswordAdministrator, Some(HelpdeskAdministrator), true),
            (PasswordAdministrator, Some(PasswordAdministrator), true),
            (PasswordAdministrator, Some(UserAdministrator), false),
            (
                PasswordAdministrator,
                Some(PrivilegedAuthenticationAdministrator),
                false,
            ),
            (PasswordAdministrator, Some(GlobalAdministrator), false),
            (UserAdministrator, None, true),
            (UserAdministrator, Some(HelpdeskAdministrator), true),
            (UserAdministrator, Some(PasswordAdministrator), true),
            (UserAdministrator, Some(UserAdministrator), true),
            (
                UserAdministrator,
                Some(PrivilegedAuthenticationAdministrator),
                false,
            ),
            (UserAdministrator, Some(GlobalAdministrator), false),
            (PrivilegedAuthenticationAdministrator, None, true),
            (
                PrivilegedAuthenticationAdministrator,
                Some(HelpdeskAdministrator),
                true,
            ),
            (
                PrivilegedAuthenticationAdministrator,
                Some(PasswordAdministrator),
                true,
            ),
            (
                PrivilegedAuthenticationAdministrator,
                Some(UserAdministrator),
                true,
            ),
            (
                PrivilegedAuthenticationAdministrator,
                Some(PrivilegedAuthenticationAdministrator),
                true,
            ),
            (
                PrivilegedAuthenticationAdministrator,
                Some(GlobalAdministrator),
                true,
            ),
            (GlobalAdministrator, None, true),
            (GlobalAdministrator, Some(HelpdeskAdministrator), true),
            (GlobalAdministrator, Some(PasswordAdministrator), true),
            (GlobalAdministrator, Some(UserAdministrator), true),
            (
                GlobalAdministrator,
                Some(PrivilegedAuthenticationAdministrator),
                true,
            ),
            (GlobalAdministrator, Some(GlobalAdministrator), true),
            (HelpdeskAdministrator, Some(LicenseAdministrator), false),
            (PasswordAdministrator, Some(LicenseAdministrator), false),
            (UserAdministrator, Some(LicenseAdministrator), true),
            (
                PrivilegedAuthenticationAdministrator,
                Some(LicenseAdministrator),
                true,
            ),
            (GlobalAdministrator, Some(LicenseAdministrator), true),
            // A License Administrator resets nobody's password.
            (LicenseAdministrator, None, false),
            (LicenseAdministrator, Some(HelpdeskAdministrator), false),
            (LicenseAdministrator, Some(PasswordAdministrator), false),
            (LicenseAdministrator, Some(UserAdministrator), false),
            (
                LicenseAdministrator,
                Some(PrivilegedAuthenticationAdministrator),
                false,
            ),
            (LicenseAdministrator, Some(GlobalAdministrator), false),
            (LicenseAdministrator, Some(LicenseAdministrator), false),
            // The SaaS readers reset nobody; only those who may reset a License
            // Administrator may reset them.
            (GlobalAdministrator, Some(SaasItReader), true),
            (GlobalAdministrator, Some(SaasFinanceReader), true),
            (GlobalAdministrator, Some(SaasSecurityReader), true),
            (
                PrivilegedAuthenticationAdministrator,
                Some(SaasItReader),
                true,
            ),
            (
                PrivilegedAuthenticationAdministrator,
                Some(SaasFinanceReader),
                true,
            ),
            (
                PrivilegedAuthenticationAdministrator,
                Some(SaasSecurityReader),
                true,
            ),
            (UserAdministrator, Some(SaasItReader), true),
            (UserAdministrator, Some(SaasFinanceReader), true),
            (UserAdministrator, Some(SaasSecurityReader), true),
            (PasswordAdministrator, Some(SaasItReader), false),
            (PasswordAdministrator, Some(SaasFinanceReader), false),
            (PasswordAdministrator, Some(SaasSecurityReader), false),
            (HelpdeskAdministrator, Some(SaasItReader), false),
            (HelpdeskAdministrator, Some(SaasFinanceReader), false),
            (HelpdeskAdministrator, Some(SaasSecurityReader), false),
            (LicenseAdministrator, Some(SaasItReader), false),
            (LicenseAdministrator, Some(SaasFinanceReader), false),
            (LicenseAdministrator, Some(SaasSecurityReader), false),
            (SaasItReader, None, false),
            (SaasItReader, Some(GlobalAdministrator), false),
            (
                SaasItReader,
                Some(PrivilegedAuthenticationAdministrator),
                false,
            ),
            (SaasItReader, Some(UserAdministrator), false),
            (SaasItReader, Some(PasswordAdministrator), false),
            (SaasItReader, Some(HelpdeskAdministrator), false),
            (SaasItReader, Some(LicenseAdministrator), false),
            (SaasItReader, Some(SaasItReader), false),
            (SaasItReader, Some(SaasFinanceReader), false),
            (SaasItReader, Some(SaasSecurityReader), false),
            (SaasFinanceReader, None, false),
            (SaasFinanceReader, Some(GlobalAdministrator), false),
            (
                SaasFinanceReader,
                Some(PrivilegedAuthenticationAdministrator),
                false,
            ),
            (SaasFinanceReader, Some(UserAdministrator), false),
            (SaasFinanceReader, Some(PasswordAdministrator), false),
            (SaasFinanceReader, Some(HelpdeskAdministrator), false),
            (SaasFinanceReader, Some(LicenseAdministrator), false),
            (SaasFinanceReader, Some(SaasItReader), false),
            (SaasFinanceReader, Some(SaasFinanceReader), false),
            (SaasFinanceReader, Some(SaasSecurityReader), false),
            (SaasSecurityReader, None, false),
            (SaasSecurityReader, Some(GlobalAdministrator), false),
            (
                SaasSecurityReader,
                Some(PrivilegedAuthenticationAdministrator),
                false,
            ),
            (SaasSecurityReader, Some(UserAdministrator), false),
            (SaasSecurityReader, Some(PasswordAdministrator), false),
            (SaasSecurityReader, Some(HelpdeskAdministrator), false),
            (SaasSecurityReader, Some(LicenseAdministrator), false),
            (SaasSecurityReader, Some(SaasItReader), false),
            (SaasSecurityReader, Some(SaasFinanceReader), false),
            (SaasSecurityReader, Some(SaasSecurityReader), false),
            (
                LicenseAdministrator,
                Some(LifecycleWorkflowsAdministrator),
                false,
            ),
            // A Lifecycle Workflows Administrator resets nobody's password, and only the
            // two privileged roles reset theirs (Entra's table does not list the role).
            (LifecycleWorkflowsAdministrator, None, false),
            (
                LifecycleWorkflowsAdministrator,
                Some(HelpdeskAdministrator),
                false,
            ),
            (
                LifecycleWorkflowsAdministrator,
                Some(PasswordAdministrator),
                false,
            ),
            (
                LifecycleWorkflowsAdministrator,
                Some(UserAdministrator),
                false,
            ),
            (
                LifecycleWorkflowsAdministrator,
                Some(PrivilegedAuthenticationAdministrator),
                false,
            ),
            (
                LifecycleWorkflowsAdministrator,
                Some(GlobalAdministrator),
                false,
            ),
            (
                LifecycleWorkflowsAdministrator,
                Some(LicenseAdministrator),
                false,
            ),
            (
                LifecycleWorkflowsAdministrator,
                Some(LifecycleWorkflowsAdministrator),
                false,
            ),
            (
                HelpdeskAdministrator,
                Some(LifecycleWorkflowsAdministrator),
                false,
            ),
            (
                PasswordAdministrator,
                Some(LifecycleWorkflowsAdministrator),
                false,
            ),
            (
                UserAdministrator,
                Some(LifecycleWorkflowsAdministrator),
                false,
            ),
            (
                PrivilegedAuthenticationAdministrator,
                Some(LifecycleWorkflowsAdministrator),
                true,
            ),
            (
                GlobalAdministrator,
                Some(LifecycleWorkflowsAdministrator),
                true,
            ),
            // Neither resets the other.
            (LifecycleWorkflowsAdministrator, Some(SaasItReader), false),
            (SaasItReader, Some(LifecycleWorkflowsAdministrator), false),
            (
                LifecycleWorkflowsAdministrator,
                Some(SaasFinanceReader),
                false,
            ),
            (
                SaasFinanceReader,
                Some(LifecycleWorkflowsAdministrator),
                false,
            ),
            (
                LifecycleWorkflowsAdministrator,
                Some(SaasSecurityReader),
                false,
            ),
            (
                SaasSecurityReader,
                Some(LifecycleWorkflowsAdministrator),
                false,
            ),
        ];
        assert_eq!(
            table.len(),
            DirectoryRole::ALL.len() * (DirectoryRole::ALL.len() + 1)
        );
        for &(actor_role, target, allowed) in table {
            let actor = Actor::User {
                id: UserId::new(),
                display: "admin".into(),
                roles: vec![actor_role],
                scopes: None,
                channel: Channel::AdminCenter,
            };
            let target_roles: Vec<_> = target.into_iter().collect();
            let got = authorize(&actor, Action::ResetPassword, &target_roles).is_ok();
            assert_eq!(got, allowed, "{actor_role:?} resetting {target:?}");
        }
    }

    #[test]
    fn workflows_are_read_and_managed_with_lifecycle_permissions_or_the_lifecycle_role() {
        let app = |permissions: &[&str]| Actor::App {
            app_id: "app".into(),
            display: "app".into(),
            permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
            roles: vec![],
            channel: Channel::Graph,
        };
        let user = |roles: Vec<DirectoryRole>, scopes: &[&str]| Actor::User {
            id: UserId::new(),
            display: "admin".into(),
            roles,
            scopes: Some(scopes.iter().map(|s| (*s).to_owned()).collect()),
            channel: Channel::Graph,
        };
        let read = app(&["LifecycleWorkflows.Read.All"]);
        let write = app(&["LifecycleWorkflows.ReadWrite.All"]);
        assert!(authorize(&read, Action::ReadWorkflows, &[]).is_ok());
        assert!(authorize(&read, Action::ManageWorkflows, &[]).is_err());
        assert!(authorize(&write, Action::ManageWorkflows, &[]).is_ok());
        assert!(authorize(&write, Action::ManageTenant, &[]).is_err());
        assert!(
            authorize(
                &app(&["Directory.ReadWrite.All"]),
                Action::ReadWorkflows,
                &[]
            )
            .is_err()
        );
        let admin = user(
            vec![LifecycleWorkflowsAdministrator],
            &["LifecycleWorkflows.ReadWrite.All"],
        );
        assert!(authorize(&admin, Action::ManageWorkflows, &[]).is_ok());
        assert!(authorize(&admin, Action::ManageTenant, &[]).is_err());
        assert!(authorize(&admin, Action::ResetPassword, &[]).is_err());
        let ua = user(
            vec![UserAdministrator],
            &["LifecycleWorkflows.ReadWrite.All"],
        );
        assert!(authorize(&ua, Action::ReadWorkflows, &[]).is_err());
        // Directory.AccessAsUser.All does not reach workflows.
        let global = user(vec![GlobalAdministrator], &["Directory.AccessAsUser.All"]);
        assert!(authorize(&global, Action::ReadWorkflows, &[]).is_err());
    }

    #[test]
    fn a_target_with_several_roles_needs_every_one_of_them_allowed() {
        assert!(may_act_on_privileged(
            &[UserAdministrator],
            &[HelpdeskAdministrator, UserAdministrator]
        ));
        assert!(!may_act_on_privileged(
            &[UserAdministrator],
            &[HelpdeskAdministrator, GlobalAdministrator]
        ));
        // Several actor roles combine.
        assert!(may_act_on_privileged(
            &[HelpdeskAdministrator, UserAdministrator],
            &[UserAdministrator]
        ));
    }

    #[test]
    fn a_user_without_admin_roles_may_not_reset_anyone() {
        let actor = Actor::User {
            id: UserId::new(),
            display: "someone".into(),
            roles: vec![],
            scopes: None,
            channel: Channel::AdminCenter,
        };
        assert!(authorize(&actor, Action::ResetPassword, &[]).is_err());
        assert!(authorize(&actor, Action::CreateUser, &[]).is_err());
    }

    #[test]
    fn members_may_read_users_when_their_token_allows_it() {
        let member = |scopes: Option<Vec<String>>| Actor::User {
            id: UserId::new(),
            display: "member".into(),
            roles: vec![],
            scopes,
            channel: Channel::Graph,
        };
        assert!(authorize(&member(None), Action::ReadUsers, &[]).is_ok());
        assert!(
            authorize(
                &member(Some(vec!["User.Read.All".into()])),
                Action::ReadUsers,
                &[]
            )
            .is_ok()
        );
        assert!(
            authorize(
                &member(Some(vec!["User.Read".into()])),
                Action::ReadUsers,
                &[]
            )
            .is_err()
        );
        assert!(
            authorize(
                &member(Some(vec!["User.ReadWrite.All".into()])),
                Action::UpdateUser,
                &[]
            )
            .is_err(),
            "writing still needs a role"
        );
    }

    #[test]
    fn helpdesk_and_password_admins_may_reset_but_not_create_or_delete() {
        for role in [
            HelpdeskAdministrator,
            PasswordAdministrator,
            PrivilegedAuthenticationAdministrator,
        ] {
            let actor = Actor::User {
                id: UserId::new(),
                display: "a".into(),
                roles: vec![role],
                scopes: None,
                channel: Channel::AdminCenter,
            };
            assert!(authorize(&actor, Action::ResetPassword, &[]).is_ok());
            assert!(
                authorize(&actor, Action::CreateUser, &[]).is_err(),
                "{role:?}"
            );
            assert!(
                authorize(&actor, Action::DeleteUser, &[]).is_err(),
                "{role:?}"
            );
        }
    }

    #[test]
    fn applications_need_a_permission_and_a_role_for_privileged_targets() {
        let app = |permissions: &[&str], roles: Vec<DirectoryRole>| Actor::App {
            app_id: "app".into(),
            display: "app".into(),
            permissions: permissions.iter().map(|s| (*s).to_owned()).collect(),
            roles,
            channel: Channel::Graph,
        };
        let reader = app(&["User.Read.All"], vec![]);
        assert!(authorize(&reader, Action::ReadUsers, &[]).is_ok());
        assert!(authorize(&reader, Action::ResetPassword, &[]).is_err());

        let pw = app(&["User-PasswordProfile.ReadWrite.All"], vec![]);
        assert!(authorize(&pw, Action::ResetPassword, &[]).is_ok());
        assert!(authorize(&pw, Action::CreateUser, &[]).is_err());
        assert!(authorize(&pw, Action::ResetPassword, &[HelpdeskAdministrator]).is_err());

        let writer = app(&["User.ReadWrite.All"], vec![]);
        assert!(authorize(&writer, Action::CreateUser, &[]).is_ok());
        assert!(authorize(&writer, Action::ResetPassword, &[GlobalAdministrator]).is_err());

        let privileged = app(
            &["User.ReadWrite.All"],
            vec![PrivilegedAuthenticationAdministrator],
        );
        assert!(authorize(&privileged, Action::ResetPassword, &[GlobalAdministrator]).is_ok());
    }

    #[test]
    fn delegated_scopes_limit_what_an_admin_can_do_through_an_app() {
        let actor = Actor::User {
            id: UserId::new(),
            display: "admin".into(),
            roles: vec![GlobalAdministrator],
            scopes: Some(vec!["User.Read".into()]),
            channel: Channel::Graph,
        };
        assert!(authorize(&actor, Action::ResetPassword, &[]).is_err());
        let actor = Actor::User {
            id: UserId::new(),
            display: "admin".into(),
            roles: vec![GlobalAdministrator],
            scopes: Some(vec!["User.ReadWrite.All".into()]),
            channel: Channel::Graph,
        };
        assert!(authorize(&actor, Action::ResetPassword, &[]).is_ok());
    }

    #[test]
    fn the_authentication_method_reset_needs_its_own_permission_and_the_same_role_matrix() {
        let app = |permissions: &[&str], roles: Vec<DirectoryRole>| Actor::App {
            app_id: "app".into(),
            display: "app".into(),
            permissions: permissions.iter().map(|s| (*s).to_owned()).collect(),
            roles,
            channel: Channel::Graph,
        };
        let methods = app(&["UserAuthenticationMethod.ReadWrite.All"], vec![]);
        assert!(authorize(&methods, Action::ResetPasswordMethod, &[]).is_ok());
        assert!(
            authorize(&methods, Action::ResetPassword, &[]).is_err(),
            "it does not allow passwordProfile"
        );
        assert!(authorize(&methods, Action::ResetPasswordMethod, &[UserAdministrator]).is_err());
        let profile = app(&["User-PasswordProfile.ReadWrite.All"], vec![]);
        assert!(authorize(&profile, Action::ResetPasswordMethod, &[]).is_err());
        for (actor_role, target) in [
            (HelpdeskAdministrator, None),
            (HelpdeskAdministrator, Some(UserAdministrator)),
            (UserAdministrator, Some(GlobalAdministrator)),
            (GlobalAdministrator, Some(GlobalAdministrator)),
        ] {
            let actor = Actor::User {
                id: UserId::new(),
                display: "admin".into(),
                roles: vec![actor_role],
                scopes: Some(vec!["UserAuthenticationMethod.ReadWrite.All".into()]),
                channel: Channel::Graph,
            };
            let target_roles: Vec<_> = target.into_iter().collect();
            assert_eq!(
                authorize(&actor, Action::ResetPasswordMethod, &target_roles).is_ok(),
                may_act_on_privileged(&[actor_role], &target_roles),
                "{actor_role:?} resetting {target:?}"
            );
        }
    }

    #[test]
    fn the_operator_may_do_anything() {
        let op = Actor::Operator {
            channel: Channel::Cli,
        };
        assert!(authorize(&op, Action::ResetPassword, &[GlobalAdministrator]).is_ok());
    }

    #[test]
    fn a_license_administrator_assigns_licences_but_changes_nothing_else() {
        let actor = Actor::User {
            id: UserId::new(),
            display: "licensing".into(),
            roles: vec![LicenseAdministrator],
            scopes: None,
            channel: Channel::AdminCenter,
        };
        assert!(authorize(&actor, Action::AssignLicenses, &[]).is_ok());
        assert!(authorize(&actor, Action::AssignLicenses, &[GlobalAdministrator]).is_ok());
        assert!(authorize(&actor, Action::ReadLicenses, &[]).is_ok());
        for action in [
            Action::UpdateUser,
            Action::ResetPassword,
            Action::CreateUser,
            Action::DeleteUser,
            Action::ManageTenant,
        ] {
            assert!(authorize(&actor, action, &[]).is_err(), "{action:?}");
        }
        let helpdesk = Actor::User {
            id: UserId::new(),
            display: "helpdesk".into(),
            roles: vec![HelpdeskAdministrator],
            scopes: None,
            channel: Channel::AdminCenter,
        };
        assert!(authorize(&helpdesk, Action::AssignLicenses, &[]).is_err());
    }

    #[test]
    fn authentication_methods_are_for_their_user_authentication_admins_and_permitted_apps() {
        let user = |roles: Vec<DirectoryRole>, scopes: Option<Vec<&str>>, channel| Actor::User {
            id: UserId::new(),
            display: "someone".into(),
            roles,
            scopes: scopes.map(|s| s.into_iter().map(String::from).collect()),
            channel,
        };
        let app = |permissions: &[&str]| Actor::App {
            app_id: "app".into(),
            display: "app".into(),
            permissions: permissions.iter().map(|p| (*p).to_owned()).collect(),
            roles: vec![],
            channel: Channel::Graph,
        };
        let pam = user(
            vec![PrivilegedAuthenticationAdministrator],
            None,
            Channel::AdminCenter,
        );
        assert!(authorize(&pam, Action::ManageAuthMethods, &[GlobalAdministrator]).is_ok());
        for denied in [
            UserAdministrator,
            HelpdeskAdministrator,
            PasswordAdministrator,
        ] {
            let a = user(vec![denied], None, Channel::AdminCenter);
            assert!(
                authorize(&a, Action::ReadAuthMethods, &[]).is_err(),
                "{denied:?}"
            );
        }
        let reader = app(&["UserAuthenticationMethod.Read.All"]);
        assert!(authorize(&reader, Action::ReadAuthMethods, &[]).is_ok());
        assert!(authorize(&reader, Action::ManageAuthMethods, &[]).is_err());
        assert!(authorize(&reader, Action::ReadAuthMethods, &[HelpdeskAdministrator]).is_err());
        let writer = app(&["UserAuthenticationMethod.ReadWrite.All"]);
        assert!(authorize(&writer, Action::ManageAuthMethods, &[]).is_ok());

        let own_page = user(vec![], None, Channel::SelfService);
        assert!(may_use_own_methods(&own_page, true).is_ok());
        let delegated = user(
            vec![],
            Some(vec!["UserAuthenticationMethod.Read"]),
            Channel::Graph,
        );
        assert!(may_use_own_methods(&delegated, false).is_ok());
        assert!(may_use_own_methods(&delegated, true).is_err());
        let profile_only = user(vec![], Some(vec!["User.Read"]), Channel::Graph);
        assert!(may_use_own_methods(&profile_only, false).is_err());
        assert!(
            may_use_own_methods(&app(&["UserAuthenticationMethod.ReadWrite.All"]), false).is_err()
        );
    }
}
