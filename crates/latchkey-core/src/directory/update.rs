//! Changing users after creation: properties (with or without a new password, always in one
//! transaction), sign-in session revocation, self-service password change, and permanent
//! deletion from the recycle bin.

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde_json::json;

use super::{Change, Directory, PasswordChoice, SetPassword, SignInError, UserRef};
use crate::authz::{Action, Actor, authorize, may_change_own_password};
use crate::error::DirectoryError;
use crate::ids::{TenantId, UserId};
use crate::names::{DisplayName, Upn};
use crate::store::{StoreError, UserWrite};
use crate::user::{PasswordPolicies, User, UserProfile, UserType};

/// The optional text properties of a user's profile that a channel may set or clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileField {
    GivenName,
    Surname,
    Mail,
    MobilePhone,
    JobTitle,
    Department,
    CompanyName,
    OfficeLocation,
    PreferredLanguage,
    StreetAddress,
    City,
    State,
    PostalCode,
    Country,
    UsageLocation,
    EmployeeId,
    EmployeeType,
}

impl ProfileField {
    /// Graph's name, for error messages and the audit log.
    pub const fn graph_name(self) -> &'static str {
        match self {
            Self::GivenName => "givenName",
            Self::Surname => "surname",
            Self::Mail => "mail",
            Self::MobilePhone => "mobilePhone",
            Self::JobTitle => "jobTitle",
            Self::Department => "department",
            Self::CompanyName => "companyName",
            Self::OfficeLocation => "officeLocation",
            Self::PreferredLanguage => "preferredLanguage",
            Self::StreetAddress => "streetAddress",
            Self::City => "city",
            Self::State => "state",
            Self::PostalCode => "postalCode",
            Self::Country => "country",
            Self::UsageLocation => "usageLocation",
            Self::EmployeeId => "employeeId",
            Self::EmployeeType => "employeeType",
        }
    }

    /// Sets (or with `None` clears) the property on a profile, unchecked; operations check
    /// profiles before writing them.
    pub fn set(self, p: &mut UserProfile, value: Option<String>) {
        *self.slot(p) = value;
    }

    /// The property with this Graph name, if a channel may set it.
    pub fn from_graph_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.graph_name() == name)
    }

    /// The property's value on a profile.
    pub fn get(self, p: &UserProfile) -> Option<String> {
        let mut p = p.clone();
        self.slot(&mut p).take()
    }

    /// Every settable property.
    pub const fn all() -> [Self; 17] {
        Self::ALL
    }

    /// Every settable property's Graph name.
    pub fn graph_names() -> Vec<&'static str> {
        Self::ALL.iter().map(|f| f.graph_name()).collect()
    }

    const ALL: [ProfileField; 17] = [
        Self::GivenName,
        Self::Surname,
        Self::Mail,
        Self::MobilePhone,
        Self::JobTitle,
        Self::Department,
        Self::CompanyName,
        Self::OfficeLocation,
        Self::PreferredLanguage,
        Self::StreetAddress,
        Self::City,
        Self::State,
        Self::PostalCode,
        Self::Country,
        Self::UsageLocation,
        Self::EmployeeId,
        Self::EmployeeType,
    ];

    fn slot(self, p: &mut UserProfile) -> &mut Option<String> {
        match self {
            Self::GivenName => &mut p.given_name,
            Self::Surname => &mut p.surname,
            Self::Mail => &mut p.mail,
            Self::MobilePhone => &mut p.mobile_phone,
            Self::JobTitle => &mut p.job_title,
            Self::Department => &mut p.department,
            Self::CompanyName => &mut p.company_name,
            Self::OfficeLocation => &mut p.office_location,
            Self::PreferredLanguage => &mut p.preferred_language,
            Self::StreetAddress => &mut p.street_address,
            Self::City => &mut p.city,
            Self::State => &mut p.state,
            Self::PostalCode => &mut p.postal_code,
            Self::Country => &mut p.country,
            Self::UsageLocation => &mut p.usage_location,
            Self::EmployeeId => &mut p.employee_id,
            Self::EmployeeType => &mut p.employee_type,
        }
    }
}

