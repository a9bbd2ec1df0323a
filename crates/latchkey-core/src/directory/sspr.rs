//! Self-service password reset: a user who forgot their password proves who they are with
//! the methods they registered and sets a new one.
//!
//! Nothing a browser sees depends on whether the name typed belongs to an account: an
//! unknown name gets a flow of its own, the same pages, the same limits, and a code that is
//! drawn and stored like any other but sent nowhere.

use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use serde_json::json;

use super::{Change, Directory, PasswordChoice, SecondFactorError, SetPassword, UserRef};
use crate::auth_method::MethodKind;
use crate::authz::{Actor, Channel};
use crate::error::DirectoryError;
use crate::ids::{EventId, TenantId};
use crate::interactive::{random_token, token_digest};
use crate::mail::{MailAddress, MailContent};
use crate::names::Upn;
use crate::password::PolicyError;
use crate::sign_in::SignInEvent;
use crate::sspr::{
    CODE_LIFETIME, FLOW_LIFETIME, MAX_FLOWS_PER_ADDRESS, MAX_FLOWS_PER_NAME, MAX_WRONG_CODES,
    RATE_WINDOW, ResetFlowRecord, VerificationMethod, normalise_login_name, random_code,
};
use crate::user::User;

/// Why a reset step did not go ahead, in words a page can show as they are.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    #[error(
        "Self-service password reset is not turned on for your organisation. Contact your administrator."
    )]
    Disabled,
    #[error("There have been too many attempts to reset this password. Try again in an hour.")]
    TooManyAttempts,
    #[error(
        "Too many wrong codes were entered. Start again in an hour, or contact your administrator."
    )]
    Locked,
    #[error("This reset has expired or was already used. Start again.")]
    Expired,
    #[error("That code didn't work. Check it and try again ({remaining} attempts left).")]
    WrongCode { remaining: u32 },
    #[error("Verify your identity first.")]
    NotVerified,
    #[error(
        "Your account doesn't have enough verification methods registered to reset your password here. Contact your administrator."
    )]
    NotEnoughMethods,
    #[error("{0}")]
    Policy(PolicyError),
    #[error(transparent)]
    Directory(DirectoryError),
}

impl From<DirectoryError> for ResetError {
    fn from(e: DirectoryError) -> Self {
        match e {
            DirectoryError::Policy(p) => Self::Policy(p),
            other => Self::Directory(other),
        }
    }
}

impl From<crate::store::StoreError> for ResetError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Directory(e.into())
    }
}

/// What the browser is asked for next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResetStep {
    /// Prove one of these (before the first proof: every kind of method, whatever the
    /// account has, so that the page says nothing about it).
    Verify { methods: Vec<VerificationMethod> },
    /// Choose the new password.
    NewPassword,
}

impl Directory {
    /// Starts a reset for the name typed: returns the browser's flow secret. Refused only
    /// for reasons that are the same for every name (the tenant's setting, the limits).
    pub async fn sspr_start(
        &self,
        tenant_id: TenantId,
        name: &str,
        client_address: Option<&str>,
    ) -> Result<SecretString, ResetError> {
        let tenant = self.tenant(tenant_id).await?;
        if !tenant.password_policy.self_service_reset.enabled() {
            return Err(ResetError::Disabled);
        }
        let now = self.clock.now();
        let login_name = normalise_login_name(name);
        let (by_name, by_address) = self
            .store
            .count_reset_flows(tenant_id, &login_name, client_address, now - RATE_WINDOW)
            .await?;
        if by_name >= MAX_FLOWS_PER_NAME || by_address >= MAX_FLOWS_PER_ADDRESS {
            return Err(ResetError::TooManyAttempts);
        }
        let user = match Upn::parse(&login_name) {
            Ok(upn) => self
                .store
                .find_user_by_upn(tenant_id, &upn)
                .await?
                .filter(|u| u.account_enabled && !u.is_deleted()),
            Err(_) => None,
        };
        let secret = random_token();
        self.store
            .insert_reset_flow(&ResetFlowRecord {
                id: uuid::Uuid::new_v4(),
                tenant_id,
                digest: token_digest(&secret),
                login_name,
                user_id: user.map(|u| u.id),
                client_address: client_address.map(str::to_owned),
                created_at: now,
                expires_at: now + FLOW_LIFETIME,
                verified: vec![],
                code_digest: None,
                code_expires_at: None,
                wrong_codes: 0,
                completed_at: None,
            })
            .await?;
        Ok(secret)
    }

