//! Temporary Access Pass operations: an administrator (or an app with
//! `UserAuthenticationMethod.ReadWrite.All`) issues one per user, shown once; the user signs
//! in with it in place of a password until it expires (or once, for a one-time pass).

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde_json::json;
use uuid::Uuid;

use super::{Change, Directory, UserRef};
use crate::authz::{Action, Actor, authorize};
use crate::error::DirectoryError;
use crate::ids::TenantId;
use crate::tap::{DEFAULT_LIFETIME_MINUTES, TapRecord, check_lifetime, digest, generate};
use crate::user::User;

/// Graph's request body for a new pass; every field optional.
#[derive(Debug, Clone, Default)]
pub struct NewTemporaryAccessPass {
    pub start: Option<DateTime<Utc>>,
    pub lifetime_minutes: Option<u32>,
    pub usable_once: Option<bool>,
}

/// A pass just issued: the record and the pass itself, which exists only in this value.
#[derive(Debug)]
pub struct IssuedPass {
    pub record: TapRecord,
    pub pass: SecretString,
}

impl Directory {
    /// Issues a pass for a user who has none (Entra allows one per user), audited as
    /// "Admin registered security info". A user cannot issue one to themselves.
    pub async fn create_temporary_access_pass(
        &self,
        actor: &Actor,
        tenant: TenantId,
        target: &UserRef,
        request: NewTemporaryAccessPass,
    ) -> Result<IssuedPass, DirectoryError> {
        let user = self.active_user(tenant, target).await?;
        let roles = self.store.list_user_roles(tenant, user.id).await?;
        authorize(actor, Action::ManageAuthMethods, &roles)?;
        let lifetime = request.lifetime_minutes.unwrap_or(DEFAULT_LIFETIME_MINUTES);
        check_lifetime(lifetime).map_err(|m| DirectoryError::invalid("lifetimeInMinutes", m))?;
        let now = self.clock.now();
        let start = request.start.unwrap_or(now);
        if start < now - chrono::Duration::minutes(5) {
            return Err(DirectoryError::invalid(
                "startDateTime",
                "startDateTime cannot be in the past",
            ));
        }
        // One pass per user; an expired or used-up one is replaced rather than in the way.
        if let Some(old) = self
            .store
            .find_temporary_access_pass(tenant, user.id)
            .await?
            && !old.is_usable(now)
            && old.start <= now
        {
            let events = self.tap_change(actor, tenant, &user, false, &old);
            self.store
                .delete_temporary_access_pass(tenant, user.id, old.id, &events)
                .await?;
        }
        let pass = generate();
        let record = TapRecord {
            id: Uuid::new_v4(),
            tenant_id: tenant,
            user_id: user.id,
            digest: digest(&pass),
            created: now,
            start,
            lifetime_minutes: lifetime,
            usable_once: request.usable_once.unwrap_or(false),
            used_at: None,
            created_by: crate::audit::Initiator::of(actor).display,
        };
        let events = self.tap_change(actor, tenant, &user, true, &record);
        if !self
            .store
            .insert_temporary_access_pass(&record, &events)
            .await?
        {
            return Err(DirectoryError::Conflict(
                "The user already has a Temporary Access Pass. Delete it before creating another."
                    .into(),
            ));
        }
        Ok(IssuedPass { record, pass })
    }

    /// The user's pass, if any (never the pass itself): for administrators who may read
    /// methods, and for the user.
    pub async fn temporary_access_passes(
        &self,
        actor: &Actor,
        tenant: TenantId,
        target: &UserRef,
    ) -> Result<Vec<TapRecord>, DirectoryError> {
        let user = self.active_user(tenant, target).await?;
        self.authorize_methods(actor, tenant, &user, false).await?;
        Ok(self
            .store
            .find_temporary_access_pass(tenant, user.id)
            .await?
            .into_iter()
            .collect())
    }

    /// Deletes the user's pass (audited); not found if it has another id or there is none.
    pub async fn delete_temporary_access_pass(
        &self,
        actor: &Actor,
        tenant: TenantId,
        target: &UserRef,
        id: Uuid,
    ) -> Result<(), DirectoryError> {
        let user = self.active_user(tenant, target).await?;
        self.authorize_methods(actor, tenant, &user, true).await?;
        let not_found = || DirectoryError::not_found(format!("Temporary Access Pass '{id}'"));
        let record = self
            .store
            .find_temporary_access_pass(tenant, user.id)
            .await?
            .filter(|r| r.id == id)
            .ok_or_else(not_found)?;
        let events = self.tap_change(actor, tenant, &user, false, &record);
        if !self
            .store
            .delete_temporary_access_pass(tenant, user.id, id, &events)
            .await?
        {
            return Err(not_found());
        }
        Ok(())
    }

    /// Whether `pass` is the user's usable pass; a one-time pass is used up by the first
    /// right presentation (of two at once, exactly one is accepted). Not an authorized
    /// operation: the sign-in pages call it after the password did not match.
    pub async fn use_temporary_access_pass(
        &self,
        tenant: TenantId,
        user: &User,
        pass: &SecretString,
    ) -> Result<bool, DirectoryError> {
        let now = self.clock.now();
        let Some(record) = self
            .store
            .find_temporary_access_pass(tenant, user.id)
            .await?
        else {
            return Ok(false);
        };
        if !record.is_usable(now) || !record.matches(pass) {
            return Ok(false);
        }
        if record.usable_once {
            return Ok(self
                .store
                .use_temporary_access_pass(tenant, record.id, now)
                .await?);
        }
        Ok(true)
    }