/// What a channel asks to change about a user; `None` leaves a property as it is. Text
/// properties set to `Some(None)` are cleared.
#[derive(Debug, Default)]
pub struct UserChanges {
    pub user_principal_name: Option<Upn>,
    pub display_name: Option<DisplayName>,
    pub mail_nickname: Option<String>,
    pub account_enabled: Option<bool>,
    pub user_type: Option<UserType>,
    pub password_policies: Option<PasswordPolicies>,
    pub text: Vec<(ProfileField, Option<String>)>,
    pub business_phones: Option<Vec<String>>,
    pub other_mails: Option<Vec<String>>,
    pub employee_hire_date: Option<Option<DateTime<Utc>>>,
    pub employee_leave_date_time: Option<Option<DateTime<Utc>>>,
    /// A new password, through the one password path (policy, hash, flags, revocation).
    pub password: Option<SetPassword>,
    /// `passwordProfile` without a password: the force-change flags alone (Graph accepts
    /// them so). Authorized like a password reset; never together with `password`, which
    /// carries its own flags.
    pub force_change_next_sign_in: Option<bool>,
    pub force_change_with_mfa: Option<bool>,
}

impl UserChanges {
    /// Whether the force-change flags change without a new password.
    fn touches_password_flags(&self) -> bool {
        self.force_change_next_sign_in.is_some() || self.force_change_with_mfa.is_some()
    }

    /// Whether anything besides the password and its flags changes.
    fn touches_properties(&self) -> bool {
        self.user_principal_name.is_some()
            || self.display_name.is_some()
            || self.mail_nickname.is_some()
            || self.account_enabled.is_some()
            || self.user_type.is_some()
            || self.password_policies.is_some()
            || !self.text.is_empty()
            || self.business_phones.is_some()
            || self.other_mails.is_some()
            || self.employee_hire_date.is_some()
            || self.employee_leave_date_time.is_some()
    }
}

/// Longest value Latchkey keeps for a free-text profile property.
const MAX_TEXT: usize = 256;

fn clean_text(property: &str, value: &str) -> Result<Option<String>, DirectoryError> {
    let value = value.trim().to_owned();
    if value.chars().any(char::is_control) {
        return Err(DirectoryError::invalid(
            property,
            "must not contain control characters",
        ));
    }
    if value.chars().count() > MAX_TEXT {
        return Err(DirectoryError::invalid(
            property,
            format!("must be at most {MAX_TEXT} characters"),
        ));
    }
    Ok((!value.is_empty()).then_some(value))
}

fn clean_list(property: &str, values: Vec<String>) -> Result<Vec<String>, DirectoryError> {
    if values.len() > 100 {
        return Err(DirectoryError::invalid(
            property,
            "must have at most 100 entries",
        ));
    }
    let mut out = Vec::with_capacity(values.len());
    for v in values {
        if let Some(v) = clean_text(property, &v)? {
            out.push(v);
        }
    }
    Ok(out)
}

fn clean_field(
    field: ProfileField,
    value: Option<String>,
) -> Result<Option<String>, DirectoryError> {
    let name = field.graph_name();
    let value = match value {
        Some(v) => clean_text(name, &v)?,
        None => None,
    };
    if field == ProfileField::UsageLocation {
        if let Some(v) = &value
            && (v.len() != 2 || !v.chars().all(|c| c.is_ascii_alphabetic()))
        {
            return Err(DirectoryError::invalid(
                name,
                "must be a two-letter country code (ISO 3166-1), such as GB or US",
            ));
        }
        return Ok(value.map(|v| v.to_ascii_uppercase()));
    }
    Ok(value)
}

/// A profile with every property checked and trimmed, as a new user's is before creation.
pub(super) fn clean_profile(mut p: UserProfile) -> Result<UserProfile, DirectoryError> {
    for field in ProfileField::ALL {
        let value = field.slot(&mut p).take();
        *field.slot(&mut p) = clean_field(field, value)?;
    }
    p.business_phones = clean_list("businessPhones", std::mem::take(&mut p.business_phones))?;
    p.other_mails = clean_list("otherMails", std::mem::take(&mut p.other_mails))?;
    Ok(p)
}