    /// The next step of a live flow.
    pub async fn sspr_step(&self, secret: &SecretString) -> Result<ResetStep, ResetError> {
        let (flow, user) = self.live_flow(secret).await?;
        self.next_step(&flow, user.as_ref()).await
    }

    /// Sends a fresh one-time code to the account's recovery e-mail address, if it has one;
    /// the flow looks the same either way. A new code replaces the previous one.
    pub async fn sspr_send_email_code(&self, secret: &SecretString) -> Result<(), ResetError> {
        let (flow, user) = self.live_flow(secret).await?;
        if flow.is_locked() {
            return Err(ResetError::Locked);
        }
        let code = random_code();
        let digest = self.code_digest(&flow, &code)?;
        let now = self.clock.now();
        // For an account with a recovery address: the message (sealed) and an audit event,
        // queued with the code in one transaction. For any other name the code is stored
        // all the same and sent nowhere.
        let mut events = None;
        if let Some(user) = &user {
            let to = self.recovery_addresses(user).await?;
            if !to.is_empty() {
                let tenant = self.tenant(flow.tenant_id).await?;
                let mail = self.seal_mail(
                    &tenant,
                    to,
                    &MailContent::OneTimeCode {
                        display_name: user.display_name.to_string(),
                        code,
                        valid_minutes: u32::try_from(CODE_LIFETIME.num_minutes()).unwrap_or(10),
                    },
                )?;
                let actor = self_service_actor(user, vec![]);
                let mut e = self.events(Change {
                    actor: &actor,
                    tenant: flow.tenant_id,
                    category: "UserManagement",
                    activity: "Self-service password reset flow activity progress",
                    operation_type: "Update",
                    target: Some(user),
                    other_target: None,
                    details: vec![(
                        "step".into(),
                        "User was sent a verification code by e-mail".into(),
                    )],
                    outbox_kind: "user.selfServiceResetProgress",
                    payload: json!({ "step": "emailCodeSent" }),
                });
                e.mail.push(mail);
                events = Some(e);
            }
        }
        if !self
            .store
            .set_reset_code(flow.id, &digest, now + CODE_LIFETIME, events.as_ref())
            .await?
        {
            return Err(ResetError::Locked);
        }
        if let Some(e) = &events {
            self.mail_queued(e);
        }
        Ok(())
    }