    /// Signs in with a Temporary Access Pass typed where the password goes: `Ok(None)` when
    /// the name has no usable pass or this is not it (the caller then checks a password as
    /// usual, so failures are counted once), the user when it is. A pass is strong
    /// authentication: it stands in for both factors. A disabled or locked account is refused
    /// as for a password; the sign-in lands in the log either way.
    pub async fn sign_in_with_temporary_access_pass(
        &self,
        tenant: TenantId,
        user_principal_name: &str,
        pass: &SecretString,
        client: &super::ClientRef,
    ) -> Result<Option<User>, super::SignInError> {
        use super::SignInError;
        let Ok(upn) = crate::names::Upn::parse(user_principal_name) else {
            return Ok(None);
        };
        let Some(user) = self.store.find_user_by_upn(tenant, &upn).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        let state = self.store.find_sign_in_state(tenant, user.id).await?;
        let refusal = if !user.account_enabled {
            Some(SignInError::Disabled)
        } else if state.unwrap_or_default().locked_at(now) {
            Some(SignInError::Locked)
        } else {
            None
        };
        // A locked or disabled account does not use up a one-time pass.
        let matched = match &refusal {
            Some(_) => self
                .store
                .find_temporary_access_pass(tenant, user.id)
                .await?
                .is_some_and(|r| r.is_usable(now) && r.matches(pass)),
            None => self.use_temporary_access_pass(tenant, &user, pass).await?,
        };
        if !matched {
            return Ok(None);
        }
        let event = crate::sign_in::SignInEvent {
            id: crate::ids::EventId::new(),
            tenant_id: tenant,
            created: now,
            user_id: Some(user.id),
            user_principal_name: user.user_principal_name.to_string(),
            app_id: client.app_id.clone(),
            app_display_name: client.display_name.clone(),
            error_code: refusal.as_ref().map_or(0, SignInError::aadsts),
            failure_reason: refusal.as_ref().map(ToString::to_string),
        };
        self.store.record_sign_in(&event, None).await?;
        match refusal {
            Some(e) => Err(e),
            None => Ok(Some(user)),
        }
    }

    /// The password a user who signed in with a Temporary Access Pass creates when they
    /// must change it (a new hire has none they know): set as the user, on the self-service
    /// channel, through the one password operation (policy, hash on the pool, sessions
    /// revoked, audited as "Change user password", the changed-notice mailed), clearing the
    /// force-change flag. Only for a genuine `ticket` of the
    /// [`TicketStage::TemporaryAccessPassVerified`](super::TicketStage) stage bound to
    /// `binding`, and only while the change is still due (so a ticket sets one password).
    /// `Ok(None)`: the ticket is not (or no longer) good; nothing changed. Returns the user
    /// as they are now.
    pub async fn create_password_after_temporary_access_pass(
        &self,
        tenant: TenantId,
        ticket: &str,
        binding: &str,
        new: &SecretString,
    ) -> Result<Option<User>, DirectoryError> {
        let Some(user) = self
            .open_sign_in_ticket(
                tenant,
                ticket,
                super::TicketStage::TemporaryAccessPassVerified,
                binding,
            )
            .await?
            .filter(|u| u.force_change_password_next_sign_in)
        else {
            return Ok(None);
        };
        let roles = self.store.list_user_roles(tenant, user.id).await?;
        let actor = Actor::User {
            id: user.id,
            display: user.user_principal_name.to_string(),
            roles,
            scopes: None,
            channel: crate::authz::Channel::SelfService,
        };
        self.set_password(
            &actor,
            tenant,
            &UserRef::Id(user.id),
            super::SetPassword {
                choice: super::PasswordChoice::Provided(new.clone()),
                force_change_next_sign_in: false,
                force_change_with_mfa: false,
                reason: Some("created at sign-in with a Temporary Access Pass".into()),
            },
        )
        .await?;
        self.find_active_user(tenant, user.id).await
    }

    fn tap_change(
        &self,
        actor: &Actor,
        tenant: TenantId,
        user: &User,
        added: bool,
        record: &TapRecord,
    ) -> crate::audit::Events {
        let by_user = matches!(actor, Actor::User { id, .. } if *id == user.id);
        self.events(Change {
            actor,
            tenant,
            category: "UserManagement",
            activity: match (added, by_user) {
                (true, _) => "Admin registered security info",
                (false, true) => "User deleted security info",
                (false, false) => "Admin deleted security info",
            },
            operation_type: if added { "Add" } else { "Delete" },
            target: Some(user),
            other_target: None,
            details: vec![
                (
                    "authenticationMethod".into(),
                    "Temporary Access Pass".into(),
                ),
                (
                    "lifetimeInMinutes".into(),
                    record.lifetime_minutes.to_string(),
                ),
                ("isUsableOnce".into(), record.usable_once.to_string()),
            ],
            outbox_kind: if added {
                "user.authenticationMethodAdded"
            } else {
                "user.authenticationMethodRemoved"
            },
            payload: json!({ "method": "temporaryAccessPass" }),
        })
    }
}