impl Directory {
    /// Changes a user's properties and, when asked, the password, in one transaction with
    /// an audit event for each: either everything is written or nothing is. Authorized with
    /// the target's roles, so a privileged target needs a privileged actor.
    pub async fn update_user(
        &self,
        actor: &Actor,
        tenant_id: TenantId,
        target: &UserRef,
        changes: UserChanges,
    ) -> Result<(), DirectoryError> {
        let user = self.active_user(tenant_id, target).await?;
        let roles = self.store.list_user_roles(tenant_id, user.id).await?;
        let touches_properties = changes.touches_properties();
        let touches_flags = changes.touches_password_flags();
        if touches_flags && changes.password.is_some() {
            return Err(DirectoryError::invalid(
                "passwordProfile",
                "give the force-change flags with the new password, not beside it",
            ));
        }
        if touches_properties || (changes.password.is_none() && !touches_flags) {
            authorize(actor, Action::UpdateUser, &roles)?;
        }
        if changes.password.is_some() || touches_flags {
            authorize(actor, Action::ResetPassword, &roles)?;
        }
        let (updated, modified) = self.apply_changes(tenant_id, &user, &changes).await?;
        // Everything is validated before the costly hash, so a bad property costs nothing.
        let prepared = match changes.password {
            Some(request) => Some(
                self.prepare_password(actor, tenant_id, &updated, request)
                    .await?,
            ),
            None => None,
        };
        let mut events = Vec::new();
        if touches_properties || touches_flags {
            events.push(self.events(Change {
                actor,
                tenant: tenant_id,
                category: "UserManagement",
                activity: "Update user",
                operation_type: "Update",
                target: Some(&updated),
                other_target: None,
                details: vec![("modifiedProperties".into(), modified.join(", "))],
                outbox_kind: "user.updated",
                // The new `accountEnabled` when it changed: what a workflow's
                // `accountDisabled` trigger follows.
                payload: if modified.contains(&"accountEnabled") {
                    json!({ "modifiedProperties": modified, "accountEnabled": updated.account_enabled })
                } else {
                    json!({ "modifiedProperties": modified })
                },
            }));
        }
        let mut password = None;
        if let Some(p) = prepared {
            events.push(p.events);
            password = Some(p.write);
        }
        if events.is_empty() {
            return Ok(());
        }
        self.store
            .update_user(
                &UserWrite {
                    user: updated,
                    password,
                },
                &events,
            )
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => super::users::duplicate_upn(),
                other => other.into(),
            })
    }

    /// The user with the changes applied, and the Graph names of what changed.
    async fn apply_changes(
        &self,
        tenant_id: TenantId,
        user: &User,
        c: &UserChanges,
    ) -> Result<(User, Vec<&'static str>), DirectoryError> {
        let mut u = user.clone();
        let mut modified = Vec::new();
        if let Some(upn) = &c.user_principal_name {
            let tenant = self.tenant(tenant_id).await?;
            if !tenant.has_domain(upn.domain()) {
                return Err(DirectoryError::invalid(
                    "userPrincipalName",
                    super::users::UNVERIFIED_DOMAIN,
                ));
            }
            if upn.normalized() != user.user_principal_name.normalized()
                && self.store.find_user_by_upn(tenant_id, upn).await?.is_some()
            {
                return Err(super::users::duplicate_upn());
            }
            u.user_principal_name = upn.clone();
            modified.push("userPrincipalName");
        }
        if let Some(name) = &c.display_name {
            u.display_name = name.clone();
            modified.push("displayName");
        }
        if let Some(nick) = &c.mail_nickname {
            let nick = nick.trim();
            if nick.is_empty() || nick.chars().any(|c| c.is_whitespace() || c == '@') {
                return Err(DirectoryError::invalid(
                    "mailNickname",
                    "must be non-empty, without spaces or '@'",
                ));
            }
            u.mail_nickname = nick.to_owned();
            modified.push("mailNickname");
        }
        if let Some(enabled) = c.account_enabled {
            u.account_enabled = enabled;
            modified.push("accountEnabled");
        }
        if let Some(user_type) = c.user_type {
            u.user_type = user_type;
            modified.push("userType");
        }
        if let Some(policies) = c.password_policies {
            u.password_policies = policies;
            modified.push("passwordPolicies");
        }
        if c.touches_password_flags() {
            if let Some(flag) = c.force_change_next_sign_in {
                u.force_change_password_next_sign_in = flag;
            }
            if let Some(flag) = c.force_change_with_mfa {
                u.force_change_password_next_sign_in_with_mfa = flag;
            }
            modified.push("passwordProfile");
        }
        for (field, value) in &c.text {
            *field.slot(&mut u.profile) = clean_field(*field, value.clone())?;
            modified.push(field.graph_name());
        }
        if let Some(list) = &c.business_phones {
            u.profile.business_phones = clean_list("businessPhones", list.clone())?;
            if u.profile.business_phones.len() > 1 {
                return Err(DirectoryError::invalid(
                    "businessPhones",
                    "only one number can be set for this property",
                ));
            }
            modified.push("businessPhones");
        }
        if let Some(list) = &c.other_mails {
            u.profile.other_mails = clean_list("otherMails", list.clone())?;
            modified.push("otherMails");
        }
        if let Some(d) = c.employee_hire_date {
            u.profile.employee_hire_date = d;
            modified.push("employeeHireDate");
        }
        if let Some(d) = c.employee_leave_date_time {
            u.profile.employee_leave_date_time = d;
            modified.push("employeeLeaveDateTime");
        }
        Ok((u, modified))
    }

    /// Ends every session and refresh token the user holds: tokens issued before now are
    /// refused from here on (Graph's `revokeSignInSessions`).
    pub async fn revoke_sign_in_sessions(
        &self,
        actor: &Actor,
        tenant_id: TenantId,
        target: &UserRef,
    ) -> Result<(), DirectoryError> {
        let user = self.active_user(tenant_id, target).await?;
        // A user may always sign themselves out everywhere from their own My account page.
        let own = matches!(
            actor,
            Actor::User { id, scopes: None, channel: crate::authz::Channel::SelfService, .. }
                if *id == user.id
        );
        if !own {
            let roles = self.store.list_user_roles(tenant_id, user.id).await?;
            authorize(actor, Action::RevokeSessions, &roles)?;
        }
        let mut updated = user.clone();
        updated.sign_in_sessions_valid_from = self.clock.now();
        let events = self.events(Change {
            actor,
            tenant: tenant_id,
            category: "UserManagement",
            activity: "Invalidate all refresh tokens for user",
            operation_type: "Update",
            target: Some(&user),
            other_target: None,
            details: vec![],
            outbox_kind: "user.sessionsRevoked",
            payload: json!({}),
        });
        self.store
            .update_user(
                &UserWrite {
                    user: updated,
                    password: None,
                },
                &[events],
            )
            .await?;
        Ok(())
    }

    /// A signed-in user changes their own password, proving the current one first. The check
    /// is a sign-in (bounded pool, sign-in log, smart lockout); the change goes through the one
    /// password path.
    pub async fn change_own_password(
        &self,
        actor: &Actor,
        tenant_id: TenantId,
        current: &SecretString,
        new: SecretString,
    ) -> Result<(), DirectoryError> {
        let id = may_change_own_password(actor)?;
        let user = self.active_user(tenant_id, &UserRef::Id(id)).await?;
        // The current password is checked like a sign-in: on the bounded pool, logged, and
        // counted by smart lockout, so a stolen token cannot be used to guess it.
        let client = super::ClientRef {
            app_id: None,
            display_name: Some("Change password".into()),
        };
        let wrong = |m: &str| DirectoryError::invalid("currentPassword", m);
        match self
            .sign_in_with_password(
                tenant_id,
                user.user_principal_name.as_str(),
                current,
                &client,
            )
            .await
        {
            // A forced change is exactly what this call is for.
            Ok(_) | Err(SignInError::MustChangePassword(_)) => {}
            Err(SignInError::WrongPassword) => {
                return Err(wrong(
                    "Invalid value specified for property 'currentPassword': the current password is wrong.",
                ));
            }
            Err(SignInError::Locked) => {
                return Err(wrong(
                    "The account is locked after too many wrong passwords; try again later.",
                ));
            }
            Err(SignInError::Disabled) => {
                return Err(DirectoryError::Denied(crate::authz::Denied(
                    "The account is disabled.".into(),
                )));
            }
            Err(SignInError::UnknownUser) => {
                return Err(DirectoryError::not_found(format!("Resource '{id}'")));
            }
            Err(SignInError::Busy) => return Err(DirectoryError::Busy),
            Err(SignInError::Internal(m)) => return Err(DirectoryError::Internal(m)),
        }
        let prepared = self
            .prepare_password(
                actor,
                tenant_id,
                &user,
                SetPassword {
                    choice: PasswordChoice::Provided(new),
                    force_change_next_sign_in: false,
                    force_change_with_mfa: false,
                    reason: Some("self-service change".into()),
                },
            )
            .await?;
        self.store
            .write_password(&prepared.write, &prepared.events)
            .await?;
        self.mail_queued(&prepared.events);
        Ok(())
    }

    /// Removes a user from the recycle bin for good; it can no longer be restored.
    pub async fn delete_user_permanently(
        &self,
        actor: &Actor,
        tenant_id: TenantId,
        id: UserId,
    ) -> Result<(), DirectoryError> {
        let not_found = || DirectoryError::not_found(format!("Deleted object '{id}'"));
        let user = self
            .store
            .find_user(tenant_id, id)
            .await?
            .filter(User::is_deleted)
            .ok_or_else(not_found)?;
        let roles = self.store.list_user_roles(tenant_id, id).await?;
        authorize(actor, Action::DeleteUser, &roles)?;
        let events = self.events(Change {
            actor,
            tenant: tenant_id,
            category: "UserManagement",
            activity: "Hard delete user",
            operation_type: "Delete",
            target: Some(&user),
            other_target: None,
            details: vec![],
            outbox_kind: "user.purged",
            payload: json!({ "userPrincipalName": user.user_principal_name.as_str() }),
        });
        self.store
            .delete_user_permanently(tenant_id, id, user.version, &events)
            .await
            .map_err(|e| match e {
                StoreError::Stale | StoreError::NotFound => not_found(),
                other => other.into(),
            })
    }
}