    /// Checks a code for one method. A right code records the method as proven (an e-mailed
    /// code is used up); a wrong one counts, and the fifth locks the flow.
    pub async fn sspr_verify(
        &self,
        secret: &SecretString,
        method: VerificationMethod,
        code: &str,
    ) -> Result<ResetStep, ResetError> {
        let (flow, user) = self.live_flow(secret).await?;
        if flow.is_locked() {
            return Err(ResetError::Locked);
        }
        if flow.verified.contains(&method) {
            return self.next_step(&flow, user.as_ref()).await;
        }
        let code = code.trim();
        let well_formed =
            |len: usize| code.len() == len && code.bytes().all(|b| b.is_ascii_digit());
        let now = self.clock.now();
        let mut verified = flow.verified.clone();
        verified.push(method);
        let accepted = match method {
            VerificationMethod::Email => {
                // Compared by the store on the keyed digest: equal digests only for equal codes.
                let digest = self.code_digest(&flow, &SecretString::from(code.to_owned()))?;
                well_formed(8)
                    && flow
                        .code_digest
                        .is_some_and(|d| bool::from(d.ct_eq(&digest)))
                    && self
                        .store
                        .verify_reset_flow(flow.id, Some(&digest), &verified, now)
                        .await?
            }
            // A code from the registered authenticator app (±1 step, a replay refused).
            VerificationMethod::AuthenticatorApp => match &user {
                Some(user) if well_formed(6) => {
                    match self.verify_totp_code(flow.tenant_id, user, code).await {
                        Ok(()) => {
                            self.store
                                .verify_reset_flow(flow.id, None, &verified, now)
                                .await?
                        }
                        Err(
                            SecondFactorError::WrongCode
                            | SecondFactorError::Replayed
                            | SecondFactorError::NoMethod,
                        ) => false,
                        Err(e) => {
                            return Err(ResetError::Directory(DirectoryError::Internal(
                                e.to_string(),
                            )));
                        }
                    }
                }
                _ => false,
            },
        };
        if !accepted {
            let wrong = self.store.record_wrong_reset_code(flow.id).await?;
            if wrong >= MAX_WRONG_CODES {
                if let Some(user) = &user {
                    self.record_reset_sign_in(
                        flow.tenant_id,
                        user,
                        50053,
                        "too many wrong verification codes",
                    )
                    .await?;
                }
                return Err(ResetError::Locked);
            }
            return Err(ResetError::WrongCode {
                remaining: MAX_WRONG_CODES - wrong,
            });
        }
        let flow = ResetFlowRecord { verified, ..flow };
        self.next_step(&flow, user.as_ref()).await
    }

    /// Sets the new password once enough methods are proven: through the one password
    /// operation (policy, hash on the pool), ending every session, in one transaction with
    /// the end of the flow and the audit event.
    pub async fn sspr_complete(
        &self,
        secret: &SecretString,
        new_password: SecretString,
    ) -> Result<User, ResetError> {
        let (flow, user) = self.live_flow(secret).await?;
        let Some(user) = user else {
            return Err(ResetError::NotVerified);
        };
        if flow.verified.len() < self.methods_required(&user).await? {
            return Err(ResetError::NotVerified);
        }
        let roles = self.store.list_user_roles(flow.tenant_id, user.id).await?;
        let actor = self_service_actor(&user, roles);
        let mut prepared = self
            .prepare_password(
                &actor,
                flow.tenant_id,
                &user,
                SetPassword {
                    choice: PasswordChoice::Provided(new_password),
                    force_change_next_sign_in: false,
                    force_change_with_mfa: false,
                    reason: None,
                },
            )
            .await?;
        // Entra's activity for this path.
        prepared.events.audit.activity = "Reset password (self-service)".into();
        prepared.events.audit.details.push((
            "verificationMethods".into(),
            flow.verified
                .iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join(","),
        ));
        let now = self.clock.now();
        if !self
            .store
            .complete_reset_flow(flow.id, now, &prepared.write, &prepared.events)
            .await?
        {
            return Err(ResetError::Expired);
        }
        // The "your password was changed" notice went into the same transaction.
        self.mail_queued(&prepared.events);
        self.record_reset_sign_in(flow.tenant_id, &user, 0, "")
            .await?;
        let fresh = self
            .active_user(flow.tenant_id, &UserRef::Id(user.id))
            .await?;
        Ok(fresh)
    }

    async fn live_flow(
        &self,
        secret: &SecretString,
    ) -> Result<(ResetFlowRecord, Option<User>), ResetError> {
        let now = self.clock.now();
        let flow = self
            .store
            .find_reset_flow(&token_digest(secret))
            .await?
            .filter(|f| f.is_live(now))
            .ok_or(ResetError::Expired)?;
        let user = match flow.user_id {
            Some(id) => self
                .store
                .find_user(flow.tenant_id, id)
                .await?
                .filter(|u| u.account_enabled && !u.is_deleted()),
            None => None,
        };
        if flow.user_id.is_some() && user.is_none() {
            // Disabled or deleted since the flow began.
            return Err(ResetError::Expired);
        }
        Ok((flow, user))
    }

    async fn next_step(
        &self,
        flow: &ResetFlowRecord,
        user: Option<&User>,
    ) -> Result<ResetStep, ResetError> {
        if flow.verified.is_empty() {
            return Ok(ResetStep::Verify {
                methods: vec![
                    VerificationMethod::Email,
                    VerificationMethod::AuthenticatorApp,
                ],
            });
        }
        // Something was proven, so there is an account and the person holds one of its
        // methods: from here the pages may speak about it.
        let Some(user) = user else {
            return Err(ResetError::NotVerified);
        };
        if flow.verified.len() >= self.methods_required(user).await? {
            return Ok(ResetStep::NewPassword);
        }
        let remaining: Vec<VerificationMethod> = self
            .registered_methods(user)
            .await?
            .into_iter()
            .filter(|m| !flow.verified.contains(m))
            .collect();
        if remaining.is_empty() {
            return Err(ResetError::NotEnoughMethods);
        }
        Ok(ResetStep::Verify { methods: remaining })
    }

    /// The tenant's number, or two for anyone holding a directory role (Entra's
    /// administrator reset policy).
    async fn methods_required(&self, user: &User) -> Result<usize, ResetError> {
        let tenant = self.tenant(user.tenant_id).await?;
        let roles = self.store.list_user_roles(user.tenant_id, user.id).await?;
        let configured = usize::from(tenant.password_policy.self_service_reset.methods_required);
        Ok(if roles.is_empty() { configured } else { 2 })
    }

    fn code_digest(
        &self,
        flow: &ResetFlowRecord,
        code: &SecretString,
    ) -> Result<[u8; 32], ResetError> {
        let mut data = flow.id.as_bytes().to_vec();
        data.extend_from_slice(code.expose_secret().as_bytes());
        Ok(self.master_key()?.mac("sspr-code", &data))
    }

    async fn record_reset_sign_in(
        &self,
        tenant: TenantId,
        user: &User,
        code: i64,
        reason: &str,
    ) -> Result<(), ResetError> {
        let event = SignInEvent {
            id: EventId::new(),
            tenant_id: tenant,
            created: self.clock.now(),
            user_id: Some(user.id),
            user_principal_name: user.user_principal_name.to_string(),
            app_id: None,
            app_display_name: Some("Self-service password reset".into()),
            error_code: code,
            failure_reason: (!reason.is_empty()).then(|| reason.to_owned()),
        };
        self.store.record_sign_in(&event, None).await?;
        Ok(())
    }
}

impl Directory {
    /// Where a reset code for this user goes: the recovery e-mail address registered as an
    /// authentication method, else the first alternate address (`otherMails`) an
    /// administrator set.
    async fn recovery_addresses(&self, user: &User) -> Result<Vec<MailAddress>, ResetError> {
        let methods = self
            .store
            .list_auth_methods(user.tenant_id, user.id)
            .await?;
        let registered: Vec<MailAddress> = methods
            .iter()
            .filter(|m| m.kind == MethodKind::Email && m.is_active())
            .filter_map(|m| MailAddress::parse(&m.display).ok())
            .collect();
        if !registered.is_empty() {
            return Ok(registered);
        }
        Ok(user
            .profile
            .other_mails
            .iter()
            .filter_map(|a| MailAddress::parse(a).ok())
            .take(1)
            .collect())
    }

    /// The methods the user could prove.
    async fn registered_methods(&self, user: &User) -> Result<Vec<VerificationMethod>, ResetError> {
        let mut methods = vec![];
        if !self.recovery_addresses(user).await?.is_empty() {
            methods.push(VerificationMethod::Email);
        }
        let app = self
            .store
            .list_auth_methods(user.tenant_id, user.id)
            .await?
            .iter()
            .any(|m| m.kind == MethodKind::SoftwareOath && m.is_active());
        if app {
            methods.push(VerificationMethod::AuthenticatorApp);
        }
        Ok(methods)
    }
}

/// The user acting for themselves on the self-service channel.
fn self_service_actor(user: &User, roles: Vec<crate::role::DirectoryRole>) -> Actor {
    Actor::User {
        id: user.id,
        display: user.display_name.to_string(),
        roles,
        scopes: None,
        channel: Channel::SelfService,
    }
}
